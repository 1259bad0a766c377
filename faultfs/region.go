package faultfs

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"

	"github.com/crashsim/crashsim/engine"
)

// Map maps the first length bytes of f, which must be a file of this FS
// opened O_RDWR (through any View), extending the file with zeros if it is
// shorter (a size change, durable after File.Sync). The Region's medium is
// the file's (rule 12): MappedFile for a disk file, a view of its page
// cache, so that its stores are file writes and file writes show through
// it (rule 6); PMem on a persistent-memory mount (rule 13); SharedMemory on
// a shared-memory mount (rule 14). The Region stays valid after f is closed
// or removed.
func (fsys *FS) Map(f engine.File, length int64) (engine.Region, error) {
	return fsys.mapFile(0, f, length)
}

func (fsys *FS) mapFile(owner int, f engine.File, length int64) (_ engine.Region, err error) {
	ff, ok := f.(*file)
	if !ok || ff.fs != fsys {
		return nil, fmt.Errorf("%w: map of a %T, not a file of this faultfs.FS", engine.ErrNotSupported, f)
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	seq, fault := fsys.begin(Op{Kind: OpMap, Path: ff.path, Len: length, Owner: owner})
	if err := fault.err("map", ff.name); err != nil {
		return nil, err
	}
	switch {
	case ff.access() != os.O_RDWR:
		return nil, fmt.Errorf("%w: map of %s: not opened O_RDWR", engine.ErrNotSupported, ff.name)
	case length <= 0:
		return nil, fmt.Errorf("%w: map of %s: length %d", engine.ErrOutOfRange, ff.name, length)
	case ff.closed:
		return nil, pathError("stat", ff.name, engine.ErrClosed)
	case length > maxFileSize:
		return nil, pathError("truncate", ff.name, syscall.EFBIG)
	}
	if c := ff.node.data; c.size < length {
		c.truncate(length, seq, fsys.owners)
	}
	return &region{fs: fsys, owner: owner, node: ff.node, name: ff.name, path: ff.path, length: length}, nil
}

// region is a mapping of a file of an FS.
type region struct {
	fs      *FS
	owner   int // of the View it was mapped through
	node    *inode
	name    string
	path    string
	length  int64
	flushed []flush // ranges flushed since the last Drain
	closed  bool
}

var _ engine.Region = (*region)(nil)

// Len returns the length of the mapping; 0 after Close, as on the OS.
func (r *region) Len() int64 {
	r.fs.mu.Lock()
	defer r.fs.mu.Unlock()
	if r.closed {
		return 0
	}
	return r.length
}

// Medium is the medium of the file (rule 12), fixed when it was created:
// engine.MappedFile for a disk file, engine.PMem or engine.SharedMemory.
func (r *region) Medium() engine.Medium { return r.node.data.medium }

// enter locks the file system, logs the operation and checks it, in the
// order the OS backend does: fault, Close, the mapping's bounds, the
// alignment of an atomic of size align (0 for others), the end of the file.
// On success the caller holds fs.mu and must unlock it.
func (r *region) enter(kind OpKind, name string, off, n, align int64) (int64, Fault, error) {
	r.fs.mu.Lock()
	seq, fault := r.fs.begin(Op{Kind: kind, Path: r.path, Off: off, Len: n, Owner: r.owner})
	err := fault.err(name, r.name)
	switch {
	case err != nil:
	case r.closed:
		err = fmt.Errorf("%w: %s of region %s", engine.ErrClosed, name, r.name)
	case off < 0 || n < 0 || off > r.length-n:
		err = fmt.Errorf("%w: %s [%d,%d) of %d in %s", engine.ErrOutOfRange, name, off, off+n, r.length, r.name)
	case align > 0 && off%align != 0:
		err = fmt.Errorf("%w: %s at %d in %s", engine.ErrMisaligned, name, off, r.name)
	case kind != OpFlush && off+n > r.node.data.size:
		// Where the OS would raise SIGBUS: the file was cut below the
		// mapping.
		err = fmt.Errorf("%w: %s [%d,%d) beyond the end of %s (%d bytes)", engine.ErrOutOfRange, name, off, off+n, r.name, r.node.data.size)
	}
	if err != nil {
		r.fs.end(&err)
		r.fs.mu.Unlock()
	}
	return seq, fault, err
}

// faults reports whether a load of [off, off+n) faults: on a full file
// system, a page with no block (rule 17). tmpfs allocates a page on a read
// fault, ext4 maps the zero page; a load faults here where tmpfs's would,
// and allocates nothing, as ext4's does, so that a later store still needs
// the block. fs.mu must be held.
func (r *region) faults(off, n int64) bool {
	return r.fs.room(r.node) == 0 && r.node.data.backed(off, n, 0) < n
}

func (r *region) ReadAt(p []byte, off int64) (_ int, err error) {
	_, fault, err := r.enter(OpRegionRead, "read", off, int64(len(p)), 0)
	if err != nil {
		return 0, err
	}
	defer r.fs.mu.Unlock()
	defer r.fs.end(&err)
	if r.faults(off, int64(len(p))) {
		return 0, sigbus("load", off, int64(len(p)), r.name)
	}
	r.node.data.read(p, off)
	fault.flip(p)
	return len(p), nil
}

// View returns a copy of the n bytes at off: only the OS backend can give
// a view without copying.
func (r *region) View(off, n int64) (_ []byte, err error) {
	_, fault, err := r.enter(OpRegionRead, "view", off, n, 0)
	if err != nil {
		return nil, err
	}
	defer r.fs.mu.Unlock()
	defer r.fs.end(&err)
	if r.faults(off, n) {
		return nil, sigbus("load", off, n, r.name)
	}
	p := make([]byte, n)
	r.node.data.read(p, off)
	fault.flip(p)
	return p, nil
}

// WriteAt stores p at off. On a full file system it stores the pages
// that have a block, or get one while free blocks last, up to the first
// that cannot, and fails there with ErrSIGBUS (rule 17).
func (r *region) WriteAt(p []byte, off int64) (_ int, err error) {
	seq, _, err := r.enter(OpRegionWrite, "write", off, int64(len(p)), 0)
	if err != nil {
		return 0, err
	}
	defer r.fs.mu.Unlock()
	defer r.fs.end(&err)
	n := r.node.data.backed(off, int64(len(p)), r.fs.room(r.node))
	if n > 0 {
		r.write(p[:n], off, seq)
	}
	if n < int64(len(p)) {
		return int(n), sigbus("store", off+n, int64(len(p))-n, r.name)
	}
	return len(p), nil
}

// write is a store of the program into the mapping: on persistent memory
// it reaches the media one aligned word at a time, in address order, as
// memcpy stores them (rule 13). fs.mu must be held.
func (r *region) write(p []byte, off, seq int64) {
	c := r.node.data
	c.write(p, off, seq, r.fs.owners, c.medium == engine.PMem)
}

// load and store move an aligned word; fs.mu must be held. A word never
// straddles a block, nor a unit of any granularity (at least 8 bytes), so a
// store is one delta in one unit: failure-atomic.
func (r *region) load(off int64, size int) uint64 {
	var b [8]byte
	r.node.data.read(b[:size], off)
	if size == 4 {
		return uint64(binary.NativeEndian.Uint32(b[:4]))
	}
	return binary.NativeEndian.Uint64(b[:])
}

func (r *region) store(off int64, size int, v uint64, seq int64) {
	var b [8]byte
	if size == 4 {
		binary.NativeEndian.PutUint32(b[:4], uint32(v))
	} else {
		binary.NativeEndian.PutUint64(b[:], v)
	}
	r.write(b[:size], off, seq)
}

func (r *region) loadWord(name string, off int64, size int) (_ uint64, err error) {
	_, fault, err := r.enter(OpRegionRead, name, off, int64(size), int64(size))
	if err != nil {
		return 0, err
	}
	defer r.fs.mu.Unlock()
	defer r.fs.end(&err)
	if r.faults(off, int64(size)) {
		return 0, sigbus(name, off, int64(size), r.name)
	}
	v := r.load(off, size)
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], v)
	fault.flip(b[:size])
	return binary.NativeEndian.Uint64(b[:]), nil
}

