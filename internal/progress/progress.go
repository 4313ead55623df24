package progress

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// Field is one named value shown after the step count, such as the loss or
// the learning rate.
type Field struct {
	Name  string
	Value float64
	// Format is the fmt verb for Value, e.g. "%.4f" or "%.1e"; empty means "%.5g".
	Format string
}

func (f Field) text() string {
	format := f.Format
	if format == "" {
		format = "%.5g"
	}
	return fmt.Sprintf(format, f.Value)
}

// Options configures a Bar. The zero value is usable: no label, an unknown
// total, a plain line every 10 s, a 30 s rate window, the real clock, and
// terminal detection on the writer.
type Options struct {
	// Label names the phase ("train", "eval", "pretrain"); it starts each line.
	Label string
	// Total is the number of steps; zero or less means unknown.
	Total int
	// Initial is the step the work starts from, e.g. when resuming a run at
	// step 500: rates count only steps done after it.
	Initial int
	// Interval is the least time between two plain log lines. EverySteps
	// prints a plain line whenever the step crosses a multiple of it. When
	// both are zero or less, Interval is 10 s. Neither affects a terminal,
	// which is redrawn at most every 100 ms.
	Interval   time.Duration
	EverySteps int
	// Window is the span over which tokens/s and the step rate behind the
	// ETA are measured; zero or less means 30 s.
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ForceTTY, when not nil, chooses the terminal (true) or plain (false)
	// output instead of asking the writer's file descriptor.
	ForceTTY *bool
	// Width is the terminal width in columns; zero or less means the
	// width of the writer's terminal, or 80 when it cannot be read.
	Width int
}

const (
	redrawInterval  = 100 * time.Millisecond
	defaultInterval = 10 * time.Second
	defaultWindow   = 30 * time.Second
	defaultWidth    = 80
	minBarWidth     = 10
	maxBarWidth     = 40
	// samplesPerWindow bounds the rate history: one sample per
	// Window/samplesPerWindow at most, however often Update is called.
	samplesPerWindow = 32
)

// sample is the progress at one moment, for the sliding-window rates.
type sample struct {
	t      time.Time
	step   int
	tokens int64
}

// Bar reports progress; create one with New and end it with Finish.
type Bar struct {
	mu   sync.Mutex
	w    io.Writer
	opts Options
	tty  bool
	fd   int // the writer's file descriptor, or -1
	now  func() time.Time

	start   time.Time
	step    int
	tokens  int64
	fields  []Field
	samples []sample // samples[0] is the base of the rate window

	updated     bool      // Update was called at least once
	dirty       bool      // an Update since the last line written
	shown       bool      // a terminal line is on screen
	lastOut     time.Time // when the last line was written
	lastOutStep int
	finished    bool
}

// New returns a Bar writing to w. The clock starts now.
func New(w io.Writer, opts Options) *Bar {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Window <= 0 {
		opts.Window = defaultWindow
	}
	if opts.Interval <= 0 && opts.EverySteps <= 0 {
		opts.Interval = defaultInterval
	}
	b := &Bar{w: w, opts: opts, fd: -1, now: opts.Now, step: opts.Initial}
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		b.fd = int(f.Fd())
		b.tty = term.IsTerminal(b.fd)
	}
	if opts.ForceTTY != nil {
		b.tty = *opts.ForceTTY
	}
	b.start = b.now()
	b.samples = []sample{{t: b.start, step: opts.Initial}}
	return b
}

// Update records that step steps are done (of Options.Total) and sets the
// given fields; fields not named keep their last value, new names are
// appended in order. It redraws or prints a line when one is due.
func (b *Bar) Update(step int, fields ...Field) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	now := b.now()
	b.step = step
	b.setFields(fields)
	b.record(now)
	first := !b.updated
	b.updated, b.dirty = true, true
	completed := b.opts.Total > 0 && step >= b.opts.Total && b.lastOutStep != step
	if b.tty {
		if first || completed || now.Sub(b.lastOut) >= redrawInterval {
			b.draw(now)
		}
		return
	}
	every := b.opts.EverySteps
	if first || completed ||
		(every > 0 && floorDiv(step, every) != floorDiv(b.lastOutStep, every)) ||
		(b.opts.Interval > 0 && now.Sub(b.lastOut) >= b.opts.Interval) {
		b.print(now)
	}
}

// AddTokens counts n more tokens processed, for the tokens/s figure.
func (b *Bar) AddTokens(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.tokens += int64(n)
	b.mu.Unlock()
}

