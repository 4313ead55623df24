package plot

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Point is one data point.
type Point struct{ X, Y float64 }

// Series is one named line. Points are joined in the order given.
type Series struct {
	Name   string
	Points []Point
	Dashed bool
	// Markers draws a dot at every point, for series of a few measured
	// points (evaluations) that a line alone would show as a curve.
	Markers bool
}

// Chart describes the frame the series are drawn in. The zero value is a
// DefaultWidth × DefaultHeight chart with a linear Y axis and no labels.
type Chart struct {
	Title, XLabel, YLabel string
	// Width and Height are the size in pixels; zero means the default.
	Width, Height int
	// LogY draws the Y axis on a logarithmic scale; points with Y <= 0 are
	// then left out.
	LogY bool
}

// Default size of a chart, in pixels.
const (
	DefaultWidth  = 720
	DefaultHeight = 450
)

// Layout, in pixels.
const (
	fontTick  = 12
	fontLabel = 13
	fontTitle = 16
	charWidth = 0.6 // average glyph width, in ems, for sizing text
	tickLen   = 5
	minPlotW  = 60
	minPlotH  = 40
	// limit leaves out coordinates too large to scale without overflow.
	limit = 1e300
)

// palette is the Okabe–Ito colour-blind-safe palette without its yellow,
// which is too pale on white. Series beyond seven reuse the colours.
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"}

// WriteSVG draws the series on the chart and writes a standalone SVG
// document to w. It returns an error for a negative size, a size too small
// for the labels, or a failed write; bad points are skipped, never errors.
func (c Chart) WriteSVG(w io.Writer, series ...Series) error {
	width, height := c.Width, c.Height
	if width < 0 || height < 0 {
		return fmt.Errorf("plot: chart size %d×%d: Width and Height must not be negative", width, height)
	}
	if width == 0 {
		width = DefaultWidth
	}
	if height == 0 {
		height = DefaultHeight
	}

	// Drawable points, in runs between the points left out.
	runs := make([][][]Point, len(series))
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for i, s := range series {
		var run []Point
		for _, p := range s.Points {
			if !c.drawable(p) {
				if len(run) > 0 {
					runs[i] = append(runs[i], run)
					run = nil
				}
				continue
			}
			run = append(run, p)
			xlo, xhi = math.Min(xlo, p.X), math.Max(xhi, p.X)
			ylo, yhi = math.Min(ylo, p.Y), math.Max(yhi, p.Y)
		}
		if len(run) > 0 {
			runs[i] = append(runs[i], run)
		}
	}
	empty := xlo > xhi
	if empty {
		xlo, xhi, ylo, yhi = 0, 1, 0, 1
		if c.LogY {
			ylo, yhi = 1, 10
		}
	}
	xlo, xhi = padRange(xlo, xhi, false)
	ylo, yhi = padRange(ylo, yhi, c.LogY)

	// Y ticks first: their labels' width sets the left margin, which sets
	// the room for the X ticks.
	top, bottom, right := 16, 12+tickLen+fontTick+6, 24
	if c.Title != "" {
		top = 16 + fontTitle + 14
	}
	if c.XLabel != "" {
		bottom += fontLabel + 12
	}
	plotH := height - top - bottom
	yTarget := min(max(plotH/45, 2), 10)
	var yAxis axis
	if c.LogY {
		yAxis = logAxis(ylo, yhi, yTarget)
	} else {
		yAxis = linearAxis(ylo, yhi, yTarget)
	}
	left := 10 + int(math.Ceil(textWidth(longest(yAxis.ticks), fontTick))) + tickLen + 4
	if c.YLabel != "" {
		left += fontLabel + 12
	}
	plotW := width - left - right
	if plotW < minPlotW || plotH < minPlotH {
		return fmt.Errorf("plot: chart size %d×%d leaves a %d×%d plot area, less than the %d×%d its labels need", width, height, max(plotW, 0), max(plotH, 0), minPlotW, minPlotH)
	}
	var xAxis axis
	for xTarget := min(max(plotW/80, 2), 10); ; xTarget-- {
		xAxis = linearAxis(xlo, xhi, xTarget)
		labelW := textWidth(longest(xAxis.ticks), fontTick) + 16
		if xTarget <= 2 || labelW*float64(len(xAxis.ticks)-1) <= float64(plotW) {
			break
		}
	}

	d := drawing{
		left: float64(left), top: float64(top),
		w: float64(plotW), h: float64(plotH),
		x: xAxis, y: yAxis,
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="%d">`+"\n", width, height, width, height, fontTick)
	if c.Title != "" {
		fmt.Fprintf(&b, "<title>%s</title>\n", esc(c.Title))
	}
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	d.grid(&b)
	d.axes(&b)
	if c.Title != "" {
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle" font-size="%d" font-weight="bold" fill="#222222">%s</text>`+"\n",
			num(d.left+d.w/2), 16+fontTitle, fontTitle, esc(c.Title))
	}
	if c.XLabel != "" {
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle" font-size="%d" fill="#333333">%s</text>`+"\n",
			num(d.left+d.w/2), height-12, fontLabel, esc(c.XLabel))
	}
	if c.YLabel != "" {
		x, y := 12+fontLabel, d.top+d.h/2
		fmt.Fprintf(&b, `<text x="%d" y="%s" transform="rotate(-90 %d %s)" text-anchor="middle" font-size="%d" fill="#333333">%s</text>`+"\n",
			x, num(y), x, num(y), fontLabel, esc(c.YLabel))
	}

	// The curves, clipped to the plot area (widened by half a line so that
	// lines along its edge keep their full width).
	fmt.Fprintf(&b, `<clipPath id="plot-area"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath>`+"\n",
		num(d.left-2), num(d.top-2), num(d.w+4), num(d.h+4))
	b.WriteString(`<g clip-path="url(#plot-area)" fill="none" stroke-width="1.8" stroke-linejoin="round" stroke-linecap="round">` + "\n")
	var legend []legendEntry
	var lines [][]pixel // every drawn run, in pixels, for placing the legend
	for i, s := range series {
		if len(runs[i]) == 0 {
			continue
		}
		colour := palette[len(legend)%len(palette)]
		legend = append(legend, legendEntry{name: s.Name, colour: colour, dashed: s.Dashed})
		var path strings.Builder
		for _, run := range runs[i] {
			px := d.pixels(run)
			lines = append(lines, px)
			path.WriteString("M" + num(px[0].x) + " " + num(px[0].y))
			if len(px) == 1 {
				path.WriteString("l0 0") // a zero-length line: a dot with round caps
			}
			for _, p := range px[1:] {
				path.WriteString("L" + num(p.x) + " " + num(p.y))
			}
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="7 5"`
		}
		fmt.Fprintf(&b, `<path class="series" stroke="%s"%s d="%s"/>`+"\n", colour, dash, path.String())
		for _, run := range runs[i] {
			if s.Markers && len(run) > 1 {
				for _, p := range run {
					fmt.Fprintf(&b, `<circle class="marker" cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", num(d.px(p.X)), num(d.py(p.Y)), colour)
				}
				continue
			}
			if len(run) == 1 { // a lone point between gaps, easy to miss as a dot
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`+"\n", num(d.px(run[0].X)), num(d.py(run[0].Y)), colour)
			}
		}
	}
	b.WriteString("</g>\n")
	if empty {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" font-size="%d" fill="#888888">no data</text>`+"\n",
			num(d.left+d.w/2), num(d.top+d.h/2), fontLabel)
	}
	d.legend(&b, legend, lines)
	b.WriteString("</svg>\n")
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("plot: writing the SVG: %w", err)
	}
	return nil
}

