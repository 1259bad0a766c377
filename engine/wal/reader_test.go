package wal_test

import (
	"errors"
	"io/fs"
	"maps"
	"path"
	"slices"
	"testing"

	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/faultfs"
)

// A reader beside a writer: each test runs the writer's step (appends, a
// Publish) from inside one of the reader's calls, through stepFS, so that
// the reader meets exactly the interleaving the test names.

// readerOptions give segments of eight 100-byte entries (frames of 120
// bytes after a 40-byte header, and a seal).
var readerOptions = wal.Options{SegmentSize: 1024}

// liveLog returns a log in a fresh faultfs holding entries 0..n-1 of 100
// bytes, flushed to the page cache, its writer still open.
func liveLog(t *testing.T, n int) (*faultfs.FS, *wal.WAL[[]byte]) {
	t.Helper()
	base := faultfs.New(faultfs.Options{})
	w, err := wal.New(base, "/wal", wal.Bytes, readerOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	appendFlush(t, w, 0, n)
	return base, w
}

// appendFlush appends entries from..to-1 of 100 bytes and flushes them.
func appendFlush(t *testing.T, w *wal.WAL[[]byte], from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := w.Append(entry(i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// opening returns a name filter for once: the file of segment seq.
func opening(seq int) func(string) bool {
	return func(name string) bool { return name == segmentPath("/wal", seq) }
}

// TestReaderFollowsASealWrittenUnderIt: the reader reads segment 1 while
// it is the writer's; before it looks at segment 2, the writer fills and
// seals segment 1 and goes on in segment 2. The reader must not take the
// seal it did not see for a missing one: it reads segment 1 again, finds
// the seal, and returns every entry.
func TestReaderFollowsASealWrittenUnderIt(t *testing.T) {
	for _, mode := range []wal.Mode{wal.BestEffort, wal.Strict} {
		base, w := liveLog(t, 3)
		reader := &stepFS{FS: base}
		reader.onOpen = once(opening(2), func() { appendFlush(t, w, 3, 13) }) // 8 in segment 1, its seal, 5 in segment 2
		es, err := wal.Replay(reader, "/wal", wal.Bytes, mode)
		if err != nil {
			t.Fatalf("%v replay beside a writer sealing a segment: %v", mode, err)
		}
		checkEntries(t, es, 13, fixed(100))
	}
}

// TestReaderRestartsAfterAPublishBeforeItsFirstEntry: Publish removes the
// segments the reader listed before it opens the first: it lists again and
// reads the log as it is now, from the checkpoint marker's segment.
func TestReaderRestartsAfterAPublishBeforeItsFirstEntry(t *testing.T) {
	base, w := liveLog(t, 20) // segments 1 and 2 sealed, 3 holds 17..20
	reader := &stepFS{FS: base}
	reader.onOpen = once(opening(1), func() {
		if _, err := wal.Publish(w, wal.Bytes, []byte("state"), 20); err != nil {
			t.Fatal(err)
		}
	})
	es, err := wal.Replay(reader, "/wal", wal.Bytes, wal.BestEffort)
	if err != nil {
		t.Fatalf("replay beside a Publish: %v", err)
	}
	if got := ids(es); !slices.Equal(got, []uint64{17, 18, 19, 20}) {
		t.Errorf("replay beside a Publish read ids %v, want 17..20 (segment 3)", got)
	}
}

// TestReaderTruncatedUnderIt: Publish removes a segment the reader has not
// read yet after it has passed entries on: those entries are in a
// checkpoint now, and the reader says so with ErrTruncated, having passed
// on a prefix of the log. Recover, beside the same Publish, starts again
// from the new checkpoint and recovers what it would at rest.
func TestReaderTruncatedUnderIt(t *testing.T) {
	base, w := liveLog(t, 20)
	reader := &stepFS{FS: base}
	reader.onOpen = once(opening(2), func() {
		if _, err := wal.Publish(w, wal.Bytes, []byte("state"), 20); err != nil {
			t.Fatal(err)
		}
	})
	var seen []uint64
	err := wal.ReplayEach(reader, "/wal", wal.Bytes, wal.BestEffort, func(id uint64, _ []byte) error {
		seen = append(seen, id)
		return nil
	})
	if !errors.Is(err, wal.ErrTruncated) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, wal.ErrCorrupt) {
		t.Errorf("replay of a log truncated under the reader: %v, want ErrTruncated", err)
	}
	if !slices.Equal(seen, []uint64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("the reader passed on ids %v, want segment 1's, 1..8", seen)
	}
}

// TestRecoverBesidePublish: Recover, beside a Publish that removes the
// checkpoint it read or the segments it is reading, starts again from the
// new checkpoint and recovers what it would at rest.
func TestRecoverBesidePublish(t *testing.T) {
	for _, c := range []struct {
		name string
		at   func(string) bool // the reader's open before which Publish runs
	}{
		{"the checkpoint read", func(name string) bool { return path.Ext(name) == ".checkpoint" }},
		{"a segment not read yet", opening(2)},
		{"the first segment", opening(1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, w := liveLog(t, 20)
			if _, err := wal.Publish(w, kvCodec{}, map[string]string{"through": "4"}, 4); err != nil {
				t.Fatal(err)
			}
			state := map[string]string{"through": "20"}
			reader := &stepFS{FS: base}
			reader.onOpen = once(c.at, func() {
				if _, err := wal.Publish(w, kvCodec{}, state, 20); err != nil {
					t.Fatal(err)
				}
			})
			rec, err := wal.Recover(reader, "/wal", kvCodec{}, wal.Bytes, wal.BestEffort, applyAny)
			if err != nil {
				t.Fatalf("recover beside a Publish: %v", err)
			}
			if rec.Through != 20 || rec.Applied != 0 || !maps.Equal(rec.State, state) {
				t.Errorf("recovered %+v, want the checkpoint through 20 and nothing after it", rec)
			}
		})
	}
}

// applyAny applies an entry of any form to a map state: it counts it.
func applyAny(m map[string]string, _ uint64, e []byte) (map[string]string, error) {
	m["applied"] += "+"
	return m, nil
}

// TestReaderSeesSegmentsTheListingOmits: a directory listing taken while
// segments are created may omit one that exists (ext4 does). The reader
// must not take the omission for the start of the log, for a gap or for
// its end: it looks the segments up by name and follows the seals.
func TestReaderSeesSegmentsTheListingOmits(t *testing.T) {
	base := faultfs.New(faultfs.Options{})
	w, err := wal.New(base, "/wal", wal.Bytes, readerOptions)
	if err != nil {
		t.Fatal(err)
	}
	appendFlush(t, w, 0, 20) // segments 1 and 2 sealed, 3 holds 17..20, 4 ahead
	w.Close()
	for _, omit := range [][]int{{1}, {1, 2}, {2}, {3}, {3, 4}, {2, 3, 4}} {
		for _, mode := range []wal.Mode{wal.BestEffort, wal.Strict} {
			reader := &stepFS{FS: base}
			first := true
			reader.listing = func(dir string, des []fs.DirEntry) []fs.DirEntry {
				if !first {
					return des
				}
				first = false
				return slices.DeleteFunc(des, func(de fs.DirEntry) bool {
					for _, seq := range omit {
						if de.Name() == path.Base(segmentPath(dir, seq)) {
							return true
						}
					}
					return false
				})
			}
			es, err := wal.Replay(reader, "/wal", wal.Bytes, mode)
			if err != nil {
				t.Errorf("%v replay, segments %v not listed: %v", mode, omit, err)
				continue
			}
			if len(es) != 20 || es[0].ID != 1 || es[19].ID != 20 {
				t.Errorf("%v replay, segments %v not listed: ids %v, want 1..20", mode, omit, ids(es))
			}
		}
	}
}
