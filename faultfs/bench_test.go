package faultfs

import (
	"fmt"
	"math/rand/v2"
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
