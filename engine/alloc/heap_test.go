package alloc

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"testing"

	"pgregory.net/rapid"
)

// tb is what the helpers need of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// memStore is storage in memory.
type memStore struct{ b []byte }

func (m *memStore) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, fmt.Errorf("read [%d,%d) of %d", off, off+int64(len(p)), len(m.b))
	}
	return copy(p, m.b[off:]), nil
}

// memJournal writes through to a memStore and keeps the old bytes, so that
// abort restores them: the contract engine/tx implements with its log.
type memJournal struct {
	s     *memStore
	undo  []undoBytes
	inits []undoBytes // ranges written with InitAt: free memory, not restored
}

type undoBytes struct {
	off int64
	old []byte
}

func (j *memJournal) ReadAt(p []byte, off int64) error {
	_, err := j.s.ReadAt(p, off)
	return err
}

func (j *memJournal) WriteAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > int64(len(j.s.b)) {
		return fmt.Errorf("write [%d,%d) of %d", off, off+int64(len(p)), len(j.s.b))
	}
	j.undo = append(j.undo, undoBytes{off, bytes.Clone(j.s.b[off : off+int64(len(p))])})
	copy(j.s.b[off:], p)
	return nil
}

func (j *memJournal) InitAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > int64(len(j.s.b)) {
		return fmt.Errorf("init [%d,%d) of %d", off, off+int64(len(p)), len(j.s.b))
	}
	j.inits = append(j.inits, undoBytes{off: off, old: make([]byte, len(p))})
	copy(j.s.b[off:], p)
	return nil
}

func (j *memJournal) Extend(n int64) error {
	if n > int64(len(j.s.b)) {
		j.s.b = append(j.s.b, make([]byte, n-int64(len(j.s.b)))...)
	}
	return nil
}

func (j *memJournal) abort(h *Heap) {
	for i := len(j.undo) - 1; i >= 0; i-- {
		copy(j.s.b[j.undo[i].off:], j.undo[i].old)
	}
	j.undo = nil
	h.Abort()
}

func (j *memJournal) commit(h *Heap) {
	j.undo = nil
	h.Commit()
}

const testBase = 64

// newHeap formats a heap of one zone of size bytes after a page of header.
func newHeap(t tb, size, limit int64) (*Heap, *memJournal) {
	t.Helper()
	s := &memStore{b: make([]byte, PageSize+size)}
	j := &memJournal{s: s}
	if err := Format(j, testBase, PageSize, PageSize+size); err != nil {
		t.Fatal(err)
	}
	h, err := Open(s, testBase, int64(len(s.b)), limit)
	if err != nil {
		t.Fatal(err)
	}
	return h, j
}

// reopen builds a new index from the storage, as after a restart.
func reopen(t tb, j *memJournal, limit int64) *Heap {
	t.Helper()
	h, err := Open(j.s, testBase, int64(len(j.s.b)), limit)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	return h
}

// blocksWalker holds no pointers: every object is a leaf.
type blocksWalker struct{}

func (blocksWalker) Walk(Ref, func(Ref)) error { return nil }

func roots(live map[int64]int64) []Ref {
	var rs []Ref
	for off, size := range live {
		rs = append(rs, Ref{Off: off, Size: size, Kind: Owner, Type: "leaf", From: -1})
	}
	return rs
}

func mustCheck(t tb, h *Heap, live map[int64]int64) {
	t.Helper()
	if err := h.Check(roots(live), blocksWalker{}); err != nil {
		t.Fatal(err)
	}
}

func TestGeometries(t *testing.T) {
	for c, g := range geometries {
		if g.nblocks < 16 || g.size != classSizes[c] {
			t.Errorf("class %d: %+v", c, g)
		}
		if g.data+int64(g.nblocks)*g.size > g.pages*PageSize || runHeaderSize+int64(g.words)*8 > g.data {
			t.Errorf("class %d does not fit its run: %+v", c, g)
		}
		if g.size%64 == 0 && g.data%64 != 0 {
			t.Errorf("class %d: blocks of %d bytes do not start on a cache line", c, g.size)
		}
		if got := classOf(g.size); got != c {
			t.Errorf("classOf(%d) = %d, want %d", g.size, got, c)
		}
		if c > 0 {
			if got := classOf(classSizes[c-1] + 1); got != c {
				t.Errorf("classOf(%d) = %d, want %d", classSizes[c-1]+1, got, c)
			}
		}
	}
}

