package faultfs

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// newSyncedFile returns an FS with one file of size bytes, written and
// durable.
func newSyncedFile(b *testing.B, size int64) (*FS, engine.File) {
	fsys := New(Options{})
	f, err := engine.Create(fsys, "/f")
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(chunk)) {
		n := min(int64(len(chunk)), size-off)
		if _, err := f.WriteAt(chunk[:n], off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := fsys.SyncDir("/"); err != nil {
		b.Fatal(err)
	}
	return fsys, f
}

// BenchmarkWriteSync is a 4 KiB WriteAt and a Sync at a random block of a
// file: the cost must not grow with the file (target: 64 MiB at most twice
// 64 KiB).
func BenchmarkWriteSync(b *testing.B) {
	for _, size := range []int64{64 << 10, 64 << 20} {
		b.Run(fmt.Sprintf("file=%dKiB", size>>10), func(b *testing.B) {
			_, f := newSyncedFile(b, size)
			rng := rand.New(rand.NewPCG(1, 2))
			page := make([]byte, 4096)
			blocks := size / 4096
			b.SetBytes(4096)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				page[0] = byte(i)
				if _, err := f.WriteAt(page, rng.Int64N(blocks)*4096); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// gib is the crash-clone fixture: 16 files of 64 MiB, written and synced,
// then 256 random 4 KiB writes (1 MiB) not synced. Built once: it takes a
// second and a gigabyte.
var gib struct {
	once sync.Once
	fs   *FS
}

func gibFS(b *testing.B) *FS {
	gib.once.Do(func() {
		fsys := New(Options{})
		chunk := make([]byte, 1<<20)
		var files []engine.File
		for i := range 16 {
			f, err := engine.Create(fsys, fmt.Sprintf("/f%02d", i))
			if err != nil {
				b.Fatal(err)
			}
			for off := int64(0); off < 64<<20; off += 1 << 20 {
				chunk[0] = byte(off >> 20)
				if _, err := f.WriteAt(chunk, off); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			files = append(files, f)
		}
		if err := fsys.SyncDir("/"); err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		page := make([]byte, 4096)
		for i := range 256 {
			page[0] = byte(i + 1)
			if _, err := files[rng.IntN(16)].WriteAt(page, rng.Int64N(64<<20/4096)*4096); err != nil {
				b.Fatal(err)
			}
		}
		gib.fs = fsys
	})
	return gib.fs
}

// BenchmarkCrashClone builds one crash image of the 1 GiB fixture with 1
// MiB pending (target: under 1 ms).
func BenchmarkCrashClone(b *testing.B) {
	fsys := gibFS(b)
	for _, mode := range []Strategy{LoseAll, KeepAll, InOrderPrefixes, AllSubsets} {
		b.Run(mode.String(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				fsys.CrashClone(CrashOptions{Mode: mode, Seed: int64(i)})
			}
		})
	}
}

// BenchmarkPending takes the snapshot of the same fixture, and one Clone
// from it.
func BenchmarkPending(b *testing.B) {
	fsys := gibFS(b)
	b.Run("snapshot", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fsys.Pending(4096)
		}
	})
	b.Run("clone", func(b *testing.B) {
		p := fsys.Pending(4096)
		rng := rand.New(rand.NewPCG(5, 6))
		for i := 0; i < b.N; i++ {
			p.Clone(p.random(rng), Tail{})
		}
	})
	b.Run("snapshot-512", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fsys.Pending(512)
		}
	})
}

// BenchmarkRegionStore64 is the cost of one failure-atomic store.
func BenchmarkRegionStore64(b *testing.B) {
	fsys, f := newSyncedFile(b, 1<<20)
	r, err := fsys.Map(f, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if err := r.Store64(int64(i%(1<<17))*8, uint64(i)); err != nil {
			b.Fatal(err)
		}
		if i%4096 == 4095 {
			f.Sync()
		}
	}
}

// BenchmarkPMemImage builds one crash image of a persistent-memory pool:
// a file on a PMem mount mapped at region bytes, written and durable, then
// 64 8-byte stores to 64 distinct lines, not drained. One op is
// Pending(0), the Clone of a random AllSubsets choice, and the clone's
// Fingerprint (target: 256 MiB within twice 1 MiB).
func BenchmarkPMemImage(b *testing.B) {
	for _, size := range []int64{1 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("region=%dMiB", size>>20), func(b *testing.B) {
			fsys := pmemPool(b, size)
			rng := rand.New(rand.NewPCG(11, 12))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := fsys.Pending(0)
				if len(p.Data) != 64 {
					b.Fatalf("%d units pending", len(p.Data))
				}
				p.Clone(p.random(rng), Tail{}).Fingerprint()
			}
		})
	}
}

