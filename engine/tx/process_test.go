package tx_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/internal/testproc"
)

// writerProcessEnv names the pool the helper process writes, and how
// many transactions it commits: "path:count".
const writerProcessEnv = "CRASHSIM_TX_WRITER_PROCESS"

// TestWriterProcess is not a test: it is the other process of
// TestWriterAndReadersAcrossProcesses, run by re-executing the test
// binary. It opens the pool as its writer, says "locked", commits count
// transactions that keep Pair's two words equal, says "done", and waits
// for its stdin to close (or to be killed).
func TestWriterProcess(t *testing.T) {
	arg := os.Getenv(writerProcessEnv)
	if arg == "" {
		t.Skip("the helper process of TestWriterAndReadersAcrossProcesses")
	}
	name, count, _ := strings.Cut(arg, ":")
	n, _ := strconv.Atoi(count)
	p, err := tx.Open[P, Root](engine.OSFS{}, name, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	pair := tx.Field(p.Root(), func(r *Root) *[2]int64 { return &r.Pair })
	for i := range int64(n) {
		if err := p.Update(func(t *tx.Tx[P]) error { return pair.Set(t, [2]int64{i + 1, i + 1}) }); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	fmt.Println("done")
	io.Copy(io.Discard, os.Stdin)
	if err := p.Close(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestWriterAndReadersAcrossProcesses: one writer per pool across
// processes (flock), readers in another process beside it see every
// commit whole, and a writer killed mid-work leaves a pool that the next
// writer opens and recovers.
func TestWriterAndReadersAcrossProcesses(t *testing.T) {
	name := osPoolName(t)
	p, err := tx.Create[P, Root](engine.OSFS{}, name, &tx.Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	start := func(count int) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
		return testproc.Start(t, "TestWriterProcess", fmt.Sprintf("%s=%s:%d", writerProcessEnv, name, count))
	}

	const commits = 2000
	cmd, stdin, out := start(commits)
	if _, err := tx.Open[P, Root](engine.OSFS{}, name, nil); !errors.Is(err, tx.ErrLocked) {
		t.Errorf("a second writer while another process writes: %v", err)
	}
	r, err := tx.Open[P, Root](engine.OSFS{}, name, &tx.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	pair := tx.Field(r.Root(), func(r *Root) *[2]int64 { return &r.Pair })
	read := func() [2]int64 {
		var v [2]int64
		err := r.View(func(t *tx.Tx[P]) (err error) {
			v, err = pair.Get(t)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Read while the other process commits: never torn, never backwards.
	done := make(chan string, 1)
	go func() {
		line, _ := out.ReadString('\n')
		done <- line
	}()
	last, reads := int64(0), 0
	for finished := false; !finished; {
		select {
		case line := <-done:
			if line != "done\n" {
				t.Fatalf("helper process: %q", line)
			}
			finished = true
		default:
		}
		v := read()
		reads++
		if v[0] != v[1] || v[0] < last {
			t.Fatalf("read %v after %d", v, last)
		}
		last = v[0]
	}
	if last != commits {
		t.Errorf("the reader's last read %d after the writer's %d commits", last, commits)
	}
	if err := r.Check(); err != nil {
		t.Errorf("Check by the reader process: %v", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	w, err := tx.Open[P, Root](engine.OSFS{}, name, &tx.Options{Strict: true})
	if err != nil {
		t.Fatalf("Open after the other writer closed: %v", err)
	}
	if w.Info().Unclean {
		t.Error("a pool closed by its writer opens unclean")
	}
	w.Close()

	// A writer killed while it commits: its lock goes with it, the next
	// writer recovers the pool, and the reader, still open, reads on.
	cmd, stdin, _ = start(1 << 30)
	defer stdin.Close()
	for read()[0] < 100 {
	}
	cmd.Process.Kill()
	cmd.Wait()
	w, err = tx.Open[P, Root](engine.OSFS{}, name, &tx.Options{Strict: true})
	if err != nil {
		t.Fatalf("Open after the writer was killed: %v", err)
	}
	defer w.Close()
	if !w.Info().Unclean {
		t.Error("a pool whose writer was killed opens clean")
	}
	if err := w.Check(); err != nil {
		t.Error(err)
	}
	if v := read(); v[0] != v[1] || v[0] < 100 {
		t.Errorf("after the kill the reader reads %v", v)
	}
	r.Close()
}
