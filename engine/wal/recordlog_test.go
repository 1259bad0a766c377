package wal_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/faultfs"
)

func TestRecordLog(t *testing.T) {
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := backend()
			if err := fsys.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			file := dir + "/records"
			l, err := wal.CreateRecordLog(fsys, file, wal.RecordLogOptions{MaxRecordSize: 4096})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if idx, err := l.Append(entry(i, 100*i)); err != nil || idx != uint64(i+1) {
					t.Fatalf("append %d: %d, %v", i, idx, err)
				}
			}
			if _, err := l.Append(make([]byte, 4097)); !errors.Is(err, wal.ErrTooLarge) {
				t.Errorf("a record over the maximum: %v", err)
			}
			if err := l.FlushAndSync(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			if _, err := wal.CreateRecordLog(fsys, file, wal.RecordLogOptions{}); !errors.Is(err, fs.ErrExist) {
				t.Errorf("create of an existing record log: %v", err)
			}
			l, err = wal.OpenRecordLog(fsys, file, wal.RecordLogOptions{})
			if err != nil || l.LastIndex() != 10 || len(l.Repairs()) != 0 {
				t.Fatalf("reopen: %v, last %d, repairs %v", err, l.LastIndex(), l.Repairs())
			}
			l.Append(entry(10, 1000))
			l.Close()
			for _, mode := range []wal.Mode{wal.Strict, wal.BestEffort} {
				recs, err := wal.ReadRecords(fsys, file, mode)
				if err != nil || len(recs) != 11 {
					t.Fatalf("%v read: %d records, %v", mode, len(recs), err)
				}
				for i, r := range recs {
					if !bytes.Equal(r, entry(i, min(100*i, 1000))) {
						t.Fatalf("record %d differs", i)
					}
				}
			}
		})
	}
}

func TestRecordLogTornTail(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	l, err := wal.OpenRecordLog(fsys, "/records", wal.RecordLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		l.Append(entry(i, 500))
	}
	l.FlushAndSync()
	l.Append(entry(3, 500))
	l.Flush()
	img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
	l.Close()
	// Tear the last record in the page cache, as a crash inside its write.
	f, _ := img.OpenFile("/records", os.O_RDWR, 0)
	torn := int64(wal.HeaderSize + 3*(wal.FrameHeaderSize+500))
	f.WriteAt(make([]byte, 100), torn+300)
	f.Close()
	if _, err := wal.ReadRecords(img, "/records", wal.Strict); !errors.Is(err, wal.ErrCorrupt) {
		t.Errorf("strict read of a torn record log: %v", err)
	}
	if recs, err := wal.ReadRecords(img, "/records", wal.BestEffort); err != nil || len(recs) != 3 {
		t.Errorf("best-effort read of a torn record log: %d, %v", len(recs), err)
	}
	l, err = wal.OpenRecordLog(img, "/records", wal.RecordLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := l.Repairs(); len(r) != 1 || r[0].Offset != torn {
		t.Errorf("repairs %v, want a cut at %d", r, torn)
	}
	if idx, _ := l.Append(entry(3, 500)); idx != 4 {
		t.Errorf("index after the repair: %d", idx)
	}
	l.Close()
	if recs, err := wal.ReadRecords(img, "/records", wal.Strict); err != nil || len(recs) != 4 {
		t.Errorf("strict read after the repair: %d, %v", len(recs), err)
	}
}

func TestRecordLogFailedSyncIsFatal(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	fsys.SetInjector(faultfs.NewRules(faultfs.Rule{
		When:  faultfs.And(faultfs.PathGlob("/records"), faultfs.OpKinds(faultfs.OpSync), faultfs.OnIndex(1)),
		Fault: faultfs.SyncFailure,
	}))
	l, err := wal.CreateRecordLog(fsys, "/records", wal.RecordLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("a"))
	if err := l.FlushAndSync(); !errors.Is(err, wal.ErrBroken) {
		t.Fatalf("failed fsync: %v", err)
	}
	if _, err := l.Append([]byte("b")); !errors.Is(err, wal.ErrBroken) {
		t.Errorf("append after a failed fsync: %v", err)
	}
	if err := l.Close(); !errors.Is(err, wal.ErrBroken) {
		t.Errorf("close: %v", err)
	}
	// Reopening in the same boot makes the record durable.
	l, err = wal.OpenRecordLog(fsys, "/records", wal.RecordLogOptions{})
	if err != nil || l.LastIndex() != 1 {
		t.Fatalf("reopen: %v", err)
	}
	l.Close()
	img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.LoseAll})
	if recs, err := wal.ReadRecords(img, "/records", wal.Strict); err != nil || len(recs) != 1 {
		t.Errorf("after a power failure: %d records, %v", len(recs), err)
	}
}

