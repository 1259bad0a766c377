package wal_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"testing"

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
