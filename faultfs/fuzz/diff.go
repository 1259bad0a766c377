// Package fuzz runs one sequence of file-system operations on a faultfs.FS
// and on engine.OSFS, side by side, and reports the first result that
// differs: a returned count, the data read, a size, a listing, or an error
// (its nil-ness, its errno or sentinel, its *fs.PathError Op and Path). A
// difference is a bug in the simulator (docs/DESIGN.md section 3).
//
// The same code serves the rapid differential test and the native fuzz
// target of package faultfs (which build Steps, or Decode them from bytes)
// and the go-fuzz harness in this package (build tag gofuzz).
package fuzz

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// Kind is what a Step does.
type Kind uint8

// The steps. File steps use the handle in Slot; region steps the region in
// Slot.
const (
	Open Kind = iota
	Write
	Read
	Truncate
	Sync
	Close
	StatFile
	Remove
	Rename
	MkdirAll
	ReadDir
	Stat
	SyncDir
	Lock
	Unlock
	Map
	RegionWrite
	RegionRead
	RegionStore64
	RegionLoad64
	RegionAdd64
	FlushDrain
	Grow
	Unmap
	Allocate
	Append
	Datasync
	Link
	RemoveAll
	// Kinds is the number of kinds: every Kind is below it.
	Kinds
)

var kindNames = [...]string{"open", "write", "read", "truncate", "sync", "close", "statfile",
	"remove", "rename", "mkdirall", "readdir", "stat", "syncdir", "lock", "unlock", "map",
	"region-write", "region-read", "region-store64", "region-load64", "region-add64",
	"flush-drain", "grow", "unmap", "allocate", "append", "datasync", "link", "removeall"}

// String returns the step kind's name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Names are the paths steps use: few, so that they collide.
var Names = []string{"/a", "/b", "/d", "/d/a", "/d/e", "/d/e/f", "/a/x"}

// Flags are the open flags steps use.
var Flags = []int{
	os.O_RDONLY,
	os.O_WRONLY,
	os.O_RDWR,
	os.O_RDWR | os.O_CREATE,
	os.O_RDWR | os.O_CREATE | os.O_EXCL,
	os.O_RDWR | os.O_CREATE | os.O_TRUNC,
	os.O_RDONLY | os.O_CREATE,
	os.O_WRONLY | os.O_CREATE | os.O_APPEND,
	os.O_RDONLY | os.O_TRUNC,
	os.O_RDWR | os.O_CREATE | os.O_SYNC,
	os.O_RDWR | os.O_APPEND | engine.O_DSYNC,
	os.O_RDWR | os.O_CREATE | syscall.O_NONBLOCK, // not supported: an error, never ignored
	os.O_RDONLY | os.O_APPEND,
}

// Offsets and Lengths are the values Decode picks from; a rapid test may
// use any.
var (
	Offsets = []int64{0, 1, 7, 8, 100, 4095, 4096, 4100, 8192, 10000, -1}
	Lengths = []int64{0, 1, 7, 8, 16, 100, 4096, 5000}
)

// Slots is the number of handles, locks and regions a script can hold.
const Slots = 3

// Step is one operation.
type Step struct {
	Kind  Kind
	Name  int // index into Names
	Name2 int // rename target
	Slot  int // handle, lock or region
	Flag  int // index into Flags
	Off   int64
	Len   int64
	Fill  byte
	Mode  engine.LockMode
}

// String describes the step, for a failure message.
func (s Step) String() string {
	return fmt.Sprintf("%s name=%s name2=%s slot=%d flag=%#x off=%d len=%d fill=%d mode=%v",
		s.Kind, Names[s.Name%len(Names)], Names[s.Name2%len(Names)], s.Slot, Flags[s.Flag%len(Flags)], s.Off, s.Len, s.Fill, s.Mode)
}

// Decode turns bytes into steps, six bytes a step; it accepts any input.
func Decode(data []byte) []Step {
	var steps []Step
	for len(data) >= 6 {
		b := data[:6]
		data = data[6:]
		steps = append(steps, Step{
			Kind:  Kind(b[0] % byte(Kinds)),
			Name:  int(b[1]) % len(Names),
			Name2: int(b[1]>>4) % len(Names),
			Slot:  int(b[2]) % Slots,
			Flag:  int(b[2]>>2) % len(Flags),
			Off:   Offsets[int(b[3])%len(Offsets)],
			Len:   Lengths[int(b[4])%len(Lengths)],
			Fill:  b[5],
			Mode:  engine.LockMode(1 + b[4]>>7),
		})
	}
	return steps
}

