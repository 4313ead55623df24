package study

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/orthotune/orthotune/internal/atomicfile"
)

// WriteFrontierSVG draws the learn-versus-forget figure of a study as SVG
// at path (atomically): task loss against retain-loss increase, one colour
// per method, every evaluation point of every run faint, each method's
// frontier as a line, and at each matched task-loss level of a the median
// retain-loss increase over seeds (a diamond) with its min–max range (a
// horizontal bar). Task loss is on a logarithmic axis when it spans more
// than a factor of 10.
func WriteFrontierSVG(path string, runs []Run, a Analysis) error {
	p := newStudyPlot()
	p.Title.Text = "Learning vs forgetting (lower left is better)"
	p.X.Label.Text = "retain-loss increase over the base model (nats/token)"
	p.Y.Label.Text = "task loss (nats/token)"

	// The task-loss axis: logarithmic when the losses span more than 10×.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range runs {
		for _, pt := range r.Points {
			if anFinite(pt.TaskLoss) && anFinite(pt.RetainLoss) && pt.TaskLoss > 0 {
				lo, hi = math.Min(lo, pt.TaskLoss), math.Max(hi, pt.TaskLoss)
			}
		}
	}
	logY, ty := taskAxis(p, lo, hi)
	usable := func(task, retain float64) bool {
		return anFinite(task) && anFinite(retain) && (!logY || task > 0)
	}

	names := plotMethods(runs, a)
	methodsKey, marksKey := newLegendBox(), newLegendBox()
	// Faint points first, so that frontiers and bars are drawn over them.
	for i, name := range names {
		var xys plotter.XYs
		for _, r := range runs {
			if r.Method != name {
				continue
			}
			for _, pt := range r.Points {
				if usable(pt.TaskLoss, pt.RetainLoss) {
					xys = append(xys, plotter.XY{X: pt.RetainLoss - a.BaseRetainLoss, Y: ty(pt.TaskLoss)})
				}
			}
		}
		if len(xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: withAlpha(methodColor(name, i), 70), Radius: vg.Points(2.2), Shape: draw.CircleGlyph{}}
		p.Add(s)
	}

	// The dodge separates the methods' bars at one level by a few points.
	dodge := func(y float64, i int) float64 {
		off := float64(i) - float64(len(names)-1)/2
		return ty(y) + off*0.01*(ty(hi)-ty(lo))
	}
	for i, name := range names {
		c := methodColor(name, i)
		var ma *MethodAnalysis
		for j := range a.Methods {
			if a.Methods[j].Method == name {
				ma = &a.Methods[j]
			}
		}
		var thumbs []plot.Thumbnailer
		if ma != nil {
			var fxy plotter.XYs
			for _, f := range ma.Frontier {
				if usable(f.TaskLoss, f.RetainIncrease) {
					fxy = append(fxy, plotter.XY{X: f.RetainIncrease, Y: ty(f.TaskLoss)})
				}
			}
			if len(fxy) > 0 {
				l, err := plotter.NewLine(fxy)
				if err != nil {
					return err
				}
				l.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(2)}
				p.Add(l)
				thumbs = append(thumbs, l)
			}
			var bars errBars
			for _, m := range ma.AtMatchedLearning {
				if m.Reached == 0 || (logY && m.Level <= 0) {
					continue
				}
				bars = append(bars, errBar{x: m.Median, y: dodge(m.Level, i), lo: m.Median - m.Min, hi: m.Max - m.Median})
			}
			if len(bars) > 0 {
				eb, err := plotter.NewXErrorBars(bars)
				if err != nil {
					return err
				}
				eb.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(1.5)}
				eb.CapWidth = vg.Points(6)
				s, err := plotter.NewScatter(bars)
				if err != nil {
					return err
				}
				s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(4), Shape: diamondGlyph{}}
				p.Add(eb, s)
				thumbs = append(thumbs, s)
			}
		}
		if len(thumbs) == 0 {
			// Only faint points: give the legend a dot of the colour.
			thumbs = append(thumbs, glyphThumb{draw.GlyphStyle{Color: c, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}})
		}
		methodsKey.add(legendLabel(name, runs), thumbs...)
	}

	// The base model.
	if usable(a.BaseTaskLoss, a.BaseRetainLoss) && len(runs) > 0 {
		s, err := plotter.NewScatter(plotter.XYs{{X: 0, Y: ty(a.BaseTaskLoss)}})
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(4.5), Shape: draw.RingGlyph{}}
		p.Add(s)
		methodsKey.add(fmt.Sprintf("base model (task loss %.3g)", a.BaseTaskLoss), s)
	}
	// Dotted lines at the matched task-loss levels.
	var levelLine *plotter.Function
	for _, l := range a.TaskLevels {
		if logY && l <= 0 {
			continue
		}
		y := ty(l)
		levelLine = plotter.NewFunction(func(float64) float64 { return y })
		levelLine.LineStyle = draw.LineStyle{Color: color.Gray{Y: 150}, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(3)}}
		p.Add(levelLine)
	}
	// What the marks mean, in grey.
	grey := color.Gray{Y: 110}
	marksKey.add("faint dots: every evaluation point of every run",
		glyphThumb{draw.GlyphStyle{Color: withAlpha(methodColor("full", 0), 70), Radius: vg.Points(2.2), Shape: draw.CircleGlyph{}}})
	marksKey.add("line: the method's frontier over all its runs", lineThumb{draw.LineStyle{Color: grey, Width: vg.Points(2)}})
	if levelLine != nil {
		marksKey.add("bar: seeds' median, min–max at a level",
			levelLine, lineThumb{draw.LineStyle{Color: grey, Width: vg.Points(1.5)}},
			glyphThumb{draw.GlyphStyle{Color: grey, Radius: vg.Points(4), Shape: diamondGlyph{}}})
	}
	if len(runs) == 0 {
		p.Title.Text += "\n(no runs)"
	}
	return writePlotSVG(path, 10*vg.Inch, 6*vg.Inch, []*plot.Plot{p}, methodsKey, marksKey)
}