// closedRecordLog writes a record log of five records of 100 bytes and
// closes it, and returns its bytes and the offset where each record ends.
func closedRecordLog(t *testing.T, fsys *faultfs.FS, name string) ([]byte, []int) {
	t.Helper()
	l, err := wal.CreateRecordLog(fsys, name, wal.RecordLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ends := []int{wal.HeaderSize}
	for i := range 5 {
		l.Append(entry(i, 100))
		if i == 2 {
			l.Flush() // two writes: the second overwrites the first's seal
		}
		ends = append(ends, ends[len(ends)-1]+wal.FrameHeaderSize+100)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := engine.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return b, ends
}

// TestRecordLogKnowsItsEnd: a record log at rest ends with a seal, so one
// cut anywhere — at a record boundary too — fails Strict reading, while
// best effort returns the records before the cut, and OpenRecordLog seals
// them again.
func TestRecordLogKnowsItsEnd(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	b, ends := closedRecordLog(t, fsys, "/records")
	if recs, err := wal.ReadRecords(fsys, "/records", wal.Strict); err != nil || len(recs) != 5 {
		t.Fatalf("strict read of the whole log: %d records, %v", len(recs), err)
	}
	for n, end := range ends { // a cut after n records, at their boundary
		for _, cut := range []int{end, end + wal.FrameHeaderSize/2} {
			if cut >= len(b) {
				continue
			}
			img := faultfs.New(faultfs.Options{})
			if err := engine.WriteFileAtomic(img, "/records", b[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := wal.ReadRecords(img, "/records", wal.Strict); !errors.Is(err, wal.ErrCorrupt) {
				t.Errorf("strict read of the log cut at %d (after %d records): %v, want ErrCorrupt", cut, n, err)
			}
			if recs, err := wal.ReadRecords(img, "/records", wal.BestEffort); err != nil || len(recs) != n {
				t.Errorf("best-effort read of the log cut at %d: %d records, %v; want %d", cut, len(recs), err, n)
			}
			l, err := wal.OpenRecordLog(img, "/records", wal.RecordLogOptions{})
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			if recs, err := wal.ReadRecords(img, "/records", wal.Strict); err != nil || len(recs) != n {
				t.Errorf("strict read after OpenRecordLog of the log cut at %d: %d records, %v; want %d", cut, len(recs), err, n)
			}
		}
	}
}

// TestRecordLogVersion1: a record log of version 1 (written by an earlier
// release, without seals) still reads, and OpenRecordLog appends to it as
// version 1; a log of a version this release does not know is ErrVersion.
func TestRecordLogVersion1(t *testing.T) {
	v1 := make([]byte, wal.HeaderSize)
	copy(v1, wal.RecordLogMagic)
	v1[8] = 1
	putCRC(v1)
	for i := range 3 {
		v1 = wal.AppendFrame(v1, wal.KindRecord, uint64(i+1), entry(i, 50))
	}
	fsys := faultfs.New(faultfs.Options{})
	engine.WriteFileAtomic(fsys, "/records", v1, 0o644)
	for _, mode := range []wal.Mode{wal.Strict, wal.BestEffort} {
		if recs, err := wal.ReadRecords(fsys, "/records", mode); err != nil || len(recs) != 3 {
			t.Errorf("%v read of a version 1 log: %d records, %v", mode, len(recs), err)
		}
	}
	l, err := wal.OpenRecordLog(fsys, "/records", wal.RecordLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(entry(3, 50))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := engine.ReadFile(fsys, "/records")
	if want := wal.AppendFrame(v1, wal.KindRecord, 4, entry(3, 50)); !bytes.Equal(b, want) {
		t.Errorf("a version 1 log appended to: %d bytes, want %d: its header and records, one more, no seal", len(b), len(want))
	}

	v3 := bytes.Clone(v1[:wal.HeaderSize])
	v3[8] = 3
	putCRC(v3)
	engine.WriteFileAtomic(fsys, "/v3", v3, 0o644)
	for _, mode := range []wal.Mode{wal.Strict, wal.BestEffort} {
		if _, err := wal.ReadRecords(fsys, "/v3", mode); !errors.Is(err, wal.ErrVersion) || errors.Is(err, wal.ErrCorrupt) {
			t.Errorf("%v read of a version 3 log: %v, want ErrVersion", mode, err)
		}
	}
	if _, err := wal.OpenRecordLog(fsys, "/v3", wal.RecordLogOptions{}); !errors.Is(err, wal.ErrVersion) {
		t.Errorf("OpenRecordLog of a version 3 log: %v, want ErrVersion", err)
	}
}

// TestRecordLogWriteOverItsSealTorn: a crash in a write that began over
// the seal may keep the old seal and lose the start of the write, but not
// the rest — which may hold bytes that look like a valid frame (a record
// whose payload is one). It is a torn tail, not corruption: best effort
// reads the records up to the seal, OpenRecordLog sets the rest aside.
func TestRecordLogWriteOverItsSealTorn(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	l, err := wal.CreateRecordLog(fsys, "/records", wal.RecordLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		l.Append(entry(i, 100))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := engine.ReadFile(fsys, "/records")
	// Record 4's payload is a frame; its first 20 bytes (its header, over
	// the seal) are lost, the rest reached the disk.
	payload := wal.AppendFrame(nil, wal.KindRecord, 4, []byte("a frame as a record"))
	b = append(b, payload...)
	engine.WriteFileAtomic(fsys, "/records", b, 0o644)
	if _, err := wal.ReadRecords(fsys, "/records", wal.Strict); !errors.Is(err, wal.ErrCorrupt) {
		t.Errorf("strict read: %v, want ErrCorrupt", err)
	}
	if recs, err := wal.ReadRecords(fsys, "/records", wal.BestEffort); err != nil || len(recs) != 3 {
		t.Errorf("best-effort read: %d records, %v; want 3", len(recs), err)
	}
	l, err = wal.OpenRecordLog(fsys, "/records", wal.RecordLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := l.Repairs(); len(r) != 1 || r[0].Length != int64(len(payload)) {
		t.Errorf("repairs %v, want the %d bytes after the seal set aside", r, len(payload))
	}
	l.Close()
	if recs, err := wal.ReadRecords(fsys, "/records", wal.Strict); err != nil || len(recs) != 3 {
		t.Errorf("strict read after OpenRecordLog: %d records, %v; want 3", len(recs), err)
	}
}
