package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
)

// The pool of the open benchmark: 1 GiB, of which crashPoolKeys entries
// of a 1 KiB value fill about 300 MiB; the transaction the crash
// interrupts overwrites crashTxKeys of them, a log of about 2 MiB of the
// 4 MiB the pool's log holds.
const (
	crashPoolSize  = 1 << 30
	crashPoolKeys  = 1 << 18
	crashValueLen  = 1024
	crashTxKeys    = 2000
	crashKillAfter = crashTxKeys / 2 // in-place writes before the kill
	crashDirEnv    = "CRASHSIM_BENCH_CRASH_DIR"
)

// crashFS is OSFS whose mappings kill the process, once armed, in the
// middle of a commit's writes in place: after crashKillAfter writes at or
// beyond the heap. The undo log is durable by then, half of the data new.
type crashFS struct {
	engine.OSFS
	heapOff *atomic.Int64 // 0 until armed
	writes  *atomic.Int64
}

func (fsys crashFS) Map(f engine.File, length int64) (engine.Region, error) {
	r, err := fsys.OSFS.Map(f, length)
	if err != nil {
		return nil, err
	}
	return crashRegion{r, fsys}, nil
}

type crashRegion struct {
	engine.Region
	fsys crashFS
}

func (r crashRegion) WriteAt(p []byte, off int64) (int, error) {
	n, err := r.Region.WriteAt(p, off)
	if h := r.fsys.heapOff.Load(); h != 0 && off >= h && r.fsys.writes.Add(1) == crashKillAfter {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	return n, err
}

type crashTag struct{}

type crashRoot struct{ M tx.Map[crashTag] }

// crashValue is the value of key i in version gen.
func crashValue(v []byte, i, gen int) []byte {
	for w := 0; w < len(v); w += 8 {
		v[w] = byte(i)
		v[w+1] = byte(i >> 8)
		v[w+2] = byte(i >> 16)
		v[w+3] = byte(gen)
	}
	return v
}

// makeCrashedPool creates the 1 GiB pool in dir, fills it, and dies in
// the middle of the commit of one more transaction. It runs in a child
// process and does not return.
func makeCrashedPool(dir string) error {
	fsys := crashFS{OSFS: engine.OSFS{Medium: engine.PMem}, heapOff: new(atomic.Int64), writes: new(atomic.Int64)}
	p, err := tx.Create[crashTag, crashRoot](fsys, filepath.Join(dir, "pool"), &tx.Options{Size: crashPoolSize})
	if err != nil {
		return err
	}
	root := p.Root()
	var m tx.Map[crashTag]
	if err := p.Update(func(t *tx.Tx[crashTag]) (err error) {
		if m, err = tx.NewMap(t); err != nil {
			return err
		}
		return root.Set(t, crashRoot{M: m})
	}); err != nil {
		return err
	}
	v := make([]byte, crashValueLen)
	for lo := 0; lo < crashPoolKeys; lo += mapBatch {
		if err := p.Update(func(t *tx.Tx[crashTag]) error {
			for i := lo; i < min(lo+mapBatch, crashPoolKeys); i++ {
				if err := m.Put(t, mapKeyAt(i), crashValue(v, i, 0)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	fsys.heapOff.Store(p.Info().HeapOff)
	err = p.Update(func(t *tx.Tx[crashTag]) error {
		for i := range crashTxKeys {
			k := i * (crashPoolKeys / crashTxKeys)
			if err := m.Put(t, mapKeyAt(k), crashValue(v, k, 1)); err != nil {
				return err
			}
		}
		return nil
	})
	return fmt.Errorf("the transaction the crash should interrupt returned %v", err)
}

// copySparse copies the file src to a new file dst, skipping holes, so
// that the copy of a 1 GiB pool costs what it holds.
func copySparse(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := out.Truncate(fi.Size()); err != nil {
		return err
	}
	const seekData, seekHole = 3, 4
	for off := int64(0); off < fi.Size(); {
		start, err := in.Seek(off, seekData)
		if err != nil {
			if errors.Is(err, syscall.ENXIO) {
				break // no data after off
			}
			return err
		}
		end, err := in.Seek(start, seekHole)
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.NewOffsetWriter(out, start), io.NewSectionReader(in, start, end-start)); err != nil {
			return err
		}
		off = end
	}
	return nil
}

// BenchmarkOpenAfterCrash opens a 1 GiB pool whose writer was killed
// (SIGKILL, a process crash: every store it made is in the file) in the
// middle of a transaction's writes in place: Open finds the unclean flag,
// checks the log and rolls the transaction back, and rebuilds the heap's
// index. Each iteration opens a fresh copy of the crashed file.
func BenchmarkOpenAfterCrash(b *testing.B) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		err := makeCrashedPool(dir)
		fmt.Fprintln(os.Stderr, "makeCrashedPool:", err)
		os.Exit(2)
	}
	dir := shmDir(b)
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkOpenAfterCrash$", "-test.benchtime=1x")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		b.Fatalf("the child that makes the crashed pool should die of SIGKILL: %v\n%s", err, out)
	}
	img := filepath.Join(dir, "crashed.img")
	if err := os.Rename(filepath.Join(dir, "pool"), img); err != nil {
		b.Fatal(err)
	}
	for _, mode := range poolModes {
		b.Run(mode.name, func(b *testing.B) {
			name := filepath.Join(dir, "pool")
			var info tx.Info
			for b.Loop() {
				b.StopTimer()
				os.Remove(name)
				if err := copySparse(img, name); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				p, err := tx.Open[crashTag, crashRoot](engine.OSFS{Medium: mode.medium}, name, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				info = p.Info()
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			if !info.Unclean || !info.RolledBack || info.LogEntries < crashTxKeys || info.Medium != mode.medium {
				b.Fatalf("Open found unclean %v, rolled back %v, %d ranges, medium %v: want an unclean %v pool and a rollback of at least %d ranges",
					info.Unclean, info.RolledBack, info.LogEntries, info.Medium, mode.medium, crashTxKeys)
			}
			b.ReportMetric(float64(info.LogEntries), "ranges-rolled-back")
		})
	}
}
