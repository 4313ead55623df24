package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// node is a generic XML element, for reading the SVG back.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []node     `xml:",any"`
	Text     string     `xml:",chardata"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) num(t *testing.T, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", n.XMLName.Local, name, n.attr(name), err)
	}
	return v
}

// find returns the elements (at any depth) named name whose class is class
// ("" for any class).
func (n node) find(name, class string) []node {
	var out []node
	for _, c := range n.Children {
		if c.XMLName.Local == name && (class == "" || c.attr("class") == class) {
			out = append(out, c)
		}
		out = append(out, c.find(name, class)...)
	}
	return out
}

// render writes the chart and parses it back, failing on any XML error.
func render(t *testing.T, c Chart, series ...Series) (node, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WriteSVG(&buf, series...); err != nil {
		t.Fatalf("WriteSVG: %v", err)
	}
	var root node
	if err := xml.Unmarshal(buf.Bytes(), &root); err != nil {
		t.Fatalf("output is not XML: %v\n%s", err, buf.String())
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element %v, want svg in the SVG namespace", root.XMLName)
	}
	checkFinite(t, root)
	return root, buf.String()
}

// checkFinite fails if any attribute holds a NaN or an infinity.
func checkFinite(t *testing.T, n node) {
	t.Helper()
	for _, a := range n.Attrs {
		if strings.Contains(a.Value, "NaN") || strings.Contains(a.Value, "Inf") {
			t.Fatalf("<%s %s=%q>: not finite", n.XMLName.Local, a.Name.Local, a.Value)
		}
	}
	for _, c := range n.Children {
		checkFinite(t, c)
	}
}

// subpaths parses a path's d attribute ("M x y L x y ... l0 0 M ...") into
// its runs of absolute points.
func subpaths(t *testing.T, d string) [][]pixel {
	t.Helper()
	var runs [][]pixel
	fields := strings.FieldsFunc(d, func(r rune) bool { return r == ' ' })
	// Split "M12.5" and "L3" tokens into a command and a number.
	var toks []string
	for _, f := range fields {
		for len(f) > 0 {
			i := strings.IndexAny(f[1:], "MLl")
			if i < 0 {
				toks = append(toks, f)
				break
			}
			toks = append(toks, f[:i+1])
			f = f[i+1:]
		}
	}
	for i := 0; i < len(toks); i += 2 {
		cmd, xs := toks[i][0], toks[i][1:]
		if i+1 >= len(toks) {
			t.Fatalf("path %q: command without a y", d)
		}
		x, err1 := strconv.ParseFloat(xs, 64)
		y, err2 := strconv.ParseFloat(toks[i+1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("path %q: bad numbers at %q %q", d, toks[i], toks[i+1])
		}
		switch cmd {
		case 'M':
			runs = append(runs, []pixel{{x, y}})
		case 'L':
			runs[len(runs)-1] = append(runs[len(runs)-1], pixel{x, y})
		case 'l':
			if x != 0 || y != 0 {
				t.Fatalf("path %q: relative move other than the dot l0 0", d)
			}
		default:
			t.Fatalf("path %q: unknown command %q", d, cmd)
		}
	}
	return runs
}

// plotArea is the frame rectangle: the first rect with a grey stroke.
func plotArea(t *testing.T, root node) (x0, y0, x1, y1 float64) {
	t.Helper()
	for _, r := range root.find("rect", "") {
		if r.attr("stroke") == "#999999" {
			x0, y0 = r.num(t, "x"), r.num(t, "y")
			return x0, y0, x0 + r.num(t, "width"), y0 + r.num(t, "height")
		}
	}
	t.Fatal("no plot frame")
	return
}

func TestOnePathPerNonEmptySeries(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	curve := []Point{{0, 4}, {100, 3}, {200, 2.5}}
	tests := []struct {
		name   string
		chart  Chart
		series []Series
		paths  int
		runs   []int // subpaths of each drawn series
	}{
		{"three curves", Chart{Title: "loss"}, []Series{{Name: "a", Points: curve}, {Name: "b", Points: curve[:2]}, {Name: "c", Points: curve[1:]}}, 3, []int{1, 1, 1}},
		{"empty series skipped", Chart{}, []Series{{Name: "a"}, {Name: "b", Points: curve}, {Name: "c", Points: []Point{}}}, 1, []int{1}},
		{"all points bad", Chart{}, []Series{{Name: "a", Points: []Point{{nan, 1}, {1, inf}, {-inf, 2}}}, {Name: "b", Points: curve}}, 1, []int{1}},
		{"NaN makes a gap", Chart{}, []Series{{Name: "a", Points: []Point{{0, 3}, {1, 2}, {2, nan}, {3, 1.5}, {4, 1.2}}}}, 1, []int{2}},
		{"Inf makes a gap", Chart{}, []Series{{Name: "a", Points: []Point{{0, 3}, {1, inf}, {2, 1.5}, {3, -inf}, {4, 1}}}}, 1, []int{3}},
		{"X NaN makes a gap", Chart{}, []Series{{Name: "a", Points: []Point{{0, 3}, {nan, 2}, {2, 1.5}}}}, 1, []int{2}},
		{"huge values are gaps", Chart{}, []Series{{Name: "a", Points: []Point{{0, 3}, {1, 1e301}, {2, 1.5}, {3, 1}}}}, 1, []int{2}},
		{"log drops y <= 0", Chart{LogY: true}, []Series{{Name: "a", Points: []Point{{0, 3}, {1, 0}, {2, 1.5}, {3, -1}, {4, 0.5}}}}, 1, []int{3}},
		{"log all y <= 0", Chart{LogY: true}, []Series{{Name: "a", Points: []Point{{0, 0}, {1, -2}}}}, 0, nil},
		{"no series", Chart{Title: "empty"}, nil, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, _ := render(t, tt.chart, tt.series...)
			paths := root.find("path", "series")
			if len(paths) != tt.paths {
				t.Fatalf("%d series paths, want %d", len(paths), tt.paths)
			}
			x0, y0, x1, y1 := plotArea(t, root)
			for i, p := range paths {
				runs := subpaths(t, p.attr("d"))
				if len(runs) != tt.runs[i] {
					t.Errorf("path %d has %d subpaths, want %d", i, len(runs), tt.runs[i])
				}
				for _, run := range runs {
					for _, px := range run {
						if px.x < x0-0.01 || px.x > x1+0.01 || px.y < y0-0.01 || px.y > y1+0.01 {
							t.Errorf("point (%g, %g) outside the plot area [%g, %g]×[%g, %g]", px.x, px.y, x0, x1, y0, y1)
						}
					}
				}
			}
			noData := false
			for _, tx := range root.find("text", "") {
				noData = noData || tx.Text == "no data"
			}
			if noData != (tt.paths == 0) {
				t.Errorf("\"no data\" shown: %v, want %v", noData, tt.paths == 0)
			}
		})
	}
}

// Points land where the ticks say: a point with the value of a tick sits
// on that tick's grid line.
func TestPointsMatchTicks(t *testing.T) {
	for _, logY := range []bool{false, true} {
		root, _ := render(t, Chart{LogY: logY, Width: 600, Height: 400},
			Series{Name: "s", Points: []Point{{0, 1}, {50, 2}, {100, 5}, {150, 10}, {200, 20}}})
		xt, yt := tickPositions(t, root, "xtick"), tickPositions(t, root, "ytick")
		runs := subpaths(t, root.find("path", "series")[0].attr("d"))
		if len(runs) != 1 || len(runs[0]) != 5 {
			t.Fatalf("logY=%v: runs %v", logY, runs)
		}
		for i, p := range []Point{{0, 1}, {50, 2}, {100, 5}, {150, 10}, {200, 20}} {
			px := runs[0][i]
			if x, ok := xt[p.X]; !ok || math.Abs(x-px.x) > 0.01 {
				t.Errorf("logY=%v: x=%g drawn at %g, tick at %g (present %v)", logY, p.X, px.x, x, ok)
			}
			if y, ok := yt[p.Y]; ok && math.Abs(y-px.y) > 0.01 {
				t.Errorf("logY=%v: y=%g drawn at %g, tick at %g", logY, p.Y, px.y, y)
			}
		}
		if logY {
			// 1, 2, 5, 10, 20 are all ticks of a 1-2-5 log axis, and equal
			// ratios are equal distances: 1→10 and 2→20 span the same height.
			y1, y2, y10, y20 := yt[1], yt[2], yt[10], yt[20]
			if y1 == 0 || y2 == 0 || y10 == 0 || y20 == 0 {
				t.Fatalf("log ticks %v, want 1, 2, 10 and 20 among them", yt)
			}
			if math.Abs((y1-y10)-(y2-y20)) > 0.02 {
				t.Errorf("log axis: 1→10 spans %g px, 2→20 spans %g px", y1-y10, y2-y20)
			}
		}
	}
}

// tickPositions reads tick labels of a class into value → pixel position
// (x for X ticks, the grid line's y for Y ticks).
func tickPositions(t *testing.T, root node, class string) map[float64]float64 {
	t.Helper()
	out := map[float64]float64{}
	for _, tx := range root.find("text", class) {
		v, err := strconv.ParseFloat(tx.Text, 64)
		if err != nil {
			t.Fatalf("tick label %q: %v", tx.Text, err)
		}
		if class == "xtick" {
			out[v] = tx.num(t, "x")
		} else {
			out[v] = tx.num(t, "y") - fontTick*0.35
		}
	}
	return out
}

func TestTicksCoverData(t *testing.T) {
	tests := []struct {
		name   string
		chart  Chart
		points []Point
	}{
		{"loss curve", Chart{}, []Point{{1, 4.73}, {500, 2.1}, {2000, 1.17}}},
		{"negative", Chart{}, []Point{{-30, -7.3}, {12, -2.2}}},
		{"all equal y", Chart{}, []Point{{0, 2.5}, {10, 2.5}, {20, 2.5}}},
		{"all equal y = 0", Chart{}, []Point{{0, 0}, {10, 0}}},
		{"single point", Chart{}, []Point{{7, 3}}},
		{"tiny range", Chart{}, []Point{{0, 1}, {1, 1 + 1e-13}}},
		{"log", Chart{LogY: true}, []Point{{0, 11}, {100, 1.8}}},
		{"log all equal", Chart{LogY: true}, []Point{{0, 2.5}, {5, 2.5}}},
		{"log many decades", Chart{LogY: true}, []Point{{0, 1e-9}, {1, 1e9}}},
		{"big x", Chart{}, []Point{{0, 1}, {5e7, 2}}},
		{"small chart", Chart{Width: 200, Height: 120}, []Point{{0, 4.6}, {2200, 1.4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, _ := render(t, tt.chart, Series{Name: "s", Points: tt.points})
			for _, axis := range []string{"xtick", "ytick"} {
				var vals []float64
				for _, tx := range root.find("text", axis) {
					v, err := strconv.ParseFloat(tx.Text, 64)
					if err != nil {
						t.Fatalf("%s label %q: %v", axis, tx.Text, err)
					}
					vals = append(vals, v)
				}
				if len(vals) < 2 {
					t.Fatalf("%s: %d ticks, want at least 2", axis, len(vals))
				}
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, p := range tt.points {
					v := p.X
					if axis == "ytick" {
						v = p.Y
					}
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
				if vals[0] > lo || vals[len(vals)-1] < hi {
					t.Errorf("%s ticks %v do not cover the data [%g, %g]", axis, vals, lo, hi)
				}
				if axis == "xtick" || !tt.chart.LogY {
					step, ok := niceStep((vals[len(vals)-1] - vals[0]) / float64(len(vals)-1))
					if !ok {
						t.Errorf("%s ticks %v: step is not 1, 2 or 5 × 10^k", axis, vals)
					}
					for _, v := range vals {
						if k := v / step; math.Abs(k-math.Round(k)) > 1e-6+math.Abs(k)*1e-12 {
							t.Errorf("%s tick %g is not a multiple of the step %g", axis, v, step)
						}
					}
				}
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	title := `loss <train> & "eval" 'α'`
	name := "a<b>&c\x01\xff"
	root, raw := render(t, Chart{Title: title, XLabel: "x & y", YLabel: "<y>"}, Series{Name: name, Points: []Point{{0, 1}, {1, 2}}})
	if strings.Contains(raw, "<train>") || strings.Contains(raw, "<y>") || strings.Contains(raw, "a<b") {
		t.Errorf("unescaped text in the SVG")
	}
	texts := map[string]bool{}
	for _, tx := range root.find("text", "") {
		texts[tx.Text] = true
	}
	for _, want := range []string{title, "x & y", "<y>", "a<b>&c\uFFFD\uFFFD"} {
		if !texts[want] {
			t.Errorf("text %q not in the chart (texts %v)", want, texts)
		}
	}
	if got := root.find("title", ""); len(got) != 1 || got[0].Text != title {
		t.Errorf("<title> %v, want %q", got, title)
	}
}

func TestColoursAndDashes(t *testing.T) {
	var series []Series
	for i := range 9 {
		series = append(series, Series{Name: "s" + strconv.Itoa(i), Points: []Point{{0, float64(i)}, {1, float64(i) + 1}}, Dashed: i == 2})
	}
	root, _ := render(t, Chart{Height: 600}, series...)
	paths := root.find("path", "series")
	seen := map[string]int{}
	for i, p := range paths {
		c := p.attr("stroke")
		if j, dup := seen[c]; dup && i < len(palette) {
			t.Errorf("series %d and %d share the colour %s", j, i, c)
		}
		seen[c] = i
		if dashed := p.attr("stroke-dasharray") != ""; dashed != (i == 2) {
			t.Errorf("series %d dashed %v, want %v", i, dashed, i == 2)
		}
	}
	if len(seen) != len(palette) {
		t.Errorf("%d colours for 9 series, want the %d of the palette", len(seen), len(palette))
	}
	legend := root.find("g", "legend")
	if len(legend) != 1 {
		t.Fatalf("%d legends, want 1", len(legend))
	}
	lines, texts := legend[0].find("line", ""), legend[0].find("text", "")
	if len(lines) != 9 || len(texts) != 9 || texts[8].Text != "s8" {
		t.Fatalf("legend has %d lines and %d names, want 9 each", len(lines), len(texts))
	}
	for i, l := range lines {
		if l.attr("stroke") != paths[i].attr("stroke") || (l.attr("stroke-dasharray") != "") != (i == 2) {
			t.Errorf("legend entry %d does not match its series' colour and dash", i)
		}
	}
}

func TestLegendAvoidsCurves(t *testing.T) {
	tests := []struct {
		name   string
		points []Point
	}{
		{"rising", []Point{{0, 0}, {10, 2}, {20, 4}, {30, 6}, {40, 8}, {50, 10}}},
		{"falling", []Point{{0, 10}, {50, 0}}},
		{"high then low", []Point{{0, 10}, {5, 10}, {10, 9.5}, {15, 1}, {50, 1}}},
		{"low then high", []Point{{0, 0}, {40, 0}, {45, 9}, {50, 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, _ := render(t, Chart{}, Series{Name: "a fairly long name", Points: tt.points})
			legend := root.find("g", "legend")
			if len(legend) != 1 {
				t.Fatalf("%d legends, want 1", len(legend))
			}
			box := legend[0].find("rect", "")[0]
			x0, y0 := box.num(t, "x"), box.num(t, "y")
			x1, y1 := x0+box.num(t, "width"), y0+box.num(t, "height")
			runs := subpaths(t, root.find("path", "series")[0].attr("d"))
			if n := crossings(runs[0], x0, y0, x1, y1); n != 0 {
				t.Errorf("the legend [%g, %g]×[%g, %g] covers %d segments of the curve", x0, x1, y0, y1, n)
			}
		})
	}
}

func TestNoLegendWithoutNames(t *testing.T) {
	root, _ := render(t, Chart{}, Series{Points: []Point{{0, 1}, {1, 2}}})
	if n := len(root.find("g", "legend")); n != 0 {
		t.Errorf("%d legends for an unnamed series, want none", n)
	}
	root, _ = render(t, Chart{}, Series{Points: []Point{{0, 1}, {1, 2}}}, Series{Name: "b", Points: []Point{{0, 2}, {1, 1}}})
	names := root.find("g", "legend")[0].find("text", "")
	if len(names) != 2 || names[0].Text != "series 1" || names[1].Text != "b" {
		t.Errorf("legend names %v, want series 1 and b", names)
	}
}

func TestLonePointIsVisible(t *testing.T) {
	root, _ := render(t, Chart{}, Series{Name: "eval", Points: []Point{{0, 2}, {1, math.NaN()}, {2, 1.5}, {3, math.NaN()}}})
	d := root.find("path", "series")[0].attr("d")
	if !strings.Contains(d, "l0 0") {
		t.Errorf("path %q: lone points should be zero-length lines", d)
	}
	if n := len(root.find("circle", "")); n != 2 {
		t.Errorf("%d dots for 2 lone points", n)
	}
}

func TestSizes(t *testing.T) {
	root, _ := render(t, Chart{})
	if root.attr("width") != strconv.Itoa(DefaultWidth) || root.attr("height") != strconv.Itoa(DefaultHeight) {
		t.Errorf("default size %s×%s, want %d×%d", root.attr("width"), root.attr("height"), DefaultWidth, DefaultHeight)
	}
	root, _ = render(t, Chart{Width: 300, Height: 200})
	if root.attr("viewBox") != "0 0 300 200" {
		t.Errorf("viewBox %q", root.attr("viewBox"))
	}
}

func TestErrors(t *testing.T) {
	s := Series{Name: "s", Points: []Point{{0, 1}, {1, 2}}}
	tests := []struct {
		name  string
		chart Chart
		want  string
	}{
		{"negative width", Chart{Width: -1}, "must not be negative"},
		{"negative height", Chart{Height: -5}, "must not be negative"},
		{"too narrow", Chart{Width: 90}, "plot area"},
		{"too low", Chart{Height: 70, Title: "t", XLabel: "x"}, "plot area"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		err := tt.chart.WriteSVG(&buf, s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tt.name, err, tt.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written despite the error", tt.name, buf.Len())
		}
	}
	boom := errors.New("disk full")
	if err := (Chart{}).WriteSVG(failingWriter{boom}, s); !errors.Is(err, boom) {
		t.Errorf("write error %v, want it to wrap %v", err, boom)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestSegmentHitsRect(t *testing.T) {
	tests := []struct {
		a, b pixel
		want bool
	}{
		{pixel{-5, 5}, pixel{15, 5}, true},    // straight through
		{pixel{2, 2}, pixel{3, 3}, true},      // inside
		{pixel{-5, -5}, pixel{-1, 20}, false}, // left of it
		{pixel{-5, 6}, pixel{6, -5}, true},    // clips the corner: x+y = 1
		{pixel{-5, 4}, pixel{4, -5}, false},   // passes by the corner: x+y = -1
		{pixel{0, 20}, pixel{10, 20}, false},
		{pixel{5, 5}, pixel{5, 5}, true},
	}
	for _, tt := range tests {
		if got := segmentHitsRect(tt.a, tt.b, 0, 0, 10, 10); got != tt.want {
			t.Errorf("segment %v–%v vs [0,10]²: %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzWriteSVG: any points and text give well-formed SVG with finite
// coordinates, and never a panic.
func FuzzWriteSVG(f *testing.F) {
	f.Add(0.0, 1.0, 1.0, 2.0, 2.0, 0.5, false, "loss", "train")
	f.Add(math.NaN(), 1.0, math.Inf(1), 2.0, 2.0, math.Inf(-1), true, "<&>", "\xff")
	f.Add(-1e300, 1e-300, 1e300, -1e-300, 5e-324, 1.0, true, "", "")
	f.Add(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, false, "flat", "")
	f.Add(1e15, 2.0, 1e15+1, 2.0000000001, 0.0, 0.0, false, "x", "y")
	f.Fuzz(func(t *testing.T, x1, y1, x2, y2, x3, y3 float64, logY bool, title, name string) {
		var buf bytes.Buffer
		c := Chart{Title: title, YLabel: name, LogY: logY, Width: 400, Height: 300}
		if err := c.WriteSVG(&buf, Series{Name: name, Points: []Point{{x1, y1}, {x2, y2}, {x3, y3}}}, Series{Name: "b", Points: []Point{{x3, y1}}}); err != nil {
			t.Fatal(err)
		}
		var root node
		if err := xml.Unmarshal(buf.Bytes(), &root); err != nil {
			t.Fatalf("not XML: %v", err)
		}
		checkFinite(t, root)
	})
}

// TestMarkersMarkEveryPoint: a series with Markers has a dot at each of its
// points (two evaluations read as two measurements, not a curve); one
// without has none.
func TestMarkersMarkEveryPoint(t *testing.T) {
	pts := []Point{{0, 2}, {10, 1.5}}
	root, _ := render(t, Chart{}, Series{Name: "train", Points: []Point{{0, 3}, {5, 2}, {10, 1}}}, Series{Name: "eval", Points: pts, Markers: true})
	marks := root.find("circle", "marker")
	if len(marks) != len(pts) {
		t.Fatalf("%d markers for %d points", len(marks), len(pts))
	}
	if marks[0].num(t, "cx") >= marks[1].num(t, "cx") || marks[0].num(t, "cy") >= marks[1].num(t, "cy") {
		t.Errorf("markers at (%s, %s) and (%s, %s): not at the points", marks[0].attr("cx"), marks[0].attr("cy"), marks[1].attr("cx"), marks[1].attr("cy"))
	}
}