// WriteTrajectoriesSVG draws, side by side, each method's task loss and
// retain loss over training steps — and, when the points have them, its
// exact answers on the task — as SVG at path (atomically). Each method
// is shown at its learning rate with the lowest median final task loss: a
// line through the median over seeds at each evaluation step and a band
// from the seeds' minimum to maximum.
func WriteTrajectoriesSVG(path string, runs []Run) error {
	task, retain := newStudyPlot(), newStudyPlot()
	task.Title.Text = "Task loss during training\nline: median over seeds, band: min–max"
	retain.Title.Text = "Retain loss (higher: more forgotten)\nline: median over seeds, band: min–max"
	task.X.Label.Text, retain.X.Label.Text = "optimizer step", "optimizer step"
	task.Y.Label.Text = "task loss (nats/token)"
	retain.Y.Label.Text = "retain loss (nats/token)"
	var exact *plot.Plot // nil: the task's records have no answers
	for _, r := range runs {
		for _, pt := range r.Points {
			if pt.TaskExact != nil && exact == nil {
				exact = newStudyPlot()
				exact.Title.Text = "Exact answers on the task's evaluation prompts\nline: median over seeds, band: min–max"
				exact.X.Label.Text, exact.Y.Label.Text = "optimizer step", "greedy answers reproduced exactly (%)"
				exact.Y.Min, exact.Y.Max = 0, 100
			}
		}
	}

	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range runs {
		for _, pt := range r.Points {
			if anFinite(pt.TaskLoss) && pt.TaskLoss > 0 {
				lo, hi = math.Min(lo, pt.TaskLoss), math.Max(hi, pt.TaskLoss)
			}
		}
	}
	logY, ty := taskAxis(task, lo, hi)

	names := plotMethods(runs, Analysis{})
	key := newLegendBox()
	baseRetain := []float64{}
	for i, name := range names {
		c := methodColor(name, i)
		group, lr := bestLearningRate(runs, name)
		if len(group) == 0 {
			continue
		}
		tl, tb, err := medianBand(group, func(p Point) float64 { return p.TaskLoss }, logY)
		for _, xys := range []plotter.XYs{tl, tb} {
			for k := range xys {
				xys[k].Y = ty(xys[k].Y)
			}
		}
		if err != nil {
			return err
		}
		rl, rb, err := medianBand(group, func(p Point) float64 { return p.RetainLoss }, false)
		if err != nil {
			return err
		}
		panels := []struct {
			p    *plot.Plot
			line plotter.XYs
			band plotter.XYs
		}{{task, tl, tb}, {retain, rl, rb}}
		if exact != nil {
			el, eb, err := medianBand(group, func(p Point) float64 {
				if p.TaskExact == nil {
					return math.NaN() // left out
				}
				return 100 * *p.TaskExact
			}, false)
			if err != nil {
				return err
			}
			panels = append(panels, struct {
				p    *plot.Plot
				line plotter.XYs
				band plotter.XYs
			}{exact, el, eb})
		}
		for _, r := range group {
			for _, pt := range r.Points {
				if pt.Step == 0 && anFinite(pt.RetainLoss) {
					baseRetain = append(baseRetain, pt.RetainLoss)
				}
			}
		}
		var thumbs []plot.Thumbnailer
		for _, pl := range panels {
			if len(pl.band) >= 3 {
				poly, err := plotter.NewPolygon(pl.band)
				if err != nil {
					return err
				}
				poly.Color = withAlpha(c, 45)
				poly.LineStyle.Width = 0
				pl.p.Add(poly)
			}
			if len(pl.line) > 0 {
				l, err := plotter.NewLine(pl.line)
				if err != nil {
					return err
				}
				l.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(2)}
				pl.p.Add(l)
				if pl.p == task {
					thumbs = append(thumbs, l)
				}
			}
		}
		if len(thumbs) > 0 {
			seeds := map[uint64]bool{}
			for _, r := range group {
				seeds[r.Seed] = true
			}
			key.add(fmt.Sprintf("%s (best lr %g, %d seeds)", legendLabel(name, runs), lr, len(seeds)), thumbs...)
		}
	}
	if len(baseRetain) > 0 {
		b := anMedian(baseRetain)
		line := plotter.NewFunction(func(float64) float64 { return b })
		line.LineStyle = draw.LineStyle{Color: color.Gray{Y: 90}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		retain.Add(line)
		key.add(fmt.Sprintf("base model's retain loss (%.3g)", b), line)
	}
	if len(runs) == 0 {
		task.Title.Text += "\n(no runs)"
	}
	if exact != nil {
		return writePlotSVG(path, 20*vg.Inch, 5.5*vg.Inch, []*plot.Plot{task, retain, exact}, key)
	}
	return writePlotSVG(path, 14*vg.Inch, 5.5*vg.Inch, []*plot.Plot{task, retain}, key)
}

