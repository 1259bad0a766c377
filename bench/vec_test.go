package bench

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
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
// op, timing each side, so that both meet the same load on the disk.
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
		var spent [2]time.Duration
		for b.Loop() {
			t0 := time.Now()
			vb()
			t1 := time.Now()
			fb()
			spent[0] += t1.Sub(t0)
			spent[1] += time.Since(t1)
		}
		v, f := float64(spent[0].Nanoseconds())/float64(b.N), float64(spent[1].Nanoseconds())/float64(b.N)
		b.ReportMetric(v, "vec-ns/batch")
		b.ReportMetric(f, "bufio-ns/batch")
		b.ReportMetric(v/f, "vec/bufio")
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
// that both meet the same load on the disk.
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
			var spent [2]time.Duration
			for b.Loop() {
				t0 := time.Now()
				sync()
				t1 := time.Now()
				floor()
				spent[0] += t1.Sub(t0)
				spent[1] += time.Since(t1)
			}
			v, f := float64(spent[0].Nanoseconds())/float64(b.N), float64(spent[1].Nanoseconds())/float64(b.N)
			b.ReportMetric(v, "vec-ns/sync")
			b.ReportMetric(f, "floor-ns/sync")
			b.ReportMetric(v/f, "vec/floor")
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
// as At returns a copy) and summed whole: vec's At and an index of its
// View, against an index of a Go slice of the same elements; and the
// vector's At and the slice's index paired in one loop, in alternate
// batches, so that both meet the same load. The mapping is on /dev/shm
// and warm (every element read once before the timer starts). The code
// is written for each type, not generic, as a program's is: a generic
// benchmark would pay dictionary calls neither side pays in a program.
func BenchmarkVecAt(b *testing.B) {
	mask := len(vecReadIndexes) - 1
	b.Run("16B", func(b *testing.B) {
		s := make([]elem16, 1<<20)
		for i := range s {
			s[i] = elem16{A: uint64(i)}
		}
		v := readVec(b, s)
		b.Run("vec-at", func(b *testing.B) {
			var sum uint64
			for i := 0; b.Loop(); i++ {
				x, err := v.At(vecReadIndexes[i&mask])
				if err != nil {
					b.Fatal(err)
				}
				sum += x.A + x.B
			}
			sink = int(sum)
		})
		b.Run("vec-view", func(b *testing.B) {
			view := v.View()
			var sum uint64
			for i := 0; b.Loop(); i++ {
				x := view[vecReadIndexes[i&mask]]
				sum += x.A + x.B
			}
			sink = int(sum)
		})
		b.Run("slice", func(b *testing.B) {
			var sum uint64
			for i := 0; b.Loop(); i++ {
				x := s[vecReadIndexes[i&mask]]
				sum += x.A + x.B
			}
			sink = int(sum)
		})
		b.Run("paired", func(b *testing.B) {
			var spent [2]time.Duration
			var sum uint64
			for i := 0; b.Loop(); i += vecPairBatch {
				t0 := time.Now()
				for j := i; j < i+vecPairBatch; j++ {
					x, err := v.At(vecReadIndexes[j&mask])
					if err != nil {
						b.Fatal(err)
					}
					sum += x.A + x.B
				}
				t1 := time.Now()
				for j := i; j < i+vecPairBatch; j++ {
					x := s[vecReadIndexes[j&mask]]
					sum += x.A + x.B
				}
				spent[0] += t1.Sub(t0)
				spent[1] += time.Since(t1)
			}
			sink = int(sum)
			reportPaired(b, spent)
		})
	})
	b.Run("256B", func(b *testing.B) {
		s := make([]elem256, 1<<20)
		for i := range s {
			s[i] = elem256{W: [32]uint64{uint64(i)}}
		}
		v := readVec(b, s)
		b.Run("vec-at", func(b *testing.B) {
			var sum uint64
			for i := 0; b.Loop(); i++ {
				x, err := v.At(vecReadIndexes[i&mask])
				if err != nil {
					b.Fatal(err)
				}
				sum += x.sum()
			}
			sink = int(sum)
		})
		b.Run("vec-view", func(b *testing.B) {
			view := v.View()
			var sum uint64
			for i := 0; b.Loop(); i++ {
				x := view[vecReadIndexes[i&mask]]
				sum += x.sum()
			}
			sink = int(sum)
		})
		b.Run("slice", func(b *testing.B) {
			var sum uint64
			for i := 0; b.Loop(); i++ {
				x := s[vecReadIndexes[i&mask]]
				sum += x.sum()
			}
			sink = int(sum)
		})
		b.Run("paired", func(b *testing.B) {
			var spent [2]time.Duration
			var sum uint64
			for i := 0; b.Loop(); i += vecPairBatch {
				t0 := time.Now()
				for j := i; j < i+vecPairBatch; j++ {
					x, err := v.At(vecReadIndexes[j&mask])
					if err != nil {
						b.Fatal(err)
					}
					sum += x.sum()
				}
				t1 := time.Now()
				for j := i; j < i+vecPairBatch; j++ {
					x := s[vecReadIndexes[j&mask]]
					sum += x.sum()
				}
				spent[0] += t1.Sub(t0)
				spent[1] += time.Since(t1)
			}
			sink = int(sum)
			reportPaired(b, spent)
		})
	})
}

// vecPairBatch is how many reads each side of a paired run makes in a
// row: enough that two clock readings cost nothing beside them, few
// enough that both sides meet the same load.
const vecPairBatch = 4096

// reportPaired reports the time per read of each side of a paired run,
// and the vector's speed as a fraction of the slice's (the target is at
// least 0.9). One op of a paired run is a batch of each.
func reportPaired(b *testing.B, spent [2]time.Duration) {
	reads := float64(b.N) * vecPairBatch
	v, s := float64(spent[0].Nanoseconds())/reads, float64(spent[1].Nanoseconds())/reads
	b.ReportMetric(v, "vec-ns/read")
	b.ReportMetric(s, "slice-ns/read")
	b.ReportMetric(s/v, "speed-vs-slice")
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
