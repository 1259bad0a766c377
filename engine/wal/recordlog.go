package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/crashsim/crashsim/engine"
)

// RecordLog is an append-only log of byte records in one file: a header
// (RecordLogMagic), then one KindRecord frame per record, whose id is the
// record's index from 1, then a seal. It is the single-file form of the
// WAL, for logs that never need truncating; one writer holds it at a time
// (a flock on name + ".lock").
//
// The file (format version 2, RecordLogVersion):
//
//	+--------+----------+----------+-----+----------+---------------+
//	| header | record 1 | record 2 | ... | record n | seal (id n)   |
//	| 40 B   | frame    | frame    |     | frame    | 20-byte frame |
//	+--------+----------+----------+-----+----------+---------------+
//
// Every write of the log (Flush, FlushAndSync, Close, and the creation)
// writes the records buffered and a seal after them, which the next write
// overwrites with its first record: so the log knows its own end, at no
// cost but 20 bytes a write. A log at rest ends with its seal; one cut
// short anywhere, at a record boundary too, does not, and Strict reading
// reports it (ErrCorrupt). A crash in a write may leave the log unsealed
// or with bytes after its seal: best effort reads the records before,
// and OpenRecordLog cuts what follows them and seals them again.
//
// Version 1, written by earlier releases, has no seal: a log cut at a
// record boundary reads as a shorter log, even Strict, which is why the
// format changed. This release reads version 1 logs and appends to them
// as version 1 (rewriting a header in place could tear it); an earlier
// release refuses version 2 with ErrVersion. To give an old log the seal,
// copy its records into a new one.
//
// Its methods are safe for concurrent use, but it has no group commit:
// each FlushAndSync holds the log for its fsync. Durability is as for
// WAL: Append buffers, Flush reaches the page cache, FlushAndSync is
// durable; a failed write or fsync breaks the log (ErrBroken).
type RecordLog struct {
	fsys    engine.FS
	name    string
	opts    RecordLogOptions
	lock    io.Closer
	repairs []Repair

	version uint32 // of the file: RecordLogVersion, or 1 (no seals)

	mu      sync.Mutex
	f       engine.File
	buf     []byte
	end     int64  // where buf goes in the file (over the seal, if any)
	last    uint64 // index of the last record appended
	written uint64
	durable uint64
	broken  error
	closed  bool
}

// RecordLogOptions configure a RecordLog. The zero value picks every
// default.
type RecordLogOptions struct {
	// MaxRecordSize bounds a record (default 16 MiB, at most
	// MaxFrameSize); Append of a larger one fails with ErrTooLarge.
	MaxRecordSize int
	// TornRetention is as Options.TornRetention, for the files
	// OpenRecordLog sets aside.
	TornRetention int
}

// CreateRecordLog creates the record log name, which must not exist (an
// error wrapping fs.ErrExist if it does). Its header and name are durable
// when it returns.
func CreateRecordLog(fsys engine.FS, name string, opts RecordLogOptions) (*RecordLog, error) {
	l, err := lockRecordLog(fsys, name, opts)
	if err != nil {
		return nil, err
	}
	if err := l.create(os.O_EXCL); err != nil {
		l.release()
		return nil, fmt.Errorf("wal: create record log %s: %w", name, err)
	}
	return l, nil
}

// OpenRecordLog opens the record log name to append to it, creating it if
// it does not exist. Like Resume, it reads the log best-effort, cuts a
// torn tail (keeping the bytes aside in name.<offset>.torn, see Repairs),
// truncates any zeros after the data, and rewrites and syncs the data so
// that everything it found is durable when it returns. Corruption before
// the tail is an error wrapping ErrCorrupt, and nothing is changed. It
// also removes the temporary a crash left while a tail was set aside, and
// keeps RecordLogOptions.TornRetention of the files set aside (name.torn,
// name.<hex>.torn: these names are the log's, so no other record log in
// the directory may be named name.<hex>).
func OpenRecordLog(fsys engine.FS, name string, opts RecordLogOptions) (*RecordLog, error) {
	l, err := lockRecordLog(fsys, name, opts)
	if err != nil {
		return nil, err
	}
	if err := l.open(); err != nil {
		l.release()
		return nil, fmt.Errorf("wal: open record log %s: %w", name, err)
	}
	return l, nil
}

