package tx

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"unsafe"
)

// Box is a persistent pointer that owns a T: the only pointer that keeps
// it alive (Corundum's Pbox). Free frees the T and everything it owns.
type Box[Tag, T any] struct {
	v uint64
}

func (Box[Tag, T]) persistentRef() (refKind, reflect.Type, reflect.Type) {
	return refBox, reflect.TypeFor[T](), reflect.TypeFor[Tag]()
}

// NewBox allocates a T holding v in the transaction. Allocation is undone
// with the transaction, so a box that no committed object points to does
// not outlive it.
func NewBox[Tag, T any](tx *Tx[Tag], v T) (Box[Tag, T], error) {
	t, off, err := newObject[Tag, T](tx, 0, objectLayout)
	if err != nil {
		return Box[Tag, T]{}, err
	}
	t.stage(t.p.sealed(reflect.TypeFor[T](), valueBytes(&v)), off, true)
	t.mu.Unlock()
	return Box[Tag, T]{v: t.p.ptr(off)}, nil
}

// IsNil reports whether the box holds nothing.
func (b Box[Tag, T]) IsNil() bool { return b.v == 0 }

// Ptr returns a borrowing pointer to the boxed value.
func (b Box[Tag, T]) Ptr() Ptr[Tag, T] { return Ptr[Tag, T]{v: b.v} }

// Get returns a copy of the boxed value.
func (b Box[Tag, T]) Get(tx *Tx[Tag]) (T, error) { return b.Ptr().Get(tx) }

// Set replaces the boxed value.
func (b Box[Tag, T]) Set(tx *Tx[Tag], v T) error { return b.Ptr().Set(tx, v) }

// Modify changes the boxed value in place (see Ptr.Modify).
func (b Box[Tag, T]) Modify(tx *Tx[Tag], f func(*T) error) error { return b.Ptr().Modify(tx, f) }

// Free frees the boxed value and, first, everything it owns: boxes,
// vectors, blobs and maps are freed, reference-counted pointers dropped.
// The box must not be used afterwards; clear the fields that hold it.
func (b Box[Tag, T]) Free(tx *Tx[Tag]) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	l, err := t.p.layoutOf(reflect.TypeFor[T]())
	if err != nil {
		return err
	}
	return t.dropOwned(refField{kind: refBox, elem: l}, b.v)
}

// rcHeaderSize is the header of a reference-counted block: the count, then
// the object's identity (what a Weak checks).
const rcHeaderSize = 16

// Rc is a reference-counted persistent pointer for one goroutine
// (Corundum's Prc): every Rc to an object counts, the count lives in the
// object's block and its updates are logged with the transaction, and the
// last Drop frees the object. Clone and Drop read and write the count as
// two steps of the transaction: two goroutines sharing one transaction
// must not clone or drop the same object at once (use Arc).
type Rc[Tag, T any] struct {
	v uint64
}

func (Rc[Tag, T]) persistentRef() (refKind, reflect.Type, reflect.Type) {
	return refRc, reflect.TypeFor[T](), reflect.TypeFor[Tag]()
}

// Arc is Rc for many goroutines (Corundum's Parc): Clone and Drop change
// the count in one step of the transaction, so goroutines that share a
// transaction may clone and drop one object concurrently.
type Arc[Tag, T any] struct {
	v uint64
}

func (Arc[Tag, T]) persistentRef() (refKind, reflect.Type, reflect.Type) {
	return refArc, reflect.TypeFor[T](), reflect.TypeFor[Tag]()
}

// newCounted allocates a counted block holding v with a count of 1.
func newCounted[Tag, T any](tx *Tx[Tag], v T) (*txn, uint64, error) {
	t, off, err := newObject[Tag, T](tx, rcHeaderSize, rcLayout)
	if err != nil {
		return nil, 0, err
	}
	defer t.mu.Unlock()
	id, err := t.nextID()
	if err != nil {
		return nil, 0, err
	}
	var hdr [rcHeaderSize]byte
	binary.NativeEndian.PutUint64(hdr[0:], 1)
	binary.NativeEndian.PutUint64(hdr[8:], id)
	t.stage(hdr[:], off, true)
	t.stage(t.p.sealed(reflect.TypeFor[T](), valueBytes(&v)), off+rcHeaderSize, true)
	return t, t.p.ptr(off), nil
}

// nextID returns a new object identity: the root line's counter, advanced
// in the transaction.
func (t *txn) nextID() (uint64, error) {
	var b [8]byte
	if err := t.readAt(b[:], nextIDOff); err != nil {
		return 0, err
	}
	id := binary.LittleEndian.Uint64(b[:])
	binary.LittleEndian.PutUint64(b[:], id+1)
	t.stage(b[:], nextIDOff, false)
	return id, nil
}

// NewRc allocates a T holding v, with one reference: the Rc returned.
func NewRc[Tag, T any](tx *Tx[Tag], v T) (Rc[Tag, T], error) {
	_, p, err := newCounted(tx, v)
	return Rc[Tag, T]{v: p}, err
}

