package faultfs

import (
	"io/fs"
	"path"
	"strings"
	"syscall"

	"github.com/crashsim/crashsim/engine"
)

// inode is a file or a directory. Directories hold their volatile entries;
// files hold their content. Inodes are identified by pointer inside one file
// system and by id across its clones.
type inode struct {
	id      uint64
	mode    fs.FileMode       // fs.ModeDir|perm or perm
	nlink   int               // names in the volatile tree: more than one for a hard-linked file (rule 22)
	mnt     int               // index in the mount table of the file system holding it (rule 12)
	pinned  pin               // a mount point or a parent of one: neither removed nor renamed
	entries map[string]*inode // directory: the volatile entries
	data    *content          // regular file
	locks   lockState
	fpc     *dirPrint // directory: cached fingerprint, nil after a change of entries
}

func (n *inode) isDir() bool { return n.mode.IsDir() }

// link and unlink change a directory's volatile entries; every change of
// entries goes through them, so that the cached fingerprint goes too, and
// the count of names of the inodes linked and unlinked. A link over an
// existing entry (a rename over a file) unlinks it.
func (n *inode) link(name string, child *inode) {
	if old := n.entries[name]; old != nil {
		old.nlink--
	}
	n.entries[name] = child
	child.nlink++
	n.fpc = nil
}

func (n *inode) unlink(name string) {
	if old := n.entries[name]; old != nil {
		old.nlink--
	}
	delete(n.entries, name)
	n.fpc = nil
}

// umask is applied to every permission, as the OS does with the usual umask.
const umask = 0o022

// cleanPath returns name as an absolute, clean path: relative names are
// relative to the root.
func cleanPath(name string) string {
	return path.Clean("/" + name)
}

// resolve walks the clean path p in the volatile tree. It returns the parent
// directory, the last name and the inode there (nil if there is none), or
// the errno of the walk: ENOENT for a missing directory on the way, ENOTDIR
// for a file on the way. The root has no parent.
func (fsys *FS) resolve(p string) (parent *inode, name string, node *inode, errno syscall.Errno) {
	if p == "/" {
		return nil, "/", fsys.root, 0
	}
	dir := fsys.root
	rest := p[1:]
	for {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return dir, rest, dir.entries[rest], 0
		}
		next := dir.entries[rest[:i]]
		switch {
		case next == nil:
			return nil, "", nil, syscall.ENOENT
		case !next.isDir():
			return nil, "", nil, syscall.ENOTDIR
		}
		dir, rest = next, rest[i+1:]
	}
}

// MetaKind is the kind of a namespace change.
type MetaKind uint8

// The namespace changes that SyncDir makes durable.
const (
	// MetaCreate creates a file (OpenFile with O_CREATE, or Lock).
	MetaCreate MetaKind = iota + 1
	// MetaMkdir creates a directory.
	MetaMkdir
	// MetaRemove removes a file or an empty directory.
	MetaRemove
	// MetaRename renames a file or directory.
	MetaRename
	// MetaLink gives a file a new name (a hard link, rule 22).
	MetaLink
)

// String returns the change's name.
func (k MetaKind) String() string {
	switch k {
	case MetaCreate:
		return "create"
	case MetaMkdir:
		return "mkdir"
	case MetaRemove:
		return "remove"
	case MetaRename:
		return "rename"
	case MetaLink:
		return "link"
	}
	return "MetaKind(?)"
}

// metaOp is one namespace change, recorded with the inodes it links and
// unlinks so that it can be replayed on any state (rule 8).
type metaOp struct {
	seq     int64
	kind    MetaKind
	dir     *inode // parent of name (rename: old parent; link: the new name's parent)
	name    string
	newDir  *inode // rename: new parent
	newName string
	node    *inode // the inode created, removed, renamed or linked
	path    string // for reports (link: the existing name)
	newPath string // rename, link: the new name
	durable bool
}

// dirTable is a namespace state: the entries of every directory that
// exists in it.
type dirTable map[*inode]map[string]*inode

func (t dirTable) clone() dirTable {
	c := make(dirTable, len(t))
	for d, e := range t {
		m := make(map[string]*inode, len(e))
		for k, v := range e {
			m[k] = v
		}
		c[d] = m
	}
	return c
}

// apply replays m on t. A change whose parent directory does not exist in
// t is dropped, and so is the link of a directory that does not exist in t
// (rule 9).
func (m *metaOp) apply(t dirTable) {
	switch m.kind {
	case MetaCreate, MetaLink:
		if e := t[m.dir]; e != nil {
			e[m.name] = m.node
		}
	case MetaMkdir:
		if e := t[m.dir]; e != nil {
			e[m.name] = m.node
			t[m.node] = map[string]*inode{}
		}
	case MetaRemove:
		if e := t[m.dir]; e != nil {
			delete(e, m.name)
		}
		if m.node.isDir() {
			delete(t, m.node)
		}
	case MetaRename:
		if e := t[m.dir]; e != nil {
			delete(e, m.name)
		}
		if e := t[m.newDir]; e != nil && (!m.node.isDir() || t[m.node] != nil) {
			e[m.newName] = m.node
		}
	}
}

// record appends a namespace change to the history. Nothing on shared
// memory is recorded: it has no durable namespace to reach (rule 14).
func (fsys *FS) record(m *metaOp) {
	if fsys.medium(m.dir) == engine.SharedMemory {
		return
	}
	fsys.ops = append(fsys.ops, m)
	fsys.byDir[m.dir] = append(fsys.byDir[m.dir], m)
	if m.newDir != nil && m.newDir != m.dir {
		fsys.byDir[m.newDir] = append(fsys.byDir[m.newDir], m)
	}
}

// durableBase returns the durable namespace. A crash clone is born with
// none pending, so its durable namespace is its namespace (less shared
// memory, rule 14): base is nil then, and built here on first need — before
// the first namespace change, by every caller that makes one.
func (fsys *FS) durableBase() dirTable {
	if fsys.base == nil {
		t := dirTable{}
		var walk func(d *inode)
		walk = func(d *inode) {
			t[d] = durableEntries(fsys.mounts, d)
			for _, n := range d.entries {
				if n.isDir() && t[n] == nil {
					walk(n)
				}
			}
		}
		walk(fsys.root)
		fsys.base = t
	}
	return fsys.base
}

// syncDir makes durable every change that touched d (rule 10), then folds
// the durable head of the history into the durable tree.
func (fsys *FS) syncDir(d *inode) {
	for _, m := range fsys.byDir[d] {
		m.durable = true
	}
	delete(fsys.byDir, d)
	i := 0
	for ; i < len(fsys.ops) && fsys.ops[i].durable; i++ {
		m := fsys.ops[i]
		m.apply(fsys.durableBase())
		// Drop the change from the index of its other directory too.
		for _, other := range []*inode{m.dir, m.newDir} {
			if list := fsys.byDir[other]; len(list) > 0 && list[0] == m {
				fsys.byDir[other] = list[1:]
				if len(list) == 1 {
					delete(fsys.byDir, other)
				}
			}
		}
		fsys.ops[i] = nil
	}
	fsys.ops = fsys.ops[i:]
}
