package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// Map maps the first length bytes of f, which must be a File of OSFS opened
// O_RDWR, extending the file if it is shorter. The medium is chosen here,
// once, in this order:
//
//  1. OSFS.Medium, or PMEM_IS_PMEM_FORCE=1 for PMem: an ordinary MAP_SHARED
//     mapping given that medium's rules, whatever the file system.
//  2. A file on tmpfs (statfs magic TMPFS_MAGIC, as /dev/shm): SharedMemory;
//     Flush and Drain do nothing, since nothing on tmpfs survives a power
//     failure and a process crash loses no store. RequireDAX refuses it.
//  3. MAP_SHARED_VALIDATE|MAP_SYNC: PMem. The kernel grants it only on a
//     DAX file system, where stores reach the media without the page cache,
//     so cache-line flushes are enough.
//  4. Otherwise (the kernel says EOPNOTSUPP, or EINVAL if it predates
//     MAP_SHARED_VALIDATE): an ordinary MAP_SHARED mapping, MappedFile, whose
//     Drain msyncs the pages Flush remembered; or, with RequireDAX, an error
//     wrapping ErrNotSupported.
//
// The Region keeps a descriptor of its own for Grow, so f may be closed
// after Map.
func (fsys OSFS) Map(f File, length int64) (Region, error) {
	of, ok := f.(*osFile)
	if !ok {
		return nil, fmt.Errorf("%w: map of a %T, not a File of OSFS", ErrNotSupported, f)
	}
	if !of.writable() {
		return nil, fmt.Errorf("%w: map of %s: not opened O_RDWR", ErrNotSupported, of.Name())
	}
	if length <= 0 || int64(int(length)) != length {
		return nil, fmt.Errorf("%w: map of %s: length %d", ErrOutOfRange, of.Name(), length)
	}
	fi, err := of.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < length {
		if err := of.Truncate(length); err != nil {
			return nil, err
		}
	}
	file, err := dupFile(of.File)
	if err != nil {
		return nil, err
	}
	r := &osRegion{name: of.Name(), file: file}
	if err := r.mapFile(fsys, length); err != nil {
		file.Close()
		return nil, err
	}
	return r, nil
}

// dupFile returns a new descriptor for the open file of f, so that the
// mapping can be grown after the caller closes f.
func dupFile(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	cerr := rc.Control(func(s uintptr) {
		fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	})
	if cerr != nil {
		return nil, &fs.PathError{Op: "dup", Path: f.Name(), Err: cerr}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "dup", Path: f.Name(), Err: err}
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// mapFile makes the first mapping of r.file and picks r.medium (see Map).
func (r *osRegion) mapFile(fsys OSFS, length int64) error {
	fd := int(r.file.Fd())
	shared := func(m Medium) error {
		data, err := mmap.MapRegion(r.file, int(length), mmap.RDWR, 0, 0)
		if err != nil {
			return &fs.PathError{Op: "mmap", Path: r.name, Err: err}
		}
		r.data, r.medium = data, m
		return nil
	}
	switch {
	case fsys.Medium == PMem || os.Getenv("PMEM_IS_PMEM_FORCE") == "1":
		return shared(PMem)
	case fsys.RequireDAX && fsys.Medium != 0:
		return fmt.Errorf("%w: map of %s: RequireDAX with Medium %v", ErrNotSupported, r.name, fsys.Medium)
	case fsys.Medium == MappedFile || fsys.Medium == SharedMemory:
		return shared(fsys.Medium)
	case fsys.Medium != 0:
		return fmt.Errorf("%w: map of %s: unknown medium %v", ErrNotSupported, r.name, fsys.Medium)
	}
	tmpfs, err := isTmpfs(fd)
	if err != nil {
		return &fs.PathError{Op: "statfs", Path: r.name, Err: err}
	}
	if tmpfs {
		if fsys.RequireDAX {
			return fmt.Errorf("%w: map of %s: tmpfs is not persistent memory", ErrNotSupported, r.name)
		}
		return shared(SharedMemory)
	}
	data, err := mmapSync(fd, int(length))
	switch {
	case err == nil:
		r.data, r.medium = data, PMem
		return nil
	case !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL):
		return &fs.PathError{Op: "mmap", Path: r.name, Err: err}
	case fsys.RequireDAX:
		return fmt.Errorf("%w: map of %s: no DAX (MAP_SYNC: %v)", ErrNotSupported, r.name, err)
	}
	return shared(MappedFile)
}

