package faultfs

import (
	"encoding/binary"
	"sync/atomic"
)

// Blocks and the persistent block index.
//
// A file's content is an array of 4 KiB blocks held in a radix tree of
// 64-way nodes. The tree is persistent: a node or block may be shared by
// several trees (the page cache and the durable content of one file, a crash
// clone and the file system it came from), and a shared one is never changed;
// a writer copies it first. What a writer may change in place is decided by
// an ownership epoch: every node and block carries the epoch of the file
// system that made it, and the file system changes in place only what
// carries its current epoch. Sharing a tree with anyone (a snapshot, a
// clone) is therefore O(1): the file system takes a fresh epoch, and from
// then on its first write to each path copies it. A block promoted to the
// durable tree is frozen (epoch 0) instead, because it is shared by the two
// trees of one file system.
//
// Every block and node also caches its hash for Fingerprint (a Merkle tree,
// see fingerprint.go). The cache is set atomically, because a shared block
// or node may be hashed by several file systems at once, and it is cleared
// only by the owner, on the path that mutableInner, mutableLeaf and mutable
// hand out for a change: nobody else can reach an owned node.

const (
	// BlockSize is the unit of the page cache and of the pending history:
	// 4 KiB, engine.PageSize.
	BlockSize = 4096
	blockBits = 12
	fanBits   = 6
	fan       = 1 << fanBits
	fanMask   = fan - 1
)

// epochs hands out ownership epochs, unique across every file system of the
// process so that two clones never both own a shared node. Epoch 0 is
// frozen: nobody owns it.
var epochs atomic.Uint64

func newEpoch() uint64 { return epochs.Add(1) }

// owners are the epochs a file system owns: one for its page-cache trees,
// one for its durable trees, so that a snapshot of the durable state (taken
// at every crash point) does not make the next page-cache writes copy.
type owners struct {
	vol, dur uint64
}

// block is 4 KiB of file content. It holds no pointer, so that the
// garbage collector need not scan it.
type block struct {
	owner uint64
	sum   blockSum // hash of data, once computed
	data  [BlockSize]byte
}

// blockSum is a block's cached hash. Whoever computes it stores it,
// racing only with others who store the same value (a block shared by
// several file systems is immutable); its owner clears it before a change,
// when nobody else can reach it.
type blockSum struct {
	lo, hi atomic.Uint64
	ok     atomic.Bool // set after lo and hi
}

func (s *blockSum) load() (Fingerprint, bool) {
	var f Fingerprint
	if !s.ok.Load() {
		return f, false
	}
	binary.LittleEndian.PutUint64(f[:8], s.lo.Load())
	binary.LittleEndian.PutUint64(f[8:], s.hi.Load())
	return f, true
}

func (s *blockSum) store(f Fingerprint) {
	s.lo.Store(binary.LittleEndian.Uint64(f[:8]))
	s.hi.Store(binary.LittleEndian.Uint64(f[8:]))
	s.ok.Store(true)
}

func (s *blockSum) clear() {
	if s.ok.Load() {
		s.ok.Store(false)
	}
}

// clearSum drops a node's cached hash; a plain load first, because an
// atomic store is a full barrier and most nodes have none to drop.
func clearSum(p *atomic.Pointer[Fingerprint]) {
	if p.Load() != nil {
		p.Store(nil)
	}
}

// leaf holds 64 blocks; inner holds 64 inners (level > 1) or 64 leaves
// (level 1).
type leaf struct {
	owner uint64
	sum   atomic.Pointer[Fingerprint] // hash of the 64 blocks, nil until computed
	blk   [fan]*block
}

type inner struct {
	owner  uint64
	sum    atomic.Pointer[Fingerprint] // hash of the subtree, nil until computed
	kids   [fan]*inner
	leaves [fan]*leaf
}

// tree is a persistent array of blocks. A nil block reads as zeros. The
// zero tree is empty.
type tree struct {
	root   *inner
	levels int // levels of inner nodes; the tree spans fan^(levels+1) blocks
}

// span is the number of blocks a tree of the given levels can index.
func span(levels int) int64 {
	bits := uint(fanBits * (levels + 1))
	if bits >= 62 {
		return 1 << 62
	}
	return 1 << bits
}

// get returns block b, or nil for a hole.
func (t *tree) get(b int64) *block {
	if t.root == nil || b < 0 || b >= span(t.levels) {
		return nil
	}
	n := t.root
	for l := t.levels; l > 1; l-- {
		n = n.kids[(b>>(fanBits*l))&fanMask]
		if n == nil {
			return nil
		}
	}
	lf := n.leaves[(b>>fanBits)&fanMask]
	if lf == nil {
		return nil
	}
	return lf.blk[b&fanMask]
}