// Log writes one line (format and args as in fmt.Printf, a trailing newline
// optional) above the bar, which is then redrawn below it.
func (b *Bar) Log(format string, args ...any) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n") + "\n"
	if !b.tty || !b.shown {
		io.WriteString(b.w, msg)
		return
	}
	io.WriteString(b.w, "\r\x1b[K"+msg)
	b.shown = false
	if !b.finished {
		b.draw(b.now())
	}
}

// Finish shows the final state — elapsed time and the average throughput
// over the whole run, no ETA — and ends the terminal line with a newline.
// Later calls to Update and Finish do nothing; Log still prints.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	if !b.updated {
		return
	}
	now := b.now()
	if b.tty {
		b.draw(now)
		io.WriteString(b.w, "\n")
		b.shown = false
	} else if b.dirty {
		b.print(now)
	}
}

func (b *Bar) setFields(fields []Field) {
next:
	for _, f := range fields {
		for i := range b.fields {
			if b.fields[i].Name == f.Name {
				b.fields[i] = f
				continue next
			}
		}
		b.fields = append(b.fields, f)
	}
}

// record adds a rate sample, at most samplesPerWindow per window, and drops
// the samples that are no longer needed as the window's base.
func (b *Bar) record(now time.Time) {
	if now.Sub(b.samples[len(b.samples)-1].t) >= b.opts.Window/samplesPerWindow {
		b.samples = append(b.samples, sample{t: now, step: b.step, tokens: b.tokens})
	}
	b.trim(now)
}

// trim keeps one sample at or before now-Window (the base) and those after.
func (b *Bar) trim(now time.Time) {
	cut := now.Add(-b.opts.Window)
	for len(b.samples) > 1 && !b.samples[1].t.After(cut) {
		b.samples = b.samples[1:]
	}
}

// status is what one line shows.
type status struct {
	elapsed  time.Duration
	tokRate  float64 // tokens per second; valid if showTok
	showTok  bool
	eta      time.Duration // valid if etaKnown
	etaKnown bool
}

func (b *Bar) status(now time.Time) status {
	s := status{elapsed: now.Sub(b.start)}
	base := sample{t: b.start, step: b.opts.Initial}
	if !b.finished {
		b.trim(now)
		base = b.samples[0]
	}
	dt := now.Sub(base.t).Seconds()
	if dt <= 0 {
		return s
	}
	if b.tokens > 0 {
		s.tokRate, s.showTok = float64(b.tokens-base.tokens)/dt, true
	}
	if total := b.opts.Total; total > 0 {
		if b.step >= total {
			s.etaKnown = true
		} else if rate := float64(b.step-base.step) / dt; rate > 0 {
			secs := float64(total-b.step) / rate
			if secs < 1e8 { // about three years; beyond that it is no estimate
				s.eta, s.etaKnown = time.Duration(secs*float64(time.Second)), true
			}
		}
	}
	return s
}

func (b *Bar) draw(now time.Time) {
	io.WriteString(b.w, "\r\x1b[K"+b.ttyLine(now, b.width()))
	b.shown, b.dirty = true, false
	b.lastOut, b.lastOutStep = now, b.step
}

func (b *Bar) print(now time.Time) {
	io.WriteString(b.w, b.plainLine(now)+"\n")
	b.dirty = false
	b.lastOut, b.lastOutStep = now, b.step
}

func (b *Bar) width() int {
	if b.opts.Width > 0 {
		return b.opts.Width
	}
	if b.fd >= 0 {
		if w, _, err := term.GetSize(b.fd); err == nil && w > 0 {
			return w
		}
	}
	return defaultWidth
}

// plainLine is one log line: "step 74/200 loss=2.4312 tok/s=1843 elapsed=41s eta=1m10s".
func (b *Bar) plainLine(now time.Time) string {
	s := b.status(now)
	var sb strings.Builder
	if b.opts.Label != "" {
		sb.WriteString(b.opts.Label + " ")
	}
	sb.WriteString("step " + b.stepText())
	for _, f := range b.fields {
		sb.WriteString(" " + f.Name + "=" + f.text())
	}
	if s.showTok {
		sb.WriteString(" tok/s=" + rateText(s.tokRate, false))
	}
	sb.WriteString(" elapsed=" + s.elapsed.Round(time.Second).String())
	if b.opts.Total > 0 && !b.finished {
		eta := "?"
		if s.etaKnown {
			eta = s.eta.Round(time.Second).String()
		}
		sb.WriteString(" eta=" + eta)
	}
	return sb.String()
}

