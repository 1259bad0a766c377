// Package testproc runs the other process of a cross-process test: the
// test binary itself, re-executed to run one helper test.
//
// # Usage
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
package testproc

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"testing"
)

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
