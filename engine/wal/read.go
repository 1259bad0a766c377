package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/crashsim/crashsim/engine"
)

// readChunk is how much a reader asks the file for at a time: large enough
// that the cost of a read is its copy, small enough to stay in the caches.
const readChunk = 1 << 20

// fileReader reads the frames of one file (a segment or a record log) in
// chunks, from the end of its header on.
type fileReader struct {
	f    engine.File
	path string
	seg  uint64 // for errors; 0 in a record log
	size int64  // the file's size when opened (or reloaded)
	hdr  header
	// regular says the file is a regular file, not a directory or a
	// device that happens to have a segment's name.
	regular bool

	buf  []byte
	base int64 // file offset of buf[0]
	n    int   // buf[:n] holds file data
	off  int64 // offset of the next frame
}

// openReader opens path and reads its header. buf, if not nil, is a buffer
// to reuse.
func openReader(fsys engine.FS, path string, seg uint64, buf []byte) (*fileReader, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if buf == nil {
		buf = make([]byte, 0, min(readChunk, max(fi.Size(), HeaderSize)))
	}
	r := &fileReader{f: f, path: path, seg: seg, size: fi.Size(), regular: fi.Mode().IsRegular(), buf: buf[:cap(buf)]}
	if err := r.fill(0, HeaderSize); err != nil {
		f.Close()
		return nil, err
	}
	r.hdr = decodeHeader(r.buf[:r.n])
	r.off = HeaderSize
	return r, nil
}

func (r *fileReader) close() error { return r.f.Close() }

// reload forgets what r has read ahead and takes the file's size again,
// so that reading, which goes on at r.off, sees what a writer wrote since.
func (r *fileReader) reload() error {
	fi, err := r.f.Stat()
	if err != nil {
		return err
	}
	r.size, r.base, r.n = fi.Size(), 0, 0
	return nil
}

// fill makes buf hold at least need bytes from offset at, or every byte up
// to the end of the file if it has fewer, reading ahead up to the buffer's
// capacity. Bytes already held from at on are kept.
func (r *fileReader) fill(at int64, need int) error {
	if at >= r.base && at+int64(need) <= r.base+int64(r.n) {
		return nil
	}
	keep := 0
	if at >= r.base && at < r.base+int64(r.n) {
		keep = copy(r.buf, r.buf[at-r.base:r.n])
	}
	if need > len(r.buf) {
		grown := make([]byte, need)
		copy(grown, r.buf[:keep])
		r.buf = grown
	}
	r.base, r.n = at, keep
	want := min(int64(len(r.buf)), r.size-at)
	for int64(r.n) < want {
		m, err := r.f.ReadAt(r.buf[r.n:want], at+int64(r.n))
		r.n += m
		if errors.Is(err, io.EOF) {
			r.size = at + int64(r.n) // the file shrank under us
			break
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// next returns the next frame. At the end of the data it returns errEnd: a
// zero frame header, or the end of the file (with at most a few zero bytes
// before it). Where the data ends in bytes that are not a frame — a torn
// or corrupt tail — it returns a *CorruptError, and r.off stays at the
// start of those bytes. Other errors are I/O errors.
func (r *fileReader) next() (frame, error) {
	need := FrameHeaderSize
	for {
		if err := r.fill(r.off, need); err != nil {
			return frame{}, err
		}
		i := int(r.off - r.base)
		f, size, err := decodeFrame(r.buf[i:r.n])
		switch {
		case err == nil:
			r.off += int64(size)
			return f, nil
		case err == errEnd:
			return frame{}, errEnd
		case err == errShort && r.off+int64(size) <= r.size:
			need = size // the frame is in the file: read it all
			continue
		case err == errShort:
			rest := r.buf[i:r.n]
			if size == FrameHeaderSize && allZero(rest) {
				return frame{}, errEnd // the file ends inside a zero header
			}
			if size == FrameHeaderSize {
				return frame{}, corrupt(r.path, r.seg, r.off, "the file ends inside a frame header (%d bytes)", len(rest))
			}
			return frame{}, corrupt(r.path, r.seg, r.off, "frame of %d bytes runs past the end of the file (%d bytes left)", size, r.size-r.off)
		default:
			return frame{}, corrupt(r.path, r.seg, r.off, "%v", err)
		}
	}
}

// dirtyExtent returns the offset just past the last non-zero byte from
// off to the end of the file, or off if they are all zero. With first it
// stops at the first non-zero byte and returns the offset just past it.
func (r *fileReader) dirtyExtent(off int64, first bool) (int64, error) {
	end := off
	for at := off; at < r.size; {
		if err := r.fill(at, min(len(r.buf), int(r.size-at))); err != nil {
			return 0, err
		}
		chunk := r.buf[at-r.base : r.n]
		if len(chunk) == 0 {
			break // the file shrank
		}
		if i := lastNonZero(chunk); i >= 0 {
			end = at + int64(i) + 1
			if first {
				return end, nil
			}
		}
		at += int64(len(chunk))
	}
	return end, nil
}

// zeroChunk is compared against, 4 KiB at a time: bytes.Equal is memequal,
// which is vectorized.
var zeroChunk [4096]byte

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroChunk))
		if !bytes.Equal(b[:n], zeroChunk[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// lastNonZero returns the index of the last non-zero byte of b, or -1.
func lastNonZero(b []byte) int {
	for end := len(b); end > 0; {
		start := max(0, end-len(zeroChunk))
		if !bytes.Equal(b[start:end], zeroChunk[:end-start]) {
			for i := end - 1; i >= start; i-- {
				if b[i] != 0 {
					return i
				}
			}
		}
		end = start
	}
	return -1
}

// headerError turns a header's defect into the error to return: ErrVersion
// as it is, with the file, anything else as corruption at offset 0.
func headerError(path string, seg uint64, err error) error {
	if errors.Is(err, ErrVersion) {
		return fmt.Errorf("%w: %s", err, path)
	}
	return corrupt(path, seg, 0, "%v", err)
}