// grow adds levels until block b fits.
func (t *tree) grow(b int64, epoch uint64) {
	if t.root == nil {
		t.root, t.levels = newInner(epoch), 1
	}
	for b >= span(t.levels) {
		r := newInner(epoch)
		r.kids[0] = t.root
		t.root = r
		t.levels++
	}
}

// mutableInner returns n if epoch owns it, else a copy owned by epoch; the
// caller is about to change it, so its cached hash goes.
func mutableInner(n *inner, epoch uint64) *inner {
	if n == nil {
		return newInner(epoch)
	}
	if n.owner == epoch {
		clearSum(&n.sum)
		return n
	}
	c := newInner(epoch)
	c.kids, c.leaves = n.kids, n.leaves
	return c
}

func mutableLeaf(n *leaf, epoch uint64) *leaf {
	if n == nil {
		return newLeaf(epoch)
	}
	if n.owner == epoch {
		clearSum(&n.sum)
		return n
	}
	c := newLeaf(epoch)
	c.blk = n.blk
	return c
}

// slot returns the leaf holding block b, copying the path to it where
// epoch does not own it, so that the caller may change the leaf's slots.
func (t *tree) slot(b int64, epoch uint64) *leaf {
	t.grow(b, epoch)
	t.root = mutableInner(t.root, epoch)
	n := t.root
	for l := t.levels; l > 1; l-- {
		i := (b >> (fanBits * l)) & fanMask
		n.kids[i] = mutableInner(n.kids[i], epoch)
		n = n.kids[i]
	}
	i := (b >> fanBits) & fanMask
	n.leaves[i] = mutableLeaf(n.leaves[i], epoch)
	return n.leaves[i]
}

// set makes blk (possibly nil) block b.
func (t *tree) set(b int64, blk *block, epoch uint64) {
	if blk == nil && t.get(b) == nil {
		return
	}
	t.slot(b, epoch).blk[b&fanMask] = blk
}

// mutable returns block b ready to be written in place: a new zero block for
// a hole, a copy for a block epoch does not own.
func (t *tree) mutable(b int64, epoch uint64) *block {
	lf := t.slot(b, epoch)
	blk := lf.blk[b&fanMask]
	switch {
	case blk == nil:
		blk = newBlock(epoch)
		clear(blk.data[:])
	case blk.owner != epoch:
		c := newBlock(epoch)
		c.data = blk.data
		blk = c
	default:
		blk.sum.clear()
		return blk
	}
	lf.blk[b&fanMask] = blk
	return blk
}

// cut drops every block at index from or above: O(nodes on the boundary),
// whole subtrees are dropped at once.
func (t *tree) cut(from int64, epoch uint64) {
	if t.root == nil || from >= span(t.levels) {
		return
	}
	if from <= 0 {
		*t = tree{}
		return
	}
	t.root = cutInner(t.root, t.levels, 0, from, epoch)
}

// cutInner drops the blocks at or above from in the subtree n, which starts
// at block base and sits at level l (1 = parent of leaves).
func cutInner(n *inner, l int, base, from int64, epoch uint64) *inner {
	n = mutableInner(n, epoch)
	width := span(l - 1) // blocks under one child
	for i := range fan {
		lo := base + int64(i)*width
		switch {
		case lo >= from:
			n.kids[i], n.leaves[i] = nil, nil
		case lo+width > from:
			if l > 1 {
				if n.kids[i] != nil {
					n.kids[i] = cutInner(n.kids[i], l-1, lo, from, epoch)
				}
			} else if n.leaves[i] != nil {
				lf := mutableLeaf(n.leaves[i], epoch)
				for j := from - lo; j < fan; j++ {
					lf.blk[j] = nil
				}
				n.leaves[i] = lf
			}
		}
	}
	return n
}

// each calls fn for every non-nil block with index in [lo, hi), in order,
// skipping empty subtrees.
func (t *tree) each(lo, hi int64, fn func(b int64, blk *block)) {
	if t.root == nil {
		return
	}
	eachInner(t.root, t.levels, 0, lo, hi, fn)
}

func eachInner(n *inner, l int, base, lo, hi int64, fn func(int64, *block)) {
	width := span(l - 1)
	for i := range fan {
		start := base + int64(i)*width
		if start >= hi || start+width <= lo {
			continue
		}
		if l > 1 {
			if n.kids[i] != nil {
				eachInner(n.kids[i], l-1, start, lo, hi, fn)
			}
			continue
		}
		lf := n.leaves[i]
		if lf == nil {
			continue
		}
		for j, blk := range lf.blk {
			if b := start + int64(j); blk != nil && b >= lo && b < hi {
				fn(b, blk)
			}
		}
	}
}
