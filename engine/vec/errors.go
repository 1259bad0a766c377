package vec

import (
	"errors"

	"github.com/crashsim/crashsim/engine"
)

// Errors of vectors. They are wrapped with details, class first, so test
// them with errors.Is.
var (
	// ErrCorrupt is returned by Open and ReadHeader when the file is not
	// what this package writes: a bad magic number or checksum in both
	// header slots, a field out of its range, slots that disagree in a way
	// no crash leaves them, a file shorter than its header says.
	ErrCorrupt = errors.New("vec: corrupt vector file")

	// ErrVersion is returned by Open for a file of another format version,
	// or whose data version is not Options.DataVersion.
	ErrVersion = errors.New("vec: unsupported version")

	// ErrLayout is returned by Open when the file's elements are not laid
	// out as T on this machine: another element type (its name, size or
	// shape), or a file written by a machine of another byte order or
	// word size.
	ErrLayout = errors.New("vec: element layout mismatch")

	// ErrType is returned by Create and Open when T cannot be stored in a
	// file: it holds a Go pointer, slice, map, string, interface, channel,
	// func or uintptr (the error names the field), or has size zero; and
	// for an Options.TypeName that is not UTF-8 or holds a NUL byte.
	ErrType = errors.New("vec: type cannot be stored")

	// ErrLocked is returned by Create and Open when another handle, in
	// this process or another, holds a conflicting lock: a writer excludes
	// every other writer and reader, readers exclude writers. It is
	// engine.ErrLocked.
	ErrLocked = engine.ErrLocked

	// ErrClosed is returned by every method of a closed vector. It is
	// engine.ErrClosed.
	ErrClosed = engine.ErrClosed

	// ErrReadOnly is returned by every change, and by Sync, of a vector
	// opened with Options.ReadOnly, and by Create with it.
	ErrReadOnly = errors.New("vec: read-only vector")

	// ErrRange is returned for an index outside [0, Len), a Pop of an
	// empty vector, a Truncate beyond Len, or a negative length.
	ErrRange = errors.New("vec: index out of range")

	// ErrNoSpace is returned when the vector cannot grow: the file system
	// has no room for the new blocks — it then wraps the file system's
	// error, so errors.Is(err, syscall.ENOSPC) holds — or the size is
	// beyond what this machine can map. The vector is unchanged.
	ErrNoSpace = errors.New("vec: no space to grow")

	// ErrBroken is returned by every change and Sync after a Sync, or the
	// durable extension of a growth, failed: the elements written since
	// the last Sync may be lost (Linux drops dirty pages whose write-back
	// failed, and a retried fsync reports success), so the vector may not
	// make a length covering them durable. Close it and open it again.
	ErrBroken = errors.New("vec: vector needs reopening")
)
