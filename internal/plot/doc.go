// Package plot draws line charts, such as training and evaluation loss
// curves, as standalone SVG with no dependencies beyond the standard
// library.
//
// A Chart holds the title, axis labels, size and scale; WriteSVG draws any
// number of Series on it. The axes run from one "nice" tick to another
// (steps of 1, 2 or 5 times a power of ten; on a logarithmic Y axis,
// decades or 1-2-5 within them) enclosing all the data, with grid lines at
// the ticks and a legend placed in the corner the curves cross least.
// Series get distinct colours from a colour-blind-safe palette, and a
// dashed line when Series.Dashed is set. Points with a NaN or infinite
// coordinate (or, on a logarithmic axis, Y <= 0) are left out and break the
// line there; an isolated point is drawn as a dot. A series without a
// drawable point is left out, and a chart with no data at all is drawn
// empty with a "no data" note. All text is XML-escaped.
package plot
