package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
)

// pairRegister is a register held in two words of persistent memory, each
// holding the same 32-bit value: a write stores one, then the other, so
// that a read between them, unless locked out, returns a value nobody
// wrote. Its model's value is the two words read as one.
func pairRegister(name string, locked bool) *Scenario {
	const path = "/pmem/pair"
	var mu Mutex
	lock := func() {
		if locked {
			mu.Lock()
		}
	}
	unlock := func() {
		if locked {
			mu.Unlock()
		}
	}
	read := func(r engine.Region) (uint64, error) {
		hi, err := r.Load64(0)
		if err != nil {
			return 0, err
		}
		lo, err := r.Load64(8)
		return hi<<32 | lo, err
	}
	return &Scenario{
		Name:   name,
		Faults: []Fault{PowerFailure},
		Model:  models.Register(),
		Check:  DurableLinearizability,
		Run: func(env *Env) error {
			mu = Mutex{}
			r, done, err := durableRegion(env, path, 64)
			if err != nil {
				return err
			}
			defer done()
			writer := env.Go(func(env *Env) error {
				for v := uint64(1); v <= 2; v++ {
					env.Invoke(models.RegisterWrite{Value: v<<32 | v})
					lock()
					if err := r.Store64(0, v); err != nil {
						return err
					}
					if err := r.Store64(8, v); err != nil {
						return err
					}
					// Durable before it is visible to a locked reader.
					if err := engine.Persist(r, 0, 16); err != nil {
						return err
					}
					unlock()
					env.Return(nil)
				}
				return nil
			})
			reader := env.Go(func(env *Env) error {
				for range 2 {
					env.Invoke(models.RegisterRead{})
					lock()
					v, err := read(r)
					unlock()
					if err != nil {
						return err
					}
					env.Return(v)
				}
				return nil
			})
			if err := writer.Wait(); err != nil {
				return err
			}
			return reader.Wait()
		},
		Recover: func(env *Env) (any, error) {
			f, err := engine.Open(env.FS, path)
			if errors.Is(err, fs.ErrNotExist) {
				return uint64(0), nil
			}
			if err != nil {
				return nil, err
			}
			defer f.Close()
			b := make([]byte, 16) // a file whose size was lost reads as zeros
			if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
				return nil, err
			}
			return binary.LittleEndian.Uint64(b)<<32 | binary.LittleEndian.Uint64(b[8:]), nil
		},
	}
}

