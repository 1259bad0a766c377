package engine

import (
	"math/rand/v2"
	"os"
	"testing"
)

// BenchmarkPersist64 stores 64 bytes at a random 64-byte-aligned offset of a
// 64 MiB mapping and persists them: the operation libpmem's
// pmem_memcpy_persist does. The offsets are drawn before the clock starts.
func BenchmarkPersist64(b *testing.B) {
	const size = 64 << 20
	shm := func(b *testing.B) string {
		if _, err := os.Stat("/dev/shm"); err != nil {
			b.Skip("/dev/shm does not exist on this system")
		}
		dir, err := os.MkdirTemp("/dev/shm", "crashsim-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	cases := []struct {
		name   string
		fsys   OSFS
		dir    func(*testing.B) string
		medium Medium
	}{
		{"pmem-forced-shm", OSFS{Medium: PMem}, shm, PMem},
		{"msync-disk", OSFS{}, func(b *testing.B) string { return b.TempDir() }, MappedFile},
		{"shared-memory", OSFS{}, shm, SharedMemory},
		// MappedFile rules on tmpfs: the cost of the msync path itself,
		// without a disk, as libpmem's pmem_msync on /dev/shm measures it.
		{"msync-shm", OSFS{Medium: MappedFile}, shm, MappedFile},
	}
	offs := make([]int64, 1<<14)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range offs {
		offs[i] = rng.Int64N(size/64) * 64
	}
	src := make([]byte, 64)
	for i := range src {
		src[i] = byte(i)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := mapped(b, c.fsys, c.dir(b), size)
			if r.medium != c.medium {
				b.Fatalf("medium %v, want %v", r.medium, c.medium)
			}
			// Fault every page in first, as a pool in use has.
			for off := int64(0); off < size; off += PageSize {
				r.Store64(off, 0)
			}
			if err := Persist(r, 0, size); err != nil {
				b.Fatal(err)
			}
			var region Region = r
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				off := offs[i&(len(offs)-1)]
				if _, err := region.WriteAt(src, off); err != nil {
					b.Fatal(err)
				}
				if err := Persist(region, off, 64); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBatch writes three 64-byte lines as engine/tx writes a log —
// in each, a zero store to its last word, its first 56 bytes, then its
// last word — and flushes them, on shared memory (where a flush does
// nothing, so what is measured is the calls): as separate calls, as one
// Batch, and as one Batch whose word stores are 8-byte writes (failure-
// atomic as well, aligned, but no locked instruction: engine/tx's marks).
func BenchmarkBatch(b *testing.B) {
	if _, err := os.Stat("/dev/shm"); err != nil {
		b.Skip("/dev/shm does not exist on this system")
	}
	dir, err := os.MkdirTemp("/dev/shm", "crashsim-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	r := mapped(b, OSFS{}, dir, 1<<20)
	var region Region = r
	line := make([]byte, 56)
	zero, mark := make([]byte, 8), make([]byte, 8)
	b.Run("calls", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			for l := int64(0); l < 3; l++ {
				off := 4096 + l*64
				region.Store64(off+56, 0)
				region.WriteAt(line, off)
				region.Store64(off+56, uint64(i))
			}
			region.Flush(4096, 192)
		}
	})
	for _, words := range []string{"store64", "write8"} {
		b.Run("batch-"+words, func(b *testing.B) {
			var bt Batch
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				bt.Reset()
				for l := int64(0); l < 3; l++ {
					off := 4096 + l*64
					if words == "store64" {
						bt.Store64(off+56, 0)
						bt.WriteAt(line, off)
						bt.Store64(off+56, uint64(i))
					} else {
						bt.WriteAt(zero, off+56)
						bt.WriteAt(line, off)
						bt.WriteAt(mark, off+56)
					}
				}
				bt.Flush(4096, 192)
				if err := Apply(region, &bt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
