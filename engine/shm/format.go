package shm

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/zeebo/xxh3"
)

// A namespace is objects in one directory of shared memory (Options.Dir,
// /dev/shm by default), each created with mode 0600:
//
//	<name>_ctrl              the control object
//	<name>_data_<gen>        a chunk; gen is its generation in 8 lower-case hex digits
//
// Every word is in this machine's byte order: the atomics that share the
// words between processes are, and shared memory never leaves the machine.
//
// The control object, ctlSize(MaxChunks) bytes (a whole number of pages):
//
//	0        8    12   16         24   28   32       40       48       56       64
//	+--------+----+----+----------+----+----+--------+--------+--------+--------+
//	| magic  |ver | 0  | chunk    |max |pre-| decay  | TTL    | epoch  | nonce  |
//	|        |    |    | size     |chk |f‰  | (ns)   | (ns)   |        |        |
//	+--------+----+----+----------+----+----+--------+--------+--------+--------+
//	64       72                                                            128
//	+--------+-------------------------------------------------------------+
//	| check- | zeros                                                       |
//	| sum    |                                                             |
//	+--------+-------------------------------------------------------------+
//	128      136      144  148                                             192
//	+--------+--------+----+------------------------------------------------+
//	| head   | next   |last| zeros                                          |
//	|        |        |gen |                                                |
//	+--------+--------+----+------------------------------------------------+
//	192      200      208      216      224      232                       256
//	+--------+--------+--------+--------+--------+-------------------------+
//	|created |freed   |freed   |re-     |created | zeros                   |
//	|        |acked   |expired |claimed |inline  |                         |
//	+--------+--------+--------+--------+--------+-------------------------+
//	256: one 8-byte slot word per chunk slot, MaxChunks of them; zeros to the page
//
// Bytes [0, 72) are the namespace's identity, written once by Create and
// checksummed (XXH3-64 of [0, 64) at 64), the magic number stored last:
// chunk size and MaxChunks fix the layout, prefetch‰ (the threshold in
// thousandths), decay and TTL are the lifecycle every process's cleaner
// applies, epoch is the creation time (Unix ns, the origin of the slot
// words' seconds) and nonce a hash of the name and epoch that tells this
// namespace from an earlier one of the same name (handles carry a tag
// derived from it). The other words change, each with atomic operations
// only, on a line of its own so that appends in one chunk do not contend
// with cleaners:
//
//   - head and next are chunk references (slot<<32 | gen; 0 for none): the
//     chunk appends go to, and the one prefetched to follow it.
//   - last gen is the last generation handed out (Add32); generations start
//     from the nonce's low word and skip 0.
//   - the statistics count chunks created, freed because every entry was
//     acknowledged, freed because their TTL passed, creations reclaimed
//     from a creator that died, and chunks an Append had to create itself.
//
// A slot word says what the slot holds:
//
//	63 62 61                       32 31                                 0
//	+-----+---------------------------+-----------------------------------+
//	|state| seconds since epoch       | generation                        |
//	+-----+---------------------------+-----------------------------------+
//
// state 0 free (the whole word is 0), 1 creating, 2 live, 3 freeing; the
// seconds are when it entered creating or freeing (saturating at 2^30-1),
// so that a creation abandoned by a dead creator is reclaimed once it is
// older than the TTL.
//
// A chunk, ChunkSize bytes:
//
//	0        8    12   16   20   24       32       40       48       56       64
//	+--------+----+----+----+----+--------+--------+--------+--------+--------+
//	| magic  |ver |slot|gen | 0  | size   | nonce  |created | zeros  | check- |
//	|        |    |    |    |    |        |        |        |        | sum    |
//	+--------+----+----+----+----+--------+--------+--------+--------+--------+
//	64       72                                                            128
//	+--------+-------------------------------------------------------------+
//	| used   | zeros                                                       |
//	+--------+-------------------------------------------------------------+
//	128      136      144      152                                         192
//	+--------+--------+--------+--------+-----------------------------------+
//	| acks   |entries |first   |acked   | zeros                             |
//	|        |        |write   |since   |                                   |
//	+--------+--------+--------+--------+-----------------------------------+
//	192: entries, each 8-byte aligned, up to used's end; zeros beyond
//
// Bytes [0, 64) are the chunk's identity, checksummed (XXH3-64 of
// [0, 56) at 56): its slot and generation, its size and the namespace's
// nonce, so that a chunk of another namespace, or of an earlier one of the
// same name, is refused. used is the word appends reserve with (one CAS):
//
//	63 62                                32 31                                 0
//	+--+-----------------------------------+-----------------------------------+
//	|s | size of the last blob reserved    | end of the last entry reserved    |
//	+--+-----------------------------------+-----------------------------------+
//
// s is the seal: the cleaner sets it before it decides to free the chunk,
// and no reservation succeeds after it. acks counts acknowledged entries;
// entries is 0 until the cleaner has sealed the chunk and counted its
// entries (then entriesCounted|count); first write is when the first
// entry was reserved and acked since when the cleaner first saw every
// entry acknowledged (Unix ns).
//
// An entry is an 8-byte entry word and the blob's bytes, padded to 8:
//
//	off      off+8                                   off+8+align8(size)
//	+--------+---------------------------------------+
//	| word   | blob                                  | next entry ...
//	+--------+---------------------------------------+
//
//	63 62 61 60 59                       32 31 30                            0
//	+-----+-----+---------------------------+--+------------------------------+
//	|  0  |state| tag                       |0 | size                         |
//	+-----+-----+---------------------------+--+------------------------------+
//
// state 0 means nothing written yet; 1 reserved (written by the next
// writer, which helps a writer that has not published, so that the word
// gives the entry's size); 2 published, 3 published and acknowledged. tag
// is 28 bits of a hash of the nonce, slot, generation, offset and size:
// a published word is valid only where it was written, for that size, in
// that chunk of that namespace.
const (
	// CtlMagic starts the control object of a namespace.
	CtlMagic = "crshSHMN"
	// ChunkMagic starts every chunk.
	ChunkMagic = "crshSHMC"
	// Version is the format version this package reads and writes.
	Version = 1

	ctlIdentLen = 72  // the identity of a namespace, checksum included
	ctlSumOff   = 64  // its checksum
	ctlHeadOff  = 128 // head chunk reference
	ctlNextOff  = 136 // next (prefetched) chunk reference
	ctlGenOff   = 144 // last generation handed out
	ctlStatsOff = 192 // the statistics, ctlStatCount words
	ctlSlotsOff = 256 // slot words

	chunkIdentLen    = 64
	chunkSumOff      = 56
	chunkUsedOff     = 64
	chunkAcksOff     = 128
	chunkEntriesOff  = 136
	chunkFirstOff    = 144
	chunkAckedAtOff  = 152
	dataStart        = 192
	entryAlign       = 8
	entryWordLen     = 8
	entriesCounted   = uint64(1) << 63
	maxChunkSize     = 1 << 30
	minChunkSize     = engine.PageSize
	maxMaxChunks     = 1 << 20
	maxPrefetchMille = 1000
)

