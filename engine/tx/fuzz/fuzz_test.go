package fuzz

import (
	"bytes"
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
	h := make([]byte, LogLine)
	if err := ReadAt(fsys, h, LogOff); err != nil {
		t.Fatal(err)
	}
	length := int(binary.LittleEndian.Uint64(h[16:]))
	b := make([]byte, (1+(length+logLineBytes-1)/logLineBytes)*LogLine)
	if err := ReadAt(fsys, b, LogOff); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestForgedLogIsTheEngines: EncodeLog seals a log as the engine does, so
// that Log's even mode reaches recovery instead of being ignored as torn.
func TestForgedLogIsTheEngines(t *testing.T) {
	b := sampleLog(t)
	seq := binary.LittleEndian.Uint64(b[0:])
	count := binary.LittleEndian.Uint64(b[8:])
	length := int(binary.LittleEndian.Uint64(b[16:]))
	newHash := binary.LittleEndian.Uint64(b[24:])
	if binary.LittleEndian.Uint64(b[logLineBytes:]) == 0 || count == 0 {
		t.Fatalf("the sample pool's log is retired: mark 0 %#x, count %d", binary.LittleEndian.Uint64(b[logLineBytes:]), count)
	}
	var body []byte
	for i := LogLine; i < len(b); i += LogLine {
		body = append(body, b[i:i+logLineBytes]...)
	}
	if got := EncodeLog(seq, count, newHash, body[:length]); !bytes.Equal(got, b) {
		t.Fatalf("EncodeLog:\n%x\nthe engine's:\n%x", got, b)
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
	damaged := append([]byte{1}, real...)
	damaged[1+LogLine+3] ^= 1
	f.Add(damaged) // whole, then damaged
	// Forged entries: inside the heap, over the heap header, past the end,
	// over the log, a new one, miscounted.
	for _, e := range []struct {
		mode byte
		off  uint32
		n    uint16
	}{{0, 24576, 8}, {0, 192, 16}, {0, 1 << 30, 8}, {0, 4096, 8}, {0, 24576, 9}, {2, 24576, 8}, {0, 256, 8}, {4, 24576, 8}, {12, 24576, 8}} {
		b := []byte{e.mode}
		b = binary.LittleEndian.AppendUint64(b, 7)
		b = binary.LittleEndian.AppendUint64(b, 99)
		b = binary.LittleEndian.AppendUint16(b, 77) // the byte damaged in modes 4 to 15
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
