package engine

import (
	"errors"
	"io/fs"
)

// Errors returned by every backend of FS, File and Region. Backends wrap them,
// usually in an *fs.PathError, so callers test them with errors.Is.
var (
	// ErrLocked is returned by FS.Lock when another handle, in this process
	// or another, holds a conflicting lock on the name.
	ErrLocked = errors.New("engine: locked by another handle")

	// ErrClosed is returned when a File, Region or lock is used after Close.
	// It is fs.ErrClosed, so it matches what package os returns.
	ErrClosed = fs.ErrClosed

	// ErrOutOfRange is returned when an offset or length falls outside a
	// Region, or a mapping length is not positive. (Asking a Region to
	// shrink is not an error: Grow to a length at or below Len is a no-op.)
	ErrOutOfRange = errors.New("engine: offset out of range")

	// ErrMisaligned is returned when an atomic operation is given an offset
	// that is not a multiple of its width (4 or 8 bytes).
	ErrMisaligned = errors.New("engine: misaligned atomic offset")

	// ErrNotSupported is returned when a backend cannot provide what was
	// asked: a DAX mapping where the file system has none, a mapping of a file
	// opened read-only, a File from a different backend.
	ErrNotSupported = errors.New("engine: not supported")
)
