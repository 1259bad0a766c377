package faultfs

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Space on a full disk: Allocate (rule 16) and capacity (rule 17).
//
// A block of a file is allocated when its page cache holds it (a non-nil
// block of content.vol): a write, a store through a mapping, or Allocate
// gave it one. Truncate and the extension of Map and Grow leave holes, and a
// shrinking truncate frees the blocks it cuts. Each mount's file system
// counts the blocks of its named files against its capacity.

// ErrSIGBUS is returned by a load or store through a Region where the
// kernel would raise SIGBUS and kill the process (rule 17): the page has no
// block and the file system has no free block to give it. faultfs cannot
// kill a process; package sim turns this error into the death of the
// simulated one. A store stores the pages before the one that faults, as a
// memcpy that dies there would.
var ErrSIGBUS = errors.New("faultfs: SIGBUS")

// space is what one mounted file system has room for, and uses.
type space struct {
	capacity int64 // in blocks; 0 for no limit
	// used is how many blocks the named files of the file system hold, or
	// -1 when it must be counted again: a limit was just set, the file
	// system is a clone, or blocks were freed (a cut, a removal), which is
	// rarer than a block allocated, so counting again then is cheaper than
	// tracking which file a freed block belonged to.
	used int64
}

func (s *space) limited() bool { return s.capacity > 0 }

// counting reports whether used must follow each block allocated.
func (s *space) counting() bool { return s.capacity > 0 && s.used >= 0 }

// freed says that blocks were freed: used must be counted again.
func (s *space) freed() {
	if s.capacity > 0 {
		s.used = -1
	}
}

// newSpaces returns the space of each entry of a mount table, to be
// counted.
func newSpaces(mounts []mountPoint) []*space {
	out := make([]*space, len(mounts))
	for i, m := range mounts {
		out[i] = &space{capacity: m.capacity, used: -1}
	}
	return out
}

// zeroBlock is the block Allocate gives a hole: zeros, shared by every
// file system and frozen (epoch 0), so that a writer copies it first, and
// so that allocating a large range costs tree slots, not memory.
var zeroBlock = &block{}

// SetCapacity limits the file system that holds dir — the mount of
// Options.Mounts that contains it, or the root disk — to bytes of file
// data, rounded down to whole 4 KiB blocks; 0 lifts the limit (rule 17).
// Blocks held already stay held: a limit below them is a full disk. Clones
// and crash states taken from now on have the limit too.
func (fsys *FS) SetCapacity(dir string, bytes int64) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	i := mountOfDir(fsys.mounts, cleanPath(dir))
	blocks := capacityBlocks(bytes)
	// The mount table is shared with clones and snapshots: change a copy.
	fsys.mounts = slices.Clone(fsys.mounts)
	fsys.mounts[i].capacity = blocks
	sp := fsys.space[i]
	sp.capacity, sp.used = blocks, -1
	// Fingerprints cover the allocation of a limited file system's files
	// (see content.fingerprint): the cached ones no longer apply.
	fsys.eachContent(func(c *content) { c.fp = nil })
}

// Space returns how many bytes of blocks the named files of the file
// system that holds dir use, and its capacity in bytes (0: no limit).
func (fsys *FS) Space(dir string) (used, capacity int64) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	i := mountOfDir(fsys.mounts, cleanPath(dir))
	return fsys.countUsed(i) * BlockSize, fsys.space[i].capacity * BlockSize
}

// room returns how many free blocks the file system holding n has,
// math.MaxInt64 without a limit. fsys.mu must be held.
func (fsys *FS) room(n *inode) int64 {
	sp := fsys.space[n.mnt]
	if !sp.limited() {
		return math.MaxInt64
	}
	return max(sp.capacity-fsys.countUsed(n.mnt), 0)
}

