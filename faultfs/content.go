package faultfs

import (
	"maps"
	"math/bits"
	"slices"

	"github.com/crashsim/crashsim/engine"
)

// The content of a file: what reads see (the page cache) and what survives
// a power failure, with the history between them. See the crash rules in
// doc.go; the comments here say which rule each piece implements.

// maxFileSize is the largest size a file may reach; beyond it writes and
// truncates fail with EFBIG, as on Linux.
const maxFileSize = 1 << 60

const (
	// lineSize is the unit of Flush and Drain on persistent memory, and
	// its default unit of tearing (rules 13, 15).
	lineSize  = engine.CacheLineSize
	lineBits  = 6
	lineCount = BlockSize / lineSize // lines per block: one bit each in a uint64
	// wordSize is the failure-atomic unit of persistent memory: a region
	// store on it is recorded one aligned word at a time (rule 13).
	wordSize = engine.WordSize
)

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
// is not stale, vol[b] is dur[b] with dirty[b] applied in order. On shared
// memory there is no history and dur stays empty (rule 14). After
// FS.Untrack, the second no longer holds: vol goes on alone.
type content struct {
	medium engine.Medium // PMem, SharedMemory, or MappedFile for a disk file (rule 12)

	vol  tree  // the page cache: what reads see
	size int64 // volatile size

	dur     tree  // durable data
	durSize int64 // durable size
	durSeq  int64 // seq at which durSize became durable (rule 5)

	sizes   []sizeVersion     // size changes since durSize (rule 4)
	dirty   map[int64][]delta // per block: changes since it was last durable (rule 2)
	stale   map[int64]bool    // blocks whose changes a failed Sync dropped (rule 7)
	drained map[int64]int64   // blocks Drain made durable since durSeq, and when (rule 5)
	lines   map[int64]int64   // PMem lines Drain made durable since durSeq, and when, where rule 5 can tell (rule 13)

	allocs []extent // runs of blocks Allocate gave since the last Sync (rule 16), in blocks

	// replaced are the seqs of the renames since the last Sync that gave
	// the file the name of another, which a profile with RenameFlush
	// orders after the data the file had then (rule 18d).
	replaced []int64

	fp *Fingerprint // of size and vol, nil after a change

	// space is the file system the file is on, whose capacity its blocks
	// count against (rule 17), or nil once it has no name.
	space *space

	// untracked is the Untrack flag of the file system the content is in
	// (nil: none yet): once set, nothing more becomes durable, so no
	// history is kept. A flag of the file system, not of each file, so that
	// it reaches files open but no longer named too.
	untracked *bool
}

// Slices in dirty and sizes are only ever appended to or replaced, never
// cut and reused, so a Pending snapshot may keep them.

func newContent(seq int64, medium engine.Medium) *content {
	return &content{medium: medium, durSeq: seq}
}

// volatile reports whether nothing of the content can ever be durable: a
// file on shared memory (rule 14).
func (c *content) volatile() bool { return c.medium == engine.SharedMemory }

