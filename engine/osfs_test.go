package engine_test

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
)

// lockHelperEnv names the file a re-executed test binary locks (see
// TestMain and TestLockOtherProcess).
const lockHelperEnv = "CRASHSIM_LOCK_HELPER"

func TestMain(m *testing.M) {
	if name := os.Getenv(lockHelperEnv); name != "" {
		os.Exit(lockHelper(name))
	}
	os.Exit(m.Run())
}

// lockHelper is the child of TestLockOtherProcess: it takes an exclusive
// lock on name, says so, and waits to be killed.
func lockHelper(name string) int {
	l, err := engine.OSFS{}.Lock(name, engine.Exclusive)
	if err != nil {
		fmt.Println("error:", err)
		return 2
	}
	fmt.Println("locked")
	time.Sleep(time.Minute) // in case the parent dies without killing us
	l.Close()
	return 1
}

func TestLockOtherProcess(t *testing.T) {
	fsys := engine.OSFS{}
	name := filepath.Join(t.TempDir(), "lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+name)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("helper process said %q, %v; want \"locked\"", line, err)
	}

	for _, mode := range []engine.LockMode{engine.Exclusive, engine.Shared} {
		l, err := fsys.Lock(name, mode)
		if !errors.Is(err, engine.ErrLocked) {
			t.Errorf("%v lock while another process holds an exclusive one: %v, want ErrLocked", mode, err)
		}
		if err == nil {
			l.Close()
		}
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	waited = true
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper process ended with %v, want killed by SIGKILL", err)
	}
	// The kernel released the lock when the process died.
	l, err := fsys.Lock(name, engine.Exclusive)
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	l.Close()
}

