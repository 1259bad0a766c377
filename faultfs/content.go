package faultfs

import (
	"maps"
	"slices"
)

// The content of a file: what reads see (the page cache) and what survives
// a power failure, with the history between them. See the crash rules in
// doc.go; the comments here say which rule each piece implements.

// maxFileSize is the largest size a file may reach; beyond it writes and
// truncates fail with EFBIG, as on Linux.
const maxFileSize = 1 << 60

// delta is one change to a block since it was last durable: n bytes at off,
// taken from data, or zeros when data is nil (a shrinking truncate).
type delta struct {
	seq  int64 // the writing op's Index + 1
	off  int   // offset in the block
	n    int
	data []byte
}

// sizeVersion is one size the file had since its size was last durable.
type sizeVersion struct {
	seq  int64
	size int64
}

// content is a regular file's data and size. Every method is called with
// the file system's mutex held.
//
// Invariants: the bytes of vol past size are zero; for every block b that
// is not stale, vol[b] is dur[b] with dirty[b] applied in order.
type content struct {
	vol  tree  // the page cache: what reads see
	size int64 // volatile size

	dur     tree  // durable data
	durSize int64 // durable size
	durSeq  int64 // seq at which durSize became durable (rule 5)

	sizes   []sizeVersion     // size changes since durSize (rule 4)
	dirty   map[int64][]delta // per block: changes since it was last durable (rule 2)
	stale   map[int64]bool    // blocks whose changes a failed Sync dropped (rule 7)
	drained map[int64]int64   // blocks Drain made durable since durSeq, and when (rule 5)
}

// Slices in dirty and sizes are only ever appended to or replaced, never
// cut and reused, so a Pending snapshot may keep them.

func newContent(seq int64) *content {
	return &content{durSeq: seq}
}

// read copies the bytes at off into p, which must lie below c.size.
func (c *content) read(p []byte, off int64) {
	for len(p) > 0 {
		b, o := off>>blockBits, int(off&(BlockSize-1))
		n := min(len(p), BlockSize-o)
		if blk := c.vol.get(b); blk != nil {
			copy(p[:n], blk.data[o:])
		} else {
			clear(p[:n])
		}
		p, off = p[n:], off+int64(n)
	}
}

// write stores p at off in the page cache, recording a delta per block and
// a size version if the file grows.
func (c *content) write(p []byte, off int64, seq int64, e owners) {
	end := off + int64(len(p))
	for len(p) > 0 {
		b, o := off>>blockBits, int(off&(BlockSize-1))
		n := min(len(p), BlockSize-o)
		blk := c.vol.mutable(b, e.vol)
		copy(blk.data[o:], p[:n])
		c.record(b, blk, delta{seq: seq, off: o, n: n, data: append([]byte(nil), p[:n]...)})
		p, off = p[n:], off+int64(n)
	}
	if end > c.size {
		c.resize(end, seq)
	}
}

// record appends d to block b's history; blk is the block after d. A block
// whose earlier changes a failed Sync dropped is re-dirtied whole, as Linux
// writes back a whole page (rule 7).
func (c *content) record(b int64, blk *block, d delta) {
	if c.dirty == nil {
		c.dirty = make(map[int64][]delta)
	}
	if c.stale[b] && len(c.dirty[b]) == 0 {
		delete(c.stale, b)
		d = delta{seq: d.seq, off: 0, n: BlockSize}
		if blk != nil {
			d.data = append([]byte(nil), blk.data[:]...)
		}
	}
	c.dirty[b] = append(c.dirty[b], d)
}

// resize records a new volatile size.
func (c *content) resize(size int64, seq int64) {
	c.size = size
	c.sizes = append(c.sizes, sizeVersion{seq: seq, size: size})
}