// world is one side of the comparison.
type world struct {
	fs      engine.FS
	prefix  string // the OS side's root directory
	files   [Slots]engine.File
	locks   [Slots]io.Closer
	regions [Slots]engine.Region
}

func (w *world) path(i int) string { return w.prefix + Names[i%len(Names)] }

// Compare runs steps on a new faultfs.FS and on engine.OSFS rooted at dir,
// which must be an empty directory, and returns an error describing the
// first step whose results differ.
func Compare(steps []Step, dir string) (err error) {
	sim := &world{fs: faultfs.New(faultfs.Options{})}
	real := &world{fs: engine.OSFS{}, prefix: strings.TrimSuffix(dir, "/")}
	defer real.release()
	// A mapping of a file cut below it faults on the OS: report it rather
	// than crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	for i, s := range steps {
		if skip(sim, real, s) {
			continue
		}
		got, want := sim.do(s), real.do(s)
		if got != want {
			return fmt.Errorf("step %d (%v):\nfaultfs: %s\nos:      %s", i, s, got, want)
		}
	}
	return nil
}

// skip reports whether s would touch a mapping past the end of its file,
// which the OS answers with SIGBUS. It asks the simulated side, whose
// region says ErrOutOfRange there; should it be wrong, the OS side's fault
// becomes a panic that Compare reports.
func skip(sim, real *world, s Step) bool {
	switch s.Kind {
	case RegionWrite, RegionRead, RegionStore64, RegionLoad64, RegionAdd64:
	default:
		return false
	}
	r := sim.regions[s.Slot]
	n := int64(8)
	if s.Kind == RegionWrite || s.Kind == RegionRead {
		n = max(s.Len, 0)
	}
	if r == nil || real.regions[s.Slot] == nil || s.Off < 0 || s.Off > r.Len()-n {
		return false // both refuse it without touching memory
	}
	_, err := r.ReadAt(make([]byte, n), s.Off)
	return errors.Is(err, engine.ErrOutOfRange)
}

// release closes what the OS side holds.
func (w *world) release() {
	for i := range Slots {
		if w.regions[i] != nil {
			w.regions[i].Close()
		}
		if w.files[i] != nil {
			w.files[i].Close()
		}
		if w.locks[i] != nil {
			w.locks[i].Close()
		}
	}
}

func fill(s Step) []byte {
	p := make([]byte, max(s.Len, 0))
	for i := range p {
		p[i] = s.Fill + byte(i)
	}
	return p
}

// do runs s and returns its result in a form both worlds can be compared
// in.
func (w *world) do(s Step) string {
	name := w.path(s.Name)
	switch s.Kind {
	case Open:
		f, err := w.fs.OpenFile(name, Flags[s.Flag%len(Flags)], 0o644)
		if err == nil {
			if old := w.files[s.Slot]; old != nil {
				old.Close()
			}
			w.files[s.Slot] = f
		}
		return w.result(err)
	case Write, Read, Truncate, Sync, Close, StatFile, Map, Allocate, Append, Datasync:
		f := w.files[s.Slot]
		if f == nil {
			return "no file"
		}
		return w.fileStep(f, s)
	case Remove:
		return w.result(w.fs.Remove(name))
	case Rename:
		return w.result(w.fs.Rename(name, w.path(s.Name2)))
	case Link:
		return w.result(engine.Link(w.fs, name, w.path(s.Name2)))
	case RemoveAll:
		return w.result(engine.RemoveAll(w.fs, name))
	case MkdirAll:
		return w.result(w.fs.MkdirAll(name, 0o755))
	case ReadDir:
		entries, err := w.fs.ReadDir(name)
		var b strings.Builder
		for _, e := range entries {
			fi, ierr := e.Info()
			fmt.Fprintf(&b, "%s dir=%v %s;", e.Name(), e.IsDir(), w.info(fi, ierr))
		}
		return b.String() + w.result(err)
	case Stat:
		fi, err := w.fs.Stat(name)
		return w.info(fi, err)
	case SyncDir:
		return w.result(w.fs.SyncDir(name))
	case Lock:
		l, err := w.fs.Lock(name, s.Mode)
		if err == nil {
			if old := w.locks[s.Slot]; old != nil {
				old.Close()
			}
			w.locks[s.Slot] = l
		}
		return w.result(err)
	case Unlock:
		l := w.locks[s.Slot]
		if l == nil {
			return "no lock"
		}
		return w.result(l.Close())
	default:
		r := w.regions[s.Slot]
		if r == nil {
			return "no region"
		}
		return w.regionStep(r, s)
	}
}

