package mount

import (
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// node is a file or directory of the mount. It holds no state of its own:
// every request looks its path up on the simulated disk, so the kernel's
// view never outlives the disk's.
type node struct {
	fs.Inode
	m *Mount
}

var (
	_ fs.NodeLookuper  = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeReaddirer = (*node)(nil)
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeRmdirer   = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
	_ fs.NodeLinker    = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
	_ fs.NodeStatfser  = (*node)(nil)
)

// path returns the node's path on the simulated disk.
func (n *node) path() string {
	return path.Join(n.m.root, n.Path(n.Root()))
}

func (n *node) child(name string) string { return path.Join(n.path(), name) }

// fsys returns the file system of the request's caller.
func (n *node) fsys(ctx context.Context) engine.FS {
	pid := 0
	if c, ok := fuse.FromContext(ctx); ok {
		pid = n.m.tgid(int(c.Pid))
	}
	return n.m.procs(pid)
}

// newChild returns the inode of name, a child of n whose file info is fi:
// the one the kernel knows already if it has the same type (the mount's
// own requests are the only ones that change names), else a new one.
func (n *node) newChild(ctx context.Context, name string, fi iofs.FileInfo, out *fuse.EntryOut) *fs.Inode {
	setAttr(&out.Attr, fi)
	mode := uint32(syscall.S_IFREG)
	if fi.IsDir() {
		mode = syscall.S_IFDIR
	}
	if ch := n.GetChild(name); ch != nil && ch.StableAttr().Mode == mode {
		out.Ino = ch.StableAttr().Ino
		return ch
	}
	return n.NewInode(ctx, &node{m: n.m}, fs.StableAttr{Mode: mode})
}

// setAttr fills a FUSE attribute from a file's info on the simulated
// disk, which keeps no owner, times or link count.
func setAttr(a *fuse.Attr, fi iofs.FileInfo) {
	a.Mode = uint32(fi.Mode().Perm())
	if fi.IsDir() {
		a.Mode |= syscall.S_IFDIR
		a.Nlink = 2
	} else {
		a.Mode |= syscall.S_IFREG
		a.Nlink = 1
		a.Size = uint64(fi.Size())
		a.Blocks = (a.Size + 511) / 512
	}
	a.Blksize = engine.PageSize
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	fi, err := n.fsys(ctx).Stat(n.child(name))
	if err != nil {
		return nil, errno(err)
	}
	return n.newChild(ctx, name, fi, out), 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var fi iofs.FileInfo
	var err error
	if h, ok := f.(*handle); ok {
		fi, err = h.f.Stat()
	} else {
		fi, err = n.fsys(ctx).Stat(n.path())
	}
	if err != nil {
		return errno(err)
	}
	setAttr(&out.Attr, fi)
	return 0
}

// Setattr changes a file's size (truncate(2), ftruncate(2), O_TRUNC). A
// mode, an owner or times are accepted and kept nowhere: the simulated
// disk has none of them (faultfs's Implementation notes).
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		if h, ok := f.(*handle); ok {
			if err := h.f.Truncate(int64(size)); err != nil {
				return errno(err)
			}
		} else {
			file, err := n.fsys(ctx).OpenFile(n.path(), os.O_WRONLY, 0)
			if err != nil {
				return errno(err)
			}
			err = file.Truncate(int64(size))
			if cerr := file.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return errno(err)
			}
		}
	}
	return n.Getattr(ctx, f, out)
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ents, err := n.fsys(ctx).ReadDir(n.path())
	if err != nil {
		return nil, errno(err)
	}
	out := make([]fuse.DirEntry, 0, len(ents))
	for _, e := range ents {
		mode := uint32(syscall.S_IFREG)
		if e.IsDir() {
			mode = syscall.S_IFDIR
		}
		out = append(out, fuse.DirEntry{Name: e.Name(), Mode: mode})
	}
	return fs.NewListDirStream(out), 0
}

