package tx

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/alloc"
	"github.com/crashsim/crashsim/internal/txbug"
)

// Options configure Create and Open. The zero value is a writer with the
// default sizes.
type Options struct {
	// Layout names what the pool holds. With Version 0, the default, the
	// pool's layout is named after the root type — its Go name and this
	// string — and includes the root type's shape: Open refuses with
	// ErrLayout a pool created with another string, another root type,
	// the same one changed, or the same one renamed or moved to another
	// package. With a Version, the layout is this name and the Version,
	// both chosen by the program, and the structure of the root type,
	// without the names of it or of the types it points to: those types
	// may be renamed and moved, and a change to any of them is a new
	// Version, which Upgrades reach.
	Layout string
	// Version is the version of the layout the program opens (see
	// Layout); 0 is the default layout. Open upgrades a pool of an older
	// version with Upgrades and refuses one of a newer version with
	// ErrLayoutVersion; Create makes a pool of this version.
	Version uint32
	// Upgrades take a pool from each older version of its layout to the
	// next (UpgradeRoot). A writer's Open runs those the pool needs,
	// oldest first, each in a transaction of its own, before it returns;
	// a read-only Open upgrades nothing. The upgrade from version 0 adopts
	// a pool of the default layout (named after its root type and the
	// same Layout string, or none) into versioned layouts.
	Upgrades []Upgrade
	// Size is the size of a new pool's file (Create); 0 means DefaultSize.
	Size int64
	// LogSize is the size of a new pool's log, which bounds what one
	// transaction can change (Create); 0 means Size/16, within
	// [MinLogSize, 4 MiB]. The pool's log area holds two logs of this
	// size (the redo log of format 6, redo.go): Info().LogSize is twice it.
	LogSize int64
	// MaxSize bounds the pool's growth; 0 means unbounded.
	MaxSize int64
	// ReadOnly opens the pool for View only, without the writer's lock:
	// any number of read-only pools, in any processes, may be open beside
	// one writer.
	ReadOnly bool
	// Strict runs Check after every commit and panics if it finds a
	// problem, as bbolt's StrictMode: for tests.
	Strict bool
	// Rand is the source of a new pool's UUID and of its hash maps' seeds;
	// nil means crypto/rand. A deterministic source makes a pool's bytes a
	// function of its operations, as the crash laboratory needs to replay.
	Rand io.Reader

	bug txbug.Bug // a deliberate protocol mistake, set only by the laboratory
	// format is the format Create writes, if not Version: set only by the
	// laboratory and tests, to make the pools of older releases.
	format uint32
}

// random returns o.Rand, or crypto/rand's reader.
func (o *Options) random() io.Reader {
	if o.Rand != nil {
		return o.Rand
	}
	return rand.Reader
}

func init() {
	txbug.Set = func(opts any, b txbug.Bug) { opts.(*Options).bug = b }
	txbug.SetFormat = func(opts any, v uint32) { opts.(*Options).format = v }
}

// Info describes an open pool.
type Info struct {
	Header
	// Layout, LayoutVersion and LayoutHash are the pool's layout (see
	// Options.Layout). The header's fields Layout and LayoutHash, which
	// these hide, are the layout the header was written with.
	Layout        string
	LayoutVersion uint32
	LayoutHash    uint64
	// Unclean says the pool was not closed by its last writer, and the
	// rest what opening it found in the log: RolledBack a transaction
	// that had not committed (an undo log, formats 1 to 5), of LogEntries
	// ranges; Replayed the logs of committed transactions that it wrote
	// again in place (the redo log of format 6), of LogEntries ranges in
	// all.
	Unclean    bool
	RolledBack bool
	Replayed   int
	LogEntries int
	// Epoch is the generation of this open (the writer's); persistent locks
	// taken in earlier epochs are free.
	Epoch uint32
	// Medium is the persistence rules of the mapping.
	Medium engine.Medium
}

