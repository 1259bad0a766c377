package vec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path"
	"reflect"
	"syscall"
	"unsafe"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/internal/vecbug"
)

// Options configure Create and Open. The zero value (or nil) is a writer
// of data version 0 naming the element type by its Go name.
type Options struct {
	// ReadOnly opens the vector for reading, with a shared lock: any
	// number of readers, in any processes, may have it open at once, and
	// no writer.
	ReadOnly bool
	// DataVersion is the program's version of what the elements mean,
	// for a change that keeps their type (a unit, an encoding). Create
	// records it; Open refuses a file of another data version with
	// ErrVersion. A program that converts the elements in place records
	// the new version with SetDataVersion.
	DataVersion uint64
	// TypeName is the name recorded for the element type; "" is its Go
	// name ("pkg.Point"). Open refuses a file recorded under another
	// name with ErrLayout, so a program that renames or moves the type
	// keeps opening its files by naming the old name here.
	TypeName string
	// Capacity is the room of a new vector, in elements (Create); 0 means
	// a page's worth (at least one element).
	Capacity int

	bug vecbug.Bug // a deliberate protocol mistake, set only by the laboratory
}

func init() {
	vecbug.Set = func(opts any, b vecbug.Bug) { opts.(*Options).bug = b }
}

// Vec is a growable array of T in a mapped file. Its methods are not safe
// for concurrent use when any of them changes the vector, as a Go slice is
// not; reads may run concurrently with each other.
type Vec[T any] struct {
	fsys     engine.FS
	name     string
	file     engine.File
	lock     io.Closer
	r        engine.Region
	elem     *elemType
	esize    int64
	readOnly bool
	bug      vecbug.Bug

	// elems are the capacity's elements, over mem: the data area of the
	// mapping, or a copy of it kept current where the Region's View copies
	// (shadow; see the package doc's Implementation notes).
	elems  []T
	mem    []byte
	shadow bool

	n           int    // the length
	capacity    int    // the elements the mapping holds
	hdr         Header // the newest header written or read: its Seq, Len, Cap and DataVersion are durable
	dataVersion uint64

	// dirtyLo and dirtyHi bound the bytes stored since their last Flush
	// (file offsets; empty when equal); flushed says a Flush waits for
	// its Drain.
	dirtyLo, dirtyHi int64
	flushed          bool

	scratch []uint64 // one element, for Push and Set: an aligned buffer of our own
	hbuf    [slotLen]byte
	broken  error
	closed  bool
}

// Create creates name holding an empty vector of T, with room for
// o.Capacity elements, and opens it as its writer. The file is complete
// and durable, name included, when Create returns; a crash during Create
// leaves no file, or the whole empty vector. It fails with fs.ErrExist if
// name exists, ErrType if T cannot be stored, and ErrNoSpace (wrapping
// ENOSPC) if the file system has no room for the capacity.
func Create[T any](fsys engine.FS, name string, o *Options) (*Vec[T], error) {
	if o == nil {
		o = &Options{}
	}
	e, err := elemOf(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	if o.ReadOnly {
		return nil, fmt.Errorf("%w: Create of a read-only vector", ErrReadOnly)
	}
	elemName, err := e.name(o.TypeName)
	if err != nil {
		return nil, err
	}
	capacity := int64(o.Capacity)
	switch {
	case capacity < 0:
		return nil, fmt.Errorf("%w: capacity %d", ErrRange, capacity)
	case capacity == 0:
		capacity = max(engine.PageSize/e.size, 1)
	}
	size, ok := fileSize(capacity, e.size)
	if !ok {
		return nil, fmt.Errorf("%w: %d elements of %d bytes", ErrNoSpace, capacity, e.size)
	}
	// The vector is built under a temporary name and renamed into place once
	// it is durable, so that a crash during Create leaves no vector rather
	// than half of one.
	f, tmp, err := engine.CreateStaging(fsys, name, 0o644)
	if err != nil {
		return nil, err
	}
	var lock io.Closer
	fail := func(err error) (*Vec[T], error) {
		f.Close()
		if lock != nil {
			lock.Close()
		}
		fsys.Remove(tmp)
		return nil, err
	}
	if lock, err = fsys.Lock(tmp, engine.Exclusive); err != nil {
		return fail(err)
	}
	if err := engine.Allocate(f, 0, size); err != nil {
		return fail(noSpace(err))
	}
	h := Header{Version: Version, ByteOrder: nativeOrder, WordSize: nativeWord, ElemSize: uint64(e.size),
		ElemShape: e.shape, ElemName: elemName, DataVersion: o.DataVersion, Seq: 1, Cap: uint64(capacity)}
	b := make([]byte, headerArea)
	h.Encode(b[slotStride:]) // sequence number 1 in slot 1, 2 in slot 0: both valid
	h.Seq = 2
	h.Encode(b)
	if _, err := f.WriteAt(b, 0); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return fail(err)
	}
	if err := fsys.SyncDir(path.Dir(name)); err != nil {
		f.Close()
		lock.Close()
		return nil, err
	}
	// Map the file under its name, keeping the lock: it is the file's,
	// whatever its name.
	if err := f.Close(); err != nil {
		lock.Close()
		return nil, err
	}
	v := &Vec[T]{fsys: fsys, name: name, lock: lock, elem: e, esize: e.size, bug: o.bug}
	if v.file, err = fsys.OpenFile(name, os.O_RDWR, 0); err == nil {
		err = v.mapFile(h, size)
	}
	if err != nil {
		v.release()
		return nil, err
	}
	return v, nil
}

