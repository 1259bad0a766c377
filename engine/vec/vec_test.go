package vec_test

import (
	"context"
	"errors"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/vec"
)

// TestOperationsAgainstSlice: seeded random Appends, Pushes, Sets, Pops,
// Truncates, Resizes and Reserves, with Syncs and reopenings, on every
// backend, give what the same operations on a Go slice give; the
// capacity grows only when it must, and amortized.
func TestOperationsAgainstSlice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, name string) {
		v, err := vec.Create[rec](fsys, name, &vec.Options{Capacity: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { v.Close() }()
		if v.Len() != 0 || v.Cap() != 3 {
			t.Fatalf("a new vector: Len %d Cap %d, want 0 and 3", v.Len(), v.Cap())
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var want []rec
		growths, next := 0, 0
		for step := range 2000 {
			capBefore := v.Cap()
			op := rng.IntN(20)
			switch {
			case op < 6:
				xs := make([]rec, rng.IntN(5))
				for i := range xs {
					xs[i] = mkrec(next)
					next++
				}
				err = v.Append(xs...)
				want = append(want, xs...)
			case op < 10:
				err = v.Push(mkrec(next))
				want = append(want, mkrec(next))
				next++
			case op < 13 && len(want) > 0:
				i := rng.IntN(len(want))
				err = v.Set(i, mkrec(next))
				want[i] = mkrec(next)
				next++
			case op < 15 && len(want) > 0:
				var x rec
				x, err = v.Pop()
				if x != want[len(want)-1] {
					t.Fatalf("step %d: Pop = %v, want %v", step, x, want[len(want)-1])
				}
				want = want[:len(want)-1]
			case op == 15:
				n := rng.IntN(len(want) + 1)
				err = v.Truncate(n)
				want = want[:n]
			case op == 16:
				n := rng.IntN(len(want) + 8)
				err = v.Resize(n)
				for len(want) < n {
					want = append(want, rec{})
				}
				want = want[:n]
			case op == 17:
				err = v.Reserve(v.Cap() + rng.IntN(4))
			case op == 18:
				err = v.Sync()
			case op == 19:
				if err = v.Close(); err == nil {
					v, err = vec.Open[rec](fsys, name, nil)
				}
			}
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			if v.Cap() > capBefore && op != 17 {
				growths++
			}
			if v.Len() != len(want) || v.Cap() < v.Len() {
				t.Fatalf("step %d: Len %d Cap %d, want length %d", step, v.Len(), v.Cap(), len(want))
			}
			if step%50 == 0 {
				if got := contents(t, v); !slices.Equal(got, want) {
					t.Fatalf("step %d: %v, want %v", step, got, want)
				}
			}
		}
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		v, err = vec.Open[rec](fsys, name, &vec.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := contents(t, v); !slices.Equal(got, want) {
			t.Fatalf("reopened: %d elements, want %d", len(got), len(want))
		}
		// Amortized: every growth of an append at least doubles the
		// capacity (Reserve grows it to exactly what it is asked).
		if max := bits.Len(uint(v.Cap()/3)) + 1; growths == 0 || growths > max {
			t.Errorf("%d growths by appends to a capacity of %d, want 1 to %d", growths, v.Cap(), max)
		}
	})
}

// TestMedium: each backend's vector says its medium.
func TestMedium(t *testing.T) {
	for _, b := range backends[1:] {
		fsys := b.fs(t)
		v := mustCreate(t, fsys, b.path(t, "m.vec"), nil)
		if v.Medium() != b.media {
			t.Errorf("%s: Medium %v, want %v", b.name, v.Medium(), b.media)
		}
	}
}

// TestResizeZeroes: Resize up gives zero elements, even where a Truncate
// left elements behind the length.
func TestResizeZeroes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, name string) {
		v := mustCreate(t, fsys, name, nil)
		if err := v.Append(mkrec(1), mkrec(2), mkrec(3)); err != nil {
			t.Fatal(err)
		}
		if err := v.Truncate(1); err != nil {
			t.Fatal(err)
		}
		if err := v.Resize(3); err != nil {
			t.Fatal(err)
		}
		if got := contents(t, v); !slices.Equal(got, []rec{mkrec(1), {}, {}}) {
			t.Errorf("after Truncate(1) and Resize(3): %v", got)
		}
		// A Resize larger than the zero buffer Resize stores from.
		if err := v.Resize(10_000); err != nil {
			t.Fatal(err)
		}
		for i, x := range v.All() {
			if i > 0 && x != (rec{}) {
				t.Fatalf("element %d after Resize: %v", i, x)
			}
		}
	})
}

