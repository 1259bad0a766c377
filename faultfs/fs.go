package faultfs

import (
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/crashsim/crashsim/engine"
)

// Options configure a file system.
type Options struct {
	// Observe, if not nil, is called with every operation before it takes
	// effect, in Index order, with the file system locked: it must not call
	// back into the file system. Log.Observe records them.
	Observe func(Op)

	// Injector, if not nil, is asked before every operation whether to make
	// it fail (see Fault). It is called with the file system locked and must
	// not call back into it.
	Injector Injector

	// Mounts put media on directories (rule 12): persistent memory, shared
	// memory, or more disk. Without a mount a file is on a disk.
	Mounts []Mount

	// Failed, if not nil, is called as an operation returns an error, or
	// returns after a fault was injected into it, with the file system
	// locked: with the Op that Observe saw, the Fault injected (the zero
	// Fault if none was) and the error the operation returns (nil after a
	// BitFlip, which fails nothing). A simulator shows them in its trace.
	// It must not call back into the file system.
	Failed func(op Op, fault Fault, err error)

	// BeforeWriteSync, if not nil, is called between the two steps of a
	// write through a file opened with O_DSYNC or O_SYNC (rule 20): after
	// the bytes reached the page cache (an OpWrite or OpAppend), before
	// the sync of their range, with the Op that sync will be (an
	// OpWriteSync, not yet numbered). It is called without the file
	// system's lock, so that it may take a crash state there (Pending,
	// CrashClone): a power failure during such a write keeps any part of
	// it.
	BeforeWriteSync func(Op)
}

// FS is an in-memory engine.FS that knows, at every instant, what a power
// failure or a process crash would leave behind. See the package doc.
//
// One mutex serializes every operation of an FS and of its files, locks and
// regions: the order in which operations take it is the order of the op log
// and the order of the crash rules.
type FS struct {
	mu     sync.Mutex
	opts   Options
	mounts []mountPoint // entry 0 is the root file system
	space  []*space     // of each mount (rule 17)
	owners owners       // the epochs of the trees this FS may change in place
	next   uint64       // Index of the next operation
	op     Op           // the operation begun last, for Options.Failed
	fault  Fault        // the fault injected into it
	ids    uint64       // last inode id handed out

	root  *inode
	base  dirTable             // the durable namespace (rule 8)
	ops   []*metaOp            // namespace changes from the first non-durable one on
	byDir map[*inode][]*metaOp // non-durable changes touching each directory
	locks map[*lockHandle]bool // locks held
	// recordNodes are the inodes that may hold record locks.
	recordNodes map[*inode]bool

	untracked bool // file data no longer becomes durable (Untrack)
	linked    bool // a file may have several names: Fingerprint says which (rule 22)

	build    uint64 // the epoch of the trees a crash state was built with, or 0
	shared   bool   // a tree was shared with a clone or snapshot: nothing may be recycled
	released bool   // Release was called
}

var (
	_ engine.FS     = (*FS)(nil)
	_ engine.Linker = (*FS)(nil)
)

// New returns an empty file system: a root directory and the mount points
// of opts.Mounts with their parents, all durable.
func New(opts Options) *FS {
	opts.Mounts = slices.Clone(opts.Mounts)
	fsys := newFS(opts, mountTable(opts.Mounts))
	fsys.root = fsys.newInode(fs.ModeDir | 0o755)
	fsys.base = dirTable{fsys.root: {}}
	fsys.mount()
	return fsys
}

// newFS returns a file system without a root.
func newFS(opts Options, mounts []mountPoint) *FS {
	return &FS{
		opts:        opts,
		mounts:      mounts,
		space:       newSpaces(mounts),
		owners:      owners{vol: newEpoch(), dur: newEpoch()},
		byDir:       map[*inode][]*metaOp{},
		locks:       map[*lockHandle]bool{},
		recordNodes: map[*inode]bool{},
	}
}

// SetInjector replaces the fault injector; nil injects nothing.
func (fsys *FS) SetInjector(inj Injector) {
	fsys.mu.Lock()
	fsys.opts.Injector = inj
	fsys.mu.Unlock()
}

