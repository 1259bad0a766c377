package tx

import (
	"errors"
	"fmt"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/alloc"
)

// Errors of pools and transactions. They are wrapped with details, class
// first, so test them with errors.Is.
var (
	// ErrCorrupt is returned by Create, Open, Check and by reads when the
	// pool is not what this package writes: a header with a bad magic
	// number or checksum, a log whose entries point outside the pool, heap
	// metadata that does not add up. It is also what Check's problems wrap.
	ErrCorrupt = errors.New("tx: corrupt pool")

	// ErrVersion is returned by Open for a pool of another format version,
	// or one written by a machine of the other byte order.
	ErrVersion = errors.New("tx: unsupported pool version")

	// ErrLayout is returned by Open when the pool's layout is not the one
	// asked for (see Options.Layout): another name, or another shape or
	// structure of the root type at the same version; by Open and Create
	// for Options.Upgrades that do not meet each other or the root type.
	ErrLayout = errors.New("tx: pool layout mismatch")

	// ErrLayoutVersion is returned by Open for a pool whose layout version
	// the program cannot open: newer than Options.Version (a newer release
	// of the program upgraded it), or older with no Upgrade from it, or
	// older in a read-only Open, which upgrades nothing. It is returned by
	// a View or Check of a read-only pool whose layout a writer upgraded
	// since it was opened. It wraps ErrLayout.
	ErrLayoutVersion = fmt.Errorf("%w: unsupported layout version", ErrLayout)

	// ErrLocked is returned by Create and Open when another writer, in this
	// process or another, has the pool open. It is engine.ErrLocked.
	ErrLocked = engine.ErrLocked

	// ErrClosed is returned by every method of a closed pool, and by a Tx
	// used after its function returned. It is engine.ErrClosed.
	ErrClosed = engine.ErrClosed

	// ErrReadOnly is returned by a write in a View, and by Update on a pool
	// opened with Options.ReadOnly.
	ErrReadOnly = errors.New("tx: read-only transaction")

	// ErrType is returned when a type cannot be stored in a pool: it holds
	// a Go pointer, slice, map, string, interface, channel, func or
	// uintptr, a volatile handle such as Weak, or a pointer of another
	// pool. The error names the field.
	ErrType = errors.New("tx: type cannot be stored in a pool")

	// ErrNil is returned when a nil persistent pointer is dereferenced.
	ErrNil = errors.New("tx: nil persistent pointer")

	// ErrPointer is returned when a persistent pointer does not point into
	// an object of its pool: out of range, into free memory, at an object
	// freed by this transaction, or a pointer of another pool file.
	ErrPointer = errors.New("tx: invalid persistent pointer")

	// ErrNoSpace is returned when the pool cannot grow: Options.MaxSize
	// is reached or the file system refused. It is returned too by Create,
	// and by an Open that must allocate the file's blocks (see Full disks
	// in the package doc), when the file system has no room for them; it
	// then wraps the file system's error, so errors.Is(err,
	// syscall.ENOSPC) holds. It is alloc.ErrNoSpace.
	ErrNoSpace = alloc.ErrNoSpace

	// ErrTxTooLarge is returned when a transaction changes more than its
	// undo log can hold (Options.LogSize). The transaction is aborted.
	ErrTxTooLarge = errors.New("tx: transaction too large for the log")

	// ErrBorrowed is returned when a transaction reads or writes an object
	// while a Modify of it is running.
	ErrBorrowed = errors.New("tx: object is borrowed by Modify")

	// ErrNotLocked is returned by Unlock and RUnlock of a persistent lock
	// that is not held in that mode.
	ErrNotLocked = errors.New("tx: persistent lock not held")

	// ErrCheck is returned by Check and in strict mode when the invariants
	// of the pool do not hold; the error lists the problems. It is
	// alloc.ErrCheck.
	ErrCheck = alloc.ErrCheck

	// ErrBroken is returned by every method of a pool whose commit failed
	// after it began to write in place and whose rollback failed too: the
	// pool must be closed and opened again, which recovers it.
	ErrBroken = errors.New("tx: pool needs recovery")
)
