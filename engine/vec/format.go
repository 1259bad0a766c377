package vec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
	"unsafe"

	"github.com/crashsim/crashsim/engine"
	"github.com/zeebo/xxh3"
)

// The vector file. Offsets are bytes from its start.
//
//	0        136      512      648      4096                                 4096+Cap*ElemSize
//	+--------+--------+--------+--------+------------+------------+-----+-------------+
//	| header | zeros  | header | zeros  | element 0  | element 1  | ... | element Cap-1|
//	| slot 0 |        | slot 1 |        |            |            |     |             |
//	+--------+--------+--------+--------+------------+------------+-----+-------------+
//
// The elements are T's bytes in the writing machine's own byte order and
// layout, packed (T's size is a multiple of its alignment, and 4096 of
// every alignment), so that a mapping of the file is a []T. Elements
// [0, Len) hold the vector; [Len, Cap) are room to grow.
//
// A header slot, every word little-endian:
//
//	0        8        12  13  14  16       24       32                                96
//	+--------+--------+---+---+---+--------+--------+---------------------------------+
//	| magic  | version|ord|wsz|pad|elem    |elem    | element type name               |
//	|        |        |   |   |   |size    |shape   | (64 bytes, NUL-padded)          |
//	+--------+--------+---+---+---+--------+--------+---------------------------------+
//	96       104      112      120      128      136
//	+--------+--------+--------+--------+--------+
//	| data   | seq    | len    | cap    | check- |
//	| version|        |        |        | sum    |
//	+--------+--------+--------+--------+--------+
//
// ord is the byte order of the machine that wrote the file (1 little,
// 2 big) and wsz its word size in bytes (4 or 8): the elements are that
// machine's memory, so a machine of another kind refuses them (ErrLayout)
// rather than misreading them. elem size, shape and name identify T: its
// size, an XXH3 of its shape (the kind, size and offset of every field,
// recursively, and the length of every array: elemShape), and its Go name
// or Options.TypeName, cut to 64 bytes at a rune boundary. pad is zero.
// data version is the program's version of what the elements mean
// (Options.DataVersion). seq numbers the headers written, len and cap are
// the length and capacity when it was written. The checksum is XXH3-64 of
// bytes [0, 128); it is checked before any field is read, so that damage
// is ErrCorrupt and never looks like another version or layout. Bytes
// [0, 96) are the vector's identity, the same in both slots unless one is
// damaged; [96, 136) change with every header written.
//
// Two slots make a new length failure-atomic on every medium. Sync writes
// the header with sequence number seq into slot seq%2 — never the slot
// holding the newest header — and makes it durable; Open uses the valid
// slot with the higher seq. A crash that tears the slot being written
// (at 8-byte words on persistent memory, at sectors or pages on a disk)
// leaves its checksum wrong and the other slot whole, which holds the
// length of the Sync before. Each slot is the first 136 bytes of a
// 512-byte sector of its own, so a sector-atomic disk never tears one.
// A slot can be torn only in the bytes a header write changes, and only to
// the sequence number just below or just above the other slot's; a slot
// damaged otherwise is ErrCorrupt, not a tear (readHeader).
const (
	// Magic starts every header slot of a vector file.
	Magic = "crshVECT"
	// Version is the format version this package reads and writes.
	Version = 1

	slotLen    = 136 // the bytes of a header slot, checksum included
	slotStride = 512 // slot k starts at k*slotStride
	headerArea = 2 * slotStride
	dataOff    = 4096 // element 0
	nameLen    = 64
	identLen   = 96 // bytes [0, identLen) of a slot are the vector's identity
	seqOff     = 104
	sumOff     = 128

	orderLittle = 1
	orderBig    = 2

	// maxElemSize bounds the element size a header may claim.
	maxElemSize = 1 << 30
)

// Header is one header slot: what a vector file holds, and its length and
// capacity as of the header's Sync.
type Header struct {
	Version     uint32
	ByteOrder   uint8  // of the machine that wrote the file: 1 little-endian, 2 big-endian
	WordSize    uint8  // of that machine, in bytes: 4 or 8
	ElemSize    uint64 // the size of an element, in bytes
	ElemShape   uint64 // XXH3 of the element type's shape
	ElemName    string // the element type's name, at most 64 bytes
	DataVersion uint64 // the program's version of what the elements mean
	Seq         uint64 // the header's sequence number: it lives in slot Seq%2
	Len         uint64
	Cap         uint64
}

// nativeOrder and nativeWord describe this machine as Header.ByteOrder and
// Header.WordSize do.
var (
	nativeOrder = func() uint8 {
		var b [2]byte
		binary.NativeEndian.PutUint16(b[:], 1)
		if b[0] == 1 {
			return orderLittle
		}
		return orderBig
	}()
	nativeWord = uint8(unsafe.Sizeof(uintptr(0)))
)