// SetBeforeWriteSync replaces Options.BeforeWriteSync; nil calls nothing.
func (fsys *FS) SetBeforeWriteSync(fn func(Op)) {
	fsys.mu.Lock()
	fsys.opts.BeforeWriteSync = fn
	fsys.mu.Unlock()
}

// SetFailed replaces Options.Failed; nil calls nothing.
func (fsys *FS) SetFailed(fn func(op Op, fault Fault, err error)) {
	fsys.mu.Lock()
	fsys.opts.Failed = fn
	fsys.mu.Unlock()
}

// SetObserver replaces the function that observes every operation; nil
// observes nothing.
func (fsys *FS) SetObserver(observe func(Op)) {
	fsys.mu.Lock()
	fsys.opts.Observe = observe
	fsys.mu.Unlock()
}

// Untrack makes the file system stop keeping what a power failure would
// leave of file data: from now on no write, Sync or Drain — successful or
// failed — changes the durable data, sizes or pending history of any file
// (named, open but unlinked, or created later), so every crash state
// (CrashClone, Pending) holds file data as it was durable at this call,
// with the same choices among what was pending then; namespace changes
// still follow the rules. Reads are unchanged. A write then costs one copy of its block at most, not a
// recorded history and a second copy when it becomes durable. It is for a
// file system whose power-failure states nobody will ask for again, such
// as a crash image being recovered once; it cannot be undone.
func (fsys *FS) Untrack() {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.untracked = true
}

// eachContent calls fn with the content of every file in the namespace, a
// file with several links once per link.
func (fsys *FS) eachContent(fn func(*content)) {
	var walk func(d *inode)
	walk = func(d *inode) {
		for _, n := range d.entries {
			switch {
			case n.isDir():
				walk(n)
			case n.data != nil:
				fn(n.data)
			}
		}
	}
	walk(fsys.root)
}

func (fsys *FS) newInode(mode fs.FileMode) *inode {
	fsys.ids++
	n := &inode{id: fsys.ids, mode: mode}
	if mode.IsDir() {
		n.entries = map[string]*inode{}
	}
	return n
}

// newChild returns a new inode to be linked in parent: it lives on the
// parent's file system (rule 12).
func (fsys *FS) newChild(parent *inode, mode fs.FileMode, seq int64) *inode {
	n := fsys.newInode(mode)
	n.mnt = parent.mnt
	if !n.isDir() {
		n.data = newContent(seq, fsys.medium(n))
		n.data.untracked = &fsys.untracked
		n.data.space = fsys.space[n.mnt]
	}
	return n
}

// unname follows the removal of a name of n (a remove, or a rename over
// it): once it has none left, its blocks no longer count, as they are free
// once it is closed (rule 17).
func unname(n *inode) {
	if n.nlink == 0 && n.data != nil && n.data.space != nil {
		n.data.space.freed()
		n.data.space = nil
	}
}

// begin numbers op, shows it to the observer and asks the injector about
// it. fsys.mu must be held. The op's sequence number in the crash rules is
// its Index + 1, so that 0 means "before every operation". op.Owner is the
// caller's.
func (fsys *FS) begin(op Op) (seq int64, fault Fault) {
	op.Index = fsys.next
	fsys.next++
	if fsys.released && op.Kind != OpClose && op.Kind != OpUnmap && op.Kind != OpUnlock {
		return int64(op.Index) + 1, Fault{kind: released} // a close touches no data
	}
	if fsys.opts.Injector != nil {
		fault = fsys.opts.Injector.MaybeInject(op)
		if !fault.appliesTo(op.Kind) {
			fault = Fault{}
		}
	}
	if fsys.opts.Observe != nil {
		fsys.opts.Observe(op)
	}
	if fsys.opts.Failed != nil {
		fsys.op, fsys.fault = op, fault
	}
	return int64(op.Index) + 1, fault
}

// end reports how the operation begun last returns, with *err, to
// Options.Failed, when it fails or a fault was injected into it. fsys.mu
// must be held, as it has been since the operation began.
func (fsys *FS) end(err *error) {
	if fsys.opts.Failed != nil && (*err != nil || !fsys.fault.IsNone()) {
		fsys.opts.Failed(fsys.op, fsys.fault, *err)
	}
}

