package vec_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/vec"
	"github.com/crashsim/crashsim/internal/testproc"
)

// vecProcessEnv tells the helper process what to do: "write:path:count"
// (count 0: until killed) or "read:path".
const vecProcessEnv = "CRASHSIM_VEC_PROCESS"

// TestVecProcess is not a test: it is the other process of
// TestAcrossProcesses, run by re-executing the test binary. As a writer
// it opens the vector, says "locked", appends element i = mkrec(i) ten at
// a time with a Sync after each ten, saying "synced N" after each Sync,
// says "done" after count elements and waits for its stdin to close (or
// to be killed), then closes. As a reader it opens the vector read-only,
// says "locked" and its length, and waits for its stdin to close.
func TestVecProcess(t *testing.T) {
	arg := os.Getenv(vecProcessEnv)
	if arg == "" {
		t.Skip("the helper process of TestAcrossProcesses")
	}
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	parts := strings.Split(arg, ":")
	if parts[0] == "read" {
		v, err := vec.Open[rec](engine.OSFS{}, parts[1], &vec.Options{ReadOnly: true})
		if err != nil {
			fail(err)
		}
		fmt.Printf("locked\n%d\n", v.Len())
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	count, _ := strconv.Atoi(parts[2])
	v, err := vec.Open[rec](engine.OSFS{}, parts[1], nil)
	if err != nil {
		fail(err)
	}
	fmt.Println("locked")
	for count == 0 || v.Len() < count {
		for range 10 {
			if err := v.Push(mkrec(v.Len())); err != nil {
				fail(err)
			}
		}
		if err := v.Sync(); err != nil {
			fail(err)
		}
		fmt.Println("synced", v.Len())
	}
	fmt.Println("done")
	io.Copy(io.Discard, os.Stdin)
	if err := v.Close(); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// TestAcrossProcesses: a writer in another process excludes a second
// writer (ErrLocked) and readers (ErrLocked, or OpenWait until it
// closes); readers in two processes share the vector and exclude a
// writer; a writer killed while it appends leaves a vector whose length is
// at least its last Sync's, a multiple of its batches, over elements that
// are all whole.
func TestAcrossProcesses(t *testing.T) {
	name := backends[0].path(t, "v.vec")
	v, err := vec.Create[rec](engine.OSFS{}, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	ro := &vec.Options{ReadOnly: true}
	line := func(out *bufio.Reader) string {
		s, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("helper process: %q, %v", s, err)
		}
		return strings.TrimSuffix(s, "\n")
	}
	check := func(what string, v *vec.Vec[rec], atLeast int) {
		t.Helper()
		if v.Len() < atLeast || v.Len()%10 != 0 {
			t.Errorf("%s: length %d, want a multiple of 10 from %d", what, v.Len(), atLeast)
		}
		for i, x := range v.All() {
			if x != mkrec(i) {
				t.Fatalf("%s: element %d is %v", what, i, x)
			}
		}
	}

	const count = 500
	cmd, stdin, out := testproc.Start(t, "TestVecProcess", fmt.Sprintf("%s=write:%s:%d", vecProcessEnv, name, count))
	if _, err := vec.Open[rec](engine.OSFS{}, name, nil); !errors.Is(err, vec.ErrLocked) {
		t.Errorf("a second writer while another process writes: %v, want ErrLocked", err)
	}
	if _, err := vec.Open[rec](engine.OSFS{}, name, ro); !errors.Is(err, vec.ErrLocked) {
		t.Errorf("a reader while another process writes: %v, want ErrLocked", err)
	}
	for line(out) != "done" {
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := vec.OpenWait[rec](ctx, engine.OSFS{}, name, ro); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenWait with a cancelled context while another process writes: %v", err)
	}
	// The reader waits for the writer to close, which it does once its
	// stdin closes.
	stdin.Close()
	r, err := vec.OpenWait[rec](context.Background(), engine.OSFS{}, name, ro)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	check("a reader after the writer closed", r, count)
	if r.Len() != count {
		t.Errorf("a reader after the writer closed: length %d, want %d", r.Len(), count)
	}

	// A reader in another process beside this one; no writer beside both.
	cmd, stdin, out = testproc.Start(t, "TestVecProcess", fmt.Sprintf("%s=read:%s", vecProcessEnv, name))
	if n := line(out); n != strconv.Itoa(count) {
		t.Errorf("the other process's reader sees length %s, want %d", n, count)
	}
	if _, err := vec.Open[rec](engine.OSFS{}, name, nil); !errors.Is(err, vec.ErrLocked) {
		t.Errorf("a writer beside readers in two processes: %v, want ErrLocked", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	r.Close()

	// A writer killed while it appends.
	cmd, stdin, out = testproc.Start(t, "TestVecProcess", fmt.Sprintf("%s=write:%s:0", vecProcessEnv, name))
	defer stdin.Close()
	synced := 0
	for synced < count+300 {
		s := line(out)
		if _, err := fmt.Sscanf(s, "synced %d", &synced); err != nil {
			t.Fatalf("helper process: %q", s)
		}
	}
	// Let it run on, not blocked on its output, and kill it wherever it is.
	go io.Copy(io.Discard, out)
	cmd.Process.Kill()
	cmd.Wait()
	r, err = vec.Open[rec](engine.OSFS{}, name, ro)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	check("a reader after the writer was killed", r, synced)
}