// The statistics words of the control object, in order.
const (
	statCreated = iota
	statFreedAcked
	statFreedExpired
	statReclaimed
	statCreatedInline
	ctlStatCount
)

// NamespaceHeader is the identity of a namespace, bytes [0, 72) of its
// control object.
type NamespaceHeader struct {
	Version   uint32
	ChunkSize uint64
	MaxChunks uint32
	// PrefetchMille is the prefetch threshold in thousandths of a chunk.
	PrefetchMille uint32
	Decay         time.Duration
	TTL           time.Duration
	// Epoch is when the namespace was created, in Unix nanoseconds.
	Epoch int64
	// Nonce tells this namespace from an earlier one of the same name.
	Nonce uint64
}

// Encode writes the identity, magic number and checksum included, to
// b[:72].
func (h *NamespaceHeader) Encode(b []byte) {
	_ = b[ctlIdentLen-1]
	clear(b[:ctlIdentLen])
	copy(b, CtlMagic)
	ne := binary.NativeEndian
	ne.PutUint32(b[8:], h.Version)
	ne.PutUint64(b[16:], h.ChunkSize)
	ne.PutUint32(b[24:], h.MaxChunks)
	ne.PutUint32(b[28:], h.PrefetchMille)
	ne.PutUint64(b[32:], uint64(h.Decay))
	ne.PutUint64(b[40:], uint64(h.TTL))
	ne.PutUint64(b[48:], uint64(h.Epoch))
	ne.PutUint64(b[56:], h.Nonce)
	ne.PutUint64(b[ctlSumOff:], xxh3.Hash(b[:ctlSumOff]))
}

