package alloc

import "errors"

// Errors of the heap. They are wrapped with details, so test them with
// errors.Is.
var (
	// ErrCorrupt is returned when the heap's persistent metadata is not
	// what this package writes: a bad magic number, a zone or a block
	// outside the storage, a page table that does not tile its zone, a run
	// whose header disagrees with its page-table entry.
	ErrCorrupt = errors.New("alloc: corrupt heap metadata")

	// ErrNoSpace is returned by Alloc when the heap cannot grow to satisfy
	// a request: the limit given to Open is reached, or the storage
	// refused to grow.
	ErrNoSpace = errors.New("alloc: no space")

	// ErrSize is returned by Alloc for a size that is not positive or is
	// larger than any heap can hold.
	ErrSize = errors.New("alloc: invalid size")

	// ErrNotAllocated is returned by Free and Block for an offset that is
	// not inside an allocated block (Block) or not the start of one (Free):
	// outside the heap, in free memory, in a run's metadata, or already
	// freed.
	ErrNotAllocated = errors.New("alloc: not an allocated block")

	// ErrCheck is returned by Check when it finds problems; the error is a
	// *CheckError that lists them.
	ErrCheck = errors.New("alloc: check failed")
)
