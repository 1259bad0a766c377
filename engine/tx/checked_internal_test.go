package tx

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

type ktag struct{}

type kroot struct {
	Small Box[ktag, Checked[[64]byte]]
	Big   Box[ktag, Checked[[4096]byte]]
	Plain Box[ktag, [64]byte] // the same bytes, unchecked
}

// TestCheckedFindsDamage: every flipped byte of a Checked object — of 64
// bytes and of 4 KiB, its value or its checksum — is ErrCorrupt at the
// next read and a problem of Check; the same flip in an object without
// Checked reads as the damaged bytes, and Check passes, as before.
func TestCheckedFindsDamage(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Create[ktag, kroot](fsys, cpool, &Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var small [64]byte
	var big [4096]byte
	for i := range big {
		big[i] = byte(i * 7)
	}
	copy(small[:], big[:])
	root := p.Root()
	err = p.Update(func(t *Tx[ktag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		var s Checked[[64]byte]
		s.Set(small)
		var b Checked[[4096]byte]
		b.Set(big)
		if r.Small, err = NewBox(t, s); err != nil {
			return err
		}
		if r.Big, err = NewBox(t, b); err != nil {
			return err
		}
		if r.Plain, err = NewBox(t, small); err != nil {
			return err
		}
		return root.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	var r kroot
	if err := p.View(func(t *Tx[ktag]) (err error) { r, err = root.Get(t); return err }); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	c := p.c
	read := func(get func(t *Tx[ktag]) error) error { return p.View(get) }
	for _, o := range []struct {
		name    string
		v       uint64
		n       int64
		checked bool
		get     func(t *Tx[ktag]) error
	}{
		{"64 bytes, checked", r.Small.v, 64 + 8, true, func(t *Tx[ktag]) error {
			v, err := r.Small.Get(t)
			if err == nil && v.Get() != small {
				err = errors.New("another value")
			}
			return err
		}},
		{"4 KiB, checked", r.Big.v, 4096 + 8, true, func(t *Tx[ktag]) error {
			v, err := r.Big.Get(t)
			if err == nil && v.Get() != big {
				err = errors.New("another value")
			}
			return err
		}},
		{"64 bytes, plain", r.Plain.v, 64, false, func(t *Tx[ktag]) error {
			v, err := r.Plain.Get(t)
			if err == nil && v != small {
				err = errors.New("another value")
			}
			return err
		}},
	} {
		off := int64(o.v & offsetMask)
		good := readRegion(c, off, o.n)
		for i := range o.n {
			if _, err := c.r.WriteAt([]byte{good[i] ^ 0x5a}, off+i); err != nil {
				t.Fatal(err)
			}
			rerr := read(o.get)
			cerr := p.Check()
			if _, err := c.r.WriteAt(good[i:i+1], off+i); err != nil {
				t.Fatal(err)
			}
			if o.checked {
				if !errors.Is(rerr, ErrCorrupt) {
					t.Errorf("%s, byte %d damaged: Get = %v, want ErrCorrupt", o.name, i, rerr)
				}
				if !errors.Is(cerr, ErrCheck) || !strings.Contains(cerr.Error(), "Checked value") {
					t.Errorf("%s, byte %d damaged: Check = %v, want a problem of the Checked value", o.name, i, cerr)
				}
				continue
			}
			if rerr == nil || cerr != nil {
				t.Errorf("%s, byte %d damaged: Get = %v (want the damaged bytes), Check = %v (want nil)", o.name, i, rerr, cerr)
			}
		}
		if err := read(o.get); err != nil {
			t.Errorf("%s restored: %v", o.name, err)
		}
	}
}

type nested struct {
	A    Checked[int64]
	List [3]Checked[[2]int32]
	Own  Box[ktag, [8]byte] // a pointer inside a Checked value is walked
}

// TestCheckedNestedAndInArrays: the checksums of Checked values inside a
// Checked value, in arrays and beside pointers are all sealed when the
// outer value is stored, and each is verified: damage to any of them is
// ErrCorrupt, and to the inner ones also fails the outer checksum.
func TestCheckedNestedAndInArrays(t *testing.T) {
	p, err := Create[ktag, Checked[nested]](newMemFS(t), cpool, &Options{Size: 1 << 20, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	root := p.Root()
	err = p.Update(func(t *Tx[ktag]) error {
		r, err := root.Get(t) // the zero value, valid
		if err != nil {
			return err
		}
		n := r.Get()
		n.A.Set(42)
		for i := range n.List {
			n.List[i].Set([2]int32{int32(i), -int32(i)})
		}
		if n.Own, err = NewBox(t, [8]byte{1, 2, 3}); err != nil {
			return err
		}
		r.Set(n)
		return root.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	sums := p.c.sumsOf(reflect.TypeFor[Checked[nested]]())
	if len(sums) != 5 { // A, three in List, the outer one
		t.Fatalf("%d Checked values, want 5: %+v", len(sums), sums)
	}
	c := p.c
	good := readRegion(c, c.root, int64(len(valueBytes(new(Checked[nested])))))
	for i := range int64(len(good)) {
		c.r.WriteAt([]byte{good[i] ^ 1}, c.root+i)
		err := p.View(func(t *Tx[ktag]) error { _, err := root.Get(t); return err })
		cerr := p.Check()
		c.r.WriteAt(good[i:i+1], c.root+i)
		if !errors.Is(err, ErrCorrupt) || cerr == nil {
			t.Errorf("byte %d of the root damaged: Get = %v, Check = %v", i, err, cerr)
		}
	}
	if !bytes.Equal(readRegion(c, c.root, int64(len(good))), good) {
		t.Fatal("not restored")
	}
}

func newMemFS(t *testing.T) *faultfs.FS {
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	return fsys
}
