package wal

import (
	"errors"
	"fmt"
	"os"

	"github.com/crashsim/crashsim/engine"
)

// Repair is one change Resume made to a log it found torn.
type Repair struct {
	// Segment is the segment repaired.
	Segment uint64
	// Offset is where the bytes cut start; 0 when the whole file was set
	// aside (a segment with a torn header, or one after it).
	Offset int64
	// Length is how many bytes were set aside; or, when Aside is "",
	// how many zeros were added at Offset to give a file found shorter
	// than it was created its size back.
	Length int64
	// Aside is the file that holds them now; "" if nothing was set aside.
	Aside string
	// Reason says what was wrong.
	Reason string
}

func (r Repair) String() string {
	if r.Aside == "" {
		return fmt.Sprintf("segment %d: %d bytes of zeros added at offset %d: %s", r.Segment, r.Length, r.Offset, r.Reason)
	}
	if r.Offset == 0 {
		return fmt.Sprintf("segment %d set aside as %s: %s", r.Segment, r.Aside, r.Reason)
	}
	return fmt.Sprintf("segment %d: %d bytes at offset %d cut, kept in %s: %s", r.Segment, r.Length, r.Offset, r.Aside, r.Reason)
}

// Resume opens the WAL in dir to append to it, after a clean Close or a
// crash; a directory that holds no segment (or does not exist) gets a new
// log, as with New. It reads the log best-effort and fails where that
// fails (corruption before the tail, a valid frame after a seal: an error
// wrapping ErrCorrupt, and Resume changes nothing). Otherwise it repairs
// what a crash left, and damage that provably holds no data, so that the
// log reads back Strict, with exactly the entries best-effort reading
// returned, and appends go on after the last of them:
//
//   - a torn tail of the last segment holding data is cut: the bytes from
//     the first frame that does not check to the last non-zero byte are
//     kept aside in a file (see Repair) and the segment truncated there
//     (and extended again to its size, with zeros);
//   - a segment after it with a torn header, and any segment after that,
//     is set aside whole (renamed); torn frames in one with a valid header
//     are cut as above; segments beyond the one created ahead are removed;
//   - the slack of each sealed segment (what follows its seal) gets its
//     zeros and its size back: bytes there that are no frame are cut as
//     above, a file cut short is extended. The seal says nothing follows
//     it, so this loses nothing. A crash never leaves such damage (the
//     slack is zeros made durable before the segment's first frame): it
//     is failing media or another program writing to the log, and each
//     such Repair is worth a look;
//   - the segment appends go on in is rewritten with its own content and
//     synced, and the directory synced: an earlier process may have seen an
//     fsync fail (Linux then drops the dirty pages, yet still serves them
//     from the page cache), so nothing it wrote is trusted to be durable
//     until Resume has made it so. This costs a write of that segment's
//     data, at most Options.SegmentSize, once per Resume.
//
// Before all that it removes the temporary files a crash left (a
// checkpoint or a tail being set aside) and keeps Options.TornRetention of
// the files earlier repairs set aside, besides those it sets aside itself.
//
// Every step can be interrupted by a crash and Resume run again: it gets
// to the same log. When Resume returns, every entry it found is durable.
func Resume[E any](fsys engine.FS, dir string, codec Codec[E], opts Options) (*WAL[E], error) {
	w, err := open(fsys, dir, codec, opts)
	if err != nil {
		return nil, err
	}
	if err := w.resume(); err != nil {
		w.release()
		return nil, fmt.Errorf("wal: resume %s: %w", dir, err)
	}
	return w, nil
}

