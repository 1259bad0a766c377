package tx_test

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/faultfs"
)

// TestRecoveryIsIdempotent: a transaction interrupted after it began to
// write in place is recovered by Open — with an undo log (format 5), its
// data's drain fails, then the machine stops, and Open rolls it back; with
// a redo log (format 6), its stores in place fail after its one drain,
// then the machine stops, and Open replays it — and when that recovery is
// itself interrupted at any of its drains, by a failure and then a crash
// that keeps any subset of what it wrote, the next Open still recovers
// the same state. The transaction allocates, frees and overwrites, so the
// heap's metadata is recovered too. (The laboratory explores every crash
// point of recovery: sim/scenarios.TestPoolRecoveryCrashes.)
func TestRecoveryIsIdempotent(t *testing.T) {
	for _, pr := range protocols {
		t.Run(pr.name, func(t *testing.T) { testRecoveryIsIdempotent(t, pr.format) })
	}
}

func testRecoveryIsIdempotent(t *testing.T, format uint32) {
	redo := format >= tx.Version
	fsys := memFS(t)
	p := newPool(t, fsys, formatOptions(format))
	update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
		r.Pair = [2]int64{1, 1}
		r.Count = 10
		if r.List, err = tx.NewBox(t, Node{Value: 1}); err != nil {
			return err
		}
		r.Name, err = tx.NewString(t, "old")
		return err
	})
	before := stats(t, p)
	if redo {
		// The log's drain goes through; the stores in place after it
		// fail from the third on, so that some of the data is in place.
		fsys.SetInjector(&failStoresAfterDrain{pass: 2})
	} else {
		// Every drain after the log's fails: the data's, and those of the
		// rollback the failed commit attempts, so the log stays.
		fsys.SetInjector(&failDrainsFrom{n: 1})
	}
	root := p.Root()
	err := p.Update(func(t *tx.Tx[P]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		r.Pair = [2]int64{2, 2}
		r.Count = 20
		if err := r.List.Free(t); err != nil {
			return err
		}
		if r.List, err = tx.NewBox(t, Node{Value: 2}); err != nil {
			return err
		}
		if err := r.Name.Free(t); err != nil {
			return err
		}
		if r.Name, err = tx.NewString(t, "new"); err != nil {
			return err
		}
		if r.Blob, err = tx.NewBytes(t, make([]byte, 10000)); err != nil {
			return err
		}
		return root.Set(t, r)
	})
	fsys.SetInjector(nil)
	if !errors.Is(err, tx.ErrBroken) {
		t.Fatalf("a commit whose drains or stores failed, rollback included: %v", err)
	}
	if err := p.Check(); !errors.Is(err, tx.ErrBroken) {
		t.Errorf("a broken pool's Check: %v", err)
	}
	defer p.Close() // the broken pool, after the crash images are taken
	// The machine stops with the data half in place: what the process
	// wrote after the log's drain is kept or lost, line by line.
	for base, crashed := range []*faultfs.FS{
		fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll}),
		fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.LoseAll}),
		fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.AllSubsets, Seed: 1}),
		fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.AllSubsets, Seed: 2}),
	} {
		recoverCrashed(t, fmt.Sprintf("crash %d", base), crashed, before, redo)
	}
}

