package faultfs

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"syscall"

	"github.com/crashsim/crashsim/engine"
)

// Wrap returns fsys with the faults inj injects (docs/DESIGN.md F3), as
// Pebble's errorfs wraps any vfs.FS: the OS backend, so that an
// integration test on real files injects faults too, or any other
// engine.FS. Each operation through it, and through the files, regions and
// locks opened through it, is numbered and shown to inj as an Op before it
// reaches fsys; Path is the name given, cleaned (path.Clean), so a PathGlob
// of the test's directory matches it.
//
// A fault is what it is on an FS of this package, as far as the storage
// underneath allows: an Error fails the operation before fsys sees it (a
// Close, unlock or unmap is done first, as close(2) does), with the error
// an FS of this package returns; a ShortWrite writes the first half of the
// bytes through fsys and fails with ENOSPC; a BitFlip flips a bit of what a
// read returns. A SyncFailure fails File.Sync, Datasync or Region.Drain
// with EIO without calling it — but real storage cannot be made to drop
// the pages: they stay dirty, and a later Sync may write them, where Linux
// would have dropped them. Rule 7, the data a failed fsync loses, is this
// package's FS's alone, and so is the sync that ends a write to a file
// opened with O_DSYNC or O_SYNC (an OpWriteSync): through Wrap such a
// write is one OpWrite.
//
// The returned FS, its files and its regions have every optional power of
// the storage layer (Linker, Allocator, Datasyncer, Appender), each done by
// the helper of package engine on what fsys returned. Map takes only files
// opened through the wrapper.
func Wrap(fsys engine.FS, inj Injector) engine.FS {
	return &injecting{fs: fsys, inj: inj}
}

// injecting is the FS Wrap returns.
type injecting struct {
	fs   engine.FS
	inj  Injector
	mu   sync.Mutex // numbers operations and serializes the injector
	next uint64
}

var (
	_ engine.FS     = (*injecting)(nil)
	_ engine.Linker = (*injecting)(nil)
)

// ask numbers op and returns the fault to inject into it, if it applies.
func (w *injecting) ask(op Op) Fault {
	w.mu.Lock()
	defer w.mu.Unlock()
	op.Index = w.next
	w.next++
	if w.inj == nil {
		return Fault{}
	}
	f := w.inj.MaybeInject(op)
	if !f.appliesTo(op.Kind) {
		return Fault{}
	}
	return f
}

func clean(name string) string {
	if name == "" {
		return ""
	}
	return path.Clean(name)
}

func (w *injecting) OpenFile(name string, flag int, perm fs.FileMode) (engine.File, error) {
	if err := w.ask(Op{Kind: OpOpen, Path: clean(name)}).err("open", name); err != nil {
		return nil, err
	}
	f, err := w.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injectingFile{w: w, f: f, path: clean(name)}, nil
}

func (w *injecting) Remove(name string) error {
	if err := w.ask(Op{Kind: OpRemove, Path: clean(name)}).err("remove", name); err != nil {
		return err
	}
	return w.fs.Remove(name)
}

func (w *injecting) Rename(oldname, newname string) error {
	if err := w.ask(Op{Kind: OpRename, Path: clean(oldname), NewPath: clean(newname)}).wrapped(); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return w.fs.Rename(oldname, newname)
}

func (w *injecting) Link(oldname, newname string) error {
	if err := w.ask(Op{Kind: OpLink, Path: clean(oldname), NewPath: clean(newname)}).wrapped(); err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	return engine.Link(w.fs, oldname, newname)
}

func (w *injecting) MkdirAll(name string, perm fs.FileMode) error {
	if err := w.ask(Op{Kind: OpMkdir, Path: clean(name)}).err("mkdir", name); err != nil {
		return err
	}
	return w.fs.MkdirAll(name, perm)
}

func (w *injecting) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := w.ask(Op{Kind: OpReadDir, Path: clean(name)}).err("readdir", name); err != nil {
		return nil, err
	}
	return w.fs.ReadDir(name)
}

func (w *injecting) Stat(name string) (fs.FileInfo, error) {
	if err := w.ask(Op{Kind: OpStat, Path: clean(name)}).err("stat", name); err != nil {
		return nil, err
	}
	return w.fs.Stat(name)
}

func (w *injecting) SyncDir(name string) error {
	if err := w.ask(Op{Kind: OpSyncDir, Path: clean(name)}).err("sync", name); err != nil {
		return err
	}
	return w.fs.SyncDir(name)
}

func (w *injecting) Lock(name string, mode engine.LockMode) (io.Closer, error) {
	if err := w.ask(Op{Kind: OpLock, Path: clean(name)}).err("lock", name); err != nil {
		return nil, err
	}
	l, err := w.fs.Lock(name, mode)
	if err != nil {
		return nil, err
	}
	return &injectingLock{w: w, l: l, name: name, path: clean(name)}, nil
}