func TestAllocFreeReopen(t *testing.T) {
	h, j := newHeap(t, 1<<20, 0)
	live := map[int64]int64{}
	for _, size := range []int64{1, 16, 17, 64, 100, 2048, 2049, 4096, 10000, 64, 64} {
		off, usable, err := h.Alloc(j, size)
		if err != nil {
			t.Fatalf("alloc %d: %v", size, err)
		}
		if usable < size {
			t.Fatalf("alloc %d: usable %d", size, usable)
		}
		if size == 64 && off%64 != 0 {
			t.Errorf("a 64-byte block at %d does not fill one cache line", off)
		}
		if start, bsize, err := h.Block(off + usable - 1); err != nil || start != off || bsize != usable {
			t.Errorf("Block(%d) = %d, %d, %v; want %d, %d", off+usable-1, start, bsize, err, off, usable)
		}
		live[off] = usable
	}
	j.commit(h)
	assertDisjoint(t, live)
	mustCheck(t, h, live)
	h2 := reopen(t, j, 0)
	mustCheck(t, h2, live)
	for off := range live {
		if err := h2.Free(j, off); err != nil {
			t.Fatal(err)
		}
		delete(live, off)
		break
	}
	j.commit(h2)
	mustCheck(t, h2, live)
	mustCheck(t, reopen(t, j, 0), live)
}

func assertDisjoint(t tb, live map[int64]int64) {
	t.Helper()
	offs := make([]int64, 0, len(live))
	for off := range live {
		offs = append(offs, off)
	}
	sort.Slice(offs, func(a, b int) bool { return offs[a] < offs[b] })
	for i := 1; i < len(offs); i++ {
		if offs[i-1]+live[offs[i-1]] > offs[i] {
			t.Fatalf("blocks [%d,+%d) and [%d,+%d) overlap", offs[i-1], live[offs[i-1]], offs[i], live[offs[i]])
		}
	}
}

func TestAbortRestores(t *testing.T) {
	h, j := newHeap(t, 1<<20, 0)
	keep, _, _ := h.Alloc(j, 3*PageSize)
	small, _, _ := h.Alloc(j, 40)
	j.commit(h)
	before := bytes.Clone(j.s.b)
	statsBefore, _ := h.Stats()
	j.inits = nil

	for i := range 50 {
		if _, _, err := h.Alloc(j, int64(16+i*97)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Free(j, keep); err != nil {
		t.Fatal(err)
	}
	if err := h.Free(j, small); err != nil {
		t.Fatal(err)
	}
	j.abort(h)
	if len(j.inits) == 0 {
		t.Fatal("no new run was made: the test does not test InitAt")
	}
	// What InitAt wrote is in memory that is free again; everything else
	// must be as it was.
	after := bytes.Clone(j.s.b)
	for _, in := range j.inits {
		copy(after[in.off:], before[in.off:in.off+int64(len(in.old))])
	}
	if !bytes.Equal(before, after) {
		t.Fatal("abort left the persistent metadata changed")
	}
	live := map[int64]int64{keep: 3 * PageSize, small: 48}
	mustCheck(t, h, live)
	if st, _ := h.Stats(); st.Used != statsBefore.Used || st.FreePages != statsBefore.FreePages {
		t.Errorf("stats after abort %v, before %v", st, statsBefore)
	}
}

func TestFreeErrors(t *testing.T) {
	h, j := newHeap(t, 1<<20, 0)
	big, _, _ := h.Alloc(j, 2*PageSize)
	small, _, _ := h.Alloc(j, 32)
	j.commit(h)
	for _, off := range []int64{0, big + 8, small + 8, 1 << 40, -5} {
		if err := h.Free(j, off); !errors.Is(err, ErrNotAllocated) {
			t.Errorf("Free(%d) = %v, want ErrNotAllocated", off, err)
		}
	}
	if err := h.Free(j, big); err != nil {
		t.Fatal(err)
	}
	if err := h.Free(j, big); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("double free of a large block in one transaction: %v", err)
	}
	if err := h.Free(j, small); err != nil {
		t.Fatal(err)
	}
	if err := h.Free(j, small); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("double free of a small block in one transaction: %v", err)
	}
	if _, _, err := h.Block(small); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("Block of a block freed by the transaction: %v", err)
	}
	j.commit(h)
	if err := h.Free(j, small); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("double free after commit: %v", err)
	}
	if _, _, err := h.Alloc(j, 0); !errors.Is(err, ErrSize) {
		t.Errorf("Alloc(0) = %v", err)
	}
	mustCheck(t, h, nil)
}