// osRegion is a Region of OSFS.
//
// mu guards the mapping itself: every method that touches data holds it for
// reading, and Grow and Close, which unmap, hold it for writing. That makes a
// use racing with Close return ErrClosed instead of touching memory that may
// already belong to another mapping. Reading an RWMutex costs two atomic
// adds, small next to a cache-line flush.
type osRegion struct {
	name   string
	medium Medium

	mu     sync.RWMutex
	data   mmap.MMap // nil after Close
	file   *os.File  // our own descriptor, for Grow
	closed atomic.Bool

	// Flush ranges waiting for Drain (MappedFile, and PMem without cache
	// flush instructions). dirtyMu is held across msync so that a Drain
	// does not return while another goroutine's Drain is still writing back
	// pages this one's Flush asked for.
	dirtyMu sync.Mutex
	dirty   pageRanges
}

var (
	_ Region  = (*osRegion)(nil)
	_ Batcher = (*osRegion)(nil)
)

func (r *osRegion) Len() int64 {
	r.mu.RLock()
	n := len(r.data)
	r.mu.RUnlock()
	return int64(n)
}

func (r *osRegion) Medium() Medium { return r.medium }

// inRange reports whether [off, off+n) is inside the mapping, which is
// still there. r.mu must be held. It is small enough to inline, and the
// errors are built out of line by errRange.
func (r *osRegion) inRange(off, n int64) bool {
	// As unsigned numbers, negative offsets and lengths are out of range.
	l := uint64(len(r.data))
	return uint64(off) <= l && uint64(n) <= l-uint64(off) && r.data != nil
}

// errRange returns the error for a use of [off, off+n) by op that is not
// inRange.
func (r *osRegion) errRange(op string, off, n int64) error {
	if r.data == nil {
		return r.errClosed(op)
	}
	return fmt.Errorf("%w: %s [%d,%d) of %d in %s", ErrOutOfRange, op, off, off+n, len(r.data), r.name)
}

func (r *osRegion) errClosed(op string) error {
	return fmt.Errorf("%w: %s of region %s", ErrClosed, op, r.name)
}

// word returns a pointer to the aligned size-byte word at off. r.mu must be
// held.
func (r *osRegion) word(op string, off, size int64) (unsafe.Pointer, error) {
	if !r.inRange(off, size) {
		return nil, r.errRange(op, off, size)
	}
	if off%size != 0 {
		return nil, fmt.Errorf("%w: %s at %d in %s", ErrMisaligned, op, off, r.name)
	}
	// The mapping is page-aligned, so an aligned offset is an aligned
	// address.
	return unsafe.Pointer(&r.data[off]), nil
}

func (r *osRegion) ReadAt(p []byte, off int64) (int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.inRange(off, int64(len(p))) {
		return 0, r.errRange("read", off, int64(len(p)))
	}
	return copy(p, r.data[off:]), nil
}

func (r *osRegion) View(off, n int64) ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.inRange(off, n) {
		return nil, r.errRange("view", off, n)
	}
	return r.data[off : off+n : off+n], nil
}

func (r *osRegion) WriteAt(p []byte, off int64) (int, error) {
	r.mu.RLock()
	if !r.inRange(off, int64(len(p))) {
		r.mu.RUnlock()
		return 0, r.errRange("write", off, int64(len(p)))
	}
	n := copy(r.data[off:], p)
	r.mu.RUnlock()
	return n, nil
}

func (r *osRegion) Load32(off int64) (uint32, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.word("load32", off, 4)
	if err != nil {
		return 0, err
	}
	return atomic.LoadUint32((*uint32)(p)), nil
}

func (r *osRegion) Load64(off int64) (uint64, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.word("load64", off, 8)
	if err != nil {
		return 0, err
	}
	return atomic.LoadUint64((*uint64)(p)), nil
}

func (r *osRegion) Store32(off int64, v uint32) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.word("store32", off, 4)
	if err != nil {
		return err
	}
	atomic.StoreUint32((*uint32)(p), v)
	return nil
}