// TestRangeErrors: an index outside [0, Len), a Pop of an empty vector, a
// Truncate beyond Len and negative lengths are ErrRange, and change
// nothing.
func TestRangeErrors(t *testing.T) {
	v := mustCreate(t, simFS(t), "/data/v.vec", nil)
	if err := v.Append(mkrec(1), mkrec(2)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		err  error
	}{
		{"At(2)", func() error { _, err := v.At(2); return err }()},
		{"At(-1)", func() error { _, err := v.At(-1); return err }()},
		{"Set(2)", v.Set(2, rec{})},
		{"Set(-1)", v.Set(-1, rec{})},
		{"Truncate(3)", v.Truncate(3)},
		{"Truncate(-1)", v.Truncate(-1)},
		{"Resize(-1)", v.Resize(-1)},
	} {
		if !errors.Is(c.err, vec.ErrRange) {
			t.Errorf("%s: %v, want ErrRange", c.what, c.err)
		}
	}
	if got := contents(t, v); !slices.Equal(got, []rec{mkrec(1), mkrec(2)}) {
		t.Errorf("after the errors: %v", got)
	}
	v.Truncate(0)
	if _, err := v.Pop(); !errors.Is(err, vec.ErrRange) {
		t.Errorf("Pop of an empty vector: %v, want ErrRange", err)
	}
	if _, err := vec.Create[rec](simFS(t), "/data/neg.vec", &vec.Options{Capacity: -1}); !errors.Is(err, vec.ErrRange) {
		t.Errorf("Create with capacity -1: %v, want ErrRange", err)
	}
}

// TestReadOnly: a reader reads and changes nothing; Create cannot be
// read-only.
func TestReadOnly(t *testing.T) {
	fsys := simFS(t)
	w := mustCreate(t, fsys, "/data/v.vec", nil)
	w.Append(mkrec(1))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, fsys, "/data/v.vec", &vec.Options{ReadOnly: true})
	for what, err := range map[string]error{
		"Append":         r.Append(mkrec(2)),
		"Push":           r.Push(mkrec(2)),
		"Set":            r.Set(0, mkrec(2)),
		"Pop":            func() error { _, err := r.Pop(); return err }(),
		"Truncate":       r.Truncate(0),
		"Resize":         r.Resize(5),
		"Reserve":        r.Reserve(100),
		"Sync":           r.Sync(),
		"SetDataVersion": r.SetDataVersion(3),
	} {
		if !errors.Is(err, vec.ErrReadOnly) {
			t.Errorf("%s of a reader: %v, want ErrReadOnly", what, err)
		}
	}
	if got := contents(t, r); !slices.Equal(got, []rec{mkrec(1)}) {
		t.Errorf("reader: %v", got)
	}
	if _, err := vec.Create[rec](fsys, "/data/ro.vec", &vec.Options{ReadOnly: true}); !errors.Is(err, vec.ErrReadOnly) {
		t.Errorf("read-only Create: %v, want ErrReadOnly", err)
	}
}

// TestClosed: every method of a closed vector is ErrClosed, and Close
// releases the lock.
func TestClosed(t *testing.T) {
	fsys := simFS(t)
	v := mustCreate(t, fsys, "/data/v.vec", nil)
	v.Append(mkrec(1))
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"Close":          v.Close(),
		"At":             func() error { _, err := v.At(0); return err }(),
		"Append":         v.Append(mkrec(2)),
		"Push":           v.Push(mkrec(2)),
		"Set":            v.Set(0, mkrec(2)),
		"Pop":            func() error { _, err := v.Pop(); return err }(),
		"Truncate":       v.Truncate(0),
		"Resize":         v.Resize(5),
		"Reserve":        v.Reserve(100),
		"Sync":           v.Sync(),
		"SetDataVersion": v.SetDataVersion(3),
	} {
		if !errors.Is(err, vec.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", what, err)
		}
	}
	if v.Len() != 0 || len(v.View()) != 0 {
		t.Errorf("a closed vector has length %d", v.Len())
	}
	for range v.All() {
		t.Error("All of a closed vector yields")
	}
	w := mustOpen(t, fsys, "/data/v.vec", nil)
	if w.Len() != 1 {
		t.Errorf("reopened after Close: length %d, want 1 (Close syncs)", w.Len())
	}
}