// TestLinearizableReadsJudged: a read that returns a torn value is a
// violation of linearizability whether or not anything crashed, and a
// replay of it rebuilds the interleaving; with the reads locked out of
// the writes, every schedule passes.
func TestLinearizableReadsJudged(t *testing.T) {
	opts := Options{Fault: PowerFailure, Strategy: DropAll, Seed: 1, Schedules: 20, Workers: 2}
	good, err := Explore(pairRegister("pair-locked", true), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !good.OK() {
		t.Fatalf("locked pair register: %s %v", good.RunError, good.Violations)
	}
	if good.Interleavings < 2 {
		t.Fatalf("%d interleavings explored, want several", good.Interleavings)
	}
	sc := pairRegister("pair-bug-torn-read", false)
	bad, err := Explore(sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	if bad.RunError != "" || len(bad.Violations) == 0 {
		t.Fatalf("torn read not caught: run error %q, %d violations", bad.RunError, len(bad.Violations))
	}
	i := slices.IndexFunc(bad.Violations, func(v Violation) bool { return strings.Contains(v.Problem, "not linearizable, crash or not") })
	if i < 0 {
		t.Fatalf("no violation of linearizability without the crash among %d: first %q", len(bad.Violations), bad.Violations[0].Problem)
	}
	v := bad.Violations[i]
	if !strings.Contains(v.Linearization, "<html") {
		t.Errorf("violation has no porcupine page")
	}
	id, err := ParseReplayID(v.ReplayID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := RunReplay(sc, id)
	if err != nil {
		t.Fatalf("replay %s: %v", v.ReplayID, err)
	}
	if r.Violation == nil || r.Violation.Problem != v.Problem {
		t.Fatalf("replay %s: %v, want the problem %q", v.ReplayID, r.Verdict, v.Problem)
	}
}

// TestStepsIgnoreOtherGoroutines: a goroutine started outside the
// threads while one thread runs alone — as porcupine's checks start
// goroutines in the explorer's workers — is no decision of the
// scheduler: the steps, which PCT's change points count, are those of
// the same run without it.
func TestStepsIgnoreOtherGoroutines(t *testing.T) {
	steps := func(others bool) int {
		sc := &Scenario{
			Name:  "steps",
			Model: models.Register(),
			Run: func(env *Env) error {
				r, done, err := durableRegion(env, "/pmem/steps", 64)
				if err != nil {
					return err
				}
				defer done()
				for i := range 4 {
					if others {
						Unscheduled(func() {}) // a goroutine no thread started
					}
					if err := r.Store64(0, uint64(i)); err != nil {
						return err
					}
				}
				th := env.Go(func(env *Env) error { return r.Store64(8, 1) })
				return th.Wait()
			},
			Recover: func(env *Env) (any, error) { return uint64(0), nil },
		}
		res, err := Explore(sc, Options{Fault: ProcessCrash, Strategy: KeepAll})
		if err != nil {
			t.Fatal(err)
		}
		if res.RunError != "" {
			t.Fatal(res.RunError)
		}
		return res.Steps
	}
	if quiet, busy := steps(false), steps(true); quiet != busy || quiet == 0 {
		t.Errorf("steps %d with goroutines started beside the thread, %d without", busy, quiet)
	}
}

// bufferedLog appends 8-byte records to a file with write(2) from two
// threads, each append returning once written, not synced; the first
// thread syncs after its appends (Env.Syncing). Its recovery reads the
// whole records in the file.
func bufferedLog(check CheckKind) *Scenario {
	const path = "/data/log"
	return &Scenario{
		Name:   "buffered-log",
		Faults: []Fault{PowerFailure},
		Model:  models.Log(),
		Check:  check,
		Run: func(env *Env) error {
			if err := env.FS.MkdirAll("/data", 0o755); err != nil {
				return err
			}
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			f, err := env.FS.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := f.Sync(); err != nil {
				return err
			}
			if err := env.FS.SyncDir("/data"); err != nil {
				return err
			}
			var mu Mutex
			var n int64
			appendOne := func(env *Env, rec string) error {
				mu.Lock()
				defer mu.Unlock()
				env.Invoke(models.LogAppend{Record: []byte(rec)})
				if _, err := f.WriteAt([]byte(rec), 8*n); err != nil {
					return err
				}
				env.Return(uint64(n))
				n++
				return nil
			}
			other := env.Go(func(env *Env) error { return appendOne(env, "other-01") })
			for _, rec := range []string{"first-01", "first-02"} {
				if err := appendOne(env, rec); err != nil {
					return err
				}
			}
			if err := other.Wait(); err != nil {
				return err
			}
			synced := env.Syncing()
			if err := f.Sync(); err != nil {
				return err
			}
			synced()
			return appendOne(env, "after-01") // never synced
		},
		Recover: func(env *Env) (any, error) {
			b, err := readAll(env, path)
			if err != nil {
				return nil, err
			}
			var recs [][]byte
			for len(b) >= 8 && !bytes.Equal(b[:8], make([]byte, 8)) {
				recs = append(recs, b[:8])
				b = b[8:]
			}
			return recs, nil
		},
	}
}

func readAll(env *Env, name string) ([]byte, error) {
	f, err := engine.Open(env.FS, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// TestBufferedDurableLinearizability: appends that returned after the
// last completed sync may be lost under buffered durable
// linearizability, never those before it; plain durable linearizability
// refuses to lose any.
func TestBufferedDurableLinearizability(t *testing.T) {
	opts := Options{Fault: PowerFailure, Strategy: Subsets, Profile: "posix-4k", Seed: 2, Schedules: 4} // no garbage tails: the records have no checksum
	res, err := Explore(bufferedLog(BufferedDurableLinearizability), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("buffered: %s %v", res.RunError, res.Violations)
	}
	res, err = Explore(bufferedLog(DurableLinearizability), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Violations) == 0 || !strings.HasPrefix(res.Violations[0].Problem, "not durably linearizable") {
		t.Fatalf("unbuffered: %d violations (%v), want lost appends reported", len(res.Violations), res.Violations)
	}
}

// TestReturnWithAmendsInput: an append whose handle is known only at its
// return records it with ReturnWith, and the recovered store is judged
// against the amended input: keeping the blob under that handle passes,
// losing it after the append returned does not.
func TestReturnWithAmendsInput(t *testing.T) {
	for _, keep := range []bool{true, false} {
		sc := &Scenario{
			Name:   "return-with",
			Faults: []Fault{ProcessCrash},
			Model:  models.BlobStore(),
			Check:  DurableLinearizability,
			Run: func(env *Env) error {
				th := env.Go(func(env *Env) error {
					env.Invoke(models.BlobAppend{Blob: "x"})
					env.Yield()
					env.ReturnWith(models.BlobAppend{Handle: "h7", Blob: "x"}, nil)
					return nil
				})
				return th.Wait()
			},
			Recover: func(env *Env) (any, error) {
				if keep {
					return map[string]models.BlobEntry{"h7": {Blob: "x"}}, nil
				}
				return map[string]models.BlobEntry{}, nil
			},
		}
		res, err := Explore(sc, Options{Fault: ProcessCrash})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(res.Violations) == 0; got != keep {
			t.Errorf("recovery keeps the blob %v: %d violations (%v)", keep, len(res.Violations), res.Violations)
		}
	}
}
