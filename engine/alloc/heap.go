package alloc

import (
	"fmt"
	"io"
	"math/bits"
)

// Journal is the transaction a Heap changes its persistent metadata in.
// The heap never writes its storage directly: every change goes through
// the journal, so that it commits, aborts and survives a crash with the
// rest of the transaction. engine/tx implements it; a Journal that writes
// straight through is fine for a heap that needs no crash consistency.
type Journal interface {
	// ReadAt reads len(p) bytes at off as the transaction sees them: the
	// committed bytes with the transaction's own writes applied.
	ReadAt(p []byte, off int64) error
	// WriteAt changes len(p) bytes at off in the transaction. An abort, or
	// the recovery after a crash, restores the old bytes.
	WriteAt(p []byte, off int64) error
	// InitAt writes len(p) bytes at off, in memory that is free in the
	// committed state: nothing needs restoring, but the bytes must be
	// durable when the transaction commits.
	InitAt(p []byte, off int64) error
	// Extend makes the storage at least length bytes long, durably, so
	// that the heap can add a zone there. Storage that is a mapping must
	// have blocks under the new range when Extend returns (engine/tx
	// allocates them first), since the heap writes there next and a store
	// to a page with no block on a full disk kills the process; its error
	// fails the Alloc with ErrNoSpace, and the transaction aborts.
	Extend(length int64) error
}

// Heap is the volatile index of a persistent heap: best-fit free lists
// and run bitmaps rebuilt from the persistent metadata by Open. A Heap is
// not safe for concurrent use; its owner serializes transactions.
type Heap struct {
	r     io.ReaderAt // the storage, for reading run bitmaps on first use
	base  int64       // offset of the heap header
	first int64       // offset of zone 0
	limit int64       // the largest end of the arena, 0 for none

	zones   []*zone
	free    treap // free large blocks, by freeKey
	classes [numClasses]classRuns

	// The current transaction: what Abort undoes and what Commit makes
	// available again.
	undo        []undoRec
	pendingBits []blockRef // small blocks freed
	pendingFree []span     // free large blocks made by frees, merged
	pendingUsed []span     // large blocks (and their pages) freed

	buf [8]byte
}

// zone is the volatile index of one zone.
type zone struct {
	index  int
	off    int64 // the zone's offset
	size   int64 // its length in bytes
	pages  int64 // offset of its page 0
	npages uint32
	// owner[p] is 1 + the start page of the used block or run that holds
	// page p, or 0 if p is free.
	owner []uint32
	// length[s] is the length in pages of the used block or run that
	// starts at page s.
	length []uint32
	// runs[s] is the run that starts at page s, if one does.
	runs []*run
}

// classRuns are the runs of one size class.
type classRuns struct {
	partial   []*run // runs that may have free blocks
	unscanned []*run // runs whose bitmap was never read
}

// run is the volatile copy of a run's bitmap. Bits past nblocks are set,
// so that a search never finds them.
type run struct {
	z         *zone
	page      uint32
	class     int
	off       int64 // the run's offset
	bits      []uint64
	used      int
	loaded    bool
	inPartial bool
	dead      bool // its creation was undone
}

// span is a block of pages of a zone.
type span struct {
	z     *zone
	start uint32
	n     uint32
}

// blockRef is a small block of a run.
type blockRef struct {
	r   *run
	idx int
}

type undoOp uint8

const (
	undoTreeDelete undoOp = iota // a free block left the tree: put it back
	undoTreeInsert               // a free block entered the tree: take it out
	undoBit                      // a small block was allocated: clear its bit
	undoOwner                    // a large block was allocated: clear its pages
	undoRun                      // a run was created: forget it
	undoZone                     // a zone was added: forget it
)

type undoRec struct {
	op   undoOp
	key  uint64
	r    *run
	z    *zone
	a, b uint32
}

// freeKey packs a free block's size and address so that keys order by size,
// then zone, then page: the ceiling of freeKey(n, 0, 0) is the best fit.
func freeKey(npages uint32, zone int, page uint32) uint64 {
	return uint64(npages)<<33 | uint64(zone)<<27 | uint64(page)
}

