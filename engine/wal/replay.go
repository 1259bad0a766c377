package wal

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/crashsim/crashsim/engine"
)

// Mode says how reading treats a log that does not end cleanly.
type Mode int

const (
	// Strict reading accepts only a log that ends cleanly: every segment
	// but the last one holding data sealed, every frame valid, and only
	// zeros after the data, up to the end of every file. A torn tail is an
	// error. It is the zero Mode, and what a log repaired by Resume passes.
	Strict Mode = iota
	// BestEffort reading tolerates what a crash leaves at the end of the
	// log, and only there: a torn or garbage tail in the last segment that
	// holds data (the entries before it are returned, none after), and in
	// the segments after it, which hold no data, a torn header or torn
	// frames. Corruption anywhere before, in a sealed segment or before the
	// last segment holding data, is still an error — but for the slack of
	// a sealed segment: bytes after a valid seal that are no frame, or a
	// file cut short after its seal, are ignored, since the seal says
	// nothing follows it (a valid frame after a seal is an error). It
	// never returns garbage: every entry it returns passed its checksum
	// and its id.
	BestEffort
)

func (m Mode) String() string {
	switch m {
	case Strict:
		return "strict"
	case BestEffort:
		return "best-effort"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Entry is an entry of a WAL and the id the writer gave it.
type Entry[E any] struct {
	ID    uint64
	Value E
}

// ReplayEach reads the WAL in dir, in order, and calls fn with each entry
// and its id; checkpoint markers are not entries and are skipped. It
// returns the first error of fn as it is, or an error wrapping ErrCorrupt
// (a *CorruptError) or ErrVersion where the log does not check as mode
// says, or an I/O error. fn may have seen entries before such an error:
// streaming cannot know that a later segment is corrupt. A missing
// directory is an error wrapping fs.ErrNotExist.
//
// ReplayEach takes no lock and writes nothing: it may run beside a writer
// (in this process or another) that appends, seals segments and publishes
// checkpoints. Read BestEffort then: fn gets a prefix of the log that
// holds every entry the log held when the call began (written by Flush or
// FlushAndSync, synced or not), and perhaps some written since; never a
// gap, an entry out of order, or ErrCorrupt on a healthy log. If Publish
// removes segments holding entries fn has not been given yet, ReplayEach
// returns an error wrapping ErrTruncated after that prefix. Strict is for
// a log at rest: beside a writer it reports ErrCorrupt where it catches a
// write in flight (a frame half written, bytes written after those it
// read, a segment being created).
func ReplayEach[E any](fsys engine.FS, dir string, codec Codec[E], mode Mode, fn func(id uint64, e E) error) error {
	decode := codec.Decode
	if _, ok := any(codec).(bytesCodec); ok {
		// E is []byte: the entries are copied into blocks shared by
		// those of this replay (entryArena).
		var a entryArena
		decode = any(a.copy).(func([]byte) (E, error))
	}
	_, err := scan(fsys, dir, mode, 0, func(id uint64, payload []byte) error {
		e, err := decode(payload)
		if err != nil {
			return fmt.Errorf("wal: decode entry %d: %w", id, err)
		}
		return fn(id, e)
	})
	return err
}

// Replay returns every entry of the WAL in dir, as ReplayEach reads them.
func Replay[E any](fsys engine.FS, dir string, codec Codec[E], mode Mode) ([]Entry[E], error) {
	var out []Entry[E]
	err := ReplayEach(fsys, dir, codec, mode, func(id uint64, e E) error {
		out = append(out, Entry[E]{id, e})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanned is what scan learned of a WAL directory.
type scanned struct {
	segs []segmentInfo
	// active is the index in segs of the segment appends go on in (or
	// after, when it is sealed): the first one that is not sealed, or the
	// last; -1 when no segment has a valid header.
	active int
	// first and last are the first and last ids of entries and markers;
	// 0 when there are none.
	first, last uint64
	// marker is the entry id covered by the latest checkpoint marker; 0
	// when there is none.
	marker uint64
}

// segmentInfo is what scan learned of one segment.
type segmentInfo struct {
	segmentFile
	size     int64
	scanned  bool   // its frames were read (segments after the active one are not)
	hdrErr   error  // the defect of its header; only a trailing segment, read best-effort, may have one
	frames   int    // valid frames, the seal included
	last     uint64 // the last id in it; 0 if none
	sealed   bool
	end      int64 // offset just past the last valid frame
	torn     error // where the data stops in something that is not a frame; nil at a clean end
	prealloc int64 // the size its header says it was created with
}

// scan reads the segments of dir in order, checks them as mode says, and
// calls fn, if not nil, with the payload of every entry whose id is above
// after. Beside a writer (see ReplayEach) it starts again if Publish
// removed segments it needed before fn was given an entry, and returns an
// error wrapping ErrTruncated if after.
func scan(fsys engine.FS, dir string, mode Mode, after uint64, fn func(id uint64, payload []byte) error) (*scanned, error) {
	for {
		s := &scanner{fsys: fsys, dir: dir, mode: mode, after: after}
		if fn != nil {
			s.deliver = func(id uint64, payload []byte) error {
				s.delivered = true
				return fn(id, payload)
			}
		}
		sc, err := s.run()
		var moved *frontMoved
		if !errors.As(err, &moved) {
			return sc, err
		}
		if s.delivered {
			return nil, fmt.Errorf("%w: segment %d was removed before it was read (the log now starts at segment %d)", ErrTruncated, moved.seq, moved.front)
		}
		// Nothing passed on yet: read the log as it is now. Each pass
		// that ends here saw the front of the log move, so a reader
		// starts over only as often as a writer publishes.
	}
}

// frontMoved says that segment seq, which a scan needed, is gone, and the
// log now starts at segment front: Publish removed it (only Publish
// removes segments, and only from the front).
type frontMoved struct{ seq, front uint64 }

func (e *frontMoved) Error() string {
	return fmt.Sprintf("segment %d removed under the reader (the log now starts at segment %d)", e.seq, e.front)
}

// scanner is one pass of scan over a directory. It walks the segments by
// name, following the seals, from the first to the last that exists when
// it begins, and takes a directory listing only to find those two and to
// explain a segment that is not there: a listing taken while a writer
// creates or removes segments may miss one that exists (ext4 does), and a
// segment listed may be gone by the time it is opened. Segments a writer
// creates after the pass began are not read: a reader beside a writer
// faster than itself still finishes.
type scanner struct {
	fsys      engine.FS
	dir       string
	mode      Mode
	after     uint64
	deliver   func(id uint64, payload []byte) error // fn, noting that it was called; nil without fn
	delivered bool
	end       uint64 // the segment after the last one the pass reads
	prefix    string // dir cleaned, and a slash: what precedes a segment's name
}

// path is segmentPath(s.dir, seq), without cleaning the directory's name
// on every call.
func (s *scanner) path(seq uint64) string {
	if s.prefix == "" {
		s.prefix = strings.TrimSuffix(segmentPath(s.dir, 1), segmentName(1))
	}
	return s.prefix + segmentName(seq)
}

func (s *scanner) run() (*scanned, error) {
	sc := &scanned{active: -1}
	listed, err := listSegments(s.fsys, s.dir)
	if err != nil {
		return nil, err
	}
	if len(listed) == 0 {
		return sc, nil
	}
	s.end = listed[len(listed)-1].seq + 1
	for s.exists(s.end) { // the listing may have missed the last ones
		s.end++
	}
	var buf []byte
	for seq := s.first(listed[0].seq); ; seq++ {
		r, err := s.open(seq, buf)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return sc, nil // the log ends with a sealed segment
		}
		buf = r.buf
		info := segmentInfo{segmentFile: segmentFile{seq, r.path}, size: r.size, end: HeaderSize, prealloc: r.hdr.size}
		if herr := segmentHeaderError(r.hdr, seq); herr != nil {
			size := r.size
			_, ferr := r.next()
			r.close()
			if errors.Is(herr, ErrVersion) {
				return nil, headerError(r.path, seq, herr)
			}
			if ferr == nil {
				// A header is torn only while a segment is created, before
				// any frame: frames after a bad header are corruption.
				return nil, corrupt(r.path, seq, 0, "%v, and the segment holds frames", herr)
			}
			// A torn header is what a crash while creating a segment
			// leaves; best effort tolerates it where no data follows.
			if s.mode == BestEffort {
				later, err := s.anyFrames(seq + 1)
				if err != nil {
					return nil, err
				}
				if !later {
					return s.trailing(sc, seq, herr, size)
				}
			}
			return nil, headerError(r.path, seq, herr)
		}
		err = sc.frames(r, &info, s.after, s.deliver)
		if err == nil {
			err = s.settle(sc, r, &info)
		}
		buf = r.buf
		r.close()
		if err != nil {
			return nil, err
		}
		sc.segs = append(sc.segs, info)
		sc.active = len(sc.segs) - 1
		if !info.sealed {
			return s.trailing(sc, seq+1, nil, 0)
		}
	}
}

// first returns the first segment of the log, from the first one a
// listing showed: the segments before it are looked up by name, since a
// listing may miss one that exists.
func (s *scanner) first(listed uint64) uint64 {
	seq := listed
	for seq > 1 && s.exists(seq-1) {
		seq--
	}
	return seq
}

// exists reports whether segment seq is a file.
func (s *scanner) exists(seq uint64) bool {
	fi, err := s.fsys.Stat(s.path(seq))
	return err == nil && fi.Mode().IsRegular()
}

// open opens segment seq to read it, reusing buf if not nil. It returns
// nil at the end of the log: seq is past the last segment the pass reads,
// or there is no segment seq and none after it. When seq is missing, a
// listing taken then says why: if the log now starts after seq, Publish
// removed it under the reader (a *frontMoved); if segments before and
// after seq are listed, it is a gap, which is corruption; if seq itself
// is listed, a writer created it since the open failed (the segment
// ahead), and it is opened again.
func (s *scanner) open(seq uint64, buf []byte) (*fileReader, error) {
	if seq >= s.end {
		return nil, nil
	}
	name := s.path(seq)
	for attempt := 0; ; attempt++ {
		r, err := openReader(s.fsys, name, seq, buf)
		if err == nil && r.regular {
			return r, nil
		}
		if err == nil {
			r.close() // not a file, so not a segment: listSegments ignores it too
			err = fmt.Errorf("open %s: not a regular file", name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		segs, lerr := listSegments(s.fsys, s.dir)
		if lerr != nil {
			return nil, lerr
		}
		i, listed := slices.BinarySearchFunc(segs, seq, func(f segmentFile, seq uint64) int { return cmp.Compare(f.seq, seq) })
		switch {
		case listed && attempt < 2:
			continue
		case listed:
			return nil, err
		case i == len(segs):
			return nil, nil
		case i == 0:
			return nil, &frontMoved{seq: seq, front: segs[0].seq}
		}
		return nil, corrupt(name, seq, 0, "segment missing between %d and %d", segs[i-1].seq, segs[i].seq)
	}
}

// settle checks how a segment's data ends, its reader still open: a
// segment that is not sealed must be the last holding data; in Strict mode
// its data must end cleanly, and only zeros may follow, sealed or not.
func (s *scanner) settle(sc *scanned, r *fileReader, info *segmentInfo) error {
	if !info.sealed {
		more, err := s.anyFrames(info.seq + 1)
		if err != nil {
			return err
		}
		if more {
			// At rest, corruption. But a writer beside us may have sealed
			// this segment since we read it, and gone on in the next: it
			// writes a seal before any byte of the next segment. Read on
			// from where we stopped.
			info.torn = nil
			if err := r.reload(); err != nil {
				return err
			}
			if err := sc.frames(r, info, s.after, s.deliver); err != nil {
				return err
			}
		}
		if more && !info.sealed {
			why := "a clean end"
			if info.torn != nil {
				why = info.torn.Error()
			}
			return corrupt(info.path, info.seq, info.end, "the segment ends without a seal (at %s) but later segments hold frames", why)
		}
	}
	if s.mode != Strict {
		return nil
	}
	if info.torn != nil {
		return info.torn
	}
	if info.size < info.prealloc {
		return corrupt(info.path, info.seq, info.size, "the file is %d bytes, shorter than the %d it was created with", info.size, info.prealloc)
	}
	end, err := r.dirtyExtent(info.end, true)
	if err != nil {
		return err
	}
	if end > info.end {
		return corrupt(info.path, info.seq, info.end, "non-zero bytes after the end of the data")
	}
	return nil
}

// segmentHeaderError validates a segment's header, and its sequence number
// against the file's name.
func segmentHeaderError(h header, seq uint64) error {
	if err := h.Validate(SegmentMagic, Version); err != nil {
		return err
	}
	if h.seq != seq {
		return errHeader(fmt.Sprintf("sequence number %d in the header of segment %d", h.seq, seq))
	}
	return nil
}

// frames reads the frames of one segment into info, checking ids and
// kinds against the log so far.
func (sc *scanned) frames(r *fileReader, info *segmentInfo, after uint64, fn func(uint64, []byte) error) error {
	info.scanned = true
	for {
		at := r.off
		f, err := r.next()
		if err == errEnd {
			break
		}
		if err != nil {
			// Only here: errors.As's target escapes, so that declared
			// in the loop it was an allocation per frame, and errors.As
			// checks its target by reflection before it looks at err —
			// together half the time of a replay of 100-byte entries
			// (docs/BENCHMARKS.md).
			var ce *CorruptError
			if !errors.As(err, &ce) {
				return err
			}
			if info.sealed {
				// Slack: the seal says nothing follows, and these bytes
				// are no frame. Damaged, but no data: Strict reports it,
				// best effort ignores it, Resume restores the zeros.
				err = corrupt(r.path, r.seg, at, "after the seal: %s", ce.Reason)
			}
			info.torn = err
			break
		}
		if info.sealed {
			// A frame that checks is data, which nothing explains after a
			// seal: corruption in both modes, never slack.
			return corrupt(r.path, r.seg, at, "%v frame after the seal", f.kind)
		}
		switch f.kind {
		case KindEntry, KindCheckpoint:
			if sc.last != 0 && f.id != sc.last+1 {
				return corrupt(r.path, r.seg, at, "%v id %d after id %d", f.kind, f.id, sc.last)
			}
			if sc.first == 0 {
				sc.first = f.id
			}
			sc.last, info.last = f.id, f.id
			if f.kind == KindCheckpoint {
				through := le.Uint64(f.payload)
				if through >= f.id {
					return corrupt(r.path, r.seg, at, "checkpoint marker %d covers entries through %d", f.id, through)
				}
				sc.marker = through
			} else if fn != nil && f.id > after {
				if err := fn(f.id, f.payload); err != nil {
					return err
				}
			}
		case KindSeal:
			if f.id != sc.last {
				return corrupt(r.path, r.seg, at, "seal with id %d after id %d", f.id, sc.last)
			}
			info.sealed = true
		default:
			return corrupt(r.path, r.seg, at, "%v frame in a WAL segment", f.kind)
		}
		info.frames++
		info.end = r.off
	}
	return nil
}

// trailing records the segments from seq from on, after the last one
// holding data: in Strict mode each must have a valid header and nothing
// but zeros after it; best effort tolerates anything (the first may have
// had a torn header, herr, and size bytes), since none holds a valid
// first frame.
func (s *scanner) trailing(sc *scanned, from uint64, herr error, size int64) (*scanned, error) {
	for seq := from; ; seq++ {
		info := segmentInfo{segmentFile: segmentFile{seq, s.path(seq)}, end: HeaderSize}
		if seq == from && herr != nil {
			info.hdrErr, info.size = herr, size
			sc.segs = append(sc.segs, info)
			continue
		}
		r, err := s.open(seq, nil)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return sc, nil
		}
		info.size, info.prealloc = r.size, r.hdr.size
		info.hdrErr = segmentHeaderError(r.hdr, seq)
		if s.mode == Strict {
			switch {
			case errors.Is(info.hdrErr, ErrVersion):
				err = headerError(info.path, seq, info.hdrErr)
			case info.hdrErr != nil:
				err = corrupt(info.path, seq, 0, "%v", info.hdrErr)
			case info.size < info.prealloc:
				err = corrupt(info.path, seq, info.size, "the file is %d bytes, shorter than the %d it was created with", info.size, info.prealloc)
			default:
				if end, derr := r.dirtyExtent(HeaderSize, true); derr != nil {
					err = derr
				} else if end > HeaderSize {
					err = corrupt(info.path, seq, HeaderSize, "data in a segment after the end of the log")
				}
			}
		}
		r.close()
		if err != nil {
			return nil, err
		}
		sc.segs = append(sc.segs, info)
	}
}

// anyFrames reports whether any segment from seq from on has a valid
// header and a valid first frame.
func (s *scanner) anyFrames(from uint64) (bool, error) {
	for seq := from; ; seq++ {
		r, err := s.open(seq, nil)
		if err != nil || r == nil {
			return false, err
		}
		ok := false
		if segmentHeaderError(r.hdr, seq) == nil {
			_, ferr := r.next()
			ok = ferr == nil
			if ferr != nil && ferr != errEnd && !errors.Is(ferr, ErrCorrupt) {
				err = ferr
			}
		}
		r.close()
		if ok || err != nil {
			return ok, err
		}
	}
}
