// Package progress reports the progress of a long loop — training steps, an
// evaluation pass, tokenizing a data set — to a terminal or to a log.
//
// On a terminal a Bar redraws one line in place, at most ten times a second,
// fitted to the terminal's width:
//
//	train  37% [███████▍            ] step 74/200 · loss 2.4312 · 1,843 tok/s · 0:41 < 1:10
//
// Anywhere else (a pipe, a file, a bytes.Buffer) it writes plain log lines,
// at most every Options.EverySteps steps or Options.Interval of time:
//
//	step 74/200 loss=2.4312 lr=1.2e-04 tok/s=1843 elapsed=41s eta=1m10s
//
// Throughput (tokens counted with AddTokens) and the step rate behind the
// ETA are measured over a sliding window (Options.Window), so they follow the
// recent speed rather than the average since the start. A Total of zero or
// less means the number of steps is not known: no percentage, bar or ETA.
// Log prints a full line (an evaluation result, a warning) above the bar
// without garbling it. The clock can be injected (Options.Now) and the
// terminal mode forced (Options.ForceTTY), which is how the tests run.
//
// A Bar is safe for concurrent use; the methods of a nil *Bar do nothing, so
// a caller can pass nil for "no progress output". Write errors are ignored:
// progress output never stops the work it reports on.
package progress
