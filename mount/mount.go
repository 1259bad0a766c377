package mount

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/sim"
)

// ErrMount is returned when a directory cannot be mounted: no /dev/fuse, no
// permission to mount and no fusermount3, or a kernel that refuses. Tests
// skip on it outside CI (Skip).
var ErrMount = errors.New("mount: cannot mount")

// ErrNoFusermount is returned, wrapping ErrMount, when a user who is not
// root would mount and finds no fusermount3 (nor the older
// fusermount) on PATH or in /bin, where go-fuse looks for it.
var ErrNoFusermount = fmt.Errorf("%w: no fusermount3 on PATH or in /bin (Debian's fuse3; make fuse3 installs it)", ErrMount)

// fusermountDir is where go-fuse looks for fusermount3 when PATH has
// none; a test changes it.
var fusermountDir = "/bin"

// fusermount returns the path of the program through which a user who is
// not root mounts and unmounts, found as go-fuse finds it.
func fusermount() (string, error) {
	for _, name := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		if p, err := exec.LookPath(filepath.Join(fusermountDir, name)); err == nil {
			return p, nil
		}
	}
	return "", ErrNoFusermount
}

// Options says where and how to mount.
type Options struct {
	// Dir is the real directory to mount on; "" makes a temporary one,
	// which Close removes.
	Dir string
	// Root is the directory of the simulated disk served at Dir; "" is
	// "/", the whole disk (with sim's /pmem and /dev/shm, which keep
	// their media's crash rules; a mapping through the mount is a page
	// cache mapping whatever the medium).
	Root string
	// Debug logs every FUSE request and reply (go-fuse's Debug).
	Debug bool
}

// Processes gives the file system of the process that made a request:
// pid is the operating system's process id (the thread group's, not the
// thread's), or 0 for a request the kernel makes on its own behalf.
type Processes func(pid int) engine.FS

// Mount is a simulated disk served at a real directory.
type Mount struct {
	dir    string
	root   string
	tmp    bool
	procs  Processes
	server *fuse.Server
	// fusermount is the program that mounted and unmounts for a user
	// who is not root; "" for root, which mounts with mount(2).
	fusermount string

	tgids sync.Map // thread id -> thread group id (int -> int)

	mu   sync.Mutex
	done []engine.File // files released by the kernel, closed by Close

	recMu sync.Mutex
	// records are the fcntl lock owners that set record locks on a file
	// (its name on the disk), each with its process (thread group): a
	// close of the file by that process releases them (handle.Flush).
	records map[string]map[uint64]int

	closeOnce sync.Once
	closeErr  error
}

// Env serves the disk of env's simulated machine at a real directory. A
// request from this process (Go code of the scenario calling os.*) is an
// operation of env's own process; a request from another process (a child
// started with exec.Command) is an operation of a simulated process
// started for it, named after its pid and command, on the same machine.
// Every simulated process carries its real pid (sim.Process.SetPID), so
// that the trace names it.
func Env(env *sim.Env, opts Options) (*Mount, error) {
	self := os.Getpid()
	env.Process().SetPID(self)
	own := env.Process().ID
	env.Machine().SetSourcer(func(op faultfs.Op) string {
		if op.Owner != own || op.Kind == faultfs.OpClose {
			// Another process's code has no stack here; a close is the
			// kernel's release, sent after close(2) returned.
			return ""
		}
		return callerSource()
	})
	var mu sync.Mutex
	procs := map[int]engine.FS{self: env.FS, 0: env.FS}
	return Serve(func(pid int) engine.FS {
		mu.Lock()
		defer mu.Unlock()
		if f, ok := procs[pid]; ok {
			return f
		}
		p := env.Machine().StartPID(programName(pid), pid)
		procs[pid] = p.FS()
		return p.FS()
	}, opts)
}

// programName is the name of the program the real process pid runs, as
// the kernel knows it ("sqlite3"), or "?" once it is gone. It leaves the
// pid out: the trace shows it beside (sim.Machine.StartPID).
func programName(pid int) string {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return trimNewline(string(comm))
}

func trimNewline(s string) string {
	if n := len(s); n > 0 && s[n-1] == '\n' {
		return s[:n-1]
	}
	return s
}

// Serve serves the file systems procs gives at a real directory. Each
// request that names a path goes to the file system of its caller's
// process; each request through an open file goes to the file opened, so
// to the process that opened it (a write the kernel makes from the page
// cache of a shared mapping has no caller).
func Serve(procs Processes, opts Options) (*Mount, error) {
	m := &Mount{procs: procs, root: path.Clean("/" + opts.Root), dir: opts.Dir, records: map[string]map[uint64]int{}}
	// As root the server mounts with mount(2) itself; otherwise go-fuse
	// runs fusermount3, which must be there (and setuid root, unless the
	// user may mount in its own user namespace).
	direct := os.Geteuid() == 0
	var bin string
	if !direct {
		var err error
		if bin, err = fusermount(); err != nil {
			return nil, err
		}
		m.fusermount = bin
	}
	if m.dir == "" {
		d, err := os.MkdirTemp("", "crashsim-mount-")
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMount, err)
		}
		m.dir, m.tmp = d, true
	}
	// Names and attributes are cached as long as the kernel likes: every
	// change to them comes through the kernel, which updates its caches
	// itself, and each crash image is a new mount. A short timeout would
	// make the kernel ask again or not depending on whether a clock tick
	// (a jiffy) passed, so that the same program traced differently from
	// run to run.
	forever := 24 * time.Hour
	fsOpts := &fs.Options{
		EntryTimeout:    &forever,
		AttrTimeout:     &forever,
		NegativeTimeout: &forever,
		MountOptions: fuse.MountOptions{
			FsName:      "crashsim",
			Name:        "crashsim",
			Debug:       opts.Debug,
			DirectMount: direct, // else fusermount3
			// flock(2) and fcntl(2)'s POSIX record locks reach faultfs
			// (FUSE_FLOCK_LOCKS and FUSE_POSIX_LOCKS).
			EnableLocks: true,
			// A file opened with FOPEN_DIRECT_IO can still be mapped shared
			// (kernel 6.6 and later), through the page cache.
			ExtraCapabilities: fuse.CAP_DIRECT_IO_ALLOW_MMAP,
			MaxWrite:          1 << 20,
		},
	}
	// The server's goroutines are no threads of a scheduled workload
	// even when a thread mounts: they answer its system calls, and those
	// of its child processes, while it holds the turn (sim.Unscheduled).
	var server *fuse.Server
	var err error
	sim.Unscheduled(func() { server, err = fs.Mount(m.dir, &node{m: m}, fsOpts) })
	if err != nil {
		if m.tmp {
			os.Remove(m.dir)
		}
		return nil, fmt.Errorf("%w at %s: %w%s", ErrMount, m.dir, err, fusermountHint(bin))
	}
	m.server = server
	return m, nil
}

