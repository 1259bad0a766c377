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
//	0       128     192     256     320     392         3968    4096            4096+LogSize
//	+-------+-------+-------+-------+-------+-----------+-------+---------------+---------------------+
//	| pool  | live  | heap  | root  | layout| reserved  | header|      log      | heap zones ...      |
//	| header| line  | header| line  | record|           | shadow|               | (engine/alloc)      |
//	+-------+-------+-------+-------+-------+-----------+-------+---------------+---------------------+
//
// The pool header, written by Create and changed only once in a pool's
// life, if ever: from format 1 to 2, when a pool of an older release gets
// a versioned layout (rewriteHeader, below):
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
// 2 big); size the file's size at creation; layout and layout hash the
// pool's layout when the header was written (see the layout record). The
// checksum is XXH3-64 of bytes [0, 120); it is checked before any field is
// read, so that damage is ErrCorrupt and never looks like another version
// or layout.
//
// version is the format, which says what the pool has:
//
//	format  layout record  log                              checksums in the engine's structures
//	6       yes            redo, two slots, marks (redo.go)  yes: maps, vectors, blobs, and the root line
//	5       yes            undo, with marks (log.go)         yes: maps, vectors, blobs, and the root line
//	4       yes            undo, with marks                  yes: maps, vectors, blobs (hashmap.go, vec.go)
//	3       yes            undo, with marks                  no
//	2       yes            undo, without (legacylog)         no
//	1       no             undo, without                     no
//
// Create writes format 6; this package opens all six as they are. In
// format 1 the header's layout fields are the pool's layout, and the
// layout record does not exist; in the others the layout record is the
// pool's layout. A pool of format 1 or 2 keeps its format — so that the
// release that wrote it can still open it — until its layout is upgraded
// (Options.Upgrades): then it is converted to format 3, which older
// releases refuse with ErrVersion, as they must, since they would read the
// new root with the old type, and a log with marks as one without. Until
// then its transactions write the log of its format, whose limit
// legacylog.go states: a damaged log of a crashed pool may pass for a torn
// one. A pool keeps the structures of its format — maps, vectors and blobs
// with checksums from format 4 on, without in the others (hashmap.go,
// vec.go), and its root line with a checksum in format 5 — since
// converting them would rewrite every object: a pool of format 3 is never
// converted to 4, nor one of format 4 to 5. Nor is a pool of format 3, 4
// or 5 converted to 6: its transactions keep its undo log, and their two
// waits for the media (log.go), so that the release that wrote it opens
// it still; a pool gets the redo log, which needs one wait (redo.go), when
// it is created by this release. Releases before format 6 refuse it with
// ErrVersion, as they must: they would take its redo log for an undo log
// and "roll back" a committed transaction with its new bytes. Check verifies the structures
// of every format, by their checksums where they have them and by how
// they fit together.
//
// A pool's layout is a name, a version and a hash:
//
//   - the default layout (version 0) is named after the root type — its
//     Go name and Options.Layout, "pkg.Root/user" — and its hash is an
//     XXH3 of that name in full and of the shape of the root type (the
//     kinds, sizes and offsets of its fields, recursively, and the Go
//     names of the types its pointers point to: shapeHash), so that a
//     changed root type is an ErrLayout even under the same name;
//   - a versioned layout (Options.Version > 0) is named by the program
//     (Options.Layout alone), and its hash is an XXH3 of that name and of
//     the structure of the root type — the same shape, with the types its
//     pointers point to described by their own structure instead of their
//     names (structureHash) — so that renaming or moving any of the types
//     changes nothing, and changing any of them without a new version is
//     an ErrLayout.
//
// Names are cut to 48 bytes where they are stored; the hash covers the
// whole name.
//
// The live line, changed outside transactions, each word by a store of
// its own, so that no checksum covers the line:
//
//	128      136               144      152                          192
//	+--------+--------+--------+--------+----------------------------+
//	| unclean| epoch  | check  | version|          reserved          |
//	+--------+--------+--------+--------+----------------------------+
//
// unclean is 1 while a writer has the pool open: a pool opened with it set
// was not closed by its writer. epoch counts the opens by a writer; it is
// the generation of persistent locks and the high half of transaction
// sequence numbers. version is the readers' seqlock (log.go). These three
// words are stored with 8-byte atomics, in the machine's byte order: the
// epoch in the low half of its word, and in the high half a check of it
// (epochWord), stored by the same atomic store. A writer's Open reads the
// line before it recovers anything and finds its damage (ErrCorrupt):
// unclean other than 0 or 1, an epoch whose check fails, reserved bytes
// that are not zeros. A damaged epoch must not be taken: an epoch taken
// again would make the persistent locks of that earlier open look held,
// and reuse its transactions' sequence numbers. A word whose high half is
// 0 has no check — a new pool's (Create leaves the line zeros) or one an
// older release wrote — and is taken as it is; its next writer writes it
// with its check. Every value of version is one a writer may have left (a
// reader waits while it is odd, recovery makes it even), so it has none:
// a damaged version word costs readers a wait, until a writer stores it
// again or, if none has the pool open, the reader recovers it.
//
// The heap header (192) belongs to engine/alloc. The root line, changed
// only in transactions:
//
//	256      264      272      280                                  320
//	+--------+--------+--------+------------------------------------+
//	| root   | next   | check- |              reserved              |
//	|        | ident. | sum    |                                    |
//	+--------+--------+--------+------------------------------------+
//
// root is the root object's pointer (in the machine's byte order, like
// every pointer), next identity the identity of the next reference-
// counted object (little-endian). In format 5 the checksum is XXH3-64 of
// bytes [256, 272), little-endian, and the reserved bytes are zeros: both
// are checked wherever the line is read (Open, Check), so that a damaged
// root pointer is ErrCorrupt even where it points at another object at
// least as large as the root, which the heap's metadata cannot tell from
// the root. A commit that changes the root or the next identity changes
// the checksum in the same transaction (sealRootLine in txn.go). In older
// formats the checksum and the reserved bytes are zeros, unchecked: there
// Open checks only that the root pointer is the start of a block at least
// as large as the root, and Check that the pool's objects are reachable
// from it. The log is drawn in redo.go (format 6) and log.go (3 to 5).
//
// The layout record, in format 2 (zeros in format 1), changed only in
// transactions — the upgrade of a layout changes it together with the
// root — so that the log makes it atomic, and read only after recovery:
//
//	320      328      336                                      384      392
//	+--------+--------+-----------------------------------------+--------+
//	| layout | layout | layout name (48 bytes, NUL-padded)      | check- |
//	| version| hash   |                                         | sum    |
//	+--------+--------+-----------------------------------------+--------+
//
// Its words are little-endian; the checksum is XXH3-64 of bytes [320, 384).
//
// The header shadow holds a copy of the header while rewriteHeader
// replaces it (zeros otherwise, or a copy whose magic is zeroed): a header
// torn by a crash during the rewrite is read from its copy.

