package tx

import (
	"encoding/binary"
	"fmt"
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

func (p *pool) checkHeap(h *alloc.Heap, t *txn) error {
	roots := []alloc.Ref{{Off: p.root, Size: p.rootL.size, Kind: alloc.Owner, Type: p.rootL, From: -1, Path: "root"}}
	return h.Check(roots, &walker{t: t})
}

// walker is the alloc.Walker of a pool: it knows, from the layouts of the
// Go types, where every object keeps its pointers. It reads the committed
// state through t, a transaction that writes nothing.
type walker struct {
	t *txn
}

func (w *walker) Walk(r alloc.Ref, visit func(alloc.Ref)) error {
	l := r.Type.(*layout)
	t := w.t
	switch l.kind {
	case objectLayout:
		return w.object(l.refs, r.Off, r.Path, visit)
	case rcLayout:
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
		visit(alloc.Ref{Off: buf, Size: int64(h.cap) * es, Kind: alloc.Owner, Type: w.leaf(), From: r.Off + 16, Path: r.Path + ".buf"})
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
		})
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
		case refBox:
			r.Size = f.elem.size
		case refRc, refArc:
			r.Kind, r.Size = alloc.Counted, f.elem.size
			if err := t.readAt(b[:], off); err == nil && off >= t.p.hdr.HeapOff {
				r.Count = binary.NativeEndian.Uint64(b[:])
			}
		case refVec:
			r.Size = vecHeaderSize
		case refMap:
			r.Size = mapHeaderSize
		case refBlob:
			r.Size = blobHeaderSize
			if off >= t.p.hdr.HeapOff && off+8 <= t.p.r.Len() {
				if err := t.readAt(b[:], off); err == nil {
					r.Size += int64(min(binary.LittleEndian.Uint64(b[:]), 1<<48))
				}
			}
		}
		visit(r)
	}
	return nil
}