func unpackKey(k uint64) (npages uint32, zone int, page uint32) {
	return uint32(k >> 33), int(k>>27) & 63, uint32(k) & (1<<27 - 1)
}

// Format writes an empty heap: its header at base and one zone covering
// [first, end), which must be page-aligned and hold at least a run of the
// largest class. It writes through j with InitAt: the memory is new.
func Format(j Journal, base, first, end int64) error {
	if first%PageSize != 0 || end%PageSize != 0 || end <= first {
		return fmt.Errorf("%w: zone [%d,%d) is not page-aligned", ErrSize, first, end)
	}
	if n, _ := zoneGeometry(end - first); n < int64(geometries[numClasses-1].pages) {
		return fmt.Errorf("%w: zone of %d bytes is too small for a heap", ErrSize, end-first)
	}
	var hdr [HeaderSize]byte
	putLE64(hdr[0:], heapMagic)
	putLE64(hdr[8:], 1)
	putLE64(hdr[16:], uint64(first))
	if err := j.InitAt(hdr[:], base); err != nil {
		return err
	}
	return initZone(j, 0, first, end-first)
}

// MinZone is the smallest zone Format accepts: a page table page and one
// run of the largest class.
const MinZone = PageSize + 16*PageSize

// initZone writes the header of zone index at off, of size bytes, and one
// free block covering all its pages.
func initZone(j Journal, index int, off, size int64) error {
	n, _ := zoneGeometry(size)
	var hdr [zoneHeaderSize]byte
	putLE64(hdr[0:], zoneMagic)
	putLE64(hdr[8:], uint64(index))
	putLE64(hdr[16:], uint64(size))
	putLE64(hdr[24:], uint64(n))
	if err := j.InitAt(hdr[:], off); err != nil {
		return err
	}
	var e [8]byte
	putLE64(e[:], uint64(makeEntry(kindFree, false, 0, uint32(n))))
	if err := j.InitAt(e[:], off+zoneHeaderSize); err != nil {
		return err
	}
	if n > 1 {
		putLE64(e[:], uint64(makeEntry(kindFree, true, 0, uint32(n))))
		return j.InitAt(e[:], off+zoneHeaderSize+(n-1)*entrySize)
	}
	return nil
}

// Open reads the heap whose header is at base from r, whose first length
// bytes exist, and builds its volatile index. It reads every zone's page
// table, not the runs' bitmaps: those are read when a run is first used.
// limit, if positive, is the largest end of the arena growth may reach.
// Metadata that is not what this package writes gives an error wrapping
// ErrCorrupt.
func Open(r io.ReaderAt, base, length, limit int64) (*Heap, error) {
	h := &Heap{r: r, base: base, limit: limit, free: newTreap()}
	var hdr [HeaderSize]byte
	if err := readFull(r, hdr[:], base, length); err != nil {
		return nil, err
	}
	if le64(hdr[0:]) != heapMagic {
		return nil, fmt.Errorf("%w: heap header at %d: bad magic %#x", ErrCorrupt, base, le64(hdr[0:]))
	}
	nzones, first := le64(hdr[8:]), int64(le64(hdr[16:]))
	if !allZero(hdr[24:]) {
		return nil, fmt.Errorf("%w: heap header at %d: reserved bytes are not zero", ErrCorrupt, base)
	}
	if nzones == 0 || nzones > maxZones {
		return nil, fmt.Errorf("%w: heap header: %d zones", ErrCorrupt, nzones)
	}
	if first <= base || first%PageSize != 0 || first >= length {
		return nil, fmt.Errorf("%w: heap header: zone 0 at %d in %d bytes", ErrCorrupt, first, length)
	}
	h.first = first
	off := first
	for i := range int(nzones) {
		z, err := h.openZone(i, off, length)
		if err != nil {
			return nil, err
		}
		h.zones = append(h.zones, z)
		off += z.size
	}
	return h, nil
}