// DecodeNamespace reads the identity of a namespace from b and validates
// it: ErrNotReady for a magic number of zeros (Create stores it last),
// ErrCorrupt for other bytes this package did not write (the checksum is
// checked before any field is read), then what Validate says.
func DecodeNamespace(b []byte) (NamespaceHeader, error) {
	if len(b) < ctlIdentLen {
		return NamespaceHeader{}, fmt.Errorf("%w: control object of %d bytes, want at least %d", ErrCorrupt, len(b), ctlIdentLen)
	}
	if binary.NativeEndian.Uint64(b) == 0 {
		return NamespaceHeader{}, fmt.Errorf("%w: no magic number yet", ErrNotReady)
	}
	if string(b[:8]) != CtlMagic {
		return NamespaceHeader{}, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[:8])
	}
	ne := binary.NativeEndian
	if sum, want := ne.Uint64(b[ctlSumOff:]), xxh3.Hash(b[:ctlSumOff]); sum != want {
		return NamespaceHeader{}, fmt.Errorf("%w: control object checksum %#x, want %#x", ErrCorrupt, sum, want)
	}
	if z := ne.Uint32(b[12:]); z != 0 {
		return NamespaceHeader{}, fmt.Errorf("%w: reserved control word %#x", ErrCorrupt, z)
	}
	h := NamespaceHeader{
		Version:       ne.Uint32(b[8:]),
		ChunkSize:     ne.Uint64(b[16:]),
		MaxChunks:     ne.Uint32(b[24:]),
		PrefetchMille: ne.Uint32(b[28:]),
		Decay:         time.Duration(ne.Uint64(b[32:])),
		TTL:           time.Duration(ne.Uint64(b[40:])),
		Epoch:         int64(ne.Uint64(b[48:])),
		Nonce:         ne.Uint64(b[56:]),
	}
	return h, h.Validate()
}

// Validate reports whether the identity describes a namespace this package
// can use: ErrVersion for another format version, ErrCorrupt for a value
// it never writes.
func (h *NamespaceHeader) Validate() error {
	switch {
	case h.Version != Version:
		return fmt.Errorf("%w: format version %d, this package reads %d", ErrVersion, h.Version, Version)
	case h.ChunkSize < minChunkSize || h.ChunkSize > maxChunkSize || h.ChunkSize%engine.PageSize != 0:
		return fmt.Errorf("%w: chunk size %d", ErrCorrupt, h.ChunkSize)
	case h.MaxChunks == 0 || h.MaxChunks > maxMaxChunks:
		return fmt.Errorf("%w: MaxChunks %d", ErrCorrupt, h.MaxChunks)
	case h.PrefetchMille == 0 || h.PrefetchMille > maxPrefetchMille:
		return fmt.Errorf("%w: prefetch threshold %d‰", ErrCorrupt, h.PrefetchMille)
	case h.Decay < 0:
		return fmt.Errorf("%w: decay %v", ErrCorrupt, h.Decay)
	case h.TTL <= 0:
		return fmt.Errorf("%w: TTL %v", ErrCorrupt, h.TTL)
	case h.Epoch <= 0:
		return fmt.Errorf("%w: epoch %d", ErrCorrupt, h.Epoch)
	case h.Nonce == 0:
		return fmt.Errorf("%w: nonce 0", ErrCorrupt)
	}
	return nil
}

// ctlSize returns the size of the control object of a namespace of
// maxChunks slots: a whole number of pages.
func ctlSize(maxChunks uint32) int64 {
	n := int64(ctlSlotsOff) + 8*int64(maxChunks)
	return (n + engine.PageSize - 1) &^ (engine.PageSize - 1)
}

// firstGen returns the generation before the first one a namespace of
// this nonce hands out.
func firstGen(nonce uint64) uint32 { return uint32(nonce) }

// ChunkHeader is the identity of a chunk, its first 64 bytes.
type ChunkHeader struct {
	Version uint32
	Slot    uint32
	Gen     uint32
	Size    uint64
	Nonce   uint64
	// Created is when the chunk was created, in Unix nanoseconds.
	Created int64
}

// Encode writes the chunk's identity, magic number and checksum included,
// to b[:64].
func (h *ChunkHeader) Encode(b []byte) {
	_ = b[chunkIdentLen-1]
	clear(b[:chunkIdentLen])
	copy(b, ChunkMagic)
	ne := binary.NativeEndian
	ne.PutUint32(b[8:], h.Version)
	ne.PutUint32(b[12:], h.Slot)
	ne.PutUint32(b[16:], h.Gen)
	ne.PutUint64(b[24:], h.Size)
	ne.PutUint64(b[32:], h.Nonce)
	ne.PutUint64(b[40:], uint64(h.Created))
	ne.PutUint64(b[chunkSumOff:], xxh3.Hash(b[:chunkSumOff]))
}

