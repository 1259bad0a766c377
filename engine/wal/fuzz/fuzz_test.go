package fuzz

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/crashsim/crashsim/engine/wal"
)

// sampleLog writes a WAL of n entries with small segments in a MemFS; with
// torn, its last entry is flushed but half of it zeroed, as a crash leaves.
func sampleLog(t testing.TB, n int, torn bool) *MemFS {
	m := NewMemFS()
	w, err := wal.New(m, dir, wal.Bytes, wal.Options{SegmentSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		w.Append([]byte(fmt.Sprintf("entry %d of the sample log", i)))
	}
	w.Close()
	if torn {
		seg := fmt.Sprintf("%s/%016x.wal", dir, 1+(n-1)/5)
		b := m.ReadFile(seg)
		for i := wal.HeaderSize + 20; i < len(b); i++ {
			b[i] = 0
		}
		m.WriteFile(seg, b)
	}
	return m
}

func FuzzFrame(f *testing.F) {
	f.Add(wal.AppendFrame(nil, wal.KindEntry, 1, []byte("hello")))
	f.Add(wal.AppendFrame(nil, wal.KindSeal, 9, nil))
	f.Add(wal.AppendFrame(nil, wal.KindCheckpoint, 3, binary.LittleEndian.AppendUint64(nil, 2)))
	f.Add(wal.AppendFrame(nil, wal.KindRecord, 1, make([]byte, 300))[:100])
	f.Add(make([]byte, 20))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := Frame(data); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDirectory(f *testing.F) {
	f.Add(EncodeDirectory(sampleLog(f, 12, false)))
	f.Add(EncodeDirectory(sampleLog(f, 12, true)))
	f.Add(EncodeDirectory(sampleLog(f, 3, true)))
	f.Add([]byte{})
	f.Add([]byte{0, 32, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := Directory(data); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzReplay(f *testing.F) {
	// Segment size, operation count, operations (append n bytes, batch,
	// flush, sync, resume), then damage (op, file, offset).
	f.Add([]byte{0, 1, 6, 0, 50, 0, 4, 2, 10, 20, 5, 0, 200, 0, 3, 1, 100, 0, 0, 0, 40, 0})
	f.Add([]byte{200, 0, 10, 0, 1, 2, 0, 3, 4, 5, 1, 7, 0, 2, 20, 20, 4, 0, 0, 0, 0, 2, 1, 30, 0})
	f.Add([]byte{8, 0, 20, 0, 100, 0, 0, 100, 0, 0, 100, 0, 5, 0, 100, 0, 4, 1, 1, 9, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := Replay(data); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzCheckpoint(f *testing.F) {
	m := NewMemFS()
	m.MkdirAll(dir, 0o755)
	name, err := wal.WriteCheckpoint(m, dir, wal.Bytes, []byte("the state"), 7)
	if err != nil {
		f.Fatal(err)
	}
	good := m.ReadFile(name)
	f.Add(append([]byte{0}, good...))
	f.Add(append([]byte{1}, good...))
	f.Add(append([]byte{0}, good[:30]...))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := Checkpoint(data); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzRecordLog(f *testing.F) {
	m := NewMemFS()
	l, err := wal.CreateRecordLog(m, "/records", wal.RecordLogOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 5 {
		l.Append([]byte(fmt.Sprintf("record %d", i)))
	}
	l.Close()
	good := m.ReadFile("/records")
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(good, 0, 0, 0, 1))
	f.Add(good[:10])
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := RecordLog(data); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSamplesHoldTheProperties runs the targets' checks on whole sample
// logs, which the fuzzers then mutate, and checks that the checks can
// fail.
func TestSamplesHoldTheProperties(t *testing.T) {
	for _, torn := range []bool{false, true} {
		m := sampleLog(t, 12, torn)
		if err := checkLog(m, nil); err != nil {
			t.Errorf("torn %v: %v", torn, err)
		}
	}
	// An entry that was not written is reported.
	m := sampleLog(t, 3, false)
	if err := checkLog(m, map[uint64][]byte{1: []byte("something else")}); err == nil {
		t.Error("an entry that was not written went unnoticed")
	}
}
