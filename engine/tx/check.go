package tx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/crashsim/crashsim/engine/alloc"
)

// Stats describes a pool: its heap's usage and fragmentation, and its
// file.
type Stats struct {
	alloc.Stats
	FileSize int64
	LogSize  int64
}

func (p *pool) stats() (Stats, error) {
	if p.closed.Load() {
		return Stats{}, fmt.Errorf("%w: pool %s", ErrClosed, p.name)
	}
	var hs alloc.Stats
	err := p.withHeap(func(h *alloc.Heap, _ *txn) error {
		var err error
		hs, err = h.Stats()
		return err
	})
	return Stats{Stats: hs, FileSize: p.r.Len(), LogSize: p.hdr.LogSize}, err
}

func (p *pool) check() error {
	if p.closed.Load() {
		return fmt.Errorf("%w: pool %s", ErrClosed, p.name)
	}
	return p.withHeap(func(h *alloc.Heap, t *txn) error { return p.checkHeap(h, t) })
}

// withHeap calls f with the heap, between transactions: the writer's own,
// or, in a read-only pool, one read from a snapshot that no writer
// changed while f ran.
func (p *pool) withHeap(f func(*alloc.Heap, *txn) error) error {
	if !p.readOnly {
		p.writerMu.Lock()
		defer p.writerMu.Unlock()
		if p.broken != nil {
			return p.broken
		}
		return f(p.heap, &txn{p: p})
	}
	p.applyMu.RLock()
	defer p.applyMu.RUnlock()
	for attempt := 0; ; attempt++ {
		v, err := p.waitVersion(attempt)
		if err != nil {
			return err
		}
		if err := p.checkLayoutWord(); err != nil {
			return err
		}
		if err := p.remap(); err != nil {
			return err
		}
		h, err := alloc.Open(p.r, heapHeaderOff, p.r.Len(), 0)
		if err == nil {
			err = f(h, &txn{p: p})
		} else {
			err = fmt.Errorf("%w: %s: %w", ErrCorrupt, p.name, err)
		}
		now, lerr := p.r.Load64(versionOff)
		if lerr != nil {
			return lerr
		}
		if now == v {
			return err
		}
	}
}

// checkLocked is Check for the writer, which holds writerMu.
func (p *pool) checkLocked() error { return p.checkHeap(p.heap, &txn{p: p}) }

