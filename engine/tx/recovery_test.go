package tx_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/faultfs"
)

// TestRecoveryIsIdempotent: a transaction interrupted after it began to
// write in place (its data's drain fails, then the machine stops) is
// rolled back by Open; and when that recovery is itself interrupted at
// any of its drains, by a failure and then a crash that keeps any subset
// of what it wrote, the next Open still rolls back to the same state. The
// transaction allocates, frees and overwrites, so the heap's metadata is
// rolled back too. (The laboratory explores every crash point of
// recovery: sim/scenarios.TestPoolRecoveryCrashes.)
func TestRecoveryIsIdempotent(t *testing.T) {
	fsys := memFS(t)
	p := newPool(t, fsys, nil)
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
	// Every drain after the log's fails: the data's, and those of the
	// rollback the failed commit attempts, so the log stays.
	fsys.SetInjector(&failDrainsFrom{n: 1})
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
		t.Fatalf("a commit whose drains failed, rollback included: %v", err)
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
		recoverCrashed(t, fmt.Sprintf("crash %d", base), crashed, before)
	}
}

// recoverCrashed checks that crashed recovers to the state before the
// interrupted transaction, however often its recovery is interrupted.
func recoverCrashed(t *testing.T, name string, crashed *faultfs.FS, before tx.Stats) {
	wantOld := func(what string, img *faultfs.FS) tx.Info {
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
			if r.Pair != [2]int64{1, 1} || r.Count != 10 || n.Value != 1 || s != "old" || !r.Blob.IsNil() || err != nil {
				return fmt.Errorf("root %+v, node %+v, name %q, %v", r, n, s, err)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %s: %v", name, what, err)
		}
		if st := stats(t, q); st.Used != before.Used || st.Objects != before.Objects {
			t.Errorf("%s: %s: %v, before the transaction %v", name, what, st, before)
		}
		if err := q.Check(); err != nil {
			t.Errorf("%s: %s: %v", name, what, err)
		}
		return q.Info()
	}
	if info := wantOld("first recovery", crashed.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})); !info.RolledBack || !info.Unclean {
		t.Errorf("%s: the first recovery found nothing to roll back: %+v", name, info)
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
			if k < 3 {
				t.Errorf("%s: recovery drained %d times; a rollback drains its data and the log's retirement, and the open its live line", name, k)
			}
			break
		}
		if err == nil {
			q.Close() // a failed drain the open survived; crash now anyway
		}
		for _, mode := range []faultfs.Strategy{faultfs.KeepAll, faultfs.LoseAll, faultfs.AllSubsets, faultfs.InOrderPrefixes} {
			for seed := range int64(3) {
				wantOld(fmt.Sprintf("recovery interrupted at drain %d, then %v (seed %d)", k, mode, seed),
					img.CrashClone(faultfs.CrashOptions{Mode: mode, Seed: seed}))
				if mode == faultfs.KeepAll || mode == faultfs.LoseAll {
					break
				}
			}
		}
	}
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
