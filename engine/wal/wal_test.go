package wal_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/faultfs"
)

// backends are the file systems the behaviour tests run on: the OS and
// the laboratory's, which must behave alike.
func backends(t *testing.T) map[string]func() (engine.FS, string) {
	return map[string]func() (engine.FS, string){
		"os":      func() (engine.FS, string) { return engine.OSFS{}, t.TempDir() + "/wal" },
		"faultfs": func() (engine.FS, string) { return faultfs.New(faultfs.Options{}), "/data/wal" },
	}
}

// entry returns entry i of a test log: n bytes that say which it is.
func entry(i, n int) []byte {
	b := bytes.Repeat([]byte{byte('a' + i%26)}, n)
	copy(b, fmt.Sprintf("entry %d:", i))
	return b
}

func mustReplay(t *testing.T, fsys engine.FS, dir string, mode wal.Mode) []wal.Entry[[]byte] {
	t.Helper()
	es, err := wal.Replay(fsys, dir, wal.Bytes, mode)
	if err != nil {
		t.Fatalf("replay %v: %v", mode, err)
	}
	return es
}

// checkEntries checks that es are entries 0..n-1 of sizes size(i), with
// ids 1..n.
func checkEntries(t *testing.T, es []wal.Entry[[]byte], n int, size func(int) int) {
	t.Helper()
	if len(es) != n {
		t.Fatalf("%d entries, want %d", len(es), n)
	}
	for i, e := range es {
		if e.ID != uint64(i+1) || !bytes.Equal(e.Value, entry(i, size(i))) {
			t.Fatalf("entry %d: id %d, %.20q, want id %d, %.20q", i, e.ID, e.Value, i+1, entry(i, size(i)))
		}
	}
}

func segments(t *testing.T, fsys engine.FS, dir string) []string {
	t.Helper()
	des, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".wal") {
			out = append(out, de.Name())
		}
	}
	return out
}

func fixed(n int) func(int) int { return func(int) int { return n } }

func TestAppendReplayAcrossSegments(t *testing.T) {
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := backend()
			w, err := wal.New(fsys, dir, wal.Bytes, wal.Options{SegmentSize: 1024})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 40 {
				id, err := w.Append(entry(i, 100))
				if err != nil || id != uint64(i+1) {
					t.Fatalf("append %d: id %d, %v", i, id, err)
				}
				if i%7 == 0 {
					if err := w.FlushAndSync(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if w.LastID() != 40 {
				t.Errorf("LastID %d, want 40", w.LastID())
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			// 40 frames of 120 bytes, 8 to a 1 KiB segment (with its
			// header and seal): 5 segments and the one ahead.
			if segs := segments(t, fsys, dir); len(segs) != 6 {
				t.Errorf("segments %v, want 6", segs)
			}
			checkEntries(t, mustReplay(t, fsys, dir, wal.Strict), 40, fixed(100))
			checkEntries(t, mustReplay(t, fsys, dir, wal.BestEffort), 40, fixed(100))
			// ReplayEach returns fn's error as it is, and stops.
			stop := errors.New("stop")
			seen := 0
			err = wal.ReplayEach(fsys, dir, wal.Bytes, wal.Strict, func(id uint64, e []byte) error {
				seen++
				if id == 3 {
					return stop
				}
				return nil
			})
			if err != stop || seen != 3 {
				t.Errorf("ReplayEach: %v after %d entries, want stop after 3", err, seen)
			}
		})
	}
}

func TestResumeContinues(t *testing.T) {
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := backend()
			opts := wal.Options{SegmentSize: 700}
			n := 0
			for round := range 4 {
				open := wal.Resume[[]byte]
				if round == 0 {
					open = wal.New[[]byte]
				}
				w, err := open(fsys, dir, wal.Bytes, opts)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if got := w.LastID(); got != uint64(n) {
					t.Fatalf("round %d: LastID %d, want %d", round, got, n)
				}
				if r := w.Repairs(); len(r) != 0 {
					t.Errorf("round %d: repairs after a clean close: %v", round, r)
				}
				for range 5 + round {
					if _, err := w.Append(entry(n, 150)); err != nil {
						t.Fatal(err)
					}
					n++
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				checkEntries(t, mustReplay(t, fsys, dir, wal.Strict), n, fixed(150))
			}
		})
	}
}