// TestLocks: one writer or many readers, never both (flock, so within a
// process too); OpenWait waits for the holder to close, or for its
// context.
func TestLocks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, name string) {
		w := mustCreate(t, fsys, name, nil)
		ro := &vec.Options{ReadOnly: true}
		if _, err := vec.Open[rec](fsys, name, nil); !errors.Is(err, vec.ErrLocked) {
			t.Errorf("a second writer: %v, want ErrLocked", err)
		}
		if _, err := vec.Open[rec](fsys, name, ro); !errors.Is(err, vec.ErrLocked) {
			t.Errorf("a reader beside the writer: %v, want ErrLocked", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := vec.OpenWait[rec](ctx, fsys, name, ro); !errors.Is(err, context.Canceled) {
			t.Errorf("OpenWait with a cancelled context: %v, want context.Canceled", err)
		}
		// A reader waiting while the writer appends and closes sees what
		// the writer closed with.
		opened := make(chan *vec.Vec[rec])
		go func() {
			r, err := vec.OpenWait[rec](context.Background(), fsys, name, ro)
			if err != nil {
				t.Error(err)
			}
			opened <- r
		}()
		w.Append(mkrec(1), mkrec(2))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r1 := <-opened
		if r1 == nil {
			return
		}
		defer r1.Close()
		if r1.Len() != 2 {
			t.Errorf("the waiting reader sees length %d, want 2", r1.Len())
		}
		r2 := mustOpen(t, fsys, name, ro)
		if _, err := vec.Open[rec](fsys, name, nil); !errors.Is(err, vec.ErrLocked) {
			t.Errorf("a writer beside readers: %v, want ErrLocked", err)
		}
		r1.Close()
		r2.Close()
		mustOpen(t, fsys, name, nil)
	})
}