func (r *region) Load32(off int64) (uint32, error) {
	v, err := r.loadWord("load32", off, 4)
	return uint32(v), err
}

func (r *region) Load64(off int64) (uint64, error) {
	return r.loadWord("load64", off, 8)
}

// atomic applies fn to the aligned word at off, storing what it returns if
// it says so, and returns the new value. Each is a write access, which
// faults where a store does (rule 17), even a compare-and-swap that stores
// nothing.
func (r *region) atomic(name string, off int64, size int, fn func(old uint64) (uint64, bool)) (_ uint64, _ bool, err error) {
	seq, _, err := r.enter(OpRegionAtomic, name, off, int64(size), int64(size))
	if err != nil {
		return 0, false, err
	}
	defer r.fs.mu.Unlock()
	defer r.fs.end(&err)
	if r.node.data.backed(off, int64(size), r.fs.room(r.node)) < int64(size) {
		return 0, false, sigbus(name, off, int64(size), r.name)
	}
	v, ok := fn(r.load(off, size))
	if ok {
		r.store(off, size, v, seq)
	}
	return v, ok, nil
}

func (r *region) Store32(off int64, v uint32) error {
	_, _, err := r.atomic("store32", off, 4, func(uint64) (uint64, bool) { return uint64(v), true })
	return err
}

