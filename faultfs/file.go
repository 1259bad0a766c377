package faultfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"

	"github.com/crashsim/crashsim/engine"
)

// errWriteAtInAppendMode is what os.File.WriteAt returns for a file opened
// with O_APPEND; the text is the same so that a differential test can tell.
var errWriteAtInAppendMode = errors.New("os: invalid use of WriteAt on file opened with O_APPEND")

var errNegativeOffset = errors.New("negative offset")

// file is an open file of an FS. Its checks come in the order of
// os.File's, so that it fails the way os.File does: an empty read or write
// succeeds even on a closed file, as it does on Linux.
type file struct {
	fs     *FS
	owner  int // of the View it was opened through
	node   *inode
	name   string // as opened
	path   string // clean, for the op log
	flag   int
	closed bool
}

var (
	_ engine.File       = (*file)(nil)
	_ engine.Allocator  = (*file)(nil)
	_ engine.Datasyncer = (*file)(nil)
	_ engine.Appender   = (*file)(nil)
)

func (f *file) Name() string { return f.name }

func (f *file) access() int { return f.flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) }

// ReadAt reads len(p) bytes at off from the page cache. At end of file it
// returns io.EOF with the bytes before it.
func (f *file) ReadAt(p []byte, off int64) (_ int, err error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	defer f.fs.end(&err)
	_, fault := f.fs.begin(Op{Kind: OpRead, Owner: f.owner, Path: f.path, Off: off, Len: int64(len(p))})
	if err := fault.err("read", f.name); err != nil {
		return 0, err
	}
	switch {
	case off < 0:
		return 0, pathError("readat", f.name, errNegativeOffset)
	case len(p) == 0:
		return 0, nil
	case f.closed:
		return 0, pathError("read", f.name, fs.ErrClosed)
	case f.node.isDir():
		return 0, pathError("read", f.name, syscall.EISDIR)
	case f.access() == os.O_WRONLY:
		return 0, pathError("read", f.name, syscall.EBADF)
	}
	c := f.node.data
	if off >= c.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), c.size-off))
	c.read(p[:n], off)
	fault.flip(p[:n])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off into the page cache, extending the file if
// needed. Nothing is durable when it returns, unless the file was opened
// with O_DSYNC or O_SYNC: then the range written and the size are (rule
// 20).
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	n, err := f.write(OpWrite, p, off)
	f.fs.end(&err)
	f.fs.mu.Unlock()
	return f.synced(off, n, err)
}

// Append writes p at the end of a file opened with O_APPEND, finding the
// end and writing there as one operation (rule 21), as write(2) does on
// such a file. Nothing is durable when it returns, unless the file was
// opened with O_DSYNC or O_SYNC (rule 20).
func (f *file) Append(p []byte) (int, error) {
	f.fs.mu.Lock()
	off := int64(0)
	if f.node.data != nil {
		off = f.node.data.size
	}
	n, err := f.write(OpAppend, p, off)
	f.fs.end(&err)
	f.fs.mu.Unlock()
	return f.synced(off, n, err)
}

