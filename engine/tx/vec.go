package tx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/zeebo/xxh3"
)

// A vector is a header block and a buffer block:
//
//	header: | len (u64) | cap (u64) | buf (pointer) | sum |     buffer: cap elements of T
//
// The Vec value stored in an object is a pointer to the header, which it
// owns; the header never moves, so growing the buffer changes no pointer
// outside the vector. cap is the number of elements the buffer's block
// holds, which Check verifies. In a pool of format 4 or 5, sum is the XXH3
// of the header's first 24 bytes, checked by every read of the header
// (ErrCorrupt); older formats have no sum, and their header is 24 bytes
// (the block holds 32). Words are in the machine's byte order.
const (
	vecHeaderSize      = 32
	vecHeaderSizeNoSum = 24
	vecHeaderSumOff    = 24
)

// vecHeaderSize is the size of the pool's vector headers.
func (p *pool) vecHeaderSize() int64 {
	if p.hdr.summed() {
		return vecHeaderSize
	}
	return vecHeaderSizeNoSum
}

// Vec is a persistent growable array of T (Corundum's Vec). Its methods
// read and change it in a transaction.
type Vec[Tag, T any] struct {
	v uint64
}

func (Vec[Tag, T]) persistentRef() (refKind, reflect.Type, reflect.Type) {
	return refVec, reflect.TypeFor[T](), reflect.TypeFor[Tag]()
}

// NewVec allocates an empty vector with room for capacity elements.
func NewVec[Tag, T any](tx *Tx[Tag], capacity int) (Vec[Tag, T], error) {
	if capacity < 0 {
		return Vec[Tag, T]{}, fmt.Errorf("tx.NewVec: negative capacity %d", capacity)
	}
	t, hdr, err := newObject[Tag, vecHeader](tx, 0, objectLayout)
	if err != nil {
		return Vec[Tag, T]{}, err
	}
	defer t.mu.Unlock()
	if _, err := t.p.layoutFor(typeKey{reflect.TypeFor[T](), vecLayout}); err != nil {
		return Vec[Tag, T]{}, err
	}
	h := vecHeader{}
	if capacity > 0 {
		buf, usable, err := t.alloc(int64(capacity) * elemSize[T]())
		if err != nil {
			return Vec[Tag, T]{}, err
		}
		h.cap, h.buf = uint64(usable/elemSize[T]()), t.p.ptr(buf)
	}
	t.stage(t.p.sealVecHeader(&h), hdr, true)
	return Vec[Tag, T]{v: t.p.ptr(hdr)}, nil
}

type vecHeader struct {
	len, cap, buf uint64
	sum           uint64 // formats 4 and 5
}

// sealVecHeader sets h's sum and returns the bytes of h the pool stores.
func (p *pool) sealVecHeader(h *vecHeader) []byte {
	b := valueBytes(h)
	if !p.hdr.summed() {
		return b[:vecHeaderSizeNoSum]
	}
	h.sum = xxh3.Hash(b[:vecHeaderSumOff])
	return b
}

// storeVecHeader stores h, sealed, at pointer v. Callers hold t.mu.
func (t *txn) storeVecHeader(v uint64, h *vecHeader) error {
	return t.store(v, t.p.sealVecHeader(h))
}

// elemSize is the bytes of an element in a buffer: a zero-sized T still
// takes a byte, so that capacities stay finite.
func elemSize[T any]() int64 { return max(int64(unsafe.Sizeof(*new(T))), 1) }

func (v Vec[Tag, T]) IsNil() bool { return v.v == 0 }

// header reads the vector's header. Callers hold t.mu.
func (t *txn) vecHeader(v uint64, esize int64) (vecHeader, int64, error) {
	var h vecHeader
	if err := t.load(v, valueBytes(&h)[:t.p.vecHeaderSize()]); err != nil {
		return h, 0, err
	}
	if t.p.hdr.summed() && h.sum != xxh3.Hash(valueBytes(&h)[:vecHeaderSumOff]) {
		off, _ := t.p.offset(v)
		return h, 0, fmt.Errorf("%w: vector at %d: header checksum", ErrCorrupt, off)
	}
	if h.len > h.cap || h.cap > 1<<48/uint64(esize) {
		off, _ := t.p.offset(v)
		return h, 0, fmt.Errorf("%w: vector at %d: len %d, cap %d", ErrCorrupt, off, h.len, h.cap)
	}
	if h.cap == 0 {
		return h, 0, nil
	}
	buf, err := t.p.offset(h.buf)
	if err != nil {
		return h, 0, err
	}
	if err := t.check(buf, int64(h.cap)*esize); err != nil {
		return h, 0, err
	}
	return h, buf, nil
}