// drawable reports whether p can be placed on the chart's axes.
func (c Chart) drawable(p Point) bool {
	if !(math.Abs(p.X) <= limit && math.Abs(p.Y) <= limit) { // false for NaN too
		return false
	}
	return !c.LogY || p.Y >= 1/limit
}

// padRange widens a range that is empty or too narrow to scale.
func padRange(lo, hi float64, log bool) (float64, float64) {
	if log {
		if hi/lo < 1+1e-9 {
			return lo / 2, hi * 2
		}
		return lo, hi
	}
	if hi-lo > math.Max(math.Abs(lo), math.Abs(hi))*1e-9 && hi-lo > 1e-200 {
		return lo, hi
	}
	mid := lo/2 + hi/2
	pad := math.Max(math.Abs(mid)*0.1, 1e-200)
	if mid == 0 {
		pad = 1
	}
	return mid - pad, mid + pad
}

// drawing maps data onto the plot area.
type drawing struct {
	left, top, w, h float64
	x, y            axis
}

type pixel struct{ x, y float64 }

func (d drawing) px(x float64) float64 { return d.left + d.x.frac(x)*d.w }
func (d drawing) py(y float64) float64 { return d.top + (1-d.y.frac(y))*d.h }

func (d drawing) pixels(run []Point) []pixel {
	px := make([]pixel, len(run))
	for i, p := range run {
		px[i] = pixel{d.px(p.X), d.py(p.Y)}
	}
	return px
}