// Open opens the vector of T in name: as its writer with an exclusive
// lock, or with Options.ReadOnly as a reader with a shared one. It fails
// with ErrLocked when a conflicting lock is held (OpenWait waits instead),
// fs.ErrNotExist when there is no file, ErrType if T cannot be stored,
// and ErrCorrupt, ErrVersion or ErrLayout when the file is not a vector of
// T this program can read (see the errors). A writer's Open allocates the
// file's blocks (ErrNoSpace on a full disk).
//
// After a crash the vector holds the length of the last Sync that
// completed, or of one that was running (see the package doc).
func Open[T any](fsys engine.FS, name string, o *Options) (*Vec[T], error) {
	return open[T](nil, fsys, name, o)
}

// OpenWait is Open that waits, while ctx lasts, for a conflicting lock to
// be released; when ctx ends first it returns an error wrapping ctx.Err().
func OpenWait[T any](ctx context.Context, fsys engine.FS, name string, o *Options) (*Vec[T], error) {
	return open[T](ctx, fsys, name, o)
}

// open is Open, waiting for the lock while ctx lasts if ctx is not nil.
func open[T any](ctx context.Context, fsys engine.FS, name string, o *Options) (*Vec[T], error) {
	if o == nil {
		o = &Options{}
	}
	e, err := elemOf(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	elemName, err := e.name(o.TypeName)
	if err != nil {
		return nil, err
	}
	// Lock would create a missing file.
	if _, err := fsys.Stat(name); err != nil {
		return nil, err
	}
	mode := engine.Exclusive
	if o.ReadOnly {
		mode = engine.Shared
	}
	var lock io.Closer
	if ctx != nil {
		lock, err = engine.WaitLock(ctx, fsys, name, mode)
	} else {
		lock, err = fsys.Lock(name, mode)
	}
	if err != nil {
		return nil, err
	}
	v := &Vec[T]{fsys: fsys, name: name, lock: lock, elem: e, esize: e.size, readOnly: o.ReadOnly, bug: o.bug}
	if err := v.openLocked(elemName, o); err != nil {
		v.release()
		return nil, err
	}
	return v, nil
}

// openLocked reads and checks the header of v.name, under its lock, and
// maps the file.
func (v *Vec[T]) openLocked(elemName string, o *Options) error {
	f, err := v.fsys.OpenFile(v.name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	v.file = f
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size < dataOff {
		return fmt.Errorf("%w: %s: file of %d bytes, shorter than its header", ErrCorrupt, v.name, size)
	}
	b := make([]byte, headerArea)
	if _, err := f.ReadAt(b, 0); err != nil {
		return err
	}
	h, err := readHeader(b)
	if err != nil {
		return fmt.Errorf("%s: %w", v.name, err)
	}
	switch {
	case h.ByteOrder != nativeOrder || h.WordSize != nativeWord:
		return fmt.Errorf("%w: %s: written on a %s machine, this one is %s", ErrLayout, v.name,
			describeMachine(h.ByteOrder, h.WordSize), describeMachine(nativeOrder, nativeWord))
	case h.ElemName != elemName:
		return fmt.Errorf("%w: %s holds elements of type %q, not %q (see Options.TypeName)", ErrLayout, v.name, h.ElemName, elemName)
	case h.ElemSize != uint64(v.esize):
		return fmt.Errorf("%w: %s holds elements of %d bytes, %q has %d", ErrLayout, v.name, h.ElemSize, elemName, v.esize)
	case h.ElemShape != v.elem.shape:
		return fmt.Errorf("%w: %s holds elements of another shape than %q: its fields, kinds or offsets changed", ErrLayout, v.name, elemName)
	case h.DataVersion != o.DataVersion:
		return fmt.Errorf("%w: %s holds data version %d, the program reads %d", ErrVersion, v.name, h.DataVersion, o.DataVersion)
	}
	if end := h.dataEnd(); size < end {
		return fmt.Errorf("%w: %s: file of %d bytes, its capacity of %d elements needs %d", ErrCorrupt, v.name, size, h.Cap, end)
	}
	if int64(int(size)) != size {
		return fmt.Errorf("%w: %s: a file of %d bytes is beyond what this machine maps", ErrNoSpace, v.name, size)
	}
	if !v.readOnly {
		// Before anything touches the mapping: a hole (a file made sparse
		// since) would kill a store with SIGBUS on a full disk.
		if err := engine.Allocate(f, 0, size); err != nil {
			return noSpace(err)
		}
	}
	return v.mapFile(h, size)
}

// mapFile maps the size bytes of v.file, whose newest header is h.
func (v *Vec[T]) mapFile(h Header, size int64) error {
	r, err := v.fsys.Map(v.file, size)
	if err != nil {
		return err
	}
	v.r = r
	if v.shadow, err = viewCopies(r); err != nil {
		return err
	}
	v.hdr, v.dataVersion = h, h.DataVersion
	v.n = int(h.Len)
	v.scratch = make([]uint64, (v.esize+7)/8)
	// The capacity is the header's, even where the file is longer (a
	// growth that failed half-way): only the header's is known durable.
	return v.setView(int64(h.Cap))
}

// viewCopies reports whether the Region's View copies (faultfs, the
// simulator) rather than returning the mapping itself (the OS backend):
// two Views of one range are then two different buffers.
func viewCopies(r engine.Region) (bool, error) {
	a, err := r.View(0, slotLen)
	if err != nil {
		return false, err
	}
	b, err := r.View(0, slotLen)
	if err != nil {
		return false, err
	}
	return &a[0] != &b[0], nil
}

// setView points v.elems at the first capacity elements of the mapping
// (or of a fresh copy of them).
func (v *Vec[T]) setView(capacity int64) error {
	if capacity == 0 {
		v.mem, v.elems, v.capacity = nil, nil, 0
		return nil
	}
	b, err := v.r.View(dataOff, capacity*v.esize)
	if err != nil {
		return err
	}
	if v.shadow {
		// Our own copy, aligned for any T.
		words := make([]uint64, (len(b)+7)/8)
		mem := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(b))
		copy(mem, b)
		b = mem
	}
	v.mem, v.capacity = b, int(capacity)
	v.elems = unsafe.Slice((*T)(unsafe.Pointer(&b[0])), capacity)
	return nil
}

// fileSize returns the size of a file holding capacity elements of esize
// bytes, and false if it cannot be mapped on this machine.
func fileSize(capacity, esize int64) (int64, bool) {
	if capacity < 0 || capacity > (int64(^uint(0)>>1)-dataOff)/esize {
		return 0, false
	}
	return dataOff + capacity*esize, true
}

// noSpace returns err, wrapped in ErrNoSpace if the file system is full.
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// Len returns the number of elements.
func (v *Vec[T]) Len() int { return v.n }

// Cap returns the number of elements the vector holds without growing.
func (v *Vec[T]) Cap() int { return v.capacity }

// At returns element i, or ErrRange if i is not in [0, Len). It takes no
// lock and is small enough to be inlined: a check of i against the
// length and a load from the mapping, as an index of a slice is.
//
// An element wider than a few words is copied out more than once: the
// compiler zeroes and copies the result of an inlined call when it is too
// large for registers. Index View in a loop over such elements.
func (v *Vec[T]) At(i int) (T, error) {
	if uint(i) < uint(v.n) {
		return v.elems[i], nil
	}
	var zero T // only here: a zero value made on every call costs a copy of T
	return zero, &indexError{"At", i, v.n, v.closed}
}

// View returns the elements [0, Len) as a slice of the mapping itself,
// without copying. It is valid until the next growth (an Append, Push,
// Resize or Reserve beyond Cap) or Close, and must not be modified: use
// Set. See the package doc's Caveats.
func (v *Vec[T]) View() []T { return v.elems[:v.n:v.n] }

// All returns an iterator over the indexes and values of the elements, in
// order. The body may change the vector: each step reads the element at
// its index as it is then, up to the length as it is then.
func (v *Vec[T]) All() iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		for i := 0; i < v.n; i++ {
			if !yield(i, v.elems[i]) {
				return
			}
		}
	}
}