const (
	// Magic starts every pool file.
	Magic = "crshPOOL"
	// Version is the format version this package writes. It reads it and
	// formats 1 to 5 (see above).
	Version = 6
	// formatNoRecord is the format of pools without a layout record.
	formatNoRecord = 1
	// formatUnmarked is the last format whose log has no marks.
	formatUnmarked = 2
	// formatMarked is the format that pools of formats 1 and 2 are
	// converted to: a log with marks, structures without checksums.
	formatMarked = 3
	// formatNoRootSum is the last format whose root line has no checksum.
	formatNoRootSum = 4
	// formatRedo is the first format whose transactions go through a redo
	// log (redo.go); the older ones have an undo log (log.go, legacylog.go).
	formatRedo = 6

	headerSize       = 128
	liveOff          = 128
	uncleanOff       = liveOff
	epochOff         = liveOff + 8
	versionOff       = liveOff + 16
	heapHeaderOff    = 192
	rootOff          = 256
	nextIDOff        = 264
	rootSumOff       = 272
	rootLineSize     = 64
	layoutRecordOff  = 320
	layoutRecordSize = 72
	headerShadowOff  = logAreaOff - headerSize
	logAreaOff       = 4096
	layoutLen        = 48

	orderLittle = 1
	orderBig    = 2

	// MinLogSize and DefaultSize are the smallest log area and the default
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
	name, err := decodeName(b[64 : 64+layoutLen])
	if err != nil {
		return h, err
	}
	h.Layout = name
	return h, h.Validate()
}

// decodeName reads a NUL-padded layout name.
func decodeName(b []byte) (string, error) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		if bytes.ContainsFunc(b[i:], func(r rune) bool { return r != 0 }) {
			return "", fmt.Errorf("%w: layout name not NUL-padded", ErrCorrupt)
		}
		b = b[:i]
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: layout name is not UTF-8", ErrCorrupt)
	}
	return string(b), nil
}

