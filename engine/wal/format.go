package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The on-disk format. Every integer is little-endian; every checksum is
// CRC-32C (Castagnoli), which package hash/crc32 computes with the SSE 4.2
// instruction on amd64 and its equivalents elsewhere.
const (
	// Version is the format version of the segments of a WAL and of
	// checkpoints that this package writes and reads.
	Version = 1
	// RecordLogVersion is the format version of the record logs this
	// package writes. It reads version 1 too (record logs without seals,
	// written by earlier releases), and appends to one as version 1; an
	// earlier release reading a version 2 log gets ErrVersion. See
	// RecordLog for what changed.
	RecordLogVersion = 2

	// SegmentMagic opens every segment file of a WAL directory.
	SegmentMagic = "crashwal"
	// RecordLogMagic opens a record log file.
	RecordLogMagic = "crashlog"
	// CheckpointMagic opens a checkpoint file.
	CheckpointMagic = "crashckp"

	// HeaderSize is the size of the header of a segment or a record log;
	// the first frame starts right after it.
	HeaderSize = 40
	// FrameHeaderSize is the size of a frame's header.
	FrameHeaderSize = 20
	// MaxFrameSize bounds the payload of any frame a reader accepts,
	// whatever Options.MaxEntrySize the writer had: a length field beyond it
	// is corruption, never an allocation.
	MaxFrameSize = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var le = binary.LittleEndian

// The file header of a segment and of a record log:
//
//	0                   8         12        16                  24                  32        36        40
//	+-------------------+---------+---------+-------------------+-------------------+---------+---------+
//	| magic (8 bytes)   | version | flags   | sequence number   | preallocated size | zero    | crc32c  |
//	|                   | u32     | u32 = 0 | u64               | u64               | u32     | u32     |
//	+-------------------+---------+---------+-------------------+-------------------+---------+---------+
//
// The magic says what the file is (SegmentMagic or RecordLogMagic), the
// version how to read the rest (Version for a segment, RecordLogVersion or
// 1 for a record log); the sequence number is a segment's (its name says
// it too), 0 in a record log; the preallocated size is the size a segment
// was created with (0 in a record log), which its file never goes below,
// so that a truncated segment shows even where it is cut between two
// frames; the checksum covers bytes [0, 36). A segment's header is written
// and synced, with its size, when the segment is created, before any
// frame.
func appendHeader(b []byte, magic string, version uint32, seq uint64, size int64) []byte {
	var h [HeaderSize]byte
	copy(h[0:8], magic)
	le.PutUint32(h[8:], version)
	le.PutUint64(h[16:], seq)
	le.PutUint64(h[24:], uint64(size))
	le.PutUint32(h[36:], crc32.Checksum(h[:36], castagnoli))
	return append(b, h[:]...)
}

// header is a decoded file header, valid or not: Validate says.
type header struct {
	magic    [8]byte
	version  uint32
	flags    uint32
	seq      uint64
	size     int64
	reserved uint32
	crc, sum uint32 // stored and computed checksums
	short    bool   // the file ends inside the header
}

// decodeHeader decodes the header at the start of b.
func decodeHeader(b []byte) header {
	if len(b) < HeaderSize {
		return header{short: true}
	}
	var h header
	copy(h.magic[:], b[0:8])
	h.version = le.Uint32(b[8:])
	h.flags = le.Uint32(b[12:])
	h.seq = le.Uint64(b[16:])
	h.size = int64(le.Uint64(b[24:]))
	h.reserved = le.Uint32(b[32:])
	h.crc = le.Uint32(b[36:])
	h.sum = crc32.Checksum(b[:36], castagnoli)
	return h
}

// Validate checks a header against the magic its file must have, and the
// newest version this package reads of it (it reads every one from 1). It
// returns nil, an error wrapping ErrVersion (an intact header of another
// version), or a reason for ErrCorrupt (errHeader).
func (h header) Validate(magic string, newest uint32) error {
	switch {
	case h.short:
		return errHeader("file shorter than its header")
	case h.crc != h.sum:
		return errHeader(fmt.Sprintf("header checksum %08x, want %08x", h.crc, h.sum))
	case string(h.magic[:]) != magic:
		return errHeader(fmt.Sprintf("magic %q, want %q", h.magic[:], magic))
	case h.version < 1 || h.version > newest:
		return fmt.Errorf("%w: version %d (this package reads 1 to %d)", ErrVersion, h.version, newest)
	case h.flags != 0 || h.reserved != 0:
		return errHeader("reserved header fields are not zero")
	case h.size < 0 || h.size > 1<<50:
		return errHeader(fmt.Sprintf("preallocated size %d", h.size))
	}
	return nil
}

// errHeader is the reason a header is corrupt.
type errHeader string

func (e errHeader) Error() string { return string(e) }

// Kind says what a frame holds.
type Kind uint32

const (
	// KindEntry frames hold an entry of a WAL, encoded by its Codec.
	KindEntry Kind = 1
	// KindCheckpoint frames mark a published checkpoint: the payload is the
	// u64 id of the last entry it covers. It takes an id like an entry.
	KindCheckpoint Kind = 2
	// KindSeal frames end a segment: nothing follows in it, and the log
	// goes on in the next one. It has no payload, and its id is that of the
	// last entry or marker of the segment (it takes none of its own). In a
	// record log (version 2) a seal ends the data of each write, with the
	// index of the last record (0 if none), and the next write overwrites
	// it: a log at rest ends with one (see RecordLog).
	KindSeal Kind = 3
	// KindRecord frames hold a record of a record log; the id is the
	// record's index, from 1.
	KindRecord Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindEntry:
		return "entry"
	case KindCheckpoint:
		return "checkpoint"
	case KindSeal:
		return "seal"
	case KindRecord:
		return "record"
	}
	return fmt.Sprintf("Kind(%d)", uint32(k))
}

