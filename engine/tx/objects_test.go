package tx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/faultfs"
	"pgregory.net/rapid"
)

// Shared is the root of the pools of the reference-counting tests: a
// vector of counted references to nodes.
type Shared struct {
	Rcs  tx.Vec[P, tx.Rc[P, Node]]
	Arcs tx.Vec[P, tx.Arc[P, Node]]
}

// createStrict creates a strict pool of root R on fsys, checked and
// closed at the end of the test.
func createStrict[R any](t *testing.T, fsys engine.FS) *tx.Pool[P, R] {
	t.Helper()
	p, err := tx.Create[P, R](fsys, poolName, &tx.Options{Size: 1 << 20, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p)
	return p
}

// stats returns p's statistics or fails the test.
func stats[R any](t *testing.T, p *tx.Pool[P, R]) tx.Stats {
	t.Helper()
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestBoxOwnsAndFrees: a Box owns its object and, through it, a chain of
// boxes; Free frees the whole chain; an aborted Free frees nothing.
func TestBoxOwnsAndFrees(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	empty := stats(t, p)
	update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
		for i := range int64(5) {
			if r.List, err = tx.NewBox(t, Node{Value: i, Next: r.List}); err != nil {
				return err
			}
		}
		return nil
	})
	if got := stats(t, p).Objects; got != empty.Objects+5 {
		t.Fatalf("%d objects after 5 boxes, want %d", got, empty.Objects+5)
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		var got []int64
		for b := r.List; !b.IsNil(); {
			n, err := b.Get(t)
			if err != nil {
				return err
			}
			got = append(got, n.Value)
			b = n.Next
		}
		if fmt.Sprint(got) != "[4 3 2 1 0]" {
			return fmt.Errorf("the chain holds %v", got)
		}
		return nil
	})
	// Set and Modify change the boxed value in place.
	update(t, p, func(t *tx.Tx[P], r *Root) error {
		n, err := r.List.Get(t)
		if err != nil {
			return err
		}
		n.Value = 40
		if err := r.List.Set(t, n); err != nil {
			return err
		}
		return r.List.Modify(t, func(n *Node) error { n.Value++; return nil })
	})
	// A Free that aborts frees nothing.
	root := p.Root()
	boom := errors.New("abort")
	err := p.Update(func(t *tx.Tx[P]) error {
		r, _ := root.Get(t)
		if err := r.List.Free(t); err != nil {
			return err
		}
		r.List = tx.Box[P, Node]{}
		root.Set(t, r)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		n, err := r.List.Get(t)
		if n.Value != 41 || err != nil {
			return fmt.Errorf("after an aborted Free: %+v, %v", n, err)
		}
		return nil
	})
	// Freeing the head frees the chain it owns.
	update(t, p, func(t *tx.Tx[P], r *Root) error {
		err := r.List.Free(t)
		r.List = tx.Box[P, Node]{}
		return err
	})
	if st := stats(t, p); st.Objects != empty.Objects || st.Used != empty.Used {
		t.Errorf("after freeing the chain: %v, want %v", st, empty)
	}
}