// TestCreate: Create refuses an existing name, removes what a crashed
// Create left, and leaves nothing when it fails; Open of a missing file is
// fs.ErrNotExist and creates nothing.
func TestCreate(t *testing.T) {
	fsys := simFS(t)
	if _, err := vec.Open[rec](fsys, "/data/v.vec", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := fsys.Stat("/data/v.vec"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing file created it: %v", err)
	}
	left, err := engine.Create(fsys, "/data/v.vec.creating")
	if err != nil {
		t.Fatal(err)
	}
	left.WriteAt([]byte("half a vector"), 0)
	left.Close()
	v := mustCreate(t, fsys, "/data/v.vec", nil)
	if _, err := fsys.Stat("/data/v.vec.creating"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the temporary file is still there: %v", err)
	}
	if _, err := vec.Create[rec](fsys, "/data/v.vec", nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create of an existing vector: %v, want fs.ErrExist", err)
	}
	v.Close()
	if _, err := vec.Create[struct{ P *int }](fsys, "/data/p.vec", nil); !errors.Is(err, vec.ErrType) {
		t.Errorf("Create of a vector of pointers: %v, want ErrType", err)
	}
	names, _ := fsys.ReadDir("/data")
	if len(names) != 1 {
		t.Errorf("after the failed Create: %v, want only v.vec", names)
	}
}

// TestElementTypes: T is checked at first use and a type with Go pointers
// is refused naming the field; plain types of every kind are accepted.
func TestElementTypes(t *testing.T) {
	fsys := simFS(t)
	type inner struct {
		A [4]int16
		S []byte
	}
	for _, c := range []struct {
		err   error
		field string
	}{
		{create[struct{ P *int }](fsys), "field P is a ptr"},
		{create[struct{ In inner }](fsys), "field In.S is a slice"},
		{create[[2]struct{ M map[int]int }](fsys), "field [i].M is a map"},
		{create[struct{ U uintptr }](fsys), "field U is a uintptr"},
		{create[string](fsys), "string is a string"},
		{create[struct{}](fsys), "has size zero"},
	} {
		if !errors.Is(c.err, vec.ErrType) || !strings.Contains(c.err.Error(), c.field) {
			t.Errorf("%v, want ErrType with %q", c.err, c.field)
		}
	}
	if err := create[struct {
		B  bool
		I  int
		F  float32
		C  complex128
		Ar [3][2]uint8
	}](fsys); err != nil {
		t.Errorf("a plain struct: %v", err)
	}
	if _, err := vec.Create[rec](fsys, "/data/n.vec", &vec.Options{TypeName: "a\x00b"}); !errors.Is(err, vec.ErrType) {
		t.Errorf("a TypeName with a NUL: %v, want ErrType", err)
	}
}

var created int

// create creates a vector of T under a new name and closes it.
func create[T any](fsys engine.FS) error {
	created++
	v, err := vec.Create[T](fsys, "/data/"+strings.Repeat("t", created)+".vec", nil)
	if err != nil {
		return err
	}
	return v.Close()
}

// TestLayoutMismatch: a file of another element type — another name,
// size or shape — is ErrLayout, and Options.TypeName opens a file whose
// type was renamed.
func TestLayoutMismatch(t *testing.T) {
	fsys := simFS(t)
	v := mustCreate(t, fsys, "/data/v.vec", nil)
	v.Append(mkrec(1))
	v.Close()
	type rec2 rec // the same shape, another name
	type swapped struct {
		Tag [8]byte
		N   uint64
	}
	type bigger struct {
		N   uint64
		Tag [16]byte
	}
	for what, err := range map[string]error{
		"renamed": func() error { _, err := vec.Open[rec2](fsys, "/data/v.vec", nil); return err }(),
		"reshaped, renamed to the old name": func() error {
			_, err := vec.Open[swapped](fsys, "/data/v.vec", &vec.Options{TypeName: "vec_test.rec"})
			return err
		}(),
		"larger": func() error {
			_, err := vec.Open[bigger](fsys, "/data/v.vec", &vec.Options{TypeName: "vec_test.rec"})
			return err
		}(),
		"a plain array": func() error { _, err := vec.Open[[16]byte](fsys, "/data/v.vec", nil); return err }(),
	} {
		if !errors.Is(err, vec.ErrLayout) {
			t.Errorf("%s: %v, want ErrLayout", what, err)
		}
	}
	w, err := vec.Open[rec2](fsys, "/data/v.vec", &vec.Options{TypeName: "vec_test.rec"})
	if err != nil {
		t.Fatalf("a renamed type opened under its old name: %v", err)
	}
	if x, err := w.At(0); err != nil || rec(x) != mkrec(1) {
		t.Errorf("At(0) = %v, %v", x, err)
	}
	w.Close()
}

// TestDataVersion: Open refuses another data version; SetDataVersion is
// durable with the next Sync.
func TestDataVersion(t *testing.T) {
	fsys := simFS(t)
	v := mustCreate(t, fsys, "/data/v.vec", &vec.Options{DataVersion: 1})
	if v.DataVersion() != 1 {
		t.Errorf("DataVersion %d, want 1", v.DataVersion())
	}
	v.Close()
	for _, dv := range []uint64{0, 2} {
		if _, err := vec.Open[rec](fsys, "/data/v.vec", &vec.Options{DataVersion: dv}); !errors.Is(err, vec.ErrVersion) {
			t.Errorf("Open with data version %d of a file of 1: %v, want ErrVersion", dv, err)
		}
	}
	v = mustOpen(t, fsys, "/data/v.vec", &vec.Options{DataVersion: 1})
	if err := v.SetDataVersion(2); err != nil {
		t.Fatal(err)
	}
	if err := v.Sync(); err != nil {
		t.Fatal(err)
	}
	crashed := fsys.CrashClone(faultfsDropAll)
	v.Close()
	if _, err := vec.Open[rec](crashed, "/data/v.vec", &vec.Options{DataVersion: 2}); err != nil {
		t.Errorf("after SetDataVersion(2), Sync and a power failure: %v", err)
	}
	if h, err := vec.ReadHeader(fsys, "/data/v.vec"); err != nil || h.DataVersion != 2 {
		t.Errorf("ReadHeader: %+v, %v", h, err)
	}
}