func (d drawing) grid(b *bytes.Buffer) {
	b.WriteString(`<g stroke-width="1">` + "\n")
	for _, v := range d.y.minor {
		y := num(d.py(v))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#f3f3f3"/>`+"\n", num(d.left), y, num(d.left+d.w), y)
	}
	for _, t := range d.y.ticks {
		y := num(d.py(t.value))
		fmt.Fprintf(b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e2e2e2"/>`+"\n", num(d.left), y, num(d.left+d.w), y)
	}
	for _, t := range d.x.ticks {
		x := num(d.px(t.value))
		fmt.Fprintf(b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e2e2e2"/>`+"\n", x, num(d.top), x, num(d.top+d.h))
	}
	b.WriteString("</g>\n")
}

func (d drawing) axes(b *bytes.Buffer) {
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#999999" stroke-width="1"/>`+"\n",
		num(d.left), num(d.top), num(d.w), num(d.h))
	b.WriteString(`<g stroke="#999999" stroke-width="1">` + "\n")
	bottom := d.top + d.h
	for _, t := range d.x.ticks {
		x := num(d.px(t.value))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", x, num(bottom), x, num(bottom+tickLen))
	}
	for _, t := range d.y.ticks {
		y := num(d.py(t.value))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", num(d.left-tickLen), y, num(d.left), y)
	}
	b.WriteString("</g>\n")
	b.WriteString(`<g fill="#444444">` + "\n")
	for _, t := range d.x.ticks {
		fmt.Fprintf(b, `<text class="xtick" x="%s" y="%s" text-anchor="middle">%s</text>`+"\n",
			num(d.px(t.value)), num(bottom+tickLen+4+fontTick), esc(t.label))
	}
	for _, t := range d.y.ticks {
		fmt.Fprintf(b, `<text class="ytick" x="%s" y="%s" text-anchor="end">%s</text>`+"\n",
			num(d.left-tickLen-4), num(d.py(t.value)+fontTick*0.35), esc(t.label))
	}
	b.WriteString("</g>\n")
}

type legendEntry struct {
	name   string
	colour string
	dashed bool
}

// legend draws a key of the named series in the corner of the plot area
// that the fewest lines cross. Without any named series there is none.
func (d drawing) legend(b *bytes.Buffer, entries []legendEntry, lines [][]pixel) {
	named := false
	widest := 0.0
	for i := range entries {
		if entries[i].name != "" {
			named = true
		} else {
			entries[i].name = fmt.Sprintf("series %d", i+1)
		}
		widest = math.Max(widest, textWidth(entries[i].name, fontTick))
	}
	if !named {
		return
	}
	const rowH, pad, sample, inset = 18.0, 8.0, 24.0, 10.0
	bw := pad + sample + 6 + widest + pad
	bh := pad/2 + rowH*float64(len(entries)) + pad/2
	corners := []pixel{
		{d.left + d.w - inset - bw, d.top + inset}, // top right
		{d.left + inset, d.top + inset},            // top left
		{d.left + d.w - inset - bw, d.top + d.h - inset - bh},
		{d.left + inset, d.top + d.h - inset - bh},
	}
	best, bestHits := corners[0], -1
	for _, c := range corners {
		hits := 0
		for _, line := range lines {
			hits += crossings(line, c.x-4, c.y-4, c.x+bw+4, c.y+bh+4)
		}
		if bestHits < 0 || hits < bestHits {
			best, bestHits = c, hits
		}
	}
	fmt.Fprintf(b, `<g class="legend"><rect x="%s" y="%s" width="%s" height="%s" rx="3" fill="#ffffff" fill-opacity="0.88" stroke="#cccccc"/>`+"\n",
		num(best.x), num(best.y), num(bw), num(bh))
	for i, e := range entries {
		y := best.y + pad/2 + rowH*(float64(i)+0.5)
		dash := ""
		if e.dashed {
			dash = ` stroke-dasharray="7 5"`
		}
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2.4" stroke-linecap="round"%s/>`+"\n",
			num(best.x+pad), num(y), num(best.x+pad+sample), num(y), e.colour, dash)
		fmt.Fprintf(b, `<text x="%s" y="%s" fill="#222222">%s</text>`+"\n",
			num(best.x+pad+sample+6), num(y+fontTick*0.35), esc(e.name))
	}
	b.WriteString("</g>\n")
}

// crossings counts the segments of a polyline (or its single point) that
// touch the rectangle [x0, x1] × [y0, y1].
func crossings(line []pixel, x0, y0, x1, y1 float64) int {
	if len(line) == 1 {
		p := line[0]
		if p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1 {
			return 1
		}
		return 0
	}
	n := 0
	for i := 1; i < len(line); i++ {
		if segmentHitsRect(line[i-1], line[i], x0, y0, x1, y1) {
			n++
		}
	}
	return n
}

// segmentHitsRect is Liang–Barsky clipping: whether some part of the
// segment from a to b lies inside the rectangle.
func segmentHitsRect(a, b pixel, x0, y0, x1, y1 float64) bool {
	dx, dy := b.x-a.x, b.y-a.y
	t0, t1 := 0.0, 1.0
	for _, e := range [4][2]float64{{-dx, a.x - x0}, {dx, x1 - a.x}, {-dy, a.y - y0}, {dy, y1 - a.y}} {
		p, q := e[0], e[1]
		if p == 0 {
			if q < 0 {
				return false
			}
			continue
		}
		r := q / p
		if p < 0 {
			t0 = math.Max(t0, r)
		} else {
			t1 = math.Min(t1, r)
		}
		if t0 > t1 {
			return false
		}
	}
	return true
}

func longest(ticks []tick) string {
	s := ""
	for _, t := range ticks {
		if len(t.label) > len(s) {
			s = t.label
		}
	}
	return s
}

// textWidth estimates the width of s in pixels at the given font size.
func textWidth(s string, size int) float64 {
	return float64(len([]rune(s))) * charWidth * float64(size)
}

// num formats a coordinate with at most two decimals.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