// checkHeap checks the heap h and everything reachable from the root
// (alloc.Heap.Check with the pool's walker), then that every borrowed
// pointer points at a value of its type (checkBorrowed).
func (p *pool) checkHeap(h *alloc.Heap, t *txn) error {
	var line [rootLineSize]byte
	if err := t.readAt(line[:], rootOff); err != nil {
		return err
	}
	if p.hdr.rootSummed() {
		if err := checkRootLine(line[:]); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	if v := binary.NativeEndian.Uint64(line[:]); v != p.ptr(p.root) {
		return fmt.Errorf("%w: %s: root pointer %#x, the root opened at %#x", ErrCorrupt, p.name, v, p.ptr(p.root))
	}
	next := binary.LittleEndian.Uint64(line[nextIDOff-rootOff:])
	w := &walker{t: t, h: h, nextID: next, ids: map[uint64]int64{}, types: map[int64]*layout{}}
	roots := []alloc.Ref{{Off: p.root, Size: p.rootL.size, Kind: alloc.Owner, Type: p.rootL, From: -1, Path: "root"}}
	err := h.Check(roots, w)
	if err != nil && !errors.As(err, new(*alloc.CheckError)) {
		return err
	}
	ce, _ := err.(*alloc.CheckError)
	if ce == nil {
		ce = &alloc.CheckError{}
	}
	w.checkBorrowed(ce)
	for _, pr := range w.problems {
		ce.Total++
		if len(ce.Problems) < 64 {
			ce.Problems = append(ce.Problems, pr)
		}
	}
	if ce.Total == 0 {
		return nil
	}
	return ce
}

// walker is the alloc.Walker of a pool: it knows, from the layouts of the
// Go types, where every object keeps its pointers. It reads the committed
// state through t, a transaction that writes nothing, and checks the
// engine's structures as it goes: a map's entries against its index and
// count, a vector's capacity against its buffer, reference-counted
// objects' identities, blobs' headers.
type walker struct {
	t *txn
	h *alloc.Heap
	// nextID is the root line's next identity; ids the identities of the
	// reference-counted objects seen, by identity: each is below nextID,
	// and no two objects have the same one.
	nextID uint64
	ids    map[uint64]int64
	// types are the layouts of the blocks walked, by offset, and borrowed
	// the borrowed pointers seen, for checkBorrowed.
	types    map[int64]*layout
	borrowed []alloc.Ref
	// problems are the Checked values that fail their checksums.
	problems []alloc.Problem
}

// verify checks the Checked values of a value of layout l at off.
func (w *walker) verify(l *layout, off int64, path string) error {
	if len(l.sums) == 0 {
		return nil
	}
	b := make([]byte, l.size)
	if err := w.t.readAt(b, off); err != nil {
		return err
	}
	if err := verifySums(l.sums, b, off); err != nil {
		w.problems = append(w.problems, alloc.Problem{Off: off, Text: fmt.Sprintf("%s (%v): %v", path, l, err)})
	}
	return nil
}

func (w *walker) Walk(r alloc.Ref, visit func(alloc.Ref)) error {
	l := r.Type.(*layout)
	t := w.t
	w.types[r.Off] = l
	switch l.kind {
	case objectLayout:
		if err := w.verify(l, r.Off, r.Path); err != nil {
			return err
		}
		return w.object(l.refs, r.Off, r.Path, visit)
	case rcLayout:
		var b [8]byte
		if err := t.readAt(b[:], r.Off+8); err != nil {
			return err
		}
		id := binary.NativeEndian.Uint64(b[:])
		if other, ok := w.ids[id]; ok {
			return fmt.Errorf("%w: identity %d is also the object's at %d", ErrCorrupt, id, other)
		}
		if id >= w.nextID {
			return fmt.Errorf("%w: identity %d, and the next one to give is %d", ErrCorrupt, id, w.nextID)
		}
		w.ids[id] = r.Off
		if err := w.verify(l.elem, r.Off+rcHeaderSize, r.Path); err != nil {
			return err
		}
		return w.object(l.elem.refs, r.Off+rcHeaderSize, r.Path, visit)
	case vecLayout:
		es := max(l.elem.size, 1)
		h, buf, err := t.vecHeader(t.p.ptr(r.Off), es)
		if err != nil {
			return err
		}
		if h.cap == 0 {
			return nil
		}
		// The buffer's block holds cap elements: an allocation gives the
		// vector all its block can hold.
		if start, size, err := w.h.Block(buf); err == nil && start == buf && h.cap != uint64(size/es) {
			return fmt.Errorf("%w: vector at %d: capacity %d, and its buffer of %d bytes holds %d", ErrCorrupt, r.Off, h.cap, size, size/es)
		}
		visit(alloc.Ref{Off: buf, Size: int64(h.cap) * es, Kind: alloc.Owner, Type: w.leaf(), From: r.Off + 16, Path: r.Path + ".buf"})
		for i := uint64(0); i < h.len && len(l.elem.sums) > 0; i++ {
			if err := w.verify(l.elem, buf+int64(i)*es, r.Path+"["+strconv.FormatUint(i, 10)+"]"); err != nil {
				return err
			}
		}
		for i := uint64(0); i < h.len && len(l.elem.refs) > 0; i++ {
			if err := w.object(l.elem.refs, buf+int64(i)*es, r.Path+"["+strconv.FormatUint(i, 10)+"]", visit); err != nil {
				return err
			}
		}
	case mapLayout:
		op, err := t.openMap(t.p.ptr(r.Off))
		if err != nil {
			return err
		}
		path := r.Path + " (map storage)"
		return op.blocks(func(off, size int64) error {
			visit(alloc.Ref{Off: off, Size: size, Kind: alloc.Owner, Type: w.leaf(), From: r.Off, Path: path})
			return nil
		}, true)
	}
	return nil
}

func (w *walker) leaf() *layout {
	l, _ := w.t.p.layoutFor(typeKey{nil, leafLayout})
	return l
}

// object visits the pointers of the value at base.
func (w *walker) object(refs []refField, base int64, path string, visit func(alloc.Ref)) error {
	t := w.t
	var b [8]byte
	for _, f := range refs {
		fpath := path + "." + f.path
		if f.kind == refArray {
			for i := range f.count {
				if err := w.object(f.sub, base+f.off+i*f.stride, fpath+"["+strconv.FormatInt(i, 10)+"]", visit); err != nil {
					return err
				}
			}
			continue
		}
		if err := t.readAt(b[:], base+f.off); err != nil {
			return err
		}
		v := binary.NativeEndian.Uint64(b[:])
		if v == 0 {
			continue
		}
		off, err := t.p.offset(v)
		if err != nil {
			visit(alloc.Ref{Off: -1, Kind: alloc.Borrowed, From: base + f.off, Path: fpath + " (" + err.Error() + ")"})
			continue
		}
		r := alloc.Ref{Off: off, Kind: alloc.Owner, Type: f.elem, From: base + f.off, Path: fpath}
		switch f.kind {
		case refPtr:
			r.Kind, r.Size = alloc.Borrowed, f.elem.size
			w.borrowed = append(w.borrowed, r)
		case refBox:
			r.Size = f.elem.size
		case refRc, refArc:
			r.Kind, r.Size = alloc.Counted, f.elem.size
			if err := t.readAt(b[:], off); err == nil && off >= t.p.hdr.HeapOff {
				r.Count = binary.NativeEndian.Uint64(b[:])
			}
		case refVec:
			r.Size = t.p.vecHeaderSize()
		case refMap:
			r.Size = mapHeaderSize
		case refBlob:
			hs := t.p.blobHeaderSize()
			r.Size = hs
			var h [blobHeaderSize]byte
			if off >= t.p.hdr.HeapOff && off+hs <= t.p.r.Len() {
				if err := t.readAt(h[:hs], off); err == nil {
					n, err := t.p.blobLength(h[:hs])
					if err != nil {
						visit(alloc.Ref{Off: -1, Kind: alloc.Borrowed, From: base + f.off, Path: fpath + " (" + err.Error() + ")"})
						continue
					}
					r.Size += int64(min(n, 1<<48))
				}
			}
		}
		visit(r)
	}
	return nil
}

// checkBorrowed adds to ce every borrowed pointer that does not point at
// a value of its type: at the start of an object of that type, or of a
// field or array element of one. (Any value of the type, in any object,
// is a pointer the program could have stored: one damaged into another
// such value is not found.)
func (w *walker) checkBorrowed(ce *alloc.CheckError) {
	for _, r := range w.borrowed {
		start, _, err := w.h.Block(r.Off)
		if err != nil {
			continue // alloc.Check reported it
		}
		l := w.types[start]
		if l == nil {
			continue // a block no owner reached: reported as leaked
		}
		want := r.Type.(*layout).typ
		at := r.Off - start
		var typ reflect.Type
		switch l.kind {
		case objectLayout:
			typ = l.typ
		case rcLayout:
			typ, at = l.elem.typ, at-rcHeaderSize
		}
		if typ == nil || at < 0 || !valueAt(typ, uintptr(at), want) {
			ce.Total++
			if len(ce.Problems) < 64 {
				ce.Problems = append(ce.Problems, alloc.Problem{Off: r.Off, Text: fmt.Sprintf(
					"%s (borrowed) points to %d, %d bytes into a %v, where no %v starts", r.Path, r.Off, r.Off-start, l, want)})
			}
		}
	}
}

// valueAt reports whether a value of type want starts at offset off of a
// value of type t: t itself, or one of its fields or array elements, at
// any depth.
func valueAt(t reflect.Type, off uintptr, want reflect.Type) bool {
	if off == 0 && t == want {
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if off >= f.Offset && off < f.Offset+f.Type.Size() {
				return valueAt(f.Type, off-f.Offset, want)
			}
		}
	case reflect.Array:
		if es := t.Elem().Size(); es > 0 && off < t.Size() {
			return valueAt(t.Elem(), off%es, want)
		}
	}
	return false
}