// bestLearningRate returns the runs of method at the learning rate whose
// runs have the lowest median final (finite) task loss, and that rate.
func bestLearningRate(runs []Run, method string) ([]Run, float64) {
	byLR := map[float64][]Run{}
	var lrs []float64
	for _, r := range runs {
		if r.Method != method {
			continue
		}
		if _, ok := byLR[r.LearningRate]; !ok {
			lrs = append(lrs, r.LearningRate)
		}
		byLR[r.LearningRate] = append(byLR[r.LearningRate], r)
	}
	sort.Float64s(lrs)
	var best []Run
	var bestLR float64
	bestLoss := math.Inf(1)
	for _, lr := range lrs {
		var finals []float64
		for _, r := range byLR[lr] {
			final := math.Inf(1) // a run that diverged counts as the worst
			if n := len(r.Points); n > 0 && anFinite(r.Points[n-1].TaskLoss) {
				final = r.Points[n-1].TaskLoss
			}
			finals = append(finals, final)
		}
		if m := anMedian(finals); best == nil || m < bestLoss {
			best, bestLR, bestLoss = byLR[lr], lr, m
		}
	}
	return best, bestLR
}

// medianBand returns the median of value over runs at each step, and the
// polygon from the minimum to the maximum (upper edge forwards, lower edge
// back). A non-finite value (or, with positive, one ≤ 0) is left out.
func medianBand(runs []Run, value func(Point) float64, positive bool) (line, band plotter.XYs, err error) {
	at := map[int][]float64{}
	for _, r := range runs {
		for _, p := range r.Points {
			if v := value(p); anFinite(v) && (!positive || v > 0) {
				at[p.Step] = append(at[p.Step], v)
			}
		}
	}
	steps := make([]int, 0, len(at))
	for s := range at {
		steps = append(steps, s)
	}
	sort.Ints(steps)
	var lower plotter.XYs
	for _, s := range steps {
		vs := at[s]
		lo, hi := anMinMax(vs)
		line = append(line, plotter.XY{X: float64(s), Y: anMedian(vs)})
		band = append(band, plotter.XY{X: float64(s), Y: hi})
		lower = append(lower, plotter.XY{X: float64(s), Y: lo})
	}
	for i := len(lower) - 1; i >= 0; i-- {
		band = append(band, lower[i])
	}
	return line, band, nil
}

// plotMethods returns the methods to draw: those of a first (in its
// order), then any others of runs in the analysis order.
func plotMethods(runs []Run, a Analysis) []string {
	var names []string
	seen := map[string]bool{}
	for _, m := range a.Methods {
		if !seen[m.Method] {
			seen[m.Method] = true
			names = append(names, m.Method)
		}
	}
	var rest []string
	for _, r := range runs {
		if !seen[r.Method] {
			seen[r.Method] = true
			rest = append(rest, r.Method)
		}
	}
	sort.SliceStable(rest, func(i, j int) bool {
		oi, oj := analysisMethodRank(rest[i]), analysisMethodRank(rest[j])
		if oi != oj {
			return oi < oj
		}
		return rest[i] < rest[j]
	})
	return append(names, rest...)
}

