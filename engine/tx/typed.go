package tx

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/internal/txbug"
)

// Pool is a pool file holding a root object of type Root. Tag is a type
// the program declares for this pool (an empty struct), and every pointer
// into the pool carries it in its type: a pointer of one pool cannot be
// stored in another pool's objects, because Go will not compile it.
//
// A Pool is safe for concurrent use: Updates run one at a time, Views
// concurrently with each other and with an Update.
type Pool[Tag, Root any] struct {
	c *pool
	// txs are the Tx handles the next Updates get (newTx); the writer's
	// lock guards them.
	txs []Tx[Tag]
}

// Tx is a transaction of a pool of Tag: an Update's, which reads its own
// writes, or a View's, which only reads. It is valid only until the
// function it was given to returns.
type Tx[Tag any] struct {
	t   *txn
	gen uint64
	ro  bool // a View nested in an Update: reads the Update's writes, writes nothing
}

func (p *pool) tagType() reflect.Type { return p.tag }

// Create creates a pool file name of o.Size bytes whose root is a zero
// Root, of the layout o.Layout and o.Version, and opens it as its writer.
// It fails if name exists. The pool is built under a temporary name and
// renamed into place once durable, so a crash during Create leaves no
// pool.
func Create[Tag, Root any](fsys engine.FS, name string, o *Options) (*Pool[Tag, Root], error) {
	opts, tag, spec, err := prepare[Tag, Root](o)
	if err != nil {
		return nil, err
	}
	c, err := createPool(fsys, name, opts, spec, tag)
	if err != nil {
		return nil, err
	}
	return newPool[Tag, Root](c)
}

// Open opens the pool file name, which must have the layout of Root,
// o.Layout and o.Version (see Options.Layout), or an older version that
// o.Upgrades take to it. A writer (the default) takes the pool's lock —
// ErrLocked if another writer has it — rolls back a transaction that a
// crash interrupted, and runs the upgrades the pool needs; a reader
// (o.ReadOnly) takes no lock and upgrades nothing. Open checks the
// header, the log, the layout and the heap metadata, and returns
// ErrCorrupt, ErrVersion, ErrLayout or ErrLayoutVersion rather than use
// what it does not understand.
func Open[Tag, Root any](fsys engine.FS, name string, o *Options) (*Pool[Tag, Root], error) {
	opts, tag, spec, err := prepare[Tag, Root](o)
	if err != nil {
		return nil, err
	}
	c, err := openPool(fsys, name, opts, spec, tag)
	if err != nil {
		return nil, err
	}
	return newPool[Tag, Root](c)
}

// prepare checks that Root may be stored in a pool of Tag, and the
// options' layout and upgrades, and returns the options, the tag's type
// and the layout asked for.
func prepare[Tag, Root any](o *Options) (opts Options, tag reflect.Type, spec *layoutSpec, err error) {
	if o != nil {
		opts = *o
	}
	tag = reflect.TypeFor[Tag]()
	probe := &pool{tag: tag, types: map[typeKey]*layout{}}
	root := reflect.TypeFor[Root]()
	if _, err := probe.layoutOf(root); err != nil {
		return opts, nil, nil, err
	}
	spec, err = newLayoutSpec(probe, root, opts)
	return opts, tag, spec, err
}

func newPool[Tag, Root any](c *pool) (*Pool[Tag, Root], error) {
	l, err := c.layoutOf(reflect.TypeFor[Root]())
	if err != nil {
		c.release()
		return nil, err
	}
	c.rootL = l
	return &Pool[Tag, Root]{c: c}, nil
}

// Root returns the pointer to the root object.
func (p *Pool[Tag, Root]) Root() Ptr[Tag, Root] { return Ptr[Tag, Root]{v: p.c.ptr(p.c.root)} }

// Info describes the pool and what opening it found.
func (p *Pool[Tag, Root]) Info() Info { return p.c.info }

// Close closes the pool: a writer waits for the running Update, retires
// the log and clears the unclean flag, durably; Views in progress finish
// first.
func (p *Pool[Tag, Root]) Close() error { return p.c.close() }