// NewArc allocates a T holding v, with one reference: the Arc returned.
func NewArc[Tag, T any](tx *Tx[Tag], v T) (Arc[Tag, T], error) {
	_, p, err := newCounted(tx, v)
	return Arc[Tag, T]{v: p}, err
}

func (r Rc[Tag, T]) IsNil() bool  { return r.v == 0 }
func (r Arc[Tag, T]) IsNil() bool { return r.v == 0 }

// Ptr returns a borrowing pointer to the shared value.
func (r Rc[Tag, T]) Ptr() Ptr[Tag, T] { return valuePtr[Tag, T](r.v) }

// Ptr returns a borrowing pointer to the shared value.
func (r Arc[Tag, T]) Ptr() Ptr[Tag, T] { return valuePtr[Tag, T](r.v) }

func valuePtr[Tag, T any](v uint64) Ptr[Tag, T] {
	if v == 0 {
		return Ptr[Tag, T]{}
	}
	return Ptr[Tag, T]{v: v + rcHeaderSize}
}

// Get returns a copy of the shared value.
func (r Rc[Tag, T]) Get(tx *Tx[Tag]) (T, error) { return r.Ptr().Get(tx) }

// Get returns a copy of the shared value.
func (r Arc[Tag, T]) Get(tx *Tx[Tag]) (T, error) { return r.Ptr().Get(tx) }

// Set replaces the shared value.
func (r Rc[Tag, T]) Set(tx *Tx[Tag], v T) error { return r.Ptr().Set(tx, v) }

// Set replaces the shared value.
func (r Arc[Tag, T]) Set(tx *Tx[Tag], v T) error { return r.Ptr().Set(tx, v) }

// Count returns the number of references to the shared value.
func (r Rc[Tag, T]) Count(tx *Tx[Tag]) (uint64, error) { return countOf(tx, r.v) }

// Count returns the number of references to the shared value.
func (r Arc[Tag, T]) Count(tx *Tx[Tag]) (uint64, error) { return countOf(tx, r.v) }

func countOf[Tag any](tx *Tx[Tag], v uint64) (uint64, error) {
	c, err := Ptr[Tag, uint64]{v: v}.Get(tx)
	if err == nil && v == 0 {
		err = ErrNil
	}
	return c, err
}

// Clone returns another reference to the shared value, counted.
func (r Rc[Tag, T]) Clone(tx *Tx[Tag]) (Rc[Tag, T], error) {
	if r.v == 0 {
		return r, ErrNil
	}
	count := Ptr[Tag, uint64]{v: r.v}
	c, err := count.Get(tx)
	if err != nil {
		return Rc[Tag, T]{}, err
	}
	if err := count.Set(tx, c+1); err != nil {
		return Rc[Tag, T]{}, err
	}
	return r, nil
}

// Clone returns another reference to the shared value, counted in one step.
func (r Arc[Tag, T]) Clone(tx *Tx[Tag]) (Arc[Tag, T], error) {
	t, err := tx.writable()
	if err != nil {
		return Arc[Tag, T]{}, err
	}
	defer t.mu.Unlock()
	if _, err := t.addCount(r.v, 1); err != nil {
		return Arc[Tag, T]{}, err
	}
	return r, nil
}

// addCount adds delta to the count of the counted block at v and returns
// the new count. Callers hold t.mu.
func (t *txn) addCount(v uint64, delta int64) (uint64, error) {
	var b [8]byte
	if err := t.load(v, b[:]); err != nil {
		return 0, err
	}
	c := binary.NativeEndian.Uint64(b[:])
	if delta < 0 && c == 0 {
		off, _ := t.p.offset(v)
		return 0, fmt.Errorf("%w: reference count of %d is already 0", ErrCorrupt, off)
	}
	c = uint64(int64(c) + delta)
	binary.NativeEndian.PutUint64(b[:], c)
	return c, t.store(v, b[:])
}

// Drop gives up this reference; the last one frees the value and
// everything it owns. The Rc must not be used afterwards.
func (r Rc[Tag, T]) Drop(tx *Tx[Tag]) error {
	if r.v == 0 {
		return ErrNil
	}
	count := Ptr[Tag, uint64]{v: r.v}
	c, err := count.Get(tx)
	if err != nil {
		return err
	}
	if c > 1 {
		return count.Set(tx, c-1)
	}
	return dropCounted[Tag, T](tx, r.v)
}

// Drop gives up this reference in one step; the last one frees the value
// and everything it owns.
func (r Arc[Tag, T]) Drop(tx *Tx[Tag]) error { return dropCounted[Tag, T](tx, r.v) }

func dropCounted[Tag, T any](tx *Tx[Tag], v uint64) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	l, err := t.p.layoutFor(typeKey{reflect.TypeFor[T](), rcLayout})
	if err != nil {
		return err
	}
	return t.dropOwned(refField{kind: refRc, elem: l}, v)
}

// Weak is a volatile reference to a reference-counted object: it lives in
// Go memory only (a pool refuses to store it), keeps nothing alive, and
// Promote gives a counted reference back only while the object lives
// (Corundum's VWeak). It is how a program holds on to a persistent object
// between transactions without keeping it alive.
type Weak[Tag, T any] struct {
	v, id uint64
}

