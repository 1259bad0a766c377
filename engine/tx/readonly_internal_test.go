package tx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// A pool opened ReadOnly and read in Views, after one of its bytes was
// damaged at rest (issue 16's torture, sweep pool/read-only): damage reads
// as a typed error, never as data, never as another package's error, and
// never sizes an allocation.

// openReadOnly opens the pool of fsys read-only.
func openReadOnly(fsys engine.FS) (*Pool[mtag, mroot], error) {
	return Open[mtag, mroot](fsys, cpool, &Options{ReadOnly: true})
}

// allocated returns the bytes allocated by the process while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadOnlyPastTheFile: a pointer or a length that leads past the end
// of the pool's file, read in a View of a read-only pool, is ErrPointer
// or ErrCorrupt, and allocates nothing of its size. Such a View maps the
// file again when a range lies past its mapping (a writer of another
// process may have grown the pool), and read what was past the file with
// the engine's untyped "offset out of range" — having first allocated a
// buffer of the damaged length (a map entry's value length, a blob's
// length in a pool without checksums: up to 4 GiB and 1 TiB).
func TestReadOnlyPastTheFile(t *testing.T) {
	base := metaBase(t, formatMarked) // no checksums: the lengths are read as they are
	ranges := map[string]int64{}
	for _, r := range metaRanges(t, base) {
		name, _, _ := strings.Cut(r.name, " in bucket") // the first map entry is "map entry"
		if _, ok := ranges[name]; !ok {
			ranges[name] = r.off
		}
	}
	boxAt := ranges["root.Box"]
	box := binary.NativeEndian.Uint64(readFile(t, base, boxAt, 8))
	const huge = 1 << 28
	for _, c := range []struct {
		name string
		off  int64
		b    []byte
		read func(*Tx[mtag], mroot) error
	}{
		{"a pointer past the file", boxAt, binary.NativeEndian.AppendUint64(nil, box&^offsetMask|1<<40),
			func(t *Tx[mtag], r mroot) error { _, err := r.Box.Get(t); return err }},
		{"a blob's length past the file", ranges["blob blob header"], binary.LittleEndian.AppendUint64(nil, huge),
			func(t *Tx[mtag], r mroot) error { _, err := r.Blob.Get(t); return err }},
		{"a map entry's value length past the file", ranges["map entry"] + entryVlenOff, binary.LittleEndian.AppendUint32(nil, huge),
			func(t *Tx[mtag], r mroot) error {
				return r.Map.Range(t, func(k, v []byte) bool { return true })
			}},
	} {
		if c.off == 0 {
			t.Fatalf("%s: no such range", c.name)
		}
		fsys := copyFS(base)
		writeFile(t, fsys, c.off, c.b)
		p, err := openReadOnly(fsys)
		if err != nil {
			t.Fatalf("%s: Open: %v", c.name, err)
		}
		var verr error
		n := allocated(func() {
			verr = p.View(func(t *Tx[mtag]) error {
				r, err := p.Root().Get(t)
				if err != nil {
					return err
				}
				return c.read(t, r)
			})
		})
		if !errors.Is(verr, ErrPointer) && !errors.Is(verr, ErrCorrupt) {
			t.Errorf("%s: View = %v, want ErrPointer or ErrCorrupt", c.name, verr)
		}
		if n >= huge/4 {
			t.Errorf("%s: the View allocated %d bytes", c.name, n)
		}
		p.Close()
	}
}

// rroot is the root of the torture's pool: a small root whose zero value
// is a valid state (no transaction yet), beside free memory of zeros.
type rroot struct {
	Seq, Sum uint64
	Map      Map[mtag]
}

