package wal

import (
	"errors"
	"fmt"

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
// ReplayEach takes no lock and reads only: it may run while a writer
// appends, and then sees a prefix of the log, or a torn tail in Strict
// mode, if it catches a write in flight.
func ReplayEach[E any](fsys engine.FS, dir string, codec Codec[E], mode Mode, fn func(id uint64, e E) error) error {
	_, err := scan(fsys, dir, mode, 0, func(id uint64, payload []byte) error {
		e, err := codec.Decode(payload)
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
// after.
func scan(fsys engine.FS, dir string, mode Mode, after uint64, fn func(id uint64, payload []byte) error) (*scanned, error) {
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return nil, err
	}
	sc := &scanned{active: -1}
	var buf []byte
	for i, s := range segs {
		r, err := openReader(fsys, s.path, s.seq, buf)
		if err != nil {
			return nil, err
		}
		buf = r.buf
		info := segmentInfo{segmentFile: s, size: r.size, end: HeaderSize, prealloc: r.hdr.size}
		if herr := segmentHeaderError(r.hdr, s.seq); herr != nil {
			size := r.size
			_, ferr := r.next()
			r.close()
			if errors.Is(herr, ErrVersion) {
				return nil, headerError(s.path, s.seq, herr)
			}
			if ferr == nil {
				// A header is torn only while a segment is created, before
				// any frame: frames after a bad header are corruption.
				return nil, corrupt(s.path, s.seq, 0, "%v, and the segment holds frames", herr)
			}
			// A torn header is what a crash while creating a segment
			// leaves; best effort tolerates it where no data follows.
			if mode == BestEffort {
				later, err := anyFrames(fsys, segs[i+1:])
				if err != nil {
					return nil, err
				}
				if !later {
					return sc.trailing(fsys, segs[i:], mode, herr, size)
				}
			}
			return nil, headerError(s.path, s.seq, herr)
		}
		err = sc.frames(r, &info, after, fn)
		if err == nil {
			err = sc.settle(fsys, r, &info, segs[i+1:], mode)
		}
		r.close()
		if err != nil {
			return nil, err
		}
		sc.segs = append(sc.segs, info)
		sc.active = i
		if !info.sealed {
			return sc.trailing(fsys, segs[i+1:], mode, nil, 0)
		}
	}
	return sc, nil
}

// settle checks how a segment's data ends, its reader still open: a
// segment that is not sealed must be the last holding data; in Strict mode
// its data must end cleanly, and only zeros may follow, sealed or not.
func (sc *scanned) settle(fsys engine.FS, r *fileReader, info *segmentInfo, later []segmentFile, mode Mode) error {
	if !info.sealed {
		more, err := anyFrames(fsys, later)
		if err != nil {
			return err
		}
		if more {
			why := "a clean end"
			if info.torn != nil {
				why = info.torn.Error()
			}
			return corrupt(info.path, info.seq, info.end, "the segment ends without a seal (at %s) but later segments hold frames", why)
		}
	}
	if mode != Strict {
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
	if err := h.Validate(SegmentMagic); err != nil {
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
		if ce := (*CorruptError)(nil); errors.As(err, &ce) {
			if info.sealed {
				// Slack: the seal says nothing follows, and these bytes
				// are no frame. Damaged, but no data: Strict reports it,
				// best effort ignores it, Resume restores the zeros.
				err = corrupt(r.path, r.seg, at, "after the seal: %s", ce.Reason)
			}
			info.torn = err
			break
		}
		if err != nil {
			return err
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

// trailing records the segments after the last one holding data: in
// Strict mode each must have a valid header and nothing but zeros after
// it; best effort tolerates anything (the first may have had a torn header,
// herr, and size bytes), since none holds a valid first frame.
func (sc *scanned) trailing(fsys engine.FS, segs []segmentFile, mode Mode, herr error, size int64) (*scanned, error) {
	for i, s := range segs {
		info := segmentInfo{segmentFile: s, end: HeaderSize}
		if i == 0 && herr != nil {
			info.hdrErr, info.size = herr, size
			sc.segs = append(sc.segs, info)
			continue
		}
		r, err := openReader(fsys, s.path, s.seq, nil)
		if err != nil {
			return nil, err
		}
		info.size, info.prealloc = r.size, r.hdr.size
		info.hdrErr = segmentHeaderError(r.hdr, s.seq)
		if mode == Strict {
			switch {
			case errors.Is(info.hdrErr, ErrVersion):
				err = headerError(s.path, s.seq, info.hdrErr)
			case info.hdrErr != nil:
				err = corrupt(s.path, s.seq, 0, "%v", info.hdrErr)
			case info.size < info.prealloc:
				err = corrupt(s.path, s.seq, info.size, "the file is %d bytes, shorter than the %d it was created with", info.size, info.prealloc)
			default:
				if end, derr := r.dirtyExtent(HeaderSize, true); derr != nil {
					err = derr
				} else if end > HeaderSize {
					err = corrupt(s.path, s.seq, HeaderSize, "data in a segment after the end of the log")
				}
			}
		}
		r.close()
		if err != nil {
			return nil, err
		}
		sc.segs = append(sc.segs, info)
	}
	return sc, nil
}

// anyFrames reports whether any of segs has a valid header and a valid
// first frame.
func anyFrames(fsys engine.FS, segs []segmentFile) (bool, error) {
	for _, s := range segs {
		r, err := openReader(fsys, s.path, s.seq, nil)
		if err != nil {
			return false, err
		}
		ok := false
		if segmentHeaderError(r.hdr, s.seq) == nil {
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
	return false, nil
}
