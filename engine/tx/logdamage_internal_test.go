package tx

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// The undo log of a pool that crashed in the middle of a transaction,
// damaged: every outcome is ErrCorrupt or a correct state, never a
// transaction half applied (issue 16 section 2).

type dtag struct{}

type dnode struct {
	Value int64
	Next  Box[dtag, dnode]
}

type droot struct {
	Count int64
	Pair  [2]int64
	List  Box[dtag, dnode]
	Map   Map[dtag]
}

// detRand is a deterministic source of a pool's UUID and map seeds.
type detRand struct{}

func (detRand) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(i*13 + 5)
	}
	return len(b), nil
}

func openD(fsys engine.FS) (*Pool[dtag, droot], error) {
	return Open[dtag, droot](fsys, cpool, &Options{Rand: detRand{}})
}

// damageBase returns a file system holding a pool with a three-node list
// and a map of eight keys, open when it was copied: the last
// transaction's log is still in place, as a crash leaves it.
func damageBase(t *testing.T, format uint32) *faultfs.FS {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Create[dtag, droot](fsys, cpool, &Options{Size: 1 << 20, LogSize: MinLogSize, Rand: detRand{}, format: format})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	root := p.Root()
	err = p.Update(func(t *Tx[dtag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		for i := range int64(3) {
			if r.List, err = NewBox(t, dnode{Value: i, Next: r.List}); err != nil {
				return err
			}
		}
		if r.Map, err = NewMap(t); err != nil {
			return err
		}
		for i := range 8 {
			if err := r.Map.Put(t, fmt.Appendf(nil, "key%d", i), fmt.Appendf(nil, "value%d", i)); err != nil {
				return err
			}
		}
		r.Count, r.Pair = 1, [2]int64{1, 1}
		return root.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	return copyFS(fsys)
}

// runDamageTx runs the transaction that the test interrupts: it changes
// the root, a list node in place, a map value in place, frees a node,
// allocates one and inserts a key — many ranges of the log, of data and
// of the heap's metadata.
func runDamageTx(p *Pool[dtag, droot]) error {
	root := p.Root()
	return p.Update(func(t *Tx[dtag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		head, err := r.List.Get(t)
		if err != nil {
			return err
		}
		second, err := head.Next.Get(t)
		if err != nil {
			return err
		}
		// Drop the second node (what it owns is the first's now), change
		// the first, push a new one.
		if err := head.Next.Ptr().Set(t, dnode{Value: 99}); err != nil {
			return err
		}
		old := head.Next
		head.Next = second.Next
		head.Value = 42
		if err := r.List.Set(t, head); err != nil {
			return err
		}
		if err := old.Free(t); err != nil {
			return err
		}
		if r.List, err = NewBox(t, dnode{Value: 7, Next: r.List}); err != nil {
			return err
		}
		if err := r.Map.Put(t, []byte("key3"), []byte("VALUE3")); err != nil {
			return err
		}
		if err := r.Map.Put(t, []byte("new-key"), []byte("new-value")); err != nil {
			return err
		}
		r.Count, r.Pair[1] = 2, 2
		return root.Set(t, r)
	})
}

// digest opens the pool of fsys, reads everything in it and checks it.
func digest(fsys engine.FS) (string, error) {
	p, err := openD(fsys)
	if err != nil {
		return "", err
	}
	defer p.Close()
	var b strings.Builder
	err = p.View(func(t *Tx[dtag]) error {
		r, err := p.Root().Get(t)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "count %d pair %v list", r.Count, r.Pair)
		for n, i := r.List, 0; !n.IsNil() && i < 10; i++ {
			v, err := n.Get(t)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %d", v.Value)
			n = v.Next
		}
		var kv []string
		if err := r.Map.Range(t, func(k, v []byte) bool {
			kv = append(kv, string(k)+"="+string(v))
			return true
		}); err != nil {
			return err
		}
		slices.Sort(kv)
		n, err := r.Map.Len(t)
		fmt.Fprintf(&b, " map %d %v", n, kv)
		return err
	})
	if err == nil {
		err = p.Check()
	}
	return b.String(), err
}

// logExtent returns how many bytes of the log area, from its start and
// in whole lines, a transaction changed: from base to committed.
func logExtent(t *testing.T, base, committed *faultfs.FS) int64 {
	t.Helper()
	h, err := DecodeHeader(readFile(t, base, 0, headerSize))
	if err != nil {
		t.Fatal(err)
	}
	a := readFile(t, base, logAreaOff, int(h.LogSize))
	b := readFile(t, committed, logAreaOff, int(h.LogSize))
	n := int64(len(a))
	for n > 0 && a[n-1] == b[n-1] {
		n--
	}
	if n == 0 {
		t.Fatal("the transaction wrote no log")
	}
	return (n + 63) &^ 63
}

// TestDamagedLogMidTransaction: a pool that crashed while its last
// transaction was written in place — the log durable, some of the data
// lines new and others old — is opened with every bit, then every byte,
// of its log flipped in turn (flipPatterns). Each open is ErrCorrupt or a
// state a crash may leave, never the transaction half applied: with an
// undo log (format 5) the state before the transaction, with a redo log
// (format 6, both slots flipped, the last transaction's log and the one
// before) the state after it, committed when its log was durable. The
// same with the transaction wholly in place: ErrCorrupt or the committed
// state. And a log torn by a crash while it was written, before any data
// was in place, is never taken for damage: every such state opens to the
// state before the transaction (or, with a redo log whose lines and new
// memory all reached the media although their drain failed, after it).
func TestDamagedLogMidTransaction(t *testing.T) {
	for _, format := range []uint32{5, Version} {
		t.Run(fmt.Sprintf("format-%d", format), func(t *testing.T) { testDamagedLogMidTransaction(t, format) })
	}
}

func testDamagedLogMidTransaction(t *testing.T, format uint32) {
	redo := format >= formatRedo
	base := damageBase(t, format)
	before, err := digest(copyFS(base))
	if err != nil {
		t.Fatal(err)
	}

	// The transaction, committed; its log stays in place.
	fsys := copyFS(base)
	p, err := openD(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if err := runDamageTx(p); err != nil {
		t.Fatal(err)
	}
	committed := copyFS(fsys)
	p.Close()
	after, err := digest(copyFS(committed))
	if err != nil || after == before {
		t.Fatalf("the committed transaction: %q (before %q), %v", after, before, err)
	}

	// The transaction interrupted while in place: with an undo log every
	// drain after the log's fails (the rollback's too); with a redo log
	// its stores in place fail after the first few. Then the machine
	// stops, keeping any subset of what was written since.
	fsys = copyFS(base)
	p, err = openD(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if redo {
		fsys.SetInjector(&storesAfterDrain{pass: 3, fault: faultfs.Error(syscall.EIO)})
	} else {
		fsys.SetInjector(&drainsFrom{n: 1, fault: faultfs.Error(syscall.EIO)})
	}
	if err := runDamageTx(p); !errors.Is(err, ErrBroken) {
		t.Fatalf("the interrupted transaction: %v, want ErrBroken", err)
	}
	fsys.SetInjector(nil)
	var half *faultfs.FS
	for seed := range int64(100) {
		img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.AllSubsets, Seed: seed})
		if halfApplied(t, img, base, committed) {
			half = img
			break
		}
	}
	p.Close()
	if half == nil {
		t.Fatal("no crash image holds the transaction half in place")
	}
	recovered := before
	if redo {
		recovered = after
	}
	if got, err := digest(copyFS(half)); err != nil || got != recovered {
		t.Fatalf("the half-applied pool, undamaged: %q, %v; want %q", got, err, recovered)
	}

	extent := logExtent(t, base, committed) + 64 // and a line past the log
	// The bytes flipped: the log, and a line past it; with a redo log,
	// the lines either slot holds.
	flipped := []logRange{{logAreaOff, extent}}
	if redo {
		flipped = nil
		for s := range int64(slotCount) {
			off := logAreaOff + s*MinLogSize
			b := readFile(t, committed, off, MinLogSize)
			n := int64(len(b))
			for n > 0 && b[n-1] == 0 {
				n--
			}
			flipped = append(flipped, logRange{off, min((n+63)&^63+64, int64(len(b)))})
		}
	}
	for _, c := range []struct {
		name string
		img  *faultfs.FS
		want string
	}{
		{"half in place", half, recovered},
		{"all in place", committed, after},
	} {
		for _, fr := range flipped {
			good := readFile(t, c.img, fr.off, int(fr.n))
			try := func(what string, change func(b []byte)) {
				img := copyFS(c.img)
				b := append([]byte(nil), good...)
				change(b)
				writeFile(t, img, fr.off, b)
				got, err := digest(img)
				switch {
				case errors.Is(err, ErrCorrupt):
				case err != nil:
					t.Errorf("%s, %s: %v, want ErrCorrupt or a correct state", c.name, what, err)
				case got != c.want:
					t.Errorf("%s, %s: opened to %q, want ErrCorrupt or %q", c.name, what, got, c.want)
				}
			}
			for i := range fr.n {
				for _, flip := range flipPatterns() {
					try(fmt.Sprintf("byte %d of the log area ^ %#x", fr.off-logAreaOff+i, flip), func(b []byte) { b[i] ^= flip })
				}
			}
		}
	}

	// The log torn: the transaction's log drain fails and the machine
	// stops, keeping any subset of the log's lines, each a prefix of what
	// was stored to it.
	fsys = copyFS(base)
	p, err = openD(fsys)
	if err != nil {
		t.Fatal(err)
	}
	fsys.SetInjector(&drainsFrom{n: 0, fault: faultfs.Error(syscall.EIO)})
	if err := runDamageTx(p); err == nil {
		t.Fatal("the transaction whose log drain failed committed")
	}
	fsys.SetInjector(nil)
	seen := map[string]bool{}
	befores := 0
	for seed := range int64(300) {
		mode := faultfs.AllSubsets
		if seed%3 == 0 {
			mode = faultfs.InOrderPrefixes
		}
		img := fsys.CrashClone(faultfs.CrashOptions{Mode: mode, Seed: seed})
		log := string(readFile(t, img, logAreaOff, int(extent)))
		if seen[log] {
			continue
		}
		seen[log] = true
		got, err := digest(img)
		if got == before {
			befores++
		}
		if err != nil || got != before && !(redo && got == after) {
			t.Errorf("torn log (%v, seed %d): %q, %v; want %q", mode, seed, got, err, before)
		}
	}
	if len(seen) < 10 || befores < len(seen)/2 {
		t.Errorf("only %d distinct torn logs, %d of them the state before", len(seen), befores)
	}
	p.Close()
}

// halfApplied reports whether img's heap is neither base's nor
// committed's.
func halfApplied(t *testing.T, img, base, committed *faultfs.FS) bool {
	t.Helper()
	h, err := DecodeHeader(readFile(t, img, 0, headerSize))
	if err != nil {
		t.Fatal(err)
	}
	n := int(h.Size - h.HeapOff)
	heap := string(readFile(t, img, h.HeapOff, n))
	return heap != string(readFile(t, base, h.HeapOff, n)) && heap != string(readFile(t, committed, h.HeapOff, n))
}

// drainsFrom injects fault into every drain from the n-th (counting from
// 0) on.
type drainsFrom struct {
	n, i  int
	fault faultfs.Fault
}

func (f *drainsFrom) MaybeInject(op faultfs.Op) faultfs.Fault {
	if op.Kind != faultfs.OpDrain {
		return faultfs.Fault{}
	}
	f.i++
	if f.i > f.n {
		return f.fault
	}
	return faultfs.Fault{}
}

// storesAfterDrain lets the first drain and pass stores after it through,
// and injects fault into every store after those.
type storesAfterDrain struct {
	pass, stores int
	drained      bool
	fault        faultfs.Fault
}

func (f *storesAfterDrain) MaybeInject(op faultfs.Op) faultfs.Fault {
	switch {
	case op.Kind == faultfs.OpDrain:
		f.drained = true
	case f.drained && (op.Kind == faultfs.OpRegionWrite || op.Kind == faultfs.OpRegionAtomic):
		f.stores++
		if f.stores > f.pass {
			return f.fault
		}
	}
	return faultfs.Fault{}
}