func (w *injecting) Map(f engine.File, length int64) (engine.Region, error) {
	wf, ok := f.(*injectingFile)
	if !ok || wf.w != w {
		return nil, fmt.Errorf("%w: map of a %T, not a file of this faultfs.Wrap", engine.ErrNotSupported, f)
	}
	if err := w.ask(Op{Kind: OpMap, Path: wf.path, Len: length}).err("map", f.Name()); err != nil {
		return nil, err
	}
	r, err := w.fs.Map(wf.f, length)
	if err != nil {
		return nil, err
	}
	return &injectingRegion{w: w, r: r, name: f.Name(), path: wf.path}, nil
}

// injectingLock is a lock taken through Wrap.
type injectingLock struct {
	w          *injecting
	l          io.Closer
	name, path string
}

func (l *injectingLock) Close() error {
	fault := l.w.ask(Op{Kind: OpUnlock, Path: l.path})
	if err := l.l.Close(); err != nil {
		return err
	}
	return fault.err("unlock", l.name)
}

// injectingFile is a file opened through Wrap.
type injectingFile struct {
	w    *injecting
	f    engine.File
	path string
}

var (
	_ engine.File       = (*injectingFile)(nil)
	_ engine.Allocator  = (*injectingFile)(nil)
	_ engine.Datasyncer = (*injectingFile)(nil)
	_ engine.Appender   = (*injectingFile)(nil)
)

func (f *injectingFile) Name() string { return f.f.Name() }

func (f *injectingFile) ReadAt(p []byte, off int64) (int, error) {
	fault := f.w.ask(Op{Kind: OpRead, Path: f.path, Off: off, Len: int64(len(p))})
	if err := fault.err("read", f.Name()); err != nil {
		return 0, err
	}
	n, err := f.f.ReadAt(p, off)
	fault.flip(p[:n])
	return n, err
}

func (f *injectingFile) WriteAt(p []byte, off int64) (int, error) {
	fault := f.w.ask(Op{Kind: OpWrite, Path: f.path, Off: off, Len: int64(len(p))})
	return f.write(fault, p, func(p []byte) (int, error) { return f.f.WriteAt(p, off) })
}

func (f *injectingFile) Append(p []byte) (int, error) {
	// Where it lands is the underlying file's business: Off is 0.
	fault := f.w.ask(Op{Kind: OpAppend, Path: f.path, Len: int64(len(p))})
	return f.write(fault, p, func(p []byte) (int, error) { return engine.Append(f.f, p) })
}

// write does a write or an append with its fault.
func (f *injectingFile) write(fault Fault, p []byte, do func([]byte) (int, error)) (int, error) {
	if err := fault.err("write", f.Name()); err != nil {
		return 0, err
	}
	if fault.kind != shortWrite {
		return do(p)
	}
	n, err := do(p[:len(p)/2])
	if err != nil {
		return n, err
	}
	return n, pathError("write", f.Name(), injected(syscall.ENOSPC))
}

func (f *injectingFile) Sync() error {
	fault := f.w.ask(Op{Kind: OpSync, Path: f.path})
	if err := f.syncFault(fault, "sync"); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *injectingFile) Datasync() error {
	fault := f.w.ask(Op{Kind: OpDatasync, Path: f.path})
	if err := f.syncFault(fault, "fdatasync"); err != nil {
		return err
	}
	return engine.Datasync(f.f)
}

// syncFault is the error of a sync's fault, nil if none: a SyncFailure
// fails it with EIO without syncing (see Wrap).
func (f *injectingFile) syncFault(fault Fault, op string) error {
	if fault.kind == syncFailure {
		return pathError(op, f.Name(), injected(syscall.EIO))
	}
	return fault.err(op, f.Name())
}

func (f *injectingFile) Truncate(size int64) error {
	if err := f.w.ask(Op{Kind: OpTruncate, Path: f.path, Off: size}).err("truncate", f.Name()); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *injectingFile) Allocate(off, n int64) error {
	if err := f.w.ask(Op{Kind: OpAllocate, Path: f.path, Off: off, Len: n}).err("fallocate", f.Name()); err != nil {
		return err
	}
	return engine.Allocate(f.f, off, n)
}

func (f *injectingFile) Stat() (fs.FileInfo, error) {
	if err := f.w.ask(Op{Kind: OpStat, Path: f.path}).err("stat", f.Name()); err != nil {
		return nil, err
	}
	return f.f.Stat()
}

func (f *injectingFile) Close() error {
	fault := f.w.ask(Op{Kind: OpClose, Path: f.path})
	if err := f.f.Close(); err != nil {
		return err
	}
	return fault.err("close", f.Name())
}

