package engine

// Region is the memory of a mapped file or shared-memory object, with the
// persistence primitives of libpmem2. Offsets are bytes from the start of the
// mapping. Every method returns ErrOutOfRange (wrapped) if its range is not
// inside [0, Len()), and ErrClosed after Close.
//
// Failure atomicity: only the aligned 4- and 8-byte atomic operations are
// failure-atomic. A WriteAt may be torn by a crash at the granularity of the
// Medium (8 bytes on persistent memory, a 512-byte sector or 4 KiB page on a
// mapped file).
//
// Durability: a store is durable once a Flush covering it has been followed
// by a Drain (Persist does both). Until then it may or may not survive a power
// failure, and on persistent memory the stores to one 64-byte line survive as
// a prefix, in program order. Every store survives a process crash.
//
// A Region is safe for concurrent use; ordinary stores to overlapping ranges
// from different goroutines race as they would on plain memory.
type Region interface {
	// Len returns the length of the mapping.
	Len() int64

	// Medium says which persistence rules the mapping follows.
	Medium() Medium

	// ReadAt copies len(p) bytes at off into p.
	ReadAt(p []byte, off int64) (n int, err error)

	// View returns the n bytes at off without copying where the backend can.
	// The caller must not modify them. The slice is valid until Grow or
	// Close, and may be changed by concurrent stores.
	View(off, n int64) ([]byte, error)

	// WriteAt stores p at off. Nothing is durable when it returns.
	WriteAt(p []byte, off int64) (n int, err error)

	// Load32 and Load64 atomically load the aligned word at off.
	Load32(off int64) (uint32, error)
	Load64(off int64) (uint64, error)

	// Store32 and Store64 atomically store the aligned word at off. The store
	// is failure-atomic: after a crash the word holds the old or the new
	// value, never a mix.
	Store32(off int64, v uint32) error
	Store64(off int64, v uint64) error

	// Add32 and Add64 atomically add delta to the aligned word at off and
	// return the new value.
	Add32(off int64, delta uint32) (uint32, error)
	Add64(off int64, delta uint64) (uint64, error)

	// CompareAndSwap32 and CompareAndSwap64 atomically replace the aligned
	// word at off with new if it holds old, and report whether they did.
	CompareAndSwap32(off int64, old, new uint32) (bool, error)
	CompareAndSwap64(off int64, old, new uint64) (bool, error)

	// Flush starts the write-back of the cache lines or pages covering
	// [off, off+n). It makes nothing durable by itself.
	Flush(off, n int64) error

	// Drain waits until every earlier Flush of this Region is durable.
	Drain() error

	// Grow extends the mapping, and the file under it, to length bytes. A
	// length at or below Len is a no-op; earlier Views are invalid after a
	// Grow. Offsets stay valid, so persistent pointers must be offsets.
	// What extends the file is a hole, as at FS.Map: Allocate the range
	// of the File first.
	Grow(length int64) error

	// Close unmaps the Region. It makes nothing durable.
	Close() error
}

// Persister is a Region that makes a range durable in one step faster than
// Flush followed by Drain. Persist must have exactly their effect, Drain's
// included: every earlier Flush is durable when it returns.
type Persister interface {
	Persist(off, n int64) error
}

// Persist makes [off, off+n) of r durable: Flush then Drain, or r's own
// Persist if it is a Persister.
func Persist(r Region, off, n int64) error {
	if p, ok := r.(Persister); ok {
		return p.Persist(off, n)
	}
	if err := r.Flush(off, n); err != nil {
		return err
	}
	return r.Drain()
}

// Medium is the kind of storage under a Region. It decides the fault model
// (docs/DESIGN.md section 4, F2) that applies to it.
type Medium int

const (
	// PMem is byte-addressable persistent memory: a DAX mapping with
	// MAP_SYNC, or an ordinary file forced to behave as one for benchmarks.
	// Flush writes back 64-byte cache lines (CLWB); Drain is a store fence.
	// The failure-atomic unit is an aligned 8-byte word.
	PMem Medium = iota + 1

	// MappedFile is a file mapped through the page cache. Flush remembers
	// the dirty pages; Drain writes them back with msync. The unit of
	// write-back is a 4 KiB page.
	MappedFile

	// SharedMemory is memory shared between processes (/dev/shm). It
	// survives a process crash and never a power failure; Flush and Drain do
	// nothing.
	SharedMemory
)

func (m Medium) String() string {
	switch m {
	case PMem:
		return "pmem"
	case MappedFile:
		return "mapped-file"
	case SharedMemory:
		return "shared-memory"
	}
	return "Medium(?)"
}

// Sizes of the units the persistence rules are stated in.
const (
	// WordSize is the failure-atomic unit of persistent memory.
	WordSize = 8
	// CacheLineSize is the unit Flush works in on persistent memory.
	CacheLineSize = 64
	// SectorSize is the unit a disk writes atomically.
	SectorSize = 512
	// PageSize is the unit of the page cache and of msync.
	PageSize = 4096
)
