package fuzz

import (
	"encoding/binary"
	"testing"
)

// sampleHeader returns the sample pool's first LiveEnd bytes.
func sampleHeader(t testing.TB) []byte {
	fsys, err := Base()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, LiveEnd)
	if err := ReadAt(fsys, b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// sampleLog returns the sample pool's log: the last transaction's.
func sampleLog(t testing.TB) []byte {
	fsys, err := Base()
	if err != nil {
		t.Fatal(err)
	}
	h := make([]byte, logHeader)
	if err := ReadAt(fsys, h, LogOff); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, logHeader+int(binary.LittleEndian.Uint64(h[16:])))
	if err := ReadAt(fsys, b, LogOff); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLogSumMatchesEngine: the forged logs' checksum is the engine's, so
// that Log's even mode reaches recovery instead of being ignored as torn.
func TestLogSumMatchesEngine(t *testing.T) {
	b := sampleLog(t)
	seq := binary.LittleEndian.Uint64(b[0:])
	count := uint32(binary.LittleEndian.Uint64(b[8:]))
	newHash := binary.LittleEndian.Uint64(b[24:])
	if seq == 0 || count == 0 {
		t.Fatalf("the sample pool's log is retired: seq %d, count %d", seq, count)
	}
	if got, want := LogSum(seq, count, newHash, b[logHeader:]), binary.LittleEndian.Uint64(b[32:]); got != want {
		t.Fatalf("LogSum %#x, the engine's %#x", got, want)
	}
}

func TestSamplesPass(t *testing.T) {
	if err := Header(sampleHeader(t)); err != nil {
		t.Fatal(err)
	}
	if err := Log(append([]byte{1}, sampleLog(t)...)); err != nil {
		t.Fatal(err)
	}
}

func FuzzHeader(f *testing.F) {
	good := sampleHeader(f)
	f.Add(good)
	f.Add(good[:128])
	bad := append([]byte(nil), good...)
	bad[8]++ // version
	f.Add(bad)
	bad = append([]byte(nil), good...)
	bad[320]++ // layout version
	f.Add(bad)
	f.Add(make([]byte, LiveEnd))
	f.Add([]byte("crshPOOL"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := Header(data); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzLog(f *testing.F) {
	real := sampleLog(f)
	f.Add(append([]byte{1}, real...))      // the engine's log, as it is
	f.Add(append([]byte{0}, real[:8]...))  // forged: a seq and nothing else
	f.Add(append([]byte{1}, real[:20]...)) // torn
	// Forged entries: inside the heap, over the heap header, past the end,
	// over the log, a new one, miscounted.
	for _, e := range []struct {
		mode byte
		off  uint32
		n    uint16
	}{{0, 24576, 8}, {0, 192, 16}, {0, 1 << 30, 8}, {0, 4096, 8}, {0, 24576, 9}, {2, 24576, 8}, {0, 256, 8}} {
		b := []byte{e.mode}
		b = binary.LittleEndian.AppendUint64(b, 7)
		b = binary.LittleEndian.AppendUint64(b, 99)
		b = binary.LittleEndian.AppendUint32(b, e.off)
		b = binary.LittleEndian.AppendUint16(b, e.n)
		b = append(b, 1)
		b = append(b, make([]byte, e.n)...)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := Log(data); err != nil {
			t.Fatal(err)
		}
	})
}