func pathError(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// OpenFile opens name with the os.O_* flags, as os.OpenFile does on Linux,
// and refuses the flags engine.CheckOpenFlags refuses. Creating a file is a
// namespace change, durable after SyncDir of its directory; O_TRUNC is a
// size change, durable after File.Sync. A file opened with O_DSYNC or
// O_SYNC makes each write durable before it returns (rule 20); one opened
// with O_APPEND appends (File.Append, rule 21).
func (fsys *FS) OpenFile(name string, flag int, perm fs.FileMode) (engine.File, error) {
	return fsys.openFile(0, name, flag, perm)
}

func (fsys *FS) openFile(owner int, name string, flag int, perm fs.FileMode) (_ engine.File, err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	p := cleanPath(name)
	seq, fault := fsys.begin(Op{Kind: OpOpen, Path: p, Owner: owner})
	if err := fault.err("open", name); err != nil {
		return nil, err
	}
	if err := engine.CheckOpenFlags(name, flag); err != nil {
		return nil, err
	}
	node, err := fsys.open(name, p, flag, perm, seq)
	if err != nil {
		return nil, err
	}
	return &file{fs: fsys, owner: owner, node: node, name: name, path: p, flag: flag}, nil
}

// open does the work of OpenFile and Lock: it finds or creates the inode.
func (fsys *FS) open(name, p string, flag int, perm fs.FileMode, seq int64) (*inode, error) {
	if name == "" {
		return nil, pathError("open", name, syscall.ENOENT)
	}
	parent, last, node, errno := fsys.resolve(p)
	if errno != 0 {
		return nil, pathError("open", name, errno)
	}
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	switch {
	case node != nil && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, pathError("open", name, syscall.EEXIST)
	case node != nil && node.isDir():
		if flag&(os.O_CREATE|os.O_TRUNC) != 0 || acc != os.O_RDONLY {
			return nil, pathError("open", name, syscall.EISDIR)
		}
	case node != nil:
		if flag&os.O_TRUNC != 0 {
			node.data.truncate(0, seq, fsys.owners)
		}
	case flag&os.O_CREATE == 0:
		return nil, pathError("open", name, syscall.ENOENT)
	default:
		fsys.durableBase()
		node = fsys.newChild(parent, perm&fs.ModePerm&^umask, seq)
		parent.link(last, node)
		fsys.record(&metaOp{seq: seq, kind: MetaCreate, dir: parent, name: last, node: node, path: p})
	}
	return node, nil
}

// Remove removes a file or an empty directory, as os.Remove does. It is
// durable after SyncDir of the parent.
func (fsys *FS) Remove(name string) error { return fsys.remove(0, name) }

func (fsys *FS) remove(owner int, name string) (err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	p := cleanPath(name)
	seq, fault := fsys.begin(Op{Kind: OpRemove, Path: p, Owner: owner})
	if err := fault.err("remove", name); err != nil {
		return err
	}
	if name == "" {
		return pathError("remove", name, syscall.ENOENT)
	}
	parent, last, node, errno := fsys.resolve(p)
	switch {
	case errno != 0:
		return pathError("remove", name, errno)
	case node == nil:
		return pathError("remove", name, syscall.ENOENT)
	case parent == nil || node.pinned == pinnedMount:
		return pathError("remove", name, syscall.EBUSY)
	case node.isDir() && len(node.entries) > 0:
		return pathError("remove", name, syscall.ENOTEMPTY)
	}
	fsys.durableBase()
	parent.unlink(last)
	unname(node)
	fsys.record(&metaOp{seq: seq, kind: MetaRemove, dir: parent, name: last, node: node, path: p})
	return nil
}

// Rename renames oldname to newname as os.Rename does on Linux: rename(2),
// except that, like os.Rename, it refuses to replace a directory (EEXIST).
// It is durable after SyncDir of either parent (rule 10), and atomic: a
// crash leaves the old name or the new one (rule 8). A rename from one
// mount to another fails with EXDEV, and of a mount point or a parent of
// one with EBUSY (rule 12).
func (fsys *FS) Rename(oldname, newname string) error { return fsys.renameAs(0, oldname, newname) }

func (fsys *FS) renameAs(owner int, oldname, newname string) (err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	op, np := cleanPath(oldname), cleanPath(newname)
	seq, fault := fsys.begin(Op{Kind: OpRename, Path: op, NewPath: np, Owner: owner})
	if err := fault.wrapped(); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	errno := fsys.rename(oldname, newname, op, np, seq)
	if errno != 0 {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: errno}
	}
	return nil
}