// mapIn creates name with fsys and maps size bytes of it.
func mapIn(t *testing.T, fsys engine.FS, name string, size int64) (engine.Region, error) {
	t.Helper()
	f, err := engine.Create(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := fsys.Map(f, size)
	if err == nil {
		t.Cleanup(func() { r.Close() })
	}
	return r, err
}

func TestMedium(t *testing.T) {
	disk, shm := t.TempDir(), shmDir(t)
	cases := []struct {
		name string
		fsys engine.OSFS
		dir  string
		want engine.Medium
	}{
		// Assumes TMPDIR is on a disk file system without DAX.
		{"disk", engine.OSFS{}, disk, engine.MappedFile},
		{"shm", engine.OSFS{}, shm, engine.SharedMemory},
		{"disk-forced", engine.OSFS{Medium: engine.PMem}, disk, engine.PMem},
		{"shm-forced", engine.OSFS{Medium: engine.PMem}, shm, engine.PMem},
		{"disk-forced-require-dax", engine.OSFS{Medium: engine.PMem, RequireDAX: true}, disk, engine.PMem},
		{"shm-forced-msync", engine.OSFS{Medium: engine.MappedFile}, shm, engine.MappedFile},
	}
	for _, c := range cases {
		r, err := mapIn(t, c.fsys, filepath.Join(c.dir, c.name), 2*engine.PageSize)
		if err != nil {
			t.Errorf("%s: Map: %v", c.name, err)
			continue
		}
		if r.Medium() != c.want {
			t.Errorf("%s: Medium = %v, want %v", c.name, r.Medium(), c.want)
		}
		if err := r.Grow(4 * engine.PageSize); err != nil || r.Medium() != c.want {
			t.Errorf("%s: after Grow: Medium = %v, %v; want %v", c.name, r.Medium(), err, c.want)
		}
	}
}

func TestMediumForcedByEnvironment(t *testing.T) {
	t.Setenv("PMEM_IS_PMEM_FORCE", "1")
	for _, dir := range []string{t.TempDir(), shmDir(t)} {
		r, err := mapIn(t, engine.OSFS{}, filepath.Join(dir, "pool"), engine.PageSize)
		if err != nil || r.Medium() != engine.PMem {
			t.Errorf("Map in %s with PMEM_IS_PMEM_FORCE=1: %v, %v; want PMem", dir, r, err)
		}
	}
}

func TestRequireDAX(t *testing.T) {
	for _, dir := range []string{t.TempDir(), shmDir(t)} {
		r, err := mapIn(t, engine.OSFS{RequireDAX: true}, filepath.Join(dir, "pool"), engine.PageSize)
		if !errors.Is(err, engine.ErrNotSupported) {
			t.Errorf("Map in %s (no DAX) with RequireDAX: %v, %v; want ErrNotSupported", dir, r, err)
		}
	}
	r, err := mapIn(t, engine.OSFS{RequireDAX: true, Medium: engine.MappedFile}, filepath.Join(t.TempDir(), "pool"), engine.PageSize)
	if !errors.Is(err, engine.ErrNotSupported) {
		t.Errorf("Map with RequireDAX and Medium MappedFile: %v, %v; want ErrNotSupported", r, err)
	}
}

func TestViewIsZeroCopy(t *testing.T) {
	for _, fsys := range []engine.OSFS{{}, {Medium: engine.PMem}} {
		r, err := mapIn(t, fsys, filepath.Join(t.TempDir(), "pool"), engine.PageSize)
		if err != nil {
			t.Fatal(err)
		}
		v, err := r.View(10, 5)
		if err != nil {
			t.Fatal(err)
		}
		r.WriteAt([]byte("later"), 10)
		if string(v) != "later" {
			t.Errorf("%+v: View taken before a store = %q, want the stored \"later\"", fsys, v)
		}
		if cap(v) != 5 {
			t.Errorf("%+v: View has cap %d, want 5: append would write into the mapping", fsys, cap(v))
		}
	}
}

// The Region has a descriptor of its own: closing the File after Map does
// not stop it growing.
func TestRegionOutlivesFile(t *testing.T) {
	fsys := engine.OSFS{}
	name := filepath.Join(t.TempDir(), "pool")
	f, err := engine.Create(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := fsys.Map(f, engine.PageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Grow(2 * engine.PageSize); err != nil {
		t.Fatalf("Grow after the File is closed: %v", err)
	}
	r.WriteAt([]byte("end"), 2*engine.PageSize-3)
	if err := engine.Persist(r, 0, r.Len()); err != nil {
		t.Errorf("Persist: %v", err)
	}
	b, err := engine.ReadFile(fsys, name)
	if err != nil || len(b) != 2*engine.PageSize || string(b[len(b)-3:]) != "end" {
		t.Errorf("file after Grow: %d bytes, %v; want %d ending in \"end\"", len(b), err, 2*engine.PageSize)
	}
}

// The OS backend's errors are package os's own, down to the errno.
func TestErrorsAreOS(t *testing.T) {
	fsys := engine.OSFS{}
	_, err := fsys.OpenFile(filepath.Join(t.TempDir(), "missing"), os.O_RDONLY, 0)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Err != syscall.ENOENT {
		t.Errorf("open of a missing file: %#v, want *fs.PathError wrapping ENOENT", err)
	}
	if _, err := fsys.Lock(filepath.Join(t.TempDir(), "lock"), engine.LockMode(0)); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Lock with an invalid mode: %v, want fs.ErrInvalid", err)
	}
}

// Close racing with use is a caller's bug, but it must end in ErrClosed,
// never in a fault or a store into memory that is no longer the mapping.
func TestCloseRacingWithUse(t *testing.T) {
	for _, fsys := range []engine.OSFS{{}, {Medium: engine.PMem}} {
		r, err := mapIn(t, fsys, filepath.Join(t.TempDir(), "pool"), engine.PageSize)
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				<-start
				for {
					_, err1 := r.WriteAt([]byte("x"), 100)
					_, err2 := r.Add64(8, 1)
					err3 := engine.Persist(r, 0, 128)
					for _, err := range []error{err1, err2, err3} {
						if err != nil && !errors.Is(err, engine.ErrClosed) {
							t.Errorf("%+v: error racing with Close: %v, want ErrClosed", fsys, err)
						}
					}
					if err1 != nil && err2 != nil && err3 != nil {
						return
					}
				}
			})
		}
		close(start)
		time.Sleep(5 * time.Millisecond)
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
	}
}