// recoverCrashed checks that crashed recovers to the state before the
// interrupted transaction (after it, if committed), however often its
// recovery is interrupted.
func recoverCrashed(t *testing.T, name string, crashed *faultfs.FS, before tx.Stats, committed bool) {
	var after tx.Stats // the committed state's, from the first recovery
	want := func(what string, img *faultfs.FS) tx.Info {
		t.Helper()
		q, err := tx.Open[P, Root](img, poolName, &tx.Options{Strict: true})
		if err != nil {
			t.Fatalf("%s: %s: Open: %v", name, what, err)
		}
		defer q.Close()
		err = q.View(func(t *tx.Tx[P]) error {
			r, err := q.Root().Get(t)
			if err != nil {
				return err
			}
			n, err := r.List.Get(t)
			if err != nil {
				return err
			}
			s, err := r.Name.Get(t)
			if committed {
				b, berr := r.Blob.Get(t)
				if r.Pair != [2]int64{2, 2} || r.Count != 20 || n.Value != 2 || s != "new" || len(b) != 10000 || err != nil || berr != nil {
					return fmt.Errorf("root %+v, node %+v, name %q, blob of %d bytes, %v, %v", r, n, s, len(b), err, berr)
				}
				return nil
			}
			if r.Pair != [2]int64{1, 1} || r.Count != 10 || n.Value != 1 || s != "old" || !r.Blob.IsNil() || err != nil {
				return fmt.Errorf("root %+v, node %+v, name %q, %v", r, n, s, err)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %s: %v", name, what, err)
		}
		st := stats(t, q)
		switch {
		case !committed && (st.Used != before.Used || st.Objects != before.Objects):
			t.Errorf("%s: %s: %v, before the transaction %v", name, what, st, before)
		case committed && after.Objects == 0:
			after = st
		case committed && (st.Used != after.Used || st.Objects != after.Objects):
			t.Errorf("%s: %s: %v, after the first recovery %v", name, what, st, after)
		}
		if err := q.Check(); err != nil {
			t.Errorf("%s: %s: %v", name, what, err)
		}
		return q.Info()
	}
	info := want("first recovery", crashed.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll}))
	if found := info.RolledBack || info.Replayed > 0; !found || !info.Unclean {
		t.Errorf("%s: the first recovery found nothing to recover: %+v", name, info)
	}

	// Interrupt the recovery at its k-th drain, for every k it has.
	for k := uint64(0); ; k++ {
		img := crashed.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
		rules := faultfs.NewRules(faultfs.Rule{
			When:  faultfs.And(faultfs.OpKinds(faultfs.OpDrain), faultfs.OnIndex(k)),
			Fault: faultfs.SyncFailure,
		})
		img.SetInjector(rules)
		q, err := tx.Open[P, Root](img, poolName, nil)
		img.SetInjector(nil)
		if len(rules.Unfired()) > 0 {
			// Recovery has fewer than k+1 drains: every one was tried.
			if err != nil {
				t.Fatalf("%s: Open without a fault: %v", name, err)
			}
			q.Close()
			if min := map[bool]uint64{false: 3, true: 2}[committed]; k < min {
				t.Errorf("%s: recovery drained %d times; a rollback drains its data and the log's retirement, a replay its data, and the open its live line", name, k)
			}
			break
		}
		if err == nil {
			q.Close() // a failed drain the open survived; crash now anyway
		}
		for _, mode := range []faultfs.Strategy{faultfs.KeepAll, faultfs.LoseAll, faultfs.AllSubsets, faultfs.InOrderPrefixes} {
			for seed := range int64(3) {
				want(fmt.Sprintf("recovery interrupted at drain %d, then %v (seed %d)", k, mode, seed),
					img.CrashClone(faultfs.CrashOptions{Mode: mode, Seed: seed}))
				if mode == faultfs.KeepAll || mode == faultfs.LoseAll {
					break
				}
			}
		}
	}
}

// failStoresAfterDrain lets the first drain and pass stores after it
// through, and fails every store after those.
type failStoresAfterDrain struct {
	mu           sync.Mutex
	pass, stores int
	drained      bool
}

func (f *failStoresAfterDrain) MaybeInject(op faultfs.Op) faultfs.Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case op.Kind == faultfs.OpDrain:
		f.drained = true
	case f.drained && (op.Kind == faultfs.OpRegionWrite || op.Kind == faultfs.OpRegionAtomic):
		f.stores++
		if f.stores > f.pass {
			return faultfs.Error(syscall.EIO)
		}
	}
	return faultfs.Fault{}
}

// failDrainsFrom fails every drain from the n-th (counting from 0) on.
type failDrainsFrom struct {
	mu   sync.Mutex
	n, i int
}

func (f *failDrainsFrom) MaybeInject(op faultfs.Op) faultfs.Fault {
	if op.Kind != faultfs.OpDrain {
		return faultfs.Fault{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.i++
	if f.i > f.n {
		return faultfs.SyncFailure
	}
	return faultfs.Fault{}
}