func TestOversizeEntryGetsItsOwnSegment(t *testing.T) {
	fsys, dir := faultfs.New(faultfs.Options{}), "/wal"
	w, err := wal.New(fsys, dir, wal.Bytes, wal.Options{SegmentSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{100, 3000, 100, 5000, 5000, 10}
	for i, n := range sizes {
		if _, err := w.Append(entry(i, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, mustReplay(t, fsys, dir, wal.Strict), len(sizes), func(i int) int { return sizes[i] })
}

func TestEntryTooLargeOrUnencodable(t *testing.T) {
	fsys, dir := faultfs.New(faultfs.Options{}), "/wal"
	w, err := wal.New(fsys, dir, failingCodec{}, wal.Options{MaxEntrySize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Append(make([]byte, 65)); !errors.Is(err, wal.ErrTooLarge) {
		t.Errorf("append of 65 bytes: %v, want ErrTooLarge", err)
	}
	if _, err := w.Append([]byte("fail")); err == nil || !strings.Contains(err.Error(), "cannot encode") {
		t.Errorf("append of an entry the codec refuses: %v", err)
	}
	if id, err := w.Append(make([]byte, 64)); err != nil || id != 1 {
		t.Fatalf("the log did not go on: %d, %v", id, err)
	}
	if first, err := w.AppendBatch([][]byte{[]byte("a"), []byte("fail"), []byte("c")}); err == nil || first != 2 || !strings.Contains(err.Error(), "entry 1 of 3") {
		t.Errorf("batch with a bad entry: first %d, %v", first, err)
	}
	if err := w.FlushAndSync(); err != nil {
		t.Fatal(err)
	}
	if es := mustReplay(t, fsys, dir, wal.Strict); len(es) != 2 {
		t.Errorf("%d entries, want the good entry and the batch's first", len(es))
	}
}

// failingCodec is Bytes, but refuses to encode "fail".
type failingCodec struct{}

func (failingCodec) Append(b, e []byte) ([]byte, error) {
	if string(e) == "fail" {
		return b, errors.New("cannot encode fail")
	}
	return append(b, e...), nil
}

func (failingCodec) Decode(b []byte) ([]byte, error) { return wal.Bytes.Decode(b) }

func TestNewRefusesALogAndResumeStartsOne(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	w, err := wal.Resume(fsys, "/a/b/wal", wal.Bytes, wal.Options{})
	if err != nil {
		t.Fatalf("Resume of a missing directory: %v", err)
	}
	w.Append([]byte("x"))
	w.Close()
	if _, err := wal.New(fsys, "/a/b/wal", wal.Bytes, wal.Options{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("New on a log: %v, want fs.ErrExist", err)
	}
	// New failed without holding the directory.
	w, err = wal.Resume(fsys, "/a/b/wal", wal.Bytes, wal.Options{})
	if err != nil || w.LastID() != 1 {
		t.Fatalf("Resume after a failed New: %v", err)
	}
	w.Close()
	if _, err := wal.New(fsys, "/x", wal.Bytes, wal.Options{SegmentSize: 10}); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("a 10-byte segment: %v, want fs.ErrInvalid", err)
	}
}

func TestClosedLog(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append([]byte("x")); !errors.Is(err, wal.ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if err := w.Close(); !errors.Is(err, wal.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := w.FlushAndSync(); err != nil {
		t.Errorf("FlushAndSync with nothing to sync after Close: %v", err)
	}
}

// TestAppendBatchIsContiguous: concurrent Appends never come between the
// entries of a batch.
func TestAppendBatchIsContiguous(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 2048, BufferSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				if g%2 == 0 {
					w.Append([]byte(fmt.Sprintf("single %d %d", g, i)))
					continue
				}
				batch := make([][]byte, 5)
				for j := range batch {
					batch[j] = []byte(fmt.Sprintf("batch %d %d %d", g, i, j))
				}
				if _, err := w.AppendBatch(batch); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	es := mustReplay(t, fsys, "/wal", wal.Strict)
	if len(es) != 2*20+2*20*5 {
		t.Fatalf("%d entries", len(es))
	}
	for i := 0; i < len(es); i++ {
		var g, r, j int
		if _, err := fmt.Sscanf(string(es[i].Value), "batch %d %d %d", &g, &r, &j); err != nil {
			continue
		}
		if j != 0 {
			t.Fatalf("entry %d: %q starts no batch", i, es[i].Value)
		}
		for k := 1; k < 5; k++ {
			if want := fmt.Sprintf("batch %d %d %d", g, r, k); string(es[i+k].Value) != want {
				t.Fatalf("entry %d: %q inside batch %d/%d, want %q", i+k, es[i+k].Value, g, r, want)
			}
		}
		i += 4
	}
}

// TestGroupCommitSharesFsyncs: writers append and sync in waves, each
// writer one entry a wave; every entry is durable when its FlushAndSync
// returns, each writer's in its order, and each wave costs one or two
// fsyncs, never one per writer. The bound holds under any scheduling: the
// first fsync of a wave blocks until every writer of the wave has
// returned from Append, so the sync round after it (if the first did not
// cover them all already) takes every entry of the wave.
func TestGroupCommitSharesFsyncs(t *testing.T) {
	const writers, waves = 8, 10
	fsys := &stepFS{FS: faultfs.New(faultfs.Options{})}
	w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 1 << 20}) // no seal
	if err != nil {
		t.Fatal(err)
	}
	var (
		started  atomic.Int64 // appends begun, over all waves
		appended [waves]sync.WaitGroup
		synced   [waves]sync.WaitGroup
		mu       sync.Mutex
		syncs    [waves]int
	)
	for i := range waves {
		appended[i].Add(writers)
		synced[i].Add(writers)
	}
	fsys.onSync = func(name string) {
		if !strings.HasSuffix(name, ".wal") {
			return
		}
		// No writer begins wave n+1 before every FlushAndSync of wave n
		// returned, this one's included: the appends begun say the wave.
		wave := int(started.Load()-1) / writers
		mu.Lock()
		syncs[wave]++
		first := syncs[wave] == 1
		mu.Unlock()
		if first {
			appended[wave].Wait()
		}
	}
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for wave := range waves {
				started.Add(1)
				id, err := w.Append([]byte(fmt.Sprintf("%d %d", g, wave)))
				appended[wave].Done()
				if err == nil {
					err = w.FlushAndSync()
				}
				if err != nil {
					t.Error(err)
				} else if d := w.DurableID(); d < id {
					t.Errorf("FlushAndSync returned with id %d appended and %d durable", id, d)
				}
				synced[wave].Done()
				synced[wave].Wait()
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for wave, n := range syncs {
		if n < 1 || n > 2 {
			t.Errorf("wave %d of %d entries: %d fsyncs, want 1 or 2", wave, writers, n)
		}
	}
	es := mustReplay(t, fsys, "/wal", wal.Strict)
	if len(es) != writers*waves {
		t.Fatalf("%d entries, want %d", len(es), writers*waves)
	}
	next := make([]int, writers)
	for _, e := range es {
		var g, i int
		fmt.Sscanf(string(e.Value), "%d %d", &g, &i)
		if i != next[g] {
			t.Fatalf("writer %d: entry %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
}

func TestMarkersAreNotEntries(t *testing.T) {
	fsys, dir := faultfs.New(faultfs.Options{}), "/wal"
	w, err := wal.New(fsys, dir, wal.Bytes, wal.Options{SegmentSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		w.Append(entry(i, 50))
	}
	if _, err := wal.Publish(w, wal.Bytes, []byte("state"), 10); err != nil {
		t.Fatal(err)
	}
	id, _ := w.Append(entry(10, 50))
	if id != 12 {
		t.Errorf("the entry after a marker got id %d, want 12 (the marker took 11)", id)
	}
	w.Close()
	// The segments before the one holding the marker are gone; replay
	// skips the marker.
	es := mustReplay(t, fsys, dir, wal.Strict)
	if len(es) == 0 || len(es) >= 11 || es[len(es)-1].ID != 12 || es[len(es)-2].ID != 10 {
		t.Fatalf("replay after publishing through 10: %d entries, ids %v", len(es), ids(es))
	}
}

func ids[E any](es []wal.Entry[E]) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestBinaryCodec(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	codec := wal.Binary[op]()
	w, err := wal.New(fsys, "/wal", codec, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []op{{Key: "k1", Value: 1}, {Key: "", Value: -7}, {Key: strings.Repeat("k", 300), Value: 1 << 40}}
	if _, err := w.AppendBatch(want); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, err := wal.Replay(fsys, "/wal", codec, wal.Strict)
	if err != nil || len(got) != len(want) {
		t.Fatalf("%v, %v", got, err)
	}
	for i := range want {
		if got[i].Value != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, got[i].Value, want[i])
		}
	}
	// A payload the type refuses is the codec's error, wrapped.
	if _, err := codec.Decode([]byte{1}); err == nil || !strings.Contains(err.Error(), "decode wal_test.op") {
		t.Errorf("decode of a short payload: %v", err)
	}
}

// op is a user's entry type with a binary encoding of its own.
type op struct {
	Key   string
	Value int64
}

func (o op) AppendBinary(b []byte) ([]byte, error) {
	b = fmt.Appendf(b, "%d:", len(o.Key))
	b = append(b, o.Key...)
	return fmt.Appendf(b, "%d", o.Value), nil
}

func (o *op) UnmarshalBinary(b []byte) error {
	var n int
	if _, err := fmt.Sscanf(string(b), "%d:", &n); err != nil {
		return err
	}
	i := strings.IndexByte(string(b), ':') + 1
	if i+n > len(b) {
		return errors.New("short key")
	}
	o.Key = string(b[i : i+n])
	_, err := fmt.Sscanf(string(b[i+n:]), "%d", &o.Value)
	return err
}

func TestReplayOfMissingDirectory(t *testing.T) {
	_, err := wal.Replay(faultfs.New(faultfs.Options{}), "/nowhere", wal.Bytes, wal.Strict)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("replay of a missing directory: %v, want fs.ErrNotExist", err)
	}
}

// segmentPath is the path of segment seq in dir, as the package names it.
func segmentPath(dir string, seq int) string { return path.Join(dir, fmt.Sprintf("%016x.wal", seq)) }

// TestBytesReplayCopies: the entries ReplayEach decodes with Bytes are
// copies that the caller owns, however they are allocated (small ones
// share blocks): each holds its bytes after the replay, its capacity is
// its length, so that appending to one never writes over the next, and
// changing one changes no other.
func TestBytesReplayCopies(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	dir := "/data/wal"
	w, err := wal.New(fsys, dir, wal.Bytes, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{0, 1, 100, 255, 256, 257, 1000, 4095, 4096, 5000, 100, 7}
	for range 50 { // more small entries than a block holds
		sizes = append(sizes, 100)
	}
	for i, n := range sizes {
		if _, err := w.Append(entry(i, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	err = wal.ReplayEach(fsys, dir, wal.Bytes, wal.Strict, func(_ uint64, e []byte) error {
		got = append(got, e)
		return nil
	})
	if err != nil || len(got) != len(sizes) {
		t.Fatalf("ReplayEach: %d entries, %v; want %d", len(got), err, len(sizes))
	}
	for i, e := range got {
		if e == nil || cap(e) != len(e) {
			t.Errorf("entry %d: nil %v, capacity %d, length %d", i, e == nil, cap(e), len(e))
		}
		_ = append(e, 'X') // must copy: the capacity is the length
		for j := range e {
			e[j] = '#'
		}
	}
	for i, e := range got {
		if want := bytes.Repeat([]byte{'#'}, sizes[i]); !bytes.Equal(e, want) {
			t.Errorf("entry %d changed by the writes to the others: %q", i, e)
		}
	}
	// And a second replay reads what the log holds, not the first's copies.
	checkEntries(t, mustReplay(t, fsys, dir, wal.Strict), len(sizes), func(i int) int { return sizes[i] })
}