// Update runs fn in a transaction and commits it if fn returns nil: every
// change fn made is then durable, together. If fn returns an error or
// panics, the transaction aborts and nothing it did remains; the error is
// returned, the panic goes on. A crash at any point leaves the pool as it
// was before the transaction or, once Update returned nil, after it.
//
// Updates run one at a time, so fn must not call the pool's Update (it
// would wait for itself, as in bbolt): code that takes part in a running
// transaction takes the *Tx as an argument, and nests with tx.Update, which
// flattens the nested transaction into this one.
func (p *Pool[Tag, Root]) Update(fn func(tx *Tx[Tag]) error) error {
	c := p.c
	if c.readOnly {
		return fmt.Errorf("%w: Update of %s, opened read-only", ErrReadOnly, c.name)
	}
	c.writerMu.Lock()
	defer c.writerMu.Unlock()
	if c.closed.Load() {
		return fmt.Errorf("%w: pool %s", ErrClosed, c.name)
	}
	if c.broken != nil {
		return c.broken
	}
	return c.update(func(gen uint64) error { return fn(p.newTx(gen)) })
}

// newTx returns a new Tx for an Update. No Tx is ever reused, so that one
// kept past its function stays invalid; carving them from blocks of 64
// costs one allocation per 64 Updates instead of one per Update. The
// caller holds the writer's lock.
func (p *Pool[Tag, Root]) newTx(gen uint64) *Tx[Tag] {
	if len(p.txs) == 0 {
		p.txs = make([]Tx[Tag], 64)
	}
	tx := &p.txs[0]
	p.txs = p.txs[1:]
	*tx = Tx[Tag]{t: p.c.wtx, gen: gen}
	return tx
}

// View runs fn in a read-only transaction. It sees the pool as some
// committed transaction left it, whole — never a transaction in progress,
// never a torn object — however many Views and Updates run beside it, in
// this process or others. Inside an Update, tx.View reads the Update's
// writes; the pool's View reads only what is committed.
//
// A View in a pool opened read-only runs beside writers of other
// processes optimistically: if a writer changed something while fn read,
// fn is run again from the start, so it must not have effects it cannot
// repeat.
func (p *Pool[Tag, Root]) View(fn func(tx *Tx[Tag]) error) error {
	c := p.c
	if c.opts.bug != txbug.ViewUnlocked {
		c.applyMu.RLock()
		defer c.applyMu.RUnlock()
	}
	if c.closed.Load() {
		return fmt.Errorf("%w: pool %s", ErrClosed, c.name)
	}
	t := c.viewTxn()
	defer c.putViewTxn(t)
	for attempt := 0; ; attempt++ {
		if t.validate {
			v, err := c.waitVersion(attempt)
			if err != nil {
				return err
			}
			if err := c.checkLayoutWord(); err != nil {
				return err
			}
			t.version = v
		}
		err, again := t.runView(func(gen uint64) error { return fn(&Tx[Tag]{t: t, gen: gen}) })
		if !again {
			return err
		}
	}
}

// Check verifies the pool: the heap's metadata against its index, and
// every object reachable from the root (see alloc.Heap.Check: leaks,
// double allocations, overlaps, reference counts, pointers out of range
// or of another pool), with the package's own structures — maps against
// their index and count, vectors' capacities and headers, blobs' headers,
// reference-counted objects' identities — and every borrowed pointer at
// a value of its type. It waits for the running Update. In a read-only
// pool it checks a snapshot of the heap.
func (p *Pool[Tag, Root]) Check() error { return p.c.check() }

// Stats returns the usage and fragmentation of the pool's heap; it waits
// for the running Update.
func (p *Pool[Tag, Root]) Stats() (Stats, error) { return p.c.stats() }

// update runs one Update's function and commits or aborts it.
func (c *pool) update(call func(gen uint64) error) (err error) {
	t := c.wtx
	t.mu.Lock()
	t.begin()
	t.gen++
	gen := t.gen
	t.mu.Unlock()
	done := false
	defer func() {
		if !done { // fn panicked: abort, and let the panic go on
			t.end()
			c.abort()
		}
	}()
	err = call(gen)
	done = true
	t.end()
	if err == nil {
		err = t.doomed
	}
	if err != nil {
		c.abort()
		return err
	}
	if err := t.commit(); err != nil {
		c.abort()
		return err
	}
	c.heap.Commit()
	if t.wake {
		c.unlocked()
	}
	if c.opts.Strict {
		if err := c.checkLocked(); err != nil {
			panic(fmt.Sprintf("tx: strict mode: %v", err))
		}
	}
	return nil
}