// legendLabel names a method with its size, e.g. "OFT oft_block_size=32".
func legendLabel(method string, runs []Run) string {
	var sizes []string
	for _, r := range runs {
		if r.Method == method && r.Size != "" && !anContains(sizes, r.Size) {
			sizes = append(sizes, r.Size)
		}
	}
	if len(sizes) == 0 {
		return MethodLabel(method)
	}
	return MethodLabel(method) + " " + strings.Join(sizes, ", ")
}

// methodColor gives the well-known methods fixed colours from the
// Okabe–Ito colour-blind-safe palette, and others the remaining ones.
func methodColor(method string, i int) color.NRGBA {
	rgb := func(v uint32) color.NRGBA {
		return color.NRGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
	}
	switch strings.ToLower(method) {
	case "full":
		return rgb(0x444444)
	case "lora":
		return rgb(0xE69F00)
	case "oft":
		return rgb(0x0072B2)
	case "coft":
		return rgb(0x56B4E9)
	case "boft":
		return rgb(0xCC79A7)
	case "hra":
		return rgb(0x009E73)
	}
	others := []uint32{0xD55E00, 0x8C6D1F, 0x7B3294, 0xB2182B}
	return rgb(others[i%len(others)])
}

func withAlpha(c color.NRGBA, a uint8) color.NRGBA {
	c.A = a
	return c
}

// newStudyPlot returns a plot with sans-serif text of readable sizes and
// a light grid.
func newStudyPlot() *plot.Plot {
	p := plot.New()
	sans := func(f *font.Font, size vg.Length) {
		f.Typeface, f.Variant, f.Size = "Liberation", "Sans", size
	}
	sans(&p.Title.TextStyle.Font, 13)
	sans(&p.X.Label.TextStyle.Font, 12)
	sans(&p.Y.Label.TextStyle.Font, 12)
	sans(&p.X.Tick.Label.Font, 10)
	sans(&p.Y.Tick.Label.Font, 10)
	sans(&p.Legend.TextStyle.Font, 11)
	p.Title.Padding = vg.Points(8)
	p.Legend.ThumbnailWidth = vg.Points(24)
	p.Legend.Padding = vg.Points(2)
	p.X.Tick.Marker = linearTicks{}
	p.Y.Tick.Marker = linearTicks{}
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = color.Gray{Y: 225}, color.Gray{Y: 225}
	p.Add(g)
	return p
}

// legendBox is a legend drawn below the plots, outside the data, so it
// never hides any.
type legendBox struct {
	plot.Legend
	n     int
	width vg.Length // of the widest text
}

func newLegendBox() *legendBox {
	l := &legendBox{Legend: plot.NewLegend()}
	l.TextStyle.Font.Typeface, l.TextStyle.Font.Variant, l.TextStyle.Font.Size = "Liberation", "Sans", 11
	l.ThumbnailWidth = vg.Points(24)
	l.Padding = vg.Points(3)
	// Anchored on the left, so that a wider fallback font only lengthens
	// the text and never pushes it into the thumbnails.
	l.Top, l.Left = true, true
	return l
}

func (l *legendBox) add(name string, thumbs ...plot.Thumbnailer) {
	l.Add(name, thumbs...)
	l.n++
	if w := l.TextStyle.Width(name); w > l.width {
		l.width = w
	}
}

func (l *legendBox) height() vg.Length {
	if l.n == 0 {
		return 0
	}
	return vg.Length(l.n)*(l.TextStyle.Rectangle("Ag").Max.Y+l.Padding) + l.Padding
}