// Encode writes the header slot, with its checksum, to b[:136].
func (h *Header) Encode(b []byte) {
	_ = b[slotLen-1]
	clear(b[:slotLen])
	copy(b[0:8], Magic)
	binary.LittleEndian.PutUint32(b[8:], h.Version)
	b[12] = h.ByteOrder
	b[13] = h.WordSize
	binary.LittleEndian.PutUint64(b[16:], h.ElemSize)
	binary.LittleEndian.PutUint64(b[24:], h.ElemShape)
	copy(b[32:32+nameLen], cutName(h.ElemName))
	binary.LittleEndian.PutUint64(b[96:], h.DataVersion)
	binary.LittleEndian.PutUint64(b[seqOff:], h.Seq)
	binary.LittleEndian.PutUint64(b[112:], h.Len)
	binary.LittleEndian.PutUint64(b[120:], h.Cap)
	binary.LittleEndian.PutUint64(b[sumOff:], xxh3.Hash(b[:sumOff]))
}

// cutName cuts a type name to the bytes a slot holds, at a rune boundary.
func cutName(s string) string {
	if len(s) <= nameLen {
		return s
	}
	s = s[:nameLen]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// DecodeHeader reads a header slot from b and validates it: ErrCorrupt for
// bytes this package did not write (a bad magic number or checksum: the
// checksum is checked before any field is interpreted), then what
// Validate says.
func DecodeHeader(b []byte) (Header, error) {
	h, _, err := decodeSlot(b)
	return h, err
}

// decodeSlot is DecodeHeader that also says whether the magic number and
// the checksum held, that is whether the bytes are a whole slot as some
// header write left it.
func decodeSlot(b []byte) (h Header, whole bool, err error) {
	if len(b) < slotLen {
		return Header{}, false, fmt.Errorf("%w: header slot of %d bytes, want %d", ErrCorrupt, len(b), slotLen)
	}
	if string(b[0:8]) != Magic {
		return Header{}, false, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[0:8])
	}
	// The checksum first: it covers every field, so a field is read only
	// once it is known to be the one written, and a flipped bit in the
	// version is damage (ErrCorrupt), not a newer format (ErrVersion).
	if sum, want := binary.LittleEndian.Uint64(b[sumOff:]), xxh3.Hash(b[:sumOff]); sum != want {
		return Header{}, false, fmt.Errorf("%w: header checksum %#x, want %#x", ErrCorrupt, sum, want)
	}
	h = Header{
		Version:     binary.LittleEndian.Uint32(b[8:]),
		ByteOrder:   b[12],
		WordSize:    b[13],
		ElemSize:    binary.LittleEndian.Uint64(b[16:]),
		ElemShape:   binary.LittleEndian.Uint64(b[24:]),
		DataVersion: binary.LittleEndian.Uint64(b[96:]),
		Seq:         binary.LittleEndian.Uint64(b[seqOff:]),
		Len:         binary.LittleEndian.Uint64(b[112:]),
		Cap:         binary.LittleEndian.Uint64(b[120:]),
	}
	if b[14] != 0 || b[15] != 0 {
		return h, true, fmt.Errorf("%w: reserved header bytes %#x %#x", ErrCorrupt, b[14], b[15])
	}
	name, err := decodeName(b[32 : 32+nameLen])
	if err != nil {
		return h, true, err
	}
	h.ElemName = name
	return h, true, h.Validate()
}

// decodeName reads a NUL-padded type name.
func decodeName(b []byte) (string, error) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		if bytes.ContainsFunc(b[i:], func(r rune) bool { return r != 0 }) {
			return "", fmt.Errorf("%w: element type name not NUL-padded", ErrCorrupt)
		}
		b = b[:i]
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: element type name is not UTF-8", ErrCorrupt)
	}
	return string(b), nil
}

// Validate reports whether the header describes a vector this package can
// read on some machine: ErrVersion for another format version, ErrCorrupt
// for a value it never writes. Whether the elements are T on this machine
// is Open's question (ErrLayout).
func (h *Header) Validate() error {
	switch {
	case h.Version != Version:
		return fmt.Errorf("%w: format version %d, this package reads %d", ErrVersion, h.Version, Version)
	case h.ByteOrder != orderLittle && h.ByteOrder != orderBig:
		return fmt.Errorf("%w: byte order %d", ErrCorrupt, h.ByteOrder)
	case h.WordSize != 4 && h.WordSize != 8:
		return fmt.Errorf("%w: word size %d", ErrCorrupt, h.WordSize)
	case h.ElemSize == 0 || h.ElemSize > maxElemSize:
		return fmt.Errorf("%w: element size %d", ErrCorrupt, h.ElemSize)
	case h.Seq == 0:
		return fmt.Errorf("%w: header sequence number 0", ErrCorrupt)
	case h.Len > h.Cap:
		return fmt.Errorf("%w: length %d beyond capacity %d", ErrCorrupt, h.Len, h.Cap)
	case h.Cap > (math.MaxInt64-dataOff)/h.ElemSize:
		return fmt.Errorf("%w: capacity %d of %d-byte elements", ErrCorrupt, h.Cap, h.ElemSize)
	case len(h.ElemName) > nameLen || !utf8.ValidString(h.ElemName):
		return fmt.Errorf("%w: element type name %q", ErrCorrupt, h.ElemName)
	}
	return nil
}

