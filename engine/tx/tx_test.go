package tx_test

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/faultfs"
)

func TestCreateOpenReopen(t *testing.T) {
	fsys := memFS(t)
	p := newPool(t, fsys, &tx.Options{Layout: "test"})
	info := p.Info()
	if info.UUID == ([16]byte{}) || info.Version != tx.Version || !strings.HasPrefix(info.Layout, "tx_test.Root/test") {
		t.Errorf("info %+v", info)
	}
	if info.Medium != engine.PMem || info.Unclean || info.RolledBack {
		t.Errorf("a new pool: %+v", info)
	}
	update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
		r.Count = 42
		r.Name, err = tx.NewString(t, "forty-two")
		return err
	})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	q, err := tx.Open[P, Root](fsys, poolName, &tx.Options{Layout: "test", Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, q)
	if q.Info().Unclean || q.Info().Epoch <= info.Epoch || q.Info().UUID != info.UUID {
		t.Errorf("reopened after a clean close: %+v, first %+v", q.Info(), info)
	}
	view(t, q, func(t *tx.Tx[P], r Root) error {
		name, err := r.Name.Get(t)
		if r.Count != 42 || name != "forty-two" || err != nil {
			return fmt.Errorf("root %+v, name %q, %v", r, name, err)
		}
		return nil
	})
}

func TestCreateOpenErrors(t *testing.T) {
	fsys := memFS(t)
	p := newPool(t, fsys, nil)
	if _, err := tx.Create[P, Root](fsys, poolName, nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create of an existing pool: %v", err)
	}
	if _, err := tx.Open[P, Root](fsys, "/pmem/nothing", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing pool: %v", err)
	}
	if _, err := tx.Open[P, Root](fsys, poolName, nil); !errors.Is(err, tx.ErrLocked) {
		t.Errorf("a second writer: %v", err)
	}
	p.Close()
	type Other struct{ A, B int64 }
	if _, err := tx.Open[P, Other](fsys, poolName, nil); !errors.Is(err, tx.ErrLayout) {
		t.Errorf("Open with another root type: %v", err)
	}
	if _, err := tx.Open[P, Root](fsys, poolName, &tx.Options{Layout: "other"}); !errors.Is(err, tx.ErrLayout) {
		t.Errorf("Open with another layout string: %v", err)
	}
	// The same name, another shape: still refused.
	{
		type Root struct{ Count int32 }
		if _, err := tx.Open[P, Root](fsys, poolName, nil); !errors.Is(err, tx.ErrLayout) {
			t.Errorf("Open with a root type of the same name and another shape: %v", err)
		}
	}
	if _, err := tx.Create[P, Root](fsys, "/pmem/ro", &tx.Options{ReadOnly: true}); !errors.Is(err, tx.ErrReadOnly) {
		t.Errorf("Create read-only: %v", err)
	}
	if _, err := tx.Create[P, Root](fsys, "/pmem/big", &tx.Options{Size: 1 << 20, MaxSize: 1 << 19}); !errors.Is(err, tx.ErrNoSpace) {
		t.Errorf("Create larger than MaxSize: %v", err)
	}
}

