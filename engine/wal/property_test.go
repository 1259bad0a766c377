package wal_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/engine/wal/fuzz"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
	"pgregory.net/rapid"
)

// heavy is set by CRASHSIM_HEAVY=1 (make test-heavy): the properties run
// ten times as many checks.
var heavy = os.Getenv("CRASHSIM_HEAVY") != ""

// check runs prop with rapid for n checks (ten times more when heavy),
// unless -rapid.checks or RAPID_CHECKS says otherwise: the properties
// differ in cost by orders of magnitude, and rapid has one count for all.
func check(t *testing.T, n int, prop func(*rapid.T)) {
	t.Helper()
	if heavy {
		n *= 10
	}
	f := flag.Lookup("rapid.checks")
	set := os.Getenv("RAPID_CHECKS") != ""
	flag.Visit(func(g *flag.Flag) { set = set || g == f })
	if f != nil && !set {
		old := f.Value.String()
		f.Value.Set(strconv.Itoa(n))
		defer f.Value.Set(old)
	}
	rapid.Check(t, prop)
}

// step is one operation of a drawn workload.
type step struct {
	kind  int // see drawSteps
	sizes []int
}

// drawSteps draws a workload for a log with segments of segSize: appends
// (some larger than a segment), batches, flushes, syncs and reopenings.
func drawSteps(t *rapid.T, segSize int) []step {
	n := rapid.IntRange(1, 10).Draw(t, "steps")
	steps := make([]step, n)
	for i := range steps {
		s := step{kind: rapid.IntRange(0, 7).Draw(t, "kind")}
		switch s.kind {
		case 0, 1, 2:
			s.sizes = []int{rapid.IntRange(0, 1200).Draw(t, "size")}
		case 3:
			s.sizes = []int{segSize + rapid.IntRange(0, 300).Draw(t, "oversize")}
		case 4:
			s.sizes = rapid.SliceOfN(rapid.IntRange(0, 600), 2, 4).Draw(t, "batch")
		}
		steps[i] = s
	}
	return steps
}