func TestBestFitAndMerge(t *testing.T) {
	h, j := newHeap(t, 1<<20, 0)
	// Blocks of 5, 1, 3, 1, 2, 1 pages; then free the 5, 3 and 2: free
	// extents of 5, 3 and 2 pages separated by used ones, and the rest.
	sizes := []int64{5, 1, 3, 1, 2, 1}
	offs := make([]int64, len(sizes))
	for i, n := range sizes {
		off, _, err := h.Alloc(j, n*PageSize)
		if err != nil {
			t.Fatal(err)
		}
		offs[i] = off
	}
	j.commit(h)
	for _, i := range []int{0, 2, 4} {
		if err := h.Free(j, offs[i]); err != nil {
			t.Fatal(err)
		}
	}
	j.commit(h)
	// Best fit: 2 pages go to the 2-page hole, 3 to the 3-page one, 4 to
	// the 5-page one (at its start).
	for _, c := range []struct{ pages, want int64 }{{2, offs[4]}, {3, offs[2]}, {4, offs[0]}} {
		off, _, err := h.Alloc(j, c.pages*PageSize)
		if err != nil || off != c.want {
			t.Fatalf("alloc of %d pages at %d, %v; want %d", c.pages, off, err, c.want)
		}
	}
	j.commit(h)
	// Free everything: the zone is one free extent again.
	h2 := reopen(t, j, 0)
	live := map[int64]int64{}
	h2.allocated(func(start, size int64) { live[start] = size })
	for off := range live {
		if err := h2.Free(j, off); err != nil {
			t.Fatal(err)
		}
	}
	j.commit(h2)
	st, err := h2.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.FreeExtents != 1 || st.Fragmentation != 0 || st.Objects != 0 {
		t.Errorf("after freeing everything: %v", st)
	}
	mustCheck(t, h2, nil)
	mustCheck(t, reopen(t, j, 0), nil)
}

func TestGrowth(t *testing.T) {
	h, j := newHeap(t, MinZone, 0)
	var live = map[int64]int64{}
	for range 40 {
		off, usable, err := h.Alloc(j, 3*PageSize)
		if err != nil {
			t.Fatal(err)
		}
		live[off] = usable
	}
	j.commit(h)
	st, _ := h.Stats()
	if st.Zones < 3 || st.Arena < 40*3*PageSize {
		t.Errorf("after growth: %v", st)
	}
	if h.End() != int64(len(j.s.b)) {
		t.Errorf("arena ends at %d, storage at %d", h.End(), len(j.s.b))
	}
	mustCheck(t, h, live)
	mustCheck(t, reopen(t, j, 0), live)

	// A block larger than any zone gets a zone of its own.
	off, usable, err := h.Alloc(j, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	live[off] = usable
	j.commit(h)
	mustCheck(t, reopen(t, j, 0), live)

	// Growth that aborts leaves the zone count as it was.
	zones := len(h.zones)
	if _, _, err := h.Alloc(j, 100<<20); err != nil {
		t.Fatal(err)
	}
	j.abort(h)
	if len(h.zones) != zones {
		t.Errorf("%d zones after an aborted growth, want %d", len(h.zones), zones)
	}
	mustCheck(t, h, live)
	mustCheck(t, reopen(t, j, 0), live)
}

func TestLimit(t *testing.T) {
	limit := int64(PageSize + 4*MinZone)
	h, j := newHeap(t, MinZone, limit)
	var err error
	n := 0
	for err == nil && n < 1000 {
		_, _, err = h.Alloc(j, 2*PageSize)
		n++
	}
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("alloc beyond the limit: %v", err)
	}
	if h.End() > limit {
		t.Errorf("arena ends at %d, past the limit %d", h.End(), limit)
	}
}

