package alloc

import (
	"encoding/binary"
	"fmt"
)

// The persistent format of a heap. Every word is little-endian.
//
// The heap header, 64 bytes at the offset the owner of the heap gives
// (engine/tx puts it in the pool header):
//
//	0        8        16       24                                 64
//	+--------+--------+--------+----------------------------------+
//	| magic  | zones  | first  |             reserved             |
//	+--------+--------+--------+----------------------------------+
//
// zones is the number of zones; first the offset of zone 0. Zone k+1
// starts where zone k ends, so the zones tile [first, end of the last).
// The heap header and the zone headers carry no checksum: they change in
// transactions, and the owner's log makes those changes atomic. Open checks
// every field against the storage and the other fields instead, and the
// reserved bytes must be zero, so that a flipped bit anywhere in them is
// ErrCorrupt.
//
// A zone, at an offset that is a multiple of PageSize:
//
//	0        8        16       24       32          64                T                      size
//	+--------+--------+--------+--------+-----------+----------------+---------------------+
//	| magic  | index  | size   | npages | reserved  | page table:    | npages pages of     |
//	|        |        |        |        |           | npages entries | PageSize bytes      |
//	+--------+--------+--------+--------+-----------+----------------+---------------------+
//
// T, the offset of page 0, is 64 + 8*npages rounded up to PageSize.
//
// A page-table entry describes a block of pages: at the block's first page
// (its start) and, if it has more than one page, at its last (its tail, the
// boundary tag that lets a free block find its left neighbour). Entries of
// the pages in between are stale and never read.
//
//	bits 0-1   kind: 1 free, 2 used (a large object), 3 run (small blocks); 0 is invalid
//	bit  2     tail: this is the block's last page, not its first
//	bits 8-15  size class of a run
//	bits 32-63 npages, the length of the block in pages
//
// A run is a block of runPages(class) pages cut into equal small blocks:
//
//	0              4              8                16                                   data         runBytes
//	+--------------+--------------+----------------+---------------------+-----------+------------------+
//	| class (u32)  | nblocks (u32)| reserved       | bitmap: 1 = in use  | (padding) | nblocks blocks   |
//	+--------------+--------------+----------------+---------------------+-----------+------------------+
//
// Block i of a run starts at data + i*size, where data is the end of the
// bitmap rounded up to 64 bytes for sizes that are multiples of 64 (so that
// such a block fills whole cache lines) and to 16 bytes otherwise. The
// padding is never read.
//
// None of this metadata has a checksum; a damaged bit of it is found all
// the same. Open checks every entry it reads — a block's start and tail
// agree, the blocks tile the zone, no two free blocks touch, reserved bits
// are zero — and a run's header and the bits past its last block when the
// run is first used; what remains, a block's kind or a bitmap bit flipped
// into another valid value, makes a live block free or a free one
// allocated, which Check's walk from the roots reports (a pointer into
// free memory, a leak). TestMetadataBitFlips flips every bit of it.

const (
	// PageSize is the unit of large allocations and of zones.
	PageSize = 4096
	// HeaderSize is the size of the heap header.
	HeaderSize = 64

	heapMagic      = 0x3130_5041_4548_7363 // "cshEAP01"
	zoneMagic      = 0x3130_454e_4f5a_7363 // "csZONE01"
	zoneHeaderSize = 64
	entrySize      = 8
	runHeaderSize  = 16
	// maxZones bounds the zones of a heap; growth doubles the arena, so
	// this is never the limit in practice, and it bounds what a corrupt
	// header can make Open do.
	maxZones = 48
	// maxZonePages bounds a zone's pages (512 GiB), so that page numbers and
	// counts fit the 32-bit fields of entries and of the volatile index.
	maxZonePages = 1 << 27
)

// kind is what a page-table entry says its block is.
type kind uint8

const (
	kindNone kind = iota
	kindFree
	kindUsed
	kindRun
)

func (k kind) String() string {
	switch k {
	case kindFree:
		return "free"
	case kindUsed:
		return "used"
	case kindRun:
		return "run"
	}
	return "invalid"
}

// entry is a page-table entry.
type entry uint64

func makeEntry(k kind, tail bool, class int, npages uint32) entry {
	e := entry(k) | entry(class&0xff)<<8 | entry(npages)<<32
	if tail {
		e |= 4
	}
	return e
}

func (e entry) kind() kind      { return kind(e & 3) }
func (e entry) tail() bool      { return e&4 != 0 }
func (e entry) class() int      { return int(e>>8) & 0xff }
func (e entry) npages() uint32  { return uint32(e >> 32) }
func (e entry) reserved() entry { return e & 0x0000_0000_ffff_00f8 }

func (e entry) String() string {
	t := ""
	if e.tail() {
		t = " tail"
	}
	if e.kind() == kindRun {
		return fmt.Sprintf("run class %d%s of %d pages", e.class(), t, e.npages())
	}
	return fmt.Sprintf("%v%s of %d pages", e.kind(), t, e.npages())
}

// zoneGeometry returns how many pages a zone of size bytes holds and the
// offset of its page 0 from the zone's start.
func zoneGeometry(size int64) (npages int64, pagesOff int64) {
	n := (size - zoneHeaderSize) / (PageSize + entrySize)
	for n > 0 {
		t := tableEnd(n)
		if t+n*PageSize <= size {
			return n, t
		}
		n--
	}
	return 0, 0
}

// tableEnd is the offset of page 0 in a zone of n pages.
func tableEnd(n int64) int64 {
	return roundUp(zoneHeaderSize+n*entrySize, PageSize)
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

func le64(b []byte) uint64       { return binary.LittleEndian.Uint64(b) }
func putLE64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }
func le32(b []byte) uint32       { return binary.LittleEndian.Uint32(b) }
func putLE32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }
