package engine

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/gofrs/flock"
)

// OSFS is the FS of the operating system: names are paths as package os
// takes them, and errors are exactly those of package os. The zero value is
// ready to use; the options matter only to Map (see Medium for the rules of
// each kind of mapping).
type OSFS struct {
	// Medium, if set, makes Map give every mapping the persistence rules of
	// that medium whatever the file system, instead of detecting them. It
	// exists so that benchmarks compare the engine with libpmem on the same
	// footing: PMem is PMDK's PMEM_IS_PMEM_FORCE=1 (cache-line flushes and a
	// fence, never msync, so nothing is durable across a power failure unless
	// the file really is on a DAX file system); MappedFile msyncs even on
	// tmpfs, as a libpmem program does when pmem_is_pmem is false.
	// PMEM_IS_PMEM_FORCE=1 in the environment forces PMem too.
	Medium Medium

	// RequireDAX makes Map fail with an error wrapping ErrNotSupported
	// rather than fall back to a page-cache or shared-memory mapping when
	// the file cannot be mapped with MAP_SYNC: the caller wants persistent
	// memory or nothing. Medium: PMem satisfies it.
	RequireDAX bool
}

var (
	_ FS     = OSFS{}
	_ Linker = OSFS{}
)

// OpenFile opens name with os.OpenFile, after CheckOpenFlags: open(2)
// would ignore a flag it does not know.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := CheckOpenFlags(name, flag); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{File: f, flag: flag}, nil
}

// Remove removes a file or an empty directory with os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Rename renames with os.Rename; errors are *os.LinkError.
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// Link makes newname a hard link to oldname with os.Link; errors are
// *os.LinkError.
func (OSFS) Link(oldname, newname string) error { return os.Link(oldname, newname) }

// MkdirAll creates a directory and its parents with os.MkdirAll.
func (OSFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }

// ReadDir lists a directory, sorted by name, with os.ReadDir.
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// Stat describes a file or directory with os.Stat.
func (OSFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// SyncDir fsyncs the directory name.
func (OSFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Lock takes a flock(2) lock on name through a descriptor of its own, so
// that it conflicts with every other lock, including this process's. A mode
// other than Shared or Exclusive is an error wrapping fs.ErrInvalid.
func (OSFS) Lock(name string, mode LockMode) (io.Closer, error) {
	fl := flock.New(name)
	var ok bool
	var err error
	switch mode {
	case Exclusive:
		ok, err = fl.TryLock()
	case Shared:
		ok, err = fl.TryRLock()
	default:
		return nil, &fs.PathError{Op: "lock", Path: name, Err: fs.ErrInvalid}
	}
	if err != nil {
		// Opening the file already gives a *fs.PathError; flock(2) gives
		// a bare errno.
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			return nil, err
		}
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	if !ok {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	return &osLock{name: name, fl: fl}, nil
}

// osLock is a held flock. Close must report a second Close, which
// flock.Flock.Close does not (it returns nil when unlocked).
type osLock struct {
	name string
	mu   sync.Mutex
	fl   *flock.Flock // nil once released
}

func (l *osLock) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fl == nil {
		return &fs.PathError{Op: "unlock", Path: l.name, Err: ErrClosed}
	}
	err := l.fl.Close()
	l.fl = nil
	if err != nil {
		return &fs.PathError{Op: "unlock", Path: l.name, Err: err}
	}
	return nil
}