// write is WriteAt (kind OpWrite) or Append (OpAppend) into the page
// cache, in the order of the checks of os.File's WriteAt or Write. fs.mu
// must be held.
func (f *file) write(kind OpKind, p []byte, off int64) (int, error) {
	seq, fault := f.fs.begin(Op{Kind: kind, Owner: f.owner, Path: f.path, Off: off, Len: int64(len(p))})
	if err := fault.err("write", f.name); err != nil {
		return 0, err
	}
	appending := f.flag&os.O_APPEND != 0
	switch {
	case kind == OpWrite && appending:
		return 0, errWriteAtInAppendMode
	case kind == OpAppend && !appending:
		return 0, engine.CheckAppend(f.name, f.flag)
	case kind == OpWrite && off < 0:
		return 0, pathError("writeat", f.name, errNegativeOffset)
	case kind == OpWrite && len(p) == 0:
		return 0, nil // pwrite of nothing succeeds even on a closed file
	case f.closed:
		return 0, pathError("write", f.name, fs.ErrClosed)
	case f.access() == os.O_RDONLY:
		return 0, pathError("write", f.name, syscall.EBADF)
	case len(p) == 0:
		return 0, nil
	case off > maxFileSize-int64(len(p)):
		return 0, pathError("write", f.name, syscall.EFBIG)
	}
	if fault.kind == shortWrite {
		n := len(p) / 2
		if n > 0 {
			f.node.data.write(p[:n], off, seq, f.fs.owners, false)
		}
		return n, pathError("write", f.name, injected(syscall.ENOSPC))
	}
	// On a full file system, the blocks that can be backed are written
	// and the rest is ENOSPC, as os.File reports a short write(2)
	// followed by a failed one (rule 17).
	n := int(f.node.data.backed(off, int64(len(p)), f.fs.room(f.node)))
	if n > 0 {
		f.node.data.write(p[:n], off, seq, f.fs.owners, false)
	}
	if n < len(p) {
		return n, pathError("write", f.name, syscall.ENOSPC)
	}
	return len(p), nil
}

