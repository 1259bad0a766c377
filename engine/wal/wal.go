package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"sync"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/internal/walbug"
)

// Options configure a WAL. The zero value picks every default.
type Options struct {
	// SegmentSize is the size each segment is preallocated to (default 64
	// MiB, at least MinSegmentSize). A segment is sealed and the log goes
	// on in the next one when a frame does not fit; an entry larger than a
	// segment gets one of its own.
	SegmentSize int64
	// MaxEntrySize bounds the encoding of an entry (default 16 MiB, at most
	// MaxFrameSize); Append of a larger one fails with ErrTooLarge.
	MaxEntrySize int
	// BufferSize is how many bytes of encoded entries Append buffers before
	// it writes them to the page cache itself (default 1 MiB). Flush and
	// FlushAndSync write the buffer whatever its size.
	BufferSize int
	// ZeroFill writes zeros over each segment when it is created, before
	// its sync, so that the appends' fsyncs commit data only, no block
	// allocation: a batch's sync is faster (docs/BENCHMARKS.md), at the
	// cost of writing every segment twice. The segment ahead is then
	// created by a goroutine of the WAL's own, off the path of the appends
	// (New and Resume still create theirs before they return); a failure
	// to create it breaks the log at the next seal. The laboratory's
	// scenarios run without it: that goroutine's I/O would make their
	// runs nondeterministic.
	ZeroFill bool
	// TornRetention is how many of the files that earlier repairs set
	// aside (name.torn, see Repair) Resume keeps, besides those it sets
	// aside itself: the ones from the latest positions in the log (by
	// segment, then offset). 0 means DefaultTornRetention; KeepAllTorn
	// (any negative value) keeps them all.
	TornRetention int

	bug walbug.Bug // a deliberate protocol mistake, set only by the laboratory
}

func init() {
	walbug.Set = func(opts any, b walbug.Bug) { opts.(*Options).bug = b }
}

// DefaultTornRetention is the default Options.TornRetention and
// RecordLogOptions.TornRetention: one Resume after a crash sets aside a
// file or two (a torn tail, a segment with a torn header), so eight keep
// the evidence of the last few crashes, in at most eight segments' size.
const DefaultTornRetention = 8

// KeepAllTorn, as Options.TornRetention or RecordLogOptions.TornRetention,
// keeps every file set aside.
const KeepAllTorn = -1

// MinSegmentSize is the smallest Options.SegmentSize.
const MinSegmentSize = HeaderSize + 2*FrameHeaderSize

const (
	defaultSegmentSize  = 64 << 20
	defaultMaxEntrySize = 16 << 20
	defaultBufferSize   = 1 << 20
)

func (o Options) withDefaults() (Options, error) {
	if o.SegmentSize == 0 {
		o.SegmentSize = defaultSegmentSize
	}
	if o.MaxEntrySize == 0 {
		o.MaxEntrySize = defaultMaxEntrySize
	}
	if o.BufferSize == 0 {
		o.BufferSize = defaultBufferSize
	}
	switch {
	case o.SegmentSize < MinSegmentSize:
		return o, fmt.Errorf("wal: options: %w: segment size %d below %d", fs.ErrInvalid, o.SegmentSize, MinSegmentSize)
	case o.MaxEntrySize < 0 || o.MaxEntrySize > MaxFrameSize:
		return o, fmt.Errorf("wal: options: %w: maximum entry size %d not in [1, %d]", fs.ErrInvalid, o.MaxEntrySize, MaxFrameSize)
	case o.BufferSize < 0:
		return o, fmt.Errorf("wal: options: %w: buffer size %d", fs.ErrInvalid, o.BufferSize)
	}
	return o, nil
}

// WAL is a write-ahead log of entries of type E in a directory: a
// sequence of preallocated segment files of CRC-framed entries, each with
// an id the log assigns, from 1 up, one by one. One writer holds a
// directory at a time.
//
// Its methods are safe for concurrent use. Appends are buffered; Flush
// writes them to the page cache and FlushAndSync makes them durable, one
// fsync shared by every goroutine that asks at the same time (group
// commit). See the package documentation for the durability contract of
// each call.
type WAL[E any] struct {
	fsys  engine.FS
	dir   string
	codec Codec[E]
	opts  Options
	lock  io.Closer

	mu        sync.Mutex
	cond      sync.Cond // signalled when a round ends or appends may go on
	c         core
	closing   bool // Close began: appends fail
	closed    bool
	batching  bool // an AppendBatch is in progress: other appends wait
	syncing   int  // FlushAndSync calls in progress
	lastGroup int  // how many were in progress when the last sync round ended

	// The files of the current segment and of the one created ahead; only
	// the goroutine running a round (core.busy) touches them.
	cur, ahead engine.File
	// With Options.ZeroFill the segment ahead is created by a goroutine of
	// its own, which hands it (created, synced, its name synced) over
	// here; a seal round, or release, takes it.
	pending chan createdSegment

	repairs []Repair
	pubMu   sync.Mutex // serializes Publish
}