func (w *WAL[E]) resume() error {
	// Every path below syncs the directory.
	if err := tidyWAL(w.fsys, w.dir, retention(w.opts.TornRetention)); err != nil {
		return err
	}
	sc, err := scan(w.fsys, w.dir, BestEffort, 0, nil)
	if err != nil {
		return err
	}
	segs := sc.segs
	if len(segs) == 0 {
		return w.start(1)
	}
	// Trailing segments from the first torn header on, highest first, so
	// that a crash never leaves a gap in the sequence.
	bad := len(segs)
	for i, s := range segs {
		if s.hdrErr != nil {
			bad = i
			break
		}
	}
	for i := len(segs) - 1; i >= bad; i-- {
		reason := "follows a segment with a torn header"
		if i == bad {
			reason = "torn header: " + segs[i].hdrErr.Error()
		}
		if err := w.setAside(segs[i], reason); err != nil {
			return err
		}
	}
	segs = segs[:bad]
	if sc.active >= len(segs) {
		sc.active = len(segs) - 1
	}
	if sc.active < 0 {
		// No segment with a valid header: a log torn while New created it.
		if err := w.fsys.SyncDir(w.dir); err != nil {
			return err
		}
		return w.start(sc.segs[0].seq)
	}

	a := segs[sc.active]
	cur := sc.active // index of the segment appends go on in
	if a.sealed {
		cur++
	}
	// Segments beyond the one ahead of cur hold nothing: remove them.
	for i := len(segs) - 1; i > cur+1; i-- {
		if err := w.fsys.Remove(segs[i].path); err != nil {
			return err
		}
	}
	segs = segs[:min(len(segs), cur+2)]
	// Restore the slack of the sealed segments before the active one:
	// what follows a seal is no data, so damage there loses nothing, but
	// Strict reading would report it forever.
	for _, s := range segs[:sc.active] {
		if err := w.cut(s, s.end); err != nil {
			return err
		}
	}
	// Cut torn tails: whatever follows the data in the active segment
	// (after its seal too), anything in the segments after it.
	if err := w.cut(a, a.end); err != nil {
		return err
	}
	for _, s := range segs[sc.active+1:] {
		if err := w.cut(s, HeaderSize); err != nil {
			return err
		}
	}
	if err := rewrite(w.fsys, a.path, a.end); err != nil {
		return err
	}
	if err := w.fsys.SyncDir(w.dir); err != nil {
		return err
	}

	// Open the current segment, and the one ahead of it.
	seq := a.seq + uint64(cur-sc.active)
	if cur < len(segs) {
		w.cur, err = w.fsys.OpenFile(segs[cur].path, os.O_RDWR, 0)
	} else {
		w.cur, err = createSegment(w.fsys, w.dir, seq, w.opts, true)
	}
	if err != nil {
		return err
	}
	if cur+1 < len(segs) {
		w.ahead, err = w.fsys.OpenFile(segs[cur+1].path, os.O_RDWR, 0)
	} else {
		w.ahead, err = createSegment(w.fsys, w.dir, seq+1, w.opts, true)
	}
	if err != nil {
		return err
	}

	w.c.seg, w.c.off = seq, HeaderSize
	if !a.sealed {
		w.c.off, w.c.frames = a.end, a.frames
	}
	w.c.last, w.c.written, w.c.durable = sc.last, sc.last, sc.last
	for _, s := range segs[:sc.active+1] {
		if s.sealed {
			w.c.sealed = append(w.c.sealed, sealedSegment{s.seq, s.last})
		}
	}
	return nil
}

// setAside renames segment s out of the log, to its name plus ".torn".
func (w *WAL[E]) setAside(s segmentInfo, reason string) error {
	aside := s.path + tornExt
	if err := w.fsys.Rename(s.path, aside); err != nil {
		return err
	}
	w.repairs = append(w.repairs, Repair{Segment: s.seq, Length: s.size, Aside: aside, Reason: reason})
	return nil
}

// cut cuts whatever segment s holds from off on, and gives it back its
// preallocated size (see cutTail).
func (w *WAL[E]) cut(s segmentInfo, off int64) error {
	reason := "bytes after the end of the data"
	if s.sealed && off == s.end {
		reason = "bytes after the seal"
	}
	var ce *CorruptError
	if off == s.end && errors.As(s.torn, &ce) {
		reason = ce.Reason
	}
	r, err := cutTail(w.fsys, s.path, s.seq, off, max(s.prealloc, HeaderSize), reason)
	if r != nil {
		w.repairs = append(w.repairs, *r)
	}
	return err
}

// cutTail cuts what the file name holds from off on: the bytes up to the
// last non-zero one are written aside, durably, to name.<off in hex>.torn;
// then the file is truncated at off and, if size > 0 (a preallocated
// segment), extended to size with zeros; then synced. It does nothing if
// there is nothing but zeros from off on and the file has the size it
// would be given. It returns the Repair of bytes set aside, if any.
func cutTail(fsys engine.FS, name string, seg uint64, off, size int64, reason string) (*Repair, error) {
	r, err := openReader(fsys, name, seg, nil)
	if err != nil {
		return nil, err
	}
	end, err := r.dirtyExtent(off, false)
	var cut []byte
	if err == nil && end > off {
		cut = make([]byte, end-off)
		_, err = r.f.ReadAt(cut, off)
	}
	have := r.size
	r.close()
	want := max(size, off)
	if err != nil || end == off && (size > 0 && have >= want || size == 0 && have == off) {
		return nil, err
	}
	var rep *Repair
	switch {
	case end > off:
		aside := fmt.Sprintf("%s.%x%s", name, off, tornExt)
		if err := engine.WriteFileAtomic(fsys, aside, cut, 0o644); err != nil {
			return nil, err
		}
		rep = &Repair{Segment: seg, Offset: off, Length: end - off, Aside: aside, Reason: reason}
	case size > 0 && have < want:
		rep = &Repair{Segment: seg, Offset: have, Length: want - have,
			Reason: fmt.Sprintf("the file is %d bytes, shorter than the %d it was created with", have, want)}
	}
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return rep, err
	}
	err = f.Truncate(off)
	if err == nil && size > 0 {
		err = f.Truncate(want)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return rep, err
}

// rewrite writes the first end bytes of the file name over themselves and
// syncs it, so that what the page cache shows of them is durable, even
// after an fsync failed and Linux dropped the pages (the next write of a
// page makes it dirty again, whole).
func rewrite(fsys engine.FS, name string, end int64) error {
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	buf := make([]byte, min(end, readChunk))
	for off := int64(0); off < end && err == nil; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), end-off)]
		if _, err = f.ReadAt(b, off); err == nil {
			_, err = f.WriteAt(b, off)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
