package progress

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// clock is an injectable time source that moves only when told.
type fakeClock struct{ t time.Time }

func newClock() *fakeClock                   { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func ptr[T any](v T) *T { return &v }

// screen plays terminal output onto a screen: \r returns to column 0,
// ESC[K clears to the end of the line, \n starts a new line. It returns
// the lines as a terminal would show them.
func screen(t *testing.T, out string) []string {
	t.Helper()
	var lines []string
	var cur []rune
	col := 0
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\r':
			col = 0
		case '\n':
			lines = append(lines, string(cur))
			cur, col = nil, 0
		case '\x1b':
			if i+2 >= len(rs) || rs[i+1] != '[' || rs[i+2] != 'K' {
				t.Fatalf("unexpected escape sequence at %d in %q", i, out)
			}
			cur = cur[:col]
			i += 2
		default:
			if col < len(cur) {
				cur[col] = r
			} else {
				cur = append(cur, r)
			}
			col++
		}
	}
	return append(lines, string(cur))
}

// The line from the package documentation: 74 of 200 steps in 41 s with
// 1843 tokens a second, so 126 steps at 74/41 steps/s, 69.8 s, are left.
func TestTTYLineMatchesDocumentedExample(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Label: "train", Total: 200, Window: time.Minute, Now: clk.Now, ForceTTY: ptr(true), Width: 88})
	clk.Advance(41 * time.Second)
	b.AddTokens(1843 * 41)
	b.Update(74, Field{Name: "loss", Value: 2.43123})
	want := "\r\x1b[Ktrain  37% [███████▍            ] step 74/200 · loss 2.4312 · 1,843 tok/s · 0:41 < 1:10"
	if got := buf.String(); got != want {
		t.Fatalf("terminal output\n got %q\nwant %q", got, want)
	}
}

func TestTTYWidthFitting(t *testing.T) {
	clk := newClock()
	line := func(width int) string {
		var buf bytes.Buffer
		b := New(&buf, Options{Label: "train", Total: 200, Window: time.Minute, Now: clk.Now, ForceTTY: ptr(true), Width: width})
		clk.Advance(41 * time.Second)
		b.AddTokens(1843 * 41)
		b.Update(74, Field{Name: "loss", Value: 2.43123}, Field{Name: "lr", Value: 1.2e-4, Format: "%.1e"})
		lines := screen(t, buf.String())
		if len(lines) != 1 {
			t.Fatalf("width %d: %d lines, want 1: %q", width, len(lines), lines)
		}
		return lines[0]
	}
	const rest = "step 74/200 · loss 2.4312 · lr 1.2e-04 · 1,843 tok/s · 0:41 < 1:10"
	tests := []struct {
		width int
		want  string
	}{
		{200, "train  37% [" + strings.Repeat("█", 14) + "▊" + strings.Repeat(" ", 25) + "] " + rest}, // bar capped at 40 cells
		{97, "train  37% [" + strings.Repeat("█", 5) + "▉" + strings.Repeat(" ", 10) + "] " + rest},   // 16 cells
		{91, "train  37% [" + strings.Repeat("█", 3) + "▋" + strings.Repeat(" ", 6) + "] " + rest},    // the narrowest bar, 10 cells
		{90, "train  37% " + rest}, // no room for 10 cells
		{70, "train  37% step 74/200 · loss 2.4312 · 1,843 tok/s · 0:41 < 1:10"}, // lr dropped
		{60, "train  37% step 74/200 · loss 2.4312 · 0:41 < 1:10"},
		{40, "train  37% step 74/200 · 0:41 < 1:10"},
		{30, "train  37% step 74/200"},
		{13, "train  37% s"}, // cut
		{1, "t"},             // the budget never drops below one column
	}
	for _, tt := range tests {
		got := line(tt.width)
		if got != tt.want {
			t.Errorf("width %d:\n got %q\nwant %q", tt.width, got, tt.want)
		}
		if n := utf8.RuneCountInString(got); tt.width > 1 && n > tt.width-1 {
			t.Errorf("width %d: line is %d columns, more than width-1", tt.width, n)
		}
	}
}