// pool is the untyped core of a Pool.
type pool struct {
	fsys     engine.FS
	name     string
	file     engine.File
	lock     io.Closer // the writer's flock, nil for a read-only pool
	r        engine.Region
	medium   engine.Medium
	hdr      Header
	info     Info
	readOnly bool
	opts     Options
	id       uint64 // the pool's 16-bit identity, in bits 48-63 of its pointers
	// layoutWord is the layout version word a read-only pool was opened
	// with: a View checks that no writer upgraded the layout since.
	layoutWord uint64

	heap    *alloc.Heap // the writer's
	epoch   uint32
	counter uint32
	root    int64
	logOff  int64
	logEnd  int64
	// length is r.Len(), kept here because the range checks of every
	// access read it: the Region's Len takes its lock. Only Map, extend
	// and remap change the mapping's length, and they set it.
	length atomic.Int64

	// writerMu makes Updates one at a time.
	writerMu sync.Mutex
	// applyMu keeps Views of this process out while a commit writes in
	// place: readers take it shared, a commit exclusive.
	applyMu sync.RWMutex
	wtx     *txn
	// lastLog are the ranges of the log that holds the last committed
	// transaction (none once the log is retired): the one-word commit must
	// not touch them.
	lastLog []logRange
	// logLines is how many lines of the log mark 0 may name (formats 3
	// and 4): the next log takes their marks away before it overwrites
	// them.
	logLines int64
	// version is the version word, which only the writer changes.
	version uint64
	// unflushed is the new memory of the last one-word commit, which the
	// next drain makes durable (commitWord); in format 6 unflushedWords
	// are the allocator's words those commits changed (listUnflushed).
	unflushed      []logRange
	unflushedWords []int64
	broken         error

	// The redo log of format 6 (redo.go): the next log's seq and slot, how
	// many lines of each slot a crash could find marked, the ranges of
	// each slot's log (which recovery would replay), and the data the last
	// logged commit wrote in place, which the next drain makes durable.
	seq       uint64
	slot      int
	slotLines [slotCount]int64
	live      [slotCount][]liveRange
	// wordLog says the log of slot s is a word log (redo.go): replayed
	// only after an older log, and, while it is the newest, the older one
	// is retired by the next one-word commit of a word in a log.
	wordLog [slotCount]bool
	pending []logRange
	batch   engine.Batch
	closed  atomic.Bool

	tag        reflect.Type // the pool's Tag
	recent     [8]atomic.Pointer[layout]
	recentNext atomic.Uint32
	typesMu    sync.RWMutex
	types      map[typeKey]*layout
	rootL      *layout

	remapMu sync.Mutex // a read-only pool's remaps
	lockMu  sync.Mutex
	lockCh  chan struct{} // closed when a persistent lock is released
}

type logRange struct{ off, n int64 }

// liveRange is a range of a redo log recovery would replay (redo.go):
// new if it is the log's new memory, which tells whether the log's
// transaction committed.
type liveRange struct {
	off, n int64
	new    bool
}

const (
	poolIDShift = 48
	offsetMask  = 1<<poolIDShift - 1
)