// DecodeChunk reads a chunk's identity from b: ErrCorrupt for bytes this
// package did not write (the checksum is checked before any field is
// read), ErrVersion for another format version.
func DecodeChunk(b []byte) (ChunkHeader, error) {
	if len(b) < chunkIdentLen {
		return ChunkHeader{}, fmt.Errorf("%w: chunk header of %d bytes, want %d", ErrCorrupt, len(b), chunkIdentLen)
	}
	if string(b[:8]) != ChunkMagic {
		return ChunkHeader{}, fmt.Errorf("%w: bad chunk magic %q", ErrCorrupt, b[:8])
	}
	ne := binary.NativeEndian
	if sum, want := ne.Uint64(b[chunkSumOff:]), xxh3.Hash(b[:chunkSumOff]); sum != want {
		return ChunkHeader{}, fmt.Errorf("%w: chunk header checksum %#x, want %#x", ErrCorrupt, sum, want)
	}
	if z, z2 := ne.Uint32(b[20:]), ne.Uint64(b[48:]); z != 0 || z2 != 0 {
		return ChunkHeader{}, fmt.Errorf("%w: reserved chunk header words %#x %#x", ErrCorrupt, z, z2)
	}
	h := ChunkHeader{
		Version: ne.Uint32(b[8:]),
		Slot:    ne.Uint32(b[12:]),
		Gen:     ne.Uint32(b[16:]),
		Size:    ne.Uint64(b[24:]),
		Nonce:   ne.Uint64(b[32:]),
		Created: int64(ne.Uint64(b[40:])),
	}
	if h.Version != Version {
		return h, fmt.Errorf("%w: chunk format version %d, this package reads %d", ErrVersion, h.Version, Version)
	}
	return h, nil
}

// Validate reports whether the chunk is the one the namespace ns holds in
// slot slot with generation gen.
func (h *ChunkHeader) Validate(ns *NamespaceHeader, slot, gen uint32) error {
	switch {
	case h.Version != Version:
		return fmt.Errorf("%w: chunk format version %d, this package reads %d", ErrVersion, h.Version, Version)
	case h.Nonce != ns.Nonce:
		return fmt.Errorf("%w: chunk of another namespace (nonce %#x, want %#x)", ErrCorrupt, h.Nonce, ns.Nonce)
	case h.Slot != slot || h.Gen != gen:
		return fmt.Errorf("%w: chunk of slot %d generation %#x where slot %d generation %#x is", ErrCorrupt, h.Slot, h.Gen, slot, gen)
	case h.Size != ns.ChunkSize:
		return fmt.Errorf("%w: chunk of %d bytes in a namespace of %d-byte chunks", ErrCorrupt, h.Size, ns.ChunkSize)
	}
	return nil
}

// A chunk reference (the control object's head and next) names a chunk
// by slot and generation; 0 is none, since no generation is 0.
func chunkRef(slot, gen uint32) uint64 { return uint64(slot)<<32 | uint64(gen) }

func refSlot(ref uint64) uint32 { return uint32(ref >> 32) }
func refGen(ref uint64) uint32  { return uint32(ref) }

// Slot states, bits 62 and 63 of a slot word.
const (
	slotFree     = 0
	slotCreating = 1
	slotLive     = 2
	slotFreeing  = 3
	maxSlotSecs  = 1<<30 - 1
)

func slotWord(state int, secs int64, gen uint32) uint64 {
	secs = min(max(secs, 0), maxSlotSecs)
	return uint64(state)<<62 | uint64(secs)<<32 | uint64(gen)
}

func slotState(w uint64) int    { return int(w >> 62) }
func slotSecs(w uint64) int64   { return int64(w >> 32 & maxSlotSecs) }
func slotGenOf(w uint64) uint32 { return uint32(w) }
func slotIsLive(w uint64) bool  { return slotState(w) == slotLive }
func slotHolds(w uint64, g uint32) bool {
	return slotState(w) == slotLive && slotGenOf(w) == g
}

// used words.
const (
	usedSealed  = uint64(1) << 63
	usedLastMax = 1<<31 - 1
)

func usedWord(end, last uint32) uint64 { return uint64(last)<<32 | uint64(end) }
func usedEnd(u uint64) uint32          { return uint32(u) }
func usedLast(u uint64) uint32         { return uint32(u>>32) & usedLastMax }
func isSealed(u uint64) bool           { return u&usedSealed != 0 }

