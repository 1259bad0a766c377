package mount_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

// mountCalls is the number of system calls one round of BenchmarkCalls
// makes on the mount: open (create), write, fsync, close, rename, open of
// the directory, its fsync, its close, then open, read and close of the
// renamed file.
const mountCalls = 11

// BenchmarkCalls measures what the FUSE mount costs per call (issue 14
// section 4): one round of a small workload — create a file, write 4 KiB,
// fsync, rename it over the previous round's, fsync the directory, read
// it back — through the mount with package os, against the same calls
// directly on engine.FS of the same simulated machine's process. The file
// names are the same every round, so the disk stays the same size.
// Reported per round (ns/op); the mount's side also per system call
// (ns/syscall).
//
// The mount's side holds every file the kernel released until the mount
// closes (the simulated close is deferred, see Implementation notes), so a
// long run grows that list; a short -benchtime keeps it small.
func BenchmarkCalls(b *testing.B) {
	data := bytes.Repeat([]byte("crashsim"), 4096/8)
	m := sim.NewMachine()
	p := m.Start("bench")
	mnt, err := mount.Serve(func(int) engine.FS { return p.FS() }, mount.Options{})
	mount.Require(b, err)
	defer func() {
		if err := mnt.Close(); err != nil {
			b.Error(err)
		}
	}()

	b.Run("mount", func(b *testing.B) {
		dir := mnt.Dir()
		tmp, name := filepath.Join(dir, "bench.tmp"), filepath.Join(dir, "bench")
		buf := make([]byte, len(data))
		for b.Loop() {
			f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			ok(b, err)
			_, err = f.Write(data)
			ok(b, err)
			ok(b, f.Sync())
			ok(b, f.Close())
			ok(b, os.Rename(tmp, name))
			d, err := os.Open(dir)
			ok(b, err)
			ok(b, d.Sync())
			ok(b, d.Close())
			f, err = os.Open(name)
			ok(b, err)
			_, err = f.ReadAt(buf, 0)
			ok(b, err)
			ok(b, f.Close())
			if !bytes.Equal(buf, data) {
				b.Fatal("read back other bytes than written")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*mountCalls), "ns/syscall")
	})

	b.Run("engine", func(b *testing.B) {
		fsys := p.FS()
		buf := make([]byte, len(data))
		for b.Loop() {
			f, err := fsys.OpenFile("/enginebench.tmp", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			ok(b, err)
			_, err = f.WriteAt(data, 0)
			ok(b, err)
			ok(b, f.Sync())
			ok(b, f.Close())
			ok(b, fsys.Rename("/enginebench.tmp", "/enginebench"))
			// engine.FS has no directory handle: SyncDir is the open,
			// fsync and close of the directory in one call.
			ok(b, fsys.SyncDir("/"))
			f, err = fsys.OpenFile("/enginebench", os.O_RDONLY, 0)
			ok(b, err)
			_, err = f.ReadAt(buf, 0)
			ok(b, err)
			ok(b, f.Close())
			if !bytes.Equal(buf, data) {
				b.Fatal("read back other bytes than written")
			}
		}
	})
}

func ok(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
