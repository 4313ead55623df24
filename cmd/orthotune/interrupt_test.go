//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runMainEnv, set to 1, makes the test binary run the orthotune command
// line in its arguments (main, exit status and all) instead of the tests:
// the way a test runs orthotune as a process of its own.
const runMainEnv = "ORTHOTUNE_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main() // exits with the command's status
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// orthotuneProcess starts the orthotune command line args as a separate
// process (this test binary, re-executed) and returns it with a pipe of
// its standard error; its standard output goes to stdout. The process is
// killed if the test ends first.
func orthotuneProcess(t *testing.T, stdout *bytes.Buffer, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stdout = stdout
	cmd.WaitDelay = 10 * time.Second
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(pipe)
}

// lastStep is the highest step in a training run's metrics.jsonl so far
// (0 if none); a line still being written is ignored.
func lastStep(dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	step := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		var r struct{ Step int }
		if json.Unmarshal([]byte(line), &r) == nil && r.Step > step {
			step = r.Step
		}
	}
	return step
}

var interruptedRe = regexp.MustCompile(`interrupted after step (\d+) .*checkpoint written to (\S+); resume to continue exactly`)

// TestTrainInterruptedResumesBitIdentical: Ctrl-C (a real SIGINT, from
// the OS, to a separate orthotune process) in the middle of a run, past
// its last periodic checkpoint, stops it with a non-zero status and a
// checkpoint at the step it reached; --resume from there writes the
// adapter an uninterrupted run writes, byte for byte, adapter dropout and
// two replicas' random streams included.
func TestTrainInterruptedResumesBitIdentical(t *testing.T) {
	steps, save := 600, 200
	if raceBuild {
		steps, save = 60, 20
	}
	f := newPipelineFixture(t)
	flags := []string{"--max-steps", strconv.Itoa(steps), "--save-steps", strconv.Itoa(save), "--eval-steps", strconv.Itoa(save),
		"--module-dropout", "0.1", "--replicas", "2"}

	whole := filepath.Join(t.TempDir(), "whole")
	start := time.Now()
	if code, _, stderr := orthotune(f.trainArgs(whole, flags...)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, stderr)
	}
	t.Logf("uninterrupted run of %d steps: %v", steps, time.Since(start).Round(time.Millisecond))

	// The same run as a process of its own, interrupted after its first
	// periodic checkpoint: once its stderr reports the checkpoint and its
	// metrics show a step past it.
	cut := filepath.Join(t.TempDir(), "cut")
	start = time.Now()
	var stdout bytes.Buffer
	cmd, lines := orthotuneProcess(t, &stdout, f.trainArgs(cut, flags...)...)
	var (
		mu     sync.Mutex
		stderr strings.Builder
	)
	checkpointed, eof := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(eof)
		seen := false
		for lines.Scan() {
			mu.Lock()
			stderr.WriteString(lines.Text() + "\n")
			mu.Unlock()
			if !seen && strings.Contains(lines.Text(), fmt.Sprintf("step %d: checkpoint ", save)) {
				seen = true
				close(checkpointed)
			}
		}
	}()
	stderrText := func() string {
		mu.Lock()
		defer mu.Unlock()
		return stderr.String()
	}
	select {
	case <-checkpointed:
	case <-eof:
		cmd.Wait()
		t.Fatalf("the run ended (%v) without reporting checkpoint-%d:\n%s", cmd.ProcessState, save, stderrText())
	}
	for lastStep(cut) <= save {
		select {
		case <-eof:
			cmd.Wait()
			t.Fatalf("the run ended (%v) before step %d:\n%s", cmd.ProcessState, save+1, stderrText())
		case <-time.After(2 * time.Millisecond):
		}
	}
	signalled := lastStep(cut)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-eof
	err := cmd.Wait()
	t.Logf("interrupted run: SIGINT after step %d, %v after the start", signalled, time.Since(start).Round(time.Millisecond))
	msg := stderrText()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("interrupted run: %v (stdout %q); want exit status 130, as for a process ended by SIGINT\n%s", err, stdout.String(), msg)
	}
	m := interruptedRe.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("exit %d, stderr does not say where the run was interrupted and its checkpoint:\n%s", exit.ExitCode(), msg)
	}
	n, _ := strconv.Atoi(m[1])
	ckpt := filepath.Join(cut, "checkpoint-"+m[1])
	if n < signalled || n >= steps || m[2] != ckpt {
		t.Errorf("interrupted after step %d with checkpoint %s; want a step in [%d, %d) and %s", n, m[2], signalled, steps, ckpt)
	}
	if n%save == 0 {
		// Signal delivery lagged a whole save interval: the checkpoint is
		// a periodic one, and the interruption wrote none of its own.
		t.Logf("interrupted at step %d, a periodic checkpoint", n)
	}
	if _, err := os.Stat(filepath.Join(ckpt, "trainer_state.json")); err != nil {
		t.Errorf("no checkpoint at the interrupted step: %v", err)
	}
	for _, name := range []string{"adapter_model.safetensors", "adapter_config.json", "trainer_state.json"} {
		if _, err := os.Stat(filepath.Join(cut, name)); !os.IsNotExist(err) {
			t.Errorf("the interrupted run wrote the finished run's %s (stat: %v)", name, err)
		}
	}

	start = time.Now()
	code, _, resumeErr := orthotune(f.trainArgs(cut, append(flags, "--resume")...)...)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, resumeErr)
	}
	t.Logf("resumed run from step %d: %v", n, time.Since(start).Round(time.Millisecond))
	a, _ := os.ReadFile(filepath.Join(whole, "adapter_model.safetensors"))
	b, err := os.ReadFile(filepath.Join(cut, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("the adapter resumed from step %d differs from the uninterrupted run's", n)
	}
}
