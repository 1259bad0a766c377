package tx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/crashsim/crashsim/engine/alloc"
	"github.com/zeebo/xxh3"
)

// The pool file. Offsets are bytes from its start; every header word is
// little-endian (objects are stored in the machine's own byte order, which
// the header records).
//
//	0       128     192     256     320          4096            4096+LogSize
//	+-------+-------+-------+-------+------------+---------------+---------------------+
//	| pool  | live  | heap  | root  |  reserved  |   undo log    | heap zones ...      |
//	| header| line  | header| line  |            |               | (engine/alloc)      |
//	+-------+-------+-------+-------+------------+---------------+---------------------+
//
// The pool header, written once by Create and never changed:
//
//	0        8        12  13  16              32       40       48       56       64
//	+--------+--------+---+---+---------------+--------+--------+--------+--------+
//	| magic  | version|ord|pad| uuid          | size   | logOff | logSize| heapOff|
//	+--------+--------+---+---+---------------+--------+--------+--------+--------+
//	64                                        112      120      128
//	+-----------------------------------------+--------+--------+
//	| layout name (48 bytes, NUL-padded)      | layout | check- |
//	|                                         | hash   | sum    |
//	+-----------------------------------------+--------+--------+
//
// ord is the byte order of the machine that created the pool (1 little,
// 2 big); size the file's size at creation; layout the root type's name and
// Options.Layout, cut to 48 bytes, and layout hash an XXH3 of both in full
// and of the shape of the root type (the kinds, sizes and offsets of its
// fields, recursively), so that a changed root type is an ErrLayout even
// under the same name. The checksum is XXH3-64 of bytes [0, 120).
//
// The live line, changed outside transactions, never checksummed:
//
//	128      136      144      152                               192
//	+--------+--------+--------+----------------------------------+
//	| unclean| epoch  | version|            reserved              |
//	+--------+--------+--------+----------------------------------+
//
// unclean is 1 while a writer has the pool open: a pool opened with it set
// was not closed by its writer. epoch counts the opens by a writer; it is
// the generation of persistent locks and the high half of transaction
// sequence numbers. version is the readers' seqlock (log.go). These three
// words are stored with 8-byte atomics, in the machine's byte order.
//
// The heap header (192) belongs to engine/alloc; the root line holds the
// root object's pointer (256) and the next object identity (264), both
// changed only in transactions. The undo log is drawn in log.go.

const (
	// Magic starts every pool file.
	Magic = "crshPOOL"
	// Version is the format version this package writes and reads.
	Version = 1

	headerSize    = 128
	liveOff       = 128
	uncleanOff    = liveOff
	epochOff      = liveOff + 8
	versionOff    = liveOff + 16
	heapHeaderOff = 192
	rootOff       = 256
	nextIDOff     = 264
	logAreaOff    = 4096
	layoutLen     = 48

	orderLittle = 1
	orderBig    = 2

	// MinLogSize and DefaultSize are the smallest undo log and the default
	// size of a new pool.
	MinLogSize  = 16 << 10
	DefaultSize = 8 << 20
	maxLogSize  = 1 << 30
)

// Header is the pool header: what identifies a pool and where its parts
// are.
type Header struct {
	Version    uint32
	ByteOrder  uint8 // 1 little-endian, 2 big-endian
	UUID       [16]byte
	Size       int64 // the file's size at creation
	LogOff     int64
	LogSize    int64
	HeapOff    int64 // zone 0 of the heap
	Layout     string
	LayoutHash uint64
}

// nativeOrder is the byte order of this machine, as Header.ByteOrder says it.
var nativeOrder = func() uint8 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	if b[0] == 1 {
		return orderLittle
	}
	return orderBig
}()