// fusermountHint says why fusermount3 (bin; "" for root's own mount(2))
// would fail for this user, if it can tell: fusermount3 mounts as root
// only when setuid root, and opens /dev/fuse as the user, which Debian's
// udev rule allows everyone (mode 0666) but a bare /dev may not.
func fusermountHint(bin string) string {
	if bin == "" {
		return ""
	}
	if fi, err := os.Stat(bin); err == nil && fi.Mode()&os.ModeSetuid == 0 {
		return fmt.Sprintf(" (%s is not setuid root)", bin)
	}
	if err := unix.Access("/dev/fuse", unix.R_OK|unix.W_OK); err != nil {
		return fmt.Sprintf(" (uid %d cannot open /dev/fuse for reading and writing, as fusermount3 does: %v; make fuse3 makes it 0666)", os.Geteuid(), err)
	}
	return ""
}

// Dir returns the real directory the disk is mounted at.
func (m *Mount) Dir() string { return m.dir }

// Path returns the real path of name, a path relative to the mount.
func (m *Mount) Path(name string) string { return filepath.Join(m.dir, name) }

// DirectIOMmap reports whether the kernel lets a file opened with direct
// I/O be mapped shared (FUSE_DIRECT_IO_ALLOW_MMAP, Linux 6.6): without it,
// mmap(MAP_SHARED) of a file on the mount fails with ENODEV.
func (m *Mount) DirectIOMmap() bool {
	return m.server.KernelSettings().Flags64()&fuse.CAP_DIRECT_IO_ALLOW_MMAP != 0
}

// released keeps a file the kernel released, for Close.
func (m *Mount) released(f engine.File) {
	m.mu.Lock()
	m.done = append(m.done, f)
	m.mu.Unlock()
}

// Close unmounts the directory, closes the simulated files of the files
// closed on it, in the order they were released, and removes the
// directory if Serve made it. A file still open on the mount makes the
// unmount lazy: the directory is detached at once and the server stops
// when the last file closes.
func (m *Mount) Close() error {
	m.closeOnce.Do(func() {
		defer func() {
			m.mu.Lock()
			for _, f := range m.done {
				f.Close()
			}
			m.done = nil
			m.mu.Unlock()
		}()
		if err := m.unmount(false); err == nil {
			m.server.Wait()
		} else if err := m.unmount(true); err != nil {
			m.closeErr = fmt.Errorf("mount: unmount %s: %w", m.dir, err)
			return
		}
		if m.tmp {
			if err := os.Remove(m.dir); err != nil {
				m.closeErr = err
			}
		}
	})
	return m.closeErr
}

// unmount unmounts the directory, with umount2(2) as root and with
// fusermount3 -u otherwise; lazy detaches it even while a file is open on
// it (MNT_DETACH, fusermount3 -z). (go-fuse's Server.Unmount would retry a
// busy mount five times, sleeping, and then give up.)
func (m *Mount) unmount(lazy bool) error {
	if m.fusermount == "" {
		flags := 0
		if lazy {
			flags = syscall.MNT_DETACH
		}
		return syscall.Unmount(m.dir, flags)
	}
	args := []string{"-u", m.dir}
	if lazy {
		args = []string{"-u", "-z", m.dir}
	}
	var stderr bytes.Buffer
	cmd := exec.Command(m.fusermount, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", m.fusermount, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// Require stops a test that could not mount (err wraps ErrMount): in CI
// (CI=true), where /dev/fuse exists, it fails the test; elsewhere it skips
// it, saying why. Any other error fails the test.
func Require(tb testing.TB, err error) {
	tb.Helper()
	switch {
	case err == nil:
	case errors.Is(err, ErrMount) && os.Getenv("CI") != "true":
		tb.Skipf("no FUSE mount on this machine (CI=true would fail): %v", err)
	default:
		tb.Fatal(err)
	}
}

// heldRecord notes that owner, of process pid, set a record lock on name.
func (m *Mount) heldRecord(name string, owner uint64, pid int) {
	m.recMu.Lock()
	defer m.recMu.Unlock()
	if m.records[name] == nil {
		m.records[name] = map[uint64]int{}
	}
	m.records[name][owner] = pid
}

// releaseRecords forgets, and returns in order, the lock owners of process
// pid that set record locks on name.
func (m *Mount) releaseRecords(name string, pid int) []uint64 {
	m.recMu.Lock()
	defer m.recMu.Unlock()
	var owners []uint64
	for o, p := range m.records[name] {
		if p == pid {
			owners = append(owners, o)
			delete(m.records[name], o)
		}
	}
	slices.Sort(owners)
	return owners
}