func TestTTYThrottle(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Total: 1000, Now: clk.Now, ForceTTY: ptr(true), Width: 80})
	for step := 1; step <= 1000; step++ {
		clk.Advance(3 * time.Millisecond) // 333 updates a second
		b.Update(step)
	}
	draws := strings.Count(buf.String(), "\r\x1b[K")
	// 3 s of updates at most 10 redraws a second, plus the first and the last.
	if draws < 30 || draws > 32 {
		t.Errorf("%d redraws for 3 s of updates, want about 30 (at most 10/s)", draws)
	}
	if got := screen(t, buf.String()); !strings.HasPrefix(got[0], "100% [") || !strings.Contains(got[0], "step 1000/1000") {
		t.Errorf("last step not drawn: %q", got)
	}
	// The redraws are at least 100 ms apart: each drawn step is >= 34 after the previous one.
	var prev int
	for i, part := range strings.Split(buf.String(), "\r\x1b[K")[1:] {
		step, ok := stepOf(part)
		if !ok {
			t.Fatalf("redraw %d has no step: %q", i, part)
		}
		if i > 0 && step != 1000 && step-prev < 34 {
			t.Errorf("redraw of step %d only %d steps (%d ms) after step %d", step, step-prev, 3*(step-prev), prev)
		}
		prev = step
	}
}

// stepOf reads the N of "step N" in a line.
func stepOf(line string) (int, bool) {
	i := strings.Index(line, "step ")
	if i < 0 {
		return 0, false
	}
	digits := line[i+len("step "):]
	if j := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
		digits = digits[:j]
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}

func TestETAFollowsRecentSpeed(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Total: 1000, Window: 10 * time.Second, EverySteps: 100, Now: clk.Now})
	// 100 slow steps at 1 s each, then fast ones at 100 ms each.
	step := 0
	for ; step < 100; step++ {
		clk.Advance(time.Second)
		b.Update(step + 1)
	}
	for ; step < 300; step++ {
		clk.Advance(100 * time.Millisecond)
		b.Update(step + 1)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		// steps 1 and 100 at 1 step/s (the average since the start until the window fills)
		"step 1/1000 elapsed=1s eta=16m39s",
		"step 100/1000 elapsed=1m40s eta=15m0s",
		// 10 s after the change the window holds only fast steps: 800, then 700 left at 10 steps/s
		"step 200/1000 elapsed=1m50s eta=1m20s",
		"step 300/1000 elapsed=2m0s eta=1m10s",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("plain lines\n got %q\nwant %q", lines, want)
	}
}

func TestETAInWindowTransition(t *testing.T) {
	// Half-way through the window the rate mixes both speeds: base is the
	// sample 10 s before, at step 95 (5 slow steps + 50 fast ones in 10 s).
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Total: 1000, Window: 10 * time.Second, EverySteps: 1000, Now: clk.Now, ForceTTY: ptr(true), Width: 80})
	for i := 0; i < 100; i++ {
		clk.Advance(time.Second)
		b.Update(i + 1)
	}
	for i := 0; i < 50; i++ {
		clk.Advance(100 * time.Millisecond)
		b.Update(101 + i)
	}
	// 150 done; window base = step 95 at t=95 s, now t=105 s: 55 steps in 10 s.
	// 850 left at 5.5 steps/s = 154.5 s = 2:35 (rounded).
	got := screen(t, buf.String())[0]
	if !strings.HasSuffix(got, "1:45 < 2:35") {
		t.Errorf("line %q, want it to end in elapsed 1:45 < eta 2:35", got)
	}
}

func TestPlainEveryStepsAndFinish(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Label: "train", Total: 25, EverySteps: 10, Window: time.Hour, Now: clk.Now})
	for step := 1; step <= 23; step++ {
		clk.Advance(2 * time.Second)
		b.AddTokens(500)
		b.Update(step, Field{Name: "loss", Value: 3 - float64(step)/10, Format: "%.4f"}, Field{Name: "lr", Value: 1.2e-4, Format: "%.1e"})
	}
	b.Log("eval loss=%.3f", 0.5)
	b.Finish()
	b.Finish()
	b.Update(25)
	want := strings.Join([]string{
		"train step 1/25 loss=2.9000 lr=1.2e-04 tok/s=250 elapsed=2s eta=48s",
		"train step 10/25 loss=2.0000 lr=1.2e-04 tok/s=250 elapsed=20s eta=30s",
		"train step 20/25 loss=1.0000 lr=1.2e-04 tok/s=250 elapsed=40s eta=10s",
		"eval loss=0.500",
		"train step 23/25 loss=0.7000 lr=1.2e-04 tok/s=250 elapsed=46s",
	}, "\n") + "\n"
	if got := buf.String(); got != want {
		t.Errorf("plain output\n got %q\nwant %q", got, want)
	}
}