// writePlotSVG draws plots side by side on one SVG canvas of width w, the
// plots h high with the legends in columns below them, and writes it to
// path atomically.
func writePlotSVG(path string, w, h vg.Length, plots []*plot.Plot, legends ...*legendBox) error {
	if len(plots) == 0 {
		return errors.New("study: no plot to write")
	}
	var keyH vg.Length
	for _, l := range legends {
		keyH = max(keyH, l.height())
	}
	if keyH > 0 {
		keyH += vg.Points(10)
	}
	c := vgsvg.New(w, h+keyH)
	dc := draw.New(c)
	// A white background, for viewers that show transparency as black.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Points(24),
		PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, draw.Crop(dc, 0, 0, keyH, 0))
	for j, p := range plots {
		p.Draw(canvases[0][j])
	}
	x := dc.Min.X + vg.Points(48)
	for _, l := range legends {
		if l.n == 0 {
			continue
		}
		kc := dc
		kc.Rectangle = vg.Rectangle{Min: vg.Point{X: x, Y: dc.Min.Y}, Max: vg.Point{X: dc.Max.X, Y: dc.Min.Y + keyH}}
		l.Draw(kc)
		// The next column starts after this one's text, with room for a
		// fallback font up to 15% wider.
		x += l.ThumbnailWidth + l.width*1.15 + vg.Points(36)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return err
	}
	// Name fonts with the same metrics as Liberation Sans (which the layout
	// was measured with) for viewers that lack it.
	out := bytes.ReplaceAll(buf.Bytes(), []byte("font-family:Liberation Sans;"),
		[]byte("font-family:'Liberation Sans',Arimo,Arial,Helvetica,sans-serif;"))
	return atomicfile.WriteBytes(path, out)
}

// errBar is one point with a horizontal error bar.
type errBar struct{ x, y, lo, hi float64 }

type errBars []errBar

func (b errBars) Len() int                        { return len(b) }
func (b errBars) XY(i int) (float64, float64)     { return b[i].x, b[i].y }
func (b errBars) XError(i int) (float64, float64) { return b[i].lo, b[i].hi }

// diamondGlyph draws a filled diamond.
type diamondGlyph struct{}

func (diamondGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	var p vg.Path
	r := sty.Radius * 1.25
	p.Move(vg.Point{X: pt.X, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y})
	p.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X - r, Y: pt.Y})
	p.Close()
	c.SetColor(sty.Color)
	c.Fill(p)
}

// lineThumb is a legend thumbnail of a horizontal line.
type lineThumb struct{ sty draw.LineStyle }

func (l lineThumb) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(l.sty, c.Min.X, y, c.Max.X, y)
}

// glyphThumb is a legend thumbnail of one glyph.
type glyphThumb struct{ sty draw.GlyphStyle }

func (g glyphThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(g.sty, c.Center())
}

// taskAxis sets up p's Y axis for task losses from lo to hi: logarithmic
// when they span more than a factor of 10. It returns whether it is, and
// the transform to apply to task losses before plotting. (The values are
// plotted as log10 on a linear axis with ticks labelled in losses, rather
// than on plot.LogScale, whose axis-label layout pads the top of the plot.)
func taskAxis(p *plot.Plot, lo, hi float64) (bool, func(float64) float64) {
	if !(lo > 0 && hi/lo > 10) {
		return false, func(y float64) float64 { return y }
	}
	p.Y.Tick.Marker = logTicks{}
	p.Y.Label.Text += ", log scale"
	return true, math.Log10
}

// logTicks puts labelled ticks at 1, 2 and 5 times powers of ten (only at
// powers of ten, the others unlabelled, when the range spans more than
// three decades).
type logTicks struct{}

func (logTicks) Ticks(lmin, lmax float64) []plot.Tick {
	min, max := math.Pow(10, lmin), math.Pow(10, lmax)
	if !(min > 0) || !(max >= min) {
		return nil
	}
	lo, hi := math.Floor(math.Log10(min)), math.Ceil(math.Log10(max))
	wide := hi-lo > 3
	var ticks []plot.Tick
	for e := lo; e <= hi; e++ {
		for _, m := range []float64{1, 2, 3, 4, 5, 6, 7, 8, 9} {
			v := m * math.Pow(10, e)
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			label := ""
			if m == 1 || (!wide && (m == 2 || m == 5)) {
				label = strconv.FormatFloat(v, 'g', 3, 64)
			}
			ticks = append(ticks, plot.Tick{Value: math.Log10(v), Label: label})
		}
	}
	return ticks
}

// linearTicks puts about six labelled ticks at steps of 1, 2 or 5 times a
// power of ten, with unlabelled ones between.
type linearTicks struct{}

func (linearTicks) Ticks(min, max float64) []plot.Tick {
	if !(max > min) || math.IsInf(max-min, 0) {
		return plot.DefaultTicks{}.Ticks(min, max)
	}
	raw := (max - min) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	minor := step / 2
	if step == 2*mag {
		minor = mag
	}
	var ticks []plot.Tick
	for i := math.Ceil(min / minor); i*minor <= max+minor*1e-9; i++ {
		v := i * minor
		if math.Abs(v) < minor*1e-9 {
			v = 0
		}
		label := ""
		if r := math.Mod(math.Abs(v)+step*1e-9, step); r < step*1e-6 {
			label = strconv.FormatFloat(v, 'g', 4, 64)
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
	}
	return ticks
}
