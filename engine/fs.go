package engine

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"
)

// FS is a file system: the only way engine code reaches files and
// directories. Paths are slash-separated; each backend documents how it
// roots them. Errors are those of package os: an *fs.PathError (or
// *os.LinkError for Rename) wrapping fs.ErrNotExist, fs.ErrExist, ErrLocked
// and so on, so errors.Is works the same on every backend.
//
// Durability: a create, remove or rename is durable only after SyncDir of
// every directory it changed. A file's data and size are durable only after
// File.Sync.
type FS interface {
	// OpenFile opens name with the os.O_* flags (O_RDONLY, O_WRONLY,
	// O_RDWR, O_CREATE, O_EXCL, O_TRUNC; O_APPEND, for Append; O_SYNC and
	// this package's O_DSYNC, whose writes return once durable) and, if it
	// creates the file, perm. Any other flag is an error wrapping
	// ErrNotSupported (CheckOpenFlags), never ignored. Nothing is durable
	// when it returns.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)

	// Remove removes a file or an empty directory. It is durable after
	// SyncDir of the parent.
	Remove(name string) error

	// Rename renames oldname to newname, replacing newname if it is a file.
	// It is atomic: a crash leaves either the old or the new name, never
	// both or neither. It is durable after SyncDir of both parents.
	Rename(oldname, newname string) error

	// MkdirAll creates a directory and any missing parents. Each new
	// directory is durable after SyncDir of its parent.
	MkdirAll(name string, perm fs.FileMode) error

	// ReadDir returns the entries of a directory sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)

	// Stat describes a file or directory.
	Stat(name string) (fs.FileInfo, error)

	// SyncDir makes durable every create, remove and rename in the
	// directory name (fsync of the directory).
	SyncDir(name string) error

	// Lock takes an advisory lock (flock) on name, creating the file if it
	// does not exist, without waiting: if another handle holds a conflicting
	// lock it returns an error wrapping ErrLocked. The lock is released by
	// Close on the returned handle, or when the process dies. Two handles
	// conflict even within one process. See WaitLock for a blocking form.
	Lock(name string, mode LockMode) (io.Closer, error)

	// Map maps the first length bytes of f, which must be open for reading
	// and writing and belong to this FS, extending f with zeros if it is
	// shorter. The Region's Medium says which persistence rules apply.
	//
	// The extension is a hole, as with Truncate: on a full disk the first
	// store to a page of it (on tmpfs, even a load) kills the process with
	// SIGBUS. Allocate the range first to get ENOSPC instead.
	Map(f File, length int64) (Region, error)
}

// File is an open file. Reads and writes are at explicit offsets; the file
// keeps no cursor.
type File interface {
	// Name returns the name the file was opened with.
	Name() string

	// ReadAt reads len(p) bytes at off; at end of file it returns io.EOF
	// with the bytes read before it.
	ReadAt(p []byte, off int64) (n int, err error)

	// WriteAt writes p at off, extending the file if needed. When it returns,
	// the data is visible to every reader and mapping of the file (it is in
	// the page cache) but nothing is durable — unless the file was opened
	// with O_DSYNC or O_SYNC: then the bytes written and the size are
	// durable when it returns (not the name), and a failure to make them so
	// is its error. A file opened with O_APPEND refuses WriteAt, as package
	// os does: Append writes to it.
	WriteAt(p []byte, off int64) (n int, err error)

	// Sync makes the file's data and size durable (fsync). It does not make
	// the file's name durable: that takes SyncDir of its directory. An error
	// from Sync is fatal for the data written since the last successful
	// Sync: Linux drops the dirty pages, and a retried Sync reports success.
	Sync() error

	// Truncate changes the file's size, zero-filling when it grows. The new
	// size is durable after Sync.
	Truncate(size int64) error

	// Stat describes the file.
	Stat() (fs.FileInfo, error)

	// Close releases the file. It makes nothing durable.
	Close() error
}

// LockMode says whether a lock excludes every other holder or only writers.
type LockMode int

const (
	// Shared locks may be held by many handles at once, and exclude
	// Exclusive ones.
	Shared LockMode = iota + 1
	// Exclusive locks exclude every other lock on the name.
	Exclusive
)

func (m LockMode) String() string {
	switch m {
	case Shared:
		return "shared"
	case Exclusive:
		return "exclusive"
	}
	return "LockMode(?)"
}

// lockRetry is how long WaitLock sleeps between attempts. flock(2) cannot be
// interrupted by a context, so waiting is polling; 1 ms keeps the latency of
// a hand-over low without burning a core.
const lockRetry = time.Millisecond

// WaitLock is Lock that waits until the lock is free or ctx is done; in the
// second case it returns ctx.Err() wrapped with the name.
func WaitLock(ctx context.Context, fsys FS, name string, mode LockMode) (io.Closer, error) {
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		l, err := fsys.Lock(name, mode)
		if err == nil || !errors.Is(err, ErrLocked) {
			return l, err
		}
		t.Reset(lockRetry)
		select {
		case <-ctx.Done():
			return nil, &fs.PathError{Op: "lock", Path: name, Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// Create creates or truncates name for reading and writing, like os.Create.
func Create(fsys FS, name string) (File, error) {
	return fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Open opens name read-only, like os.Open.
func Open(fsys FS, name string) (File, error) {
	return fsys.OpenFile(name, os.O_RDONLY, 0)
}

// ReadFile returns the whole content of name, like os.ReadFile.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := Open(fsys, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	n, err := f.ReadAt(b, 0)
	if err == io.EOF {
		err = nil
	}
	return b[:n], err
}