// synced ends a write of n bytes at off that returned err: on a file
// opened with O_DSYNC or O_SYNC, the sync of the bytes written (rule 20),
// before which Options.BeforeWriteSync is called, without the lock, so
// that a simulator may crash between the write and its sync. A failed
// sync is the write's error, with nothing written, as write(2) returns
// it; a short write is synced, and its own error returned.
func (f *file) synced(off int64, n int, werr error) (_ int, err error) {
	if n == 0 || !engine.SyncWrites(f.flag) {
		return n, werr
	}
	op := Op{Kind: OpWriteSync, Owner: f.owner, Path: f.path, Off: off, Len: int64(n)}
	f.fs.mu.Lock()
	hook := f.fs.opts.BeforeWriteSync
	f.fs.mu.Unlock()
	if hook != nil {
		hook(op)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	defer f.fs.end(&err)
	seq, fault := f.fs.begin(op)
	if ferr := fault.err("write", f.name); ferr != nil {
		return 0, ferr
	}
	c := f.node.data
	if fault.kind == syncFailure {
		c.failSyncRange(off, off+int64(n))
		return 0, pathError("write", f.name, injected(syscall.EIO))
	}
	c.syncRange(off, off+int64(n), seq, f.fs.owners)
	return n, werr
}

// Allocate gives every hole of [off, off+n) a block of zeros and grows the
// file to off+n, as fallocate(2) in mode 0 does (rule 16): data in the
// range is unchanged. On a file system with too few free blocks it
// allocates holes in order while blocks last, grows the file over those,
// as ext4 does, and fails with ENOSPC (rule 17). The blocks and the size
// are durable after Sync.
func (f *file) Allocate(off, n int64) (err error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	defer f.fs.end(&err)
	seq, fault := f.fs.begin(Op{Kind: OpAllocate, Owner: f.owner, Path: f.path, Off: off, Len: n})
	if err := fault.err("fallocate", f.name); err != nil {
		return err
	}
	switch {
	case f.closed:
		return pathError("fallocate", f.name, fs.ErrClosed)
	case off < 0 || n <= 0:
		return pathError("fallocate", f.name, syscall.EINVAL)
	case f.access() == os.O_RDONLY:
		return pathError("fallocate", f.name, syscall.EBADF)
	case f.node.isDir():
		return pathError("fallocate", f.name, syscall.EISDIR)
	case off > maxFileSize-n:
		return pathError("fallocate", f.name, syscall.EFBIG)
	}
	if !f.node.data.allocate(off, off+n, f.fs.room(f.node), seq, f.fs.owners) {
		return pathError("fallocate", f.name, syscall.ENOSPC)
	}
	return nil
}

// Sync makes the file's dirty blocks and its size durable, on a disk and on
// persistent memory alike (rule 13); on shared memory it makes nothing
// durable (rule 14). An injected SyncFailure drops them instead, with Linux
// semantics (rule 7). Sync of a directory is SyncDir.
func (f *file) Sync() (err error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	defer f.fs.end(&err)
	seq, fault := f.fs.begin(Op{Kind: OpSync, Owner: f.owner, Path: f.path})
	if err := fault.err("sync", f.name); err != nil {
		return err
	}
	switch {
	case f.closed:
		return pathError("sync", f.name, fs.ErrClosed)
	case f.node.isDir():
		f.fs.syncDir(f.node)
		return nil
	case fault.kind == syncFailure:
		f.node.data.failSync()
		return pathError("sync", f.name, injected(syscall.EIO))
	}
	f.node.data.sync(seq, f.fs.owners)
	return nil
}

// Datasync is fdatasync: it makes the file's data and size durable, as
// Sync does, and the rest of its metadata — here there is none, since
// ModTime is always zero and permissions are set by the create (rule 19).
// Like Sync it makes no name durable, and an injected SyncFailure drops
// what it would have made durable (rule 7).
func (f *file) Datasync() (err error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	defer f.fs.end(&err)
	seq, fault := f.fs.begin(Op{Kind: OpDatasync, Owner: f.owner, Path: f.path})
	if err := fault.err("fdatasync", f.name); err != nil {
		return err
	}
	switch {
	case f.closed:
		return pathError("fdatasync", f.name, fs.ErrClosed)
	case f.node.isDir():
		f.fs.syncDir(f.node)
		return nil
	case fault.kind == syncFailure:
		f.node.data.failSync()
		return pathError("fdatasync", f.name, injected(syscall.EIO))
	}
	f.node.data.sync(seq, f.fs.owners)
	return nil
}

// Truncate changes the size; the new size is durable after Sync.
func (f *file) Truncate(size int64) (err error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	defer f.fs.end(&err)
	seq, fault := f.fs.begin(Op{Kind: OpTruncate, Owner: f.owner, Path: f.path, Off: size})
	if err := fault.err("truncate", f.name); err != nil {
		return err
	}
	switch {
	case f.closed:
		return pathError("truncate", f.name, fs.ErrClosed)
	case size < 0 || f.node.isDir() || f.access() == os.O_RDONLY:
		return pathError("truncate", f.name, syscall.EINVAL)
	case size > maxFileSize:
		return pathError("truncate", f.name, syscall.EFBIG)
	}
	f.node.data.truncate(size, seq, f.fs.owners)
	return nil
}

// Stat describes the file, even after it was removed or renamed; its Name
// is that of the name it was opened with, as with os.File.
func (f *file) Stat() (_ fs.FileInfo, err error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	defer f.fs.end(&err)
	_, fault := f.fs.begin(Op{Kind: OpStat, Owner: f.owner, Path: f.path})
	if err := fault.err("stat", f.name); err != nil {
		return nil, err
	}
	if f.closed {
		return nil, pathError("stat", f.name, fs.ErrClosed)
	}
	return info(path.Base(f.name), f.node), nil
}

// Close releases the file; it makes nothing durable. An injected error is
// returned after the file is closed, as close(2) does.
func (f *file) Close() (err error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	defer f.fs.end(&err)
	_, fault := f.fs.begin(Op{Kind: OpClose, Owner: f.owner, Path: f.path})
	if f.closed {
		return pathError("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return fault.err("close", f.name)
}

// fileInfo is a snapshot of an inode's attributes. ModTime is always the
// zero time, so that runs are deterministic; a directory's size is 0.
type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func info(name string, n *inode) fileInfo {
	fi := fileInfo{name: name, mode: n.mode}
	if n.data != nil {
		fi.size = n.data.size
	}
	return fi
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi fileInfo) Sys() any           { return nil }

// dirEntry is an entry of ReadDir.
type dirEntry struct{ fi fileInfo }

func (d dirEntry) Name() string               { return d.fi.name }
func (d dirEntry) IsDir() bool                { return d.fi.IsDir() }
func (d dirEntry) Type() fs.FileMode          { return d.fi.mode.Type() }
func (d dirEntry) Info() (fs.FileInfo, error) { return d.fi, nil }