// tracked reports whether changes are recorded to become durable: not on
// shared memory, not after FS.Untrack.
func (c *content) tracked() bool {
	return !c.volatile() && (c.untracked == nil || !*c.untracked)
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
// a size version if the file grows. With words, it records one delta per
// aligned 8-byte word instead, in address order, as a region store on
// persistent memory reaches the media (rule 13).
func (c *content) write(p []byte, off int64, seq int64, e owners, words bool) {
	end := off + int64(len(p))
	c.fp = nil
	counting := c.space != nil && c.space.counting()
	for len(p) > 0 {
		b, o := off>>blockBits, int(off&(BlockSize-1))
		n := min(len(p), BlockSize-o)
		if counting && c.vol.get(b) == nil {
			c.space.used++ // a hole gets a block (rule 17)
		}
		blk := c.vol.mutable(b, e.vol)
		switch {
		case !c.tracked():
			copy(blk.data[o:], p[:n])
		case words:
			// Word by word, so that a change that records the whole
			// block (rule 7) holds the words before it and no later one.
			data := append([]byte(nil), p[:n]...)
			for i := 0; i < n; {
				w := min(n-i, wordSize-(o+i)%wordSize)
				copy(blk.data[o+i:], data[i:i+w])
				c.record(b, blk, delta{seq: seq, off: o + i, n: w, data: data[i : i+w : i+w]})
				i += w
			}
		default:
			copy(blk.data[o:], p[:n])
			c.record(b, blk, delta{seq: seq, off: o, n: n, data: append([]byte(nil), p[:n]...)})
		}
		p, off = p[n:], off+int64(n)
	}
	if end > c.size {
		c.resize(end, seq)
	}
}

// record appends d to block b's history; blk is the block after d. A block
// whose earlier changes a failed Sync dropped is re-dirtied whole, as Linux
// writes back a whole page (rule 7); with blk nil (the page cache holds no
// page there: a truncate cut it whole, or it is a hole) that is a cut of
// the whole block, which puts no data and so never reads as garbage
// (rule 5).
func (c *content) record(b int64, blk *block, d delta) {
	if !c.tracked() {
		return
	}
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
	c.fp = nil
	if c.tracked() {
		c.sizes = append(c.sizes, sizeVersion{seq: seq, size: size})
	}
}

// truncate sets the size. Shrinking zeroes the cut part of every block that
// holds data, from the new end to the end of the block, as a delta (rule 4).
func (c *content) truncate(size int64, seq int64, e owners) {
	if size == c.size {
		return
	}
	c.fp = nil
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
	if c.space != nil {
		c.space.freed() // the blocks cut are free again (rule 17)
	}
	c.vol.cut(cutFrom, e.vol)
	c.cutAllocs(cutFrom)
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
// (rule 3). Blocks a failed Sync dropped stay as they are (rule 7). Nothing
// on shared memory becomes durable (rule 14).
func (c *content) sync(seq int64, e owners) {
	if !c.tracked() {
		return
	}
	for b := range c.dirty {
		c.promote(b, e)
	}
	c.dirty = nil
	c.syncMeta(seq, e)
}

// syncMeta makes the size durable, and the blocks Allocate gave (rule 16):
// the metadata a Sync commits with the data. Every cut of the size history
// must be durable in the data first (sync, syncRange): rule 5 forgets the
// cuts of a durable size.
func (c *content) syncMeta(seq int64, e owners) {
	c.syncAllocs(e)
	c.durSize, c.durSeq = c.size, seq
	c.sizes = nil
	c.drained = nil
	c.lines = nil
	c.replaced = nil
}

// syncRange is the sync that ends a write through a file opened with
// O_DSYNC or O_SYNC (rule 20), as Linux's vfs_fsync_range over the bytes
// written: the dirty blocks of [off, end) become durable with their current
// content, and the file's metadata, the size with the cuts of its history
// and the blocks Allocate gave; the other blocks keep their pending writes.
func (c *content) syncRange(off, end int64, seq int64, e owners) {
	if !c.tracked() {
		return
	}
	for b := range c.dirty {
		if b >= off>>blockBits && b<<blockBits < end {
			c.promote(b, e)
		} else {
			c.commitCuts(b, e)
		}
	}
	c.syncMeta(seq, e)
}

// commitCuts makes the cuts of block b's history durable — the zero
// changes of shrinking truncates (rule 4), which are inode metadata, freed
// blocks and a zeroed tail — without its writes: each cut is applied to the
// durable block, the part of every earlier write that it covers is dropped,
// and the writes that are left stay pending. Once a size after a cut is
// durable, a crash may keep or lose the writes around the cut but never
// show what the cut removed.
func (c *content) commitCuts(b int64, e owners) {
	h := c.dirty[b]
	if !slices.ContainsFunc(h, func(d delta) bool { return d.data == nil }) {
		return
	}
	var kept []delta
	for _, d := range h {
		if d.data != nil {
			kept = append(kept, d)
			continue
		}
		// A cut runs to the end of the block: it frees a block it cuts
		// whole and zeroes the tail of one it cuts in part, and ends every
		// earlier write where it starts.
		switch {
		case c.dur.get(b) == nil:
		case d.off == 0:
			c.dur.set(b, nil, e.dur)
		default:
			clear(c.dur.mutable(b, e.dur).data[d.off:])
		}
		cut := kept[:0:0]
		for _, k := range kept {
			switch {
			case k.off >= d.off:
			case k.off+k.n > d.off:
				n := d.off - k.off
				cut = append(cut, delta{seq: k.seq, off: k.off, n: n, data: k.data[:n:n]})
			default:
				cut = append(cut, k)
			}
		}
		kept = cut
	}
	if len(kept) == 0 {
		c.promote(b, e) // the page cache holds the durable block now
		return
	}
	c.dirty[b] = kept
}

// failSyncRange is a failed sync of [off, end) at the end of a write through
// a file opened with O_DSYNC or O_SYNC: its dirty blocks are dropped as by
// failSync (rule 7); the others keep their history.
func (c *content) failSyncRange(off, end int64) {
	if !c.tracked() {
		return
	}
	for b := range c.dirty {
		if b >= off>>blockBits && b<<blockBits < end {
			delete(c.dirty, b)
			c.markStale(b)
		}
	}
}

// failSync is an fsync that failed with Linux semantics: the dirty blocks
// are dropped from the history without becoming durable, and stay in the
// page cache (rule 7).
func (c *content) failSync() {
	if !c.tracked() {
		return // after Untrack, what was pending stays pending
	}
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

// drain is the Drain of a region after Flushes of the byte ranges in
// flushed. On a disk file it is msync: the dirty pages that the ranges
// touch become durable with their current content (rule 6). On persistent
// memory, the lines they touch that have pending changes do, and only
// those 64 bytes of their blocks (rule 13). The size does not become
// durable. With fail, the blocks that would have become durable, whole, are
// dropped as by failSync instead (rule 7). On shared memory it does
// nothing (rule 14).
func (c *content) drain(flushes []flush, seq int64, e owners, fail bool) {
	if !c.tracked() || len(c.dirty) == 0 || len(flushes) == 0 {
		return
	}
	flushed := make([]extent, len(flushes))
	for i, f := range flushes {
		flushed[i] = f.extent
	}
	flushed = mergeSpans(flushed)
	pmem := c.medium == engine.PMem
	minSize := int64(-1)
	for _, b := range c.flushedDirty(flushed) {
		mask := ^uint64(0)
		if pmem {
			mask = lineMask(flushed, b) & c.changedLines(b)
			if mask == 0 {
				continue
			}
		}
		switch {
		case fail:
			delete(c.dirty, b)
			c.markStale(b)
		case !pmem:
			c.promote(b, e)
			if c.drained == nil {
				c.drained = make(map[int64]int64)
			}
			c.drained[b] = seq
		default:
			if minSize < 0 {
				minSize = c.minSize()
			}
			c.promoteLines(b, mask, flushSeqs(flushes, b), minSize, e)
		}
	}
}

// flushedDirty returns the dirty blocks that the merged ranges touch, in
// the cheaper of two ways: the blocks of the ranges, or the dirty blocks.
func (c *content) flushedDirty(flushed []extent) []int64 {
	var out []int64
	total := int64(0)
	for _, s := range flushed {
		total += (s.end-1)>>blockBits - s.off>>blockBits + 1
		if total > int64(len(c.dirty)) {
			break
		}
	}
	if total <= int64(len(c.dirty)) {
		for _, s := range flushed {
			for b := s.off >> blockBits; b <= (s.end-1)>>blockBits; b++ {
				if len(c.dirty[b]) > 0 {
					out = append(out, b)
				}
			}
		}
		return slices.Compact(out)
	}
	for b := range c.dirty {
		if lineMask(flushed, b) != 0 {
			out = append(out, b)
		}
	}
	return out
}

// changedLines returns the lines of block b that its pending changes
// touch, one bit per line.
func (c *content) changedLines(b int64) uint64 {
	var m uint64
	for _, d := range c.dirty[b] {
		m |= rangeMask(d.off, d.off+d.n)
	}
	return m
}

// minSize is the smallest size the file had since its size was last
// durable.
func (c *content) minSize() int64 {
	m := c.durSize
	for _, v := range c.sizes {
		m = min(m, v.size)
	}
	return m
}

// promoteLines makes the lines of block b in mask durable with the content
// they had when they were last flushed — the changes made before that flush,
// at[line] its sequence number — and cuts those changes out of the block's
// history (rule 13). A store made after the flush stays pending, as on x86,
// where CLWB writes back the line as it is then and SFENCE waits only for
// that. The block's other lines keep their history. Each promoted line is
// dated by its flush for rule 5, unless no size the file had since it was
// last synced is at or below the line's last byte: no cut up to now can then
// make one of its bytes stale, and later cuts come after any date alike, so
// the date could not change a crash state, and keeping it would cost memory
// on a long workload that never syncs.
func (c *content) promoteLines(b int64, mask uint64, at *[lineCount]int64, minSize int64, e owners) {
	var kept []delta
	var dblk *block
	var promoted uint64
	for _, d := range c.dirty[b] {
		end := d.off + d.n
		for a := d.off; a < end; {
			l := a >> lineBits
			z := min(end, (l+1)<<lineBits)
			if mask&(1<<l) != 0 && d.seq < at[l] {
				if dblk == nil {
					dblk = c.dur.mutable(b, e.dur)
				}
				if d.data != nil {
					copy(dblk.data[a:z], d.data[a-d.off:z-d.off])
				} else {
					clear(dblk.data[a:z])
				}
				promoted |= 1 << l
			} else if n := len(kept); n > 0 && kept[n-1].seq == d.seq && kept[n-1].off+kept[n-1].n == a && sameSource(kept[n-1], d, a) {
				kept[n-1].n += z - a // the next piece of the same change
				if d.data != nil {
					kept[n-1].data = d.data[kept[n-1].off-d.off : z-d.off : z-d.off]
				}
			} else {
				p := delta{seq: d.seq, off: a, n: z - a}
				if d.data != nil {
					p.data = d.data[a-d.off : z-d.off : z-d.off]
				}
				kept = append(kept, p)
			}
			a = z
		}
	}
	if len(kept) == 0 {
		// Every change is durable now: the durable block equals the page
		// cache's, which it may share.
		vblk := c.vol.get(b)
		if vblk != nil && vblk.owner == e.vol {
			vblk.owner = 0
		}
		c.dur.set(b, vblk, e.dur)
		delete(c.dirty, b)
	} else {
		c.dirty[b] = kept
	}
	for m := promoted; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		l := b<<(blockBits-lineBits) + int64(i)
		if (l+1)<<lineBits > minSize {
			if c.lines == nil {
				c.lines = make(map[int64]int64)
			}
			c.lines[l] = at[i]
		}
	}
}

// sameSource reports whether piece p, which ends at a, was cut from change
// d: then the part of d from a on continues it.
func sameSource(p, d delta, a int) bool {
	if p.data == nil || d.data == nil {
		return p.data == nil && d.data == nil && p.off >= d.off
	}
	return p.off >= d.off && a-d.off <= len(d.data) && &p.data[0] == &d.data[p.off-d.off]
}

// flush is a range Flush asked to write back, and the sequence number of
// that Flush.
type flush struct {
	extent
	seq int64
}

// flushSeqs returns, for each line of block b, the sequence number of the
// last Flush that covered it (0: none).
func flushSeqs(flushes []flush, b int64) *[lineCount]int64 {
	var at [lineCount]int64
	lo := b << blockBits
	for _, f := range flushes {
		first, last := max(f.off, lo), min(f.end, lo+BlockSize)-1
		for o := first &^ (lineSize - 1); o <= last; o += lineSize {
			i := (o - lo) >> lineBits
			at[i] = max(at[i], f.seq)
		}
	}
	return &at
}

// rangeMask returns the lines of a block that bytes [lo, hi) of it touch.
func rangeMask(lo, hi int) uint64 {
	if lo >= hi {
		return 0
	}
	first, last := lo>>lineBits, (hi-1)>>lineBits
	return (^uint64(0) >> (63 - last)) &^ (1<<first - 1)
}

// extent is a byte range [off, end) of a file.
type extent struct{ off, end int64 }

// mergeSpans returns the ranges sorted, overlapping and adjacent ones
// merged.
func mergeSpans(s []extent) []extent {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b extent) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	out := s[:0]
	for _, x := range s {
		if n := len(out); n > 0 && x.off <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, x.end)
			continue
		}
		out = append(out, x)
	}
	return out
}

