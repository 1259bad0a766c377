package mount_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

// serve mounts a fresh machine's disk for the calling test, every caller
// in one simulated process.
func serve(t *testing.T) (*sim.Machine, *mount.Mount) {
	t.Helper()
	m := sim.NewMachine()
	p := m.Start("test")
	mnt, err := mount.Serve(func(int) engine.FS { return p.FS() }, mount.Options{})
	mount.Require(t, err)
	t.Cleanup(func() {
		if err := mnt.Close(); err != nil {
			t.Error(err)
		}
	})
	return m, mnt
}

// lost is the crash image of a power failure that loses everything not
// durable.
func lost(m *sim.Machine) *faultfs.FS {
	return m.Disk().CrashClone(faultfs.CrashOptions{Mode: faultfs.LoseAll})
}

func readImage(t *testing.T, img *faultfs.FS, name string) ([]byte, error) {
	t.Helper()
	f, err := img.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && len(b) > 0 {
		t.Fatal(err)
	}
	return b, nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantImage(t *testing.T, img *faultfs.FS, name, want string) {
	t.Helper()
	b, err := readImage(t, img, name)
	if err != nil {
		t.Fatalf("%s after a power failure: %v, want %q", name, err, want)
	}
	if string(b) != want {
		t.Fatalf("%s after a power failure = %q, want %q", name, b, want)
	}
}

func wantNoImage(t *testing.T, img *faultfs.FS, name string) {
	t.Helper()
	if _, err := img.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s after a power failure: %v, want it gone", name, err)
	}
}