func TestOpenCorrupt(t *testing.T) {
	_, j := newHeap(t, 1<<20, 0)
	good := bytes.Clone(j.s.b)
	zoneTable := int64(PageSize + zoneHeaderSize)
	for _, c := range []struct {
		name string
		off  int64
		val  uint64
	}{
		{"heap magic", testBase, 1},
		{"zone count", testBase + 8, 1000},
		{"zone 0 offset", testBase + 16, 3},
		{"zone magic", PageSize, 7},
		{"zone size", PageSize + 16, 1 << 50},
		{"first entry kind", zoneTable, uint64(makeEntry(kindNone, false, 0, 5))},
		{"first entry too long", zoneTable, uint64(makeEntry(kindFree, false, 0, 1<<20))},
		{"run of a bad class", zoneTable, uint64(makeEntry(kindRun, false, 200, 4))},
	} {
		b := bytes.Clone(good)
		putLE64(b[c.off:], c.val)
		_, err := Open(&memStore{b: b}, testBase, int64(len(b)), 0)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Open = %v, want ErrCorrupt", c.name, err)
		}
	}
	if _, err := Open(&memStore{b: good[:100]}, testBase, 100, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated storage: %v", err)
	}
}

// TestHeaderBitFlips: every single flipped bit of the heap header and of
// a zone header makes Open fail with ErrCorrupt. These headers carry no
// checksum (they change in transactions, through the Journal); every
// field is checked against the storage and against the others, and the
// reserved bytes must be zero, so that no flip goes unnoticed.
func TestHeaderBitFlips(t *testing.T) {
	h, j := newHeap(t, MinZone, 0)
	if _, _, err := h.Alloc(j, 3*MinZone); err != nil { // a second zone
		t.Fatal(err)
	}
	j.commit(h)
	good := bytes.Clone(j.s.b)
	if _, err := Open(&memStore{b: good}, testBase, int64(len(good)), 0); err != nil {
		t.Fatal(err)
	}
	for _, hdr := range []struct {
		name string
		off  int64
		n    int
	}{
		{"heap header", testBase, HeaderSize},
		{"zone 0 header", h.zones[0].off, zoneHeaderSize},
		{"zone 1 header", h.zones[1].off, zoneHeaderSize},
	} {
		for bit := range hdr.n * 8 {
			b := bytes.Clone(good)
			b[hdr.off+int64(bit/8)] ^= 1 << (bit % 8)
			if _, err := Open(&memStore{b: b}, testBase, int64(len(b)), 0); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s, bit %d (byte %d): Open = %v, want ErrCorrupt", hdr.name, bit, bit/8, err)
			}
		}
	}
}