// nested runs an Update's function inside the running one.
func (c *pool) nested(call func(gen uint64) error) error {
	t := c.wtx
	err := call(t.gen)
	if err != nil {
		t.mu.Lock()
		if t.doomed == nil {
			t.doomed = err
		}
		t.mu.Unlock()
	}
	return err
}

func (t *txn) end() {
	t.mu.Lock()
	t.over = true
	t.mu.Unlock()
}

func (c *pool) abort() {
	c.heap.Abort()
	t := c.wtx
	t.ents, t.data, t.fresh = t.ents[:0], t.data[:0], t.fresh[:0]
}

var viewTxns sync.Pool

func (c *pool) viewTxn() *txn {
	t, _ := viewTxns.Get().(*txn)
	if t == nil {
		t = &txn{}
	}
	t.p, t.validate, t.over = c, c.readOnly, false
	t.gen++
	return t
}

func (c *pool) putViewTxn(t *txn) {
	t.mu.Lock()
	t.over = true
	t.p = nil
	t.mu.Unlock()
	if cap(t.scratch) <= 64<<10 {
		viewTxns.Put(t)
	}
}

// runView runs a View's function once; again says a writer of another
// process disturbed it, and whatever fn returned is to be thrown away.
func (t *txn) runView(call func(gen uint64) error) (err error, again bool) {
	t.mu.Lock()
	t.over = false
	t.conflicted = false
	t.gen++
	gen := t.gen
	t.mu.Unlock()
	err = call(gen)
	t.mu.Lock()
	t.over = true
	again = t.conflicted
	t.mu.Unlock()
	return err, again
}

// waitVersion waits until no writer is changing the pool in place and
// returns the version word. A version that stays odd belongs to a writer
// that died in the middle of a commit: once no writer holds the lock, the
// reader recovers the pool itself.
func (c *pool) waitVersion(attempt int) (uint64, error) {
	start := time.Now()
	for spins := 0; ; spins++ {
		v, err := c.r.Load64(versionOff)
		if err != nil {
			return 0, err
		}
		if v&1 == 0 {
			return v, nil
		}
		switch {
		case spins < 64 && attempt < 4:
			runtime.Gosched()
		case time.Since(start) > 50*time.Millisecond:
			if err := c.recoverIfAbandoned(); err != nil {
				return 0, err
			}
			start = time.Now()
		default:
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// enter begins an operation of a Tx: it takes the transaction's lock and
// checks that the transaction is still running.
func (tx *Tx[Tag]) enter() (*txn, error) {
	if tx == nil || tx.t == nil {
		return nil, errTxDone
	}
	t := tx.t
	t.mu.Lock()
	if t.over || t.gen != tx.gen {
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: the transaction is over", ErrClosed)
	}
	return t, nil
}

// writable is enter for an operation that writes.
func (tx *Tx[Tag]) writable() (*txn, error) {
	t, err := tx.enter()
	if err != nil {
		return nil, err
	}
	if !t.writable || tx.ro {
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: write in a View", ErrReadOnly)
	}
	return t, nil
}

// Writable reports whether the transaction may write: it is an Update's.
func (tx *Tx[Tag]) Writable() bool {
	return tx != nil && tx.t != nil && tx.t.writable && !tx.ro
}

// Update runs fn as part of this transaction (nested transactions are
// flattened): an error from fn is returned, and makes the whole
// transaction abort when its outermost function returns.
func (tx *Tx[Tag]) Update(fn func(tx *Tx[Tag]) error) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	t.mu.Unlock()
	return t.p.nested(func(uint64) error { return fn(tx) })
}

// View runs fn with a read-only handle on this transaction: it reads what
// the transaction wrote, and writes nothing. It lets code that only reads
// take a Tx that cannot write.
func (tx *Tx[Tag]) View(fn func(tx *Tx[Tag]) error) error {
	t, err := tx.enter()
	if err != nil {
		return err
	}
	t.mu.Unlock()
	return fn(&Tx[Tag]{t: t, gen: tx.gen, ro: true})
}

// check validates that n bytes at off may be read (write says written) by
// the transaction: in an Update, inside an object allocated as the
// transaction sees the heap, and not borrowed by Modify; in a View, inside
// the pool's heap and its file (inFile), so that no length read from the
// pool sizes a buffer larger than the file.
func (t *txn) check(off, n int64) error {
	p := t.p
	if !t.writable {
		if off < p.hdr.HeapOff || n < 0 || off+n < off || (!p.readOnly && off+n > p.length.Load()) {
			return fmt.Errorf("%w: [%d,%d) is outside the pool's heap", ErrPointer, off, off+n)
		}
		if p.readOnly {
			return t.inFile(off, n)
		}
		return nil
	}
	start, size, err := p.heap.Block(off)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPointer, err)
	}
	if n > start+size-off {
		return fmt.Errorf("%w: an object of %d bytes at %d does not fit its block [%d,%d)", ErrPointer, n, off, start, start+size)
	}
	if len(t.borrows) > 0 {
		return t.errBorrowed(off, n)
	}
	return nil
}

