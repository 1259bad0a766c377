package tx

import (
	"encoding/binary"
	"fmt"
	"reflect"

	"github.com/zeebo/xxh3"
)

// Checked is a T stored with a checksum of its bytes: the pool computes
// the checksum whenever it stores the value — in an object, a field, a
// vector — and verifies it whenever it reads it, so that a damaged byte of
// the value is ErrCorrupt at the next read, never a wrong value; Check
// verifies every Checked value reachable from the root. It is the opt-in
// answer to objects that carry no checksum, as in PMDK and bbolt: wrap
// what must never be read wrong, and pay for it there only.
//
//	type Account struct {
//		Owner   [32]byte
//		Balance tx.Checked[int64]
//	}
//
//	a, err := acct.Get(t)   // ErrCorrupt if Balance's bytes were damaged
//	b := a.Balance.Get()
//	a.Balance.Set(b + 10)
//	err = acct.Set(t, a)    // the checksum of the new value, stored with it
//
// The value is read and written whole: Field cannot select inside it, so
// no write of a part of it can skip its checksum. A zero Checked is a
// valid zero T, so that new objects and roots need nothing more.
type Checked[T any] struct {
	v   T
	sum uint64
}

// Get returns the value.
func (c Checked[T]) Get() T { return c.v }

// Set sets the value; the pool computes its checksum when it stores it.
func (c *Checked[T]) Set(v T) { c.v = v }

func (Checked[T]) checkedValue() {}

// checkedType is implemented by Checked: the layouts find Checked values
// through it.
type checkedType interface{ checkedValue() }

var checkedIface = reflect.TypeFor[checkedType]()

// sumField is a Checked value at off in a value: n bytes of T, then its
// checksum at sum. zero is the checksum of n zero bytes.
type sumField struct {
	off, n, sum int64
	zero        uint64
}

// newSumField describes the Checked value of type t at off.
func newSumField(t reflect.Type, off int64) sumField {
	v, s := t.Field(0), t.Field(1)
	n := int64(v.Type.Size())
	return sumField{off: off + int64(v.Offset), n: n, sum: off + int64(s.Offset), zero: xxh3.Hash(make([]byte, n))}
}

// checksum is what a Checked value of bytes v stores: the XXH3 of v, with
// that of zero bytes taken out, so that the zero Checked is valid.
func (f *sumField) checksum(v []byte) uint64 { return xxh3.Hash(v) ^ f.zero }

// sealSums stores the checksum of every Checked value in b, the bytes of
// a value whose Checked values sums describes.
func sealSums(sums []sumField, b []byte) {
	for i := range sums {
		f := &sums[i]
		binary.NativeEndian.PutUint64(b[f.sum:], f.checksum(b[f.off:f.off+f.n]))
	}
}

// verifySums checks the checksum of every Checked value in b, a value
// read at off: ErrCorrupt for the first that fails.
func verifySums(sums []sumField, b []byte, off int64) error {
	for i := range sums {
		f := &sums[i]
		if binary.NativeEndian.Uint64(b[f.sum:]) != f.checksum(b[f.off:f.off+f.n]) {
			return fmt.Errorf("%w: the Checked value of %d bytes at %d fails its checksum", ErrCorrupt, f.n, off+f.off)
		}
	}
	return nil
}

// sumsOf returns the Checked values of a T, nil for most types.
func (p *pool) sumsOf(t reflect.Type) []sumField {
	l, err := p.layoutOf(t)
	if err != nil {
		return nil // a type the pool refuses holds no value to check
	}
	return l.sums
}