// Set replaces element i, which must be in [0, Len). It is durable after
// the next Sync; until then a crash keeps the old value or the new one,
// and on a medium that tears writes smaller than the element (persistent
// memory: 8-byte words) possibly a mix of both (see the package doc).
func (v *Vec[T]) Set(i int, x T) error {
	if err := v.writable("Set"); err != nil {
		return err
	}
	if uint(i) >= uint(v.n) {
		return &indexError{"Set", i, v.n, v.closed}
	}
	return v.store(dataOff+int64(i)*v.esize, v.bytesOf(x))
}

// Push appends x. It is durable after the next Sync.
func (v *Vec[T]) Push(x T) error {
	if err := v.prepare("Push", 1); err != nil {
		return err
	}
	if err := v.store(dataOff+int64(v.n)*v.esize, v.bytesOf(x)); err != nil {
		return err
	}
	v.n++
	return nil
}

// Append appends xs, growing the vector as needed: to twice its capacity,
// or to the length needed if that is more. They are durable after the
// next Sync; a crash before it keeps none of them (see the package doc).
func (v *Vec[T]) Append(xs ...T) error {
	if err := v.prepare("Append", len(xs)); err != nil || len(xs) == 0 {
		return err
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&xs[0])), int64(len(xs))*v.esize)
	if err := v.store(dataOff+int64(v.n)*v.esize, b); err != nil {
		return err
	}
	v.n += len(xs)
	return nil
}

