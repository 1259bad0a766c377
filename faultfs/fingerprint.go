package faultfs

import (
	"encoding/binary"
	"encoding/hex"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/zeebo/xxh3"
)

// Fingerprint is a 128-bit hash of the visible state of a file system, to
// deduplicate crash images: equal states have equal fingerprints, and
// different states different ones, but with a chance of 2^-64 or less for
// any pair (a birthday bound over 128 bits). It is the same in every
// process and on every machine, so that the shards of one exploration
// agree.
type Fingerprint [16]byte

// String returns the fingerprint in hexadecimal.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// Fingerprint returns the hash of what reads see now: the volatile
// namespace (names, whether each is a file or a directory, and which names
// are one file), and each file's size and content. Locks, open files, permissions, the op log, the
// pending history and what of it is durable are not part of it: a crash
// clone has the fingerprint of a new file system built with the same
// files, and a KeepAll clone that of its parent.
//
// Its cost is that of what changed since the last Fingerprint of this file
// system, or of the one it shares blocks with, plus O(names): every block
// caches its hash, every node of a file's block tree caches the hash of its
// subtree (a Merkle tree, which a change invalidates along the path it
// copies), every file the hash of its content and every directory that of
// its entries. The hash is XXH3-128 (github.com/zeebo/xxh3): deterministic,
// unlike hash/maphash, and about ten times faster than SHA-256, which
// matters because hashing the blocks a crash state rebuilds is most of the
// cost of building it. It is not cryptographic: a workload crafted to make
// two states collide could hide one of them, which no storage engine under
// test has reason to do.
func (fsys *FS) Fingerprint() Fingerprint {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if fsys.released {
		return Fingerprint{} // no state: see Release
	}
	h := nodePrint(fsys.root)
	if fsys.linked {
		h = linkPrint(h, fsys.root)
	}
	return h
}

// dirPrint is the cached fingerprint of a directory: its entries, sorted,
// with the fingerprints they had when sum was computed.
type dirPrint struct {
	names []string
	kids  []Fingerprint
	sum   Fingerprint
	valid bool // sum was computed
}

// nodePrint returns the fingerprint of a file or a directory tree.
//
//	file:      XXH3-128("F" | size, 8 bytes little-endian | tree at the least levels that span size)
//	directory: XXH3-128("D" | for each entry by name: uvarint(len(name)) | name | fingerprint)
func nodePrint(n *inode) Fingerprint {
	if !n.isDir() {
		return n.data.fingerprint()
	}
	dp := n.fpc
	changed := dp == nil || !dp.valid // a clone's cache comes with names only
	if dp == nil {
		names := slices.Sorted(maps.Keys(n.entries))
		dp = &dirPrint{names: names, kids: make([]Fingerprint, len(names))}
		n.fpc = dp
	}
	for i, name := range dp.names {
		if k := nodePrint(n.entries[name]); k != dp.kids[i] {
			dp.kids[i], changed = k, true
		}
	}
	if changed {
		// One buffer, hashed in one call: on the stack for the small
		// directories a crash image is made of.
		var small [512]byte
		buf := append(small[:0], 'D')
		for i, name := range dp.names {
			buf = binary.AppendUvarint(buf, uint64(len(name)))
			buf = append(buf, name...)
			buf = append(buf, dp.kids[i][:]...)
		}
		dp.sum, dp.valid = sum(buf), true
	}
	return dp.sum
}