func (Weak[Tag, T]) volatileHandle() {}

// Demote returns a weak reference to the shared value.
func (r Rc[Tag, T]) Demote(tx *Tx[Tag]) (Weak[Tag, T], error) { return demote[Tag, T](tx, r.v) }

// Demote returns a weak reference to the shared value.
func (r Arc[Tag, T]) Demote(tx *Tx[Tag]) (Weak[Tag, T], error) { return demote[Tag, T](tx, r.v) }

func demote[Tag, T any](tx *Tx[Tag], v uint64) (Weak[Tag, T], error) {
	if v == 0 {
		return Weak[Tag, T]{}, ErrNil
	}
	id, err := Ptr[Tag, uint64]{v: v + 8}.Get(tx)
	return Weak[Tag, T]{v: v, id: id}, err
}

// Promote returns a new counted reference to the object if it still
// lives, and false if it was freed (even if its memory now holds another
// object). It must run in an Update.
func (w Weak[Tag, T]) Promote(tx *Tx[Tag]) (Rc[Tag, T], bool, error) {
	ok, err := promote[Tag, T](tx, w)
	if !ok {
		return Rc[Tag, T]{}, false, err
	}
	return Rc[Tag, T]{v: w.v}, true, nil
}

// PromoteArc is Promote for an object shared by Arcs.
func (w Weak[Tag, T]) PromoteArc(tx *Tx[Tag]) (Arc[Tag, T], bool, error) {
	ok, err := promote[Tag, T](tx, w)
	if !ok {
		return Arc[Tag, T]{}, false, err
	}
	return Arc[Tag, T]{v: w.v}, true, nil
}

func promote[Tag, T any](tx *Tx[Tag], w Weak[Tag, T]) (bool, error) {
	t, err := tx.writable()
	if err != nil {
		return false, err
	}
	defer t.mu.Unlock()
	if w.v == 0 {
		return false, nil
	}
	off, err := t.p.offset(w.v)
	if err != nil {
		return false, err
	}
	var hdr [rcHeaderSize]byte
	size := int64(rcHeaderSize + unsafe.Sizeof(*new(T)))
	if t.check(off, size) != nil {
		return false, nil // freed: its block is free, or part of another
	}
	if err := t.readAt(hdr[:], off); err != nil {
		return false, err
	}
	if binary.NativeEndian.Uint64(hdr[8:]) != w.id || binary.NativeEndian.Uint64(hdr[0:]) == 0 {
		return false, nil // freed, and the memory reused
	}
	_, err = t.addCount(w.v, 1)
	return err == nil, err
}

// dropOwned gives up the owning reference f at pointer v: it frees what v
// owns (a box's object, a vector, a blob, a map) or drops one count of a
// counted object, freeing it at zero, and, before freeing an object,
// does the same for every owning pointer inside it. It keeps its own
// stack, so a long chain of boxes does not grow the goroutine's. Callers
// hold t.mu.
func (t *txn) dropOwned(f refField, v uint64) error {
	if f.kind == refBox && len(f.elem.refs) == 0 || f.kind == refBlob {
		// Nothing inside to drop: the common case needs no stack.
		off, err := t.p.offset(v)
		if err != nil {
			return err
		}
		return t.free(off)
	}
	type item struct {
		f refField
		v uint64
	}
	stack := []item{{f, v}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.v == 0 {
			continue
		}
		off, err := t.p.offset(it.v)
		if err != nil {
			return err
		}
		var inner []refField // the owning pointers of the object at base
		var base int64
		switch it.f.kind {
		case refBox:
			inner, base = it.f.elem.refs, off
		case refRc, refArc:
			c, err := t.addCount(it.v, -1)
			if err != nil {
				return err
			}
			if c > 0 {
				continue
			}
			inner, base = it.f.elem.elem.refs, off+rcHeaderSize
		case refVec:
			if err := t.dropVec(it.f.elem.elem, off, func(r refField, v uint64) { stack = append(stack, item{r, v}) }); err != nil {
				return err
			}
		case refMap:
			if err := t.dropMap(off); err != nil {
				return err
			}
		case refBlob:
		default:
			continue // a Ptr owns nothing
		}
		if err := t.eachRef(inner, base, func(r refField, v uint64) { stack = append(stack, item{r, v}) }); err != nil {
			return err
		}
		if err := t.free(off); err != nil {
			return err
		}
	}
	return nil
}

// eachRef calls f for every non-nil owning pointer among refs in the value
// at base, as the transaction sees it. Callers hold t.mu.
func (t *txn) eachRef(refs []refField, base int64, f func(refField, uint64)) error {
	var b [8]byte
	for _, r := range refs {
		switch r.kind {
		case refPtr:
			continue
		case refArray:
			for i := range r.count {
				if err := t.eachRef(r.sub, base+r.off+i*r.stride, f); err != nil {
					return err
				}
			}
			continue
		}
		if err := t.readAt(b[:], base+r.off); err != nil {
			return err
		}
		if v := binary.NativeEndian.Uint64(b[:]); v != 0 {
			f(r, v)
		}
	}
	return nil
}