// load reads the value at pointer v into dst.
func (t *txn) load(v uint64, dst []byte) error {
	off, err := t.p.offset(v)
	if err != nil {
		return err
	}
	if err := t.check(off, int64(len(dst))); err != nil {
		return err
	}
	return t.readAt(dst, off)
}

// store writes src at pointer v.
func (t *txn) store(v uint64, src []byte) error {
	off, err := t.p.offset(v)
	if err != nil {
		return err
	}
	if err := t.check(off, int64(len(src))); err != nil {
		return err
	}
	t.stage(src, off, t.isFresh(off, int64(len(src))))
	return nil
}

// alloc allocates a block of n bytes in the transaction.
func (t *txn) alloc(n int64) (int64, int64, error) {
	off, usable, err := t.p.heap.Alloc(t, max(n, 1))
	if err != nil {
		return 0, 0, err
	}
	t.addFresh(off, usable)
	return off, usable, nil
}

// free frees the block at off in the transaction. Nothing the
// transaction wrote in the block needs to reach the pool, and its writes
// there are dropped: a redo log (format 6, redo.go) must hold no range in
// memory that is free once it committed, which a later transaction may
// allocate and write before recovery replays the log.
func (t *txn) free(off int64) error {
	_, size, _ := t.p.heap.Block(off)
	if err := t.p.heap.Free(t, off); err != nil {
		return fmt.Errorf("%w: %w", ErrPointer, err)
	}
	t.freed = append(t.freed, logRange{off, size})
	if i := t.freshIndex(off); i >= 0 {
		// Memory the transaction allocated and frees.
		f := t.fresh[i]
		t.fresh = append(t.fresh[:i], t.fresh[i+1:]...)
		t.dropWrites(f.off, f.n)
	} else {
		t.dropWrites(off, size)
	}
	return nil
}

// valueBytes is the memory of *v as bytes: how values are copied in and
// out of the pool. Types are checked to hold no Go pointers before any
// value of theirs is copied.
func valueBytes[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// Ptr is a persistent pointer to a T in a pool of Tag: an offset in the
// pool (with the pool's identity in its high bits), never a Go pointer.
// It owns nothing: Box, Rc and Arc own what they point to, and a Ptr
// borrows, pointing into an object something else keeps alive — a whole
// object (Box.Ptr) or a field of one (Field). Through a Ptr a transaction
// reads and writes the value in place: it is Corundum's cell.
type Ptr[Tag, T any] struct {
	v uint64
}

func (Ptr[Tag, T]) persistentRef() (refKind, reflect.Type, reflect.Type) {
	return refPtr, reflect.TypeFor[T](), reflect.TypeFor[Tag]()
}

// IsNil reports whether p points nowhere.
func (p Ptr[Tag, T]) IsNil() bool { return p.v == 0 }

// Offset returns the offset of the pointed-to value in the pool file.
func (p Ptr[Tag, T]) Offset() int64 { return int64(p.v & offsetMask) }

func (p Ptr[Tag, T]) String() string {
	if p.v == 0 {
		return "nil"
	}
	return fmt.Sprintf("%v@%d", reflect.TypeFor[T](), p.Offset())
}

// Get returns a copy of the value p points to, as the transaction sees it.
// A Checked value in it that fails its checksum is ErrCorrupt.
func (p Ptr[Tag, T]) Get(tx *Tx[Tag]) (T, error) {
	var v T
	t, err := tx.enter()
	if err != nil {
		return v, err
	}
	err = t.loadValue(p.v, valueBytes(&v), reflect.TypeFor[T]())
	t.mu.Unlock()
	return v, err
}

// Set replaces the value p points to in the transaction, which must be an
// Update's.
func (p Ptr[Tag, T]) Set(tx *Tx[Tag], v T) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	err = t.store(p.v, t.p.sealed(reflect.TypeFor[T](), valueBytes(&v)))
	t.mu.Unlock()
	return err
}