// countUsed returns the blocks the named files of mount i hold, counting
// them if they are not known. fsys.mu must be held.
func (fsys *FS) countUsed(i int) int64 {
	sp := fsys.space[i]
	if sp.used >= 0 {
		return sp.used
	}
	seen := map[*content]bool{}
	used := int64(0)
	var walk func(d *inode)
	walk = func(d *inode) {
		for _, n := range d.entries {
			switch {
			case n.isDir():
				walk(n)
			case n.mnt == i && n.data != nil && !seen[n.data]:
				seen[n.data] = true
				n.data.space = sp // named, even if another of its names went
				used += n.data.blocks()
			}
		}
	}
	walk(fsys.root)
	sp.used = used
	return used
}

// blocks returns how many blocks the content holds.
func (c *content) blocks() int64 {
	n := int64(0)
	c.vol.each(0, math.MaxInt64, func(int64, *block) { n++ })
	return n
}

// backed returns the length of the longest prefix of [off, off+n) whose
// blocks the content holds, or could get from room free blocks (rule 17).
func (c *content) backed(off, n, room int64) int64 {
	if room == math.MaxInt64 || n <= 0 {
		return n
	}
	end := off + n
	for b := off >> blockBits; b<<blockBits < end; b++ {
		if c.vol.get(b) != nil {
			continue
		}
		if room == 0 {
			return max(b<<blockBits, off) - off
		}
		room--
	}
	return n
}

// allocate gives each hole of [off, end) a block of zeros, in order, while
// room lasts, and grows the file to end, or, if room ran out first (and it
// returns false), over the blocks it allocated, as ext4 does (rule 16).
// It records the blocks it gave, not the range: a block of the range the
// page cache held already is not Allocate's, and a failed Sync may have
// dropped its data (rule 7).
func (c *content) allocate(off, end, room int64, seq int64, e owners) bool {
	reached := end
	took := false
	for b := off >> blockBits; b<<blockBits < end; b++ {
		if c.vol.get(b) != nil {
			continue
		}
		if room == 0 {
			reached = max(b<<blockBits, off)
			break
		}
		room--
		c.vol.slot(b, e.vol).blk[b&fanMask] = zeroBlock
		took = true
		if c.space != nil && c.space.counting() {
			c.space.used++
		}
		if c.tracked() {
			c.addAlloc(b)
		}
	}
	c.fp = nil
	if (reached == end || took) && reached > c.size {
		c.resize(reached, seq)
	}
	return reached == end
}

// addAlloc records that Allocate gave block b, as a run of blocks, so
// that a large range costs a few extents.
func (c *content) addAlloc(b int64) {
	if n := len(c.allocs); n > 0 && c.allocs[n-1].end == b {
		c.allocs[n-1].end = b + 1
		return
	}
	c.allocs = append(c.allocs, extent{b, b + 1})
}

// cutAllocs forgets the blocks Allocate gave from block b on, which a
// shrinking truncate freed: a block a later write puts there is the
// write's, durable with its data.
func (c *content) cutAllocs(b int64) {
	kept := c.allocs[:0:0]
	for _, x := range c.allocs {
		if x.off < b {
			kept = append(kept, extent{x.off, min(x.end, b)})
		}
	}
	c.allocs = kept
}

// syncAllocs makes the blocks Allocate gave since the last Sync durable
// as what Allocate gave: a block of zeros where the durable tree has a
// hole (rule 16). It is called after the dirty blocks were promoted, so a
// hole left is a block whose data is not durable: data a failed Sync
// dropped (rule 7), which this Sync does not make durable either, or, on
// an O_DSYNC write's sync of another range, data still pending (rule 20),
// whose history, on zeros, stays as it is.
func (c *content) syncAllocs(e owners) {
	for _, x := range c.allocs {
		for b := x.off; b < x.end; b++ {
			if c.vol.get(b) != nil && c.dur.get(b) == nil {
				c.dur.set(b, zeroBlock, e.dur)
			}
		}
	}
	c.allocs = nil
}

// sigbus returns the error of an access through a mapping that faults.
func sigbus(op string, off, n int64, name string) error {
	return fmt.Errorf("%w: %s [%d,%d) of %s: a page with no block, and the file system has none free", ErrSIGBUS, op, off, off+n, name)
}
