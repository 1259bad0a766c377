package tx_test

// The tests of doc.go's table of Corundum's bug classes: each tries the
// bug and shows it prevented (it does not compile, or the API refuses it)
// or detected (a typed error, Check). The rows "unlogged update" and
// "memory leak" are also explored crash by crash by the laboratory's
// scenarios (sim/scenarios, pool_test.go).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/faultfs"
)

// Q is the tag of a second pool type.
type Q struct{}

// goTool returns the go command that built this test.
func goTool(t *testing.T) string {
	t.Helper()
	name := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(name); err == nil {
		return name
	}
	name, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to show that a program does not compile: %v", err)
	}
	return name
}

// compile builds src as a package of this module (through -overlay: no
// file is written into the source tree) and returns the compiler's output
// and whether it built.
func compile(t *testing.T, src string) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "probe.go")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd() // engine/tx, where go test runs
	if err != nil {
		t.Fatal(err)
	}
	virtual := filepath.Join(wd, "zz_compile_probe", "probe.go")
	overlay := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlay, []byte(fmt.Sprintf(`{"Replace":{%q:%q}}`, virtual, file)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool(t), "build", "-overlay", overlay, "-o", os.DevNull, "./zz_compile_probe")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// interPoolSource stores a pointer into an object of another pool type:
// with STORE = b (a Box of pool A) it must not compile; with a Box of
// pool B it must.
const interPoolSource = `package probe

import "github.com/crashsim/crashsim/engine/tx"

type A struct{}
type B struct{}

type NodeA struct{ Next tx.Box[A, NodeA] }
type NodeB struct{ Next tx.Box[B, NodeB] }

func link(t *tx.Tx[B], inB tx.Ptr[B, NodeB], a tx.Box[A, NodeA], b tx.Box[B, NodeB]) error {
	n, err := inB.Get(t)
	if err != nil {
		return err
	}
	n.Next = STORE
	return inB.Set(t, n)
}
`

