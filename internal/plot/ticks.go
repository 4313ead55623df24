package plot

import (
	"math"
	"strconv"
	"strings"
)

// tick is one labelled axis position.
type tick struct {
	value float64
	label string
}

// axis is the range an axis spans (its first and last tick), its ticks and,
// on a logarithmic axis, the unlabelled minor grid values.
type axis struct {
	lo, hi float64
	ticks  []tick
	minor  []float64
	log    bool
}

// frac maps v to its position on the axis, 0 at lo and 1 at hi.
func (a axis) frac(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// tickEps absorbs floating-point error when data sit exactly on a tick.
const tickEps = 1e-9

// linearAxis returns ticks at every multiple of a step of 1, 2 or 5 times
// a power of ten from the last at or below lo to the first at or above hi:
// the smallest such step that needs at most target intervals. It needs
// lo < hi, both finite; a target below 2 counts as 2 (one interval may
// not be enough when lo < 0 < hi).
func linearAxis(lo, hi float64, target int) axis {
	target = max(target, 2)
	raw := (hi - lo) / float64(target)
	exp := int(math.Floor(math.Log10(raw)))
	var m int64
	// The slack keeps a raw step of 0.1 computed as 0.10000000001 at 0.1.
	switch f := raw / math.Pow10(exp) * (1 - 1e-9); {
	case f <= 1:
		m = 1
	case f <= 2:
		m = 2
	case f <= 5:
		m = 5
	default:
		m, exp = 1, exp+1
	}
	for {
		step := float64(m) * math.Pow10(exp)
		// The tolerance grows with the quotients: at lo/step = 1e7 a
		// rounding error of a few ulps is already 1e-9.
		qlo, qhi := lo/step, hi/step
		klo := int64(math.Floor(qlo + tickEps + math.Abs(qlo)*1e-12))
		khi := int64(math.Ceil(qhi - tickEps - math.Abs(qhi)*1e-12))
		// Aligning the ends to the step can add an interval; then the next
		// step up fits, as it is at least twice the span over target.
		if khi-klo > int64(target) {
			switch m {
			case 1:
				m = 2
			case 2:
				m = 5
			default:
				m, exp = 1, exp+1
			}
			continue
		}
		a := axis{}
		for k := klo; k <= khi; k++ {
			a.ticks = append(a.ticks, tick{decimalValue(k*m, exp), decimalLabel(k*m, exp)})
		}
		a.lo, a.hi = a.ticks[0].value, a.ticks[len(a.ticks)-1].value
		return a
	}
}

// logAxis returns ticks for a logarithmic axis over [lo, hi], 0 < lo < hi:
// the finest of the mantissa sets 1..9, {1, 2, 5} and {1} (per decade)
// giving at most target+1 ticks, or every so many decades when even {1}
// gives too many. When the range is too narrow for three such ticks it
// falls back to linear 1-2-5 ticks on the logarithmic scale.
func logAxis(lo, hi float64, target int) axis {
	target = max(target, 2)
	klo := int(math.Floor(math.Log10(lo) + tickEps))
	khi := int(math.Ceil(math.Log10(hi) - tickEps))
	sets := [][]int64{{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 5}, {1}}
	for i, set := range sets {
		a := axis{log: true}
		var cands []tick
		for k := klo - 1; k <= khi; k++ {
			for _, m := range set {
				cands = append(cands, tick{decimalValue(m, k), decimalLabel(m, k)})
			}
		}
		first, last := 0, len(cands)-1
		for j, c := range cands {
			if c.value <= lo*(1+tickEps) {
				first = j
			}
		}
		for j := len(cands) - 1; j >= 0; j-- {
			if cands[j].value >= hi*(1-tickEps) {
				last = j
			}
		}
		a.ticks = cands[first : last+1]
		a.lo, a.hi = a.ticks[0].value, a.ticks[len(a.ticks)-1].value
		if i == 0 {
			if len(a.ticks) < 3 {
				if lin := linearAxis(lo, hi, target); lin.lo > 0 {
					lin.log = true
					return lin
				}
				return a
			}
		}
		if len(a.ticks) <= target+1 {
			if i > 0 {
				a.minor = minorLog(a)
			}
			return a
		}
	}
	// Too many decades: one tick every stride decades.
	stride := (khi - klo + target - 1) / target
	klo = floorDivInt(klo, stride) * stride
	khi = -floorDivInt(-khi, stride) * stride
	a := axis{log: true}
	for k := klo; k <= khi; k += stride {
		a.ticks = append(a.ticks, tick{decimalValue(1, k), decimalLabel(1, k)})
	}
	a.lo, a.hi = a.ticks[0].value, a.ticks[len(a.ticks)-1].value
	if stride == 1 {
		a.minor = minorLog(a)
	}
	return a
}

// minorLog is the values m × 10^k, m = 2..9, strictly inside a's range
// that are not ticks of a: the minor grid of a logarithmic axis.
func minorLog(a axis) []float64 {
	major := make(map[string]bool, len(a.ticks))
	for _, t := range a.ticks {
		major[t.label] = true
	}
	var minor []float64
	for k := math.Floor(math.Log10(a.lo)); k < math.Log10(a.hi); k++ {
		for m := 2; m <= 9; m++ {
			v := float64(m) * math.Pow(10, k)
			if v > a.lo && v < a.hi && !major[decimalLabel(int64(m), int(k))] {
				minor = append(minor, v)
			}
		}
	}
	return minor
}

func floorDivInt(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// decimalValue is the float64 nearest to n × 10^exp: the value its label
// reads as.
func decimalValue(n int64, exp int) float64 {
	v, err := strconv.ParseFloat(decimalLabel(n, exp), 64)
	if err != nil { // out of float64 range; axes never get there
		return float64(n) * math.Pow10(exp)
	}
	return v
}

// decimalLabel writes n × 10^exp exactly: plain digits from 0.00001 up to
// 9999999, otherwise in e-notation ("2.5e-7", "1e9").
func decimalLabel(n int64, exp int) string {
	if n == 0 {
		return "0"
	}
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	for n%10 == 0 {
		n /= 10
		exp++
	}
	digits := strconv.FormatInt(n, 10)
	intDigits := len(digits) + exp // digits before the decimal point
	switch {
	case exp >= 0 && intDigits <= 7:
		return sign + digits + strings.Repeat("0", exp)
	case exp < 0 && intDigits > -5:
		if intDigits > 0 {
			return sign + digits[:intDigits] + "." + digits[intDigits:]
		}
		return sign + "0." + strings.Repeat("0", -intDigits) + digits
	}
	mant := digits[:1]
	if len(digits) > 1 {
		mant += "." + digits[1:]
	}
	return sign + mant + "e" + strconv.Itoa(intDigits-1)
}