// injectingRegion is a mapping made through Wrap.
type injectingRegion struct {
	w          *injecting
	r          engine.Region
	name, path string
}

var _ engine.Region = (*injectingRegion)(nil)

func (r *injectingRegion) Len() int64            { return r.r.Len() }
func (r *injectingRegion) Medium() engine.Medium { return r.r.Medium() }

func (r *injectingRegion) ask(kind OpKind, off, n int64) Fault {
	return r.w.ask(Op{Kind: kind, Path: r.path, Off: off, Len: n})
}

func (r *injectingRegion) ReadAt(p []byte, off int64) (int, error) {
	fault := r.ask(OpRegionRead, off, int64(len(p)))
	if err := fault.err("read", r.name); err != nil {
		return 0, err
	}
	n, err := r.r.ReadAt(p, off)
	fault.flip(p[:n])
	return n, err
}

func (r *injectingRegion) View(off, n int64) ([]byte, error) {
	fault := r.ask(OpRegionRead, off, n)
	if err := fault.err("view", r.name); err != nil {
		return nil, err
	}
	v, err := r.r.View(off, n)
	if fault.kind == bitFlip && err == nil {
		v = append([]byte(nil), v...) // a view may be the mapping itself: flip a copy
		fault.flip(v)
	}
	return v, err
}

// load is Load32 or Load64 of size bytes, with a bit flip in the value.
func (r *injectingRegion) load(name string, off int64, size int, do func() (uint64, error)) (uint64, error) {
	fault := r.ask(OpRegionRead, off, int64(size))
	if err := fault.err(name, r.name); err != nil {
		return 0, err
	}
	v, err := do()
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], v)
	fault.flip(b[:size])
	return binary.NativeEndian.Uint64(b[:]), err
}

func (r *injectingRegion) Load32(off int64) (uint32, error) {
	v, err := r.load("load32", off, 4, func() (uint64, error) { v, err := r.r.Load32(off); return uint64(v), err })
	return uint32(v), err
}

func (r *injectingRegion) Load64(off int64) (uint64, error) {
	return r.load("load64", off, 8, func() (uint64, error) { return r.r.Load64(off) })
}

func (r *injectingRegion) WriteAt(p []byte, off int64) (int, error) {
	if err := r.ask(OpRegionWrite, off, int64(len(p))).err("write", r.name); err != nil {
		return 0, err
	}
	return r.r.WriteAt(p, off)
}

// atomic asks about a state-changing atomic of size bytes at off.
func (r *injectingRegion) atomic(name string, off int64, size int64) error {
	return r.ask(OpRegionAtomic, off, size).err(name, r.name)
}

func (r *injectingRegion) Store32(off int64, v uint32) error {
	if err := r.atomic("store32", off, 4); err != nil {
		return err
	}
	return r.r.Store32(off, v)
}

func (r *injectingRegion) Store64(off int64, v uint64) error {
	if err := r.atomic("store64", off, 8); err != nil {
		return err
	}
	return r.r.Store64(off, v)
}

func (r *injectingRegion) Add32(off int64, delta uint32) (uint32, error) {
	if err := r.atomic("add32", off, 4); err != nil {
		return 0, err
	}
	return r.r.Add32(off, delta)
}

func (r *injectingRegion) Add64(off int64, delta uint64) (uint64, error) {
	if err := r.atomic("add64", off, 8); err != nil {
		return 0, err
	}
	return r.r.Add64(off, delta)
}

func (r *injectingRegion) CompareAndSwap32(off int64, old, new uint32) (bool, error) {
	if err := r.atomic("cas32", off, 4); err != nil {
		return false, err
	}
	return r.r.CompareAndSwap32(off, old, new)
}

func (r *injectingRegion) CompareAndSwap64(off int64, old, new uint64) (bool, error) {
	if err := r.atomic("cas64", off, 8); err != nil {
		return false, err
	}
	return r.r.CompareAndSwap64(off, old, new)
}

func (r *injectingRegion) Flush(off, n int64) error {
	if err := r.ask(OpFlush, off, n).err("flush", r.name); err != nil {
		return err
	}
	return r.r.Flush(off, n)
}

func (r *injectingRegion) Drain() error {
	fault := r.ask(OpDrain, 0, 0)
	if fault.kind == syncFailure {
		return pathError("msync", r.name, injected(syscall.EIO))
	}
	if err := fault.err("msync", r.name); err != nil {
		return err
	}
	return r.r.Drain()
}

func (r *injectingRegion) Grow(length int64) error {
	if err := r.ask(OpGrow, 0, length).err("grow", r.name); err != nil {
		return err
	}
	return r.r.Grow(length)
}

func (r *injectingRegion) Close() error {
	fault := r.ask(OpUnmap, 0, 0)
	if err := r.r.Close(); err != nil {
		return err
	}
	return fault.err("munmap", r.name)
}