// allZero reports whether b holds only zeros: the reserved bytes of the
// headers, which carry no checksum, so that a flipped bit there is found
// like one in a field.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// readFull reads len(p) bytes at off from r, which holds length bytes.
func readFull(r io.ReaderAt, p []byte, off, length int64) error {
	if off < 0 || off > length || int64(len(p)) > length-off {
		return fmt.Errorf("%w: [%d,%d) is beyond the %d bytes of storage", ErrCorrupt, off, off+int64(len(p)), length)
	}
	if _, err := r.ReadAt(p, off); err != nil {
		return err
	}
	return nil
}

func (h *Heap) openZone(index int, off, length int64) (*zone, error) {
	var hdr [zoneHeaderSize]byte
	if err := readFull(h.r, hdr[:], off, length); err != nil {
		return nil, fmt.Errorf("zone %d: %w", index, err)
	}
	size, npages := int64(le64(hdr[16:])), le64(hdr[24:])
	switch {
	case le64(hdr[0:]) != zoneMagic:
		return nil, fmt.Errorf("%w: zone %d at %d: bad magic %#x", ErrCorrupt, index, off, le64(hdr[0:]))
	case le64(hdr[8:]) != uint64(index):
		return nil, fmt.Errorf("%w: zone %d at %d says it is zone %d", ErrCorrupt, index, off, le64(hdr[8:]))
	case size < MinZone || size%PageSize != 0 || size > length-off:
		return nil, fmt.Errorf("%w: zone %d at %d: size %d in %d bytes of storage", ErrCorrupt, index, off, size, length)
	case !allZero(hdr[32:]):
		return nil, fmt.Errorf("%w: zone %d at %d: reserved bytes are not zero", ErrCorrupt, index, off)
	}
	n, pagesOff := zoneGeometry(size)
	if npages != uint64(n) || n > maxZonePages {
		return nil, fmt.Errorf("%w: zone %d at %d: %d pages, want %d for %d bytes", ErrCorrupt, index, off, npages, n, size)
	}
	z := &zone{index: index, off: off, size: size, pages: off + pagesOff, npages: uint32(n),
		owner: make([]uint32, n), length: make([]uint32, n), runs: make([]*run, n)}
	table := newTableReader(h.r, off+zoneHeaderSize, n)
	prevFree := false
	for p := uint32(0); p < z.npages; {
		e, err := table.at(p)
		if err != nil {
			return nil, err
		}
		k, m := e.kind(), e.npages()
		if k == kindNone || e.tail() || m == 0 || m > z.npages-p || e.reserved() != 0 {
			return nil, fmt.Errorf("%w: zone %d page %d: entry %#x (%v) does not start a block", ErrCorrupt, index, p, uint64(e), e)
		}
		if m > 1 {
			t, err := table.at(p + m - 1)
			if err != nil {
				return nil, err
			}
			if t != makeEntry(k, true, e.class(), m) {
				return nil, fmt.Errorf("%w: zone %d page %d: tail %v does not match start %v", ErrCorrupt, index, p+m-1, t, e)
			}
		}
		switch k {
		case kindFree:
			if prevFree {
				return nil, fmt.Errorf("%w: zone %d page %d: two free blocks side by side", ErrCorrupt, index, p)
			}
			if e.class() != 0 {
				return nil, fmt.Errorf("%w: zone %d page %d: free block with a class", ErrCorrupt, index, p)
			}
			h.free.Insert(freeKey(m, index, p))
		case kindUsed:
			if e.class() != 0 {
				return nil, fmt.Errorf("%w: zone %d page %d: used block with a class", ErrCorrupt, index, p)
			}
			z.own(p, m)
		case kindRun:
			c := e.class()
			if c >= numClasses || int64(m) != geometries[c].pages {
				return nil, fmt.Errorf("%w: zone %d page %d: run of class %d with %d pages", ErrCorrupt, index, p, c, m)
			}
			z.own(p, m)
			r := &run{z: z, page: p, class: c, off: z.pageOff(p)}
			z.runs[p] = r
			h.classes[c].unscanned = append(h.classes[c].unscanned, r)
		}
		prevFree = k == kindFree
		p += m
	}
	return z, nil
}

// tableReader reads a page table in chunks, so that Open reads each page
// of it once and never holds a whole large table.
type tableReader struct {
	r     io.ReaderAt
	off   int64
	n     int64
	buf   []byte
	start int64 // first entry in buf
}