func TestCheckFindsProblems(t *testing.T) {
	h, j := newHeap(t, 1<<20, 0)
	a, _, _ := h.Alloc(j, 64)
	b, _, _ := h.Alloc(j, 64)
	c, _, _ := h.Alloc(j, 2*PageSize)
	j.commit(h)
	leaf := func(off, size int64, k RefKind, count uint64) Ref {
		return Ref{Off: off, Size: size, Kind: k, Count: count, Type: "leaf", From: -1}
	}
	for _, tc := range []struct {
		name  string
		roots []Ref
		want  string
	}{
		{"leak", []Ref{leaf(a, 64, Owner, 0), leaf(c, 2*PageSize, Owner, 0)}, "leaked"},
		{"owned twice", []Ref{leaf(a, 64, Owner, 0), leaf(a, 64, Owner, 0), leaf(b, 64, Owner, 0), leaf(c, 8, Owner, 0)}, "owned 2 times"},
		{"out of range", []Ref{leaf(1<<40, 8, Owner, 0), leaf(a, 64, Owner, 0), leaf(b, 64, Owner, 0), leaf(c, 8, Owner, 0)}, "not in an allocated block"},
		{"overflow", []Ref{leaf(a, 65, Owner, 0), leaf(b, 64, Owner, 0), leaf(c, 8, Owner, 0)}, "past the end of its block"},
		{"middle", []Ref{leaf(a, 64, Owner, 0), leaf(b, 64, Owner, 0), leaf(c+PageSize, 8, Owner, 0)}, "middle of block"},
		{"count", []Ref{leaf(a, 64, Counted, 2), leaf(b, 64, Owner, 0), leaf(c, 8, Owner, 0)}, "reference count 2 but 1"},
		{"borrowed into free", []Ref{leaf(a, 64, Owner, 0), leaf(b, 64, Owner, 0), leaf(c, 8, Owner, 0), leaf(c+4*PageSize, 8, Borrowed, 0)}, "not in an allocated block"},
	} {
		err := h.Check(tc.roots, blocksWalker{})
		var ce *CheckError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCheck) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("%s: Check = %v, want a problem saying %q", tc.name, err, tc.want)
		}
	}
	// The same heap with the right roots is clean.
	mustCheck(t, h, map[int64]int64{a: 64, b: 64, c: 2 * PageSize})

	// Metadata that disagrees with the index: a bitmap bit flipped behind
	// the heap's back.
	r := h.zones[0].runs[h.zones[0].owner[(a-h.zones[0].pages)/PageSize]-1]
	j.s.b[r.off+runHeaderSize] ^= 0x80
	if err := h.Check(nil, blocksWalker{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("bitmap word")) {
		t.Errorf("Check with a flipped bitmap bit: %v", err)
	}
}

// TestRapidHeap runs random transactions of allocations and frees, commits
// or aborts them, and checks after each that the heap matches a model of
// the live blocks, that Check is clean, and that a heap reopened from the
// storage agrees.
func TestRapidHeap(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		limit := int64(0)
		if rapid.Bool().Draw(rt, "limited") {
			limit = PageSize + 6*MinZone
		}
		h, j := newHeap(rt, MinZone, limit)
		live := map[int64]int64{}
		for range rapid.IntRange(1, 12).Draw(rt, "txs") {
			txLive := map[int64]int64{}
			for off, n := range live {
				txLive[off] = n
			}
			for range rapid.IntRange(1, 10).Draw(rt, "ops") {
				if len(txLive) > 0 && rapid.IntRange(0, 2).Draw(rt, "free?") == 0 {
					offs := make([]int64, 0, len(txLive))
					for off := range txLive {
						offs = append(offs, off)
					}
					sort.Slice(offs, func(a, b int) bool { return offs[a] < offs[b] })
					off := offs[rapid.IntRange(0, len(offs)-1).Draw(rt, "victim")]
					if err := h.Free(j, off); err != nil {
						rt.Fatalf("free %d: %v", off, err)
					}
					delete(txLive, off)
					continue
				}
				size := rapid.OneOf(rapid.Int64Range(1, MaxSmall), rapid.Int64Range(MaxSmall+1, 6*PageSize)).Draw(rt, "size")
				off, usable, err := h.Alloc(j, size)
				if errors.Is(err, ErrNoSpace) && limit > 0 {
					continue
				}
				if err != nil {
					rt.Fatalf("alloc %d: %v", size, err)
				}
				txLive[off] = usable
				assertDisjoint(rt, txLive)
			}
			if rapid.Bool().Draw(rt, "commit") {
				j.commit(h)
				live = txLive
			} else {
				j.abort(h)
			}
			mustCheck(rt, h, live)
			h2 := reopen(rt, j, limit)
			mustCheck(rt, h2, live)
			s1, _ := h.Stats()
			s2, _ := h2.Stats()
			if s1.Used != s2.Used || s1.FreePages != s2.FreePages || s1.Objects != int64(len(live)) {
				rt.Fatalf("stats %v, reopened %v, %d live", s1, s2, len(live))
			}
			if rapid.Bool().Draw(rt, "switch to the reopened heap") {
				h = h2
			}
		}
	})
}