func (r *region) Store64(off int64, v uint64) error {
	_, _, err := r.atomic("store64", off, 8, func(uint64) (uint64, bool) { return v, true })
	return err
}

func (r *region) Add32(off int64, delta uint32) (uint32, error) {
	v, _, err := r.atomic("add32", off, 4, func(old uint64) (uint64, bool) {
		return uint64(uint32(old) + delta), true
	})
	return uint32(v), err
}

func (r *region) Add64(off int64, delta uint64) (uint64, error) {
	v, _, err := r.atomic("add64", off, 8, func(old uint64) (uint64, bool) { return old + delta, true })
	return v, err
}

func (r *region) CompareAndSwap32(off int64, old, new uint32) (bool, error) {
	_, ok, err := r.atomic("cas32", off, 4, func(cur uint64) (uint64, bool) {
		return uint64(new), uint32(cur) == old
	})
	return ok, err
}

func (r *region) CompareAndSwap64(off int64, old, new uint64) (bool, error) {
	_, ok, err := r.atomic("cas64", off, 8, func(cur uint64) (uint64, bool) { return new, cur == old })
	return ok, err
}

// Flush remembers the pages (on persistent memory, the 64-byte lines)
// covering [off, off+n) for the next Drain. On shared memory it does
// nothing.
func (r *region) Flush(off, n int64) (err error) {
	seq, _, err := r.enter(OpFlush, "flush", off, n, 0)
	if err != nil {
		return err
	}
	defer r.fs.mu.Unlock()
	defer r.fs.end(&err)
	if n > 0 && !r.node.data.volatile() {
		r.flushed = append(r.flushed, flush{extent{off, off + n}, seq})
	}
	return nil
}

// Drain makes the pages flushed since the last Drain durable with their
// current content, as msync(MS_SYNC) does (rule 6); on persistent memory,
// the flushed lines with the content they had when they were flushed, as a
// store fence after CLWB does (rule 13); on shared
// memory nothing (rule 14). The file's size is not made durable. An
// injected SyncFailure drops them instead (rule 7).
func (r *region) Drain() (err error) {
	r.fs.mu.Lock()
	defer r.fs.mu.Unlock()
	defer r.fs.end(&err)
	seq, fault := r.fs.begin(Op{Kind: OpDrain, Path: r.path, Owner: r.owner})
	if err := fault.err("msync", r.name); err != nil {
		return err
	}
	if r.closed {
		return fmt.Errorf("%w: drain of region %s", engine.ErrClosed, r.name)
	}
	fail := fault.kind == syncFailure
	r.node.data.drain(r.flushed, seq, r.fs.owners, fail)
	r.flushed = nil
	if fail {
		return pathError("msync", r.name, injected(syscall.EIO))
	}
	return nil
}

// Grow extends the mapping, and the file if it is shorter, to length
// bytes.
func (r *region) Grow(length int64) (err error) {
	r.fs.mu.Lock()
	defer r.fs.mu.Unlock()
	defer r.fs.end(&err)
	seq, fault := r.fs.begin(Op{Kind: OpGrow, Path: r.path, Len: length, Owner: r.owner})
	if err := fault.err("grow", r.name); err != nil {
		return err
	}
	if r.closed {
		return fmt.Errorf("%w: grow of region %s", engine.ErrClosed, r.name)
	}
	if length <= r.length {
		return nil
	}
	if length > maxFileSize {
		return pathError("truncate", r.name, syscall.EFBIG)
	}
	if c := r.node.data; c.size < length {
		c.truncate(length, seq, r.fs.owners)
	}
	r.length = length
	return nil
}

// Close unmaps the region; it makes nothing durable, and forgets the pages
// flushed but not drained.
func (r *region) Close() (err error) {
	r.fs.mu.Lock()
	defer r.fs.mu.Unlock()
	defer r.fs.end(&err)
	_, fault := r.fs.begin(Op{Kind: OpUnmap, Path: r.path, Owner: r.owner})
	if r.closed {
		return fmt.Errorf("%w: close of region %s", engine.ErrClosed, r.name)
	}
	r.closed, r.flushed = true, nil
	return fault.err("munmap", r.name)
}
