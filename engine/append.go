package engine

import (
	"fmt"
	"io/fs"
	"os"
)

// Appender is a File that can append, as write(2) does on a file opened
// with O_APPEND. Append uses it; a File without it cannot append.
type Appender interface {
	// Append has the semantics of the function Append.
	Append(p []byte) (n int, err error)
}

// Append writes p at the end of f, which must have been opened with
// os.O_APPEND: the end is found and p written there as one step, so that
// appends through several handles, in one process or several, never
// overwrite each other (write(2) with O_APPEND). WriteAt on such a file
// fails, as it does with package os. When Append returns, p is in the page
// cache and nothing is durable, unless f was opened with O_SYNC or
// O_DSYNC.
//
// Errors are those of write(2), as an *fs.PathError with Op "write": for a
// short write, n < len(p) and the error says why (ENOSPC on a full disk).
// A file opened without O_APPEND, or a File that is no Appender, gives an
// error wrapping ErrNotSupported.
func Append(f File, p []byte) (int, error) {
	if a, ok := f.(Appender); ok {
		return a.Append(p)
	}
	return 0, &fs.PathError{Op: "write", Path: f.Name(), Err: fmt.Errorf("%w: append to a %T", ErrNotSupported, f)}
}

// CheckAppend returns nil if a file opened with flag can append (it has
// os.O_APPEND), else the error Append returns for it: an *fs.PathError{Op:
// "write"} wrapping ErrNotSupported. Every Appender calls it first.
func CheckAppend(name string, flag int) error {
	if flag&os.O_APPEND != 0 {
		return nil
	}
	return &fs.PathError{Op: "write", Path: name, Err: fmt.Errorf("%w: append to a file opened without O_APPEND", ErrNotSupported)}
}