// dataEnd returns the size of a file holding capacity elements of esize
// bytes.
func (h *Header) dataEnd() int64 { return dataOff + int64(h.Cap)*int64(h.ElemSize) }

// readHeader picks the header of a vector from the first headerArea bytes
// of its file: the valid slot with the higher sequence number. A slot
// whose checksum fails is a header write torn by a crash if it could be
// one — its identity bytes are the other slot's and its sequence number
// the one just below or above the other's — and is then ignored; damage
// no crash leaves, two slots that disagree, or two bad slots are
// ErrCorrupt (or ErrVersion, for a file of another format).
func readHeader(b []byte) (Header, error) {
	if len(b) < headerArea {
		return Header{}, fmt.Errorf("%w: header area of %d bytes, want %d", ErrCorrupt, len(b), headerArea)
	}
	var (
		hs    [2]Header
		whole [2]bool
		errs  [2]error
	)
	for k := range 2 {
		hs[k], whole[k], errs[k] = decodeSlot(b[k*slotStride:])
		if errs[k] == nil && hs[k].Seq%2 != uint64(k) {
			errs[k] = fmt.Errorf("%w: header slot %d holds sequence number %d", ErrCorrupt, k, hs[k].Seq)
		}
		if errs[k] != nil {
			errs[k] = fmt.Errorf("header slot %d: %w", k, errs[k])
		}
	}
	switch {
	case errs[0] == nil && errs[1] == nil:
		newer, older := hs[0], hs[1]
		if older.Seq > newer.Seq {
			newer, older = older, newer
		}
		if newer.Seq != older.Seq+1 {
			return Header{}, fmt.Errorf("%w: header slots hold sequence numbers %d and %d, which no Sync leaves", ErrCorrupt, older.Seq, newer.Seq)
		}
		if !bytes.Equal(b[:identLen], b[slotStride:slotStride+identLen]) {
			return Header{}, fmt.Errorf("%w: the header slots disagree on what the file holds: %s and %s", ErrCorrupt, hs[0].identity(), hs[1].identity())
		}
		return newer, nil
	case errs[0] != nil && errs[1] != nil:
		// A file of a newer format says so in both slots.
		for k := range 2 {
			if whole[k] {
				return Header{}, errs[k]
			}
		}
		return Header{}, fmt.Errorf("%w; %v", errs[0], errs[1])
	}
	k := 0
	if errs[0] != nil {
		k = 1
	}
	o := 1 - k
	if whole[o] {
		return Header{}, errs[o] // its checksum holds: not torn, refused
	}
	slot, other := b[k*slotStride:k*slotStride+slotLen], b[o*slotStride:o*slotStride+slotLen]
	if !bytes.Equal(slot[:identLen], other[:identLen]) {
		return Header{}, fmt.Errorf("%w (and its identity differs from slot %d's: damaged, not torn by a crash)", errs[o], k)
	}
	seq, s := binary.LittleEndian.Uint64(other[seqOff:]), hs[k].Seq
	if seq != s+1 && (s < 2 || seq != s-1) {
		return Header{}, fmt.Errorf("%w (with sequence number %d beside slot %d's %d: damaged, not torn by a crash)", errs[o], seq, k, s)
	}
	return hs[k], nil
}

// identity describes what a header says the file holds, for errors.
func (h *Header) identity() string {
	return fmt.Sprintf("format %d, %s, %q of %d bytes (shape %#x), data version %d",
		h.Version, describeMachine(h.ByteOrder, h.WordSize), h.ElemName, h.ElemSize, h.ElemShape, h.DataVersion)
}

// describeMachine names a byte order and word size.
func describeMachine(order, word uint8) string {
	o := "little-endian"
	if order == orderBig {
		o = "big-endian"
	}
	return fmt.Sprintf("%s with %d-bit words", o, 8*int(word))
}

// ReadHeader returns the header of the vector file name as Open picks it
// (see readHeader), checked by Validate but not against any element type:
// for tools, and for a program that must learn a file's data version or
// element type before it opens it. It takes no lock.
func ReadHeader(fsys engine.FS, name string) (Header, error) {
	f, err := engine.Open(fsys, name)
	if err != nil {
		return Header{}, err
	}
	defer f.Close()
	b := make([]byte, headerArea)
	if n, err := f.ReadAt(b, 0); err == io.EOF {
		return Header{}, fmt.Errorf("%w: %s: file of %d bytes, shorter than its header", ErrCorrupt, name, n)
	} else if err != nil {
		return Header{}, err
	}
	h, err := readHeader(b)
	if err != nil {
		return Header{}, fmt.Errorf("%s: %w", name, err)
	}
	return h, nil
}
