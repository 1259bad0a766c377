package faultfs

import (
	"io/fs"
	"strings"

	"github.com/crashsim/crashsim/engine"
)

// Mount puts a medium on a directory (rule 12): every file created under
// Dir, at any depth, lives on Medium unless a longer mount's Dir contains it
// too.
type Mount struct {
	// Dir is the mount point, cleaned like every path ("" and "/" mount the
	// root). New creates it, and its parents, durable.
	Dir string
	// Medium is engine.PMem (a DAX file system: Map gives persistent
	// memory), engine.SharedMemory (tmpfs, such as /dev/shm: lost by a
	// power failure) or engine.MappedFile (a disk, as without a mount).
	// Any other value is taken as engine.MappedFile.
	Medium engine.Medium
	// Capacity is how many bytes of file data the mounted file system
	// holds, rounded down to whole 4 KiB blocks; 0, the default, is no
	// limit (rule 17). FS.SetCapacity changes it.
	Capacity int64
}

// mountPoint is one entry of a file system's mount table; entry 0 is the
// root file system, a disk unless a Mount says otherwise. The table is
// shared by a file system and its clones, so it is never changed in place.
type mountPoint struct {
	dir      string
	medium   engine.Medium
	capacity int64 // in blocks, 0 for no limit
}

// pin says why a directory can be neither removed nor renamed: it is a
// mount point, or a parent of one.
type pin uint8

const (
	unpinned pin = iota
	pinnedParent
	pinnedMount
)

// mountTable cleans the mounts: one entry per directory, the last Mount
// naming it winning, unknown media taken as disks.
func mountTable(mounts []Mount) []mountPoint {
	table := []mountPoint{{dir: "/", medium: engine.MappedFile}}
	for _, m := range mounts {
		medium := m.Medium
		if medium != engine.PMem && medium != engine.SharedMemory {
			medium = engine.MappedFile
		}
		mp := mountPoint{dir: cleanPath(m.Dir), medium: medium, capacity: capacityBlocks(m.Capacity)}
		replaced := false
		for i := range table {
			if table[i].dir == mp.dir {
				table[i], replaced = mp, true
			}
		}
		if !replaced {
			table = append(table, mp)
		}
	}
	return table
}

// capacityBlocks is a capacity in bytes as whole blocks, at least one
// for any positive capacity; 0 (or less) is no limit.
func capacityBlocks(bytes int64) int64 {
	if bytes <= 0 {
		return 0
	}
	return max(bytes/BlockSize, 1)
}

// mountOfDir returns the mount table index of the file system that holds
// the directory p: the mount on p itself, else the longest mount that
// contains p.
func mountOfDir(table []mountPoint, p string) int {
	best, bestLen := 0, -1
	for i, m := range table {
		inside := m.dir == p || m.dir == "/" || strings.HasPrefix(p, m.dir+"/")
		if inside && len(m.dir) > bestLen {
			best, bestLen = i, len(m.dir)
		}
	}
	return best
}

// mount creates the mount points and their parents, durable: they exist in
// every state, as a mount point exists at boot. fsys.mu need not be held:
// New calls it before anyone else sees fsys.
func (fsys *FS) mount() {
	fsys.root.mnt = mountOfDir(fsys.mounts, "/")
	fsys.root.pinned = pinnedParent
	for _, m := range fsys.mounts {
		dir := fsys.root
		if m.dir == "/" {
			continue
		}
		parts := strings.Split(m.dir[1:], "/")
		for i, name := range parts {
			next := dir.entries[name]
			if next == nil {
				next = fsys.newInode(fs.ModeDir | 0o755)
				next.mnt = mountOfDir(fsys.mounts, "/"+strings.Join(parts[:i+1], "/"))
				dir.link(name, next)
				fsys.base[next] = map[string]*inode{}
				fsys.base[dir][name] = next
			}
			if next.pinned == unpinned {
				next.pinned = pinnedParent
			}
			dir = next
		}
		dir.pinned = pinnedMount
	}
}

// medium returns the medium of the file system that holds n.
func (fsys *FS) medium(n *inode) engine.Medium {
	return fsys.mounts[n.mnt].medium
}

// durableEntries returns what the durable namespace holds of directory d
// when it is made from d's volatile entries: all of them, except on shared
// memory, where only the mount points (and their parents) survive (rule
// 14).
func durableEntries(mounts []mountPoint, d *inode) map[string]*inode {
	out := make(map[string]*inode, len(d.entries))
	shm := mounts[d.mnt].medium == engine.SharedMemory
	for name, n := range d.entries {
		if !shm || n.pinned != unpinned {
			out[name] = n
		}
	}
	return out
}