// createPool creates name with a zeroed root object of the layout spec
// asks for.
func createPool(fsys engine.FS, name string, o Options, spec *layoutSpec, tag reflect.Type) (_ *pool, err error) {
	if o.ReadOnly {
		return nil, fmt.Errorf("%w: Create of a read-only pool", ErrReadOnly)
	}
	size := o.Size
	if size == 0 {
		size = DefaultSize
	}
	size = roundUp(size, alloc.PageSize)
	logSize := o.LogSize
	if logSize == 0 {
		logSize = min(max(size/16, MinLogSize), 4<<20)
	}
	logSize = roundUp(logSize, alloc.PageSize)
	rootSize := spec.rootSize
	hdr := Header{Version: Version, ByteOrder: nativeOrder, LogOff: logAreaOff, Layout: spec.want.name, LayoutHash: spec.want.hash}
	if o.format != 0 {
		hdr.Version = o.format
	}
	if hdr.redo() {
		logSize *= slotCount // room for two logs of the size asked for (redo.go)
	}
	hdr.LogSize, hdr.HeapOff = logSize, logAreaOff+logSize
	if size < hdr.HeapOff+alloc.MinZone+roundUp(rootSize, alloc.PageSize) {
		size = hdr.HeapOff + alloc.MinZone + roundUp(rootSize, alloc.PageSize)
	}
	if o.MaxSize > 0 && size > o.MaxSize {
		return nil, fmt.Errorf("%w: a pool of %d bytes is larger than MaxSize %d", ErrNoSpace, size, o.MaxSize)
	}
	hdr.Size = size
	if _, err := io.ReadFull(o.random(), hdr.UUID[:]); err != nil {
		return nil, fmt.Errorf("tx: the pool's UUID: %w", err)
	}
	// The pool is built under a temporary name and renamed into place once
	// it is durable, so that a crash during Create leaves no pool rather
	// than half of one.
	f, tmp, err := engine.CreateStaging(fsys, name, 0o644)
	if err != nil {
		return nil, err
	}
	p := &pool{fsys: fsys, name: name, file: f, opts: o, hdr: hdr, tag: tag, types: map[typeKey]*layout{}}
	defer func() {
		if err != nil {
			p.release()
			fsys.Remove(tmp)
		}
	}()
	if p.lock, err = fsys.Lock(tmp, engine.Exclusive); err != nil {
		return nil, err
	}
	if err = allocate(f, 0, size, o); err != nil {
		return nil, err
	}
	if p.r, err = fsys.Map(f, size); err != nil {
		return nil, err
	}
	p.medium = p.r.Medium()
	p.setGeometry()
	// Everything is new memory: written straight through, flushed once.
	j := &formatJournal{r: p.r}
	if err = alloc.Format(j, heapHeaderOff, hdr.HeapOff, size); err != nil {
		return nil, err
	}
	if p.heap, err = alloc.Open(p.r, heapHeaderOff, size, o.MaxSize); err != nil {
		return nil, err
	}
	root, usable, err := p.heap.Alloc(j, max(rootSize, 1))
	if err != nil {
		return nil, err
	}
	p.heap.Commit()
	if err = j.InitAt(make([]byte, usable), root); err != nil {
		return nil, err
	}
	var line [rootSumOff - rootOff + 8]byte
	binary.NativeEndian.PutUint64(line[0:], p.ptr(root))
	binary.LittleEndian.PutUint64(line[8:], 1)
	if hdr.rootSummed() {
		binary.LittleEndian.PutUint64(line[rootSumOff-rootOff:], rootLineSum(line[:]))
	}
	if err = j.InitAt(line[:], rootOff); err != nil {
		return nil, err
	}
	if hdr.Version != formatNoRecord {
		if err = j.InitAt(encodeLayoutRecord(spec.want), layoutRecordOff); err != nil {
			return nil, err
		}
	}
	var hb [headerSize]byte
	hdr.Encode(hb[:])
	if err = j.InitAt(hb[:], 0); err != nil {
		return nil, err
	}
	for _, rg := range j.ranges {
		if err = p.r.Flush(rg.off, rg.n); err != nil {
			return nil, err
		}
	}
	if err = p.r.Drain(); err != nil {
		return nil, err
	}
	if err = f.Sync(); err != nil {
		return nil, err
	}
	if err = fsys.Rename(tmp, name); err != nil {
		return nil, err
	}
	if err = fsys.SyncDir(path.Dir(name)); err != nil {
		return nil, err
	}
	// Map the pool again under its name, keeping the lock (it is the
	// file's, whatever its name), and open it as any writer does.
	lock := p.lock
	p.lock = nil
	if err = p.release(); err != nil {
		lock.Close()
		return nil, err
	}
	return openPoolLocked(fsys, name, o, spec, tag, lock)
}

// formatJournal writes a new pool straight through and remembers what it
// wrote, to flush it.
type formatJournal struct {
	r      engine.Region
	ranges []logRange
}

func (j *formatJournal) ReadAt(p []byte, off int64) error {
	_, err := j.r.ReadAt(p, off)
	return err
}

func (j *formatJournal) WriteAt(p []byte, off int64) error { return j.InitAt(p, off) }

