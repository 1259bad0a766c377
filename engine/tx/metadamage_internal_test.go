package tx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// The engine's own structures damaged at rest: every byte of the
// metadata of every kind of object flipped in turn is found by Check or
// by the next read, as a typed error (issue 16 section 2).

type mtag struct{}

type mnode struct {
	Value int64
	Pair  [2]int64
}

type mitem struct {
	ID   int64
	Data Bytes[mtag]
}

type mroot struct {
	Map   Map[mtag]
	Items Vec[mtag, mitem]
	Nums  Vec[mtag, int64] // its elements hold no pointers
	Box   Box[mtag, mnode]
	Rc1   Rc[mtag, mnode]
	Rc2   Rc[mtag, mnode] // the same object as Rc1
	Rc3   Rc[mtag, mnode]
	Name  String[mtag]
	Blob  Bytes[mtag]
	Cell  Ptr[mtag, int64] // borrows Box's Value
	Count int64
}

const metaKeys = 40

func openM(fsys engine.FS) (*Pool[mtag, mroot], error) {
	return Open[mtag, mroot](fsys, cpool, &Options{Rand: detRand{}})
}

// metaBase returns a closed pool of format format holding one object of
// every kind, and a map of metaKeys keys.
func metaBase(t *testing.T, format uint32) *faultfs.FS {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Create[mtag, mroot](fsys, cpool, &Options{Size: 1 << 20, Rand: detRand{}, format: format})
	if err != nil {
		t.Fatal(err)
	}
	root := p.Root()
	err = p.Update(func(t *Tx[mtag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Map, err = NewMap(t); err != nil {
			return err
		}
		for i := range metaKeys {
			if err := r.Map.Put(t, fmt.Appendf(nil, "key-%02d", i), fmt.Appendf(nil, "value %d", i*i)); err != nil {
				return err
			}
		}
		if r.Items, err = NewVec[mtag, mitem](t, 0); err != nil {
			return err
		}
		for i := range 3 {
			data, err := NewBytes(t, fmt.Appendf(nil, "item data %d", i))
			if err != nil {
				return err
			}
			if err := r.Items.Append(t, mitem{ID: int64(100 + i), Data: data}); err != nil {
				return err
			}
		}
		if r.Nums, err = NewVec[mtag, int64](t, 8); err != nil {
			return err
		}
		if err := r.Nums.Append(t, 10, 11, 12, 13, 14); err != nil {
			return err
		}
		if r.Box, err = NewBox(t, mnode{Value: 5, Pair: [2]int64{6, 7}}); err != nil {
			return err
		}
		if r.Rc1, err = NewRc(t, mnode{Value: 8}); err != nil {
			return err
		}
		if r.Rc2, err = r.Rc1.Clone(t); err != nil {
			return err
		}
		if r.Rc3, err = NewRc(t, mnode{Value: 9}); err != nil {
			return err
		}
		if r.Name, err = NewString(t, "a name"); err != nil {
			return err
		}
		if r.Blob, err = NewBytes(t, []byte("some bytes")); err != nil {
			return err
		}
		r.Cell = Field(r.Box.Ptr(), func(n *mnode) *int64 { return &n.Value })
		r.Count = 9
		return root.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return fsys
}

// readAllM reads everything in the pool through the API.
func readAllM(p *Pool[mtag, mroot]) (string, error) {
	var b strings.Builder
	err := p.View(func(t *Tx[mtag]) error {
		r, err := p.Root().Get(t)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "count %d", r.Count)
		n, err := r.Map.Len(t)
		if err != nil {
			return err
		}
		var kv []string
		if err := r.Map.Range(t, func(k, v []byte) bool {
			kv = append(kv, string(k)+"="+string(v))
			return true
		}); err != nil {
			return err
		}
		slices.Sort(kv)
		fmt.Fprintf(&b, " map %d %v", n, kv)
		for i := range metaKeys {
			v, ok, err := r.Map.Get(t, fmt.Appendf(nil, "key-%02d", i))
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " get %q %v", v, ok)
		}
		items, err := r.Items.All(t)
		if err != nil {
			return err
		}
		for _, it := range items {
			d, err := it.Data.Get(t)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " item %d %q", it.ID, d)
		}
		nums, err := r.Nums.All(t)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, " nums %v", nums)
		box, err := r.Box.Get(t)
		if err != nil {
			return err
		}
		rc, err := r.Rc1.Get(t)
		if err != nil {
			return err
		}
		rc2, err := r.Rc2.Get(t)
		if err != nil {
			return err
		}
		count, err := r.Rc1.Count(t)
		if err != nil {
			return err
		}
		rc3, err := r.Rc3.Get(t)
		if err != nil {
			return err
		}
		count3, err := r.Rc3.Count(t)
		if err != nil {
			return err
		}
		name, err := r.Name.Get(t)
		if err != nil {
			return err
		}
		blob, err := r.Blob.Get(t)
		if err != nil {
			return err
		}
		cell, err := r.Cell.Get(t)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, " box %v rc %v %v count %d rc3 %v count %d name %q blob %q cell %d", box, rc, rc2, count, rc3, count3, name, blob, cell)
		return nil
	})
	return b.String(), err
}