// TestBugInterPoolPointer: a pointer of one pool cannot be stored in
// another. Across pool types it does not compile; a type holding another
// pool's pointer is refused at first use; a pointer from another file of
// the same type is ErrPointer when followed, and Check reports it.
func TestBugInterPoolPointer(t *testing.T) {
	out, ok := compile(t, strings.Replace(interPoolSource, "STORE", "b", 1))
	if !ok {
		t.Fatalf("the control program (same pool) does not compile:\n%s", out)
	}
	out, ok = compile(t, strings.Replace(interPoolSource, "STORE", "a", 1))
	if ok || !strings.Contains(out, "cannot use a") || !strings.Contains(out, "tx.Box[A, NodeA]") {
		t.Fatalf("storing pool A's pointer in pool B: built %v, output:\n%s", ok, out)
	}

	// Reflection, for what the compiler cannot see: a stored type with a
	// field of another pool's type.
	type Mixed struct {
		Count int64
		Other tx.Box[Q, Node]
	}
	p := newPool(t, memFS(t), nil)
	err := p.Update(func(t *tx.Tx[P]) error {
		_, err := tx.NewBox(t, Mixed{})
		return err
	})
	if !errors.Is(err, tx.ErrType) || !strings.Contains(err.Error(), "field Other") || !strings.Contains(err.Error(), "inter-pool") {
		t.Errorf("a type holding another pool's pointer: %v", err)
	}

	// Two files of the same pool type: a pointer of one, stored in the
	// other, is refused when followed and reported by Check.
	fsys := memFS(t)
	a, err := tx.Create[P, Root](fsys, "/pmem/a", &tx.Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := tx.Create[P, Root](fsys, "/pmem/b", &tx.Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var fromA tx.Box[P, Node]
	err = a.Update(func(t *tx.Tx[P]) (err error) {
		root := a.Root()
		r, _ := root.Get(t)
		fromA, err = tx.NewBox(t, Node{Value: 1})
		r.List = fromA
		if err == nil {
			err = root.Set(t, r)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	broot := b.Root()
	err = b.Update(func(t *tx.Tx[P]) error {
		if _, err := fromA.Get(t); !errors.Is(err, tx.ErrPointer) {
			return fmt.Errorf("following pool a's pointer in pool b: %v", err)
		}
		r, _ := broot.Get(t)
		r.List = fromA
		return broot.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(); !errors.Is(err, tx.ErrCheck) || !strings.Contains(err.Error(), "List") {
		t.Errorf("Check of a pool holding another file's pointer: %v", err)
	}
}

// TestBugPersistentToVolatile: a type holding a Go pointer in any form is
// refused at first use, with the field named, and nothing is allocated.
func TestBugPersistentToVolatile(t *testing.T) {
	type Inner struct {
		OK  [4]int32
		Bad string
	}
	type WithPointer struct {
		N int64
		P *int64
	}
	type WithSlice struct {
		N     int64
		Items []byte
	}
	type WithMap struct{ M map[string]int }
	type WithString struct{ In Inner }
	type WithInterface struct{ V any }
	type WithChan struct{ C chan int }
	type WithFunc struct{ F func() }
	type WithUintptr struct{ U uintptr }
	type WithUnsafe struct{ U unsafe.Pointer }
	type WithArray struct{ A [3]struct{ S []int } }
	type InBox struct{ B tx.Box[P, WithMap] }
	cases := []struct {
		try   func(*tx.Tx[P]) error
		field string
		kind  string
	}{
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, WithPointer{}); return err }, "field P", "ptr"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, WithSlice{}); return err }, "field Items", "slice"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, WithMap{}); return err }, "field M", "map"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, WithString{}); return err }, "field In.Bad", "string"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, WithInterface{}); return err }, "field V", "interface"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, WithChan{}); return err }, "field C", "chan"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, WithFunc{}); return err }, "field F", "func"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, WithUintptr{}); return err }, "field U", "uintptr"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, WithUnsafe{}); return err }, "field U", "unsafe.Pointer"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, WithArray{}); return err }, "field A[i].S", "slice"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewRc(t, WithChan{}); return err }, "field C", "chan"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewVec[P, WithFunc](t, 4); return err }, "field F", "func"},
		// A type reached through a pointer is checked too.
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, InBox{}); return err }, "field M", "map"},
		{func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, "a string"); return err }, "string", "string"},
	}
	p := newPool(t, memFS(t), nil)
	before := stats(t, p)
	for i, c := range cases {
		err := p.Update(c.try)
		if !errors.Is(err, tx.ErrType) || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), c.kind) {
			t.Errorf("case %d: %v, want ErrType naming %q (%s)", i, err, c.field, c.kind)
		}
	}
	// The check is cached per type: asking again gives the same answer.
	if err := p.Update(cases[0].try); !errors.Is(err, tx.ErrType) {
		t.Errorf("the second use of a refused type: %v", err)
	}
	if st := stats(t, p); st.Objects != before.Objects || st.Used != before.Used {
		t.Errorf("refused types allocated memory: %v, before %v", st, before)
	}
	// A root type of the kind is refused by Create, before any file.
	fsys := memFS(t)
	if _, err := tx.Create[P, WithSlice](fsys, "/pmem/bad", nil); !errors.Is(err, tx.ErrType) || !strings.Contains(err.Error(), "Items") {
		t.Errorf("Create with a root holding a slice: %v", err)
	}
	if _, err := fsys.Stat("/pmem/bad"); err == nil {
		t.Error("Create of a refused root type left a file")
	}
}