func (fsys *FS) rename(oldname, newname, op, np string, seq int64) syscall.Errno {
	if oldname == "" || newname == "" {
		return syscall.ENOENT
	}
	oldDir, oldLast, oldNode, oldErr := fsys.resolve(op)
	newDir, newLast, newNode, newErr := fsys.resolve(np)
	// os.Rename's own check: it never replaces a directory.
	if newErr == 0 && newNode != nil && newNode.isDir() {
		switch {
		case oldErr != 0:
			return oldErr
		case oldNode == nil:
			return syscall.ENOENT
		case oldname == newname || oldNode != newNode:
			return syscall.EEXIST
		}
		return 0
	}
	switch {
	case oldErr != 0:
		return oldErr
	case newErr != 0:
		return newErr
	case oldDir != nil && newDir != nil && oldDir.mnt != newDir.mnt:
		// rename(2) checks the mounts of the parents before it looks the
		// names up.
		return syscall.EXDEV
	case oldNode == nil:
		return syscall.ENOENT
	case oldDir == nil || oldNode.pinned != unpinned:
		return syscall.EBUSY
	case oldNode.isDir() && (np == op || strings.HasPrefix(np, op+"/")):
		return syscall.EINVAL
	case newNode == oldNode:
		return 0
	case newNode != nil && oldNode.isDir():
		return syscall.ENOTDIR
	}
	fsys.durableBase()
	oldDir.unlink(oldLast)
	newDir.link(newLast, oldNode)
	if newNode != nil {
		unname(newNode)
	}
	fsys.record(&metaOp{seq: seq, kind: MetaRename, dir: oldDir, name: oldLast,
		newDir: newDir, newName: newLast, node: oldNode, path: op, newPath: np})
	if newNode != nil && oldNode.data != nil && oldNode.data.tracked() {
		oldNode.data.replaced = append(oldNode.data.replaced, seq)
	}
	return 0
}

// Link makes newname a new name of the file oldname, as os.Link does on
// Linux (link(2)): both names are the same file. The new name is a
// namespace change of its directory, durable after SyncDir of it, like a
// create (rule 22). It fails with EEXIST if newname exists, EPERM for a
// directory, EXDEV from one mount to another (rule 12); errors are
// *os.LinkError.
func (fsys *FS) Link(oldname, newname string) error { return fsys.linkAs(0, oldname, newname) }

func (fsys *FS) linkAs(owner int, oldname, newname string) (err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	op, np := cleanPath(oldname), cleanPath(newname)
	seq, fault := fsys.begin(Op{Kind: OpLink, Path: op, NewPath: np, Owner: owner})
	if err := fault.wrapped(); err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	if errno := fsys.link(oldname, newname, op, np, seq); errno != 0 {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: errno}
	}
	return nil
}

// link checks in the order of linkat(2): the old name, the new name's
// directory and the new name, the mounts, the kind of file.
func (fsys *FS) link(oldname, newname, op, np string, seq int64) syscall.Errno {
	if oldname == "" || newname == "" {
		return syscall.ENOENT
	}
	_, _, node, errno := fsys.resolve(op)
	switch {
	case errno != 0:
		return errno
	case node == nil:
		return syscall.ENOENT
	}
	dir, last, there, errno := fsys.resolve(np)
	switch {
	case errno != 0:
		return errno
	case there != nil:
		return syscall.EEXIST
	case node.mnt != dir.mnt:
		return syscall.EXDEV
	case node.isDir():
		return syscall.EPERM
	}
	fsys.durableBase()
	dir.link(last, node)
	fsys.linked = true
	fsys.record(&metaOp{seq: seq, kind: MetaLink, dir: dir, name: last, node: node, path: op, newPath: np})
	return 0
}