func TestAbortOnErrorAndPanic(t *testing.T) {
	fsys := memFS(t)
	p := newPool(t, fsys, nil)
	update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
		r.Count = 1
		r.Map, err = tx.NewMap(t)
		return err
	})
	before, _ := p.Stats()
	boom := errors.New("boom")
	root := p.Root()
	err := p.Update(func(t *tx.Tx[P]) error {
		r, _ := root.Get(t)
		r.Count = 2
		for i := range 50 {
			r.Map.Put(t, []byte(fmt.Sprint(i)), make([]byte, 100*i))
		}
		r.List, _ = tx.NewBox(t, Node{Value: 7})
		root.Set(t, r)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "panic in fn" {
				t.Errorf("recovered %v", r)
			}
		}()
		p.Update(func(t *tx.Tx[P]) error {
			r, _ := root.Get(t)
			r.Count = 3
			r.Name, _ = tx.NewString(t, "x")
			root.Set(t, r)
			panic("panic in fn")
		})
	}()
	view(t, p, func(t *tx.Tx[P], r Root) error {
		n, err := r.Map.Len(t)
		if r.Count != 1 || n != 0 || !r.List.IsNil() || !r.Name.IsNil() || err != nil {
			return fmt.Errorf("after aborts: %+v, %d keys, %v", r, n, err)
		}
		return nil
	})
	after, _ := p.Stats()
	if after.Used != before.Used || after.Objects != before.Objects {
		t.Errorf("aborted allocations were kept: before %v, after %v", before, after)
	}
	// The pool still works, and nothing was left behind.
	update(t, p, func(t *tx.Tx[P], r *Root) error { r.Count = 4; return nil })
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestNestedUpdatesAreFlattened(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	root := p.Root()
	count := tx.Field(root, func(r *Root) *int64 { return &r.Count })
	err := p.Update(func(t *tx.Tx[P]) error {
		if err := count.Set(t, 1); err != nil {
			return err
		}
		// tx.Update joins this transaction.
		return t.Update(func(t2 *tx.Tx[P]) error {
			c, err := count.Get(t2)
			if c != 1 || err != nil {
				return fmt.Errorf("the nested transaction reads %d, %v", c, err)
			}
			// A View of it sees the Update's writes too, and cannot write.
			if err := t2.View(func(v *tx.Tx[P]) error {
				c, err := count.Get(v)
				if c != 1 || err != nil {
					return fmt.Errorf("a nested View reads %d, %v", c, err)
				}
				if err := count.Set(v, 9); !errors.Is(err, tx.ErrReadOnly) {
					return fmt.Errorf("a write in a nested View: %v", err)
				}
				return nil
			}); err != nil {
				return err
			}
			return count.Set(t2, 2)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		if r.Count != 2 {
			return fmt.Errorf("count %d, want 2", r.Count)
		}
		return nil
	})
	// An inner failure aborts the whole transaction, even if the outer
	// function ignores it.
	inner := errors.New("inner")
	err = p.Update(func(t *tx.Tx[P]) error {
		count.Set(t, 3)
		t.Update(func(t *tx.Tx[P]) error { count.Set(t, 4); return inner })
		return nil
	})
	if !errors.Is(err, inner) {
		t.Fatalf("outer Update returned %v, want the inner error", err)
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		if r.Count != 2 {
			return fmt.Errorf("count %d after an aborted nested transaction, want 2", r.Count)
		}
		return nil
	})
}

func TestReadsSeeOwnWrites(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	root := p.Root()
	pair := tx.Field(root, func(r *Root) *[2]int64 { return &r.Pair })
	second := tx.Field(root, func(r *Root) *int64 { return &r.Pair[1] })
	err := p.Update(func(t *tx.Tx[P]) error {
		if err := pair.Set(t, [2]int64{1, 2}); err != nil {
			return err
		}
		if err := second.Set(t, 20); err != nil { // inside the first write
			return err
		}
		r, err := root.Get(t) // spans both, and the committed bytes around
		if err != nil {
			return err
		}
		if r.Pair != [2]int64{1, 20} {
			return fmt.Errorf("read %v of own writes", r.Pair)
		}
		r.Count = 5
		return root.Set(t, r) // covers both earlier writes
	})
	if err != nil {
		t.Fatal(err)
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		if r.Pair != [2]int64{1, 20} || r.Count != 5 {
			return fmt.Errorf("committed %+v", r)
		}
		return nil
	})
}