// Pop removes the last element and returns it; ErrRange if there is none.
// The shorter length is durable after the next Sync.
func (v *Vec[T]) Pop() (T, error) {
	var zero T
	if err := v.writable("Pop"); err != nil {
		return zero, err
	}
	if v.n == 0 {
		return zero, fmt.Errorf("%w: Pop of an empty vector %s", ErrRange, v.name)
	}
	v.n--
	return v.elems[v.n], nil
}

// Truncate drops the elements from n on; n must be in [0, Len]. The
// shorter length is durable after the next Sync. The capacity stays.
func (v *Vec[T]) Truncate(n int) error {
	if err := v.writable("Truncate"); err != nil {
		return err
	}
	if n < 0 || n > v.n {
		return fmt.Errorf("%w: Truncate(%d) of a vector of length %d", ErrRange, n, v.n)
	}
	v.n = n
	return nil
}

// Resize sets the length to n: Truncate if n is shorter, else zero
// elements are appended, growing as Append does.
func (v *Vec[T]) Resize(n int) error {
	if n <= v.n {
		if n < 0 && v.writable("Resize") == nil {
			return fmt.Errorf("%w: Resize(%d)", ErrRange, n)
		}
		return v.Truncate(n)
	}
	if err := v.prepare("Resize", n-v.n); err != nil {
		return err
	}
	// The room past the length may hold elements dropped earlier.
	for off, end := dataOff+int64(v.n)*v.esize, dataOff+int64(n)*v.esize; off < end; {
		k := min(end-off, int64(len(zeros)))
		if err := v.store(off, zeros[:k]); err != nil {
			return err
		}
		off += k
	}
	v.n = n
	return nil
}

// zeros are what Resize stores, a chunk at a time.
var zeros = make([]byte, 64<<10)

// Reserve grows the capacity to at least n elements, so that the vector
// reaches length n without a growth (and without invalidating View).
func (v *Vec[T]) Reserve(n int) error {
	if err := v.writable("Reserve"); err != nil {
		return err
	}
	if n <= v.capacity {
		return nil
	}
	return v.grow(n, n)
}

// DataVersion returns the data version of the elements (Options.DataVersion).
func (v *Vec[T]) DataVersion() uint64 { return v.dataVersion }