// TestRcCountsAndFrees: Rc's count follows Clone and Drop, is logged (an
// abort restores it), survives a reopen, and the last Drop frees the
// object; a Weak promotes only while the object lives.
func TestRcCountsAndFrees(t *testing.T) {
	fsys := memFS(t)
	p := createStrict[Shared](t, fsys)
	root := p.Root()
	empty := stats(t, p)
	var weak tx.Weak[P, Node]
	err := p.Update(func(t *tx.Tx[P]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Rcs, err = tx.NewVec[P, tx.Rc[P, Node]](t, 0); err != nil {
			return err
		}
		first, err := tx.NewRc(t, Node{Value: 7})
		if err != nil {
			return err
		}
		refs := []tx.Rc[P, Node]{first}
		for range 3 {
			c, err := first.Clone(t)
			if err != nil {
				return err
			}
			refs = append(refs, c)
		}
		if weak, err = first.Demote(t); err != nil {
			return err
		}
		if err := r.Rcs.Append(t, refs...); err != nil {
			return err
		}
		return root.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func(p *tx.Pool[P, Shared]) (c uint64) {
		t.Helper()
		root := p.Root()
		err := p.View(func(t *tx.Tx[P]) error {
			r, err := root.Get(t)
			if err != nil {
				return err
			}
			n, err := r.Rcs.Len(t)
			if err != nil || n == 0 {
				return err
			}
			rc, err := r.Rcs.At(t, 0)
			if err != nil {
				return err
			}
			c, err = rc.Count(t)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := count(p); c != 4 {
		t.Fatalf("count %d after three clones, want 4", c)
	}
	// An aborted Drop leaves the count as it was.
	err = p.Update(func(t *tx.Tx[P]) error {
		r, _ := root.Get(t)
		rc, err := r.Rcs.Pop(t)
		if err != nil {
			return err
		}
		if err := rc.Drop(t); err != nil {
			return err
		}
		return errors.New("abort")
	})
	if err == nil || count(p) != 4 {
		t.Fatalf("an aborted Drop: %v, count %d, want 4", err, count(p))
	}
	// The count is persistent.
	p.Close()
	p, err = tx.Open[P, Shared](fsys, poolName, &tx.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p)
	root = p.Root()
	if c := count(p); c != 4 {
		t.Fatalf("count %d after a reopen, want 4", c)
	}
	// Drop all but one: the object lives; then the last: it is freed.
	for want := uint64(3); ; want-- {
		err = p.Update(func(t *tx.Tx[P]) error {
			r, _ := root.Get(t)
			rc, err := r.Rcs.Pop(t)
			if err != nil {
				return err
			}
			return rc.Drop(t)
		})
		if err != nil {
			t.Fatal(err)
		}
		if want == 0 {
			break
		}
		if c := count(p); c != want {
			t.Fatalf("count %d, want %d", c, want)
		}
		err = p.Update(func(t *tx.Tx[P]) error {
			rc, ok, err := weak.Promote(t)
			if !ok || err != nil {
				return fmt.Errorf("Promote of a live object: %v, %v", ok, err)
			}
			return rc.Drop(t) // give the promoted reference back
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err = p.Update(func(t *tx.Tx[P]) error {
		if _, ok, err := weak.Promote(t); ok || err != nil {
			return fmt.Errorf("Promote of a freed object: %v, %v", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := stats(t, p)
	if st.Objects != empty.Objects+2 { // the vector's header and buffer
		t.Errorf("after the last Drop: %v (empty pool %v)", st, empty)
	}
}

// TestArcSharedByGoroutines: goroutines sharing one transaction clone and
// drop one Arc at once; every count update is kept, and the count is
// logged with the transaction.
func TestArcSharedByGoroutines(t *testing.T) {
	p := createStrict[Shared](t, memFS(t))
	root := p.Root()
	const goroutines, each = 4, 50
	err := p.Update(func(t *tx.Tx[P]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Arcs, err = tx.NewVec[P, tx.Arc[P, Node]](t, 0); err != nil {
			return err
		}
		a, err := tx.NewArc(t, Node{Value: 1})
		if err != nil {
			return err
		}
		if err := r.Arcs.Append(t, a); err != nil {
			return err
		}
		return root.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	arc := func(t *tx.Tx[P]) (tx.Arc[P, Node], error) {
		r, err := root.Get(t)
		if err != nil {
			return tx.Arc[P, Node]{}, err
		}
		return r.Arcs.At(t, 0)
	}
	// Clone from every goroutine at once, keep the clones, check the count.
	err = p.Update(func(t *tx.Tx[P]) error {
		a, err := arc(t)
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var clones []tx.Arc[P, Node]
		errs := make(chan error, goroutines)
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					c, err := a.Clone(t)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					clones = append(clones, c)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		if c, err := a.Count(t); c != 1+goroutines*each || err != nil {
			return fmt.Errorf("count %d after %d concurrent clones, %v", c, goroutines*each, err)
		}
		r, _ := root.Get(t)
		return r.Arcs.Append(t, clones...)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Drop them all at once, but the first; then abort: the count comes
	// back.
	dropAll := func(t *tx.Tx[P]) error {
		r, _ := root.Get(t)
		// Take the clones out of the vector (Pop hands over ownership),
		// then drop them from every goroutine at once.
		var all []tx.Arc[P, Node]
		for n, err := r.Arcs.Len(t); n > 1; n-- {
			if err != nil {
				return err
			}
			a, err := r.Arcs.Pop(t)
			if err != nil {
				return err
			}
			all = append(all, a)
		}
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < len(all); i += goroutines {
					if err := all[i].Drop(t); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		first, err := r.Arcs.At(t, 0)
		if err != nil {
			return err
		}
		if c, err := first.Count(t); c != 1 || err != nil {
			return fmt.Errorf("count %d after dropping the clones, %v", c, err)
		}
		return nil
	}
	if err := p.Update(func(t *tx.Tx[P]) error {
		if err := dropAll(t); err != nil {
			return err
		}
		return errors.New("abort")
	}); err == nil || err.Error() != "abort" {
		t.Fatal(err)
	}
	err = p.View(func(t *tx.Tx[P]) error {
		a, err := arc(t)
		if err != nil {
			return err
		}
		if c, err := a.Count(t); c != 1+goroutines*each || err != nil {
			return fmt.Errorf("count %d after an aborted drop, %v", c, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Update(dropAll); err != nil {
		t.Fatal(err)
	}
}

// TestCellFieldAndModify: a Ptr to a field is a cell: Get and Set change
// one field in place, Modify borrows the whole object.
func TestCellFieldAndModify(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	root := p.Root()
	count := tx.Field(root, func(r *Root) *int64 { return &r.Count })
	second := tx.Field(root, func(r *Root) *int64 { return &r.Pair[1] })
	if tx.Field(tx.Ptr[P, Root]{}, func(r *Root) *int64 { return &r.Count }) != (tx.Ptr[P, int64]{}) {
		t.Error("a field of a nil pointer is not nil")
	}
	for i := range int64(10) {
		err := p.Update(func(t *tx.Tx[P]) error {
			if err := count.Set(t, i); err != nil {
				return err
			}
			return second.Set(t, -i)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		if r.Count != 9 || r.Pair != [2]int64{0, -9} {
			return fmt.Errorf("root %+v", r)
		}
		return nil
	})
	// A selector that leaves its object panics at once: a programming
	// error, found by the first call.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Field with a selector outside the object did not panic")
			}
		}()
		var outside int64
		tx.Field(root, func(*Root) *int64 { return &outside })
	}()
}

// TestMutexResetsOnRestart: a persistent lock held when the pool closes,
// or when its process dies, is free in the next open (a new epoch); taking
// and releasing are transactional.
func TestMutexResetsOnRestart(t *testing.T) {
	fsys := memFS(t)
	p := newPool(t, fsys, nil)
	mu := tx.Field(p.Root(), func(r *Root) *tx.Mutex { return &r.Mu })
	rw := tx.Field(p.Root(), func(r *Root) *tx.RWMutex { return &r.RW })
	must := func(p *tx.Pool[P, Root], fn func(t *tx.Tx[P]) error) {
		t.Helper()
		if err := p.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	must(p, func(t *tx.Tx[P]) error {
		if ok, err := tx.TryLock(t, mu); !ok || err != nil {
			return fmt.Errorf("TryLock of a free mutex: %v, %v", ok, err)
		}
		if ok, err := tx.TryLock(t, mu); ok || err != nil {
			return fmt.Errorf("TryLock of a held mutex: %v, %v", ok, err)
		}
		for range 2 {
			if ok, err := tx.TryRLock(t, rw); !ok || err != nil {
				return fmt.Errorf("TryRLock: %v, %v", ok, err)
			}
		}
		if ok, err := tx.TryLock(t, rw); ok || err != nil {
			return fmt.Errorf("TryLock of a read-held RWMutex: %v, %v", ok, err)
		}
		return nil
	})
	// An aborted transaction releases nothing.
	p.Update(func(t *tx.Tx[P]) error {
		tx.Unlock(t, mu)
		return errors.New("abort")
	})
	held := func(p *tx.Pool[P, Root], want bool) {
		t.Helper()
		err := p.View(func(t *tx.Tx[P]) error {
			a, err := tx.IsLocked(t, mu)
			if err != nil {
				return err
			}
			b, err := tx.IsLocked(t, rw)
			if a != want || b != want || err != nil {
				return fmt.Errorf("locked %v, %v, want %v (%v)", a, b, want, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	held(p, true)
	// Lock waits for the holder.
	got := make(chan error)
	go func() { got <- tx.Lock(context.Background(), p, mu) }()
	must(p, func(t *tx.Tx[P]) error { return tx.Unlock(t, mu) })
	if err := <-got; err != nil {
		t.Fatalf("Lock after the holder's Unlock: %v", err)
	}
	must(p, func(t *tx.Tx[P]) error {
		if err := tx.Unlock(t, rw); !errors.Is(err, tx.ErrNotLocked) {
			return fmt.Errorf("Unlock of a read-held RWMutex: %v", err)
		}
		return nil
	})
	held(p, true)

	// A process that dies holding both: the next open finds them free.
	crashed := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
	q, err := tx.Open[P, Root](crashed, poolName, &tx.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, q)
	if !q.Info().Unclean || q.Info().Epoch <= p.Info().Epoch {
		t.Errorf("after a crash: %+v, before %+v", q.Info(), p.Info())
	}
	held(q, false)
	must(q, func(t *tx.Tx[P]) error {
		if err := tx.Unlock(t, mu); !errors.Is(err, tx.ErrNotLocked) {
			return fmt.Errorf("Unlock of a lock of an earlier epoch: %v", err)
		}
		if ok, err := tx.TryLock(t, mu); !ok || err != nil {
			return fmt.Errorf("TryLock after a crash: %v, %v", ok, err)
		}
		return nil
	})
	// And a clean close too.
	p = reopen(t, fsys, p)
	held(p, false)
	if err := tx.RLock(context.Background(), p, rw); err != nil {
		t.Fatal(err)
	}
	must(p, func(t *tx.Tx[P]) error { return tx.RUnlock(t, rw) })
	must(p, func(t *tx.Tx[P]) error {
		if err := tx.RUnlock(t, rw); !errors.Is(err, tx.ErrNotLocked) {
			return fmt.Errorf("RUnlock of a free RWMutex: %v", err)
		}
		return nil
	})
}

// TestVec: Append, At, Set, SwapRemove, Pop, Truncate and All against a
// slice, growth of the buffer included, across a reopen.
func TestVec(t *testing.T) {
	fsys := memFS(t)
	p := newPool(t, fsys, nil)
	var model []Item
	update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
		r.Items, err = tx.NewVec[P, Item](t, 2)
		return err
	})
	step := func(fn func(t *tx.Tx[P], v tx.Vec[P, Item]) error) {
		t.Helper()
		update(t, p, func(t *tx.Tx[P], r *Root) error { return fn(t, r.Items) })
	}
	for i := range 100 {
		it := Item{ID: int64(i)}
		step(func(t *tx.Tx[P], v tx.Vec[P, Item]) (err error) {
			if i%3 == 0 {
				if it.Data, err = tx.NewBytes(t, bytes.Repeat([]byte{byte(i)}, i)); err != nil {
					return err
				}
			}
			return v.Append(t, it)
		})
		model = append(model, it)
	}
	step(func(t *tx.Tx[P], v tx.Vec[P, Item]) error {
		it, err := v.At(t, 10)
		if err != nil {
			return err
		}
		it.ID = 1000
		model[10].ID = 1000
		if err := v.Set(t, 10, it); err != nil {
			return err
		}
		got, err := v.SwapRemove(t, 3)
		if err != nil || got.ID != 3 {
			return fmt.Errorf("SwapRemove(3) = %+v, %v", got, err)
		}
		model[3] = model[len(model)-1]
		model = model[:len(model)-1]
		if err := got.Data.Free(t); err != nil {
			return err
		}
		got, err = v.Pop(t)
		if err != nil || got.ID != model[len(model)-1].ID {
			return fmt.Errorf("Pop = %+v, %v", got, err)
		}
		model = model[:len(model)-1]
		if !got.Data.IsNil() {
			if err := got.Data.Free(t); err != nil {
				return err
			}
		} else if err := got.Data.Free(t); !errors.Is(err, tx.ErrNil) {
			return fmt.Errorf("Free of a nil Bytes: %v", err)
		}
		// Truncate frees what the dropped elements own.
		model = model[:50]
		return v.Truncate(t, 50)
	})
	step(func(t *tx.Tx[P], v tx.Vec[P, Item]) error {
		if _, err := v.At(t, 50); err == nil {
			return errors.New("At past the end succeeded")
		}
		return nil
	})
	p = reopen(t, fsys, p)
	view(t, p, func(t *tx.Tx[P], r Root) error {
		all, err := r.Items.All(t)
		if err != nil {
			return err
		}
		if n, err := r.Items.Len(t); n != len(model) || err != nil {
			return fmt.Errorf("Len %d, %v, want %d", n, err, len(model))
		}
		for i := range model {
			if all[i] != model[i] {
				return fmt.Errorf("element %d: %+v, want %+v", i, all[i], model[i])
			}
			if all[i].Data.IsNil() != (all[i].ID%3 != 0) {
				return fmt.Errorf("element %d: %+v", i, all[i])
			}
			if all[i].Data.IsNil() {
				continue
			}
			b, err := all[i].Data.Get(t)
			if id := all[i].ID; err != nil || !bytes.Equal(b, bytes.Repeat([]byte{byte(id)}, int(id))) {
				return fmt.Errorf("element %d's bytes: %d bytes, %v", i, len(b), err)
			}
		}
		return nil
	})
}

// TestBytesAndString: blobs of every size class and of pages, empty ones
// included, read back after a reopen.
func TestBytesAndString(t *testing.T) {
	fsys := memFS(t)
	p := newPool(t, fsys, nil)
	sizes := []int{0, 1, 7, 8, 100, 1000, 4095, 4096, 4097, 20000}
	update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
		r.Items, err = tx.NewVec[P, Item](t, 0)
		for _, n := range sizes {
			if err != nil {
				return err
			}
			var b tx.Bytes[P]
			if b, err = tx.NewBytes(t, bytes.Repeat([]byte{byte(n)}, n)); err == nil {
				err = r.Items.Append(t, Item{ID: int64(n), Data: b})
			}
		}
		if err == nil {
			r.Name, err = tx.NewString(t, "héllo, wörld")
		}
		return err
	})
	p = reopen(t, fsys, p)
	view(t, p, func(t *tx.Tx[P], r Root) error {
		s, err := r.Name.Get(t)
		if s != "héllo, wörld" || err != nil {
			return fmt.Errorf("string %q, %v", s, err)
		}
		all, err := r.Items.All(t)
		if err != nil {
			return err
		}
		for i, it := range all {
			b, err := it.Data.Get(t)
			if err != nil || !bytes.Equal(b, bytes.Repeat([]byte{byte(sizes[i])}, sizes[i])) {
				return fmt.Errorf("blob of %d bytes: %d bytes, %v", sizes[i], len(b), err)
			}
		}
		return nil
	})
	// Freeing the vector frees the blobs its elements own.
	update(t, p, func(t *tx.Tx[P], r *Root) error {
		err := r.Items.Free(t)
		r.Items = tx.Vec[P, Item]{}
		if err == nil {
			err = r.Name.Free(t)
			r.Name = tx.String[P]{}
		}
		return err
	})
	if st := stats(t, p); st.Objects != 1 {
		t.Errorf("after freeing everything: %v, want only the root", st)
	}
}

// TestMapAgainstModel: random transactions of puts, deletes and gets on a
// map, committed or aborted, compared with a Go map after each, with the
// map growing through many bucket splits, and reopened now and then. The
// pool is strict: Check runs after every commit.
func TestMapAgainstModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
		if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
			rt.Fatal(err)
		}
		p, err := tx.Create[P, Root](fsys, poolName, &tx.Options{Size: 1 << 20, Strict: true})
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { p.Close() }()
		root := p.Root()
		if err := p.Update(func(t *tx.Tx[P]) error {
			r, _ := root.Get(t)
			r.Map, err = tx.NewMap(t)
			if err != nil {
				return err
			}
			return root.Set(t, r)
		}); err != nil {
			rt.Fatal(err)
		}
		model := map[string]string{}
		keys := rapid.IntRange(4, 300).Draw(rt, "keys")
		key := rapid.Custom(func(t *rapid.T) string { return fmt.Sprintf("key-%d", rapid.IntRange(0, keys-1).Draw(t, "k")) })
		for range rapid.IntRange(1, 8).Draw(rt, "transactions") {
			txModel := maps(model)
			commit := rapid.IntRange(0, 3).Draw(rt, "commit") > 0
			ops := rapid.IntRange(1, 60).Draw(rt, "ops")
			err := p.Update(func(t *tx.Tx[P]) error {
				r, err := root.Get(t)
				if err != nil {
					return err
				}
				for range ops {
					k := key.Draw(rt, "key")
					switch rapid.IntRange(0, 3).Draw(rt, "op") {
					case 0:
						ok, err := r.Map.Delete(t, []byte(k))
						if _, had := txModel[k]; err != nil || ok != had {
							return fmt.Errorf("Delete(%s) = %v, %v; model has it: %v", k, ok, err, had)
						}
						delete(txModel, k)
					case 1:
						v, ok, err := r.Map.Get(t, []byte(k))
						if want, had := txModel[k]; err != nil || ok != had || string(v) != want {
							return fmt.Errorf("Get(%s) = %q, %v, %v; want %q, %v", k, v, ok, err, want, had)
						}
					default:
						v := rapid.StringMatching(`[a-z]{0,80}`).Draw(rt, "value")
						if err := r.Map.Put(t, []byte(k), []byte(v)); err != nil {
							return err
						}
						txModel[k] = v
					}
				}
				if !commit {
					return errAbort
				}
				return nil
			})
			if commit && err != nil || !commit && !errors.Is(err, errAbort) {
				rt.Fatalf("Update: %v", err)
			}
			if commit {
				model = txModel
			}
			if rapid.IntRange(0, 3).Draw(rt, "reopen") == 0 {
				if err := p.Close(); err != nil {
					rt.Fatal(err)
				}
				if p, err = tx.Open[P, Root](fsys, poolName, &tx.Options{Strict: true}); err != nil {
					rt.Fatal(err)
				}
				root = p.Root()
			}
			if err := p.View(func(t *tx.Tx[P]) error {
				r, err := root.Get(t)
				if err != nil {
					return err
				}
				return sameAsModel(t, r.Map, model)
			}); err != nil {
				rt.Fatal(err)
			}
		}
		if err := p.Check(); err != nil {
			rt.Fatal(err)
		}
	})
}

var errAbort = errors.New("abort")

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// sameAsModel compares m with model through Len, Range and Get.
func sameAsModel(t *tx.Tx[P], m tx.Map[P], model map[string]string) error {
	n, err := m.Len(t)
	if err != nil || n != len(model) {
		return fmt.Errorf("Len %d, %v, model %d", n, err, len(model))
	}
	seen := map[string]bool{}
	var bad error
	err = m.Range(t, func(k, v []byte) bool {
		if want, ok := model[string(k)]; !ok || want != string(v) || seen[string(k)] {
			bad = fmt.Errorf("Range gave %q=%q (model %q, %v, seen before %v)", k, v, want, ok, seen[string(k)])
			return false
		}
		seen[string(k)] = true
		return true
	})
	if err == nil {
		err = bad
	}
	if err == nil && len(seen) != len(model) {
		err = fmt.Errorf("Range gave %d keys, model %d", len(seen), len(model))
	}
	return err
}

// TestMapGrowthAndFree: thousands of keys in one map (directory growth and
// many splits), every one found after a reopen, Range stopped early, then
// the map freed with everything it holds.
func TestMapGrowthAndFree(t *testing.T) {
	fsys := memFS(t)
	p := newPool(t, fsys, &tx.Options{Size: 4 << 20})
	empty := stats(t, p)
	const n = 5000
	model := map[string]string{}
	for batch := range 10 {
		update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
			if r.Map.IsNil() {
				if r.Map, err = tx.NewMap(t); err != nil {
					return err
				}
			}
			for i := batch * n / 10; i < (batch+1)*n/10; i++ {
				k, v := fmt.Sprintf("k%06d", i), fmt.Sprintf("value %d", i*i)
				model[k] = v
				if err := r.Map.Put(t, []byte(k), []byte(v)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	p = reopen(t, fsys, p)
	view(t, p, func(t *tx.Tx[P], r Root) error {
		if err := sameAsModel(t, r.Map, model); err != nil {
			return err
		}
		calls := 0
		if err := r.Map.Range(t, func(k, v []byte) bool { calls++; return calls < 10 }); err != nil || calls != 10 {
			return fmt.Errorf("a Range stopped after 10: %d calls, %v", calls, err)
		}
		var missing []string
		for k := range model {
			if _, ok, err := r.Map.Get(t, []byte(k)); !ok || err != nil {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			return fmt.Errorf("%d keys missing, first %s", len(missing), missing[0])
		}
		return nil
	})
	update(t, p, func(t *tx.Tx[P], r *Root) error {
		err := r.Map.Free(t)
		r.Map = tx.Map[P]{}
		return err
	})
	if st := stats(t, p); st.Objects != empty.Objects || st.Used != empty.Used {
		t.Errorf("after freeing the map: %v, want %v", st, empty)
	}
}

// TestGrowthKeepsPointers: pointers held in Go memory across the growth
// of the pool (the file extended and remapped) still reach their objects.
func TestGrowthKeepsPointers(t *testing.T) {
	p := newPool(t, memFS(t), &tx.Options{Size: 160 << 10, LogSize: tx.MinLogSize})
	var box tx.Box[P, Node]
	var name tx.String[P]
	update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
		if r.List, err = tx.NewBox(t, Node{Value: 99}); err != nil {
			return err
		}
		r.Name, err = tx.NewString(t, "before growth")
		box, name = r.List, r.Name
		return err
	})
	before := stats(t, p)
	for i := range 8 {
		update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
			if r.Items.IsNil() {
				if r.Items, err = tx.NewVec[P, Item](t, 0); err != nil {
					return err
				}
			}
			b, err := tx.NewBytes(t, make([]byte, 60<<10))
			if err == nil {
				err = r.Items.Append(t, Item{ID: int64(i), Data: b})
			}
			return err
		})
	}
	after := stats(t, p)
	if after.Zones <= before.Zones || after.FileSize <= before.FileSize {
		t.Fatalf("the pool did not grow: %v, before %v", after, before)
	}
	err := p.View(func(t *tx.Tx[P]) error {
		n, err := box.Get(t)
		if err != nil || n.Value != 99 {
			return fmt.Errorf("a box from before the growth: %+v, %v", n, err)
		}
		s, err := name.Get(t)
		if err != nil || s != "before growth" {
			return fmt.Errorf("a string from before the growth: %q, %v", s, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Ring is a node of a cycle of counted references.
type Ring struct {
	Value int64
	Next  tx.Rc[P, Ring]
}

// RingRoot holds one counted reference into a ring.
type RingRoot struct{ Head tx.Rc[P, Ring] }

// TestRcCycleIsReportedAsLeak: as in Corundum, a cycle of Rc references
// keeps its counts above zero once nothing else refers to it, so it is
// never freed; Check finds every node of it unreachable.
func TestRcCycleIsReportedAsLeak(t *testing.T) {
	p, err := tx.Create[P, RingRoot](memFS(t), poolName, &tx.Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	head := tx.Field(p.Root(), func(r *RingRoot) *tx.Rc[P, Ring] { return &r.Head })
	// Build a <-> b, held by the root: a clean pool.
	err = p.Update(func(t *tx.Tx[P]) error {
		a, err := tx.NewRc(t, Ring{Value: 1})
		if err != nil {
			return err
		}
		toA, err := a.Clone(t)
		if err != nil {
			return err
		}
		b, err := tx.NewRc(t, Ring{Value: 2, Next: toA})
		if err != nil {
			return err
		}
		if err := a.Set(t, Ring{Value: 1, Next: b}); err != nil {
			return err
		}
		return head.Set(t, a)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil {
		t.Fatalf("Check of a ring held by the root: %v", err)
	}
	before := stats(t, p).Objects
	// Drop the root's reference: a's count goes from 2 to 1, and nothing
	// is freed.
	err = p.Update(func(t *tx.Tx[P]) error {
		h, err := head.Get(t)
		if err != nil {
			return err
		}
		if err := h.Drop(t); err != nil {
			return err
		}
		return head.Set(t, tx.Rc[P, Ring]{})
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := stats(t, p).Objects; after != before {
		t.Errorf("objects %d after dropping the ring's last outside reference, want %d (a cycle is never freed)", after, before)
	}
	err = p.Check()
	if err == nil {
		t.Fatal("Check of a pool with an unreachable ring reports nothing")
	}
	if n := strings.Count(err.Error(), "leaked"); n != 2 {
		t.Errorf("Check reports %d leaked blocks, want the ring's 2:\n%v", n, err)
	}
}

type checkedItem struct {
	ID   tx.Checked[int64]
	Data tx.Bytes[P]
}

type checkedRoot struct {
	Value tx.Checked[Node]
	Inner struct{ N tx.Checked[[3]int32] }
	Items tx.Vec[P, checkedItem]
	Box   tx.Box[P, tx.Checked[int64]]
	Rc    tx.Rc[P, tx.Checked[int64]]
}

// TestCheckedThroughEveryAPI: Checked values are sealed and verified
// through every way a value is stored and read — Ptr.Set and Get, Field,
// Modify, Box, Rc, Vec's Append, Set, At, All and SwapRemove — and the
// zero Checked of a new root is valid; Options.Strict checks the pool
// after every commit, sums included.
func TestCheckedThroughEveryAPI(t *testing.T) {
	fsys := memFS(t)
	p, err := tx.Create[P, checkedRoot](fsys, poolName, &tx.Options{Size: 1 << 20, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p)
	root := p.Root()
	inner := tx.Field(root, func(r *checkedRoot) *tx.Checked[[3]int32] { return &r.Inner.N })
	err = p.Update(func(t *tx.Tx[P]) error {
		r, err := root.Get(t) // zero Checked values
		if err != nil {
			return err
		}
		if r.Value.Get() != (Node{}) {
			return fmt.Errorf("the zero root holds %+v", r.Value.Get())
		}
		r.Value.Set(Node{Value: 7})
		if r.Items, err = tx.NewVec[P, checkedItem](t, 0); err != nil {
			return err
		}
		for i := range int64(4) {
			var it checkedItem
			it.ID.Set(i * 10)
			if it.Data, err = tx.NewBytes(t, []byte{byte(i)}); err != nil {
				return err
			}
			if err := r.Items.Append(t, it); err != nil {
				return err
			}
		}
		var one tx.Checked[int64]
		one.Set(1)
		if r.Box, err = tx.NewBox(t, one); err != nil {
			return err
		}
		if r.Rc, err = tx.NewRc(t, one); err != nil {
			return err
		}
		if err := root.Set(t, r); err != nil {
			return err
		}
		var n tx.Checked[[3]int32]
		n.Set([3]int32{1, 2, 3})
		if err := inner.Set(t, n); err != nil {
			return err
		}
		return root.Modify(t, func(r *checkedRoot) error {
			v := r.Value.Get()
			v.Value++
			r.Value.Set(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Update(func(t *tx.Tx[P]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		it, err := r.Items.At(t, 1)
		if err != nil {
			return err
		}
		it.ID.Set(99) // its Data kept
		if err := r.Items.Set(t, 1, it); err != nil {
			return err
		}
		old, err := r.Items.SwapRemove(t, 0)
		if err != nil {
			return err
		}
		return old.Data.Free(t)
	})
	if err != nil {
		t.Fatal(err)
	}
	p = reopenAs(t, fsys, p)
	view := func(fn func(t *tx.Tx[P], r checkedRoot) error) {
		t.Helper()
		if err := p.View(func(tt *tx.Tx[P]) error {
			r, err := p.Root().Get(tt)
			if err != nil {
				return err
			}
			return fn(tt, r)
		}); err != nil {
			t.Fatal(err)
		}
	}
	view(func(t *tx.Tx[P], r checkedRoot) error {
		n, err := inner.Get(t)
		if err != nil {
			return err
		}
		items, err := r.Items.All(t)
		if err != nil {
			return err
		}
		var ids []int64
		for _, it := range items {
			ids = append(ids, it.ID.Get())
		}
		at, err := r.Items.At(t, 1)
		if err != nil {
			return err
		}
		b, err := r.Box.Get(t)
		if err != nil {
			return err
		}
		rc, err := r.Rc.Get(t)
		if err != nil {
			return err
		}
		if r.Value.Get().Value != 8 || n.Get() != [3]int32{1, 2, 3} || !slices.Equal(ids, []int64{30, 99, 20}) ||
			at.ID.Get() != 99 || b.Get() != 1 || rc.Get() != 1 {
			return fmt.Errorf("value %+v, inner %v, items %v, at %v, box %v, rc %v", r.Value.Get(), n.Get(), ids, at.ID.Get(), b.Get(), rc.Get())
		}
		return nil
	})
}

// reopenAs closes p and opens its pool again, strict.
func reopenAs[R any](t *testing.T, fsys *faultfs.FS, p *tx.Pool[P, R]) *tx.Pool[P, R] {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	q, err := tx.Open[P, R](fsys, poolName, &tx.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, q)
	return q
}