// Encode writes the header, with its checksum, to b[:128].
func (h *Header) Encode(b []byte) {
	_ = b[headerSize-1]
	clear(b[:headerSize])
	copy(b[0:8], Magic)
	binary.LittleEndian.PutUint32(b[8:], h.Version)
	b[12] = h.ByteOrder
	copy(b[16:32], h.UUID[:])
	binary.LittleEndian.PutUint64(b[32:], uint64(h.Size))
	binary.LittleEndian.PutUint64(b[40:], uint64(h.LogOff))
	binary.LittleEndian.PutUint64(b[48:], uint64(h.LogSize))
	binary.LittleEndian.PutUint64(b[56:], uint64(h.HeapOff))
	copy(b[64:64+layoutLen], cutLayout(h.Layout))
	binary.LittleEndian.PutUint64(b[112:], h.LayoutHash)
	binary.LittleEndian.PutUint64(b[120:], xxh3.Hash(b[:120]))
}

// cutLayout cuts a layout name to the bytes the header holds, at a rune
// boundary.
func cutLayout(s string) string {
	if len(s) <= layoutLen {
		return s
	}
	s = s[:layoutLen]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// DecodeHeader reads a header from b and validates it: ErrCorrupt for
// bytes this package did not write (a bad magic number or checksum: the
// checksum is checked before any field is interpreted), then what
// Validate says.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < headerSize {
		return Header{}, fmt.Errorf("%w: header of %d bytes, want %d", ErrCorrupt, len(b), headerSize)
	}
	if string(b[0:8]) != Magic {
		return Header{}, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[0:8])
	}
	h := Header{
		Version:    binary.LittleEndian.Uint32(b[8:]),
		ByteOrder:  b[12],
		Size:       int64(binary.LittleEndian.Uint64(b[32:])),
		LogOff:     int64(binary.LittleEndian.Uint64(b[40:])),
		LogSize:    int64(binary.LittleEndian.Uint64(b[48:])),
		HeapOff:    int64(binary.LittleEndian.Uint64(b[56:])),
		LayoutHash: binary.LittleEndian.Uint64(b[112:]),
	}
	copy(h.UUID[:], b[16:32])
	// The checksum first: it covers every field, so a field is read only
	// once it is known to be the one written, and a flipped bit in the
	// version is damage (ErrCorrupt), not a newer format (ErrVersion).
	if sum := binary.LittleEndian.Uint64(b[120:]); sum != xxh3.Hash(b[:120]) {
		return h, fmt.Errorf("%w: header checksum %#x, want %#x", ErrCorrupt, sum, xxh3.Hash(b[:120]))
	}
	name := b[64 : 64+layoutLen]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		if bytes.ContainsFunc(name[i:], func(r rune) bool { return r != 0 }) {
			return h, fmt.Errorf("%w: layout name not NUL-padded", ErrCorrupt)
		}
		name = name[:i]
	}
	h.Layout = string(name)
	return h, h.Validate()
}

// Validate reports whether the header describes a pool this package can
// open: ErrVersion for another version or byte order, ErrCorrupt for a
// geometry it never writes.
func (h *Header) Validate() error {
	switch {
	case h.Version != Version:
		return fmt.Errorf("%w: format version %d, this package reads %d", ErrVersion, h.Version, Version)
	case h.ByteOrder != orderLittle && h.ByteOrder != orderBig:
		return fmt.Errorf("%w: byte order %d", ErrCorrupt, h.ByteOrder)
	case h.ByteOrder != nativeOrder:
		return fmt.Errorf("%w: pool written by a machine of the other byte order", ErrVersion)
	case h.LogOff != logAreaOff:
		return fmt.Errorf("%w: log at %d, want %d", ErrCorrupt, h.LogOff, logAreaOff)
	case h.LogSize < MinLogSize || h.LogSize > maxLogSize || h.LogSize%alloc.PageSize != 0:
		return fmt.Errorf("%w: log of %d bytes", ErrCorrupt, h.LogSize)
	case h.HeapOff != h.LogOff+h.LogSize:
		return fmt.Errorf("%w: heap at %d, want %d", ErrCorrupt, h.HeapOff, h.LogOff+h.LogSize)
	case h.Size < h.HeapOff+alloc.MinZone || h.Size%alloc.PageSize != 0:
		return fmt.Errorf("%w: size %d", ErrCorrupt, h.Size)
	case !utf8.ValidString(h.Layout):
		return fmt.Errorf("%w: layout name is not UTF-8", ErrCorrupt)
	}
	return nil
}

func xxhString(s string) uint64 { return xxh3.HashString(s) }