const tableChunk = 8192 // entries

func newTableReader(r io.ReaderAt, off, n int64) *tableReader {
	return &tableReader{r: r, off: off, n: n, start: -1}
}

func (t *tableReader) at(p uint32) (entry, error) {
	i := int64(p)
	if t.start < 0 || i < t.start || i >= t.start+int64(len(t.buf))/entrySize {
		t.start = i / tableChunk * tableChunk
		cnt := min(tableChunk, t.n-t.start)
		if cap(t.buf) < int(cnt*entrySize) {
			t.buf = make([]byte, cnt*entrySize)
		}
		t.buf = t.buf[:cnt*entrySize]
		if _, err := t.r.ReadAt(t.buf, t.off+t.start*entrySize); err != nil {
			return 0, err
		}
	}
	j := (i - t.start) * entrySize
	return entry(le64(t.buf[j:])), nil
}

func (z *zone) pageOff(p uint32) int64 { return z.pages + int64(p)*PageSize }
func (z *zone) end() int64             { return z.off + z.size }
func (z *zone) entryOff(p uint32) int64 {
	return z.off + zoneHeaderSize + int64(p)*entrySize
}

// own marks pages [s, s+n) as the block starting at s.
func (z *zone) own(s, n uint32) {
	for p := s; p < s+n; p++ {
		z.owner[p] = s + 1
	}
	z.length[s] = n
}

func (z *zone) disown(s, n uint32) {
	for p := s; p < s+n; p++ {
		z.owner[p] = 0
	}
	z.length[s] = 0
}

// loadRun reads r's bitmap if it was never read.
func (h *Heap) loadRun(r *run) error {
	if r.loaded {
		return nil
	}
	g := &geometries[r.class]
	buf := make([]byte, runHeaderSize+g.words*8)
	if _, err := h.r.ReadAt(buf, r.off); err != nil {
		return err
	}
	if c, n := le32(buf[0:]), le32(buf[4:]); c != uint32(r.class) || n != uint32(g.nblocks) || le64(buf[8:]) != 0 {
		return fmt.Errorf("%w: run at %d: header says class %d with %d blocks, page table says class %d with %d",
			ErrCorrupt, r.off, c, n, r.class, g.nblocks)
	}
	r.bits = make([]uint64, g.words)
	for w := range r.bits {
		r.bits[w] = le64(buf[runHeaderSize+8*w:])
	}
	if pad := g.words*64 - g.nblocks; pad > 0 {
		mask := ^uint64(0) << (64 - pad)
		if r.bits[g.words-1]&mask != 0 {
			return fmt.Errorf("%w: run at %d: bits set past its %d blocks", ErrCorrupt, r.off, g.nblocks)
		}
		r.bits[g.words-1] |= mask
	}
	r.used = -(g.words*64 - g.nblocks)
	for _, w := range r.bits {
		r.used += bits.OnesCount64(w)
	}
	r.loaded = true
	return nil
}

// loadAll reads the bitmap of every run.
func (h *Heap) loadAll() error {
	for c := range h.classes {
		cl := &h.classes[c]
		for _, r := range cl.unscanned {
			if err := h.loadRun(r); err != nil {
				return err
			}
			if !r.inPartial {
				r.inPartial = true
				cl.partial = append(cl.partial, r)
			}
		}
		cl.unscanned = nil
	}
	return nil
}

// Alloc allocates a block of at least size bytes in the transaction j and
// returns its offset and its usable size. Blocks of up to MaxSmall bytes
// come from runs of their size class; larger ones are whole pages, the
// smallest free block that fits at the lowest address (best fit), split.
// When nothing fits, the heap grows by a zone at least as large as the
// arena (doubling it), up to the limit given to Open. The contents of the
// block are not initialized.
func (h *Heap) Alloc(j Journal, size int64) (off, usable int64, err error) {
	if size <= 0 || size > maxZonePages*PageSize {
		return 0, 0, fmt.Errorf("%w: %d bytes", ErrSize, size)
	}
	if size <= MaxSmall {
		return h.allocSmall(j, classOf(size))
	}
	n := uint32((size + PageSize - 1) / PageSize)
	z, s, err := h.allocPages(j, n, kindUsed, 0)
	if err != nil {
		return 0, 0, err
	}
	return z.pageOff(s), int64(n) * PageSize, nil
}