// truncate sets the size. Shrinking zeroes the cut part of every block that
// holds data, from the new end to the end of the block, as a delta (rule 4).
func (c *content) truncate(size int64, seq int64, e owners) {
	if size == c.size {
		return
	}
	if size > c.size {
		c.resize(size, seq) // the grown part is already zero
		return
	}
	first := size >> blockBits
	last := (c.size - 1) >> blockBits
	held := map[int64]bool{}
	mark := func(b int64, _ *block) { held[b] = true }
	c.vol.each(first, last+1, mark)
	c.dur.each(first, last+1, mark)
	for _, b := range slices.Sorted(maps.Keys(held)) {
		from := 0
		if b == first {
			from = int(size & (BlockSize - 1))
		}
		var blk *block
		if from > 0 && c.vol.get(b) != nil {
			blk = c.vol.mutable(b, e.vol)
			clear(blk.data[from:])
		}
		c.record(b, blk, delta{seq: seq, off: from, n: BlockSize - from})
	}
	cutFrom := first
	if size&(BlockSize-1) != 0 {
		cutFrom++
	}
	c.vol.cut(cutFrom, e.vol)
	c.resize(size, seq)
}

// promote makes block b's page-cache content durable and forgets its
// history.
func (c *content) promote(b int64, e owners) {
	blk := c.vol.get(b)
	if blk != nil && blk.owner == e.vol {
		// Shared by the page cache and the durable tree from now on:
		// frozen. A block we do not own is frozen for us already, and
		// may be read by another file system: leave it alone.
		blk.owner = 0
	}
	c.dur.set(b, blk, e.dur)
	delete(c.dirty, b)
}

// sync is a successful fsync: every dirty block and the size become durable
// (rule 3). Blocks a failed Sync dropped stay as they are (rule 7).
func (c *content) sync(seq int64, e owners) {
	for b := range c.dirty {
		c.promote(b, e)
	}
	c.dirty = nil
	c.durSize, c.durSeq = c.size, seq
	c.sizes = nil
	c.drained = nil
}

// failSync is an fsync that failed with Linux semantics: the dirty blocks
// are dropped from the history without becoming durable, and stay in the
// page cache (rule 7).
func (c *content) failSync() {
	for b := range c.dirty {
		c.markStale(b)
	}
	c.dirty = nil
}

func (c *content) markStale(b int64) {
	if c.stale == nil {
		c.stale = make(map[int64]bool)
	}
	c.stale[b] = true
}

// drain is msync of the given blocks: the dirty ones become durable with
// their current content; the size does not (rule 6). With fail, they are
// dropped as by failSync instead.
func (c *content) drain(blocks map[int64]bool, seq int64, e owners, fail bool) {
	for b := range blocks {
		if len(c.dirty[b]) == 0 {
			continue
		}
		if fail {
			delete(c.dirty, b)
			c.markStale(b)
			continue
		}
		c.promote(b, e)
		if c.drained == nil {
			c.drained = make(map[int64]int64)
		}
		c.drained[b] = seq
	}
}

// snapshot returns an immutable copy of the durable state and history. The
// caller must give the file system a fresh durable epoch afterwards, so that
// the durable trees it shares are never changed in place.
func (c *content) snapshot() *fileSnap {
	s := &fileSnap{
		dur:     c.dur,
		durSize: c.durSize,
		durSeq:  c.durSeq,
		sizes:   c.sizes,
		drained: maps.Clone(c.drained),
		volSize: c.size,
	}
	if len(c.dirty) > 0 {
		s.blocks = slices.Sorted(maps.Keys(c.dirty))
		s.dirty = make([][]delta, len(s.blocks))
		for i, b := range s.blocks {
			s.dirty[i] = c.dirty[b]
		}
	}
	return s
}

// fileSnap is the durable state and pending history of one file at the
// instant of a Pending snapshot.
type fileSnap struct {
	dur     tree
	durSize int64
	durSeq  int64
	sizes   []sizeVersion
	drained map[int64]int64
	volSize int64
	blocks  []int64   // dirty blocks, ascending
	dirty   [][]delta // their histories
}

// minSize is the smallest size the file had in its pending history: bytes
// below it are never stale (rule 5).
func (s *fileSnap) minSize() int64 {
	m := s.durSize
	for _, v := range s.sizes {
		m = min(m, v.size)
	}
	return m
}

// history returns the deltas of block b, or nil.
func (s *fileSnap) history(b int64) []delta {
	i, ok := slices.BinarySearch(s.blocks, b)
	if !ok {
		return nil
	}
	return s.dirty[i]
}