// TestBugVolatileToPersistent: Go memory holds only offsets, which keep
// nothing alive: a Weak cannot be stored, and a pointer kept in Go memory
// past the Free of its object is ErrPointer when followed, never the
// freed memory.
func TestBugVolatileToPersistent(t *testing.T) {
	type HoldsWeak struct {
		W tx.Weak[P, Node]
	}
	p := newPool(t, memFS(t), nil)
	if err := p.Update(func(t *tx.Tx[P]) error { _, err := tx.NewBox(t, HoldsWeak{}); return err }); !errors.Is(err, tx.ErrType) || !strings.Contains(err.Error(), "field W") {
		t.Errorf("storing a Weak: %v", err)
	}
	var kept tx.Box[P, Node]
	var weak tx.Weak[P, Node]
	update(t, p, func(t *tx.Tx[P], r *Root) (err error) {
		if r.List, err = tx.NewBox(t, Node{Value: 5}); err != nil {
			return err
		}
		kept = r.List
		if r.Rc, err = tx.NewRc(t, Node{Value: 6}); err != nil {
			return err
		}
		weak, err = r.Rc.Demote(t)
		return err
	})
	update(t, p, func(t *tx.Tx[P], r *Root) error {
		if err := r.List.Free(t); err != nil {
			return err
		}
		// In the freeing transaction the object is gone already.
		if _, err := kept.Get(t); !errors.Is(err, tx.ErrPointer) {
			return fmt.Errorf("following a box freed by this transaction: %v", err)
		}
		r.List = tx.Box[P, Node]{}
		err := r.Rc.Drop(t)
		r.Rc = tx.Rc[P, Node]{}
		return err
	})
	err := p.Update(func(t *tx.Tx[P]) error {
		if _, err := kept.Get(t); !errors.Is(err, tx.ErrPointer) {
			return fmt.Errorf("following a freed box kept in Go memory: %v", err)
		}
		if err := kept.Set(t, Node{}); !errors.Is(err, tx.ErrPointer) {
			return fmt.Errorf("writing through a freed box: %v", err)
		}
		if _, ok, err := weak.Promote(t); ok || err != nil {
			return fmt.Errorf("Promote of a freed object: %v, %v", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBugUnloggedUpdate: nothing writes the pool outside an Update's
// transaction: a View's Tx and a Tx kept past its function refuse writes.
// (The commit protocol's own mistakes are the laboratory's:
// sim/scenarios.TestPoolBugVariantsCaught.)
func TestBugUnloggedUpdate(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	root := p.Root()
	count := tx.Field(root, func(r *Root) *int64 { return &r.Count })
	var kept *tx.Tx[P]
	if err := p.Update(func(t *tx.Tx[P]) error { kept = t; return count.Set(t, 1) }); err != nil {
		t.Fatal(err)
	}
	err := p.View(func(t *tx.Tx[P]) error {
		if err := count.Set(t, 2); !errors.Is(err, tx.ErrReadOnly) {
			return fmt.Errorf("Set in a View: %v", err)
		}
		if err := root.Modify(t, func(r *Root) error { r.Count = 3; return nil }); !errors.Is(err, tx.ErrReadOnly) {
			return fmt.Errorf("Modify in a View: %v", err)
		}
		if _, err := tx.TryLock(t, tx.Field(root, func(r *Root) *tx.Mutex { return &r.Mu })); !errors.Is(err, tx.ErrReadOnly) {
			return fmt.Errorf("TryLock in a View: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := count.Set(kept, 4); !errors.Is(err, tx.ErrClosed) {
		t.Errorf("Set through a finished Update's Tx: %v", err)
	}
	if _, err := tx.NewBox(kept, Node{}); !errors.Is(err, tx.ErrClosed) {
		t.Errorf("NewBox through a finished Update's Tx: %v", err)
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		if r.Count != 1 {
			return fmt.Errorf("count %d, want 1", r.Count)
		}
		return nil
	})
}

// TestBugDataRace: goroutines updating the pool at once are serialized
// (no lost update), and so are the operations of goroutines sharing one
// transaction; readers never see a write in progress (run with -race).
func TestBugDataRace(t *testing.T) {
	p := newPool(t, memFS(t), nil)
	root := p.Root()
	count := tx.Field(root, func(r *Root) *int64 { return &r.Count })
	pair := tx.Field(root, func(r *Root) *[2]int64 { return &r.Pair })
	const goroutines, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines)
	for range goroutines {
		wg.Add(2)
		go func() { // writers: read, then write, each in its own transaction
			defer wg.Done()
			for range each {
				err := p.Update(func(t *tx.Tx[P]) error {
					c, err := count.Get(t)
					if err != nil {
						return err
					}
					if err := count.Set(t, c+1); err != nil {
						return err
					}
					return pair.Set(t, [2]int64{c + 1, c + 1})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // readers
			defer wg.Done()
			for range each {
				err := p.View(func(t *tx.Tx[P]) error {
					v, err := pair.Get(t)
					if err == nil && v[0] != v[1] {
						err = fmt.Errorf("torn read %v", v)
					}
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Goroutines sharing one transaction: Modify's borrow and the Tx's own
	// lock keep their read-modify-writes whole.
	err := p.Update(func(t *tx.Tx[P]) error {
		var wg sync.WaitGroup
		var mu sync.Mutex // Modify refuses a second borrow: take turns
		errs := make(chan error, goroutines)
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					mu.Lock()
					err := count.Modify(t, func(c *int64) error { *c++; return nil })
					mu.Unlock()
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	})
	if err != nil {
		t.Fatal(err)
	}
	view(t, p, func(t *tx.Tx[P], r Root) error {
		if r.Count != 2*goroutines*each {
			return fmt.Errorf("count %d, want %d: an update was lost", r.Count, 2*goroutines*each)
		}
		return nil
	})
	// A second writer of the same file is refused, in this process
	// (TestCreateOpenErrors) and in another (TestWriterLockAcrossProcesses).
}

// TestBugLeak: an allocation is undone by an abort and by a crash before
// commit, so nothing is leaked; an allocation that a committing
// transaction leaves unreachable is reported by Check (in strict mode, at
// the commit).
func TestBugLeak(t *testing.T) {
	for _, pr := range protocols {
		t.Run(pr.name, func(t *testing.T) { testBugLeak(t, pr.format, pr.commitDrain) })
	}
}

func testBugLeak(t *testing.T, format uint32, commitDrain uint64) {
	fsys := memFS(t)
	p := newPool(t, fsys, formatOptions(format))
	before := stats(t, p)
	root := p.Root()
	// Abort.
	err := p.Update(func(t *tx.Tx[P]) error {
		for range 10 {
			if _, err := tx.NewBytes(t, make([]byte, 5000)); err != nil {
				return err
			}
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	if st := stats(t, p); st.Used != before.Used || st.Objects != before.Objects {
		t.Errorf("after an aborted transaction: %v, before %v", st, before)
	}
	// A crash before the commit was durable: the commit's drain fails and
	// the process dies.
	fsys.SetInjector(faultfs.NewRules(faultfs.Rule{
		When:  faultfs.And(faultfs.OpKinds(faultfs.OpDrain), faultfs.OnIndex(commitDrain)),
		Fault: faultfs.SyncFailure,
	}))
	err = p.Update(func(t *tx.Tx[P]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Blob, err = tx.NewBytes(t, make([]byte, 9000)); err != nil {
			return err
		}
		return root.Set(t, r)
	})
	fsys.SetInjector(nil)
	if err == nil {
		t.Fatal("the commit with a failed drain succeeded")
	}
	for _, mode := range []faultfs.Strategy{faultfs.KeepAll, faultfs.LoseAll, faultfs.AllSubsets} {
		q, err := tx.Open[P, Root](fsys.CrashClone(faultfs.CrashOptions{Mode: mode, Seed: 5}), poolName, &tx.Options{Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		if st := stats(t, q); st.Used != before.Used || st.Objects != before.Objects {
			t.Errorf("%v: after a crash: %v, before %v", mode, st, before)
		}
		if err := q.Check(); err != nil {
			t.Errorf("%v: %v", mode, err)
		}
		q.Close()
	}
	// A committed leak: strict mode catches it at the commit, Check after.
	func() {
		defer func() {
			r := recover()
			if msg, _ := r.(string); !strings.Contains(msg, "strict mode") || !strings.Contains(msg, "leaked") {
				t.Errorf("a strict pool committing a leak: recovered %v", r)
			}
		}()
		p.Update(func(t *tx.Tx[P]) error {
			_, err := tx.NewBox(t, Node{Value: 1}) // stored nowhere
			return err
		})
	}()
	p.Close()
	q, err := tx.Open[P, Root](fsys, poolName, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Check(); !errors.Is(err, tx.ErrCheck) || !strings.Contains(err.Error(), "leak") {
		t.Errorf("Check of a pool with a leaked box: %v", err)
	}
}