func (r *osRegion) Store64(off int64, v uint64) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.word("store64", off, 8)
	if err != nil {
		return err
	}
	atomic.StoreUint64((*uint64)(p), v)
	return nil
}

func (r *osRegion) Add32(off int64, delta uint32) (uint32, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.word("add32", off, 4)
	if err != nil {
		return 0, err
	}
	return atomic.AddUint32((*uint32)(p), delta), nil
}

func (r *osRegion) Add64(off int64, delta uint64) (uint64, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.word("add64", off, 8)
	if err != nil {
		return 0, err
	}
	return atomic.AddUint64((*uint64)(p), delta), nil
}

func (r *osRegion) CompareAndSwap32(off int64, old, new uint32) (bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.word("cas32", off, 4)
	if err != nil {
		return false, err
	}
	return atomic.CompareAndSwapUint32((*uint32)(p), old, new), nil
}

func (r *osRegion) CompareAndSwap64(off int64, old, new uint64) (bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.word("cas64", off, 8)
	if err != nil {
		return false, err
	}
	return atomic.CompareAndSwapUint64((*uint64)(p), old, new), nil
}

func (r *osRegion) Flush(off, n int64) error {
	r.mu.RLock()
	if !r.inRange(off, n) {
		r.mu.RUnlock()
		return r.errRange("flush", off, n)
	}
	r.flushLocked(off, n)
	r.mu.RUnlock()
	return nil
}

// flushLocked is Flush of a range in the mapping; r.mu is held.
func (r *osRegion) flushLocked(off, n int64) {
	switch {
	case n == 0 || r.medium == SharedMemory:
	case r.medium == PMem && cacheFlush:
		flushLines(unsafe.Pointer(&r.data[off]), uintptr(n))
	default:
		r.dirtyMu.Lock()
		r.dirty.add(off, off+n)
		r.dirtyMu.Unlock()
	}
}

// ApplyBatch makes the steps of b under one read lock of the mapping
// (engine.Batcher): each as its own call would, in order, the same
// checks and errors.
func (r *osRegion) ApplyBatch(b *Batch) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i := range b.steps {
		s := &b.steps[i]
		switch s.kind {
		case batchWrite:
			if !r.inRange(s.off, int64(len(s.p))) {
				return r.errRange("write", s.off, int64(len(s.p)))
			}
			copy(r.data[s.off:], s.p)
		case batchStore64:
			p, err := r.word("store64", s.off, 8)
			if err != nil {
				return err
			}
			atomic.StoreUint64((*uint64)(p), s.v)
		case batchFlush:
			n := int64(s.v)
			if !r.inRange(s.off, n) {
				return r.errRange("flush", s.off, n)
			}
			r.flushLocked(s.off, n)
		}
	}
	return nil
}

// Persist is Flush then Drain in one step (engine.Persister). On the msync
// media, when no earlier Flush left a range to drain, it msyncs the pages of
// [off, off+n) directly rather than through the remembered-range set.
func (r *osRegion) Persist(off, n int64) error {
	r.mu.RLock()
	if !r.inRange(off, n) {
		r.mu.RUnlock()
		return r.errRange("persist", off, n)
	}
	switch {
	case n == 0 || r.medium == SharedMemory:
		r.mu.RUnlock()
		return nil
	case r.medium == PMem && cacheFlush:
		flushLines(unsafe.Pointer(&r.data[off]), uintptr(n))
		r.mu.RUnlock()
		sfence()
		return nil
	}
	r.dirtyMu.Lock()
	if len(r.dirty.spans) != 0 {
		r.dirtyMu.Unlock()
		r.mu.RUnlock()
		if err := r.Flush(off, n); err != nil {
			return err
		}
		return r.Drain()
	}
	// dirtyMu is held across msync for the reason Drain holds it.
	err := unix.Msync(r.data[off&^(PageSize-1):off+n], unix.MS_SYNC)
	r.dirtyMu.Unlock()
	r.mu.RUnlock()
	if err != nil {
		return &fs.PathError{Op: "msync", Path: r.name, Err: err}
	}
	return nil
}