func (h *Heap) allocSmall(j Journal, c int) (int64, int64, error) {
	g := &geometries[c]
	r, err := h.partialRun(c)
	if err != nil {
		return 0, 0, err
	}
	if r == nil {
		if r, err = h.newRun(j, c); err != nil {
			return 0, 0, err
		}
	}
	w := 0
	for r.bits[w] == ^uint64(0) {
		w++
	}
	b := bits.TrailingZeros64(^r.bits[w])
	idx := w*64 + b
	woff := r.off + runHeaderSize + int64(w)*8
	putLE64(h.buf[:], h.txWord(r, w)|1<<b)
	if err := j.WriteAt(h.buf[:], woff); err != nil {
		return 0, 0, err
	}
	r.bits[w] |= 1 << b
	r.used++
	h.undo = append(h.undo, undoRec{op: undoBit, r: r, a: uint32(idx)})
	return r.off + g.data + int64(idx)*g.size, g.size, nil
}

// txWord is bitmap word w of run r as the transaction sees it: the
// volatile word (allocations of the transaction included, the padding past
// the last block not) without the blocks the transaction freed. Check
// verifies that the volatile bitmaps match the persistent ones.
func (h *Heap) txWord(r *run, w int) uint64 {
	v := r.bits[w]
	g := &geometries[r.class]
	if pad := g.words*64 - g.nblocks; w == g.words-1 && pad > 0 {
		v &^= ^uint64(0) << (64 - pad)
	}
	for _, b := range h.pendingBits {
		if b.r == r && b.idx/64 == w {
			v &^= 1 << uint(b.idx%64)
		}
	}
	return v
}

// partialRun returns a run of class c with a free block, or nil.
func (h *Heap) partialRun(c int) (*run, error) {
	cl := &h.classes[c]
	nb := geometries[c].nblocks
	for len(cl.partial) > 0 {
		r := cl.partial[len(cl.partial)-1]
		if !r.dead && r.used < nb {
			return r, nil
		}
		r.inPartial = false
		cl.partial = cl.partial[:len(cl.partial)-1]
	}
	for len(cl.unscanned) > 0 {
		r := cl.unscanned[len(cl.unscanned)-1]
		cl.unscanned = cl.unscanned[:len(cl.unscanned)-1]
		if err := h.loadRun(r); err != nil {
			return nil, err
		}
		if r.used < nb {
			// A free may have read it and listed it already.
			if !r.inPartial {
				r.inPartial = true
				cl.partial = append(cl.partial, r)
			}
			return r, nil
		}
	}
	return nil, nil
}

// newRun makes a run of class c out of free pages.
func (h *Heap) newRun(j Journal, c int) (*run, error) {
	g := &geometries[c]
	z, s, err := h.allocPages(j, uint32(g.pages), kindRun, c)
	if err != nil {
		return nil, err
	}
	r := &run{z: z, page: s, class: c, off: z.pageOff(s), bits: make([]uint64, g.words), loaded: true}
	if pad := g.words*64 - g.nblocks; pad > 0 {
		r.bits[g.words-1] = ^uint64(0) << (64 - pad)
	}
	buf := make([]byte, runHeaderSize+g.words*8)
	putLE32(buf[0:], uint32(c))
	putLE32(buf[4:], uint32(g.nblocks))
	if err := j.InitAt(buf, r.off); err != nil {
		return nil, err
	}
	z.runs[s] = r
	h.undo = append(h.undo, undoRec{op: undoRun, r: r})
	r.inPartial = true
	h.classes[c].partial = append(h.classes[c].partial, r)
	return r, nil
}

