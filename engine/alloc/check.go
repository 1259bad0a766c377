package alloc

import (
	"fmt"
	"sort"
	"strings"
)

// RefKind says what a persistent pointer means for the block it points to.
type RefKind uint8

const (
	// Owner is the one reference that keeps a block alive: a box. A block
	// with two owners was allocated once and handed out twice.
	Owner RefKind = iota + 1
	// Counted is one of the references that keep a block alive together;
	// the block stores how many there must be (Ref.Count).
	Counted
	// Borrowed points into a block that other references keep alive. It
	// must point into an allocated block, and keeps nothing alive.
	Borrowed
)

func (k RefKind) String() string {
	switch k {
	case Owner:
		return "owner"
	case Counted:
		return "counted"
	case Borrowed:
		return "borrowed"
	}
	return "RefKind(?)"
}

// Ref is a persistent pointer as Check sees it: where it points, what it
// expects to find there, and where it is stored.
type Ref struct {
	// Off is where the pointer points; Size the bytes of the object it
	// expects there.
	Off, Size int64
	Kind      RefKind
	// Count is, for a Counted reference, the reference count stored in the
	// block it points to.
	Count uint64
	// Type is the walker's description of the object, handed back to
	// Walker.Walk when Check visits it. It must be comparable: a block
	// reached as two different types is reported.
	Type any
	// From is where the pointer is stored, or -1 for a root; Path names it
	// for a report ("root.Items[3].Next").
	From int64
	Path string
}

// Walker knows the types stored in a heap: it tells Check which pointers
// an object holds. engine/tx implements it from the Go types of a pool.
type Walker interface {
	// Walk calls visit for every persistent pointer stored in the object
	// that r points to. An error stops the check and is reported.
	Walk(r Ref, visit func(Ref)) error
}

// Problem is one thing Check found wrong.
type Problem struct {
	Off  int64 // the block or pointer concerned
	Text string
}

func (p Problem) String() string { return fmt.Sprintf("at %d: %s", p.Off, p.Text) }

// CheckError is the error Check returns: every problem it found (the first
// maxProblems of them), and how many there were. It wraps ErrCheck.
type CheckError struct {
	Problems []Problem
	Total    int
}

const maxProblems = 64

func (e *CheckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d problems", ErrCheck, e.Total)
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	if e.Total > len(e.Problems) {
		fmt.Fprintf(&b, "\n\t... and %d more", e.Total-len(e.Problems))
	}
	return b.String()
}

func (e *CheckError) Unwrap() error { return ErrCheck }

func (e *CheckError) add(off int64, format string, args ...any) {
	e.Total++
	if len(e.Problems) < maxProblems {
		e.Problems = append(e.Problems, Problem{Off: off, Text: fmt.Sprintf(format, args...)})
	}
}

// blockState is what Check learned about one block.
type blockState struct {
	size    int64
	owners  int
	counted int
	count   uint64
	typ     any
	from    []string
}