// rootBase returns a closed pool of root rroot after 40 transactions,
// each putting a key and advancing the counters.
func rootBase(t *testing.T) *faultfs.FS {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Create[mtag, rroot](fsys, cpool, &Options{Size: 96 << 10, LogSize: MinLogSize, Rand: detRand{}})
	if err != nil {
		t.Fatal(err)
	}
	root := p.Root()
	for k := uint64(1); k <= 40; k++ {
		err := p.Update(func(t *Tx[mtag]) error {
			r, err := root.Get(t)
			if err != nil {
				return err
			}
			if r.Map.IsNil() {
				if r.Map, err = NewMap(t); err != nil {
					return err
				}
			}
			if err := r.Map.Put(t, fmt.Appendf(nil, "key-%d", k%17), fmt.Appendf(nil, "value of %d", k)); err != nil {
				return err
			}
			r.Seq, r.Sum = k, r.Sum+k*k
			return root.Set(t, r)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return fsys
}

// readRootPool opens the pool of rootBase read-only and reads it all.
func readRootPool(fsys engine.FS) (string, error) {
	p, err := Open[mtag, rroot](fsys, cpool, &Options{ReadOnly: true})
	if err != nil {
		return "", err
	}
	defer p.Close()
	var b strings.Builder
	err = p.View(func(t *Tx[mtag]) error {
		b.Reset()
		r, err := p.Root().Get(t)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "seq %d sum %d", r.Seq, r.Sum)
		if r.Map.IsNil() {
			return nil
		}
		n, err := r.Map.Len(t)
		if err != nil {
			return err
		}
		var kv []string
		err = r.Map.Range(t, func(k, v []byte) bool {
			kv = append(kv, string(k)+"="+string(v))
			return true
		})
		slices.Sort(kv)
		fmt.Fprintf(&b, " map %d %v", n, kv)
		return err
	})
	return b.String(), err
}

// TestReadOnlyRootPointerDamage flips every bit and then every byte
// (flipPatterns) of the root pointer at rest: a read-only Open must fail
// with a typed error, or the pool read as before. A read-only Open checked
// only that the root pointer stayed in the heap, and its Views read
// whatever it pointed at — zeros of free memory, the middle of another
// block — as the root, with no error (the torture's "state after
// transaction 0"). It now checks, as a writer's Open does, that the root
// pointer is the start of a block of the heap at least as large as the
// root, against the heap's metadata read and checked as alloc.Open
// checks it.
func TestReadOnlyRootPointerDamage(t *testing.T) {
	base := rootBase(t)
	want, err := readRootPool(copyFS(base))
	if err != nil {
		t.Fatal(err)
	}
	good := readFile(t, base, rootOff, 8)
	found := 0
	for i := range int64(8) {
		for _, flip := range flipPatterns() {
			fsys := copyFS(base)
			writeFile(t, fsys, rootOff+i, []byte{good[i] ^ flip})
			got, err := readRootPool(fsys)
			switch {
			case err != nil && !typedErr(err):
				t.Errorf("byte %d ^ %#x: untyped error %v", i, flip, err)
			case err != nil:
				found++
			case got != want:
				t.Errorf("byte %d ^ %#x: the pool opens read-only and reads\n\t%s\nwant\n\t%s", i, flip, got, want)
			}
		}
	}
	t.Logf("%d of %d flips found", found, 8*len(flipPatterns()))
}

// sroot is a root as large as the objects beside it.
type sroot struct {
	A, B int64
	Next Box[mtag, sroot]
}

// TestRootPointerOntoAnotherObject flips each bit of the root pointer of
// a pool whose root is as large as the objects allocated beside it: the
// flips that land on the start of another of them make a root pointer
// that the heap's metadata cannot tell from the root's. In format 5 the
// root line's checksum finds every flip, at a writer's Open and at a
// read-only one; before it, both Opens took such an object for the root,
// with no error (a writer would have changed it as the root).
func TestRootPointerOntoAnotherObject(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Create[mtag, sroot](fsys, cpool, &Options{Size: 1 << 20, Rand: detRand{}})
	if err != nil {
		t.Fatal(err)
	}
	root := p.Root()
	err = p.Update(func(t *Tx[mtag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		for i := range int64(16) {
			if r.Next, err = NewBox(t, sroot{A: i, Next: r.Next}); err != nil {
				return err
			}
		}
		r.A = 100
		return root.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	c := p.c
	rootSize := int64(unsafe.Sizeof(sroot{}))
	var onto []int // the bits whose flip lands on another object as large
	for bit := range 64 {
		off := c.root ^ 1<<bit
		if start, size, err := c.heap.Block(off); err == nil && start == off && size >= rootSize {
			onto = append(onto, bit)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if len(onto) == 0 {
		t.Fatal("no flip of the root pointer lands on another object: the test builds the wrong pool")
	}
	good := readFile(t, fsys, rootOff, 8)
	for _, bit := range onto {
		for _, ro := range []bool{false, true} {
			img := copyFS(fsys)
			writeFile(t, img, rootOff+int64(bit/8), []byte{good[bit/8] ^ 1<<(bit%8)})
			q, err := Open[mtag, sroot](img, cpool, &Options{ReadOnly: ro})
			if err == nil {
				q.Close()
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("bit %d of the root pointer flipped, onto another object (read-only %v): Open = %v, want ErrCorrupt", bit, ro, err)
			}
		}
	}
	t.Logf("%d flips of the root pointer land on another object: %v", len(onto), onto)
}

// TestRootLineDamagedWhileOpen damages the root pointer in the mapping of
// an open writer: the next commit that changes the root line (a new
// reference-counted object advances the next identity) is ErrCorrupt,
// and so is Check. The commit sealed the damaged line with a new
// checksum, and the next Open would have taken the damaged pointer for
// the root.
func TestRootLineDamagedWhileOpen(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Create[mtag, mroot](fsys, cpool, &Options{Size: 1 << 20, Rand: detRand{}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := p.c
	good := readRegion(c, rootOff, 8)
	if _, err := c.r.WriteAt([]byte{good[1] ^ 1}, rootOff+1); err != nil {
		t.Fatal(err)
	}
	err = p.Update(func(t *Tx[mtag]) error {
		r, err := p.Root().Get(t)
		if err != nil {
			return err
		}
		r.Rc3, err = NewRc(t, mnode{Value: 1})
		if err != nil {
			return err
		}
		return p.Root().Set(t, r)
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("a commit changing a damaged root line: %v, want ErrCorrupt", err)
	}
	if err := p.Check(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check of a damaged root line: %v, want ErrCorrupt", err)
	}
}