func TestPlainInterval(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Total: 100, Interval: 5 * time.Second, Now: clk.Now})
	var printed []int
	for step := 1; step <= 100; step++ {
		clk.Advance(700 * time.Millisecond)
		before := buf.Len()
		b.Update(step)
		if buf.Len() != before {
			printed = append(printed, step)
		}
	}
	b.Finish() // the last step was printed already: nothing more
	// The first step, then each step at least 5 s (>= 8 steps of 0.7 s) after the
	// last printed one, and the final step.
	want := []int{1, 9, 17, 25, 33, 41, 49, 57, 65, 73, 81, 89, 97, 100}
	if len(printed) != len(want) {
		t.Fatalf("printed steps %v, want %v", printed, want)
	}
	for i := range want {
		if printed[i] != want[i] {
			t.Fatalf("printed steps %v, want %v", printed, want)
		}
	}
	if n := strings.Count(buf.String(), "\n"); n != len(want) {
		t.Errorf("%d lines, want %d", n, len(want))
	}
}

func TestPlainDefaultInterval(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Now: clk.Now}) // unknown total, default 10 s interval
	for step := 1; step <= 60; step++ {
		clk.Advance(time.Second)
		b.Update(step)
	}
	want := "step 1 elapsed=1s\nstep 11 elapsed=11s\nstep 21 elapsed=21s\nstep 31 elapsed=31s\nstep 41 elapsed=41s\nstep 51 elapsed=51s\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestLogAboveBar(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Label: "train", Total: 10, Now: clk.Now, ForceTTY: ptr(true), Width: 60})
	b.Log("loading model") // nothing drawn yet: a plain line
	clk.Advance(time.Second)
	b.Update(1, Field{Name: "loss", Value: 2.5})
	clk.Advance(time.Second)
	b.Update(2, Field{Name: "loss", Value: 2.25})
	b.Log("eval loss %.2f\n", 2.1) // a trailing newline is not doubled
	clk.Advance(time.Second)
	b.Update(3)
	b.Log("saved checkpoint\nat step 3")
	b.Finish()
	b.Log("done")
	got := screen(t, buf.String())
	// 28 columns of "step 3/10 · loss 2.25 · 0:03" leave 59-10-4-28 = 17 bar cells;
	// 3/10 of 17 is 5.1 cells, 40 eighths.
	final := "train  30% [" + strings.Repeat("█", 5) + strings.Repeat(" ", 12) + "] step 3/10 · loss 2.25 · 0:03"
	want := []string{
		"loading model",
		"eval loss 2.10",
		"saved checkpoint",
		"at step 3",
		final, // Finish: no ETA
		"done",
		"",
	}
	if len(got) != len(want) {
		t.Fatalf("screen\n got %q\nwant %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("screen line %d\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}

func TestIndeterminateTotal(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Label: "pretrain", Now: clk.Now, ForceTTY: ptr(true), Width: 80})
	clk.Advance(90 * time.Second)
	b.AddTokens(4500)
	b.Update(12)
	if got, want := screen(t, buf.String())[0], "pretrain step 12 · 50.0 tok/s · 1:30"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestUnknownETA(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Total: 10, Now: clk.Now, ForceTTY: ptr(true), Width: 70})
	b.Update(0) // no time has passed: no rate at all
	clk.Advance(5 * time.Second)
	b.Update(0) // time has passed but no step is done
	want := "\r\x1b[K  0% [" + strings.Repeat(" ", 40) + "] step 0/10 · 0:00 < ?" +
		"\r\x1b[K  0% [" + strings.Repeat(" ", 40) + "] step 0/10 · 0:05 < ?"
	if got := buf.String(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestFinishAverageRate(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Label: "eval", Total: 4, Window: 2 * time.Second, Now: clk.Now, ForceTTY: ptr(true), Width: 120})
	// 3 s at 1000 tok/s, then 1 s at 5000 tok/s: the window sees 3000 tok/s
	// at the end, the whole run averages 2000.
	for i, tok := range []int{1000, 1000, 1000, 5000} {
		clk.Advance(time.Second)
		b.AddTokens(tok)
		b.Update(i + 1)
	}
	lines := screen(t, buf.String())
	if !strings.Contains(lines[0], "· 3,000 tok/s · 0:04 < 0:00") {
		t.Errorf("before Finish: %q, want the window rate 3,000 tok/s and ETA 0:00", lines[0])
	}
	b.Finish()
	lines = screen(t, buf.String())
	if len(lines) != 2 || lines[1] != "" {
		t.Fatalf("Finish did not end the line: %q", lines)
	}
	if want := "eval 100% [" + strings.Repeat("█", 40) + "] step 4/4 · 2,000 tok/s · 0:04"; lines[0] != want {
		t.Errorf("after Finish\n got %q\nwant %q", lines[0], want)
	}
}