// openFlags are the open(2) flags the simulated disk is told: every flag
// engine.FS takes (engine.CheckOpenFlags). The others are dropped: O_DIRECT
// (every read and write reaches the disk anyway), O_NOATIME, O_CLOEXEC,
// O_LARGEFILE and the like change nothing the disk keeps.
const openFlags = os.O_RDONLY | os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_EXCL |
	os.O_TRUNC | os.O_APPEND | os.O_SYNC | engine.O_DSYNC

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fl, fsys, p := int(flags)&openFlags, n.fsys(ctx), n.path()
	f, err := fsys.OpenFile(p, fl, 0)
	if err != nil {
		return nil, 0, errno(err)
	}
	return &handle{m: n.m, f: f, fsys: fsys, flags: fl, name: p}, fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	p, fsys := n.child(name), n.fsys(ctx)
	fl := int(flags)&openFlags | os.O_CREATE
	f, err := fsys.OpenFile(p, fl, iofs.FileMode(mode).Perm())
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, errno(err)
	}
	return n.newChild(ctx, name, fi, out), &handle{m: n.m, f: f, fsys: fsys, flags: fl, name: p}, fuse.FOPEN_DIRECT_IO, 0
}

// Mkdir is mkdir(2): EEXIST if the name exists, as engine.FS's MkdirAll
// would not say.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	fsys, p := n.fsys(ctx), n.child(name)
	if _, err := fsys.Stat(p); err == nil {
		return nil, syscall.EEXIST
	}
	if err := fsys.MkdirAll(p, iofs.FileMode(mode).Perm()); err != nil {
		return nil, errno(err)
	}
	fi, err := fsys.Stat(p)
	if err != nil {
		return nil, errno(err)
	}
	return n.newChild(ctx, name, fi, out), 0
}

// Unlink is unlink(2): EISDIR for a directory, which engine.FS's Remove
// would remove.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, name, false)
}

// Rmdir is rmdir(2): ENOTDIR for a file.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, name, true)
}

func (n *node) remove(ctx context.Context, name string, dir bool) syscall.Errno {
	fsys, p := n.fsys(ctx), n.child(name)
	fi, err := fsys.Stat(p)
	switch {
	case err != nil:
		return errno(err)
	case fi.IsDir() && !dir:
		return syscall.EISDIR
	case !fi.IsDir() && dir:
		return syscall.ENOTDIR
	}
	return errno(fsys.Remove(p))
}

// Rename is rename(2) without flags (renameat2's RENAME_NOREPLACE and
// RENAME_EXCHANGE are refused with EINVAL, as a file system that lacks
// them does).
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags != 0 {
		return syscall.EINVAL
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	return errno(n.fsys(ctx).Rename(n.child(name), np.child(newName)))
}

// Link is link(2), through engine.Link.
func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	fsys, p := n.fsys(ctx), n.child(name)
	if err := engine.Link(fsys, t.path(), p); err != nil {
		return nil, errno(err)
	}
	fi, err := fsys.Stat(p)
	if err != nil {
		return nil, errno(err)
	}
	return n.newChild(ctx, name, fi, out), 0
}

// Fsync is fsync(2) of a directory (FUSE's FSYNCDIR): engine.FS's SyncDir.
// A file's goes to its handle (handle.Fsync).
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if h, ok := f.(*handle); ok {
		return h.Fsync(ctx, flags)
	}
	return errno(n.fsys(ctx).SyncDir(n.path()))
}

// Statfs answers statfs(2) with a large, empty file system: the simulated
// disk has no size unless a scenario gives it a capacity.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	out.Bsize, out.Frsize = engine.PageSize, engine.PageSize
	out.Blocks, out.Bfree, out.Bavail = 1<<30, 1<<30, 1<<30
	out.Files, out.Ffree = 1<<20, 1<<20
	out.NameLen = 255
	return 0
}

// handle is a file opened through the mount: its requests go to the file
// the opener's process opened.
type handle struct {
	m     *Mount
	f     engine.File
	fsys  engine.FS // the opener's, whose Lock flock(2) takes
	flags int       // the flags it was opened with, those of openFlags
	name  string

	mu   sync.Mutex
	lock io.Closer // the flock(2) lock held through this handle
}

var (
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileFsyncer   = (*handle)(nil)
	_ fs.FileReleaser  = (*handle)(nil)
	_ fs.FileAllocater = (*handle)(nil)
	_ fs.FileGetattrer = (*handle)(nil)
	_ fs.FileSetlker   = (*handle)(nil)
	_ fs.FileSetlkwer  = (*handle)(nil)
	_ fs.FileGetlker   = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.f.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Write is write(2) and pwrite(2). On a file opened with O_APPEND it is
// engine.Append, at the end of the file as the simulated disk knows it
// (faultfs rule 21); the kernel's offset, its own idea of the end, is not
// used.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	var n int
	var err error
	if h.flags&os.O_APPEND != 0 {
		n, err = engine.Append(h.f, data)
	} else {
		n, err = h.f.WriteAt(data, off)
	}
	if err != nil && n == 0 {
		return 0, errno(err)
	}
	return uint32(n), 0
}

