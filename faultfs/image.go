package faultfs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path"
	"slices"
	"strings"

	"github.com/crashsim/crashsim/engine"
)

// A crash image as plain data: what package sim saves of a recorded
// execution (its saved executions), so that a replay rebuilds the exact
// image a crash left without running the workload that made it.

// ErrImage is returned by FromImage for an Image that no file system
// holds: a path twice, a file under a file, a block past its file's size.
var ErrImage = errors.New("faultfs: invalid image")

// Image is what reads see of a file system — its mounts, its namespace,
// every file's size, blocks and bytes — as plain data: Image takes it and
// FromImage builds a file system holding it, every byte of it durable, as
// a crash clone's is. Of a crash image (a Pending.Clone or a CrashClone)
// it is exact: FromImage(img.Image()) has img's Fingerprint, inode ids
// and media, and so recovers, crashes and tears alike.
type Image struct {
	Mounts []Mount
	// IDs is the last inode id handed out.
	IDs uint64
	// Nodes are the directories and files, depth first with the entries
	// of each directory sorted by name, the root first.
	Nodes []ImageNode
}

// ImageNode is one name of an Image.
type ImageNode struct {
	// Path is clean and absolute.
	Path string
	// ID is the inode's id: two names with one ID are one file (rule 22),
	// whose Size and Blocks the first of them carries.
	ID   uint64
	Mode fs.FileMode
	// Mnt is the index in the mount table of the file system holding it,
	// Pinned whether it is a mount point (2), a parent of one (1) or
	// neither (0).
	Mnt    int
	Pinned uint8
	// Size is a file's size, and Blocks the 4 KiB blocks it holds, by
	// index, in order; a block it does not hold is a hole (rules 16, 17).
	Size   int64
	Blocks []ImageBlock
}

// ImageBlock is one block a file holds: Data is nil for a block of zeros,
// else BlockSize bytes, which the caller must not change.
type ImageBlock struct {
	Index int64
	Data  []byte
}

// Image returns what reads see of the file system now. The blocks' Data
// are the file system's own, valid until its next change.
func (fsys *FS) Image() *Image {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	img := &Image{Mounts: mountsOf(fsys.mounts), IDs: fsys.ids}
	seen := map[*inode]bool{}
	var walk func(p string, n *inode)
	walk = func(p string, n *inode) {
		node := ImageNode{Path: p, ID: n.id, Mode: n.mode, Mnt: n.mnt, Pinned: uint8(n.pinned)}
		if !n.isDir() && !seen[n] {
			seen[n] = true
			node.Size = n.data.size
			n.data.vol.each(0, math.MaxInt64, func(b int64, blk *block) {
				ib := ImageBlock{Index: b}
				if !allZero(blk.data[:]) {
					ib.Data = blk.data[:]
				}
				node.Blocks = append(node.Blocks, ib)
			})
		}
		img.Nodes = append(img.Nodes, node)
		for _, name := range slices.Sorted(maps.Keys(n.entries)) {
			walk(path.Join(p, name), n.entries[name])
		}
	}
	walk("/", fsys.root)
	return img
}