// Len returns the number of elements.
func (v Vec[Tag, T]) Len(tx *Tx[Tag]) (int, error) {
	t, err := tx.enter()
	if err != nil {
		return 0, err
	}
	defer t.mu.Unlock()
	h, _, err := t.vecHeader(v.v, elemSize[T]())
	return int(h.len), err
}

// At returns a copy of element i.
func (v Vec[Tag, T]) At(tx *Tx[Tag], i int) (T, error) {
	var x T
	t, err := tx.enter()
	if err != nil {
		return x, err
	}
	defer t.mu.Unlock()
	h, buf, err := t.vecHeader(v.v, elemSize[T]())
	if err != nil {
		return x, err
	}
	if i < 0 || uint64(i) >= h.len {
		return x, fmt.Errorf("tx.Vec.At: index %d out of range [0,%d)", i, h.len)
	}
	off := buf + int64(i)*elemSize[T]()
	if err := t.readAt(valueBytes(&x), off); err != nil {
		return x, err
	}
	return x, t.verified(reflect.TypeFor[T](), valueBytes(&x), off)
}

// Set replaces element i.
func (v Vec[Tag, T]) Set(tx *Tx[Tag], i int, x T) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	h, buf, err := t.vecHeader(v.v, elemSize[T]())
	if err != nil {
		return err
	}
	if i < 0 || uint64(i) >= h.len {
		return fmt.Errorf("tx.Vec.Set: index %d out of range [0,%d)", i, h.len)
	}
	off := buf + int64(i)*elemSize[T]()
	t.stage(t.p.sealed(reflect.TypeFor[T](), valueBytes(&x)), off, t.isFresh(off, elemSize[T]()))
	return nil
}

// Append adds xs at the end, growing the buffer (to twice its size or
// more) when it is full: a new buffer, the elements copied, the old one
// freed, all in the transaction.
func (v Vec[Tag, T]) Append(tx *Tx[Tag], xs ...T) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	es := elemSize[T]()
	h, buf, err := t.vecHeader(v.v, es)
	if err != nil {
		return err
	}
	need := h.len + uint64(len(xs))
	if need > h.cap {
		ncap := max(2*h.cap, need, 4)
		nbuf, usable, err := t.alloc(int64(ncap) * es)
		if err != nil {
			return err
		}
		if h.len > 0 {
			old := make([]byte, int64(h.len)*es)
			if err := t.readAt(old, buf); err != nil {
				return err
			}
			t.stage(old, nbuf, true)
		}
		if h.cap > 0 {
			if err := t.free(buf); err != nil {
				return err
			}
		}
		h.cap, h.buf, buf = uint64(usable/es), t.p.ptr(nbuf), nbuf
	}
	if len(xs) > 0 && unsafe.Sizeof(xs[0]) > 0 {
		off := buf + int64(h.len)*es
		b := unsafe.Slice((*byte)(unsafe.Pointer(&xs[0])), int64(len(xs))*es)
		if sums := t.p.sumsOf(reflect.TypeFor[T]()); sums != nil {
			b = bytes.Clone(b) // the checksums go in a copy, not in xs
			for i := range int64(len(xs)) {
				sealSums(sums, b[i*es:(i+1)*es])
			}
		}
		t.stage(b, off, t.isFresh(off, int64(len(b))))
	}
	h.len = need
	return t.storeVecHeader(v.v, &h)
}

// Truncate drops the elements from n on, freeing what they own.
func (v Vec[Tag, T]) Truncate(tx *Tx[Tag], n int) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	es := elemSize[T]()
	h, buf, err := t.vecHeader(v.v, es)
	if err != nil {
		return err
	}
	if n < 0 || uint64(n) > h.len {
		return fmt.Errorf("tx.Vec.Truncate: %d out of range [0,%d]", n, h.len)
	}
	l, err := t.p.layoutOf(reflect.TypeFor[T]())
	if err != nil {
		return err
	}
	for i := uint64(n); i < h.len; i++ {
		if err := t.dropRefsAt(l.refs, buf+int64(i)*es); err != nil {
			return err
		}
	}
	h.len = uint64(n)
	return t.storeVecHeader(v.v, &h)
}

