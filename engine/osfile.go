package engine

import (
	"errors"
	"io/fs"
	"os"
)

// osFile is a File of OSFS. It is an *os.File, so that every error is the
// one package os returns, plus the open flags, which Map needs and which
// *os.File does not keep.
type osFile struct {
	*os.File
	flag int
}

var (
	_ File       = (*osFile)(nil)
	_ Allocator  = (*osFile)(nil)
	_ Datasyncer = (*osFile)(nil)
	_ Appender   = (*osFile)(nil)
)

// writable reports whether the file was opened O_RDWR, which a shared
// writable mapping needs.
func (f *osFile) writable() bool {
	return f.flag&(os.O_RDONLY|os.O_WRONLY|os.O_RDWR) == os.O_RDWR
}

// Allocate allocates the blocks of [off, off+n) with fallocate(2) (mode 0,
// which extends the file), or by writing where the file system does not
// support it (see the function Allocate).
func (f *osFile) Allocate(off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	var errno error
	if err := rc.Control(func(fd uintptr) { errno = fallocate(fd, off, n) }); err != nil {
		// Control fails only on a closed file, with internal/poll's
		// ErrFileClosing, which package os reports as fs.ErrClosed.
		return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: fs.ErrClosed}
	}
	switch {
	case errno == nil:
		return nil
	case errors.Is(errno, errNoFallocate):
		return allocateByWriting(f, off, n)
	}
	return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: errno}
}

// Datasync makes the file's data and size durable with fdatasync(2) (fsync
// outside Linux), retried when a signal interrupts it.
func (f *osFile) Datasync() error {
	rc, err := f.SyscallConn()
	if err != nil {
		return &fs.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	var errno error
	if err := rc.Control(func(fd uintptr) { errno = fdatasync(fd) }); err != nil {
		return &fs.PathError{Op: "fdatasync", Path: f.Name(), Err: fs.ErrClosed} // as in Allocate
	}
	if errno != nil {
		return &fs.PathError{Op: "fdatasync", Path: f.Name(), Err: errno}
	}
	return nil
}

// Append writes p at the end of a file opened with O_APPEND: write(2),
// which the kernel does at the end for such a file.
func (f *osFile) Append(p []byte) (int, error) {
	if err := CheckAppend(f.Name(), f.flag); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}
