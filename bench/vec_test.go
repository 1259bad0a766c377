package bench

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/vec"
)

// The mapped vector (engine/vec) side by side with a plain Go slice and
// with a file written through bufio: the same elements, appended one at a
// time; random reads; and what Sync costs against the msync of the same
// bytes. Files are on the disk ($TMPDIR, which must not be tmpfs), but
// for the reads, which need only a warm mapping.

// elem16 and elem256 are the elements: 16 and 256 bytes.
type (
	elem16  struct{ A, B uint64 }
	elem256 struct{ W [32]uint64 }
)

// sum adds the element's words: a read of all of it.
func (e *elem256) sum() uint64 {
	var s uint64
	for _, w := range e.W {
		s += w
	}
	return s
}

// vecRound is how many bytes of elements a benchmark appends before it
// starts again from an empty container that keeps its capacity (Truncate
// for the vector, s[:0] for the slice, a rewind for the file), so that a
// long run measures appends, not a file of gigabytes.
const vecRound = 64 << 20

func diskDir(b *testing.B) string {
	dir, err := os.MkdirTemp("", "crashsim-vec-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// BenchmarkVecAppend appends elements of 16 and 256 bytes one at a time,
// none made durable: vec's Push and Append (of one element), a Go slice's
// append, and bufio.Writer.Write of the element's bytes to a file; and
// vec's Append of 64 at a time (one op is 64 elements there: compare
// MB/s).
func BenchmarkVecAppend(b *testing.B) {
	b.Run("16B", func(b *testing.B) { benchAppend(b, elem16{A: 1, B: 2}) })
	b.Run("256B", func(b *testing.B) { benchAppend(b, elem256{W: [32]uint64{1, 2, 3}}) })
}

func benchAppend[T any](b *testing.B, x T) {
	size := int(unsafe.Sizeof(x))
	round := vecRound / size
	b.Run("vec-push", func(b *testing.B) {
		v, err := vec.Create[T](engine.OSFS{}, filepath.Join(diskDir(b), "v.vec"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer v.Close()
		b.SetBytes(int64(size))
		for b.Loop() {
			if v.Len() == round {
				v.Truncate(0)
			}
			if err := v.Push(x); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("vec-append", func(b *testing.B) {
		v, err := vec.Create[T](engine.OSFS{}, filepath.Join(diskDir(b), "v.vec"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer v.Close()
		xs := []T{x}
		b.SetBytes(int64(size))
		for b.Loop() {
			if v.Len() == round {
				v.Truncate(0)
			}
			if err := v.Append(xs...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("vec-append-64", func(b *testing.B) {
		v, err := vec.Create[T](engine.OSFS{}, filepath.Join(diskDir(b), "v.vec"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer v.Close()
		xs := make([]T, 64)
		for i := range xs {
			xs[i] = x
		}
		b.SetBytes(int64(size * len(xs)))
		for b.Loop() {
			if v.Len()+len(xs) > round {
				v.Truncate(0)
			}
			if err := v.Append(xs...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("slice", func(b *testing.B) {
		var s []T
		b.SetBytes(int64(size))
		for b.Loop() {
			if len(s) == round {
				s = s[:0]
			}
			s = append(s, x)
		}
		sink = len(s)
	})
	b.Run("bufio-file", func(b *testing.B) {
		f, err := os.Create(filepath.Join(diskDir(b), "f"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		w := bufio.NewWriter(f)
		p := unsafe.Slice((*byte)(unsafe.Pointer(&x)), size)
		n := 0
		b.SetBytes(int64(size))
		for b.Loop() {
			if n == round {
				w.Flush()
				f.Seek(0, 0)
				n = 0
			}
			if _, err := w.Write(p); err != nil {
				b.Fatal(err)
			}
			n++
		}
		w.Flush()
	})
}

var sink int

// vecDurableBatch is how many elements each durable batch appends.
const vecDurableBatch = 1000

// BenchmarkVecAppendSync appends batches of 1,000 elements and makes each
// batch durable: vec's Push of each and one Sync (msync of the elements,
// then of the header), against bufio writes of each, Flush and one fsync
// of the file. One op is one batch; the paired run does one of each per
// op, timing each side, so that both meet the same load on the disk (the
// ratio is the median of the pairs').
func BenchmarkVecAppendSync(b *testing.B) {
	b.Run("16B", func(b *testing.B) { benchAppendSync(b, elem16{A: 1, B: 2}) })
	b.Run("256B", func(b *testing.B) { benchAppendSync(b, elem256{W: [32]uint64{1, 2, 3}}) })
}

func benchAppendSync[T any](b *testing.B, x T) {
	b.Run("vec", func(b *testing.B) {
		batch := vecBatcher(b, x)
		for b.Loop() {
			batch()
		}
	})
	b.Run("bufio-file", func(b *testing.B) {
		batch := fileBatcher(b, x)
		for b.Loop() {
			batch()
		}
	})
	b.Run("paired", func(b *testing.B) {
		vb, fb := vecBatcher(b, x), fileBatcher(b, x)
		b.SetBytes(0) // the two sides' time is one op: MB/s would mean nothing
		pairUp(b, 1, "bufio-ns/batch", "vec-ns/batch", "vec/bufio", func(int) { fb() }, func(int) { vb() })
	})
}

// vecBatcher returns a function that pushes a batch of x to a vector on
// the disk and Syncs it.
func vecBatcher[T any](b *testing.B, x T) func() {
	size := int(unsafe.Sizeof(x))
	round := vecRound / size / vecDurableBatch * vecDurableBatch
	v, err := vec.Create[T](engine.OSFS{}, filepath.Join(diskDir(b), "v.vec"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	b.SetBytes(int64(size * vecDurableBatch))
	return func() {
		if v.Len() == round {
			v.Truncate(0)
		}
		for range vecDurableBatch {
			if err := v.Push(x); err != nil {
				b.Fatal(err)
			}
		}
		if err := v.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// fileBatcher returns a function that writes a batch of x's bytes to a
// file on the disk through bufio, flushes and fsyncs it.
func fileBatcher[T any](b *testing.B, x T) func() {
	size := int(unsafe.Sizeof(x))
	round := vecRound / size / vecDurableBatch * vecDurableBatch
	f, err := os.Create(filepath.Join(diskDir(b), "f"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	w := bufio.NewWriter(f)
	p := unsafe.Slice((*byte)(unsafe.Pointer(&x)), size)
	n := 0
	b.SetBytes(int64(size * vecDurableBatch))
	return func() {
		if n == round {
			f.Seek(0, 0)
			n = 0
		}
		for range vecDurableBatch {
			if _, err := w.Write(p); err != nil {
				b.Fatal(err)
			}
		}
		n += vecDurableBatch
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVecSync is what Sync costs against its floor: k elements of 16
// bytes appended, then Sync (the elements' pages msynced, then the
// header's page stored and msynced), against the same bytes stored into a
// plain mapping of a file and msynced once (engine.Persist on a
// MappedFile region: one msync of the pages). Both on the disk, the
// mapping warm and its blocks allocated; one op is k elements and their
// Sync. The paired run does one of each per op, timing each side, so
// that both meet the same load on the disk (the ratio is the median of
// the pairs').
func BenchmarkVecSync(b *testing.B) {
	for _, k := range []int{1, 256, 4096} {
		b.Run("elements="+itoa(k)+"/vec", func(b *testing.B) {
			sync := vecSyncer(b, k)
			for b.Loop() {
				sync()
			}
		})
		b.Run("elements="+itoa(k)+"/msync-floor", func(b *testing.B) {
			floor := msyncFloor(b, k)
			for b.Loop() {
				floor()
			}
		})
		b.Run("elements="+itoa(k)+"/paired", func(b *testing.B) {
			sync, floor := vecSyncer(b, k), msyncFloor(b, k)
			b.SetBytes(0) // the two sides' time is one op: MB/s would mean nothing
			pairUp(b, 1, "floor-ns/sync", "vec-ns/sync", "vec/floor", func(int) { floor() }, func(int) { sync() })
		})
	}
}

// vecSyncer returns a function that appends k elements of 16 bytes to a
// vector on the disk and Syncs it.
func vecSyncer(b *testing.B, k int) func() {
	v, err := vec.Create[elem16](engine.OSFS{}, filepath.Join(diskDir(b), "v.vec"), &vec.Options{Capacity: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	xs := make([]elem16, k)
	b.SetBytes(int64(16 * k))
	return func() {
		if v.Len()+k > v.Cap() {
			v.Truncate(0)
		}
		if err := v.Append(xs...); err != nil {
			b.Fatal(err)
		}
		if err := v.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// msyncFloor returns a function that stores k*16 bytes into a mapping of
// a file on the disk, after the last, and msyncs their pages.
func msyncFloor(b *testing.B, k int) func() {
	const size = 4096 + 16<<20
	fsys := engine.OSFS{}
	f, err := engine.Create(fsys, filepath.Join(diskDir(b), "m"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if err := engine.Allocate(f, 0, size); err != nil {
		b.Fatal(err)
	}
	r, err := fsys.Map(f, size)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	if r.Medium() != engine.MappedFile {
		b.Fatalf("medium %v: $TMPDIR must be on a disk", r.Medium())
	}
	p := make([]byte, 16*k)
	off := int64(4096)
	b.SetBytes(int64(16 * k))
	return func() {
		if off+int64(len(p)) > size {
			off = 4096
		}
		if _, err := r.WriteAt(p, off); err != nil {
			b.Fatal(err)
		}
		if err := engine.Persist(r, off, int64(len(p))); err != nil {
			b.Fatal(err)
		}
		off += int64(len(p))
	}
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		if n /= 10; n == 0 {
			return s
		}
	}
}

// vecReadIndexes are random indexes into 2^20 elements, drawn once so that
// both sides read the same elements in the same order.
var vecReadIndexes = func() []int {
	rng := rand.New(rand.NewPCG(5, 6))
	idx := make([]int, 1<<16)
	for i := range idx {
		idx[i] = rng.IntN(1 << 20)
	}
	return idx
}()

// BenchmarkVecAt reads random elements of 2^20 (16 MiB of 16-byte
// elements, 256 MiB of 256-byte ones), each read as a value (x := s[i],
// as At returns a copy) and summed whole: vec's At, an index of its View
// (a Go slice of the mapping itself), and an index of a Go slice of the
// same elements on the heap. The mapping is on /dev/shm and warm (every
// element read once before the timer starts).
//
// The paired runs put At beside an index in one loop, in alternate
// batches (see pairUp): paired-view beside the View's, the same memory —
// what At's code costs over a slice's — and paired-heap beside the heap
// slice's, where the memory differs too: the heap may be backed by huge
// pages, the shared-memory mapping never is (shmem_enabled=never), and a
// random read is mostly a cache and TLB miss. The code is written for
// each type, not generic, as a program's is: a generic benchmark would pay
// dictionary calls neither side pays in a program.
func BenchmarkVecAt(b *testing.B) {
	b.Run("16B", func(b *testing.B) {
		s := make([]elem16, 1<<20)
		for i := range s {
			s[i] = elem16{A: uint64(i)}
		}
		v := readVec(b, s)
		view := v.View()
		var sum uint64
		at := func(i int) {
			for j := i; j < i+vecPairBatch; j++ {
				x, err := v.At(vecReadIndexes[j&vecReadMask])
				if err != nil {
					b.Fatal(err)
				}
				sum += x.A + x.B
			}
		}
		index := func(s []elem16) func(int) {
			return func(i int) {
				for j := i; j < i+vecPairBatch; j++ {
					x := s[vecReadIndexes[j&vecReadMask]]
					sum += x.A + x.B
				}
			}
		}
		benchReads(b, at, index(view), index(s))
		sink = int(sum)
	})
	b.Run("256B", func(b *testing.B) {
		s := make([]elem256, 1<<20)
		for i := range s {
			s[i] = elem256{W: [32]uint64{uint64(i)}}
		}
		v := readVec(b, s)
		view := v.View()
		var sum uint64
		at := func(i int) {
			for j := i; j < i+vecPairBatch; j++ {
				x, err := v.At(vecReadIndexes[j&vecReadMask])
				if err != nil {
					b.Fatal(err)
				}
				sum += x.sum()
			}
		}
		index := func(s []elem256) func(int) {
			return func(i int) {
				for j := i; j < i+vecPairBatch; j++ {
					x := s[vecReadIndexes[j&vecReadMask]]
					sum += x.sum()
				}
			}
		}
		benchReads(b, at, index(view), index(s))
		sink = int(sum)
	})
}

// vecReadMask wraps an index into vecReadIndexes.
const vecReadMask = 1<<16 - 1

// benchReads runs the read benchmarks of BenchmarkVecAt: each function
// reads vecPairBatch elements from index i of vecReadIndexes on.
func benchReads(b *testing.B, at, view, heap func(i int)) {
	alone := func(f func(int)) func(*testing.B) {
		return func(b *testing.B) {
			for op := 0; b.Loop(); op++ {
				f(op * vecPairBatch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*vecPairBatch), "ns/read")
		}
	}
	b.Run("vec-at", alone(at))
	b.Run("vec-view", alone(view))
	b.Run("slice", alone(heap))
	b.Run("paired-view", func(b *testing.B) {
		pairUp(b, vecPairBatch, "at-ns/read", "view-ns/read", "speed-vs-slice", at, view)
	})
	b.Run("paired-heap", func(b *testing.B) {
		pairUp(b, vecPairBatch, "at-ns/read", "heap-ns/read", "speed-vs-slice", at, heap)
	})
}

// readVec returns a vector on /dev/shm holding s, its mapping warm.
func readVec[T any](b *testing.B, s []T) *vec.Vec[T] {
	v, err := vec.Create[T](engine.OSFS{}, filepath.Join(shmDir(b), "v.vec"), &vec.Options{Capacity: len(s)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	if err := v.Append(s...); err != nil {
		b.Fatal(err)
	}
	for range v.All() {
	}
	return v
}

// vecPairBatch is how many reads each side of a paired run makes in a
// row: enough that two clock readings cost nothing beside them, few
// enough that both sides meet the same load.
const vecPairBatch = 4096

// pairUp runs a and b once each per op, in turns — a first in even ops,
// b first in odd ones, so that neither gains from coming second — each
// given the number of units done before (the op's index times units).
// It reports each side's mean time per unit, named aName and bName, and
// as ratioName the median over the ops of b's time over a's: the median
// of ratios taken milliseconds apart is what other work on the machine
// disturbs least.
func pairUp(bm *testing.B, units int, aName, bName, ratioName string, a, b func(i int)) {
	var ta, tb time.Duration
	var ratios []float64
	for op := 0; bm.Loop(); op++ {
		i := op * units
		var da, db time.Duration
		t0 := time.Now()
		if op%2 == 0 {
			a(i)
			t1 := time.Now()
			b(i)
			da, db = t1.Sub(t0), time.Since(t1)
		} else {
			b(i)
			t1 := time.Now()
			a(i)
			db, da = t1.Sub(t0), time.Since(t1)
		}
		ta += da
		tb += db
		ratios = append(ratios, float64(db)/float64(da))
	}
	if len(ratios) == 0 {
		return
	}
	slices.Sort(ratios)
	n := float64(len(ratios) * units)
	bm.ReportMetric(float64(ta.Nanoseconds())/n, aName)
	bm.ReportMetric(float64(tb.Nanoseconds())/n, bName)
	bm.ReportMetric(ratios[len(ratios)/2], ratioName)
}
