package bench

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/crashsim/crashsim/bench/libpmem"
	"github.com/crashsim/crashsim/engine"
)

// regionSize is the mapping the persist benchmarks store into.
const regionSize = 64 << 20

// persistOffsets are random 64-byte-aligned offsets in the mapping, drawn
// once so that both sides store to the same lines in the same order.
var persistOffsets = func() []int {
	rng := rand.New(rand.NewPCG(1, 2))
	offs := make([]int, 1<<14)
	for i := range offs {
		offs[i] = rng.IntN(regionSize/64) * 64
	}
	return offs
}()

func shmDir(b *testing.B) string {
	dir, err := os.MkdirTemp("/dev/shm", "crashsim-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// BenchmarkPersist64 stores 64 bytes at a random offset of a 64 MiB mapping
// on /dev/shm and makes them durable, in forced persistent-memory mode (cache
// line flushes and a fence: PMEM_IS_PMEM_FORCE=1) and in msync mode, with
// crashsim's engine.Region and with libpmem's pmem_memcpy_persist /
// pmem_msync side by side.
func BenchmarkPersist64(b *testing.B) {
	src := make([]byte, 64)
	for i := range src {
		src[i] = byte(i)
	}
	for _, mode := range []struct {
		name   string
		medium engine.Medium
	}{{"pmem-forced", engine.PMem}, {"msync", engine.MappedFile}} {
		b.Run(mode.name+"/crashsim", func(b *testing.B) {
			fsys := engine.OSFS{Medium: mode.medium}
			f, err := engine.Create(fsys, filepath.Join(shmDir(b), "pool"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			r, err := fsys.Map(f, regionSize)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			if r.Medium() != mode.medium {
				b.Fatalf("medium %v, want %v", r.Medium(), mode.medium)
			}
			for off := int64(0); off < regionSize; off += engine.PageSize {
				r.Store64(off, 0) // fault every page in, as for libpmem below
			}
			b.SetBytes(64)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				off := int64(persistOffsets[i&(len(persistOffsets)-1)])
				if _, err := r.WriteAt(src, off); err != nil {
					b.Fatal(err)
				}
				if err := engine.Persist(r, off, 64); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode.name+"/libpmem", func(b *testing.B) {
			m, err := libpmem.Map(filepath.Join(shmDir(b), "pool"), regionSize)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			zero := make([]byte, 8)
			for off := 0; off < regionSize; off += engine.PageSize {
				m.MemcpyPersist(off, zero)
			}
			b.SetBytes(64)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				off := persistOffsets[i&(len(persistOffsets)-1)]
				if mode.medium == engine.PMem {
					m.MemcpyPersist(off, src)
				} else if err := m.MemcpyMsync(off, src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
