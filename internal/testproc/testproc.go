// Package testproc runs the other process of a cross-process test: the
// test binary itself, re-executed to run one helper test.
//
// # Usage
//
// A helper that does something that may kill its process (a store that
// faults, say) runs to its end with Run, so that the test reports how it
// died instead of dying with it:
//
//	out, err := testproc.Run(t, "TestFullDiskProcess", fullDiskEnv+"="+dir)
//	if sig := testproc.Fault(out, err); sig != "" {
//		t.Errorf("the helper was killed by %s:\n%s", sig, out)
//	}
//
// The helper is a test that skips unless its environment variable is set,
// does its part (takes a lock, say), prints "locked" and then works or
// waits for its stdin to close:
//
//	cmd, stdin, out := testproc.Start(t, "TestLockHolderProcess", holdEnv+"="+dir)
//	... the lock is held by another process now ...
//	stdin.Close() // the helper finishes
//	err := cmd.Wait()
//
// # Implementation notes
//
// Start returns only once the helper said "locked", so the caller never
// races the helper's set-up; any other first line fails the test, after
// the helper is killed and reaped.
//
// A synchronous signal raised in Go code — SIGBUS or SIGSEGV from a load
// or store through a mapping — does not kill the process by that signal:
// the Go runtime catches it, prints "[signal SIGBUS: bus error …]" with the
// goroutines' stacks and exits with status 2. Fault reads both forms.
package testproc

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Run runs test alone in a new process of the test binary, with env added
// to this process's environment, until it exits. It returns what the
// process printed, stdout and stderr interleaved, and how it ended: nil, or
// an *exec.ExitError for a non-zero exit status or a death by signal.
func Run(t testing.TB, test string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("helper process %s: %v", test, err)
	}
	return string(out), err
}

// goFault is how the Go runtime reports a signal it caught in Go code
// before it exits.
var goFault = regexp.MustCompile(`\[signal (SIG[A-Z]+)`)

// Fault returns the signal that killed a process Run ran, given its output
// and error — the signal it died of, or the one the Go runtime reported
// catching — or "" if it ended by itself.
func Fault(out string, err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return unix.SignalName(ws.Signal())
		}
	}
	if m := goFault.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// Start runs test alone in a new process of the test binary, with env
// added to this process's environment, and waits for its first line,
// "locked". It returns the process, its stdin, and its stdout for the
// lines after that one.
func Start(t testing.TB, test string, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper process: %q, %v", line, err)
	}
	return cmd, stdin, out
}
