package bench

import (
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
)

// handleRing is a single-producer, single-consumer ring of handles in a
// shared-memory object: what a user puts beside the store to tell a
// consumer in another process which blobs to read. The producer's index
// and the consumer's are on cache lines of their own, as are the flags
// that say a side sleeps; the consumer takes every handle there is at
// once. A side that finds the ring empty (or full) spins a while on the
// other's index, then sleeps on it in the kernel (a futex on the shared
// word, which works across processes), and the other side wakes it only
// when its flag says it sleeps: no system call while both keep up.
//
// The ring is the benchmark's own memory, accessed through the mapping's
// slice with sync/atomic, as a user's code beside the store would be.
type handleRing struct {
	r    engine.Region
	head *atomic.Uint64 // the consumer's index
	tail *atomic.Uint64 // the producer's index
	// consWaits and prodWaits are 1 while that side sleeps, or is about
	// to, on the other's index.
	consWaits, prodWaits *atomic.Uint32
	slots                []atomic.Uint64 // two words a handle
}

const (
	ringCap       = 1024
	ringHead      = 0
	ringTail      = 64
	ringConsWaits = 128
	ringProdWaits = 192
	ringSlots     = 256
	// ringSpins is how many times a side looks at the other's index
	// before it sleeps: a few microseconds, longer than one append.
	ringSpins = 4000

	futexWait = 0 // FUTEX_WAIT, shared: not FUTEX_PRIVATE_FLAG
	futexWake = 1
)

func newHandleRing(b *testing.B, dir string) *handleRing {
	f, err := engine.Create(engine.OSFS{}, filepath.Join(dir, "ring"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	size := int64(ringSlots + 16*ringCap)
	r, err := engine.OSFS{}.Map(f, size)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	v, err := r.View(0, size)
	if err != nil {
		b.Fatal(err)
	}
	at64 := func(off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&v[off])) }
	at32 := func(off int) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&v[off])) }
	return &handleRing{
		r:         r,
		head:      at64(ringHead),
		tail:      at64(ringTail),
		consWaits: at32(ringConsWaits),
		prodWaits: at32(ringProdWaits),
		slots:     unsafe.Slice((*atomic.Uint64)(unsafe.Pointer(&v[ringSlots])), 2*ringCap),
	}
}

// await returns once idx no longer holds old: it spins, then sleeps on the
// word's low half with waits raised. Whoever changes idx wakes it if waits
// is raised (wake).
func await(idx *atomic.Uint64, old uint64, waits *atomic.Uint32) uint64 {
	for range ringSpins {
		if v := idx.Load(); v != old {
			return v
		}
	}
	for {
		waits.Store(1)
		// Looked at again after raising the flag: a change made before
		// the other side could see the flag is not slept through.
		if v := idx.Load(); v != old {
			waits.Store(0)
			return v
		}
		// Little-endian: the word's low half is its first four bytes.
		syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(idx)), futexWait, uintptr(uint32(old)), 0, 0, 0)
	}
}

// wake wakes the other side if it sleeps (or is about to) on idx.
func wake(idx *atomic.Uint64, waits *atomic.Uint32) {
	if waits.Load() != 0 && waits.Swap(0) != 0 {
		syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(idx)), futexWake, 1, 0, 0, 0)
	}
}

func (q *handleRing) push(h shm.Handle) {
	tail := q.tail.Load()
	for head := q.head.Load(); tail-head >= ringCap; {
		head = await(q.head, head, q.prodWaits)
	}
	i := 2 * (tail % ringCap)
	q.slots[i].Store(uint64(h.Chunk)<<32 | uint64(h.Gen))
	q.slots[i+1].Store(uint64(h.Offset)<<32 | uint64(h.Size))
	q.tail.Store(tail + 1)
	wake(q.tail, q.consWaits)
}

// popAll calls fn with every handle in the ring, waiting for one if there
// is none, and returns how many.
func (q *handleRing) popAll(fn func(shm.Handle)) int {
	head := q.head.Load()
	tail := q.tail.Load()
	if tail == head {
		tail = await(q.tail, head, q.consWaits)
	}
	for i := head; i < tail; i++ {
		k := 2 * (i % ringCap)
		w1, w2 := q.slots[k].Load(), q.slots[k+1].Load()
		fn(shm.Handle{Chunk: uint32(w1 >> 32), Gen: uint32(w1), Offset: uint32(w2 >> 32), Size: uint32(w2)})
	}
	q.head.Store(tail)
	wake(q.head, q.prodWaits)
	return int(tail - head)
}