func (b *Bar) stepText() string {
	if b.opts.Total > 0 {
		return strconv.Itoa(b.step) + "/" + strconv.Itoa(b.opts.Total)
	}
	return strconv.Itoa(b.step)
}

// ttyLine is the terminal line, at most width-1 columns (the last column
// would make some terminals wrap). When it does not fit, the bar goes
// first, then the fields after the first (the last one first), then
// tokens/s, then the first field — the caller's most important one — and
// then the times; a line still too long is cut.
func (b *Bar) ttyLine(now time.Time, width int) string {
	s := b.status(now)
	total := b.opts.Total
	// The percentage keeps its width so that the bar does not move.
	head := b.opts.Label
	if total > 0 {
		head = joinNonEmpty(head, fmt.Sprintf("%3d%%", percent(b.step, total)))
	}
	items := []string{"step " + b.stepText()}
	for _, f := range b.fields {
		items = append(items, f.Name+" "+f.text())
	}
	if s.showTok {
		items = append(items, rateText(s.tokRate, true)+" tok/s")
	}
	times := clock(s.elapsed)
	if total > 0 && !b.finished {
		if s.etaKnown {
			times += " < " + clock(s.eta)
		} else {
			times += " < ?"
		}
	}
	items = append(items, times)

	budget := max(width-1, 1)
	rest := strings.Join(items, " · ")
	if total > 0 {
		barWidth := min(maxBarWidth, budget-runeLen(head)-len(" [] ")-runeLen(rest))
		if barWidth >= minBarWidth {
			return head + " [" + bar(b.step, total, barWidth) + "] " + rest
		}
	}
	// Drop order: the fields after the first (the last one first), then
	// tokens/s, then the first field, then the times; the step count stays.
	nf := len(b.fields)
	drop := make([]int, 0, len(items)-1)
	for i := nf; i >= 2; i-- {
		drop = append(drop, i)
	}
	if s.showTok {
		drop = append(drop, nf+1)
	}
	if nf > 0 {
		drop = append(drop, 1)
	}
	drop = append(drop, len(items)-1)
	kept := make([]bool, len(items))
	for i := range kept {
		kept[i] = true
	}
	for {
		var parts []string
		for i, item := range items {
			if kept[i] {
				parts = append(parts, item)
			}
		}
		line := joinNonEmpty(head, strings.Join(parts, " · "))
		if runeLen(line) <= budget || len(drop) == 0 {
			return truncate(line, budget)
		}
		kept[drop[0]] = false
		drop = drop[1:]
	}
}

func percent(step, total int) int {
	switch {
	case step >= total:
		return 100
	case step <= 0:
		return 0
	}
	return int(int64(step) * 100 / int64(total))
}

// eighths are the partial block characters, 0/8 to 7/8 of a cell.
var eighths = []rune(" ▏▎▍▌▋▊▉")

// bar draws step/total over width cells with eighth-cell resolution.
func bar(step, total, width int) string {
	filled := int64(width) * 8
	if step < total {
		filled = max(int64(step), 0) * int64(width) * 8 / int64(total)
	}
	full, part := int(filled/8), int(filled%8)
	var sb strings.Builder
	sb.WriteString(strings.Repeat("█", full))
	if part > 0 {
		sb.WriteRune(eighths[part])
		full++
	}
	sb.WriteString(strings.Repeat(" ", width-full))
	return sb.String()
}

// clock formats d as m:ss, or h:mm:ss from an hour, rounded to the second.
func clock(d time.Duration) string {
	secs := int64(d.Round(time.Second) / time.Second)
	if secs < 0 {
		secs = 0
	}
	h, m, s := secs/3600, secs/60%60, secs%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// rateText formats a rate: two decimals below 10, one below 100, then a
// whole number, with thousands separators when grouped.
func rateText(r float64, grouped bool) string {
	switch {
	case r < 10:
		return strconv.FormatFloat(r, 'f', 2, 64)
	case r < 100:
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	digits := strconv.FormatFloat(r, 'f', 0, 64)
	if !grouped || len(digits) <= 3 {
		return digits
	}
	var sb strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			sb.WriteByte(',')
		}
		sb.WriteRune(c)
	}
	return sb.String()
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// joinNonEmpty joins a and b with a space, or returns b when a is empty.
func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

func truncate(s string, n int) string {
	if runeLen(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