// New creates a WAL in dir, creating dir (durably) if needed. It is an
// error wrapping fs.ErrExist if dir holds segments already (Resume
// continues a log), and one wrapping ErrLocked if another writer holds
// dir. When New returns, the first segment and the one after it exist,
// durably.
func New[E any](fsys engine.FS, dir string, codec Codec[E], opts Options) (*WAL[E], error) {
	w, err := open(fsys, dir, codec, opts)
	if err != nil {
		return nil, err
	}
	segs, err := listSegments(fsys, dir)
	if err == nil && len(segs) > 0 {
		err = fmt.Errorf("%w: it holds %d segments (Resume continues a log)", fs.ErrExist, len(segs))
	}
	if err == nil {
		err = tidyWAL(fsys, dir, retention(opts.TornRetention))
	}
	if err == nil {
		err = w.start(1) // syncs the directory
	}
	if err != nil {
		w.release()
		return nil, fmt.Errorf("wal: new %s: %w", dir, err)
	}
	return w, nil
}

// open checks the options, creates dir and takes its lock.
func open[E any](fsys engine.FS, dir string, codec Codec[E], opts Options) (*WAL[E], error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := engine.MkdirAllDurable(fsys, dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: %s: %w", dir, err)
	}
	lock, err := lockDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	w := &WAL[E]{fsys: fsys, dir: dir, codec: codec, opts: opts, lock: lock}
	w.cond.L = &w.mu
	w.c = core{segSize: opts.SegmentSize, spareCap: 4 * max(opts.BufferSize, 64<<10)}
	return w, nil
}

// lockDir takes the exclusive lock of a WAL directory.
func lockDir(fsys engine.FS, dir string) (io.Closer, error) {
	l, err := fsys.Lock(path.Join(dir, lockName), engine.Exclusive)
	if errors.Is(err, engine.ErrLocked) {
		return nil, fmt.Errorf("%w: %s: %w", ErrLocked, dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("wal: lock %s: %w", dir, err)
	}
	return l, nil
}

// start begins an empty log at segment seq: it creates it and the one after
// it, and syncs the directory once for both.
func (w *WAL[E]) start(seq uint64) error {
	cur, err := createSegment(w.fsys, w.dir, seq, w.opts, false)
	if err != nil {
		return err
	}
	w.cur = cur
	if w.ahead, err = createSegment(w.fsys, w.dir, seq+1, w.opts, false); err != nil {
		return err
	}
	if err := w.fsys.SyncDir(w.dir); err != nil {
		return err
	}
	w.c.seg, w.c.off = seq, HeaderSize
	return nil
}

// createdSegment is the outcome of a segment's creation.
type createdSegment struct {
	f   engine.File
	err error
}

// takePending waits for the segment being created ahead, if any, and
// makes it w.ahead.
func (w *WAL[E]) takePending() error {
	if w.pending == nil {
		return nil
	}
	c := <-w.pending
	w.pending = nil
	w.ahead = c.f
	return c.err
}

// release closes the files and the lock of a WAL that failed to open or
// is closed.
func (w *WAL[E]) release() error {
	var errs []error
	errs = append(errs, w.takePending())
	for _, f := range []engine.File{w.cur, w.ahead} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	w.cur, w.ahead = nil, nil
	if w.lock != nil {
		errs = append(errs, w.lock.Close())
		w.lock = nil
	}
	return errors.Join(errs...)
}

// Dir returns the log's directory.
func (w *WAL[E]) Dir() string { return w.dir }

// LastID returns the id of the last entry or marker appended, 0 if none.
func (w *WAL[E]) LastID() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.c.last
}

// DurableID returns the id up to which the log is known durable.
func (w *WAL[E]) DurableID() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.c.durable
}

// Repairs returns what Resume changed in the log it found: nil after New,
// or after Resume of a log that ended cleanly.
func (w *WAL[E]) Repairs() []Repair { return slices.Clone(w.repairs) }

