package engine

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestPageRangesAdd(t *testing.T) {
	const P = PageSize
	cases := []struct {
		name string
		adds [][2]int64
		want []pageSpan
	}{
		{"one byte", [][2]int64{{5, 6}}, []pageSpan{{0, P}}},
		{"page edge", [][2]int64{{P - 1, P + 1}}, []pageSpan{{0, 2 * P}}},
		{"same page twice", [][2]int64{{1, 2}, {100, 200}}, []pageSpan{{0, P}}},
		{"append touching", [][2]int64{{0, P}, {P, 2 * P}, {2 * P, 2*P + 1}}, []pageSpan{{0, 3 * P}}},
		{"gap", [][2]int64{{0, 1}, {2 * P, 2*P + 1}}, []pageSpan{{0, P}, {2 * P, 3 * P}}},
		{"insert before", [][2]int64{{4 * P, 4*P + 1}, {0, 1}}, []pageSpan{{0, P}, {4 * P, 5 * P}}},
		{"insert between", [][2]int64{{0, 1}, {8 * P, 8*P + 1}, {4 * P, 4*P + 1}}, []pageSpan{{0, P}, {4 * P, 5 * P}, {8 * P, 9 * P}}},
		{"bridge two", [][2]int64{{0, 1}, {2 * P, 2*P + 1}, {P, P + 1}}, []pageSpan{{0, 3 * P}}},
		{"swallow several", [][2]int64{{P, P + 1}, {3 * P, 3*P + 1}, {5 * P, 5*P + 1}, {7 * P, 7*P + 1}, {2 * P, 6 * P}}, []pageSpan{{P, 6 * P}, {7 * P, 8 * P}}},
		{"inside one", [][2]int64{{0, 10 * P}, {3 * P, 3*P + 5}}, []pageSpan{{0, 10 * P}}},
	}
	for _, c := range cases {
		var s pageRanges
		for _, a := range c.adds {
			s.add(a[0], a[1])
		}
		if !reflect.DeepEqual(s.spans, c.want) {
			t.Errorf("%s: spans = %v, want %v", c.name, s.spans, c.want)
		}
	}
}

// TestPageRangesModel checks add against a page bitmap on random input.
func TestPageRangesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const pages = 64
	for round := range 200 {
		var s pageRanges
		var model [pages]bool
		for range rng.IntN(20) + 1 {
			off := rng.Int64N(pages * PageSize)
			end := off + 1 + rng.Int64N(min(3*PageSize, pages*PageSize-off))
			s.add(off, end)
			for p := off / PageSize; p*PageSize < end; p++ {
				model[p] = true
			}
		}
		var got [pages]bool
		for i, sp := range s.spans {
			if sp.start%PageSize != 0 || sp.end%PageSize != 0 || sp.start >= sp.end {
				t.Fatalf("round %d: bad span %v", round, sp)
			}
			if i > 0 && s.spans[i-1].end >= sp.start {
				t.Fatalf("round %d: spans %v and %v not disjoint and apart", round, s.spans[i-1], sp)
			}
			for p := sp.start / PageSize; p < sp.end/PageSize; p++ {
				got[p] = true
			}
		}
		if got != model {
			t.Fatalf("round %d: spans %v cover other pages than the model", round, s.spans)
		}
	}
}

// mapped maps size bytes of a new file in dir with fsys.
func mapped(t testing.TB, fsys OSFS, dir string, size int64) *osRegion {
	t.Helper()
	f, err := Create(fsys, filepath.Join(dir, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := fsys.Map(f, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r.(*osRegion)
}

func TestDirtyPagesAcrossGrowAndDrain(t *testing.T) {
	r := mapped(t, OSFS{}, t.TempDir(), 4*PageSize)
	if r.medium != MappedFile {
		t.Fatalf("medium %v, want MappedFile (is TMPDIR on tmpfs or DAX?)", r.medium)
	}
	r.WriteAt([]byte("x"), 10)
	r.Flush(10, 1)
	r.Flush(3*PageSize, 2)
	want := []pageSpan{{0, PageSize}, {3 * PageSize, 4 * PageSize}}
	if !reflect.DeepEqual(r.dirty.spans, want) {
		t.Errorf("after Flush: %v, want %v", r.dirty.spans, want)
	}
	if err := r.Grow(64 * PageSize); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.dirty.spans, want) {
		t.Errorf("after Grow: %v, want %v", r.dirty.spans, want)
	}
	r.Flush(40*PageSize, 1)
	if err := r.Drain(); err != nil {
		t.Fatal(err)
	}
	if len(r.dirty.spans) != 0 {
		t.Errorf("after Drain: %v, want none", r.dirty.spans)
	}
}

// Forced PMem and SharedMemory mappings never remember pages: on amd64
// PMem is flushed by cache-line instructions, shared memory not at all.
func TestNoDirtyPagesWithoutMsync(t *testing.T) {
	dirs := map[OSFS]string{{Medium: PMem}: t.TempDir()}
	if dir, err := os.MkdirTemp("/dev/shm", "crashsim-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(dir) })
		dirs[OSFS{}] = dir
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for fsys, dir := range dirs {
		r := mapped(t, fsys, dir, 4*PageSize)
		r.Flush(0, 4*PageSize)
		if len(r.dirty.spans) != 0 && (r.medium == SharedMemory || cacheFlush) {
			t.Errorf("%v: remembered %v", r.medium, r.dirty.spans)
		}
	}
}

// Persist is Flush then Drain: it must also drain what an earlier Flush of
// another range left, on its fast path and its slow one.
func TestPersistDrainsEarlierFlushes(t *testing.T) {
	r := mapped(t, OSFS{}, t.TempDir(), 8*PageSize)
	if err := Persist(r, 5*PageSize, 10); err != nil { // fast path: nothing remembered
		t.Fatal(err)
	}
	if len(r.dirty.spans) != 0 {
		t.Errorf("after Persist with nothing flushed: remembered %v", r.dirty.spans)
	}
	r.Flush(PageSize, 1)
	if err := Persist(r, 6*PageSize, 10); err != nil {
		t.Fatal(err)
	}
	if len(r.dirty.spans) != 0 {
		t.Errorf("after Flush then Persist of another range: still remembered %v", r.dirty.spans)
	}
	if err := Persist(r, 7*PageSize, PageSize+1); err == nil {
		t.Error("Persist beyond the mapping: no error")
	}
}