// SetDataVersion records that the elements now have data version dv, for
// a program that converted them in place. It is durable with the next
// Sync; a crash before it keeps the old version.
func (v *Vec[T]) SetDataVersion(dv uint64) error {
	if err := v.writable("SetDataVersion"); err != nil {
		return err
	}
	v.dataVersion = dv
	return nil
}

// Medium returns the persistence rules of the mapping, which decide what
// Sync costs and what a crash may tear (see the package doc).
func (v *Vec[T]) Medium() engine.Medium { return v.r.Medium() }

// Sync makes the vector durable: the elements stored since the last Sync
// first, then — once they are durable — a header with the length and the
// capacity. When it returns nil, a crash leaves the vector as it is now.
// A crash during it leaves the length of the last Sync or this one, each
// with every element it covers. A failure is fatal: the vector returns
// ErrBroken from then on, and must be opened again.
func (v *Vec[T]) Sync() error {
	if err := v.writable("Sync"); err != nil {
		return err
	}
	if v.bug == vecbug.LengthBeforeData && v.headerStale() {
		if err := v.writeHeader(v.n); err != nil {
			return v.fail(err)
		}
	}
	if err := v.drainData(); err != nil {
		return v.fail(err)
	}
	if v.headerStale() {
		if err := v.writeHeader(v.n); err != nil {
			return v.fail(err)
		}
	}
	return nil
}

// Close makes a writer's vector durable (Sync), then unmaps it and
// releases the file and the lock, whatever Sync returned.
func (v *Vec[T]) Close() error {
	if v.closed {
		return fmt.Errorf("%w: Close of vector %s", ErrClosed, v.name)
	}
	var err error
	if !v.readOnly && v.broken == nil {
		err = v.Sync()
	}
	if rerr := v.release(); err == nil {
		err = rerr
	}
	return err
}

// release unmaps the file and releases it and the lock.
func (v *Vec[T]) release() error {
	var err error
	keep := func(e error) {
		if err == nil {
			err = e
		}
	}
	if v.r != nil {
		keep(v.r.Close())
	}
	if v.file != nil {
		keep(v.file.Close())
	}
	if v.lock != nil {
		keep(v.lock.Close())
	}
	v.closed, v.n, v.capacity, v.elems, v.mem = true, 0, 0, nil, nil
	return err
}

// writable returns why the vector cannot be changed now, if it cannot.
func (v *Vec[T]) writable(op string) error {
	switch {
	case v.closed:
		return fmt.Errorf("%w: %s of vector %s", ErrClosed, op, v.name)
	case v.readOnly:
		return fmt.Errorf("%w: %s of %s", ErrReadOnly, op, v.name)
	case v.broken != nil:
		return fmt.Errorf("%w: %s of %s after %v", ErrBroken, op, v.name, v.broken)
	}
	return nil
}

// fail marks the vector broken by err and returns err.
func (v *Vec[T]) fail(err error) error {
	if v.broken == nil {
		v.broken = err
	}
	return err
}

// indexError is the error of an access to element i of a vector of
// length n that is not in range: ErrRange, or ErrClosed. It is a value
// built where it happens, not a call, so that At stays within the
// inliner's budget.
type indexError struct {
	op     string
	i, n   int
	closed bool
}

func (e *indexError) Error() string {
	if e.closed {
		return fmt.Sprintf("%v: %s of a closed vector", ErrClosed, e.op)
	}
	return fmt.Sprintf("%v: %s(%d) of a vector of length %d", ErrRange, e.op, e.i, e.n)
}

func (e *indexError) Unwrap() error {
	if e.closed {
		return ErrClosed
	}
	return ErrRange
}

// bytesOf copies x into the scratch buffer and returns its bytes: a
// pointer to x itself would escape through the Region's interface and
// cost an allocation per call.
func (v *Vec[T]) bytesOf(x T) []byte {
	p := unsafe.Pointer(&v.scratch[0])
	*(*T)(p) = x
	return unsafe.Slice((*byte)(p), v.esize)
}

