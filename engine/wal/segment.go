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
//	LOCK                          the writer's flock (see New)
//	0000000000000001.wal          segments, by sequence number (16 hex digits)
//	0000000000000002.wal          the next one, created ahead of need
//	00000000000000c8.checkpoint   checkpoints, by the last entry id they cover
//	0000000000000002.wal.1f40.torn  bytes Resume cut from a torn tail, kept aside
//
// Every other name is ignored, so a directory may hold other files too.
const (
	segmentExt    = ".wal"
	lockName      = "LOCK"
	tornExt       = ".torn"
	checkpointExt = ".checkpoint"
)

// segmentName is the file name of segment seq.
func segmentName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segmentExt) }

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

// listSegments returns the segments of dir in order. A gap in their
// sequence numbers is corruption: segments are removed only from the front
// and created only at the back.
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
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, corrupt(segmentPath(dir, segs[i-1].seq+1), segs[i-1].seq+1, 0, "segment missing between %d and %d", segs[i-1].seq, segs[i].seq)
		}
	}
	return segs, nil
}

// createSegment creates segment seq of dir: its header and its
// preallocated size, synced; then its name, synced, unless syncDir is
// false (the caller syncs the directory). It returns the file open for
// writing.
//
// Preallocation is File.Truncate: it fixes the file's size, so that an
// append's fsync has no size to commit, and makes the rest of the segment
// read as zeros. It does not reserve blocks (engine.FS has no fallocate),
// so a full disk shows at a later write, as an error that breaks the log.
// Writing zeros over the segment ahead of the appends would make their
// fsyncs cheaper still (no block allocation to journal), but it writes
// every segment twice, and the write-back of the zeros slowed the fsyncs
// it was meant to speed up (docs/BENCHMARKS.md).
func createSegment(fsys engine.FS, dir string, seq uint64, size int64, syncDir bool) (engine.File, error) {
	name := segmentPath(dir, seq)
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	size = max(size, HeaderSize)
	hdr := appendHeader(nil, SegmentMagic, seq, size)
	if _, err = f.WriteAt(hdr, 0); err == nil {
		if err = f.Truncate(size); err == nil {
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