// Fsync is fsync(2), or fdatasync(2) when flags has FUSE_FSYNC_FDATASYNC.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if flags&1 != 0 { // FUSE_FSYNC_FDATASYNC
		return errno(engine.Datasync(h.f))
	}
	return errno(h.f.Sync())
}

// Release is the kernel's word that the last descriptor of the open file
// is closed. It comes after close(2) returned, while the caller goes on,
// so the simulated file is closed only when the mount closes (Mount.Close),
// where its close in the trace does not move from run to run. A flock the
// file still held is released here, as the kernel releases it.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if h.lock != nil {
		h.lock.Close()
		h.lock = nil
	}
	h.mu.Unlock()
	h.m.released(h.f)
	return 0
}

// Allocate is fallocate(2) in mode 0 (posix_fallocate), engine.Allocate;
// other modes (FALLOC_FL_KEEP_SIZE, PUNCH_HOLE, …) are refused with
// EOPNOTSUPP, as a file system that lacks them does.
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	if mode != 0 {
		return syscall.EOPNOTSUPP
	}
	return errno(engine.Allocate(h.f, int64(off), int64(size)))
}

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	fi, err := h.f.Stat()
	if err != nil {
		return errno(err)
	}
	setAttr(&out.Attr, fi)
	return 0
}

// Setlk is flock(2) with LOCK_NB (flags has FUSE_LK_FLOCK): the simulated
// disk's Lock of the file's name, EWOULDBLOCK when another handle holds
// it; otherwise fcntl(2)'s F_SETLK, a record lock of the lock owner
// (setRecord).
func (h *handle) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	if flags&fuse.FUSE_LK_FLOCK == 0 {
		return h.setRecord(ctx, owner, lk, false)
	}
	return h.setlk(ctx, lk, false)
}

// Setlkw is flock(2) that waits (engine.WaitLock), or fcntl's F_SETLKW,
// until the lock is free or the caller is interrupted.
func (h *handle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	if flags&fuse.FUSE_LK_FLOCK == 0 {
		return h.setRecord(ctx, owner, lk, true)
	}
	return h.setlk(ctx, lk, true)
}

func (h *handle) setlk(ctx context.Context, lk *fuse.FileLock, wait bool) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if lk.Typ == syscall.F_UNLCK {
		if h.lock != nil {
			err := h.lock.Close()
			h.lock = nil
			return errno(err)
		}
		return 0
	}
	mode := engine.Exclusive
	if lk.Typ == syscall.F_RDLCK {
		mode = engine.Shared
	}
	if h.lock != nil { // flock(2) converts a lock it holds: drop it first
		h.lock.Close()
		h.lock = nil
	}
	fsys := h.fsys
	var l io.Closer
	var err error
	if wait {
		l, err = engine.WaitLock(ctx, fsys, h.name, mode)
	} else {
		l, err = fsys.Lock(h.name, mode)
	}
	if err != nil {
		return errno(err)
	}
	h.lock = l
	return 0
}

// recordRetry is how long F_SETLKW waits before it looks again at a
// record lock that was taken.
const recordRetry = time.Millisecond

// recordLocker returns the record locks of the request's caller, a
// process (thread group), and the process; ENOLCK if its file system
// has none.
func (h *handle) recordLocker(ctx context.Context) (faultfs.RecordLocker, int, syscall.Errno) {
	pid := 0
	if c, ok := fuse.FromContext(ctx); ok {
		pid = h.m.tgid(int(c.Pid))
	}
	rl, ok := h.m.procs(pid).(faultfs.RecordLocker)
	if !ok {
		return nil, pid, syscall.ENOLCK
	}
	return rl, pid, 0
}