// run runs steps on the log in dir, numbering entries from *next, and
// calls durable after each barrier (sync, close) and invoke before each
// entry.
func run(fsys engine.FS, dir string, opts wal.Options, steps []step, invoke func([]byte), durable func()) error {
	w, err := wal.New(fsys, dir, wal.Bytes, opts)
	if err != nil {
		return err
	}
	n := 0
	for _, s := range steps {
		switch s.kind {
		case 0, 1, 2, 3:
			e := entry(n, s.sizes[0])
			n++
			invoke(e)
			_, err = w.Append(e)
		case 4:
			batch := make([][]byte, len(s.sizes))
			for i, size := range s.sizes {
				batch[i] = entry(n, size)
				n++
				invoke(batch[i])
			}
			_, err = w.AppendBatch(batch)
		case 5:
			err = w.Flush()
		case 6:
			if err = w.FlushAndSync(); err == nil {
				durable()
			}
		case 7:
			if err = w.Close(); err == nil {
				durable()
				w, err = wal.Resume(fsys, dir, wal.Bytes, opts)
			}
		}
		if err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	durable()
	return nil
}

// recoverLog is the recovery of the properties: Resume, then a Strict
// replay whose ids must be 1, 2, 3...
func recoverLog(fsys engine.FS, dir string, opts wal.Options) ([][]byte, error) {
	w, err := wal.Resume(fsys, dir, wal.Bytes, opts)
	if err != nil {
		return nil, err
	}
	var log [][]byte
	err = wal.ReplayEach(fsys, dir, wal.Bytes, wal.Strict, func(id uint64, e []byte) error {
		if id != uint64(len(log))+1 {
			return fmt.Errorf("id %d after %d entries", id, len(log))
		}
		log = append(log, e)
		return nil
	})
	return log, errors.Join(err, w.Close())
}

// TestPropertyPrefix: for any workload, at every crash point of a power
// failure (all subsets of the pending units, sampled) and of a process
// crash, recovery returns a prefix of the appended entries that holds
// every entry acknowledged durable (docs/DESIGN.md section 6).
func TestPropertyPrefix(t *testing.T) {
	check(t, 100, func(rt *rapid.T) {
		opts := wal.Options{SegmentSize: int64(rapid.IntRange(wal.MinSegmentSize, 3000).Draw(rt, "segment"))}
		steps := drawSteps(rt, int(opts.SegmentSize))
		sc := &sim.Scenario{
			Name:  "wal-property",
			Model: models.Log(),
			Run: func(env *sim.Env) error {
				return run(env.FS, "/wal", opts, steps,
					func(e []byte) { env.Invoke(models.LogAppend{Record: e}) },
					env.DurableAll)
			},
			Recover: func(env *sim.Env) (any, error) { return recoverLog(env.FS, "/wal", opts) },
		}
		for _, o := range []sim.Options{
			{Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 8, Granularity: 512},
			{Fault: sim.ProcessCrash},
		} {
			res, err := sim.Explore(sc, o)
			if err != nil {
				rt.Fatal(err)
			}
			if res.RunError != "" {
				rt.Fatalf("the workload failed: %s", res.RunError)
			}
			for _, v := range res.Violations {
				rt.Fatalf("%v crash: %s", o.Fault, v.String())
			}
		}
	})
}

// files returns the content of every file of dir.
func files(t interface{ Fatal(...any) }, fsys engine.FS, dir string) map[string]string {
	des, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, de := range des {
		b, err := engine.ReadFile(fsys, path.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[de.Name()] = string(b)
	}
	return out
}

// TestPropertyResumeIsIdempotent: on any crash image of any workload,
// Resume keeps exactly the entries best-effort replay reads, leaves a log
// that reads back Strict, and a second Resume changes nothing.
func TestPropertyResumeIsIdempotent(t *testing.T) {
	check(t, 100, func(rt *rapid.T) {
		opts := wal.Options{SegmentSize: int64(rapid.IntRange(wal.MinSegmentSize, 3000).Draw(rt, "segment"))}
		steps := drawSteps(rt, int(opts.SegmentSize))
		fsys := faultfs.New(faultfs.Options{})
		var appended [][]byte
		if err := run(fsys, "/wal", opts, steps, func(e []byte) { appended = append(appended, e) }, func() {}); err != nil {
			rt.Fatal(err)
		}
		// Crash at a random earlier point: replay the workload up to it.
		img := crashImage(rt, opts, steps)
		best, err := wal.Replay(img, "/wal", wal.Bytes, wal.BestEffort)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil // the crash came before the directory was made
		}
		if err != nil {
			rt.Fatalf("best-effort replay of a crash image: %v", err)
		}
		for i, e := range best {
			if e.ID != uint64(i+1) || i >= len(appended) || !bytes.Equal(e.Value, appended[i]) {
				rt.Fatalf("best effort returned entry %d (id %d) that was not appended", i, e.ID)
			}
		}
		log, err := recoverLog(img, "/wal", opts)
		if err != nil {
			rt.Fatal(err)
		}
		if len(log) != len(best) {
			rt.Fatalf("Resume kept %d entries, best effort read %d", len(log), len(best))
		}
		before := files(rt, img, "/wal")
		w, err := wal.Resume(img, "/wal", wal.Bytes, opts)
		if err != nil {
			rt.Fatal(err)
		}
		if r := w.Repairs(); len(r) != 0 {
			rt.Fatalf("second Resume repaired %v", r)
		}
		if err := w.Close(); err != nil {
			rt.Fatal(err)
		}
		if after := files(rt, img, "/wal"); !maps.Equal(before, after) {
			rt.Fatalf("second Resume changed the files: %v -> %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
		}
	})
}

// crashImage runs steps on a fresh faultfs, stopping after a drawn number
// of its operations, and returns a drawn crash image of that point.
func crashImage(rt *rapid.T, opts wal.Options, steps []step) *faultfs.FS {
	total := 0
	counter := faultfs.New(faultfs.Options{Observe: func(faultfs.Op) { total++ }})
	run(counter, "/wal", opts, steps, func([]byte) {}, func() {})
	cut := rapid.IntRange(0, total).Draw(rt, "crash after")
	ops := 0
	fsys := faultfs.New(faultfs.Options{})
	fsys.SetInjector(injectorFunc(func(op faultfs.Op) faultfs.Fault {
		ops++
		if ops > cut {
			return faultfs.Error(syscall.EIO) // the workload stops here
		}
		return faultfs.Fault{}
	}))
	run(fsys, "/wal", opts, steps, func([]byte) {}, func() {})
	fsys.SetInjector(nil)
	mode := rapid.SampledFrom([]faultfs.Strategy{faultfs.LoseAll, faultfs.KeepAll, faultfs.InOrderPrefixes, faultfs.AllSubsets, faultfs.AllSubsets, faultfs.AllSubsets}).Draw(rt, "mode")
	return fsys.CrashClone(faultfs.CrashOptions{
		Mode:        mode,
		Seed:        int64(rapid.IntRange(0, 1000).Draw(rt, "seed")),
		Granularity: rapid.SampledFrom([]int{0, 512}).Draw(rt, "granularity"),
		Tail:        faultfs.Tail{Garbage: rapid.Bool().Draw(rt, "garbage")},
	})
}

type injectorFunc func(faultfs.Op) faultfs.Fault

func (f injectorFunc) MaybeInject(op faultfs.Op) faultfs.Fault { return f(op) }

// TestPropertySegmentationInvariance: the same entries replay the same,
// with the same ids, whatever the segment size and wherever the writer
// flushed, synced or reopened the log.
func TestPropertySegmentationInvariance(t *testing.T) {
	check(t, 100, func(rt *rapid.T) {
		steps := drawSteps(rt, 3000)
		var want []wal.Entry[[]byte]
		for i, size := range rapid.SliceOfN(rapid.IntRange(wal.MinSegmentSize, 64<<10), 2, 3).Draw(rt, "segment sizes") {
			fsys := fuzz.NewMemFS()
			if err := run(fsys, "/wal", wal.Options{SegmentSize: int64(size)}, steps, func([]byte) {}, func() {}); err != nil {
				rt.Fatal(err)
			}
			got, err := wal.Replay(fsys, "/wal", wal.Bytes, wal.Strict)
			if err != nil {
				rt.Fatal(err)
			}
			if i == 0 {
				want = got
			} else if !slices.EqualFunc(got, want, func(a, b wal.Entry[[]byte]) bool { return a.ID == b.ID && bytes.Equal(a.Value, b.Value) }) {
				rt.Fatalf("segments of %d bytes: %d entries, differ from %d", size, len(got), len(want))
			}
		}
	})
}

// TestPropertyNegativeCorpus: in a small log, every single-bit flip of any
// byte of any segment makes strict replay fail, and so does every
// truncation of a segment (a segment never goes below the size it was
// preallocated to, recorded in its header); best-effort replay returns a prefix of the
// entries, or (for damage before the last segment holding data) an error
// wrapping ErrCorrupt — never another entry.
func TestPropertyNegativeCorpus(t *testing.T) {
	check(t, 40, func(rt *rapid.T) {
		opts := wal.Options{SegmentSize: int64(rapid.IntRange(wal.MinSegmentSize, 200).Draw(rt, "segment"))}
		sizes := rapid.SliceOfN(rapid.IntRange(0, 40), 1, 4).Draw(rt, "entries")
		fsys := fuzz.NewMemFS()
		w, err := wal.New(fsys, "/wal", wal.Bytes, opts)
		if err != nil {
			rt.Fatal(err)
		}
		for i, n := range sizes {
			w.Append(entry(i, n))
		}
		if err := w.Close(); err != nil {
			rt.Fatal(err)
		}
		prefix := func(what string) {
			es, err := wal.Replay(fsys, "/wal", wal.Bytes, wal.BestEffort)
			if err != nil && !errors.Is(err, wal.ErrCorrupt) {
				rt.Fatalf("%s: best effort: %v", what, err)
			}
			for i, e := range es {
				if e.ID != uint64(i+1) || !bytes.Equal(e.Value, entry(i, sizes[i])) {
					rt.Fatalf("%s: best effort returned entry %d (id %d) that was not written", what, i, e.ID)
				}
			}
		}
		snap := fsys.Snapshot()
		for _, name := range slices.Sorted(maps.Keys(snap)) {
			if path.Ext(name) != ".wal" {
				continue
			}
			b := []byte(snap[name])
			for bit := range 8 * len(b) {
				b[bit/8] ^= 1 << (bit % 8)
				fsys.WriteFile(name, b)
				if _, err := wal.Replay(fsys, "/wal", wal.Bytes, wal.Strict); !errors.Is(err, wal.ErrCorrupt) {
					rt.Fatalf("%s bit %d flipped: strict replay: %v", name, bit, err)
				}
				prefix(fmt.Sprintf("%s bit %d flipped", name, bit))
				b[bit/8] ^= 1 << (bit % 8)
			}
			for n := range len(b) {
				fsys.WriteFile(name, b[:n])
				if _, err := wal.Replay(fsys, "/wal", wal.Bytes, wal.Strict); !errors.Is(err, wal.ErrCorrupt) {
					rt.Fatalf("%s cut at %d of %d bytes: strict replay: %v", name, n, len(b), err)
				}
				prefix(fmt.Sprintf("%s cut at %d", name, n))
			}
			fsys.WriteFile(name, b)
		}
	})
}

// TestPropertyRecordLogPrefix: for any workload of a record log, at every
// crash point of a power failure (all subsets of the pending units,
// sampled) and of a process crash, OpenRecordLog then a Strict read
// returns a prefix of the appended records that holds every record
// acknowledged durable — though every write overwrites the seal the one
// before it left.
func TestPropertyRecordLogPrefix(t *testing.T) {
	check(t, 50, func(rt *rapid.T) {
		steps := drawSteps(rt, 3000)
		sc := &sim.Scenario{
			Name:  "recordlog-property",
			Model: models.Log(),
			Run: func(env *sim.Env) error {
				l, err := wal.CreateRecordLog(env.FS, "/records", wal.RecordLogOptions{})
				if err != nil {
					return err
				}
				n := 0
				for _, s := range steps {
					switch s.kind {
					case 0, 1, 2, 3, 4:
						for _, size := range s.sizes {
							r := entry(n, size)
							n++
							env.Invoke(models.LogAppend{Record: r})
							if _, err = l.Append(r); err != nil {
								return err
							}
						}
					case 5:
						err = l.Flush()
					case 6:
						if err = l.FlushAndSync(); err == nil {
							env.DurableAll()
						}
					case 7:
						if err = l.Close(); err == nil {
							env.DurableAll()
							l, err = wal.OpenRecordLog(env.FS, "/records", wal.RecordLogOptions{})
						}
					}
					if err != nil {
						return err
					}
				}
				if err := l.Close(); err != nil {
					return err
				}
				env.DurableAll()
				return nil
			},
			Recover: func(env *sim.Env) (any, error) {
				l, err := wal.OpenRecordLog(env.FS, "/records", wal.RecordLogOptions{})
				if err != nil {
					return nil, err
				}
				recs, err := wal.ReadRecords(env.FS, "/records", wal.Strict)
				return recs, errors.Join(err, l.Close())
			},
		}
		for _, o := range []sim.Options{
			{Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 8, Granularity: 512},
			{Fault: sim.ProcessCrash},
		} {
			res, err := sim.Explore(sc, o)
			if err != nil {
				rt.Fatal(err)
			}
			if res.RunError != "" {
				rt.Fatalf("the workload failed: %s", res.RunError)
			}
			for _, v := range res.Violations {
				rt.Fatalf("%v crash: %s", o.Fault, v.String())
			}
		}
	})
}