// FromImage returns a new file system holding img, every byte of it
// durable: nothing is pending, as in a crash clone. An Image no file
// system holds is an error wrapping ErrImage.
func FromImage(img *Image) (*FS, error) {
	bad := func(format string, args ...any) (*FS, error) {
		return nil, fmt.Errorf("%w: %s", ErrImage, fmt.Sprintf(format, args...))
	}
	mounts := mountTable(img.Mounts)
	if len(img.Nodes) == 0 || img.Nodes[0].Path != "/" || !img.Nodes[0].Mode.IsDir() {
		return bad("the first node is not the root directory")
	}
	out := newFS(Options{Mounts: mountsOf(mounts)}, mounts)
	out.ids = img.IDs
	epoch := newEpoch()
	out.build = epoch
	byPath := map[string]*inode{}
	byID := map[uint64]*inode{}
	for i, in := range img.Nodes {
		if in.Path != cleanPath(in.Path) {
			return bad("node %d: path %q is not clean and absolute", i, in.Path)
		}
		if byPath[in.Path] != nil {
			return bad("node %d: path %s twice", i, in.Path)
		}
		if in.Mnt < 0 || in.Mnt >= len(mounts) || in.Pinned > uint8(pinnedMount) || in.ID > img.IDs {
			return bad("node %d (%s): mount %d of %d, pin %d, id %d of %d", i, in.Path, in.Mnt, len(mounts), in.Pinned, in.ID, img.IDs)
		}
		if in.Mode&^(fs.ModeDir|fs.ModePerm) != 0 {
			return bad("node %d (%s): mode %v is neither a directory nor a regular file", i, in.Path, in.Mode)
		}
		var parent *inode
		if in.Path != "/" {
			dir, name := path.Split(in.Path)
			if parent = byPath[cleanPath(dir)]; parent == nil || !parent.isDir() {
				return bad("node %d (%s): no directory %s before it", i, in.Path, dir)
			}
			if strings.ContainsRune(name, 0) {
				return bad("node %d: name %q", i, name)
			}
		}
		n := byID[in.ID]
		switch {
		case n != nil && (n.isDir() || in.Mode.IsDir() || len(in.Blocks) > 0 || in.Size != 0):
			return bad("node %d (%s): id %d twice, not as a second name of a file", i, in.Path, in.ID)
		case n != nil:
			n.nlink++
			out.linked = true
		default:
			n = &inode{id: in.ID, mode: in.Mode, mnt: in.Mnt, pinned: pin(in.Pinned), nlink: 1}
			if n.isDir() {
				if len(in.Blocks) > 0 || in.Size != 0 {
					return bad("node %d (%s): a directory with data", i, in.Path)
				}
				n.entries = map[string]*inode{}
			} else {
				c, err := imageContent(in, mounts[in.Mnt].medium, epoch)
				if err != nil {
					return bad("node %d (%s): %v", i, in.Path, err)
				}
				c.untracked = &out.untracked
				c.space = out.space[n.mnt]
				n.data = c
			}
			byID[in.ID] = n
		}
		byPath[in.Path] = n
		if parent == nil {
			out.root = n
			n.nlink = 1
		} else {
			parent.entries[path.Base(in.Path)] = n
		}
	}
	return out, nil
}

// imageContent builds a file's content from its node: durable as it is,
// except on shared memory, which keeps no durable content (rule 14).
func imageContent(in ImageNode, medium engine.Medium, epoch uint64) (*content, error) {
	if in.Size < 0 || in.Size > math.MaxInt64-BlockSize {
		return nil, fmt.Errorf("size %d", in.Size)
	}
	end := (in.Size + BlockSize - 1) >> blockBits
	var t tree
	last := int64(-1)
	for _, ib := range in.Blocks {
		if ib.Index <= last || ib.Index >= end {
			return nil, fmt.Errorf("block %d out of order or past the size %d", ib.Index, in.Size)
		}
		last = ib.Index
		if ib.Data == nil {
			t.set(ib.Index, zeroBlock, epoch)
			continue
		}
		if len(ib.Data) != BlockSize {
			return nil, fmt.Errorf("block %d holds %d bytes", ib.Index, len(ib.Data))
		}
		if tailAt := in.Size - ib.Index*BlockSize; tailAt < BlockSize && !allZero(ib.Data[tailAt:]) {
			return nil, fmt.Errorf("block %d has bytes past the size %d", ib.Index, in.Size)
		}
		blk := newBlock(epoch)
		copy(blk.data[:], ib.Data)
		t.set(ib.Index, blk, epoch)
	}
	c := &content{medium: medium, vol: t, size: in.Size}
	if medium != engine.SharedMemory {
		c.dur, c.durSize = t, in.Size
	}
	return c, nil
}