// pmemPools are the fixtures of BenchmarkPMemImage, built once per size so
// that the garbage of one is not collected in the timed loop of the next.
var pmemPools struct {
	sync.Mutex
	m map[int64]*FS
}

func pmemPool(b *testing.B, size int64) *FS {
	pmemPools.Lock()
	defer pmemPools.Unlock()
	if fsys := pmemPools.m[size]; fsys != nil {
		return fsys
	}
	fsys := New(Options{Mounts: []Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	f, err := engine.Create(fsys, "/pmem/pool")
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(chunk)) {
		chunk[0] = byte(off >> 20)
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := fsys.SyncDir("/pmem"); err != nil {
		b.Fatal(err)
	}
	r, err := fsys.Map(f, size)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	lines := map[int64]bool{}
	for len(lines) < 64 {
		l := rng.Int64N(size / 64)
		if lines[l] {
			continue
		}
		lines[l] = true
		if err := r.Store64(l*64+8*rng.Int64N(8), rng.Uint64()|1); err != nil {
			b.Fatal(err)
		}
	}
	// The durable pool is hashed once, by the first image; its blocks
	// and nodes are shared by every image after.
	p := fsys.Pending(0)
	p.Clone(p.random(rng), Tail{}).Fingerprint()
	if pmemPools.m == nil {
		pmemPools.m = map[int64]*FS{}
	}
	pmemPools.m[size] = fsys
	runtime.GC()
	return fsys
}

// fpFixture is 1 GiB in 16 files of 64 MiB, written and synced, for
// BenchmarkFingerprint alone: the benchmark changes it.
var fpFixture struct {
	once  sync.Once
	fs    *FS
	files []engine.File
}

// BenchmarkFingerprint is the Fingerprint of a 1 GiB file system after a
// 4 KiB write at a random place: its cost is that of the change.
func BenchmarkFingerprint(b *testing.B) {
	fpFixture.once.Do(func() {
		fsys := New(Options{})
		chunk := make([]byte, 1<<20)
		for i := range 16 {
			f, err := engine.Create(fsys, fmt.Sprintf("/f%02d", i))
			if err != nil {
				b.Fatal(err)
			}
			for off := int64(0); off < 64<<20; off += 1 << 20 {
				chunk[0], chunk[1] = byte(i), byte(off>>20)
				if _, err := f.WriteAt(chunk, off); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			fpFixture.files = append(fpFixture.files, f)
		}
		fsys.Fingerprint() // the first one hashes the whole gigabyte
		fpFixture.fs = fsys
	})
	rng := rand.New(rand.NewPCG(9, 10))
	page := make([]byte, 4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		page[0] = byte(i)
		f := fpFixture.files[rng.IntN(16)]
		if _, err := f.WriteAt(page, rng.Int64N(64<<20/4096)*4096); err != nil {
			b.Fatal(err)
		}
		fpFixture.fs.Fingerprint()
	}
}

// BenchmarkPMemLongWorkload is TestRule13LongWorkloadMemory at 64 MiB:
// 1,000,000 8-byte stores, a Persist of the whole pool every 1,000. It
// reports the heap after it.
func BenchmarkPMemLongWorkload(b *testing.B) {
	for i := 0; i < b.N; i++ {
		inuse, alloc := longWorkload(b, 64<<20, 1_000_000)
		b.ReportMetric(float64(inuse>>20), "HeapInuse-MiB")
		b.ReportMetric(float64(alloc>>20), "HeapAlloc-MiB")
	}
}

// BenchmarkSmallImage is the image of a typical crash point of a small
// workload: a handful of names, a 64 KiB persistent-memory file, and one
// 256-byte record pending over five lines. One iteration builds one crash
// state and fingerprints it, as the simulator does for every state.
func BenchmarkSmallImage(b *testing.B) {
	fsys := New(Options{Mounts: []Mount{{Dir: "/pmem", Medium: engine.PMem}, {Dir: "/dev/shm", Medium: engine.SharedMemory}}})
	for _, d := range []string{"/data", "/pmem", "/dev/shm"} {
		if err := fsys.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	f, err := engine.Create(fsys, "/pmem/log")
	if err != nil {
		b.Fatal(err)
	}
	r, err := fsys.Map(f, 64<<10)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	for _, d := range []string{"/", "/pmem", "/dev"} {
		if err := fsys.SyncDir(d); err != nil {
			b.Fatal(err)
		}
	}
	rec := make([]byte, 256)
	for i := range rec {
		rec[i] = byte(i)
	}
	if _, err := r.WriteAt(rec, 64+256*7); err != nil {
		b.Fatal(err)
	}
	p := fsys.Pending(0)
	var choices []Choice
	for c := range p.Choices(AllSubsets, 64, 1) {
		choices = append(choices, c)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Clone(choices[i%len(choices)], Tail{}).Fingerprint()
	}
}
