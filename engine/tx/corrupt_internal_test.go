package tx

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// The bad-input tests: a damaged header, a damaged log, a pointer out of
// range inside an object. Each gets a typed error, never a panic.

type ctag struct{}

type cnode struct {
	Value int64
	Next  Box[ctag, cnode]
}

type croot struct {
	Count int64
	List  Box[ctag, cnode]
	Pair  [2]int64
}

const cpool = "/pmem/pool"

// cfs returns a simulated persistent-memory file system holding a pool
// with a two-node list and Count 7, closed.
func cfs(t *testing.T) *faultfs.FS { return cfsFormat(t, Version) }

// cfsFormat is cfs with a pool of format v.
func cfsFormat(t *testing.T, v uint32) *faultfs.FS {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Create[ctag, croot](fsys, cpool, &Options{Size: 1 << 20, LogSize: MinLogSize, format: v})
	if err != nil {
		t.Fatal(err)
	}
	root := p.Root()
	err = p.Update(func(t *Tx[ctag]) error {
		r, _ := root.Get(t)
		second, err := NewBox(t, cnode{Value: 2})
		if err != nil {
			return err
		}
		if r.List, err = NewBox(t, cnode{Value: 1, Next: second}); err != nil {
			return err
		}
		r.Count = 7
		return root.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return fsys
}

func readFile(t *testing.T, fsys engine.FS, off int64, n int) []byte {
	t.Helper()
	f, err := fsys.OpenFile(cpool, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, fsys engine.FS, off int64, b []byte) {
	t.Helper()
	f, err := fsys.OpenFile(cpool, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil { // durable: crash images of fsys keep it
		t.Fatal(err)
	}
}

// copyFS returns a copy of fsys's files as they are now.
func copyFS(fsys *faultfs.FS) *faultfs.FS {
	return fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
}

func openC(fsys engine.FS, o *Options) (*Pool[ctag, croot], error) {
	return Open[ctag, croot](fsys, cpool, o)
}

// toFormat1 makes the closed pool of fsys one of format 1, as a release
// before layout versions wrote it: the header says format 1, there is no
// layout record, and the log is retired as that release retired it.
func toFormat1(t *testing.T, fsys engine.FS) {
	t.Helper()
	toFormat(t, fsys, formatNoRecord)
	writeFile(t, fsys, layoutRecordOff, make([]byte, layoutRecordSize))
}

// toFormat makes the closed pool of fsys one of format v, its log retired
// in every format.
func toFormat(t *testing.T, fsys engine.FS, v uint32) {
	t.Helper()
	h, err := DecodeHeader(readFile(t, fsys, 0, headerSize))
	if err != nil {
		t.Fatal(err)
	}
	h.Version = v
	var b [headerSize]byte
	h.Encode(b[:])
	writeFile(t, fsys, 0, b[:])
	writeFile(t, fsys, logAreaOff, make([]byte, logLine))
}

func TestCorruptHeader(t *testing.T) {
	good := cfs(t)
	format1 := copyFS(good)
	toFormat1(t, format1)
	reseal := func(b []byte) { binary.LittleEndian.PutUint64(b[120:], xxhString(string(b[:120]))) }
	for _, c := range []struct {
		name   string
		change func(b []byte)
		want   error
		// format1: the pool is of format 1, whose header holds the layout
		// (in format 2 the layout record does; TestCorruptLayoutRecord).
		format1 bool
	}{
		{"magic", func(b []byte) { b[0] ^= 1 }, ErrCorrupt, false},
		{"checksum", func(b []byte) { b[70] ^= 0x40 }, ErrCorrupt, false},
		{"version", func(b []byte) { binary.LittleEndian.PutUint32(b[8:], Version+1); reseal(b) }, ErrVersion, false},
		{"byte order", func(b []byte) { b[12] = 3 - nativeOrder; reseal(b) }, ErrVersion, false},
		{"bad byte order", func(b []byte) { b[12] = 9; reseal(b) }, ErrCorrupt, false},
		{"log offset", func(b []byte) { binary.LittleEndian.PutUint64(b[40:], 8192); reseal(b) }, ErrCorrupt, false},
		{"log size", func(b []byte) { binary.LittleEndian.PutUint64(b[48:], 1<<40); reseal(b) }, ErrCorrupt, false},
		{"heap offset", func(b []byte) { binary.LittleEndian.PutUint64(b[56:], 3); reseal(b) }, ErrCorrupt, false},
		{"size", func(b []byte) { binary.LittleEndian.PutUint64(b[32:], 1<<62); reseal(b) }, ErrCorrupt, false},
		{"layout padding", func(b []byte) { b[64+layoutLen-1] = 'x'; b[64+layoutLen-3] = 0; reseal(b) }, ErrCorrupt, false},
		{"layout not UTF-8", func(b []byte) { b[64] = 0xff; reseal(b) }, ErrCorrupt, false},
		{"layout name", func(b []byte) { b[64] = 'Z'; reseal(b) }, ErrLayout, true},
		{"layout hash", func(b []byte) { b[112] ^= 1; reseal(b) }, ErrLayout, true},
		{"format 1 damaged", func(b []byte) { b[112] ^= 1 }, ErrCorrupt, true},
		{"zeros", func(b []byte) { clear(b) }, ErrCorrupt, false},
	} {
		from := good
		if c.format1 {
			from = format1
		}
		fsys := copyFS(from)
		b := readFile(t, fsys, 0, headerSize)
		c.change(b)
		writeFile(t, fsys, 0, b)
		for _, ro := range []bool{false, true} {
			p, err := openC(fsys, &Options{ReadOnly: ro})
			if err == nil {
				p.Close()
			}
			if !errors.Is(err, c.want) {
				t.Errorf("%s (read-only %v): Open = %v, want %v", c.name, ro, err, c.want)
			}
		}
	}
	// A file shorter than a header, and an empty one.
	for _, n := range []int64{0, 100, 4096} {
		fsys := copyFS(good)
		f, _ := fsys.OpenFile(cpool, os.O_RDWR, 0)
		if err := f.Truncate(n); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if _, err := openC(fsys, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("a file of %d bytes: %v", n, err)
		}
	}
}

// TestHeaderBitFlips: every single flipped bit of the pool header is
// damage, and reads as ErrCorrupt — never as another version (ErrVersion)
// or another layout (ErrLayout), which would send its owner looking for a
// program that does not exist. The checksum covers every field, so it is
// checked before any field is read.
func TestHeaderBitFlips(t *testing.T) {
	fsys := cfs(t)
	good := readFile(t, fsys, 0, headerSize)
	for bit := range headerSize * 8 {
		b := append([]byte(nil), good...)
		b[bit/8] ^= 1 << (bit % 8)
		_, err := DecodeHeader(b)
		if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrVersion) || errors.Is(err, ErrLayout) {
			t.Errorf("bit %d (byte %d): DecodeHeader = %v, want ErrCorrupt only", bit, bit/8, err)
		}
		writeFile(t, fsys, 0, b)
		for _, ro := range []bool{false, true} {
			p, err := openC(fsys, &Options{ReadOnly: ro})
			if err == nil {
				p.Close()
			}
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrVersion) || errors.Is(err, ErrLayout) {
				t.Errorf("bit %d (byte %d), read-only %v: Open = %v, want ErrCorrupt only", bit, bit/8, ro, err)
			}
		}
	}
	writeFile(t, fsys, 0, good)
	p, err := openC(fsys, nil)
	if err != nil {
		t.Fatalf("the header restored: %v", err)
	}
	p.Close()
}

// forgeLog writes a whole log, its checksums and marks valid, holding
// entries, and returns its bytes.
func forgeLog(t *testing.T, fsys engine.FS, seq uint64, newHash uint64, entries []logEntry, count int) []byte {
	t.Helper()
	var body []byte
	for _, e := range entries {
		body = appendEntry(body, e.off, e.n, e.data)
	}
	b, err := encodeLog(nil, seq, count, newHash, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(len(b)) / logLine {
		binary.LittleEndian.PutUint64(b[i*logLine+logMarkOff:], logMark(seq, i))
	}
	writeFile(t, fsys, logAreaOff, b)
	return b
}

// TestCorruptLog: the undo log of format 5 (log.go), forged: entries out
// of range are ErrCorrupt, a log that checks is rolled back, a torn one
// ignored and a damaged one ErrCorrupt. TestCorruptRedoLog has format 6.
func TestCorruptLog(t *testing.T) {
	good := cfsFormat(t, 5)
	countOff := int64(readRootOffset(t, good)) // Count is the root's first field
	old := readFile(t, good, countOff, 8)
	for _, c := range []struct {
		name    string
		entries []logEntry
		count   int
		want    error
	}{
		{"past the end", []logEntry{{off: 1 << 30, n: 8, data: make([]byte, 8)}}, 1, ErrCorrupt},
		{"negative length", []logEntry{{off: countOff, n: -8, data: nil}}, 1, ErrCorrupt},
		{"over the log", []logEntry{{off: logAreaOff + 8, n: 8, data: make([]byte, 8)}}, 1, ErrCorrupt},
		{"over the pool header", []logEntry{{off: 0, n: 8, data: make([]byte, 8)}}, 1, ErrCorrupt},
		{"count", []logEntry{{off: countOff, n: 8, data: old}, {off: countOff, n: 8, data: old}}, 3, ErrCorrupt},
		{"rolled back", []logEntry{{off: countOff, n: 8, data: binary.NativeEndian.AppendUint64(nil, 99)}}, 1, nil},
	} {
		fsys := copyFS(good)
		forgeLog(t, fsys, 1<<32|5, 12345, c.entries, c.count)
		p, err := openC(fsys, &Options{Strict: true})
		if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
			t.Errorf("%s: Open = %v, want %v", c.name, err, c.want)
		}
		if err != nil {
			continue
		}
		// A log that checks and does not match its newhash is rolled back.
		if !p.Info().RolledBack {
			t.Errorf("%s: not rolled back: %+v", c.name, p.Info())
		}
		p.View(func(t2 *Tx[ctag]) error {
			r, err := p.Root().Get(t2)
			if err != nil || r.Count != 99 {
				t.Errorf("%s: after the rollback: %+v, %v", c.name, r, err)
			}
			return nil
		})
		if err := p.Check(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		p.Close()
	}
	// A torn log — a line without its mark, and bytes that are not the
	// log's — is ignored: nothing of it is in place. The same bytes with
	// every mark are a log damaged after it was whole: ErrCorrupt.
	for _, torn := range []bool{true, false} {
		fsys := copyFS(good)
		forgeLog(t, fsys, 1<<32|5, 1, []logEntry{{off: countOff, n: 8, data: binary.NativeEndian.AppendUint64(nil, 99)}}, 1)
		oldAt := int64(logAreaOff + logLine + entryHeaderSize)
		b := readFile(t, fsys, oldAt, 1)
		writeFile(t, fsys, oldAt, []byte{b[0] ^ 1})
		if torn {
			writeFile(t, fsys, logAreaOff+logLine+logMarkOff, make([]byte, 8))
		}
		p, err := openC(fsys, &Options{Strict: true})
		if !torn {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("a whole log damaged: Open = %v, want ErrCorrupt", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Info().RolledBack {
			t.Error("a torn log was rolled back")
		}
		p.Close()
	}
}

func readRootOffset(t *testing.T, fsys engine.FS) int64 {
	v := binary.LittleEndian.Uint64(readFile(t, fsys, rootOff, 8))
	return int64(v & offsetMask)
}

// TestCorruptPointer: a pointer inside an object that leads out of the
// pool, into free memory, into the middle of a block or into another
// pool is ErrPointer when an Update follows it, and a problem of Check,
// never a panic. A View checks only that a pointer stays in the pool's
// heap (it does not consult the allocator, so that readers never wait for
// it): out of the heap is ErrPointer there too, and inside it a View reads
// bytes of the pool, harmlessly.
func TestCorruptPointer(t *testing.T) {
	good := cfs(t)
	rootAt := readRootOffset(t, good)
	listAt := rootAt + int64(unsafe.Offsetof(croot{}.List))
	valid := binary.NativeEndian.Uint64(readFile(t, good, listAt, 8))
	id := valid &^ offsetMask
	for _, c := range []struct {
		name    string
		v       uint64
		outside bool // of the heap: a View refuses it too
	}{
		{"past the file", id | 1<<40, true},
		{"into the log", id | logAreaOff, true},
		{"into the header", id | 8, true},
		{"into free memory", id | (1<<20 - 4096), false},
		{"into the middle of a block", valid + 8, false},
		{"of another pool", (id ^ 1<<poolIDShift<<1) | valid&offsetMask, true},
	} {
		fsys := copyFS(good)
		writeFile(t, fsys, listAt, binary.NativeEndian.AppendUint64(nil, c.v))
		p, err := openC(fsys, nil)
		if err != nil {
			t.Fatalf("%s: Open: %v", c.name, err)
		}
		follow := func(t *Tx[ctag]) error {
			r, err := p.Root().Get(t)
			if err != nil {
				return err
			}
			_, err = r.List.Get(t)
			return err
		}
		if err := p.View(follow); c.outside && !errors.Is(err, ErrPointer) || !c.outside && err != nil {
			t.Errorf("%s: following it in a View: %v", c.name, err)
		}
		if err := p.Update(follow); !errors.Is(err, ErrPointer) {
			t.Errorf("%s: following it in an Update: %v, want ErrPointer", c.name, err)
		}
		if err := p.Check(); !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), "List") {
			t.Errorf("%s: Check: %v", c.name, err)
		}
		// Freeing what it points to is refused too, and the pool stays sound.
		err = p.Update(func(t *Tx[ctag]) error {
			r, _ := p.Root().Get(t)
			return r.List.Free(t)
		})
		if err == nil {
			t.Errorf("%s: Free through it succeeded", c.name)
		}
		p.Close()
	}
}