// TestMetadataBitFlips: every single flipped bit of the metadata that
// describes the heap's blocks — the page-table entries that start or end
// a block (Open reads those; the entries between are stale, never read),
// the run headers and the run bitmaps, padding bits included — is found:
// Open fails with ErrCorrupt, or Check, given the live blocks as roots,
// reports a problem (a live block that the metadata calls free, a free
// one it calls allocated, a run it cannot read). The heap and zone
// headers are TestHeaderBitFlips'.
func TestMetadataBitFlips(t *testing.T) {
	h, j := newHeap(t, 1<<20, 0)
	live := map[int64]int64{}
	var frees []int64
	for i, size := range []int64{24, 24, 100, 100, 700, 2000, 3 * PageSize, PageSize, 5 * PageSize, 24, 2 * PageSize, 512} {
		off, usable, err := h.Alloc(j, size)
		if err != nil {
			t.Fatal(err)
		}
		live[off] = usable
		if i%3 == 1 {
			frees = append(frees, off)
		}
	}
	for _, off := range frees { // free blocks between used ones, runs with holes
		if err := h.Free(j, off); err != nil {
			t.Fatal(err)
		}
		delete(live, off)
	}
	j.commit(h)
	mustCheck(t, h, live)

	// The metadata of the blocks: each block's start and tail entries,
	// each run's header and bitmap.
	type span struct {
		name   string
		off, n int64
	}
	var meta []span
	z := h.zones[0]
	for p := uint32(0); p < z.npages; {
		e := entry(le64(j.s.b[z.entryOff(p):]))
		meta = append(meta, span{fmt.Sprintf("entry of page %d (%v)", p, e), z.entryOff(p), entrySize})
		if m := e.npages(); m > 1 {
			meta = append(meta, span{fmt.Sprintf("tail entry of page %d", p+m-1), z.entryOff(p + m - 1), entrySize})
		}
		if r := z.runs[p]; r != nil {
			g := &geometries[r.class]
			meta = append(meta, span{fmt.Sprintf("run of class %d at page %d", r.class, p), r.off, runHeaderSize + int64(g.words)*8})
		}
		p += e.npages()
	}
	runs := 0
	for _, s := range meta {
		if bytes.HasPrefix([]byte(s.name), []byte("run")) {
			runs++
		}
	}
	if runs < 4 || len(meta) < 12 {
		t.Fatalf("%d ranges of metadata, %d runs: %v", len(meta), runs, meta)
	}

	// Every bit; under the race detector, ten times slower, every byte
	// with two patterns.
	patterns := []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}
	if raceEnabled {
		patterns = []byte{0x01, 0xff}
	}
	good := bytes.Clone(j.s.b)
	flips := 0
	for _, s := range meta {
		for i := range s.n {
			for _, flip := range patterns {
				flips++
				b := bytes.Clone(good)
				b[s.off+i] ^= flip
				h, err := Open(&memStore{b: b}, testBase, int64(len(b)), 0)
				if err == nil {
					err = h.Check(roots(live), blocksWalker{})
					if err != nil && !errors.Is(err, ErrCheck) {
						t.Errorf("%s, byte %d ^ %#x: Check = %v, want ErrCheck", s.name, i, flip, err)
					}
				} else if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s, byte %d ^ %#x: Open = %v, want ErrCorrupt", s.name, i, flip, err)
				}
				if err == nil {
					t.Errorf("%s, byte %d ^ %#x: neither Open nor Check found it", s.name, i, flip)
				}
			}
		}
	}
	t.Logf("%d flips of %d ranges of metadata", flips, len(meta))
}