// layoutID is a pool's layout: what a program must say to open it.
type layoutID struct {
	name    string // cut to layoutLen bytes, as stored
	version uint32
	hash    uint64
}

func (l layoutID) String() string {
	if l.version == 0 {
		return fmt.Sprintf("%q (the default layout, hash %#x)", l.name, l.hash)
	}
	return fmt.Sprintf("%q version %d (hash %#x)", l.name, l.version, l.hash)
}

// encodeLayoutRecord returns the bytes of the layout record of l.
func encodeLayoutRecord(l layoutID) []byte {
	b := make([]byte, layoutRecordSize)
	binary.LittleEndian.PutUint64(b[0:], uint64(l.version))
	binary.LittleEndian.PutUint64(b[8:], l.hash)
	copy(b[16:16+layoutLen], cutLayout(l.name))
	binary.LittleEndian.PutUint64(b[64:], xxh3.Hash(b[:64]))
	return b
}

// decodeLayoutRecord reads a layout record: its checksum first, then its
// fields.
func decodeLayoutRecord(b []byte) (layoutID, error) {
	if sum := binary.LittleEndian.Uint64(b[64:]); sum != xxh3.Hash(b[:64]) {
		return layoutID{}, fmt.Errorf("%w: layout record checksum %#x, want %#x", ErrCorrupt, sum, xxh3.Hash(b[:64]))
	}
	v := binary.LittleEndian.Uint64(b[0:])
	if v > 1<<32-1 {
		return layoutID{}, fmt.Errorf("%w: layout version %d", ErrCorrupt, v)
	}
	name, err := decodeName(b[16 : 16+layoutLen])
	if err != nil {
		return layoutID{}, err
	}
	return layoutID{name: name, version: uint32(v), hash: binary.LittleEndian.Uint64(b[8:])}, nil
}

// marked reports whether the pool's undo log has marks (formats 3 and 4,
// log.go) or is the log of formats 1 and 2 (legacylog.go).
func (h *Header) marked() bool { return h.Version > formatUnmarked }

// summed reports whether the engine's structures in the pool — map
// headers and entries, vector headers, blob headers — carry checksums
// (formats 4 and 5).
func (h *Header) summed() bool { return h.Version > formatMarked }

// epochWord is the live line's word for epoch e: e in the low half, its
// check in the high half, with a bit on in each of its two lowest bytes
// so that no single damaged byte makes it 0 (a word without a check).
func epochWord(e uint32) uint64 {
	// logMark's mix of e, at a line that no log has.
	check := uint32(logMark(uint64(e), -2)>>32) | 0x0101
	return uint64(check)<<32 | uint64(e)
}

// decodeEpoch reads the live line's epoch word w: ErrCorrupt if it holds
// a check that is not its epoch's.
func decodeEpoch(w uint64) (uint32, error) {
	e := uint32(w)
	if w>>32 != 0 && w != epochWord(e) {
		return 0, fmt.Errorf("%w: epoch word %#x, want %#x for epoch %d", ErrCorrupt, w, epochWord(e), e)
	}
	return e, nil
}

// rootSummed reports whether the pool's root line carries a checksum
// (format 5).
func (h *Header) rootSummed() bool { return h.Version > formatNoRootSum }

// rootLineSum is the checksum of the root line b: its first 16 bytes.
func rootLineSum(b []byte) uint64 { return xxh3.Hash(b[:rootSumOff-rootOff]) }

// checkRootLine checks the root line b (rootLineSize bytes) of a pool of
// format 5: its checksum, and zeros in its reserved bytes.
func checkRootLine(b []byte) error {
	sum := binary.LittleEndian.Uint64(b[rootSumOff-rootOff:])
	if want := rootLineSum(b); sum != want {
		return fmt.Errorf("%w: root line checksum %#x, want %#x", ErrCorrupt, sum, want)
	}
	if !allZero(b[rootSumOff-rootOff+8 : rootLineSize]) {
		return fmt.Errorf("%w: root line: the reserved bytes are not 0", ErrCorrupt)
	}
	return nil
}

// Validate reports whether the header describes a pool this package can
// open: ErrVersion for another version or byte order, ErrCorrupt for a
// geometry it never writes.
func (h *Header) Validate() error {
	switch {
	case h.Version < formatNoRecord || h.Version > Version:
		return fmt.Errorf("%w: format version %d, this package reads %d to %d", ErrVersion, h.Version, formatNoRecord, Version)
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