// SwapRemove removes element i and returns it, moving the last element
// into its place. What the element owns is not freed: the caller has it.
func (v Vec[Tag, T]) SwapRemove(tx *Tx[Tag], i int) (T, error) {
	var x T
	t, err := tx.writable()
	if err != nil {
		return x, err
	}
	defer t.mu.Unlock()
	es := elemSize[T]()
	h, buf, err := t.vecHeader(v.v, es)
	if err != nil {
		return x, err
	}
	if i < 0 || uint64(i) >= h.len {
		return x, fmt.Errorf("tx.Vec.SwapRemove: index %d out of range [0,%d)", i, h.len)
	}
	if err := t.readAt(valueBytes(&x), buf+int64(i)*es); err != nil {
		return x, err
	}
	if err := t.verified(reflect.TypeFor[T](), valueBytes(&x), buf+int64(i)*es); err != nil {
		return x, err
	}
	if last := int64(h.len - 1); int64(i) != last && es > 0 {
		b := make([]byte, es)
		if err := t.readAt(b, buf+last*es); err != nil {
			return x, err
		}
		off := buf + int64(i)*es
		t.stage(b, off, t.isFresh(off, es))
	}
	h.len--
	return x, t.storeVecHeader(v.v, &h)
}

// Pop removes the last element and returns it; what it owns is not freed.
func (v Vec[Tag, T]) Pop(tx *Tx[Tag]) (T, error) {
	n, err := v.Len(tx)
	if err != nil {
		var x T
		return x, err
	}
	if n == 0 {
		var x T
		return x, fmt.Errorf("tx.Vec.Pop: empty vector")
	}
	return v.SwapRemove(tx, n-1)
}

// All returns a copy of every element.
func (v Vec[Tag, T]) All(tx *Tx[Tag]) ([]T, error) {
	t, err := tx.enter()
	if err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	h, buf, err := t.vecHeader(v.v, elemSize[T]())
	if err != nil {
		return nil, err
	}
	out := make([]T, h.len)
	if h.len > 0 && unsafe.Sizeof(out[0]) > 0 {
		err = t.readAt(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), int64(h.len)*elemSize[T]()), buf)
	}
	if sums := t.p.sumsOf(reflect.TypeFor[T]()); sums != nil && err == nil {
		for i := range out {
			if err := verifySums(sums, valueBytes(&out[i]), buf+int64(i)*elemSize[T]()); err != nil {
				return nil, err
			}
		}
	}
	return out, err
}

// Free frees the vector, its buffer and what its elements own.
func (v Vec[Tag, T]) Free(tx *Tx[Tag]) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	l, err := t.p.layoutFor(typeKey{reflect.TypeFor[T](), vecLayout})
	if err != nil {
		return err
	}
	return t.dropOwned(refField{kind: refVec, elem: l}, v.v)
}

// dropVec drops what the elements of the vector at hdr own (calling drop
// for each owning pointer) and frees its buffer; dropOwned frees the
// header. Callers hold t.mu.
func (t *txn) dropVec(elem *layout, hdr int64, drop func(refField, uint64)) error {
	es := max(elem.size, 1)
	h, buf, err := t.vecHeader(t.p.ptr(hdr), es)
	if err != nil {
		return err
	}
	if h.cap == 0 {
		return nil
	}
	for i := uint64(0); i < h.len && len(elem.refs) > 0; i++ {
		if err := t.eachRef(elem.refs, buf+int64(i)*es, drop); err != nil {
			return err
		}
	}
	return t.free(buf)
}

// dropRefsAt drops every owning pointer of the value at base.
func (t *txn) dropRefsAt(refs []refField, base int64) error {
	var firstErr error
	err := t.eachRef(refs, base, func(r refField, v uint64) {
		if err := t.dropOwned(r, v); err != nil && firstErr == nil {
			firstErr = err
		}
	})
	if err != nil {
		return err
	}
	return firstErr
}

// A blob (Bytes, String) is one block: its header, then its bytes.
//
//	header: | length (u64) | sum |
//
// In a pool of format 4 or 5, sum is the XXH3 of the length's 8 bytes,
// checked by every read (ErrCorrupt); older formats have no sum, and the
// bytes follow the length. Words are little-endian.
const (
	blobHeaderSize      = 16
	blobHeaderSizeNoSum = 8
)