// setRecord is F_SETLK (F_SETLKW with wait): owner, the kernel's lock
// owner, sets or removes its record lock over lk's range as the caller's
// process. The lock carries the pid the kernel gave (the caller's
// process), which F_GETLK reports. A wait asks TestRecordLock, which the
// trace does not show, until the range is free, and only then sets the
// lock: the trace has one setlk however long it waited.
func (h *handle) setRecord(ctx context.Context, owner uint64, lk *fuse.FileLock, wait bool) syscall.Errno {
	rl, pid, e := h.recordLocker(ctx)
	if e != 0 {
		return e
	}
	start, end, e := recordRange(lk)
	if e != 0 {
		return e
	}
	if lk.Typ == syscall.F_UNLCK {
		return errno(rl.RecordUnlock(h.name, owner, start, end))
	}
	holder := pid
	if lk.Pid != 0 {
		holder = int(lk.Pid)
	}
	l := faultfs.RecordLock{Owner: owner, Pid: holder, Start: start, End: end, Exclusive: lk.Typ == syscall.F_WRLCK}
	var t *time.Timer
	for {
		_, busy, err := rl.TestRecordLock(h.name, l)
		if err != nil {
			return errno(err)
		}
		if !busy || !wait {
			err = rl.RecordLock(h.name, l)
			if err == nil {
				h.m.heldRecord(h.name, owner, pid)
			}
			if err == nil || !wait || !errors.Is(err, engine.ErrLocked) {
				return errno(err)
			}
		}
		if t == nil {
			t = time.NewTimer(recordRetry)
			defer t.Stop()
		} else {
			t.Reset(recordRetry)
		}
		select {
		case <-ctx.Done():
			return syscall.EINTR
		case <-t.C:
		}
	}
}

// Getlk is fcntl's F_GETLK: the first lock of another owner that conflicts
// with lk, with its holder's pid, or F_UNLCK when lk could be set. flock
// has no such query.
func (h *handle) Getlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	rl, _, e := h.recordLocker(ctx)
	if e != 0 {
		return e
	}
	start, end, e := recordRange(lk)
	if e != 0 {
		return e
	}
	c, busy, err := rl.TestRecordLock(h.name, faultfs.RecordLock{Owner: owner, Start: start, End: end, Exclusive: lk.Typ == syscall.F_WRLCK})
	if err != nil {
		return errno(err)
	}
	*out = *lk
	if !busy {
		out.Typ = syscall.F_UNLCK
		return 0
	}
	out.Start, out.End, out.Pid = uint64(c.Start), uint64(c.End), uint32(c.Pid)
	out.Typ = syscall.F_RDLCK
	if c.Exclusive {
		out.Typ = syscall.F_WRLCK
	}
	return 0
}

// recordRange is lk's range as a record lock's: the kernel sends the end
// included, OFFSET_MAX (faultfs.RecordEOF) for "to the end of the file".
func recordRange(lk *fuse.FileLock) (start, end int64, e syscall.Errno) {
	if lk.Start > faultfs.RecordEOF || lk.End > faultfs.RecordEOF || lk.End < lk.Start {
		return 0, 0, syscall.EINVAL
	}
	return int64(lk.Start), int64(lk.End), 0
}

// Flush is the kernel's word that a process closed a descriptor of the
// file (close(2), or its exit): as POSIX says, that releases every record
// lock the process holds on the file, through whichever descriptor it set
// them. The kernel leaves this to the file system (it sends no unlock).
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	pid := 0
	if c, ok := fuse.FromContext(ctx); ok {
		pid = h.m.tgid(int(c.Pid))
	}
	owners := h.m.releaseRecords(h.name, pid)
	if len(owners) == 0 {
		return 0
	}
	rl, ok := h.m.procs(pid).(faultfs.RecordLocker)
	if !ok {
		return 0
	}
	for _, o := range owners {
		// A killed process's calls fail, but its locks are gone already.
		rl.RecordUnlock(h.name, o, 0, faultfs.RecordEOF)
	}
	return 0
}

// errno turns an error of the simulated disk into the errno a system call
// returns: the one it wraps, or for the laboratory's own errors the errno
// that says the same (a killed process's calls fail with EIO).
func errno(err error) syscall.Errno {
	var e syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e
	case errors.Is(err, engine.ErrLocked):
		return syscall.EWOULDBLOCK
	case errors.Is(err, engine.ErrNotSupported):
		return syscall.EOPNOTSUPP
	case errors.Is(err, iofs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, iofs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, iofs.ErrPermission):
		return syscall.EACCES
	}
	return syscall.EIO
}