// A frame, the unit of every log:
//
//	0         4         8         12                  20
//	+---------+---------+---------+-------------------+---------------------+
//	| crc32c  | length  | kind    | id                | payload             |
//	| u32     | u32     | u32     | u64               | (length bytes)      |
//	+---------+---------+---------+-------------------+---------------------+
//
// The checksum covers bytes [4, 20+length): length, kind, id and payload,
// so a torn or garbage frame fails it, whatever its length field says.
// Frames follow one another with no padding. Preallocated space after the
// last frame is zeros, and a frame header of 20 zero bytes marks the end of
// the data: no valid frame has one, since kind 0 does not exist.

// frameOverhead is what a frame adds to its payload.
const frameOverhead = FrameHeaderSize

// sealSize is the size of a seal frame.
const sealSize = FrameHeaderSize

// beginFrame appends room for a frame header to b; finishFrame fills it in
// once the payload has been appended after it.
func beginFrame(b []byte) []byte {
	return append(b, make([]byte, FrameHeaderSize)...)
}

// finishFrame fills in the header of f, a whole frame (header and payload).
func finishFrame(f []byte, kind Kind, id uint64) {
	le.PutUint32(f[4:], uint32(len(f)-FrameHeaderSize))
	le.PutUint32(f[8:], uint32(kind))
	le.PutUint64(f[12:], id)
	le.PutUint32(f[0:], crc32.Checksum(f[4:], castagnoli))
}

// appendFrame appends a whole frame holding payload to b.
func appendFrame(b []byte, kind Kind, id uint64, payload []byte) []byte {
	start := len(b)
	b = beginFrame(b)
	b = append(b, payload...)
	finishFrame(b[start:], kind, id)
	return b
}

// frame is a decoded frame; payload aliases the buffer it came from.
type frame struct {
	kind    Kind
	id      uint64
	payload []byte
}

// decodeFrame's outcomes other than a valid frame or a bad one.
var (
	// errEnd: an all-zero frame header, the clean end of the data.
	errEnd = errors.New("end of data")
	// errShort: the buffer ends inside the frame; size says how many bytes
	// the frame needs in all.
	errShort = errors.New("short buffer")
)

// errFrame is the reason a frame is not valid.
type errFrame string

func (e errFrame) Error() string { return string(e) }

var zeroFrameHeader [FrameHeaderSize]byte

// decodeFrame decodes the frame at the start of b. It returns the frame and
// its size; or errEnd; or errShort with the size the frame needs; or an
// errFrame saying why the bytes are not a frame. It never allocates, and
// trusts no length before checking it against MaxFrameSize.
func decodeFrame(b []byte) (frame, int, error) {
	if len(b) < FrameHeaderSize {
		return frame{}, FrameHeaderSize, errShort
	}
	n := le.Uint32(b[4:])
	kind := Kind(le.Uint32(b[8:]))
	id := le.Uint64(b[12:])
	// A zero header (the end of the data) has kind 0, which no frame has:
	// only then is the whole header compared with zeros.
	if kind == 0 && [FrameHeaderSize]byte(b[:FrameHeaderSize]) == zeroFrameHeader {
		return frame{}, 0, errEnd
	}
	switch {
	case n > MaxFrameSize:
		return frame{}, 0, errFrame(fmt.Sprintf("length %d beyond the maximum %d", n, MaxFrameSize))
	case kind < KindEntry || kind > KindRecord:
		return frame{}, 0, errFrame(fmt.Sprintf("unknown kind %d", uint32(kind)))
	}
	size := FrameHeaderSize + int(n)
	if len(b) < size {
		return frame{}, size, errShort
	}
	if got, want := le.Uint32(b), crc32.Checksum(b[4:size], castagnoli); got != want {
		return frame{}, 0, errFrame(fmt.Sprintf("checksum %08x, want %08x", got, want))
	}
	switch {
	case kind == KindSeal && n != 0:
		return frame{}, 0, errFrame(fmt.Sprintf("seal with a %d-byte payload", n))
	case kind == KindCheckpoint && n != 8:
		return frame{}, 0, errFrame(fmt.Sprintf("checkpoint marker with a %d-byte payload", n))
	case id == 0 && kind != KindSeal:
		return frame{}, 0, errFrame("id 0")
	}
	return frame{kind: kind, id: id, payload: b[FrameHeaderSize:size:size]}, size, nil
}

// Frame is a decoded frame. Payload aliases the bytes it was decoded from.
type Frame struct {
	Kind    Kind
	ID      uint64
	Payload []byte
}

// AppendFrame appends to dst the frame of kind and id holding payload, as
// the logs write it, for tools and tests that build logs by hand.
func AppendFrame(dst []byte, kind Kind, id uint64, payload []byte) []byte {
	return appendFrame(dst, kind, id, payload)
}

// DecodeFrame decodes the frame at the start of b and returns it and its
// size in bytes. At an all-zero frame header (the end of a log's data) it
// returns io.EOF; when b ends inside the frame, io.ErrUnexpectedEOF and the
// size the frame needs; when the bytes are not a valid frame, an error
// wrapping ErrCorrupt that says why. It never panics and never allocates.
func DecodeFrame(b []byte) (Frame, int, error) {
	f, n, err := decodeFrame(b)
	switch {
	case err == nil:
		return Frame{Kind: f.kind, ID: f.id, Payload: f.payload}, n, nil
	case err == errEnd:
		return Frame{}, 0, io.EOF
	case err == errShort:
		return Frame{}, n, io.ErrUnexpectedEOF
	}
	return Frame{}, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
}