func TestTxEndsWithItsFunction(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	root := p.Root()
	var kept *tx.Tx[P]
	p.Update(func(t *tx.Tx[P]) error { kept = t; return nil })
	if _, err := root.Get(kept); !errors.Is(err, tx.ErrClosed) {
		t.Errorf("Get through a finished Update's Tx: %v", err)
	}
	if err := root.Set(kept, Root{Count: 1}); !errors.Is(err, tx.ErrClosed) {
		t.Errorf("Set through a finished Update's Tx: %v", err)
	}
	// Even while another Update runs on the same transaction state.
	p.Update(func(*tx.Tx[P]) error {
		if err := root.Set(kept, Root{Count: 1}); !errors.Is(err, tx.ErrClosed) {
			t.Errorf("Set through an old Tx during a new Update: %v", err)
		}
		return nil
	})
	p.View(func(t *tx.Tx[P]) error { kept = t; return nil })
	if _, err := root.Get(kept); !errors.Is(err, tx.ErrClosed) {
		t.Errorf("Get through a finished View's Tx: %v", err)
	}
}

func TestViewIsReadOnly(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	root := p.Root()
	err := p.View(func(t *tx.Tx[P]) error {
		if t.Writable() {
			return errors.New("a View's Tx says it is writable")
		}
		if err := root.Set(t, Root{}); !errors.Is(err, tx.ErrReadOnly) {
			return fmt.Errorf("Set: %v", err)
		}
		if _, err := tx.NewBox(t, Node{}); !errors.Is(err, tx.ErrReadOnly) {
			return fmt.Errorf("NewBox: %v", err)
		}
		if _, err := tx.NewMap(t); !errors.Is(err, tx.ErrReadOnly) {
			return fmt.Errorf("NewMap: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestModifyBorrows(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	root := p.Root()
	count := tx.Field(root, func(r *Root) *int64 { return &r.Count })
	err := p.Update(func(t *tx.Tx[P]) error {
		return root.Modify(t, func(r *Root) error {
			if _, err := count.Get(t); !errors.Is(err, tx.ErrBorrowed) {
				return fmt.Errorf("a read of a borrowed field: %v", err)
			}
			r.Count = 11
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Update(func(t *tx.Tx[P]) error {
		c, err := count.Get(t)
		if c != 11 || err != nil {
			return fmt.Errorf("after Modify: %d, %v", c, err)
		}
		return root.Modify(t, func(r *Root) error { r.Count = 99; return errors.New("no") })
	})
	if err == nil || err.Error() != "no" {
		t.Fatalf("a failed Modify: %v", err)
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		if r.Count != 11 {
			return fmt.Errorf("count %d", r.Count)
		}
		return nil
	})
}

// TestViewsRunBesideUpdates: Views in this process never see a
// transaction in progress, nor wait for its function.
func TestViewsRunBesideUpdates(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	root := p.Root()
	pair := tx.Field(root, func(r *Root) *[2]int64 { return &r.Pair })
	inFn, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- p.Update(func(t *tx.Tx[P]) error {
			pair.Set(t, [2]int64{1, 1})
			close(inFn)
			<-release
			return nil
		})
	}()
	<-inFn
	err := p.View(func(t *tx.Tx[P]) error {
		v, err := pair.Get(t)
		if v != [2]int64{} || err != nil {
			return fmt.Errorf("a View saw %v, %v of an Update in progress", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Writers keep the two words equal; readers must never see them apart.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := p.View(func(t *tx.Tx[P]) error {
					v, err := pair.Get(t)
					if err == nil && v[0] != v[1] {
						err = fmt.Errorf("torn read %v", v)
					}
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range int64(300) {
		if err := p.Update(func(t *tx.Tx[P]) error { return pair.Set(t, [2]int64{i, i}) }); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestGrowthAndMaxSize(t *testing.T) {
	fsys := memFS(t)
	p := newPool(t, fsys, &tx.Options{Size: 160 << 10, LogSize: tx.MinLogSize})
	var ids []int64
	for i := range 40 {
		update(t, p, func(t *tx.Tx[P], r *Root) error {
			if r.Items.IsNil() {
				var err error
				if r.Items, err = tx.NewVec[P, Item](t, 0); err != nil {
					return err
				}
			}
			b, err := tx.NewBytes(t, make([]byte, 6000+i))
			if err != nil {
				return err
			}
			ids = append(ids, int64(i))
			return r.Items.Append(t, Item{ID: int64(i), Data: b})
		})
	}
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Zones < 2 || st.FileSize <= 160<<10 {
		t.Errorf("no growth: %v, file %d", st, st.FileSize)
	}
	p = reopen(t, fsys, p)
	view(t, p, func(t *tx.Tx[P], r Root) error {
		items, err := r.Items.All(t)
		if err != nil || len(items) != len(ids) {
			return fmt.Errorf("%d items, %v", len(items), err)
		}
		for i, it := range items {
			if b, err := it.Data.Get(t); err != nil || len(b) != 6000+i {
				return fmt.Errorf("item %d: %d bytes, %v", i, len(b), err)
			}
		}
		return nil
	})
	p.Close()

	small := memFS(t)
	q, err := tx.Create[P, Root](small, poolName, &tx.Options{Size: 160 << 10, MaxSize: 256 << 10, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	root := q.Root()
	err = q.Update(func(t *tx.Tx[P]) error {
		r, _ := root.Get(t)
		r.Blob, err = tx.NewBytes(t, make([]byte, 300<<10))
		return err
	})
	if !errors.Is(err, tx.ErrNoSpace) {
		t.Errorf("an allocation past MaxSize: %v", err)
	}
	if err := q.Check(); err != nil {
		t.Error(err)
	}
}

func TestTxTooLarge(t *testing.T) {
	p := newPool(t, memFS(t), &tx.Options{LogSize: tx.MinLogSize})
	update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
		r.Items, err = tx.NewVec[P, Item](t, 0)
		if err != nil {
			return err
		}
		items := make([]Item, 3000)
		for i := range items {
			items[i].ID = int64(i)
		}
		return r.Items.Append(t, items...) // new memory: no log needed
	})
	root := p.Root()
	err := p.Update(func(t *tx.Tx[P]) error {
		r, _ := root.Get(t)
		for i := range 3000 { // overwrites: logged
			if err := r.Items.Set(t, i, Item{ID: -int64(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, tx.ErrTxTooLarge) {
		t.Fatalf("a transaction larger than its log: %v", err)
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		it, err := r.Items.At(t, 2999)
		if it.ID != 2999 || err != nil {
			return fmt.Errorf("the too-large transaction left %+v, %v", it, err)
		}
		return nil
	})
}

// TestCommitFailureRollsBack: a commit whose drain fails is undone, in
// place and after a crash: with an undo log (format 5), the data's drain,
// after the commit wrote in place, and the log rolls it back; with a redo
// log (format 6), its one drain, before anything is in place, and the log
// is retired.
func TestCommitFailureRollsBack(t *testing.T) {
	for _, pr := range protocols {
		t.Run(pr.name, func(t *testing.T) { testCommitFailureRollsBack(t, pr.format, pr.commitDrain) })
	}
}

func testCommitFailureRollsBack(t *testing.T, format uint32, commitDrain uint64) {
	fsys := memFS(t)
	p := newPool(t, fsys, formatOptions(format))
	update(t, p, func(t *tx.Tx[P], r *Root) error { r.Pair = [2]int64{1, 1}; return nil })
	rules := faultfs.NewRules(faultfs.Rule{
		When:  faultfs.And(faultfs.OpKinds(faultfs.OpDrain), faultfs.OnIndex(commitDrain)),
		Fault: faultfs.SyncFailure,
	})
	fsys.SetInjector(rules)
	root := p.Root()
	err := p.Update(func(t *tx.Tx[P]) error {
		r, _ := root.Get(t)
		r.Pair = [2]int64{2, 2}
		return root.Set(t, r)
	})
	fsys.SetInjector(nil)
	if err == nil || len(rules.Unfired()) > 0 {
		t.Fatalf("Update with a failed drain: %v (unfired rules %d)", err, len(rules.Unfired()))
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		if r.Pair != [2]int64{1, 1} {
			return fmt.Errorf("after a failed commit: %v", r.Pair)
		}
		return nil
	})
	// And after a crash now, whatever survived.
	for _, mode := range []faultfs.Strategy{faultfs.KeepAll, faultfs.LoseAll, faultfs.AllSubsets} {
		img := fsys.CrashClone(faultfs.CrashOptions{Mode: mode, Seed: 3})
		q, err := tx.Open[P, Root](img, poolName, &tx.Options{Strict: true})
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if !q.Info().Unclean {
			t.Errorf("%v: a crashed pool opens clean", mode)
		}
		view(t, q, func(t *tx.Tx[P], r Root) error {
			if r.Pair != [2]int64{1, 1} {
				return fmt.Errorf("%v: after a crash: %v", mode, r.Pair)
			}
			return nil
		})
		if err := q.Check(); err != nil {
			t.Error(err)
		}
		q.Close()
	}
}

// TestReadOnlyPoolBesideWriter: a read-only pool (no lock) reads while a
// writer commits, as a reader process would: never a torn pair, and it
// sees the writer's progress.
func TestReadOnlyPoolBesideWriter(t *testing.T) {
	name := osPoolName(t)
	w, err := tx.Create[P, Root](engine.OSFS{}, name, &tx.Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := tx.Open[P, Root](engine.OSFS{}, name, &tx.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := tx.Open[P, Root](engine.OSFS{}, name, nil); !errors.Is(err, tx.ErrLocked) {
		t.Errorf("a second writer beside a writer and a reader: %v", err)
	}
	if err := r.Update(func(*tx.Tx[P]) error { return nil }); !errors.Is(err, tx.ErrReadOnly) {
		t.Errorf("Update of a read-only pool: %v", err)
	}
	wpair := tx.Field(w.Root(), func(r *Root) *[2]int64 { return &r.Pair })
	rpair := tx.Field(r.Root(), func(r *Root) *[2]int64 { return &r.Pair })
	const n = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range int64(n) {
			if err := w.Update(func(t *tx.Tx[P]) error { return wpair.Set(t, [2]int64{i + 1, i + 1}) }); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	last := int64(0)
	for deadline := time.Now().Add(10 * time.Second); last < n && time.Now().Before(deadline); {
		err := r.View(func(t *tx.Tx[P]) error {
			v, err := rpair.Get(t)
			if err != nil {
				return err
			}
			if v[0] != v[1] || v[0] < last {
				return fmt.Errorf("read %v after %d", v, last)
			}
			last = v[0]
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if last != n {
		t.Errorf("the reader saw up to %d of %d commits", last, n)
	}
	if err := r.Check(); err != nil {
		t.Errorf("Check of a read-only pool: %v", err)
	}
}

func TestStats(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
		r.Blob, err = tx.NewBytes(t, make([]byte, 10000))
		if err == nil {
			r.Name, err = tx.NewString(t, "hello")
		}
		return err
	})
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// The root, the blob (3 pages) and the string.
	if st.Objects != 3 || st.Used < 3*4096+16 || st.Free <= 0 || st.LargestFree <= 0 || st.Runs < 1 {
		t.Errorf("stats %v", st)
	}
	if !strings.Contains(st.String(), "fragmentation") {
		t.Errorf("Stats.String: %q", st)
	}
}

// drainCounter counts the drains of a faultfs and injects nothing.
type drainCounter struct {
	mu sync.Mutex
	n  int
	// logStores counts the stores into [logLo, logHi), if set.
	logLo, logHi int64
	logStores    int
}

func (d *drainCounter) MaybeInject(op faultfs.Op) faultfs.Fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch op.Kind {
	case faultfs.OpDrain:
		d.n++
	case faultfs.OpRegionWrite, faultfs.OpRegionAtomic:
		if op.Off < d.logHi && d.logLo < op.Off+op.Len {
			d.logStores++
		}
	}
	return faultfs.Fault{}
}

// take returns the drains and the stores into the log since the last
// call.
func (d *drainCounter) take() (drains, logStores int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	drains, logStores = d.n, d.logStores
	d.n, d.logStores = 0, 0
	return drains, logStores
}

// TestWaitsPerCommit: a transaction waits for the media as its protocol
// says — once with the redo log of format 6, logged or not, allocating
// or freeing outside a larger transaction included; twice for a logged
// transaction with the undo log of format 5 — and a transaction that
// changes nothing does not wait. And allocations and frees alone end
// writing nothing into the log in either format: in format 5 from the
// second pair after a logged transaction; in format 6 from the third,
// since the logged transaction allocated in a new run, whose bitmap word
// is in its log's new memory (the first pair is logged in full, as no
// word log may change a log's new memory), then a word log, then the
// older log's retirement, which leaves no log recovery would replay
// (redo.go).
func TestWaitsPerCommit(t *testing.T) {
	for _, pr := range protocols {
		t.Run(pr.name, func(t *testing.T) {
			fsys := memFS(t)
			// Not strict: the allocation alone keeps its object in a Go
			// variable between two transactions, as bench's
			// BenchmarkAllocFree64 does, which strict mode calls a leak.
			o := formatOptions(pr.format)
			o.Size, o.LogSize = 1<<20, 64<<10
			p, err := tx.Create[P, Root](fsys, poolName, o)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var box tx.Box[P, Node]
			logged, wordAfterLog := 1, 1 // the redo log's one drain
			if pr.format < tx.Version {
				logged = 2 // the undo log's, then the data's
				// A one-word commit of a word the last undo log holds
				// (the heap's bitmap word, which the step before logged)
				// retires that log first, durably (commitWord).
				wordAfterLog = 2
			}
			steps := []struct {
				name  string
				fn    func(t *tx.Tx[P], r *Root) error
				waits int
				// unlogged: the commit writes nothing into the log.
				unlogged bool
			}{
				{"two words of the root", func(t *tx.Tx[P], r *Root) error { r.Pair = [2]int64{7, 8}; return nil }, logged, false},
				{"the root's words and a new object", func(t *tx.Tx[P], r *Root) error {
					r.Pair, r.Count = [2]int64{9, 9}, 3
					var err error
					r.List, err = tx.NewBox(t, Node{Value: 1})
					return err
				}, logged, false},
				{"an allocation alone", func(t *tx.Tx[P], r *Root) error {
					var err error
					box, err = tx.NewBox(t, Node{Value: 2})
					return err
				}, wordAfterLog, false},
				{"a free alone", func(t *tx.Tx[P], r *Root) error { return box.Free(t) }, 1, false},
				{"an allocation alone, again", func(t *tx.Tx[P], r *Root) error {
					var err error
					box, err = tx.NewBox(t, Node{Value: 3})
					return err
				}, 1, pr.format < tx.Version},
				{"a free alone, again", func(t *tx.Tx[P], r *Root) error { return box.Free(t) }, 1, pr.format < tx.Version},
				{"an allocation alone, a third time", func(t *tx.Tx[P], r *Root) error {
					var err error
					box, err = tx.NewBox(t, Node{Value: 4})
					return err
				}, 1, true},
				{"a free alone, a third time", func(t *tx.Tx[P], r *Root) error { return box.Free(t) }, 1, true},
				{"nothing", func(t *tx.Tx[P], r *Root) error { return nil }, 0, true},
			}
			// The log area: two logs of LogSize in format 6, one before.
			logHi := int64(4096 + 64<<10)
			if pr.format >= tx.Version {
				logHi += 64 << 10
			}
			counter := &drainCounter{logLo: 4096, logHi: logHi}
			fsys.SetInjector(counter)
			defer fsys.SetInjector(nil)
			for _, s := range steps {
				root := p.Root()
				err := p.Update(func(tt *tx.Tx[P]) error {
					r, err := root.Get(tt)
					if err != nil {
						return err
					}
					if err := s.fn(tt, &r); err != nil {
						return err
					}
					return root.Set(tt, r)
				})
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				n, stores := counter.take()
				if n != s.waits {
					t.Errorf("%s: %d drains, want %d", s.name, n, s.waits)
				}
				if s.unlogged && stores != 0 {
					t.Errorf("%s: %d stores into the log, want none", s.name, stores)
				}
			}
			if err := p.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}