// allocPages takes n pages, best fit, for a block of kind k (and class c
// for a run), growing the heap if nothing fits.
func (h *Heap) allocPages(j Journal, n uint32, k kind, c int) (*zone, uint32, error) {
	key, ok := h.free.Ceiling(freeKey(n, 0, 0))
	if !ok {
		if err := h.grow(j, n); err != nil {
			return nil, 0, err
		}
		if key, ok = h.free.Ceiling(freeKey(n, 0, 0)); !ok {
			return nil, 0, fmt.Errorf("%w: no block of %d pages after growing", ErrNoSpace, n)
		}
	}
	m, zi, s := unpackKey(key)
	z := h.zones[zi]
	h.free.Delete(key)
	h.undo = append(h.undo, undoRec{op: undoTreeDelete, key: key})
	if err := h.writeBlock(j, z, s, n, k, c); err != nil {
		return nil, 0, err
	}
	if m > n {
		if err := h.writeBlock(j, z, s+n, m-n, kindFree, 0); err != nil {
			return nil, 0, err
		}
		rk := freeKey(m-n, zi, s+n)
		h.free.Insert(rk)
		h.undo = append(h.undo, undoRec{op: undoTreeInsert, key: rk})
	}
	z.own(s, n)
	h.undo = append(h.undo, undoRec{op: undoOwner, z: z, a: s, b: n})
	return z, s, nil
}

// writeBlock writes the start and tail entries of a block.
func (h *Heap) writeBlock(j Journal, z *zone, s, n uint32, k kind, c int) error {
	if err := h.writeEntry(j, z, s, makeEntry(k, false, c, n)); err != nil {
		return err
	}
	if n > 1 {
		return h.writeEntry(j, z, s+n-1, makeEntry(k, true, c, n))
	}
	return nil
}

func (h *Heap) writeEntry(j Journal, z *zone, p uint32, e entry) error {
	putLE64(h.buf[:], uint64(e))
	return j.WriteAt(h.buf[:], z.entryOff(p))
}

func (h *Heap) readEntry(j Journal, z *zone, p uint32) (entry, error) {
	if err := j.ReadAt(h.buf[:], z.entryOff(p)); err != nil {
		return 0, err
	}
	return entry(le64(h.buf[:])), nil
}

// grow adds a zone with room for a block of n pages.
func (h *Heap) grow(j Journal, n uint32) error {
	last := h.zones[len(h.zones)-1]
	end := last.end()
	if len(h.zones) >= maxZones {
		return fmt.Errorf("%w: the heap has %d zones", ErrNoSpace, len(h.zones))
	}
	need := tableEnd(int64(n)) + int64(n)*PageSize
	size := max(need, roundUp(end-h.first, PageSize), MinZone)
	if maxSize := tableEnd(maxZonePages) + maxZonePages*PageSize; size > maxSize {
		size = max(need, maxSize)
	}
	if h.limit > 0 && end+size > h.limit {
		size = (h.limit - end) / PageSize * PageSize
		if size < need || size < MinZone {
			return fmt.Errorf("%w: a block of %d pages needs %d bytes past %d, beyond the limit of %d", ErrNoSpace, n, need, end, h.limit)
		}
	}
	if err := j.Extend(end + size); err != nil {
		return fmt.Errorf("%w: growing the heap to %d bytes: %w", ErrNoSpace, end+size, err)
	}
	idx := len(h.zones)
	if err := initZone(j, idx, end, size); err != nil {
		return err
	}
	putLE64(h.buf[:], uint64(idx+1))
	if err := j.WriteAt(h.buf[:], h.base+8); err != nil {
		return err
	}
	np, pagesOff := zoneGeometry(size)
	z := &zone{index: idx, off: end, size: size, pages: end + pagesOff, npages: uint32(np),
		owner: make([]uint32, np), length: make([]uint32, np), runs: make([]*run, np)}
	h.zones = append(h.zones, z)
	h.undo = append(h.undo, undoRec{op: undoZone, z: z})
	key := freeKey(uint32(np), idx, 0)
	h.free.Insert(key)
	h.undo = append(h.undo, undoRec{op: undoTreeInsert, key: key})
	return nil
}

// locate returns the zone and page that hold off, if off is in a page.
func (h *Heap) locate(off int64) (*zone, uint32, bool) {
	for _, z := range h.zones {
		if off >= z.pages && off < z.end() {
			return z, uint32((off - z.pages) / PageSize), true
		}
	}
	return nil, 0, false
}