// usable returns why the log refuses to write, or nil: appends stop when
// Close begins, its final sync goes on.
func (w *WAL[E]) usable(appending bool) error {
	switch {
	case w.closed, appending && w.closing:
		return ErrClosed
	case w.c.broken != nil:
		return w.c.broken
	}
	return nil
}

// Append appends e and returns its id. The entry is in a buffer of this
// process when Append returns: it survives nothing until Flush (a process
// crash) or FlushAndSync (a power failure). It fails with ErrTooLarge, or
// with the codec's error, and the log goes on; with ErrBroken or ErrClosed
// it does not.
func (w *WAL[E]) Append(e E) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, err := w.append(KindEntry, e, 0, false)
	if err == nil {
		w.autoFlush()
	}
	return id, err
}

// AppendBatch appends es, in order, with consecutive ids from first on:
// no other append comes between them. It costs one lock, and the whole
// batch is written with one write when it fits the buffer. A batch is not
// atomic: a crash before FlushAndSync may keep any prefix of it. If an
// entry fails to append, those before it stay appended (ids first..) and
// the error says which one failed.
func (w *WAL[E]) AppendBatch(es []E) (first uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.batching {
		w.cond.Wait()
	}
	w.batching = true
	defer func() {
		w.batching = false
		w.cond.Broadcast()
	}()
	for i, e := range es {
		id, err := w.append(KindEntry, e, 0, true)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			return first, fmt.Errorf("wal: append batch: entry %d of %d (ids %d.. appended): %w", i, len(es), first, err)
		}
		if i == 0 {
			first = id
		}
		w.autoFlush()
	}
	return first, nil
}

// appendMarker appends a checkpoint marker covering entries through.
func (w *WAL[E]) appendMarker(through uint64) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var zero E
	return w.append(KindCheckpoint, zero, through, false)
}

// append encodes one frame into the buffer: an entry e, or a checkpoint
// marker covering entries through. When the frame does not fit in the
// current segment, it seals the segment first. It waits while another
// goroutine's batch is in progress; batch says the caller's is. w.mu is
// held.
func (w *WAL[E]) append(kind Kind, e E, through uint64, batch bool) (uint64, error) {
	for {
		if err := w.usable(true); err != nil {
			return 0, err
		}
		if w.c.sealing || (w.batching && !batch) {
			w.cond.Wait()
			continue
		}
		start := len(w.c.buf)
		b := beginFrame(w.c.buf)
		var err error
		if kind == KindCheckpoint {
			b = le.AppendUint64(b, through)
		} else if b, err = w.codec.Append(b, e); err != nil {
			return 0, fmt.Errorf("wal: encode entry: %w", err)
		}
		n := len(b) - start
		if n-FrameHeaderSize > w.opts.MaxEntrySize {
			return 0, fmt.Errorf("%w: %d bytes, the maximum is %d", ErrTooLarge, n-FrameHeaderSize, w.opts.MaxEntrySize)
		}
		if !w.c.fits(n) {
			w.c.buf = b[:start] // keep the grown buffer
			if w.c.busy {
				w.cond.Wait()
			} else {
				w.run(w.c.next(false, true))
			}
			continue
		}
		id := w.c.last + 1
		finishFrame(b[start:], kind, id)
		w.c.appended(b, id)
		return id, nil
	}
}

// autoFlush writes the buffer when it has grown past Options.BufferSize
// and no round is in flight (one that is will take what it can).
func (w *WAL[E]) autoFlush() {
	if len(w.c.buf) >= w.opts.BufferSize && !w.c.busy {
		w.run(w.c.next(false, false))
	}
}

// Flush writes every entry appended so far (by any goroutine) to the page
// cache: when it returns they survive a crash of this process, not a power
// failure.
func (w *WAL[E]) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.c.last
	for {
		if w.c.broken != nil {
			return w.c.broken // even with nothing left to write: see ErrBroken
		}
		if w.c.written >= target {
			return nil
		}
		if err := w.usable(false); err != nil {
			return err
		}
		if w.c.busy {
			w.cond.Wait()
			continue
		}
		w.run(w.c.next(false, false))
	}
}