// TestDurabilityThroughTheMount checks that each call made with package os
// on the mount is the simulated disk's, with its crash rules: what a power
// failure that loses everything pending leaves after each step.
func TestDurabilityThroughTheMount(t *testing.T) {
	m, mnt := serve(t)

	f, err := os.Create(mnt.Path("a"))
	must(t, err)
	_, err = f.Write([]byte("hello"))
	must(t, err)
	// Direct I/O: the write is in the simulated page cache, none of it in
	// the kernel's.
	wantImage(t, m.Disk().CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll}), "/a", "hello")
	wantNoImage(t, lost(m), "/a") // neither the data nor the name
	must(t, f.Sync())
	wantNoImage(t, lost(m), "/a") // the data, not the name (rule 10)
	d, err := os.Open(mnt.Dir())
	must(t, err)
	must(t, d.Sync()) // fsync of the directory: FUSE's FSYNCDIR
	wantImage(t, lost(m), "/a", "hello")

	// rename: the old name until the directory is synced (rule 8).
	must(t, os.Rename(mnt.Path("a"), mnt.Path("b")))
	wantImage(t, lost(m), "/a", "hello")
	must(t, d.Sync())
	wantNoImage(t, lost(m), "/a")
	wantImage(t, lost(m), "/b", "hello")

	// fdatasync makes the data durable (rule 19).
	_, err = f.WriteAt([]byte("HE"), 0)
	must(t, err)
	wantImage(t, lost(m), "/b", "hello")
	must(t, unix.Fdatasync(int(f.Fd())))
	wantImage(t, lost(m), "/b", "HEllo")

	// ftruncate, durable with fsync (rule 4).
	must(t, f.Truncate(2))
	wantImage(t, lost(m), "/b", "HEllo")
	must(t, f.Sync())
	wantImage(t, lost(m), "/b", "HE")
	must(t, f.Close())

	// O_APPEND writes at the end; O_DSYNC writes are durable when they
	// return (rules 20, 21).
	w, err := os.OpenFile(mnt.Path("b"), os.O_WRONLY|os.O_APPEND|unix.O_DSYNC, 0)
	must(t, err)
	_, err = w.Write([]byte("+1"))
	must(t, err)
	_, err = w.Write([]byte("+2"))
	must(t, err)
	wantImage(t, lost(m), "/b", "HE+1+2")
	must(t, w.Close())

	// posix_fallocate grows the file with zeros, durable with fsync
	// (rule 16); a mode it does not model is refused.
	g, err := os.OpenFile(mnt.Path("b"), os.O_RDWR, 0)
	must(t, err)
	must(t, unix.Fallocate(int(g.Fd()), 0, 0, 4096))
	fi, err := g.Stat()
	must(t, err)
	if fi.Size() != 4096 {
		t.Fatalf("size after fallocate = %d, want 4096", fi.Size())
	}
	if err := unix.Fallocate(int(g.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, 8192); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("fallocate KEEP_SIZE = %v, want EOPNOTSUPP", err)
	}
	must(t, g.Sync())
	b, err := readImage(t, lost(m), "/b")
	must(t, err)
	if len(b) != 4096 || !bytes.HasPrefix(b, []byte("HE+1+2")) {
		t.Fatalf("after fallocate and fsync: %d bytes %q…", len(b), b[:8])
	}
	must(t, g.Close())

	// truncate(2) by name.
	must(t, os.Truncate(mnt.Path("b"), 4))
	got, err := os.ReadFile(mnt.Path("b"))
	must(t, err)
	if string(got) != "HE+1" {
		t.Fatalf("after truncate: %q", got)
	}

	// link, mkdir, unlink, rmdir: namespace changes, durable with the
	// directory (rules 8, 22).
	must(t, os.Link(mnt.Path("b"), mnt.Path("c")))
	must(t, os.Mkdir(mnt.Path("dir"), 0o755))
	if err := os.Mkdir(mnt.Path("dir"), 0o755); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second mkdir: %v, want EEXIST", err)
	}
	wantNoImage(t, lost(m), "/c")
	wantNoImage(t, lost(m), "/dir")
	must(t, d.Sync())
	if _, err := lost(m).Stat("/c"); err != nil {
		t.Fatalf("link after fsync of its directory: %v", err)
	}
	if err := syscall.Unlink(mnt.Path("dir")); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("unlink of a directory: %v, want EISDIR", err)
	}
	if err := syscall.Rmdir(mnt.Path("c")); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("rmdir of a file: %v, want ENOTDIR", err)
	}
	must(t, os.Remove(mnt.Path("c")))
	must(t, os.Remove(mnt.Path("dir")))
	if _, err := lost(m).Stat("/dir"); err != nil {
		t.Fatalf("rmdir before fsync of its directory: %v", err)
	}
	must(t, d.Sync())
	wantNoImage(t, lost(m), "/dir")
	wantNoImage(t, lost(m), "/c")
	ents, err := os.ReadDir(mnt.Dir())
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"b", "dev", "pmem"}; !equal(names, want) {
		t.Fatalf("readdir = %v, want %v", names, want)
	}
	must(t, d.Close())
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFlock checks that flock(2) takes the simulated disk's lock: a second
// open file description cannot take it while the first holds it.
func TestFlock(t *testing.T) {
	m, mnt := serve(t)
	a, err := os.Create(mnt.Path("LOCK"))
	must(t, err)
	defer a.Close()
	b, err := os.Open(mnt.Path("LOCK"))
	must(t, err)
	defer b.Close()
	must(t, unix.Flock(int(a.Fd()), unix.LOCK_EX|unix.LOCK_NB))
	if _, err := m.Disk().Lock("/LOCK", engine.Shared); !errors.Is(err, engine.ErrLocked) {
		t.Fatalf("the disk's lock while flock holds it: %v, want ErrLocked (the kernel kept the lock itself?)", err)
	}
	if err := unix.Flock(int(b.Fd()), unix.LOCK_SH|unix.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("second flock: %v, want EWOULDBLOCK", err)
	}
	must(t, unix.Flock(int(a.Fd()), unix.LOCK_UN))
	must(t, unix.Flock(int(b.Fd()), unix.LOCK_SH|unix.LOCK_NB))
}