// Free frees the block that starts at off in the transaction j. The block
// stays allocated to the transaction until it commits, so that nothing
// else it allocates reuses the memory an abort would give back; a large
// block is merged with its free neighbours at once in the persistent
// metadata. Freeing a block twice, or an offset that does not start an
// allocated block, returns an error wrapping ErrNotAllocated and changes
// nothing.
func (h *Heap) Free(j Journal, off int64) error {
	z, p, ok := h.locate(off)
	if !ok || z.owner[p] == 0 {
		return fmt.Errorf("%w: free of %d", ErrNotAllocated, off)
	}
	s := z.owner[p] - 1
	if r := z.runs[s]; r != nil {
		return h.freeSmall(j, r, off)
	}
	if off != z.pageOff(s) || h.freedLarge(z, s) {
		return fmt.Errorf("%w: free of %d", ErrNotAllocated, off)
	}
	return h.freeLarge(j, z, s, z.length[s])
}

// freedLarge reports whether the block at page s was freed in this
// transaction.
func (h *Heap) freedLarge(z *zone, s uint32) bool {
	for _, sp := range h.pendingUsed {
		if sp.z == z && sp.start == s {
			return true
		}
	}
	return false
}

// smallIndex returns the block of r that off is in, and where it starts.
func smallIndex(r *run, off int64) (idx int, start int64, ok bool) {
	g := &geometries[r.class]
	d := off - r.off - g.data
	if d < 0 {
		return 0, 0, false
	}
	idx = int(d / g.size)
	if idx >= g.nblocks {
		return 0, 0, false
	}
	return idx, r.off + g.data + int64(idx)*g.size, true
}

func (h *Heap) freeSmall(j Journal, r *run, off int64) error {
	if err := h.loadRun(r); err != nil {
		return err
	}
	idx, start, ok := smallIndex(r, off)
	if !ok || start != off {
		return fmt.Errorf("%w: free of %d: not the start of a block of run %d", ErrNotAllocated, off, r.off)
	}
	w, b := idx/64, uint(idx%64)
	woff := r.off + runHeaderSize + int64(w)*8
	pw := h.txWord(r, w)
	if pw&(1<<b) == 0 {
		return fmt.Errorf("%w: free of %d: block is free", ErrNotAllocated, off)
	}
	putLE64(h.buf[:], pw&^(1<<b))
	if err := j.WriteAt(h.buf[:], woff); err != nil {
		return err
	}
	h.pendingBits = append(h.pendingBits, blockRef{r: r, idx: idx})
	return nil
}

func (h *Heap) freeLarge(j Journal, z *zone, s, n uint32) error {
	start, total := s, n
	if s > 0 {
		e, err := h.readEntry(j, z, s-1)
		if err != nil {
			return err
		}
		if e.kind() == kindFree {
			m := e.npages()
			if m == 0 || m > s {
				return fmt.Errorf("%w: zone %d page %d: free neighbour of %d pages", ErrCorrupt, z.index, s-1, m)
			}
			if err := h.takeFree(z, s-m, m); err != nil {
				return err
			}
			start, total = s-m, total+m
		}
	}
	if s+n < z.npages {
		e, err := h.readEntry(j, z, s+n)
		if err != nil {
			return err
		}
		if e.kind() == kindFree {
			m := e.npages()
			if m == 0 || m > z.npages-(s+n) {
				return fmt.Errorf("%w: zone %d page %d: free neighbour of %d pages", ErrCorrupt, z.index, s+n, m)
			}
			if err := h.takeFree(z, s+n, m); err != nil {
				return err
			}
			total += m
		}
	}
	if err := h.writeBlock(j, z, start, total, kindFree, 0); err != nil {
		return err
	}
	h.pendingFree = append(h.pendingFree, span{z: z, start: start, n: total})
	h.pendingUsed = append(h.pendingUsed, span{z: z, start: s, n: n})
	return nil
}