func lockRecordLog(fsys engine.FS, name string, opts RecordLogOptions) (*RecordLog, error) {
	if opts.MaxRecordSize == 0 {
		opts.MaxRecordSize = defaultMaxEntrySize
	}
	if opts.MaxRecordSize < 0 || opts.MaxRecordSize > MaxFrameSize {
		return nil, fmt.Errorf("wal: record log options: %w: maximum record size %d not in [1, %d]", fs.ErrInvalid, opts.MaxRecordSize, MaxFrameSize)
	}
	lock, err := fsys.Lock(name+".lock", engine.Exclusive)
	if errors.Is(err, engine.ErrLocked) {
		return nil, fmt.Errorf("%w: %s: %w", ErrLocked, name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("wal: lock %s: %w", name, err)
	}
	return &RecordLog{fsys: fsys, name: name, opts: opts, lock: lock}, nil
}

// create creates the file with its header and a seal, durably.
func (l *RecordLog) create(excl int) error {
	f, err := l.fsys.OpenFile(l.name, os.O_RDWR|os.O_CREATE|os.O_TRUNC|excl, 0o644)
	if err != nil {
		return err
	}
	l.f, l.end, l.version = f, HeaderSize, RecordLogVersion
	b := appendHeader(nil, RecordLogMagic, RecordLogVersion, 0, 0)
	if _, err := f.WriteAt(appendFrame(b, KindSeal, 0, nil), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return engine.SyncParent(l.fsys, l.name)
}

func (l *RecordLog) open() error {
	// Every path below syncs the directory.
	if err := tidyRecordLog(l.fsys, l.name, retention(l.opts.TornRetention)); err != nil {
		return err
	}
	rs, err := scanRecords(l.fsys, l.name, BestEffort, nil)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l.create(0)
	case err != nil:
		return err
	case rs.hdrErr != nil:
		// A torn header: the log was being created, and holds no record.
		// Whatever bytes it has are set aside, and it is created again.
		return l.recreate(rs.hdrErr)
	}
	// Cut what follows the data (the records, and their seal if they have
	// one), seal them if they have none, rewrite them.
	end := rs.end
	if rs.sealed {
		end += sealSize
	}
	reason := "bytes after the end of the data"
	if rs.sealed {
		reason = "bytes after the seal: a write over it did not finish"
	}
	var ce *CorruptError
	if errors.As(rs.torn, &ce) {
		reason = ce.Reason
	}
	rep, err := cutTail(l.fsys, l.name, 0, end, 0, reason)
	if rep != nil {
		l.repairs = append(l.repairs, *rep)
	}
	if err != nil {
		return err
	}
	if rs.version >= 2 && !rs.sealed {
		if err := writeAt(l.fsys, l.name, appendFrame(nil, KindSeal, rs.last, nil), end); err != nil {
			return err
		}
		end += sealSize
	}
	if err := rewrite(l.fsys, l.name, end); err != nil {
		return err
	}
	if err := engine.SyncParent(l.fsys, l.name); err != nil {
		return err
	}
	if l.f, err = l.fsys.OpenFile(l.name, os.O_RDWR, 0); err != nil {
		return err
	}
	l.version = rs.version
	l.end, l.last, l.written, l.durable = rs.end, rs.last, rs.last, rs.last
	return nil
}

// writeAt writes b at off in the file name.
func writeAt(fsys engine.FS, name string, b []byte, off int64) error {
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(b, off)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// recreate sets a log with a torn header aside, if it holds anything but
// zeros, and creates it again.
func (l *RecordLog) recreate(herr error) error {
	r, err := openReader(l.fsys, l.name, 0, nil)
	if err != nil {
		return err
	}
	end, err := r.dirtyExtent(0, true)
	r.close()
	if err != nil {
		return err
	}
	if end > 0 {
		aside := l.name + tornExt
		if err := l.fsys.Rename(l.name, aside); err != nil {
			return err
		}
		l.repairs = append(l.repairs, Repair{Length: r.size, Aside: aside, Reason: "torn header: " + herr.Error()})
	}
	return l.create(0)
}

func (l *RecordLog) release() error {
	var errs []error
	if l.f != nil {
		errs = append(errs, l.f.Close())
		l.f = nil
	}
	if l.lock != nil {
		errs = append(errs, l.lock.Close())
		l.lock = nil
	}
	return errors.Join(errs...)
}

// Repairs returns what OpenRecordLog cut from a torn tail.
func (l *RecordLog) Repairs() []Repair { return l.repairs }

// LastIndex returns the index of the last record appended, 0 if none.
func (l *RecordLog) LastIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (l *RecordLog) usable() error {
	switch {
	case l.closed:
		return ErrClosed
	case l.broken != nil:
		return l.broken
	}
	return nil
}

// Append appends rec and returns its index. It is buffered: see Flush and
// FlushAndSync.
func (l *RecordLog) Append(rec []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	if len(rec) > l.opts.MaxRecordSize {
		return 0, fmt.Errorf("%w: %d bytes, the maximum is %d", ErrTooLarge, len(rec), l.opts.MaxRecordSize)
	}
	l.last++
	l.buf = appendFrame(l.buf, KindRecord, l.last, rec)
	if len(l.buf) >= defaultBufferSize {
		return l.last, l.write(false)
	}
	return l.last, nil
}

// Flush writes the records appended so far to the page cache.
func (l *RecordLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(false)
}

// FlushAndSync makes the records appended so far durable.
func (l *RecordLog) FlushAndSync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(true)
}

// write writes the buffer, and syncs if asked; a failure breaks the log.
func (l *RecordLog) write(sync bool) error {
	if l.broken != nil {
		return l.broken // even with nothing left to write: see ErrBroken
	}
	if l.durable == l.last || !sync && l.written == l.last {
		return nil
	}
	if err := l.usable(); err != nil {
		return err
	}
	if len(l.buf) > 0 {
		data := l.buf
		if l.version >= 2 {
			data = appendFrame(data, KindSeal, l.last, nil) // over which the next write goes
		}
		if _, err := l.f.WriteAt(data, l.end); err != nil {
			return l.fail(fmt.Errorf("write %s at %d: %w", l.name, l.end, err))
		}
		l.end += int64(len(l.buf))
		l.buf = l.buf[:0]
		l.written = l.last
	}
	if sync {
		if err := l.f.Sync(); err != nil {
			return l.fail(fmt.Errorf("sync %s: %w", l.name, err))
		}
		l.durable = l.last
	}
	return nil
}

func (l *RecordLog) fail(err error) error {
	l.broken = fmt.Errorf("%w: %w", ErrBroken, err)
	return l.broken
}

// Close makes the records appended durable, closes the file and releases
// the lock. A broken log is released and its error returned.
func (l *RecordLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	err := l.write(true)
	l.closed = true
	return errors.Join(err, l.release())
}

// ReplayRecords reads the record log name and calls fn with each record,
// in order, with its index; rec is valid only during the call. Errors are
// as for ReplayEach. Best effort takes a log whose header is torn, and that
// holds no record after it, for an empty log (a crash while it was
// created).
func ReplayRecords(fsys engine.FS, name string, mode Mode, fn func(index uint64, rec []byte) error) error {
	_, err := scanRecords(fsys, name, mode, fn)
	return err
}

// ReadRecords returns every record of the record log name, as
// ReplayRecords reads them.
func ReadRecords(fsys engine.FS, name string, mode Mode) ([][]byte, error) {
	var recs [][]byte
	err := ReplayRecords(fsys, name, mode, func(_ uint64, rec []byte) error {
		recs = append(recs, append([]byte(nil), rec...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// records is what scanRecords learned of a record log.
type records struct {
	version uint32
	hdrErr  error // a torn header, which best effort tolerates (an empty log)
	end     int64 // offset just past the last record
	last    uint64
	sealed  bool  // a seal follows the last record (version 2)
	torn    error // where the data stops in something that is not a frame
}

// scanRecords reads a record log: in Strict mode it must end cleanly (with
// its seal in version 2, and only zeros after the data); best effort stops
// at a torn tail, takes a log without its seal as it is, and a torn header
// for an empty log.
func scanRecords(fsys engine.FS, name string, mode Mode, fn func(uint64, []byte) error) (records, error) {
	rs := records{end: HeaderSize}
	r, err := openReader(fsys, name, 0, nil)
	if err != nil {
		return rs, err
	}
	defer r.close()
	if herr := r.hdr.Validate(RecordLogMagic, RecordLogVersion); herr != nil {
		if mode == Strict || errors.Is(herr, ErrVersion) {
			return rs, headerError(name, 0, herr)
		}
		if _, err := r.next(); err == nil {
			// A header is torn only while the log is created, before any
			// frame: frames after a bad header are corruption.
			return rs, corrupt(name, 0, 0, "%v, and the log holds records", herr)
		}
		rs.hdrErr = herr
		return rs, nil
	}
	rs.version = r.hdr.version
	for {
		at := r.off
		f, err := r.next()
		if err == errEnd {
			break
		}
		if errors.Is(err, ErrCorrupt) {
			rs.torn = err
			break
		}
		if err != nil {
			return rs, err
		}
		if f.kind == KindSeal && rs.version >= 2 {
			if f.id != rs.last {
				return rs, corrupt(name, 0, at, "seal with index %d after record %d", f.id, rs.last)
			}
			// The end. A complete write overwrites the seal before it, so
			// any bytes after this one are what is left of a write that
			// did not finish (its records may even look valid): Strict
			// reports them, best effort ignores them.
			rs.sealed = true
			break
		}
		if f.kind != KindRecord {
			return rs, corrupt(name, 0, at, "%v frame in a record log", f.kind)
		}
		if f.id != rs.last+1 {
			return rs, corrupt(name, 0, at, "record %d after record %d", f.id, rs.last)
		}
		rs.last, rs.end = f.id, r.off
		if fn != nil {
			if err := fn(f.id, f.payload); err != nil {
				return rs, err
			}
		}
	}
	if mode == Strict {
		if rs.torn != nil {
			return rs, rs.torn
		}
		end := rs.end
		if rs.sealed {
			end += sealSize
		} else if rs.version >= 2 {
			return rs, corrupt(name, 0, rs.end, "no seal after record %d: the log was cut short, or a write of it did not finish", rs.last)
		}
		dirty, err := r.dirtyExtent(end, true)
		if err != nil {
			return rs, err
		}
		if dirty > end {
			return rs, corrupt(name, 0, end, "non-zero bytes after the end of the data")
		}
	}
	return rs, nil
}