// loadValue is load for a value of type typ, whose Checked values it
// verifies.
func (t *txn) loadValue(v uint64, dst []byte, typ reflect.Type) error {
	if err := t.load(v, dst); err != nil {
		return err
	}
	return t.verified(typ, dst, int64(v&offsetMask))
}

// verified checks the Checked values of b, a value of type typ read at
// off.
func (t *txn) verified(typ reflect.Type, b []byte, off int64) error {
	if sums := t.p.sumsOf(typ); sums != nil {
		return verifySums(sums, b, off)
	}
	return nil
}

// sealed stores the checksums of the Checked values of b, a value of type
// typ, in b, and returns it.
func (p *pool) sealed(typ reflect.Type, b []byte) []byte {
	if sums := p.sumsOf(typ); sums != nil {
		sealSums(sums, b)
	}
	return b
}

// Modify calls f with a copy of the value p points to and stores what f
// leaves there, unless f returns an error. While f runs the value is
// borrowed: the transaction refuses to read or write it through any other
// pointer (ErrBorrowed), as Corundum's PRefCell refuses a second borrow.
func (p Ptr[Tag, T]) Modify(tx *Tx[Tag], f func(v *T) error) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	var v T
	b := valueBytes(&v)
	off, err := t.p.offset(p.v)
	if err == nil {
		err = t.check(off, int64(len(b)))
	}
	if err == nil {
		err = t.readAt(b, off)
	}
	if err == nil {
		err = t.verified(reflect.TypeFor[T](), b, off)
	}
	if err != nil {
		t.mu.Unlock()
		return err
	}
	t.borrows = append(t.borrows, logRange{off, int64(len(b))})
	t.mu.Unlock()
	ferr := f(&v)
	t.mu.Lock()
	for i := len(t.borrows) - 1; i >= 0; i-- {
		if t.borrows[i].off == off {
			t.borrows = append(t.borrows[:i], t.borrows[i+1:]...)
			break
		}
	}
	if t.over {
		t.mu.Unlock()
		return t.errOver()
	}
	if ferr == nil {
		ferr = t.store(p.v, t.p.sealed(reflect.TypeFor[T](), b))
	}
	t.mu.Unlock()
	return ferr
}

// Field returns a pointer to the field of *p that sel selects, for
// example tx.Field(p, func(n *Node) *int64 { return &n.Count }): a cell
// through which a transaction changes one field without rewriting the
// object. sel must return a pointer into the value it is given.
func Field[Tag, S, F any](p Ptr[Tag, S], sel func(*S) *F) Ptr[Tag, F] {
	s := new(S)
	f := sel(s)
	off := uintptr(unsafe.Pointer(f)) - uintptr(unsafe.Pointer(s))
	if uintptr(unsafe.Pointer(f)) < uintptr(unsafe.Pointer(s)) || off+unsafe.Sizeof(*f) > unsafe.Sizeof(*s) {
		panic(fmt.Sprintf("tx.Field: the selector returned a pointer outside the %v", reflect.TypeFor[S]()))
	}
	if p.v == 0 {
		return Ptr[Tag, F]{}
	}
	return Ptr[Tag, F]{v: p.v + uint64(off)}
}

// newObject allocates a block for a value of type T, checking T first.
func newObject[Tag, T any](tx *Tx[Tag], extra int64, k layoutKind) (*txn, int64, error) {
	t, err := tx.writable()
	if err != nil {
		return nil, 0, err
	}
	if _, err := t.p.layoutFor(typeKey{reflect.TypeFor[T](), k}); err != nil {
		t.mu.Unlock()
		return nil, 0, err
	}
	off, _, err := t.alloc(int64(unsafe.Sizeof(*new(T))) + extra)
	if err != nil {
		t.mu.Unlock()
		return nil, 0, err
	}
	return t, off, nil
}