// MkdirAll creates a directory and any missing parents, as os.MkdirAll
// does. Each new directory is durable after SyncDir of its parent.
func (fsys *FS) MkdirAll(name string, perm fs.FileMode) error { return fsys.mkdirAll(0, name, perm) }

func (fsys *FS) mkdirAll(owner int, name string, perm fs.FileMode) (err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	p := cleanPath(name)
	seq, fault := fsys.begin(Op{Kind: OpMkdir, Path: p, Owner: owner})
	if err := fault.err("mkdir", name); err != nil {
		return err
	}
	if name == "" {
		return pathError("mkdir", name, syscall.ENOENT)
	}
	if _, _, node, errno := fsys.resolve(p); errno == 0 && node != nil {
		if node.isDir() {
			return nil
		}
		return pathError("mkdir", name, syscall.ENOTDIR)
	}
	dir := fsys.root
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		prefix := p[:i]
		last := path.Base(prefix)
		next := dir.entries[last]
		switch {
		case next == nil:
			fsys.durableBase()
			next = fsys.newChild(dir, fs.ModeDir|perm&fs.ModePerm&^umask, seq)
			dir.link(last, next)
			fsys.record(&metaOp{seq: seq, kind: MetaMkdir, dir: dir, name: last, node: next, path: prefix})
		case !next.isDir():
			if !strings.HasPrefix(name, "/") {
				prefix = prefix[1:]
			}
			return pathError("mkdir", prefix, syscall.ENOTDIR)
		}
		dir = next
	}
	return nil
}

// ReadDir lists a directory sorted by name, as os.ReadDir does.
func (fsys *FS) ReadDir(name string) ([]fs.DirEntry, error) { return fsys.readDir(0, name) }

func (fsys *FS) readDir(owner int, name string) (_ []fs.DirEntry, err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	p := cleanPath(name)
	_, fault := fsys.begin(Op{Kind: OpReadDir, Path: p, Owner: owner})
	if err := fault.err("readdir", name); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, pathError("open", name, syscall.ENOENT)
	}
	_, _, node, errno := fsys.resolve(p)
	switch {
	case errno != 0:
		return nil, pathError("open", name, errno)
	case node == nil:
		return nil, pathError("open", name, syscall.ENOENT)
	case !node.isDir():
		return nil, pathError("open", name, syscall.ENOTDIR)
	}
	names := slices.Sorted(maps.Keys(node.entries))
	list := make([]fs.DirEntry, len(names))
	for i, n := range names {
		list[i] = dirEntry{info(n, node.entries[n])}
	}
	return list, nil
}

// Stat describes a file or directory, as os.Stat does.
func (fsys *FS) Stat(name string) (fs.FileInfo, error) { return fsys.stat(0, name) }

func (fsys *FS) stat(owner int, name string) (_ fs.FileInfo, err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	p := cleanPath(name)
	_, fault := fsys.begin(Op{Kind: OpStat, Path: p, Owner: owner})
	if err := fault.err("stat", name); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, pathError("stat", name, syscall.ENOENT)
	}
	_, last, node, errno := fsys.resolve(p)
	switch {
	case errno != 0:
		return nil, pathError("stat", name, errno)
	case node == nil:
		return nil, pathError("stat", name, syscall.ENOENT)
	}
	return info(last, node), nil
}

// SyncDir makes durable every create, remove and rename in the directory
// name (rule 10), as fsync of the directory does. Given a file, it syncs the
// file, as fsync of its descriptor would. On shared memory it makes nothing
// durable (rule 14).
func (fsys *FS) SyncDir(name string) error { return fsys.syncDirAs(0, name) }

func (fsys *FS) syncDirAs(owner int, name string) (err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	p := cleanPath(name)
	seq, fault := fsys.begin(Op{Kind: OpSyncDir, Path: p, Owner: owner})
	if err := fault.err("sync", name); err != nil {
		return err
	}
	if name == "" {
		return pathError("open", name, syscall.ENOENT)
	}
	_, _, node, errno := fsys.resolve(p)
	switch {
	case errno != 0:
		return pathError("open", name, errno)
	case node == nil:
		return pathError("open", name, syscall.ENOENT)
	case node.isDir():
		fsys.syncDir(node)
	default:
		node.data.sync(seq, fsys.owners)
	}
	return nil
}