// Drain on PMem is a fence only, and needs no lock: SFENCE touches no
// mapped memory. It orders the flushes of the calling goroutine; a Flush in
// another goroutine that happens before this Drain is ordered too, because a
// Go happens-before edge is a locked instruction on amd64 (and Flush ends
// with one, in RUnlock), which orders CLWB and CLFLUSHOPT like SFENCE does.
func (r *osRegion) Drain() error {
	if r.medium == PMem && cacheFlush {
		if r.closed.Load() {
			return r.errClosed("drain")
		}
		sfence()
		return nil
	}
	return r.msyncDirty()
}

// msyncDirty is Drain for the media that msync, out of line so that the
// PMem path of Drain pays for none of its defers.
func (r *osRegion) msyncDirty() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.data == nil {
		return r.errClosed("drain")
	}
	if r.medium == SharedMemory {
		return nil
	}
	r.dirtyMu.Lock()
	defer r.dirtyMu.Unlock()
	// Every range is dropped, synced or not: after a failed msync Linux
	// has dropped the dirty pages too, and a retry would report a success
	// that is not one (see File.Sync).
	defer r.dirty.clear()
	for _, s := range r.dirty.spans {
		end := min(s.end, int64(len(r.data)))
		if err := unix.Msync(r.data[s.start:end], unix.MS_SYNC); err != nil {
			return &fs.PathError{Op: "msync", Path: r.name, Err: err}
		}
	}
	return nil
}

// Grow extends the file if it is shorter than length, then moves the
// mapping with mremap (or maps anew), which keeps the flags of the first
// mapping and so its medium. The remembered dirty ranges are offsets and
// stay valid.
func (r *osRegion) Grow(length int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data == nil {
		return r.errClosed("grow")
	}
	if length <= int64(len(r.data)) {
		return nil
	}
	if int64(int(length)) != length {
		return fmt.Errorf("%w: grow of %s to %d", ErrOutOfRange, r.name, length)
	}
	fi, err := r.file.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < length {
		if err := r.file.Truncate(length); err != nil {
			return err
		}
	}
	data, err := remap(r.data, r.file, int(length))
	if err != nil {
		return &fs.PathError{Op: "mremap", Path: r.name, Err: err}
	}
	r.data = data
	return nil
}

func (r *osRegion) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data == nil {
		return r.errClosed("close")
	}
	r.closed.Store(true)
	err := r.data.Unmap()
	if cerr := r.file.Close(); err == nil {
		err = cerr
	}
	r.data, r.file = nil, nil
	if err != nil {
		return &fs.PathError{Op: "munmap", Path: r.name, Err: err}
	}
	return nil
}

// pageRanges is the set of pages Flush asked to write back, as sorted,
// disjoint, non-adjacent [start, end) spans of page-aligned offsets.
// Touching spans are merged, so a writer that appends keeps one span and
// Drain makes one msync call.
type pageRanges struct {
	spans []pageSpan
}

type pageSpan struct{ start, end int64 }

// add inserts the pages covering [off, end), end > off.
func (s *pageRanges) add(off, end int64) {
	lo := off &^ (PageSize - 1)
	hi := (end + PageSize - 1) &^ (PageSize - 1)
	sp := s.spans
	// i: the first span that ends at or after lo, so may touch [lo, hi).
	i, j := 0, len(sp)
	if j > 0 && sp[j-1].end < lo {
		i = j // the common case of an append beyond every span
	}
	for i < j {
		h := int(uint(i+j) >> 1)
		if sp[h].end < lo {
			i = h + 1
		} else {
			j = h
		}
	}
	// [i, j): the spans that touch [lo, hi), merged into one.
	for j = i; j < len(sp) && sp[j].start <= hi; j++ {
		lo, hi = min(lo, sp[j].start), max(hi, sp[j].end)
	}
	switch {
	case i == j:
		sp = append(sp, pageSpan{})
		copy(sp[i+1:], sp[i:])
		sp[i] = pageSpan{lo, hi}
	default:
		sp[i] = pageSpan{lo, hi}
		sp = append(sp[:i+1], sp[j:]...)
	}
	s.spans = sp
}

func (s *pageRanges) clear() { s.spans = s.spans[:0] }