// metaRange is a range of engine metadata, named.
type metaRange struct {
	name   string
	off, n int64
}

// metaRanges returns every range of engine metadata in the pool: the
// root line, the pointers the root holds, the map's header, directory,
// segment and entries (their headers and keys, not their values), the
// vector's header and the pointers its elements hold, the headers of the
// blobs, of the reference-counted block.
func metaRanges(t *testing.T, fsys *faultfs.FS) []metaRange {
	t.Helper()
	p, err := openM(copyFS(fsys))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := p.c
	out := []metaRange{{"root pointer", rootOff, 8}, {"next identity", nextIDOff, 8}}
	var r mroot
	var zero mroot
	for _, f := range []struct {
		name string
		at   uintptr
	}{
		{"root.Map", unsafe.Offsetof(zero.Map)}, {"root.Items", unsafe.Offsetof(zero.Items)},
		{"root.Nums", unsafe.Offsetof(zero.Nums)}, {"root.Box", unsafe.Offsetof(zero.Box)},
		{"root.Rc1", unsafe.Offsetof(zero.Rc1)}, {"root.Rc2", unsafe.Offsetof(zero.Rc2)},
		{"root.Rc3", unsafe.Offsetof(zero.Rc3)}, {"root.Name", unsafe.Offsetof(zero.Name)},
		{"root.Blob", unsafe.Offsetof(zero.Blob)}, {"root.Cell", unsafe.Offsetof(zero.Cell)},
	} {
		out = append(out, metaRange{f.name, c.root + int64(f.at), 8})
	}
	err = p.View(func(tt *Tx[mtag]) error {
		if r, err = p.Root().Get(tt); err != nil {
			return err
		}
		t := tt.t
		t.mu.Lock()
		defer t.mu.Unlock()
		op, err := t.openMap(r.Map.v)
		if err != nil {
			return err
		}
		out = append(out, metaRange{"map header", op.off, mapHeaderSize})
		dir, _ := c.offset(op.h.dir)
		out = append(out, metaRange{"map directory", dir, int64(op.h.dirCap) * 8})
		seg, _ := c.offset(binary.LittleEndian.Uint64(readRegion(c, dir, 8)))
		out = append(out, metaRange{"map segment", seg, segmentBytes})
		for b := uint64(0); b < op.buckets(); b++ {
			v := binary.LittleEndian.Uint64(readRegion(c, seg+int64(b)*8, 8))
			for v != 0 {
				e, err := op.readEntry(v)
				if err != nil {
					return err
				}
				out = append(out, metaRange{fmt.Sprintf("map entry in bucket %d", b), e.off, op.entryHeader() + e.klen})
				v = e.next
			}
		}
		vh, _ := c.offset(r.Items.v)
		out = append(out, metaRange{"vector header", vh, c.vecHeaderSize()})
		nh, _ := c.offset(r.Nums.v)
		out = append(out, metaRange{"vector header (no pointers)", nh, c.vecHeaderSize()})
		h, buf, err := t.vecHeader(r.Items.v, int64(unsafe.Sizeof(mitem{})))
		if err != nil {
			return err
		}
		for i := range int64(h.len) {
			at := buf + i*int64(unsafe.Sizeof(mitem{})) + int64(unsafe.Offsetof(mitem{}.Data))
			out = append(out, metaRange{fmt.Sprintf("items[%d].Data", i), at, 8})
			d, _ := c.offset(binary.NativeEndian.Uint64(readRegion(c, at, 8)))
			out = append(out, metaRange{fmt.Sprintf("items[%d] blob header", i), d, c.blobHeaderSize()})
		}
		for _, bl := range []struct {
			name string
			v    uint64
		}{{"name", r.Name.v}, {"blob", r.Blob.v}} {
			off, _ := c.offset(bl.v)
			out = append(out, metaRange{bl.name + " blob header", off, c.blobHeaderSize()})
		}
		for _, v := range []uint64{r.Rc1.v, r.Rc3.v} {
			rc, _ := c.offset(v)
			out = append(out, metaRange{"Rc header", rc, rcHeaderSize})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readRegion(c *pool, off, n int64) []byte {
	b := make([]byte, n)
	c.r.ReadAt(b, off)
	return b
}

// flipPatterns are the values a sweep XORs into each byte it damages:
// every bit, and the whole byte; under the race detector, which is ten
// times slower and looks for other bugs, the lowest bit and the whole
// byte.
func flipPatterns() []byte {
	if raceEnabled {
		return []byte{0x01, 0xff}
	}
	return []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff}
}

// TestDamagedMetadataFound flips, one at a time, every bit and then every
// byte (flipPatterns) of the engine's metadata in a pool (metaRanges),
// checks it and
// reads everything: each flip must be found — Open, Check or a read fails
// with a typed error — or be harmless by design, when the pool reads as
// before (harmless says why, range by range). A flip that changes what a
// read returns while Check passes is silent corruption, with one
// exception, which the test verifies rather than assumes: a borrowed
// pointer (the cell root.Cell) damaged into a pointer at another value of
// its type, which is a pointer the program could have stored. The root
// line is damaged at rest and the pool opened again; the rest, which Open
// does not read, in the open pool's mapping.
func TestDamagedMetadataFound(t *testing.T) {
	base := metaBase(t, 0)
	p, err := openM(copyFS(base))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	want, err := readAllM(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	c := p.c
	flips := flipPatterns()

	tried, found, harmlessN, valid := 0, 0, 0, 0
	for _, r := range metaRanges(t, base) {
		good := readFile(t, base, r.off, int(r.n))
		for i := range r.n {
			for _, flip := range flips {
				tried++
				var got string
				if r.off == rootOff || r.off == nextIDOff {
					// The root line: at rest, then Open.
					fsys := copyFS(base)
					writeFile(t, fsys, r.off+i, []byte{good[i] ^ flip})
					q, err := openM(fsys)
					if err == nil {
						got, err = checkAndRead(q)
						q.Close()
					}
					if err != nil {
						if !typedErr(err) {
							t.Errorf("%s, byte %d ^ %#x: untyped error %v", r.name, i, flip, err)
						}
						found++
						continue
					}
				} else {
					if _, err := c.r.WriteAt([]byte{good[i] ^ flip}, r.off+i); err != nil {
						t.Fatal(err)
					}
					got, err = checkAndRead(p)
					if _, werr := c.r.WriteAt(good[i:i+1], r.off+i); werr != nil {
						t.Fatal(werr)
					}
					if err != nil {
						if !typedErr(err) {
							t.Errorf("%s, byte %d ^ %#x: untyped error %v", r.name, i, flip, err)
						}
						found++
						continue
					}
				}
				damaged := append([]byte(nil), good...)
				damaged[i] ^= flip
				switch {
				case got == want && harmless(r.name, i):
					harmlessN++
				case r.name == "root.Cell" && pointsAtValue(c, damaged, reflect.TypeFor[int64]()):
					valid++
				case got != want:
					t.Errorf("%s, byte %d ^ %#x: Check passes and the pool reads\n\t%s\nwant\n\t%s", r.name, i, flip, got, want)
				default:
					t.Errorf("%s, byte %d ^ %#x: not found, and not harmless by design", r.name, i, flip)
				}
			}
		}
	}
	t.Logf("%d flips: %d found, %d harmless by design, %d cells damaged into another valid pointer", tried, found, harmlessN, valid)
}

// TestMapDamageFoundWithoutSums: in a pool of format 3, whose maps have
// no checksums, Check still finds every damaged bit of a map's header,
// directory, segment and entries — but an entry's value length (bytes 20
// to 23), which only format 4's sums protect — by how they fit together:
// each entry in the bucket of its key's hash, the chains holding the
// count, every block the map's once. This is the defect of issue 16: a
// damaged header made Get miss keys that Range returned, and Check passed.
func TestMapDamageFoundWithoutSums(t *testing.T) {
	base := metaBase(t, formatMarked)
	p, err := openM(copyFS(base))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Info().Header.Version != formatMarked {
		t.Fatalf("format %d", p.Info().Header.Version)
	}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	c := p.c
	tried := 0
	for _, r := range metaRanges(t, base) {
		if !strings.HasPrefix(r.name, "map") {
			continue
		}
		good := readFile(t, base, r.off, int(r.n))
		for i := range r.n {
			if strings.HasPrefix(r.name, "map entry") && i >= entryVlenOff && i < entryVlenOff+4 {
				continue
			}
			for _, flip := range flipPatterns() {
				tried++
				if _, err := c.r.WriteAt([]byte{good[i] ^ flip}, r.off+i); err != nil {
					t.Fatal(err)
				}
				err := p.Check()
				if _, werr := c.r.WriteAt(good[i:i+1], r.off+i); werr != nil {
					t.Fatal(werr)
				}
				if !errors.Is(err, ErrCheck) && !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s, byte %d ^ %#x: Check = %v", r.name, i, flip, err)
				}
			}
		}
	}
	if tried < 4096*len(flipPatterns()) {
		t.Errorf("%d flips tried", tried)
	}
}

// checkAndRead checks p and reads everything in it.
func checkAndRead(p *Pool[mtag, mroot]) (string, error) {
	if err := p.Check(); err != nil {
		return "", err
	}
	return readAllM(p)
}

// pointsAtValue reports whether the pointer b points at a value of type
// want inside an object of the pool.
func pointsAtValue(c *pool, b []byte, want reflect.Type) bool {
	off, err := c.offset(binary.NativeEndian.Uint64(b))
	if err != nil {
		return false
	}
	start, _, err := c.heap.Block(off)
	if err != nil {
		return false
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[mroot](), reflect.TypeFor[mnode]()} {
		if valueAt(typ, uintptr(off-start), want) {
			return true
		}
	}
	return false
}

// typedErr reports whether err is one of the package's errors for a
// damaged pool.
func typedErr(err error) bool {
	for _, e := range []error{ErrCorrupt, ErrCheck, ErrPointer, ErrNil} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// harmless reports whether a flip of byte i of the range named name, which
// Check and every read passed, is harmless by design: it changes nothing
// that any read or later operation depends on.
func harmless(name string, i int64) bool {
	switch name {
	case "Rc header":
		// An identity (bytes 8 to 15) is compared only by Weak.Promote,
		// with the identity Weak read from the same block in the same open
		// (Weak handles live in Go memory, so none survives the reopen);
		// it only has to differ from the identities of the other live
		// objects and of the objects made later, which Check verified: it
		// is unique and below the next identity.
		return i >= 8
	case "next identity":
		// The next identity only has to exceed every identity in use,
		// which Check verified.
		return true
	}
	return false
}