func TestInitialStepForResume(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{Total: 1000, Initial: 500, Now: clk.Now})
	clk.Advance(10 * time.Second)
	b.Update(510) // 10 steps in 10 s, not 510
	if got, want := buf.String(), "step 510/1000 elapsed=10s eta=8m10s\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFieldsMerge(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, Options{EverySteps: 1, Now: clk.Now})
	b.Update(1, Field{Name: "loss", Value: 2})
	b.Update(2, Field{Name: "lr", Value: 0.5})
	b.Update(3, Field{Name: "loss", Value: 1.5}, Field{Name: "gnorm", Value: 0.25})
	want := "step 1 loss=2 elapsed=0s\nstep 2 loss=2 lr=0.5 elapsed=0s\nstep 3 loss=1.5 lr=0.5 gnorm=0.25 elapsed=0s\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestNoUpdatesFinishWritesNothing(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var buf bytes.Buffer
		b := New(&buf, Options{Total: 5, ForceTTY: ptr(tty)})
		b.Finish()
		if buf.Len() != 0 {
			t.Errorf("tty=%v: Finish without updates wrote %q", tty, buf.String())
		}
	}
}

func TestNilBar(t *testing.T) {
	var b *Bar
	b.Update(1, Field{Name: "loss", Value: 1})
	b.AddTokens(3)
	b.Log("x")
	b.Finish()
}

func TestFileIsNotATerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := New(f, Options{Total: 2, Width: 0})
	b.Update(1)
	b.Finish()
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "step 1/2 elapsed=") || strings.Contains(string(data), "\r") {
		t.Errorf("a regular file got %q, want plain lines", data)
	}
	if w := b.width(); w != defaultWidth {
		t.Errorf("width of a non-terminal %d, want the fallback %d", w, defaultWidth)
	}
}

func TestConcurrentUse(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, Options{Total: 400, ForceTTY: ptr(true), Width: 80})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				b.AddTokens(2)
				b.Update(i)
			}
		}()
	}
	wg.Wait()
	b.Finish()
	if b.tokens != 800 {
		t.Errorf("tokens %d, want 800", b.tokens)
	}
}

func TestClock(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0:00"},
		{-time.Second, "0:00"},
		{499 * time.Millisecond, "0:00"},
		{500 * time.Millisecond, "0:01"},
		{41 * time.Second, "0:41"},
		{70 * time.Second, "1:10"},
		{59*time.Minute + 59*time.Second, "59:59"},
		{time.Hour, "1:00:00"},
		{3723 * time.Second, "1:02:03"},
		{100 * time.Hour, "100:00:00"},
	}
	for _, tt := range tests {
		if got := clock(tt.d); got != tt.want {
			t.Errorf("clock(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestRateText(t *testing.T) {
	tests := []struct {
		r       float64
		grouped bool
		want    string
	}{
		{0, true, "0.00"},
		{3.14159, true, "3.14"},
		{42.25, true, "42.2"},
		{999.4, true, "999"},
		{1843.2, true, "1,843"},
		{1843.2, false, "1843"},
		{1234567, true, "1,234,567"},
		{123456, true, "123,456"},
	}
	for _, tt := range tests {
		if got := rateText(tt.r, tt.grouped); got != tt.want {
			t.Errorf("rateText(%v, %v) = %q, want %q", tt.r, tt.grouped, got, tt.want)
		}
	}
}

func TestBarCells(t *testing.T) {
	tests := []struct {
		step, total, width int
		want               string
	}{
		{0, 10, 4, "    "},
		{-3, 10, 4, "    "},
		{1, 8, 1, "▏"},
		{7, 8, 1, "▉"},
		{1, 2, 3, "█▌ "},
		{10, 10, 4, "████"},
		{15, 10, 4, "████"},
	}
	for _, tt := range tests {
		if got := bar(tt.step, tt.total, tt.width); got != tt.want {
			t.Errorf("bar(%d, %d, %d) = %q, want %q", tt.step, tt.total, tt.width, got, tt.want)
		}
	}
}

func TestFloorDiv(t *testing.T) {
	tests := []struct{ a, b, want int }{{7, 3, 2}, {6, 3, 2}, {-1, 3, -1}, {-3, 3, -1}, {-4, 3, -2}, {0, 5, 0}}
	for _, tt := range tests {
		if got := floorDiv(tt.a, tt.b); got != tt.want {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