func (w *world) fileStep(f engine.File, s Step) string {
	switch s.Kind {
	case Write:
		n, err := f.WriteAt(fill(s), s.Off)
		return fmt.Sprintf("n=%d %s", n, w.result(err))
	case Read:
		p := make([]byte, max(s.Len, 0))
		n, err := f.ReadAt(p, s.Off)
		return fmt.Sprintf("n=%d %x %s", n, p[:n], w.result(err))
	case Truncate:
		return w.result(f.Truncate(s.Off))
	case Allocate:
		return w.result(engine.Allocate(f, s.Off, s.Len))
	case Append:
		n, err := engine.Append(f, fill(s))
		return fmt.Sprintf("n=%d %s", n, w.result(err))
	case Sync:
		return w.result(f.Sync())
	case Datasync:
		return w.result(engine.Datasync(f))
	case Close:
		return w.result(f.Close())
	case StatFile:
		fi, err := f.Stat()
		return w.info(fi, err)
	case Map:
		r, err := w.fs.Map(f, s.Len)
		if err != nil {
			return w.result(err)
		}
		if old := w.regions[s.Slot]; old != nil {
			old.Close()
		}
		w.regions[s.Slot] = r
		return fmt.Sprintf("len=%d", r.Len())
	}
	return "?"
}

func (w *world) regionStep(r engine.Region, s Step) string {
	switch s.Kind {
	case RegionWrite:
		n, err := r.WriteAt(fill(s), s.Off)
		return fmt.Sprintf("n=%d %s", n, w.result(err))
	case RegionRead:
		p := make([]byte, max(s.Len, 0))
		n, err := r.ReadAt(p, s.Off)
		return fmt.Sprintf("n=%d %x %s", n, p[:n], w.result(err))
	case RegionStore64:
		return w.result(r.Store64(s.Off, uint64(s.Fill)<<32|uint64(s.Len)))
	case RegionLoad64:
		v, err := r.Load64(s.Off)
		return fmt.Sprintf("v=%d %s", v, w.result(err))
	case RegionAdd64:
		v, err := r.Add64(s.Off, uint64(s.Fill))
		return fmt.Sprintf("v=%d %s", v, w.result(err))
	case FlushDrain:
		if err := r.Flush(s.Off, s.Len); err != nil {
			return w.result(err)
		}
		return w.result(r.Drain())
	case Grow:
		err := r.Grow(s.Len)
		return fmt.Sprintf("len=%d %s", r.Len(), w.result(err))
	case Unmap:
		return w.result(r.Close())
	}
	return "?"
}

// info describes a FileInfo: name, kind, owner permissions, and a file's
// size (a directory's size is the file system's business).
func (w *world) info(fi fs.FileInfo, err error) string {
	if err != nil {
		return w.result(err)
	}
	s := fmt.Sprintf("%s dir=%v perm=%o", fi.Name(), fi.IsDir(), fi.Mode().Perm()&0o700)
	if !fi.IsDir() {
		s += fmt.Sprintf(" size=%d", fi.Size())
	}
	return s
}

// sentinels are the errors compared by identity.
var sentinels = []struct {
	name string
	err  error
}{
	{"EOF", io.EOF},
	{"ErrClosed", fs.ErrClosed},
	{"ErrInvalid", fs.ErrInvalid},
	{"ErrLocked", engine.ErrLocked},
	{"ErrOutOfRange", engine.ErrOutOfRange},
	{"ErrMisaligned", engine.ErrMisaligned},
	{"ErrNotSupported", engine.ErrNotSupported},
}

// result describes an error by what callers can test: its type, Op and
// Path (relative to the world's root), its errno and sentinels. The text
// of a plain error counts only when it wraps nothing we know.
func (w *world) result(err error) string {
	if err == nil {
		return "ok"
	}
	var b strings.Builder
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		fmt.Fprintf(&b, "PathError{%s %s} ", pe.Op, strings.TrimPrefix(pe.Path, w.prefix))
	case errors.As(err, &le):
		fmt.Fprintf(&b, "LinkError{%s %s %s} ", le.Op, strings.TrimPrefix(le.Old, w.prefix), strings.TrimPrefix(le.New, w.prefix))
	}
	known := false
	var errno syscall.Errno
	if errors.As(err, &errno) {
		fmt.Fprintf(&b, "errno=%d ", errno)
		known = true
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			b.WriteString(s.name + " ")
			known = true
		}
	}
	if !known {
		msg := err.Error()
		if pe != nil {
			msg = pe.Err.Error()
		}
		b.WriteString(msg)
	}
	return strings.TrimSpace(b.String())
}

// TempRoot returns where to make the OS side's directories: /dev/shm when
// it is there (tmpfs: fsync costs nothing), else os.TempDir().
func TempRoot() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}
