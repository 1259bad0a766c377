package wal

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"

	"github.com/crashsim/crashsim/engine"
)

// The files of a WAL directory:
//
//	LOCK                            the writer's flock (see New)
//	0000000000000001.wal            segments, by sequence number (16 hex digits)
//	0000000000000002.wal            the next one, created ahead of need
//	00000000000000c8.checkpoint     checkpoints, by the last entry id they cover
//	0000000000000002.wal.1f40.torn  bytes Resume cut from a torn tail, kept aside
//	0000000000000003.wal.torn       a segment with a torn header, set aside whole
//	(any of these).tmp              a checkpoint or a cut tail being written
//
// A crash may leave a .tmp file; New and Resume remove them, and keep the
// .torn files under Options.TornRetention (see tidy.go). Every other name
// is ignored, so a directory may hold other files too.
const (
	segmentExt    = ".wal"
	lockName      = "LOCK"
	tornExt       = ".torn"
	checkpointExt = ".checkpoint"
)

// segmentName is the file name of segment seq. Readers name every
// segment they open, so it is formatted by hand, not with fmt.
func segmentName(seq uint64) string {
	const digits = "0123456789abcdef"
	var b [16 + len(segmentExt)]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[seq&15]
		seq >>= 4
	}
	copy(b[16:], segmentExt)
	return string(b[:])
}

func segmentPath(dir string, seq uint64) string { return path.Join(dir, segmentName(seq)) }

// parseSeq parses a name made of 16 lower-case hex digits and ext.
func parseSeq(name, ext string) (uint64, bool) {
	if len(name) != 16+len(ext) || name[16:] != ext {
		return 0, false
	}
	for _, c := range name[:16] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(name[:16], 16, 64)
	return n, err == nil && n > 0
}

// segmentFile is a segment found in a directory.
type segmentFile struct {
	seq  uint64
	path string
}

// listSegments returns the segments a listing of dir shows, in order.
// Segments are removed only from the front and created only at the back,
// so a gap in their sequence numbers is corruption — or, beside a writer,
// a listing that missed a segment: readers walk the segments by name (see
// scanner), and a listing only tells them where to start and why a
// segment is missing.
func listSegments(fsys engine.FS, dir string) ([]segmentFile, error) {
	des, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segmentFile
	for _, de := range des {
		if seq, ok := parseSeq(de.Name(), segmentExt); ok && de.Type().IsRegular() {
			segs = append(segs, segmentFile{seq, path.Join(dir, de.Name())})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].seq < segs[j].seq })
	return segs, nil
}

// createSegment creates segment seq of dir with opts' size: its header
// and its preallocated size, zero-filled if opts.ZeroFill, synced; then
// its name, synced, unless syncDir is false (the caller syncs the
// directory). It returns the file open for writing.
//
// Preallocation is File.Truncate: it fixes the file's size, so that an
// append's fsync has no size to commit, and makes the rest of the segment
// read as zeros. It does not reserve blocks (engine.FS has no fallocate),
// so a full disk shows at a later write, as an error that breaks the log.
//
// With Options.ZeroFill the rest of the segment is written with zeros,
// 1 MiB at a time, before the sync: the appends' fsyncs then find every
// block allocated and commit data only (and a full disk shows while the
// segment is created, not at an append). Measured (docs/BENCHMARKS.md,
// "Zero-filled segments", 100-byte entries in batches of 1,000, one fsync
// each, 64 MiB segments): zero-filling at the seal, on the path of the
// appends, was slower than not (median 330 ns per entry against 303),
// since the 64 MiB of zeros and their sync stall the log once a segment;
// zero-filling in a goroutine of the WAL's (see WAL.run) is faster (235
// ns against 319, etcd 511, in one run). It is not the default because
// the default writes each segment once and runs no goroutine, which keeps
// the laboratory's runs deterministic.
func createSegment(fsys engine.FS, dir string, seq uint64, opts Options, syncDir bool) (engine.File, error) {
	name := segmentPath(dir, seq)
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	size := max(opts.SegmentSize, HeaderSize)
	hdr := appendHeader(nil, SegmentMagic, Version, seq, size)
	if _, err = f.WriteAt(hdr, 0); err == nil {
		if err = f.Truncate(size); err == nil && opts.ZeroFill {
			err = zeroFill(f, HeaderSize, size)
		}
		if err == nil {
			err = f.Sync()
		}
	}
	if err == nil && syncDir {
		err = fsys.SyncDir(dir)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create segment %s: %w", name, err)
	}
	return f, nil
}

// zeroFillChunk is the most zeros zeroFill writes at once.
const zeroFillChunk = 1 << 20

// zeroFill writes zeros over f from off to end, at most zeroFillChunk
// bytes at a time.
func zeroFill(f engine.File, off, end int64) error {
	zeros := make([]byte, min(zeroFillChunk, end-off))
	for off < end {
		n, err := f.WriteAt(zeros[:min(int64(len(zeros)), end-off)], off)
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}