// FlushAndSync makes every entry appended so far (by any goroutine)
// durable: when it returns nil they survive a power failure. Concurrent
// calls share fsyncs: one goroutine writes and syncs everything appended
// so far while the others wait for it, and a caller whose entries a sync
// covered returns without one of its own (group commit). A failed write or
// fsync breaks the log: the error wraps ErrBroken and the failure, and so
// does every later append or sync.
func (w *WAL[E]) FlushAndSync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.c.last
	w.syncing++
	defer func() { w.syncing-- }()
	gathered := false
	for {
		if w.c.broken != nil {
			// Even with nothing left to sync: a nil would vouch for
			// entries a failed fsync may have dropped (see ErrBroken).
			return w.c.broken
		}
		if w.c.durable >= target {
			return nil
		}
		if err := w.usable(false); err != nil {
			return err
		}
		if w.c.busy {
			if w.opts.bug == walbug.JoinSyncInFlight && w.c.syncInFlight {
				// The bug: the round in flight is taken for one that
				// covers target, though it may have started before.
				for n := w.c.syncRounds; w.c.syncRounds == n && w.c.broken == nil; {
					w.cond.Wait()
				}
				return w.c.broken
			}
			w.cond.Wait()
			continue
		}
		if !gathered {
			gathered = true
			w.gather()
			continue // the world may have changed while we yielded
		}
		w.run(w.c.next(true, false))
	}
}

// maxGather bounds how many times a sync round's leader yields for
// others' appends.
const maxGather = 8

// gather lets goroutines that the last sync round released append before
// the next one starts, so that they share it rather than wait a whole
// fsync for the one after: while other callers are syncing, or the last
// round released several, the leader yields as long as the appends keep
// coming. A single writer never waits.
func (w *WAL[E]) gather() {
	if w.syncing <= 1 && w.lastGroup <= 1 {
		return
	}
	for range maxGather {
		before := w.c.last
		w.mu.Unlock()
		runtime.Gosched()
		w.mu.Lock()
		if w.c.last == before || w.c.busy {
			return
		}
	}
}

// run does round r's I/O with w.mu released, then records its outcome,
// and creates the segment ahead if the round sealed one: before it
// returns, or with Options.ZeroFill in a goroutine whose segment the next
// seal round waits for before it writes a byte to it. w.mu is held.
func (w *WAL[E]) run(r round) {
	w.mu.Unlock()
	err := w.write(r)
	w.mu.Lock()
	w.c.done(r, err)
	if r.sync {
		w.lastGroup = w.syncing
	}
	w.cond.Broadcast()
	if !w.c.busy {
		return
	}
	// A seal round, which must create the segment ahead.
	if w.opts.ZeroFill { // off the append path: the next seal takes it
		ch := make(chan createdSegment, 1)
		w.pending = ch
		go func(seq uint64) {
			f, err := createSegment(w.fsys, w.dir, seq, w.opts, true)
			ch <- createdSegment{f, err}
		}(r.create)
		w.c.created(nil)
	} else {
		w.mu.Unlock()
		f, err := createSegment(w.fsys, w.dir, r.create, w.opts, true)
		w.mu.Lock()
		w.ahead = f
		w.c.created(err)
	}
	w.cond.Broadcast()
}

// write does a round's writes and sync, and switches files after a seal.
func (w *WAL[E]) write(r round) error {
	name := segmentPath(w.dir, r.seg)
	if len(r.data) > 0 {
		if _, err := w.cur.WriteAt(r.data, r.off); err != nil {
			return fmt.Errorf("write %s at %d: %w", name, r.off, err)
		}
	}
	if r.sync {
		if err := w.cur.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", name, err)
		}
	}
	if r.seal {
		if err := w.takePending(); err != nil {
			return err
		}
		err := w.cur.Close()
		w.cur, w.ahead = w.ahead, nil
		if err != nil {
			return fmt.Errorf("close %s: %w", name, err)
		}
		if w.cur == nil {
			return fmt.Errorf("no segment %d created ahead", r.seg+1)
		}
	}
	return nil
}

// Close makes every entry appended durable (FlushAndSync), then closes the
// files and releases the directory. Appends fail with ErrClosed from the
// moment Close begins. It returns the error of that sync, or of closing;
// a broken log is released and its error returned.
func (w *WAL[E]) Close() error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closing = true
	w.mu.Unlock()
	err := w.FlushAndSync()
	w.mu.Lock()
	w.closed = true
	for w.c.busy {
		w.cond.Wait()
	}
	if err == nil {
		err = w.c.broken // broken with nothing left to sync: still say so
	}
	w.cond.Broadcast()
	w.mu.Unlock()
	return errors.Join(err, w.release())
}