// wordLow and wordHigh are the offsets of the low and high 32 bits of a
// word in this machine's byte order.
var wordLow, wordHigh = func() (int64, int64) {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	if b[0] == 1 {
		return 0, 4
	}
	return 4, 0
}()

// Entry word states, bits 60 and 61.
const (
	entryReserved  = 1
	entryPublished = 2
	entryAcked     = 3
	entrySizeMask  = 1<<31 - 1
	entryTagMask   = 1<<28 - 1
	// entryFixedZero are the bits of an entry word that are always zero.
	entryFixedZero = uint64(3)<<62 | uint64(1)<<31
)

func entryState(w uint64) int   { return int(w >> 60 & 3) }
func entrySize(w uint64) uint32 { return uint32(w) & entrySizeMask }
func entryTagOf(w uint64) uint32 {
	return uint32(w>>32) & entryTagMask
}

// reservedWord is what a helping writer stores for an entry of size
// bytes whose writer has not published it.
func reservedWord(size uint32) uint64 { return uint64(entryReserved)<<60 | uint64(size) }

// publishedWord is the entry word of a published blob.
func publishedWord(tag, size uint32) uint64 {
	return uint64(entryPublished)<<60 | uint64(tag&entryTagMask)<<32 | uint64(size)
}

// ackedWord is publishedWord acknowledged.
func ackedWord(tag, size uint32) uint64 {
	return uint64(entryAcked)<<60 | uint64(tag&entryTagMask)<<32 | uint64(size)
}

// entryLen returns the bytes an entry of a blob of size bytes takes.
func entryLen(size uint32) uint64 {
	return entryWordLen + (uint64(size)+entryAlign-1)&^(entryAlign-1)
}

// entryTag is the tag of the entry whose word is at off, holding size
// bytes, in the chunk of slot and gen of the namespace of nonce.
func entryTag(nonce uint64, slot, gen, off, size uint32) uint32 {
	x := mix64(nonce ^ (uint64(gen)<<32 | uint64(slot)))
	x = mix64(x ^ (uint64(off)<<32 | uint64(size)))
	return uint32(x>>36) & entryTagMask
}

// mix64 is SplitMix64's finalizer: every input bit affects every output
// bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// checkEntryWord reports whether w is a word some step of the protocol
// leaves at off in a chunk whose entries end at end: ok says the entry is
// published (or acknowledged) and whole; pending that it is a
// reservation whose writer has not published it (a zero word is pending
// only as the last entry, whose size last gives); an error, that no crash
// leaves this. size is the blob's size either way.
func checkEntryWord(w uint64, nonce uint64, slot, gen, off, end, last uint32) (size uint32, ok bool, err error) {
	isLast := func(size uint32) bool { return uint64(off)+entryLen(size) == uint64(end) }
	if w == 0 {
		if isLast(last) {
			return last, false, nil
		}
		return 0, false, fmt.Errorf("%w: entry at %d of chunk %d has no word, but is not the last (which ends at %d)", ErrCorrupt, off, slot, end)
	}
	size = entrySize(w)
	if w&entryFixedZero != 0 {
		return size, false, fmt.Errorf("%w: entry word %#x at %d of chunk %d", ErrCorrupt, w, off, slot)
	}
	if uint64(off)+entryLen(size) > uint64(end) {
		return size, false, fmt.Errorf("%w: entry at %d of chunk %d holds %d bytes, beyond the end of its entries at %d", ErrCorrupt, off, slot, size, end)
	}
	if isLast(size) && size != last {
		return size, false, fmt.Errorf("%w: the last entry, at %d of chunk %d, holds %d bytes where %d were reserved", ErrCorrupt, off, slot, size, last)
	}
	switch entryState(w) {
	case entryReserved:
		if entryTagOf(w) != 0 {
			return size, false, fmt.Errorf("%w: reserved entry word %#x at %d of chunk %d", ErrCorrupt, w, off, slot)
		}
		return size, false, nil
	case entryPublished, entryAcked:
		if t := entryTag(nonce, slot, gen, off, size); entryTagOf(w) != t {
			return size, false, fmt.Errorf("%w: entry word %#x at %d of chunk %d has tag %#x, want %#x", ErrCorrupt, w, off, slot, entryTagOf(w), t)
		}
		return size, true, nil
	}
	return size, false, fmt.Errorf("%w: entry word %#x at %d of chunk %d", ErrCorrupt, w, off, slot)
}
