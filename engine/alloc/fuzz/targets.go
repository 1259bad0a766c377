// Package fuzz holds the fuzz target of package engine/alloc's persistent
// metadata, shared by the native fuzz test (fuzz_test.go, `make
// fuzz-smoke`) and go-fuzz (the gofuzz build tag, `make gofuzz`). Metadata
// takes a real heap — two zones, runs of small blocks and large blocks,
// some freed — and overwrites words of its metadata (the heap header, the
// zone headers, the page tables, the runs' headers and bitmaps) with the
// fuzzer's; then it opens the heap. The property: Open fails only with
// ErrCorrupt, and a heap that opens answers Stats, Block and Check, and
// allocates and frees, with typed errors and without a panic; a block it
// allocates lies inside the heap and overlaps no other it handed out.
package fuzz

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/crashsim/crashsim/engine/alloc"
)

// The sample heap's geometry: its header at HeapOff, zone 0 at First.
const (
	HeapOff = 64
	First   = alloc.PageSize
)

// Store is storage in memory, and a Journal that writes straight through.
type Store struct{ B []byte }

func (s *Store) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(s.B)) || int64(len(p)) > int64(len(s.B))-off {
		return 0, fmt.Errorf("read [%d,+%d) of %d bytes", off, len(p), len(s.B))
	}
	return copy(p, s.B[off:]), nil
}

type journal struct{ s *Store }

func (j journal) ReadAt(p []byte, off int64) error { _, err := j.s.ReadAt(p, off); return err }
func (j journal) WriteAt(p []byte, off int64) error {
	if off < 0 || off > int64(len(j.s.B)) || int64(len(p)) > int64(len(j.s.B))-off {
		return fmt.Errorf("write [%d,+%d) of %d bytes", off, len(p), len(j.s.B))
	}
	copy(j.s.B[off:], p)
	return nil
}
func (j journal) InitAt(p []byte, off int64) error { return j.WriteAt(p, off) }
func (j journal) Extend(n int64) error {
	if n > 1<<24 {
		return alloc.ErrNoSpace
	}
	if n > int64(len(j.s.B)) {
		j.s.B = append(j.s.B, make([]byte, n-int64(len(j.s.B)))...)
	}
	return nil
}

// Sample builds the sample heap and returns its bytes.
func Sample() ([]byte, error) {
	s := &Store{B: make([]byte, First+alloc.MinZone)}
	j := journal{s}
	if err := alloc.Format(j, HeapOff, First, int64(len(s.B))); err != nil {
		return nil, err
	}
	h, err := alloc.Open(s, HeapOff, int64(len(s.B)), 0)
	if err != nil {
		return nil, err
	}
	var offs []int64
	for i, n := range []int64{16, 16, 100, 2048, 3000, 5 * alloc.PageSize, 64, 20 * alloc.PageSize, 700} {
		off, _, err := h.Alloc(j, n)
		if err != nil {
			return nil, fmt.Errorf("alloc %d: %w", i, err)
		}
		offs = append(offs, off)
	}
	h.Commit()
	for _, i := range []int{1, 4, 6} {
		if err := h.Free(j, offs[i]); err != nil {
			return nil, err
		}
	}
	h.Commit()
	return s.B, nil
}

// Metadata overwrites words of the sample heap: data is read as patches
// of a 16-bit word index, from the heap header on (wrapping around the
// storage: the header, the zone header, the page table, the runs' headers
// and bitmaps, and the blocks), and a 64-bit value.
func Metadata(data []byte) error {
	b, err := Sample()
	if err != nil {
		return err
	}
	words := int64(len(b)) / 8
	for len(data) >= 10 {
		i := int64(binary.LittleEndian.Uint16(data))
		v := binary.LittleEndian.Uint64(data[2:])
		data = data[10:]
		w := (HeapOff/8 + i) % words
		binary.LittleEndian.PutUint64(b[w*8:], v)
	}
	s := &Store{B: b}
	h, err := alloc.Open(s, HeapOff, int64(len(b)), 1<<24)
	if err != nil {
		if !errors.Is(err, alloc.ErrCorrupt) {
			return fmt.Errorf("Open: untyped error %v", err)
		}
		return nil
	}
	if _, err := h.Stats(); err != nil && !errors.Is(err, alloc.ErrCorrupt) {
		return fmt.Errorf("Stats: untyped error %v", err)
	}
	if err := h.Check(nil, leaves{}); err != nil && !errors.Is(err, alloc.ErrCheck) && !errors.Is(err, alloc.ErrCorrupt) {
		return fmt.Errorf("Check: untyped error %v", err)
	}
	for off := h.Start(); off < h.End(); off += alloc.PageSize / 2 {
		if _, _, err := h.Block(off); err != nil && !errors.Is(err, alloc.ErrNotAllocated) && !errors.Is(err, alloc.ErrCorrupt) {
			return fmt.Errorf("Block(%d): untyped error %v", off, err)
		}
	}
	j := journal{s}
	type block struct{ off, n int64 }
	var got []block
	for _, n := range []int64{8, 48, 2048, 4000, 3 * alloc.PageSize, 8} {
		off, usable, err := h.Alloc(j, n)
		if err != nil {
			if !errors.Is(err, alloc.ErrNoSpace) && !errors.Is(err, alloc.ErrCorrupt) {
				return fmt.Errorf("Alloc(%d): untyped error %v", n, err)
			}
			continue
		}
		if usable < n || off < h.Start() || off+usable > h.End() {
			return fmt.Errorf("Alloc(%d) = [%d,+%d), outside the heap [%d,%d)", n, off, usable, h.Start(), h.End())
		}
		for _, o := range got {
			if off < o.off+o.n && o.off < off+usable {
				return fmt.Errorf("Alloc(%d) = [%d,+%d) overlaps [%d,+%d)", n, off, usable, o.off, o.n)
			}
		}
		got = append(got, block{off, usable})
	}
	for _, o := range got {
		if err := h.Free(j, o.off); err != nil && !errors.Is(err, alloc.ErrCorrupt) {
			return fmt.Errorf("Free(%d) of a block it allocated: %v", o.off, err)
		}
	}
	h.Commit()
	return nil
}

// leaves walks nothing: every root is a leaf.
type leaves struct{}

func (leaves) Walk(alloc.Ref, func(alloc.Ref)) error { return nil }

// Targets are the targets, in the order go-fuzz's first byte picks them.
var Targets = []func([]byte) error{Metadata}