func (j *formatJournal) InitAt(p []byte, off int64) error {
	if _, err := j.r.WriteAt(p, off); err != nil {
		return err
	}
	j.ranges = append(j.ranges, logRange{off, int64(len(p))})
	return nil
}

func (j *formatJournal) Extend(int64) error {
	return fmt.Errorf("%w: a new pool cannot grow", ErrNoSpace)
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

func (p *pool) setGeometry() {
	p.length.Store(p.r.Len())
	p.id = uint64(binary.LittleEndian.Uint16(p.hdr.UUID[:2])|1) << poolIDShift
	p.logOff = p.hdr.LogOff
	p.logEnd = p.hdr.LogOff + p.hdr.LogSize
}

// openPool opens name, checks its layout against the one spec asks for,
// and upgrades it (a writer).
func openPool(fsys engine.FS, name string, o Options, spec *layoutSpec, tag reflect.Type) (*pool, error) {
	var lock io.Closer
	if !o.ReadOnly {
		if _, err := fsys.Stat(name); err != nil {
			return nil, err
		}
		l, err := fsys.Lock(name, engine.Exclusive)
		if err != nil {
			return nil, err
		}
		lock = l
	}
	return openPoolLocked(fsys, name, o, spec, tag, lock)
}

// openPoolLocked is openPool with the writer's lock taken (nil for a
// reader); it releases it on an error, or a panic of an upgrade.
func openPoolLocked(fsys engine.FS, name string, o Options, spec *layoutSpec, tag reflect.Type, lock io.Closer) (_ *pool, err error) {
	p := &pool{fsys: fsys, name: name, opts: o, readOnly: o.ReadOnly, tag: tag, lock: lock, types: map[typeKey]*layout{}}
	opened := false
	defer func() {
		if !opened {
			p.release()
		}
	}()
	fi, err := fsys.Stat(name)
	if err != nil {
		return nil, err
	}
	if p.file, err = fsys.OpenFile(name, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	f := p.file
	if fi.Size() < headerSize {
		return nil, fmt.Errorf("%w: %s: file of %d bytes", ErrCorrupt, name, fi.Size())
	}
	hdr, fromShadow, err := readHeader(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.hdr = hdr
	size := fi.Size()
	if size < p.hdr.Size || size%alloc.PageSize != 0 {
		return nil, fmt.Errorf("%w: %s: file of %d bytes, created with %d", ErrCorrupt, name, size, p.hdr.Size)
	}
	if !o.ReadOnly {
		// Before anything touches the mapping: recovery reads and writes
		// it, and a hole (a pool that was made sparse) would fault.
		if err := allocate(f, 0, size, o); err != nil {
			return nil, err
		}
	}
	if p.r, err = fsys.Map(f, size); err != nil {
		return nil, err
	}
	p.medium = p.r.Medium()
	p.setGeometry()
	if o.ReadOnly {
		err = p.openReader(spec)
	} else {
		err = p.openWriter(spec, fromShadow)
	}
	if err != nil {
		return nil, err
	}
	opened = true
	return p, nil
}

// openWriter recovers the pool, checks its layout and upgrades it. The
// layout is read after the log is recovered: an upgrade changes it in a
// transaction.
func (p *pool) openWriter(spec *layoutSpec, fromShadow bool) error {
	if err := p.settleHeader(fromShadow); err != nil {
		return err
	}
	last, err := p.readLiveLine()
	if err != nil {
		return err
	}
	if err := p.recoverLog(); err != nil {
		return err
	}
	if p.heap, err = alloc.Open(p.r, heapHeaderOff, p.r.Len(), p.opts.MaxSize); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, p.name, err)
	}
	cur, err := p.currentLayout()
	if err != nil {
		return err
	}
	steps, err := p.plan(cur, spec)
	if err != nil {
		return err
	}
	rootSize := spec.rootSize
	if len(steps) > 0 {
		rootSize = steps[0].oldSize
	}
	if err := p.readRoot(p.heap, rootSize); err != nil {
		return err
	}
	if err := p.startWriter(last); err != nil {
		return err
	}
	p.setLayoutInfo(cur)
	if err := p.upgrade(cur, steps); err != nil {
		// Closed as a writer closes: the failed step left nothing behind.
		p.close()
		return err
	}
	return nil
}

// readRoot reads the root line, checks it (format 5), and checks that the
// root pointer points to an object of at least rootSize bytes: the start
// of a block of the heap h.
func (p *pool) readRoot(h *alloc.Heap, rootSize int64) error {
	var line [rootLineSize]byte
	if _, err := p.r.ReadAt(line[:], rootOff); err != nil {
		return err
	}
	if p.hdr.rootSummed() {
		if err := checkRootLine(line[:]); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	v := binary.NativeEndian.Uint64(line[:])
	root, err := p.offset(v)
	if err != nil {
		return fmt.Errorf("%w: %s: root pointer: %w", ErrCorrupt, p.name, err)
	}
	start, size, err := h.Block(root)
	if err != nil || start != root || size < rootSize {
		return fmt.Errorf("%w: %s: root pointer %#x is not an object of %d bytes", ErrCorrupt, p.name, v, rootSize)
	}
	p.root = root
	return nil
}

// readLiveLine reads and checks the live line (header.go): it sets
// Info.Unclean and returns the epoch of the last writer's open.
func (p *pool) readLiveLine() (uint32, error) {
	var line [64]byte
	if _, err := p.r.ReadAt(line[:], liveOff); err != nil {
		return 0, err
	}
	unclean := binary.NativeEndian.Uint64(line[uncleanOff-liveOff:])
	if unclean > 1 {
		return 0, fmt.Errorf("%w: %s: live line: unclean flag %#x", ErrCorrupt, p.name, unclean)
	}
	if !allZero(line[versionOff-liveOff+8:]) {
		return 0, fmt.Errorf("%w: %s: live line: the reserved bytes are not 0", ErrCorrupt, p.name)
	}
	epoch, err := decodeEpoch(binary.NativeEndian.Uint64(line[epochOff-liveOff:]))
	if err != nil {
		return 0, fmt.Errorf("%s: live line: %w", p.name, err)
	}
	p.info.Unclean = unclean != 0
	return epoch, nil
}

// startWriter begins this open's epoch, the one after last: the unclean
// flag set and the epoch advanced, durable before any transaction.
func (p *pool) startWriter(last uint32) error {
	p.epoch = last + 1
	if p.opts.bug == txbug.EpochReused && last != 0 {
		p.epoch = last
	}
	if p.epoch == 0 {
		p.epoch = 1
	}
	p.info.Epoch = p.epoch
	if err := p.r.Store64(epochOff, epochWord(p.epoch)); err != nil {
		return err
	}
	if err := p.r.Store64(uncleanOff, 1); err != nil {
		return err
	}
	if err := engine.Persist(p.r, liveOff, 64); err != nil {
		return err
	}
	p.wtx = &txn{p: p, writable: true}
	p.info.Header, p.info.Medium = p.hdr, p.medium
	return nil
}

// openReader opens a pool for View: it recovers the log only if no writer
// has the pool open (it takes the writer's lock to do so, briefly). The
// layout, the heap's metadata and the root are read under the version
// word, as a View reads: a writer of another process may be upgrading or
// growing the pool. They are checked as a writer's Open checks them: the
// heap as alloc.Open does, the root pointer at the start of a block.
func (p *pool) openReader(spec *layoutSpec) error {
	if err := p.recoverIfAbandoned(); err != nil {
		return err
	}
	p.info.Header, p.info.Medium = p.hdr, p.medium
	for attempt := 0; ; attempt++ {
		v, err := p.waitVersion(attempt)
		if err != nil {
			return err
		}
		if err := p.remap(); err != nil {
			return err
		}
		cur, err := p.currentLayout()
		if err == nil {
			_, err = p.plan(cur, spec)
		}
		if err == nil {
			var h *alloc.Heap
			if h, err = alloc.Open(p.r, heapHeaderOff, p.r.Len(), 0); err != nil {
				err = fmt.Errorf("%w: %s: %w", ErrCorrupt, p.name, err)
			} else {
				err = p.readRoot(h, spec.rootSize)
			}
		}
		w, lerr := p.r.Load64(layoutRecordOff)
		if lerr != nil {
			return lerr
		}
		now, lerr := p.r.Load64(versionOff)
		if lerr != nil {
			return lerr
		}
		if now == v {
			p.layoutWord = w
			p.setLayoutInfo(cur)
			return err
		}
	}
}

// recoverIfAbandoned recovers the log of a pool that no writer has open.
func (p *pool) recoverIfAbandoned() error {
	l, err := p.fsys.Lock(p.name, engine.Exclusive)
	if errors.Is(err, engine.ErrLocked) {
		return nil // a writer is alive and recovered the pool when it opened it
	}
	if err != nil {
		return err
	}
	defer l.Close()
	// As a writer's Open does, before recovery touches the mapping; under
	// the lock, since engine.Allocate may write zeros.
	if err := allocate(p.file, 0, p.r.Len(), p.opts); err != nil {
		return err
	}
	return p.recoverLog()
}

// recoverLog rolls back the transaction in the log if it did not commit
// (see log.go), or replays the logs of format 6 (redo.go), and resets the
// version word.
func (p *pool) recoverLog() error {
	if p.hdr.redo() {
		return p.recoverRedo()
	}
	l, err := p.readLog()
	if err != nil {
		return err
	}
	// The version word only grows, so that a reader never sees the same
	// value before and after a change: a writer that died while odd left
	// it odd, and the next change starts from there.
	v, err := p.r.Load64(versionOff)
	if err != nil {
		return err
	}
	p.version = (v + 1) &^ 1
	p.lastLog = p.lastLog[:0]
	p.logLines = l.lines
	if len(l.entries) > 0 {
		now, err := p.contentsHash(l.seq, l.entries)
		if err != nil {
			return err
		}
		switch {
		case now == l.newHash:
			// Committed: every range holds what the transaction wrote.
			for _, e := range l.entries {
				p.lastLog = append(p.lastLog, logRange{e.off, e.n})
			}
		case l.damaged:
			return fmt.Errorf("%w: %s: transaction %#x did not complete, and the old bytes of its log are damaged", ErrCorrupt, p.name, l.seq)
		default:
			if err := p.rollBackLog(l.entries); err != nil {
				return err
			}
		}
	}
	if p.version != v {
		return p.r.Store64(versionOff, p.version)
	}
	return nil
}

// rollBackLog writes back the old bytes of a transaction that did not
// commit, makes them durable, and retires the log.
func (p *pool) rollBackLog(entries []logEntry) error {
	p.info.RolledBack, p.info.LogEntries = true, len(entries)
	if err := p.r.Store64(versionOff, p.version+1); err != nil {
		return err
	}
	p.version += 2
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.new {
			continue
		}
		if _, err := p.r.WriteAt(e.data, e.off); err != nil {
			return err
		}
		if err := p.r.Flush(e.off, e.n); err != nil {
			return err
		}
	}
	if err := p.r.Drain(); err != nil {
		return err
	}
	return p.retireLog()
}

// contentsHash is the newhash of entries as the pool holds them now.
func (p *pool) contentsHash(seq uint64, entries []logEntry) (uint64, error) {
	h := seq
	var buf []byte
	for _, e := range entries {
		if int64(cap(buf)) < e.n {
			buf = make([]byte, e.n)
		}
		b := buf[:e.n]
		if _, err := p.r.ReadAt(b, e.off); err != nil {
			return 0, err
		}
		h = commitHash(h, e.off, b)
	}
	return h, nil
}

// ptr encodes offset off as a pointer of this pool.
func (p *pool) ptr(off int64) uint64 { return p.id | uint64(off) }

// offset decodes a pointer of this pool.
func (p *pool) offset(v uint64) (int64, error) {
	if v == 0 {
		return 0, ErrNil
	}
	if v&^offsetMask != p.id {
		return 0, fmt.Errorf("%w: %#x is a pointer of another pool (id %#x, this pool's %#x)", ErrPointer, v, v>>poolIDShift, p.id>>poolIDShift)
	}
	return int64(v & offsetMask), nil
}

// close ends the pool: it retires the log and clears the unclean flag (a
// writer), then releases everything.
func (p *pool) close() error {
	if p.closed.Swap(true) {
		return fmt.Errorf("%w: pool %s", ErrClosed, p.name)
	}
	var err error
	if !p.readOnly {
		p.writerMu.Lock()
		if p.broken == nil && p.hdr.redo() {
			err = p.closeRedo()
		} else if p.broken == nil {
			for _, u := range p.unflushed {
				if err == nil {
					err = p.r.Flush(u.off, u.n)
				}
			}
			if err == nil {
				err = p.r.Store64(p.logRetireOff(), 0)
			}
			if err == nil {
				err = p.r.Flush(p.logRetireOff(), 8)
			}
			if err == nil {
				err = p.r.Store64(uncleanOff, 0)
			}
			if err == nil {
				err = engine.Persist(p.r, liveOff, 64)
			}
		}
		p.writerMu.Unlock()
	}
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	if rerr := p.release(); err == nil {
		err = rerr
	}
	return err
}

// release closes the mapping, the file and the lock; it may be called
// again.
func (p *pool) release() error {
	var err error
	if p.r != nil {
		err = p.r.Close()
		p.r = nil
	}
	if p.file != nil {
		if cerr := p.file.Close(); err == nil {
			err = cerr
		}
		p.file = nil
	}
	if p.lock != nil {
		if cerr := p.lock.Close(); err == nil {
			err = cerr
		}
		p.lock = nil
	}
	return err
}

// extend grows the file and the mapping to length and makes the size
// durable: the heap's Journal.Extend.
func (p *pool) extend(length int64) error {
	if p.opts.MaxSize > 0 && length > p.opts.MaxSize {
		return fmt.Errorf("%w: %d bytes is beyond MaxSize %d", ErrNoSpace, length, p.opts.MaxSize)
	}
	if length <= p.r.Len() {
		return nil
	}
	if err := allocate(p.file, p.r.Len(), length-p.r.Len(), p.opts); err != nil {
		return err
	}
	if err := p.r.Grow(length); err != nil {
		return err
	}
	p.length.Store(p.r.Len())
	return p.file.Sync()
}

// allocate has the file system allocate [off, off+n) of the pool's file,
// before any of it is mapped: a store (on tmpfs, even a load) through the
// mapping to a page with no block kills the process with SIGBUS when the
// disk is full, where engine.Allocate fails early with ENOSPC, returned
// here wrapped in ErrNoSpace. The bug variant txbug.SparseMap skips it.
func allocate(f engine.File, off, n int64, o Options) error {
	if o.bug == txbug.SparseMap {
		return nil
	}
	err := engine.Allocate(f, off, n)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: allocating [%d,%d) of %s: %w", ErrNoSpace, off, off+n, f.Name(), err)
	}
	return err
}

// remap grows a read-only pool's mapping to the file's size, after the
// writer grew it.
func (p *pool) remap() error {
	p.remapMu.Lock()
	defer p.remapMu.Unlock()
	fi, err := p.file.Stat()
	if err != nil {
		return err
	}
	if err := p.r.Grow(fi.Size()); err != nil {
		return err
	}
	p.length.Store(p.r.Len())
	return nil
}

// nextSeq returns the sequence number of the next logged transaction.
func (p *pool) nextSeq() uint64 {
	p.counter++
	if p.counter == 0 {
		p.counter = 1
	}
	return uint64(p.epoch)<<32 | uint64(p.counter)
}

// unlocked wakes the goroutines waiting in Lock for a persistent lock.
func (p *pool) unlocked() {
	p.lockMu.Lock()
	if p.lockCh != nil {
		close(p.lockCh)
		p.lockCh = nil
	}
	p.lockMu.Unlock()
}

// lockWait returns a channel closed at the next release of a persistent
// lock.
func (p *pool) lockWait() <-chan struct{} {
	p.lockMu.Lock()
	defer p.lockMu.Unlock()
	if p.lockCh == nil {
		p.lockCh = make(chan struct{})
	}
	return p.lockCh
}
