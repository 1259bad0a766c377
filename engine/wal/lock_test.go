package wal_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/internal/testproc"
)

func TestSecondWriterInThisProcessIsLocked(t *testing.T) {
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := backend()
			w, err := wal.New(fsys, dir, wal.Bytes, wal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, open := range []func(engine.FS, string, wal.Codec[[]byte], wal.Options) (*wal.WAL[[]byte], error){wal.New[[]byte], wal.Resume[[]byte]} {
				if _, err := open(fsys, dir, wal.Bytes, wal.Options{}); !errors.Is(err, wal.ErrLocked) || !errors.Is(err, engine.ErrLocked) {
					t.Errorf("second writer: %v, want ErrLocked", err)
				}
			}
			w.Close()
			w, err = wal.Resume(fsys, dir, wal.Bytes, wal.Options{})
			if err != nil {
				t.Fatalf("Resume after Close: %v", err)
			}
			w.Close()
			l, err := wal.CreateRecordLog(fsys, dir+"/records", wal.RecordLogOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wal.OpenRecordLog(fsys, dir+"/records", wal.RecordLogOptions{}); !errors.Is(err, wal.ErrLocked) {
				t.Errorf("second record log writer: %v, want ErrLocked", err)
			}
			l.Close()
		})
	}
}

// lockHolderEnv names the directory the helper process holds.
const lockHolderEnv = "CRASHSIM_WAL_HOLD_LOCK"

// TestLockHolderProcess is not a test: it is the other process of
// TestSecondWriterInAnotherProcessIsLocked, run by re-executing the test
// binary. It resumes the log, says so, and waits for its stdin to close.
func TestLockHolderProcess(t *testing.T) {
	dir := os.Getenv(lockHolderEnv)
	if dir == "" {
		t.Skip("the helper process of TestSecondWriterInAnotherProcessIsLocked")
	}
	w, err := wal.Resume(engine.OSFS{}, dir, wal.Bytes, wal.Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	w.Close()
	os.Exit(0)
}

func TestSecondWriterInAnotherProcessIsLocked(t *testing.T) {
	dir := t.TempDir() + "/wal"
	start := func() (*exec.Cmd, io.WriteCloser) {
		cmd, stdin, _ := testproc.Start(t, "TestLockHolderProcess", lockHolderEnv+"="+dir)
		return cmd, stdin
	}

	// The other process holds the log, then exits cleanly.
	cmd, stdin := start()
	if _, err := wal.Resume(engine.OSFS{}, dir, wal.Bytes, wal.Options{}); !errors.Is(err, wal.ErrLocked) {
		t.Errorf("Resume while another process writes: %v, want ErrLocked", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	w, err := wal.Resume(engine.OSFS{}, dir, wal.Bytes, wal.Options{})
	if err != nil {
		t.Fatalf("Resume after the other process closed: %v", err)
	}
	w.Close()

	// The other process holds the log and is killed: the kernel releases
	// its lock.
	cmd, stdin = start()
	defer stdin.Close()
	if _, err := wal.New(engine.OSFS{}, dir, wal.Bytes, wal.Options{}); !errors.Is(err, wal.ErrLocked) {
		t.Errorf("New while another process writes: %v, want ErrLocked", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	w, err = wal.Resume(engine.OSFS{}, dir, wal.Bytes, wal.Options{})
	if err != nil {
		t.Fatalf("Resume after the other process was killed: %v", err)
	}
	w.Close()
}