// TestFcntlLocks checks that fcntl(2)'s record locks reach the simulated
// disk: a child holds a write lock on bytes [0,99]; this process's
// F_SETLK over them fails with EAGAIN and F_GETLK names the child, a
// range beside them is free; the child's exit releases its lock, which
// F_SETLKW was waiting for, as does
// this process's close of any descriptor of the file; the trace has each
// lock call with its process.
func TestFcntlLocks(t *testing.T) {
	requireMountable(t)
	ops := new(faultfs.Log)
	fsys := faultfs.New(faultfs.Options{Observe: ops.Observe})
	mnt, err := mount.Serve(fsys.View, mount.Options{})
	mount.Require(t, err)
	defer mnt.Close()
	a, err := os.Create(mnt.Path("LOCKS"))
	must(t, err)
	defer a.Close()

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=fcntl "+mnt.Path("LOCKS"), "GORACE=atexit_sleep_ms=0")
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("child said %q, %v; want \"locked\"", line, err)
	}
	child := cmd.Process.Pid

	setlk := func(start, n int64) error {
		return unix.FcntlFlock(a.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_WRLCK, Start: start, Len: n})
	}
	if err := setlk(50, 10); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("F_SETLK over the child's lock: %v, want EAGAIN", err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Start: 50, Len: 10}
	must(t, unix.FcntlFlock(a.Fd(), unix.F_GETLK, &lk))
	if lk.Type != unix.F_WRLCK || int(lk.Pid) != child || lk.Start != 0 || lk.Len != 100 {
		t.Errorf("F_GETLK = type %d pid %d [%d,+%d), want the child's write lock: type %d pid %d [0,+100)", lk.Type, lk.Pid, lk.Start, lk.Len, unix.F_WRLCK, child)
	}
	must(t, setlk(200, 10))

	// F_SETLKW over the child's lock returns once its exit released it
	// (whether or not it had to wait: the trace is the same).
	waited := make(chan error, 1)
	go func() {
		waited <- unix.FcntlFlock(a.Fd(), unix.F_SETLKW, &unix.Flock_t{Type: unix.F_WRLCK, Start: 50, Len: 10})
	}()
	stdin.Close()
	must(t, cmd.Wait())
	if err := <-waited; err != nil {
		t.Errorf("F_SETLKW over the child's lock: %v, want the lock once its exit released it", err)
	}
	// A close of another descriptor of the file releases this process's
	// locks, whichever descriptor took them (POSIX).
	b, err := os.Open(mnt.Path("LOCKS"))
	must(t, err)
	must(t, b.Close())
	if c, busy, err := fsys.TestRecordLock("/LOCKS", faultfs.RecordLock{Owner: 1, Start: 0, End: faultfs.RecordEOF, Exclusive: true}); err != nil || busy {
		t.Errorf("after a close: lock %v held (%v, %v), want none", c, busy, err)
	}

	var got []string
	for _, op := range ops.Ops() {
		if op.Kind == faultfs.OpRecordLock || op.Kind == faultfs.OpRecordUnlock {
			op.Index = 0
			got = append(got, op.String())
		}
	}
	self := os.Getpid()
	want := []string{
		fmt.Sprintf("#0 p%d setlk /LOCKS [0,99] wr", child),
		fmt.Sprintf("#0 p%d setlk /LOCKS [50,59] wr", self), // refused
		fmt.Sprintf("#0 p%d setlk /LOCKS [200,209] wr", self),
		fmt.Sprintf("#0 p%d unlk /LOCKS [0,EOF]", child),    // its exit
		fmt.Sprintf("#0 p%d setlk /LOCKS [50,59] wr", self), // F_SETLKW
		fmt.Sprintf("#0 p%d unlk /LOCKS [0,EOF]", self),     // the close of b
	}
	if !slices.Equal(got, want) {
		t.Errorf("lock calls traced:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