// takeFree removes the free block [s, s+n) from the index, to merge it: it
// is in the tree, or it is a block this transaction freed.
func (h *Heap) takeFree(z *zone, s, n uint32) error {
	key := freeKey(n, z.index, s)
	if h.free.Delete(key) {
		h.undo = append(h.undo, undoRec{op: undoTreeDelete, key: key})
		return nil
	}
	for i, sp := range h.pendingFree {
		if sp.z == z && sp.start == s && sp.n == n {
			h.pendingFree = append(h.pendingFree[:i], h.pendingFree[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: zone %d: free block at page %d of %d pages is not in the index", ErrCorrupt, z.index, s, n)
}

// Commit tells the heap that the transaction committed: what it freed is
// free for the next one.
func (h *Heap) Commit() {
	for _, b := range h.pendingBits {
		r := b.r
		r.bits[b.idx/64] &^= 1 << uint(b.idx%64)
		r.used--
		h.toPartial(r)
	}
	for _, sp := range h.pendingUsed {
		sp.z.disown(sp.start, sp.n)
		sp.z.runs[sp.start] = nil
	}
	for _, sp := range h.pendingFree {
		h.free.Insert(freeKey(sp.n, sp.z.index, sp.start))
	}
	h.reset()
}

// Abort tells the heap that the transaction aborted: its persistent changes
// are undone by the journal, and Abort undoes the volatile ones.
func (h *Heap) Abort() {
	for i := len(h.undo) - 1; i >= 0; i-- {
		u := &h.undo[i]
		switch u.op {
		case undoTreeDelete:
			h.free.Insert(u.key)
		case undoTreeInsert:
			h.free.Delete(u.key)
		case undoBit:
			u.r.bits[u.a/64] &^= 1 << (u.a % 64)
			u.r.used--
			h.toPartial(u.r)
		case undoOwner:
			u.z.disown(u.a, u.b)
		case undoRun:
			u.r.dead = true
			u.r.z.runs[u.r.page] = nil
		case undoZone:
			h.zones = h.zones[:len(h.zones)-1]
		}
	}
	h.reset()
}

func (h *Heap) toPartial(r *run) {
	if !r.inPartial && !r.dead {
		r.inPartial = true
		h.classes[r.class].partial = append(h.classes[r.class].partial, r)
	}
}

// reset empties the transaction's records. Their arrays are not cleared:
// the stale run and zone pointers past the length keep at most a few runs
// alive until overwritten, and clearing them costs every transaction a
// bulk write barrier while the garbage collector runs (6 % of an Update
// that allocates and frees one block, measured with pprof).
func (h *Heap) reset() {
	h.undo = h.undo[:0]
	h.pendingBits = h.pendingBits[:0]
	h.pendingFree = h.pendingFree[:0]
	h.pendingUsed = h.pendingUsed[:0]
}

// Block returns the allocated block that holds off, as the current
// transaction sees the heap: its start and usable size. An offset outside
// every allocated block, or in a block freed by the transaction, gives an
// error wrapping ErrNotAllocated.
func (h *Heap) Block(off int64) (start, size int64, err error) {
	z, p, ok := h.locate(off)
	if !ok || z.owner[p] == 0 {
		return 0, 0, fmt.Errorf("%w: %d", ErrNotAllocated, off)
	}
	s := z.owner[p] - 1
	r := z.runs[s]
	if r == nil {
		if h.freedLarge(z, s) {
			return 0, 0, fmt.Errorf("%w: %d is in a block freed by this transaction", ErrNotAllocated, off)
		}
		return z.pageOff(s), int64(z.length[s]) * PageSize, nil
	}
	if err := h.loadRun(r); err != nil {
		return 0, 0, err
	}
	idx, start, ok := smallIndex(r, off)
	if !ok || r.bits[idx/64]&(1<<uint(idx%64)) == 0 {
		return 0, 0, fmt.Errorf("%w: %d", ErrNotAllocated, off)
	}
	for _, b := range h.pendingBits {
		if b.r == r && b.idx == idx {
			return 0, 0, fmt.Errorf("%w: %d is in a block freed by this transaction", ErrNotAllocated, off)
		}
	}
	return start, geometries[r.class].size, nil
}

// End returns the end of the arena: the offset just past the last zone.
func (h *Heap) End() int64 { return h.zones[len(h.zones)-1].end() }

// Start returns the offset of zone 0.
func (h *Heap) Start() int64 { return h.first }