// Check verifies the heap and everything reachable from roots. It runs
// two checks, and reports every problem of both in a *CheckError:
//
//   - The metadata: the page tables tile their zones, the index of free
//     blocks holds exactly the free blocks of the page tables, merged, and
//     the volatile bitmaps and block owners agree with the persistent ones
//     (the two views of one heap checked against each other).
//   - Reachability: from roots, following what w says each object holds,
//     every pointer points into an allocated block and the object it
//     expects fits there; an owning pointer points to the start of its
//     block, which has no other owner (else the block is allocated twice),
//     and a counted block has exactly as many counted references as its
//     count; a block is never reached as two types; and every allocated
//     block is reached (else it leaked).
//
// Check must not run during a transaction. It reads every run's bitmap.
func (h *Heap) Check(roots []Ref, w Walker) error {
	ce := &CheckError{}
	if len(h.undo) > 0 || len(h.pendingBits) > 0 || len(h.pendingFree) > 0 {
		ce.add(-1, "check during a transaction")
		return ce
	}
	if err := h.loadAll(); err != nil {
		ce.add(-1, "reading the runs: %v", err)
		return ce
	}
	h.checkMetadata(ce)
	if ce.Total > 0 {
		// Reachability through a broken index would only add noise.
		return ce
	}
	blocks := map[int64]*blockState{}
	var queue []Ref
	visit := func(r Ref) {
		start, size, err := h.Block(r.Off)
		where := r.Path
		if where == "" {
			where = fmt.Sprintf("pointer at %d", r.From)
		}
		if err != nil {
			ce.add(r.Off, "%s (%v) points to %d: not in an allocated block", where, r.Kind, r.Off)
			return
		}
		if r.Size < 0 || r.Off+r.Size > start+size {
			ce.add(r.Off, "%s expects %d bytes at %d, past the end of its block [%d,%d)", where, r.Size, r.Off, start, start+size)
			return
		}
		if r.Kind == Borrowed {
			return
		}
		if r.Off != start {
			ce.add(r.Off, "%s (%v) points into the middle of block [%d,%d)", where, r.Kind, start, start+size)
			return
		}
		st := blocks[start]
		if st == nil {
			st = &blockState{size: size, typ: r.Type, count: r.Count}
			blocks[start] = st
			queue = append(queue, r)
		} else if st.typ != r.Type {
			ce.add(start, "block reached as two types: %v (%s) and %v (%s)", st.typ, strings.Join(st.from, ", "), r.Type, where)
		}
		if len(st.from) < 4 {
			st.from = append(st.from, where)
		}
		switch r.Kind {
		case Owner:
			st.owners++
		case Counted:
			if st.counted > 0 && st.count != r.Count {
				ce.add(start, "counted block read with counts %d and %d", st.count, r.Count)
			}
			st.counted++
			st.count = r.Count
		}
	}
	for _, r := range roots {
		visit(r)
	}
	for len(queue) > 0 {
		r := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if err := w.Walk(r, visit); err != nil {
			ce.add(r.Off, "walking %v at %d: %v", r.Type, r.Off, err)
		}
	}
	starts := make([]int64, 0, len(blocks))
	for s := range blocks {
		starts = append(starts, s)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, s := range starts {
		st := blocks[s]
		switch {
		case st.owners > 1:
			ce.add(s, "block owned %d times (allocated once, handed out twice): %s", st.owners, strings.Join(st.from, ", "))
		case st.owners > 0 && st.counted > 0:
			ce.add(s, "block both owned and reference-counted: %s", strings.Join(st.from, ", "))
		case st.counted > 0 && uint64(st.counted) != st.count:
			ce.add(s, "block has reference count %d but %d counted references: %s", st.count, st.counted, strings.Join(st.from, ", "))
		}
	}
	h.allocated(func(start, size int64) {
		if blocks[start] == nil {
			ce.add(start, "block [%d,%d) is allocated but unreachable (leaked)", start, start+size)
		}
	})
	if ce.Total > 0 {
		return ce
	}
	return nil
}

// allocated calls f for every allocated block, in address order.
func (h *Heap) allocated(f func(start, size int64)) {
	for _, z := range h.zones {
		for p := uint32(0); p < z.npages; p++ {
			if z.owner[p] == 0 || z.owner[p]-1 != p {
				continue
			}
			r := z.runs[p]
			if r == nil {
				f(z.pageOff(p), int64(z.length[p])*PageSize)
				continue
			}
			g := &geometries[r.class]
			for i := range g.nblocks {
				if r.bits[i/64]&(1<<uint(i%64)) != 0 {
					f(r.off+g.data+int64(i)*g.size, g.size)
				}
			}
		}
	}
}

// checkMetadata compares the persistent metadata with the volatile index.
func (h *Heap) checkMetadata(ce *CheckError) {
	var hdr [HeaderSize]byte
	if _, err := h.r.ReadAt(hdr[:], h.base); err != nil {
		ce.add(h.base, "reading the heap header: %v", err)
		return
	}
	if le64(hdr[0:]) != heapMagic || le64(hdr[8:]) != uint64(len(h.zones)) || int64(le64(hdr[16:])) != h.first {
		ce.add(h.base, "heap header says %d zones from %d, the index has %d from %d", le64(hdr[8:]), le64(hdr[16:]), len(h.zones), h.first)
	}
	freeBlocks := 0
	for _, z := range h.zones {
		table := newTableReader(h.r, z.off+zoneHeaderSize, int64(z.npages))
		prevFree := false
		for p := uint32(0); p < z.npages; {
			e, err := table.at(p)
			if err != nil {
				ce.add(z.entryOff(p), "reading the page table: %v", err)
				return
			}
			k, m := e.kind(), e.npages()
			if k == kindNone || e.tail() || m == 0 || m > z.npages-p {
				ce.add(z.entryOff(p), "zone %d page %d: entry %v does not start a block (the page table does not tile the zone)", z.index, p, e)
				return
			}
			if m > 1 {
				if t, err := table.at(p + m - 1); err != nil || t != makeEntry(k, true, e.class(), m) {
					ce.add(z.entryOff(p+m-1), "zone %d page %d: tail %v does not match start %v", z.index, p+m-1, t, e)
				}
			}
			switch k {
			case kindFree:
				freeBlocks++
				if prevFree {
					ce.add(z.pageOff(p), "zone %d page %d: free block next to a free block (not merged)", z.index, p)
				}
				if !h.free.Has(freeKey(m, z.index, p)) {
					ce.add(z.pageOff(p), "zone %d: free block at page %d of %d pages is not in the index", z.index, p, m)
				}
				for q := p; q < p+m; q++ {
					if z.owner[q] != 0 {
						ce.add(z.pageOff(q), "zone %d page %d is free but the index says block %d owns it", z.index, q, z.owner[q]-1)
						break
					}
				}
			case kindUsed, kindRun:
				bad := z.length[p] != m
				for q := p; q < p+m && !bad; q++ {
					bad = z.owner[q] != p+1
				}
				if bad {
					ce.add(z.pageOff(p), "zone %d: %v block at page %d of %d pages disagrees with the index", z.index, k, p, m)
				}
				if (k == kindRun) != (z.runs[p] != nil) {
					ce.add(z.pageOff(p), "zone %d page %d: %v block, and the index has a run there: %v", z.index, p, k, z.runs[p] != nil)
				}
				if k == kindRun && z.runs[p] != nil {
					h.checkRun(ce, z.runs[p], e.class())
				}
			}
			prevFree = k == kindFree
			p += m
		}
	}
	if freeBlocks != h.free.Len() {
		ce.add(-1, "the index has %d free blocks, the page tables %d", h.free.Len(), freeBlocks)
	}
}

// checkRun compares a run's persistent header and bitmap with its volatile
// copy.
func (h *Heap) checkRun(ce *CheckError, r *run, class int) {
	g := &geometries[class]
	buf := make([]byte, runHeaderSize+g.words*8)
	if _, err := h.r.ReadAt(buf, r.off); err != nil {
		ce.add(r.off, "reading run: %v", err)
		return
	}
	if le32(buf[0:]) != uint32(class) || le32(buf[4:]) != uint32(g.nblocks) || r.class != class {
		ce.add(r.off, "run header says class %d with %d blocks, the page table class %d", le32(buf[0:]), le32(buf[4:]), class)
		return
	}
	pad := g.words*64 - g.nblocks
	for w := range g.words {
		pw := le64(buf[runHeaderSize+8*w:])
		vw := r.bits[w]
		if w == g.words-1 && pad > 0 {
			mask := ^uint64(0) << (64 - pad)
			if pw&mask != 0 {
				ce.add(r.off, "run bitmap has bits set past its %d blocks", g.nblocks)
			}
			vw &^= mask
		}
		if pw != vw {
			ce.add(r.off+runHeaderSize+int64(8*w), "run bitmap word %d is %#x, the index says %#x", w, pw, vw)
		}
	}
}
