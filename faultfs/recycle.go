package faultfs

import (
	"math"
	"sync"
)

// Recycling the memory of file systems nobody will use again.
//
// The explorer builds a crash image for every state, recovers it once and
// drops it: its blocks and tree nodes were most of the explorer's garbage,
// and with two workers the collector and the allocator, not the work, set
// the pace (docs/BENCHMARKS.md). Release hands an image's blocks and nodes
// back to pools that the next images draw from.
//
// Only what the file system owns exclusively is recycled: the nodes and
// blocks carrying the epoch it built its trees with or one of its owners'
// epochs, and only if it never shared a tree — no CrashClone or Pending was
// taken of it. Whatever else it holds is shared and left to the collector.

var (
	freeBlocks = sync.Pool{New: func() any { return new(block) }}
	freeLeaves = sync.Pool{New: func() any { return new(leaf) }}
	freeInners = sync.Pool{New: func() any { return new(inner) }}
)

// releasedEpoch marks a recycled node or block, so that a second path to
// it (the page-cache and the durable tree share nodes) does not recycle it
// twice. No file system ever owns it.
const releasedEpoch = math.MaxUint64

// newBlock returns a block owned by epoch whose data the caller must set
// whole: a recycled block holds old bytes.
func newBlock(epoch uint64) *block {
	b := freeBlocks.Get().(*block)
	b.owner = epoch
	b.sum.clear()
	return b
}

// newLeaf returns an empty leaf owned by epoch.
func newLeaf(epoch uint64) *leaf {
	n := freeLeaves.Get().(*leaf)
	n.owner = epoch
	n.sum.Store(nil)
	n.blk = [fan]*block{}
	return n
}

// newInner returns an empty inner node owned by epoch.
func newInner(epoch uint64) *inner {
	n := freeInners.Get().(*inner)
	n.owner = epoch
	n.sum.Store(nil)
	n.kids, n.leaves = [fan]*inner{}, [fan]*leaf{}
	return n
}

// Release ends the file system: every operation on it, its files, regions
// and locks fails from now on with an error wrapping engine.ErrClosed
// (Close and unlock still succeed), and the memory it owns exclusively is
// reused by the file systems built after it. Its state is gone: its
// Fingerprint is the zero Fingerprint, and CrashClone, and Clone of its
// Pending, return a released file system. A file system that was cloned
// (CrashClone, Pending) shares its trees with the clone, which keeps them:
// it is only closed.
func (fsys *FS) Release() {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if fsys.released {
		return
	}
	fsys.released = true
	recycle := !fsys.shared
	mine := func(epoch uint64) bool {
		return recycle && epoch != 0 && epoch != releasedEpoch &&
			(epoch == fsys.build || epoch == fsys.owners.vol || epoch == fsys.owners.dur)
	}
	var free freed
	fsys.eachContent(func(c *content) {
		free.tree(&c.vol, mine)
		free.tree(&c.dur, mine)
		c.dirty, c.sizes, c.fp = nil, nil, nil
	})
	// Into the pools only now: a node reached twice (the page-cache and
	// the durable tree share nodes) must still say it is released, not
	// carry the epoch of whoever took it from a pool meanwhile.
	for _, b := range free.blocks {
		freeBlocks.Put(b)
	}
	for _, n := range free.leaves {
		freeLeaves.Put(n)
	}
	for _, n := range free.inners {
		freeInners.Put(n)
	}
}

// freed collects what Release recycles.
type freed struct {
	blocks []*block
	leaves []*leaf
	inners []*inner
}

// tree empties t, collecting the nodes and blocks mine says are owned. A
// node not owned is shared and so is everything under it: it is not
// entered.
func (f *freed) tree(t *tree, mine func(uint64) bool) {
	if t.root != nil {
		f.inner(t.root, t.levels, mine)
	}
	*t = tree{}
}

func (f *freed) inner(n *inner, l int, mine func(uint64) bool) {
	if !mine(n.owner) {
		return
	}
	n.owner = releasedEpoch
	f.inners = append(f.inners, n)
	for i := range fan {
		if l > 1 {
			if k := n.kids[i]; k != nil {
				f.inner(k, l-1, mine)
			}
		} else if lf := n.leaves[i]; lf != nil && mine(lf.owner) {
			lf.owner = releasedEpoch
			f.leaves = append(f.leaves, lf)
			for _, b := range lf.blk {
				if b != nil && mine(b.owner) {
					b.owner = releasedEpoch
					f.blocks = append(f.blocks, b)
				}
			}
		}
	}
}

// releasedFS returns a released file system with the given mounts: what a
// crash of a released one leaves.
func releasedFS(mounts []mountPoint) *FS {
	out := newFS(Options{Mounts: mountsOf(mounts)}, mounts)
	out.released = true
	return out
}

// releasedErr is the error of an operation on a released file system.
func releasedErr(op, name string) error {
	return pathError(op, name, Fault{kind: released}.wrapped())
}