// prepare makes room for k more elements: it checks that the vector can
// change, grows it if it must, and — if the length was cut below the
// durable one (Pop, Truncate) — makes the shorter length durable before
// anything is stored past it, so that a crash never shows the old length
// over elements stored since.
func (v *Vec[T]) prepare(op string, k int) error {
	if err := v.writable(op); err != nil {
		return err
	}
	need := v.n + k
	if k < 0 || need < v.n {
		return fmt.Errorf("%w: %s of %d elements to a vector of length %d", ErrNoSpace, op, k, v.n)
	}
	if need > v.capacity {
		if err := v.grow(need, max(need, 2*v.capacity)); err != nil {
			return err
		}
	}
	if k > 0 && uint64(v.n) < v.hdr.Len {
		if err := v.writeHeader(v.n); err != nil {
			return v.fail(err)
		}
	}
	return nil
}

// grow extends the file to room for want elements (at least need) and
// maps it. The new blocks are allocated and the new size is durable
// before the mapping covers them, so that a store there never meets a
// hole (SIGBUS on a full disk) and a header that a later Sync writes
// never covers bytes a crash could cut off. On ErrNoSpace the vector is
// unchanged.
func (v *Vec[T]) grow(need, want int) error {
	size, ok := fileSize(int64(want), v.esize)
	if !ok {
		if size, ok = fileSize(int64(need), v.esize); !ok {
			return fmt.Errorf("%w: %d elements of %d bytes are beyond what this machine maps", ErrNoSpace, need, v.esize)
		}
	}
	if v.bug != vecbug.GrowBeforeExtend {
		// From the end of the capacity, not of the file: a growth that
		// failed half-way may have extended the file without making the
		// extension durable.
		from := dataOff + int64(v.capacity)*v.esize
		if err := engine.Allocate(v.file, from, size-from); err != nil {
			return noSpace(err)
		}
		if err := v.file.Sync(); err != nil {
			return v.fail(err)
		}
	}
	if err := v.r.Grow(size); err != nil {
		return v.fail(err)
	}
	return v.setView((size - dataOff) / v.esize)
}

// store writes b at file offset off, in the mapping (and in the shadow
// copy), and remembers it for the next Sync's Flush.
func (v *Vec[T]) store(off int64, b []byte) error {
	if _, err := v.r.WriteAt(b, off); err != nil {
		// What reached the mapping is unknown.
		return v.fail(err)
	}
	if v.shadow {
		copy(v.mem[off-dataOff:], b)
	}
	end := off + int64(len(b))
	switch {
	case v.dirtyLo == v.dirtyHi:
		v.dirtyLo, v.dirtyHi = off, end
	case off <= v.dirtyHi+engine.PageSize && end >= v.dirtyLo-engine.PageSize:
		// Near enough to write back with the bytes between.
		v.dirtyLo, v.dirtyHi = min(v.dirtyLo, off), max(v.dirtyHi, end)
	default:
		// Far: start the write-back of what came before now, so that
		// one range is all that is remembered. Sync's Drain waits for it.
		if err := v.r.Flush(v.dirtyLo, v.dirtyHi-v.dirtyLo); err != nil {
			return v.fail(err)
		}
		v.flushed = true
		v.dirtyLo, v.dirtyHi = off, end
	}
	return nil
}

// drainData makes every element stored since the last Sync durable.
func (v *Vec[T]) drainData() error {
	if v.dirtyLo != v.dirtyHi {
		if err := v.r.Flush(v.dirtyLo, v.dirtyHi-v.dirtyLo); err != nil {
			return err
		}
		v.flushed = true
		v.dirtyLo, v.dirtyHi = 0, 0
	}
	if !v.flushed {
		return nil
	}
	if err := v.r.Drain(); err != nil {
		return err
	}
	v.flushed = false
	return nil
}

// headerStale reports whether the newest header says something else than
// the vector now does.
func (v *Vec[T]) headerStale() bool {
	return uint64(v.n) != v.hdr.Len || uint64(v.capacity) != v.hdr.Cap || v.dataVersion != v.hdr.DataVersion
}

// writeHeader makes a header with length n durable, in the slot that does
// not hold the newest one.
func (v *Vec[T]) writeHeader(n int) error {
	h := v.hdr
	if v.bug != vecbug.HeaderInPlace {
		h.Seq++
	}
	h.Len, h.Cap, h.DataVersion = uint64(n), uint64(v.capacity), v.dataVersion
	h.Encode(v.hbuf[:])
	off := int64(h.Seq%2) * slotStride
	if _, err := v.r.WriteAt(v.hbuf[:], off); err != nil {
		return err
	}
	if err := engine.Persist(v.r, off, slotLen); err != nil {
		return err
	}
	v.hdr = h
	return nil
}
