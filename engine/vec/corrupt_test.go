package vec_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/vec"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/zeebo/xxh3"
)

// The header slots' fields, as format.go draws them.
var headerFields = []struct {
	name     string
	off, len int
	identity bool // the same in both slots; else a header write changes it
}{
	{"magic", 0, 8, true},
	{"version", 8, 4, true},
	{"byte order", 12, 1, true},
	{"word size", 13, 1, true},
	{"pad", 14, 2, true},
	{"element size", 16, 8, true},
	{"element shape", 24, 8, true},
	{"element name", 32, 64, true},
	{"data version", 96, 8, false},
	{"seq", 104, 8, false},
	{"len", 112, 8, false},
	{"cap", 120, 8, false},
	{"checksum", 128, 8, false},
}

const (
	slot0 = 0   // the newest header of the sample: seq 4, length 5
	slot1 = 512 // the one before: seq 3, length 3
)

// sample returns a file system holding /data/v.vec after two Syncs: the
// first of elements 1..3 (seq 3, in slot 1), the second of 4 and 5 (seq 4,
// in slot 0); the capacity is 8. It returns the file's bytes too.
func sample(t testing.TB) (*faultfs.FS, []byte) {
	t.Helper()
	fsys := simFS(t)
	v, err := vec.Create[rec](fsys, "/data/v.vec", &vec.Options{Capacity: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]rec{{mkrec(1), mkrec(2), mkrec(3)}, {mkrec(4), mkrec(5)}} {
		if err := v.Append(batch...); err != nil {
			t.Fatal(err)
		}
		if err := v.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := engine.ReadFile(fsys, "/data/v.vec")
	if err != nil {
		t.Fatal(err)
	}
	if h, err := vec.ReadHeader(fsys, "/data/v.vec"); err != nil || h.Seq != 4 || h.Len != 5 || h.Cap != 8 {
		t.Fatalf("the sample's header: %+v, %v", h, err)
	}
	return fsys, b
}

// The two states the sample's file can hold.
var (
	stateOlder = []rec{mkrec(1), mkrec(2), mkrec(3)}
	stateNewer = []rec{mkrec(1), mkrec(2), mkrec(3), mkrec(4), mkrec(5)}
)

// openBytes writes b as the vector file of a fresh file system and opens
// it, as a writer and as a reader; both must agree. It returns the
// contents of the vector, or the error.
func openBytes(t *testing.T, b []byte) ([]rec, error) {
	t.Helper()
	var got [2][]rec
	var errs [2]error
	for i, ro := range []bool{false, true} {
		fsys := simFS(t)
		f, err := engine.Create(fsys, "/data/v.vec")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(b, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		v, err := vec.Open[rec](fsys, "/data/v.vec", &vec.Options{ReadOnly: ro})
		if err != nil {
			errs[i] = err
			continue
		}
		got[i] = contents(t, v)
		if got[i] == nil {
			got[i] = []rec{}
		}
		if err := v.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if !slices.Equal(got[0], got[1]) || (errs[0] == nil) != (errs[1] == nil) {
		t.Fatalf("writer and reader disagree: %v, %v and %v, %v", got[0], errs[0], got[1], errs[1])
	}
	return got[0], errs[0]
}

// typed reports whether err is one of the errors a bad file may give.
func typed(err error) bool {
	return errors.Is(err, vec.ErrCorrupt) || errors.Is(err, vec.ErrVersion) || errors.Is(err, vec.ErrLayout)
}

// damage returns a copy of b with the first byte of a field flipped in the
// slots at offs, checksums left as they are.
func damage(b []byte, off int, slots ...int) []byte {
	c := slices.Clone(b)
	for _, s := range slots {
		c[s+off] ^= 0x40
	}
	return c
}

// forge returns a copy of b with the slots at offs changed by f and their
// checksums made right: a header this package could have written.
func forge(b []byte, f func(slot []byte), slots ...int) []byte {
	c := slices.Clone(b)
	for _, s := range slots {
		f(c[s : s+136])
		binary.LittleEndian.PutUint64(c[s+128:], xxh3.Hash(c[s:s+128]))
	}
	return c
}

// TestDamagedHeader: a byte damaged in any field of the header is
// ErrCorrupt when no crash could have left it — in both slots, or in the
// identity or the sequence number of one — and otherwise, when it looks
// like a header write torn by a crash, the vector opens with the other
// slot: the state of the newer Sync or of the one before. Never a panic,
// never other data.
func TestDamagedHeader(t *testing.T) {
	_, b := sample(t)
	if got, err := openBytes(t, b); err != nil || !slices.Equal(got, stateNewer) {
		t.Fatalf("the sample: %v, %v", got, err)
	}
	for _, f := range headerFields {
		if _, err := openBytes(t, damage(b, f.off, slot0, slot1)); !errors.Is(err, vec.ErrCorrupt) {
			t.Errorf("%s damaged in both slots: %v, want ErrCorrupt", f.name, err)
		}
		for _, c := range []struct {
			slot int
			want []rec // the state when the damage looks like a tear
		}{{slot0, stateOlder}, {slot1, stateNewer}} {
			got, err := openBytes(t, damage(b, f.off, c.slot))
			switch {
			case f.identity || f.name == "seq":
				if !errors.Is(err, vec.ErrCorrupt) {
					t.Errorf("%s damaged in the slot at %d: %v, want ErrCorrupt", f.name, c.slot, err)
				}
			case err != nil || !slices.Equal(got, c.want):
				t.Errorf("%s damaged in the slot at %d: %v, %v; want %v", f.name, c.slot, got, err, c.want)
			}
		}
	}
}

// TestForgedHeader: a header with a valid checksum whose field says
// another format, machine, type or version, or a value this package never
// writes, is the typed error of what it says.
func TestForgedHeader(t *testing.T) {
	_, b := sample(t)
	put64 := func(off int, x uint64) func([]byte) {
		return func(s []byte) { binary.LittleEndian.PutUint64(s[off:], x) }
	}
	setByte := func(off int, x byte) func([]byte) { return func(s []byte) { s[off] = x } }
	for _, c := range []struct {
		what string
		f    func([]byte)
		want error
	}{
		{"format version 2", func(s []byte) { binary.LittleEndian.PutUint32(s[8:], 2) }, vec.ErrVersion},
		{"format version 0", func(s []byte) { binary.LittleEndian.PutUint32(s[8:], 0) }, vec.ErrVersion},
		{"big-endian", setByte(12, 2), vec.ErrLayout},
		{"byte order 3", setByte(12, 3), vec.ErrCorrupt},
		{"32-bit words", setByte(13, 4), vec.ErrLayout},
		{"word size 16", setByte(13, 16), vec.ErrCorrupt},
		{"pad", setByte(15, 1), vec.ErrCorrupt},
		{"element size 32", put64(16, 32), vec.ErrLayout},
		{"element size 0", put64(16, 0), vec.ErrCorrupt},
		{"element size 2^40", put64(16, 1<<40), vec.ErrCorrupt},
		{"element shape", put64(24, 12345), vec.ErrLayout},
		{"element name", func(s []byte) { copy(s[32:], "vec_test.other") }, vec.ErrLayout},
		{"element name not UTF-8", setByte(33, 0xff), vec.ErrCorrupt},
		{"element name not NUL-padded", setByte(90, 'x'), vec.ErrCorrupt},
		{"data version", put64(96, 7), vec.ErrVersion},
		{"length beyond capacity", put64(112, 9), vec.ErrCorrupt},
		{"capacity beyond the file", put64(120, 9), vec.ErrCorrupt},
		{"capacity beyond any file", put64(120, 1<<62), vec.ErrCorrupt},
	} {
		got, err := openBytes(t, forge(b, c.f, slot0, slot1))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, %v; want %v", c.what, got, err, c.want)
		}
	}
	// The slots themselves: sequence numbers no Sync leaves, slots that
	// disagree.
	for _, c := range []struct {
		what   string
		s0, s1 uint64
	}{{"equal", 4, 4}, {"not consecutive", 6, 3}, {"in the wrong slots", 3, 4}, {"zero", 0, 3}} {
		x := forge(b, put64(104, c.s0), slot0)
		x = forge(x, put64(104, c.s1), slot1)
		if _, err := openBytes(t, x); !errors.Is(err, vec.ErrCorrupt) {
			t.Errorf("sequence numbers %s (%d, %d): %v, want ErrCorrupt", c.what, c.s0, c.s1, err)
		}
	}
	x := forge(b, func(s []byte) { copy(s[32:], "vec_test.other") }, slot1)
	if _, err := openBytes(t, x); !errors.Is(err, vec.ErrCorrupt) {
		t.Errorf("slots naming different types: %v, want ErrCorrupt", err)
	}
	// A newer format in both slots is ErrVersion even when its checksum
	// is elsewhere than ours.
	x = damage(forge(b, func(s []byte) { binary.LittleEndian.PutUint32(s[8:], 2) }, slot0, slot1), 128, slot1)
	if _, err := openBytes(t, x); !errors.Is(err, vec.ErrVersion) {
		t.Errorf("format 2 with one slot unreadable: %v, want ErrVersion", err)
	}
}

// TestTornHeaderWrite: every mix of the words of a header write and of
// the slot it overwrites — what a crash leaves on persistent memory or on
// a disk that tears at 8 bytes — opens with the old length or, when every
// word is new, the new one.
func TestTornHeaderWrite(t *testing.T) {
	fsys, before := sample(t)
	v := mustOpen(t, fsys, "/data/v.vec", nil)
	if err := v.Push(mkrec(6)); err != nil {
		t.Fatal(err)
	}
	if err := v.Sync(); err != nil { // seq 5, into slot 1
		t.Fatal(err)
	}
	v.Close()
	after, err := engine.ReadFile(fsys, "/data/v.vec")
	if err != nil {
		t.Fatal(err)
	}
	stateNewest := append(slices.Clone(stateNewer), mkrec(6))
	const words = (136 - 96) / 8 // the words a header write changes
	for mix := range 1 << words {
		torn := slices.Clone(after)
		copy(torn[slot1:slot1+136], before[slot1:slot1+136])
		whole := true // every word that changes is new
		for w := range words {
			off := slot1 + 96 + 8*w
			if mix&(1<<w) != 0 {
				copy(torn[off:off+8], after[off:off+8])
			} else if !slices.Equal(before[off:off+8], after[off:off+8]) {
				whole = false
			}
		}
		want := stateNewer
		if whole {
			want = stateNewest
		}
		if got, err := openBytes(t, torn); err != nil || !slices.Equal(got, want) {
			t.Errorf("header words %05b new: %v, %v; want %v", mix, got, err, want)
		}
	}
}

// TestTruncatedFile: a file cut anywhere short of its capacity is
// ErrCorrupt, for Open and ReadHeader.
func TestTruncatedFile(t *testing.T) {
	_, b := sample(t)
	for _, n := range []int{0, 1, 135, 136, 512, 700, 1023, 1024, 2000, 4095, 4096, 4096 + 16*5, len(b) - 1} {
		if _, err := openBytes(t, b[:n]); !errors.Is(err, vec.ErrCorrupt) {
			t.Errorf("a file cut to %d bytes of %d: %v, want ErrCorrupt", n, len(b), err)
		}
		if n < 1024 {
			fsys := simFS(t)
			f, _ := engine.Create(fsys, "/data/h")
			f.WriteAt(b[:n], 0)
			f.Close()
			if _, err := vec.ReadHeader(fsys, "/data/h"); !errors.Is(err, vec.ErrCorrupt) {
				t.Errorf("ReadHeader of %d bytes: %v, want ErrCorrupt", n, err)
			}
		}
	}
	if got, err := openBytes(t, append(slices.Clone(b), make([]byte, 100)...)); err != nil || !slices.Equal(got, stateNewer) {
		t.Errorf("a file longer than its capacity: %v, %v", got, err)
	}
}

// TestHeaderRoundTrip: Encode and DecodeHeader are inverse, and Validate
// refuses what the forged tests forge.
func TestHeaderRoundTrip(t *testing.T) {
	h := vec.Header{Version: vec.Version, ByteOrder: 1, WordSize: 8, ElemSize: 24, ElemShape: 99,
		ElemName: "pkg.Point", DataVersion: 3, Seq: 7, Len: 5, Cap: 9}
	b := make([]byte, 136)
	h.Encode(b)
	got, err := vec.DecodeHeader(b)
	if err != nil || got != h {
		t.Fatalf("DecodeHeader(Encode(%+v)) = %+v, %v", h, got, err)
	}
	if _, err := vec.DecodeHeader(b[:100]); !errors.Is(err, vec.ErrCorrupt) {
		t.Errorf("a short slot: %v", err)
	}
	long := h
	long.ElemName = fmt.Sprintf("%070d", 0) + "é"
	long.Encode(b)
	if got, err := vec.DecodeHeader(b); err != nil || got.ElemName != long.ElemName[:64] {
		t.Errorf("a long name is cut to 64 bytes: %q, %v", got.ElemName, err)
	}
	for _, bad := range []vec.Header{
		{Version: 2, ByteOrder: 1, WordSize: 8, ElemSize: 1, Seq: 1},
		{Version: 1, ByteOrder: 0, WordSize: 8, ElemSize: 1, Seq: 1},
		{Version: 1, ByteOrder: 1, WordSize: 2, ElemSize: 1, Seq: 1},
		{Version: 1, ByteOrder: 1, WordSize: 8, ElemSize: 0, Seq: 1},
		{Version: 1, ByteOrder: 1, WordSize: 8, ElemSize: 1, Seq: 0},
		{Version: 1, ByteOrder: 1, WordSize: 8, ElemSize: 1, Seq: 1, Len: 2, Cap: 1},
		{Version: 1, ByteOrder: 1, WordSize: 8, ElemSize: 1 << 20, Seq: 1, Cap: 1 << 50},
		{Version: 1, ByteOrder: 1, WordSize: 8, ElemSize: 1, Seq: 1, ElemName: "\xff"},
	} {
		if err := bad.Validate(); !typed(err) {
			t.Errorf("Validate(%+v) = %v", bad, err)
		}
	}
}
