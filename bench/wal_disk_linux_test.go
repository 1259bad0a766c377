package bench

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

// BenchmarkWALDiskFloor measures what the disk itself charges the WAL
// benchmarks, with no log at all: one write at the end of the data, then
// one sync, over and over, in a 64 MiB file prepared three ways —
//
//   - sparse: extended with ftruncate, as crashsim's segments are (each
//     sync also commits the allocation of the blocks written);
//   - fallocate: blocks reserved, unwritten, as etcd's segments are (each
//     sync also commits their conversion to written extents);
//   - zeroed: every block written and synced beforehand, as crashsim's
//     segments are with Options.ZeroFill and etcd's are not (a sync has
//     nothing but data to commit) —
//
// and synced with fsync (crashsim, tidwall) or fdatasync (etcd). The
// writes are the frame bytes of one batch of 1,000 100-byte entries
// (120,000 bytes) and of one 100-byte entry (120 bytes); ns/op is per
// write and sync. docs/BENCHMARKS.md compares the logs with this floor.
func BenchmarkWALDiskFloor(b *testing.B) {
	const segment = 64 << 20
	preps := []struct {
		name string
		prep func(f *os.File) error
	}{
		{"sparse", func(f *os.File) error { return f.Truncate(segment) }},
		{"fallocate", func(f *os.File) error { return syscall.Fallocate(int(f.Fd()), 0, 0, segment) }},
		{"zeroed", func(f *os.File) error {
			zeros := make([]byte, 1<<20)
			for off := int64(0); off < segment; off += int64(len(zeros)) {
				if _, err := f.WriteAt(zeros, off); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	syncs := []struct {
		name string
		sync func(f *os.File) error
	}{
		{"fsync", (*os.File).Sync},
		{"fdatasync", func(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }},
	}
	for _, size := range []int{120_000, 120} {
		for _, p := range preps {
			for _, s := range syncs {
				b.Run(fmt.Sprintf("write=%d/%s/%s", size, p.name, s.name), func(b *testing.B) {
					dir := walDir(b)
					files := 0
					// fresh returns a new prepared file: a full one is
					// replaced, never written again from the start, where
					// its blocks would be written already.
					fresh := func() *os.File {
						files++
						f, err := os.OpenFile(fmt.Sprintf("%s/floor-%d", dir, files), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
						if err != nil {
							b.Fatal(err)
						}
						if err := p.prep(f); err != nil {
							b.Fatal(err)
						}
						if err := f.Sync(); err != nil {
							b.Fatal(err)
						}
						return f
					}
					f := fresh()
					data := walPayload(size)
					b.SetBytes(int64(size))
					off := int64(0)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if off+int64(size) > segment {
							b.StopTimer()
							f.Close()
							os.Remove(f.Name())
							f, off = fresh(), 0
							b.StartTimer()
						}
						if _, err := f.WriteAt(data, off); err != nil {
							b.Fatal(err)
						}
						if err := s.sync(f); err != nil {
							b.Fatal(err)
						}
						off += int64(size)
					}
					b.StopTimer()
					f.Close()
				})
			}
		}
	}
}