// lineMask returns the lines of block b that the merged ranges touch.
func lineMask(flushed []extent, b int64) uint64 {
	lo, hi := b<<blockBits, (b+1)<<blockBits
	i, _ := slices.BinarySearchFunc(flushed, lo, func(s extent, off int64) int {
		if s.end <= off {
			return -1
		}
		return 1
	})
	var m uint64
	for ; i < len(flushed) && flushed[i].off < hi; i++ {
		m |= rangeMask(int(max(flushed[i].off, lo)-lo), int(min(flushed[i].end, hi)-lo))
	}
	return m
}

// snapshot returns an immutable copy of the durable state and history. The
// caller must give the file system a fresh durable epoch afterwards, so that
// the durable trees it shares are never changed in place.
func (c *content) snapshot() *fileSnap {
	s := &fileSnap{
		medium:   c.medium,
		dur:      c.dur,
		durSize:  c.durSize,
		durSeq:   c.durSeq,
		sizes:    c.sizes,
		drained:  maps.Clone(c.drained),
		lines:    maps.Clone(c.lines),
		volSize:  c.size,
		replaced: c.replaced,
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
	medium  engine.Medium
	g       int // unit of data in bytes, set by Pending
	dur     tree
	durSize int64
	durSeq  int64
	sizes   []sizeVersion
	drained map[int64]int64
	lines   map[int64]int64
	volSize int64
	blocks  []int64   // dirty blocks, ascending
	dirty   [][]delta // their histories
	// replaced are the renames over another file since the last Sync
	// (rule 18d).
	replaced []int64
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