// blobHeaderSize is the size of the pool's blob headers.
func (p *pool) blobHeaderSize() int64 {
	if p.hdr.summed() {
		return blobHeaderSize
	}
	return blobHeaderSizeNoSum
}

// blobLength decodes a blob's header, b[:p.blobHeaderSize()], and checks
// its sum.
func (p *pool) blobLength(b []byte) (uint64, error) {
	n := binary.LittleEndian.Uint64(b)
	if p.hdr.summed() && binary.LittleEndian.Uint64(b[8:]) != xxh3.Hash(b[:8]) {
		return 0, fmt.Errorf("%w: blob header checksum", ErrCorrupt)
	}
	return n, nil
}

// Bytes is an immutable persistent byte string; String is the same for Go
// strings (Corundum's PString). Both own their block.
type Bytes[Tag any] struct {
	v uint64
}

// String is an immutable persistent string.
type String[Tag any] struct {
	v uint64
}

func (Bytes[Tag]) persistentRef() (refKind, reflect.Type, reflect.Type) {
	return refBlob, nil, reflect.TypeFor[Tag]()
}

func (String[Tag]) persistentRef() (refKind, reflect.Type, reflect.Type) {
	return refBlob, nil, reflect.TypeFor[Tag]()
}

// NewBytes stores a copy of b.
func NewBytes[Tag any](tx *Tx[Tag], b []byte) (Bytes[Tag], error) {
	v, err := newBlob(tx, b)
	return Bytes[Tag]{v: v}, err
}

// NewString stores a copy of s.
func NewString[Tag any](tx *Tx[Tag], s string) (String[Tag], error) {
	v, err := newBlob(tx, unsafe.Slice(unsafe.StringData(s), len(s)))
	return String[Tag]{v: v}, err
}

func newBlob[Tag any](tx *Tx[Tag], b []byte) (uint64, error) {
	t, err := tx.writable()
	if err != nil {
		return 0, err
	}
	defer t.mu.Unlock()
	hs := t.p.blobHeaderSize()
	off, _, err := t.alloc(hs + int64(len(b)))
	if err != nil {
		return 0, err
	}
	var h [blobHeaderSize]byte
	binary.LittleEndian.PutUint64(h[:], uint64(len(b)))
	binary.LittleEndian.PutUint64(h[8:], xxh3.Hash(h[:8]))
	t.stage(h[:hs], off, true)
	if len(b) > 0 {
		t.stage(b, off+hs, true)
	}
	return t.p.ptr(off), nil
}

// readBlob returns a copy of the blob at v.
func readBlob[Tag any](tx *Tx[Tag], v uint64) ([]byte, error) {
	t, err := tx.enter()
	if err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	hs := t.p.blobHeaderSize()
	var h [blobHeaderSize]byte
	if err := t.load(v, h[:hs]); err != nil {
		return nil, err
	}
	off, _ := t.p.offset(v)
	size, err := t.p.blobLength(h[:hs])
	if err != nil {
		return nil, fmt.Errorf("%w at %d", err, off)
	}
	if size > 1<<40 {
		return nil, fmt.Errorf("%w: blob at %d of %d bytes", ErrCorrupt, off, size)
	}
	if err := t.check(off, hs+int64(size)); err != nil {
		return nil, err
	}
	b := make([]byte, size)
	return b, t.readAt(b, off+hs)
}

func (b Bytes[Tag]) IsNil() bool  { return b.v == 0 }
func (s String[Tag]) IsNil() bool { return s.v == 0 }

// Get returns a copy of the bytes.
func (b Bytes[Tag]) Get(tx *Tx[Tag]) ([]byte, error) { return readBlob(tx, b.v) }

// Get returns the string.
func (s String[Tag]) Get(tx *Tx[Tag]) (string, error) {
	b, err := readBlob(tx, s.v)
	return string(b), err
}

// Free frees the bytes.
func (b Bytes[Tag]) Free(tx *Tx[Tag]) error { return freeBlob(tx, b.v) }

// Free frees the string.
func (s String[Tag]) Free(tx *Tx[Tag]) error { return freeBlob(tx, s.v) }

func freeBlob[Tag any](tx *Tx[Tag], v uint64) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	return t.dropOwned(refField{kind: refBlob}, v)
}