// linkPrint returns h combined with which names are one file, where some
// file has several (rule 22): two names of one file, where a write through
// one shows through the other, are not two files that hold the same bytes.
// A group is the sorted paths of one file; the groups are sorted by their
// first path, so that every file system with the same names and links
// agrees, whatever its inodes.
//
//	XXH3-128(h | for each group: uvarint(paths) | for each path: uvarint(len) | path)
func linkPrint(h Fingerprint, root *inode) Fingerprint {
	names := map[*inode][]string{}
	var walk func(d *inode, prefix string)
	walk = func(d *inode, prefix string) {
		for name, n := range d.entries {
			switch {
			case n.isDir():
				walk(n, prefix+name+"/")
			case n.nlink > 1:
				names[n] = append(names[n], prefix+name)
			}
		}
	}
	walk(root, "/")
	var groups [][]string
	for _, g := range names {
		if len(g) > 1 {
			slices.Sort(g)
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		return h
	}
	slices.SortFunc(groups, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	buf := append([]byte(nil), h[:]...)
	for _, g := range groups {
		buf = binary.AppendUvarint(buf, uint64(len(g)))
		for _, p := range g {
			buf = binary.AppendUvarint(buf, uint64(len(p)))
			buf = append(buf, p...)
		}
	}
	return sum(buf)
}

// fingerprint returns the hash of the file's size and page cache.
func (c *content) fingerprint() Fingerprint {
	if c.fp != nil {
		return *c.fp
	}
	var buf [1 + 8 + 16]byte
	buf[0] = 'F'
	binary.LittleEndian.PutUint64(buf[1:], uint64(c.size))
	blocks := (c.size + BlockSize - 1) >> blockBits
	levels := 1
	for span(levels) < blocks {
		levels++
	}
	root := c.vol.print(levels)
	copy(buf[9:], root[:])
	h := sum(buf[:])
	if c.space != nil && c.space.limited() {
		h = c.allocationPrint(h)
	}
	c.fp = &h
	return h
}

// allocationPrint returns h combined with which blocks the file holds: on
// a file system with a capacity a hole and a block of zeros read the same
// but are not the same state, since a store to the hole may fault there
// (rule 17).
//
//	XXH3-128(h | for each block held, in order: uvarint(index))
func (c *content) allocationPrint(h Fingerprint) Fingerprint {
	buf := append([]byte(nil), h[:]...)
	c.vol.each(0, math.MaxInt64, func(b int64, _ *block) {
		buf = binary.AppendUvarint(buf, uint64(b))
	})
	return sum(buf)
}

// print returns the hash of the tree as a tree of the given levels: the
// same for every tree that holds the same blocks, whatever its levels,
// given that no block past the span of levels holds a non-zero byte (the
// bytes past a file's size are zero). A hole hashes as a block of zeros.
func (t *tree) print(levels int) Fingerprint {
	if t.root == nil {
		return zeroPrint(levels)
	}
	n, l := t.root, t.levels
	for ; l > levels; l-- {
		if n = n.kids[0]; n == nil {
			return zeroPrint(levels)
		}
	}
	h := n.print(l)
	for ; l < levels; l++ {
		// An inner node one level up with n as its first child.
		var buf [nodePrintLen]byte
		nodeHeader(&buf, l+1)
		copy(buf[2:], h[:])
		z := zeroPrint(l)
		for i := 1; i < fan; i++ {
			copy(buf[2+16*i:], z[:])
		}
		h = sum(buf[:])
	}
	return h
}

// nodePrintLen is the length of what a node's hash is computed over: a tag,
// the level, and the hashes of its 64 children.
const nodePrintLen = 2 + fan*16

func nodeHeader(buf *[nodePrintLen]byte, level int) {
	buf[0], buf[1] = 'N', byte(level)
}

// print returns the hash of the subtree of n, an inner node at level l.
func (n *inner) print(l int) Fingerprint {
	if h := n.sum.Load(); h != nil {
		return *h
	}
	var buf [nodePrintLen]byte
	nodeHeader(&buf, l)
	for i := range fan {
		var h Fingerprint
		switch {
		case l > 1 && n.kids[i] != nil:
			h = n.kids[i].print(l - 1)
		case l == 1 && n.leaves[i] != nil:
			h = n.leaves[i].print()
		default:
			h = zeroPrint(l - 1)
		}
		copy(buf[2+16*i:], h[:])
	}
	h := sum(buf[:])
	n.sum.Store(&h)
	return h
}

// print returns the hash of the leaf's 64 blocks (level 0).
func (lf *leaf) print() Fingerprint {
	if h := lf.sum.Load(); h != nil {
		return *h
	}
	var buf [nodePrintLen]byte
	nodeHeader(&buf, 0)
	for i, blk := range lf.blk {
		h := zeroPrints().block
		if blk != nil {
			h = blk.print()
		}
		copy(buf[2+16*i:], h[:])
	}
	h := sum(buf[:])
	lf.sum.Store(&h)
	return h
}

// print returns the hash of the block's bytes, computed once: a block is
// changed only by its owner, which clears the cache first (tree.mutable).
func (blk *block) print() Fingerprint {
	if h, ok := blk.sum.load(); ok {
		return h
	}
	h := sum(blk.data[:])
	blk.sum.store(h)
	return h
}

func sum(b []byte) Fingerprint { return Fingerprint(xxh3.Hash128(b).Bytes()) }

// maxLevels bounds the levels of a tree: span(maxLevels) covers every
// block below maxFileSize.
const maxLevels = (62-blockBits)/fanBits + 1

// zeroPrints holds the hashes of empty subtrees: of a block of zeros, and
// of a node of each level whose blocks are all zeros.
var zeroPrints = sync.OnceValue(func() *zeroTable {
	z := &zeroTable{}
	var zero block
	z.block = sum(zero.data[:])
	prev := z.block
	for l := range z.node {
		var buf [nodePrintLen]byte
		nodeHeader(&buf, l)
		for i := range fan {
			copy(buf[2+16*i:], prev[:])
		}
		z.node[l] = sum(buf[:])
		prev = z.node[l]
	}
	return z
})

type zeroTable struct {
	block Fingerprint
	node  [maxLevels + 2]Fingerprint // node[0] a leaf, node[l] an inner node of level l
}

// zeroPrint returns the hash of an all-zero node of level l (0 is a leaf).
func zeroPrint(l int) Fingerprint {
	z := zeroPrints()
	if l < 0 || l >= len(z.node) {
		return z.node[len(z.node)-1] // unreachable: levels are bounded
	}
	return z.node[l]
}
