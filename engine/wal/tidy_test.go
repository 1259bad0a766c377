package wal_test

import (
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/faultfs"
)

// names returns the names of dir's files, sorted.
func names(t *testing.T, fsys engine.FS, dir string) []string {
	t.Helper()
	return slices.Sorted(maps.Keys(files(t, fsys, dir)))
}

// place writes each of names in dir with a few bytes.
func place(t *testing.T, fsys engine.FS, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		f, err := fsys.OpenFile(path.Join(dir, n), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt([]byte("left by a crash"), 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenRemovesStaleTemporaries: a process killed while it wrote a
// checkpoint, or while Resume wrote a torn tail aside, leaves the
// temporary file; the next New or Resume, holding the lock, removes it —
// its own kinds of temporaries only, nothing else.
func TestOpenRemovesStaleTemporaries(t *testing.T) {
	stale := []string{"0000000000000005.checkpoint.tmp", "0000000000000001.wal.3c.torn.tmp"}
	foreign := []string{"0000000000000005.checkpoint", "notes.tmp", "x.checkpoint.tmp", "0000000000000001.wal.tmp", "5.checkpoint.tmp"}
	for _, open := range []string{"New", "Resume"} {
		fsys := faultfs.New(faultfs.Options{})
		fsys.MkdirAll("/wal", 0o755)
		opts := wal.Options{SegmentSize: 4096}
		if open == "Resume" {
			w, err := wal.New(fsys, "/wal", wal.Bytes, opts)
			if err != nil {
				t.Fatal(err)
			}
			w.Append([]byte("x"))
			w.Close()
		}
		place(t, fsys, "/wal", append(slices.Clone(stale), foreign...)...)
		w, err := map[string]func(engine.FS, string, wal.Codec[[]byte], wal.Options) (*wal.WAL[[]byte], error){
			"New": wal.New[[]byte], "Resume": wal.Resume[[]byte],
		}[open](fsys, "/wal", wal.Bytes, opts)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		got := names(t, fsys, "/wal")
		for _, n := range stale {
			if slices.Contains(got, n) {
				t.Errorf("%s: the stale temporary %s is still there", open, n)
			}
		}
		for _, n := range foreign {
			if !slices.Contains(got, n) {
				t.Errorf("%s removed %s, which is not its temporary", open, n)
			}
		}
	}
}

// TestResumeKeepsTornFilesUnderRetention: of the files earlier repairs set
// aside, Resume keeps Options.TornRetention (8 by default), those from the
// latest positions in the log, and every file it sets aside itself;
// wal.KeepAllTorn keeps them all.
func TestResumeKeepsTornFilesUnderRetention(t *testing.T) {
	var earlier []string // oldest position first
	for seq := 1; seq <= 4; seq++ {
		earlier = append(earlier, fmt.Sprintf("%016x.wal.torn", seq))
		for _, off := range []int{0x28, 0x1f4} {
			earlier = append(earlier, fmt.Sprintf("%016x.wal.%x.torn", seq, off))
		}
	}
	for _, c := range []struct {
		retention int
		kept      int
	}{{0, 8}, {3, 3}, {wal.KeepAllTorn, len(earlier)}, {100, len(earlier)}} {
		fsys, _ := tornLog(t) // Resume cuts a torn tail: one file of its own
		place(t, fsys, "/wal", earlier...)
		w, err := wal.Resume(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 64 << 10, TornRetention: c.retention})
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		if r := w.Repairs(); len(r) != 1 {
			t.Fatalf("repairs %v, want the torn tail's", r)
		}
		own := path.Base(w.Repairs()[0].Aside)
		got := names(t, fsys, "/wal")
		if !slices.Contains(got, own) {
			t.Errorf("retention %d: the file Resume set aside, %s, is gone", c.retention, own)
		}
		for i, n := range earlier {
			if want := i >= len(earlier)-c.kept; slices.Contains(got, n) != want {
				t.Errorf("retention %d: %s kept %v, want %v", c.retention, n, !want, want)
			}
		}
	}
}

// TestOpenRecordLogTidies: OpenRecordLog removes the temporary of a tail
// being set aside when a crash came, and keeps the record log's own
// set-aside files under RecordLogOptions.TornRetention.
func TestOpenRecordLogTidies(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	fsys.MkdirAll("/d", 0o755)
	l, err := wal.CreateRecordLog(fsys, "/d/records", wal.RecordLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("a"))
	l.Close()
	place(t, fsys, "/d", "records.torn", "records.28.torn", "records.100.torn", "records.200.torn", "records.300.torn.tmp",
		"other.28.torn", "records.x.torn", "records.28.torn.bak")
	l, err = wal.OpenRecordLog(fsys, "/d/records", wal.RecordLogOptions{TornRetention: 2})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	want := []string{"other.28.torn", "records", "records.100.torn", "records.200.torn", "records.28.torn.bak", "records.lock", "records.x.torn"}
	if got := names(t, fsys, "/d"); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}
