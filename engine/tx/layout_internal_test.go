package tx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/faultfs"
)

// TestLayoutRecordBitFlips: every single flipped bit of the layout record
// is damage, ErrCorrupt, by a writer and a reader — never another layout
// or layout version.
func TestLayoutRecordBitFlips(t *testing.T) {
	fsys := cfs(t)
	good := readFile(t, fsys, layoutRecordOff, layoutRecordSize)
	for bit := range layoutRecordSize * 8 {
		b := bytes.Clone(good)
		b[bit/8] ^= 1 << (bit % 8)
		writeFile(t, fsys, layoutRecordOff, b)
		for _, ro := range []bool{false, true} {
			p, err := openC(fsys, &Options{ReadOnly: ro})
			if err == nil {
				p.Close()
			}
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrLayout) {
				t.Errorf("bit %d (byte %d), read-only %v: Open = %v, want ErrCorrupt only", bit, bit/8, ro, err)
			}
		}
	}
	writeFile(t, fsys, layoutRecordOff, good)
	p, err := openC(fsys, nil)
	if err != nil {
		t.Fatalf("the record restored: %v", err)
	}
	p.Close()
}

// TestCorruptLayoutRecord: a record with a valid checksum is believed: a
// newer version is ErrLayoutVersion, another name ErrLayout; a version
// beyond 32 bits is one this package never writes.
func TestCorruptLayoutRecord(t *testing.T) {
	good := cfs(t)
	record := readFile(t, good, layoutRecordOff, layoutRecordSize)
	reseal := func(b []byte) { binary.LittleEndian.PutUint64(b[64:], xxhString(string(b[:64]))) }
	for _, c := range []struct {
		name   string
		change func(b []byte)
		want   error
	}{
		{"newer version", func(b []byte) { b[0] = 1; reseal(b) }, ErrLayoutVersion},
		{"another name", func(b []byte) { b[16] = 'Z'; reseal(b) }, ErrLayout},
		{"another hash", func(b []byte) { b[8] ^= 1; reseal(b) }, ErrLayout},
		{"version of 33 bits", func(b []byte) { b[4] = 1; reseal(b) }, ErrCorrupt},
		{"name not NUL-padded", func(b []byte) { b[63] = 'x'; reseal(b) }, ErrCorrupt},
		{"name not UTF-8", func(b []byte) { b[16] = 0xff; reseal(b) }, ErrCorrupt},
		{"zeros", func(b []byte) { clear(b) }, ErrCorrupt},
	} {
		fsys := copyFS(good)
		b := bytes.Clone(record)
		c.change(b)
		writeFile(t, fsys, layoutRecordOff, b)
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
}

// TestFormat1: a pool of format 1, as earlier releases wrote it, opens
// with its default layout and stays in format 1 — byte for byte, so that
// those releases still open it — until an upgrade from version 0 adopts it
// into versioned layouts: then it is converted to format 3.
func TestFormat1(t *testing.T) {
	fsys := cfs(t)
	toFormat1(t, fsys)
	before := readFile(t, fsys, 0, logAreaOff)
	for _, ro := range []bool{true, false} {
		p, err := openC(fsys, &Options{ReadOnly: ro})
		if err != nil {
			t.Fatalf("format 1, read-only %v: %v", ro, err)
		}
		if info := p.Info(); info.Header.Version != formatNoRecord || info.LayoutVersion != 0 || info.Layout != info.Header.Layout {
			t.Errorf("format 1: %+v", info)
		}
		p.Close()
	}
	after := readFile(t, fsys, 0, logAreaOff)
	// The writer's open and close change the live line only.
	if !bytes.Equal(before[:liveOff], after[:liveOff]) || !bytes.Equal(before[heapHeaderOff:], after[heapHeaderOff:]) {
		t.Error("opening a pool of format 1 changed more than its live line")
	}

	adopt := UpgradeRoot(0, func(t *Tx[ctag], old croot) (croot, error) {
		old.Count++
		return old, nil
	})
	o := &Options{Layout: "c", Version: 1, Upgrades: []Upgrade{adopt}, Strict: true}
	p, err := Open[ctag, croot](fsys, cpool, o)
	if err != nil {
		t.Fatal(err)
	}
	if info := p.Info(); info.Header.Version != formatMarked || info.LayoutVersion != 1 || info.Layout != "c" {
		t.Errorf("after the adoption: %+v", info)
	}
	p.Close()
	h, err := DecodeHeader(readFile(t, fsys, 0, headerSize))
	if err != nil || h.Version != formatMarked {
		t.Errorf("the header after the adoption: %+v, %v", h, err)
	}
	if shadow := readFile(t, fsys, headerShadowOff, 8); !bytes.Equal(shadow, make([]byte, 8)) {
		t.Errorf("the header shadow is not retired: %x", shadow)
	}
	o.Upgrades = nil
	p, err = Open[ctag, croot](fsys, cpool, o)
	if err != nil {
		t.Fatal(err)
	}
	err = p.View(func(t *Tx[ctag]) error {
		r, err := p.Root().Get(t)
		if err == nil && r.Count != 8 {
			err = errors.New("the adoption's change is lost")
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
	p.Close()
}

// TestHeaderShadow: a header torn by a crash while it was rewritten is
// read from its shadow copy — by a reader, which writes nothing, and by a
// writer, which writes the header back and retires the copy; a copy
// beside a whole header is retired by the next writer.
func TestHeaderShadow(t *testing.T) {
	good := cfs(t)
	hdr := readFile(t, good, 0, headerSize)
	torn := bytes.Clone(hdr)
	copy(torn[64:], make([]byte, 64)) // the second cache line not yet written
	for _, c := range []struct {
		name   string
		header []byte
	}{{"torn header", torn}, {"whole header", hdr}} {
		fsys := copyFS(good)
		writeFile(t, fsys, 0, c.header)
		writeFile(t, fsys, headerShadowOff, hdr)
		r, err := openC(fsys, &Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("%s, a reader: %v", c.name, err)
		}
		r.Close()
		if got := readFile(t, fsys, 0, headerSize); !bytes.Equal(got, c.header) {
			t.Errorf("%s: a reader wrote the header", c.name)
		}
		p, err := openC(fsys, nil)
		if err != nil {
			t.Fatalf("%s, a writer: %v", c.name, err)
		}
		p.Close()
		if got := readFile(t, fsys, 0, headerSize); !bytes.Equal(got, hdr) {
			t.Errorf("%s: the writer left the header %x", c.name, got)
		}
		if shadow := readFile(t, fsys, headerShadowOff, 8); !bytes.Equal(shadow, make([]byte, 8)) {
			t.Errorf("%s: the writer left the shadow %x", c.name, shadow)
		}
	}
	// A torn header whose copy is retired is damage.
	fsys := copyFS(good)
	writeFile(t, fsys, 0, torn)
	if _, err := openC(fsys, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a torn header without a copy: %v, want ErrCorrupt", err)
	}
}

// TestUnmarkedFormats: a pool of format 2 (or 1) keeps the log without
// marks of the releases that wrote it: its transactions write that log,
// which that release can read, and a crash in the middle of one is
// recovered by it. Its first layout upgrade converts it to format 3: its
// old log retired in both formats, then logs with marks.
func TestUnmarkedFormats(t *testing.T) {
	for _, format := range []uint32{formatNoRecord, formatUnmarked} {
		fsys := cfs(t)
		if format == formatNoRecord {
			toFormat1(t, fsys)
		} else {
			toFormat(t, fsys, format)
		}
		p, err := openC(fsys, &Options{Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		setCount := func(n int64) error {
			return p.Update(func(t *Tx[ctag]) error {
				r, err := p.Root().Get(t)
				if err != nil {
					return err
				}
				r.Count, r.Pair = n, [2]int64{n, n}
				return p.Root().Set(t, r)
			})
		}
		if err := setCount(8); err != nil {
			t.Fatal(err)
		}
		// The log of that transaction, as its format writes it.
		if l, err := p.c.readLegacyLog(); err != nil || len(l.entries) == 0 {
			t.Errorf("format %d: the log without marks: %+v, %v", format, l, err)
		}
		// A crash while it is in place: every drain after the log's
		// fails, then the machine stops keeping any subset of the lines.
		fsys.SetInjector(&drainsFrom{n: 1, fault: faultfs.Error(syscall.EIO)})
		if err := setCount(9); !errors.Is(err, ErrBroken) {
			t.Fatalf("format %d: the interrupted transaction: %v", format, err)
		}
		fsys.SetInjector(nil)
		for seed := range int64(20) {
			img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.AllSubsets, Seed: seed})
			q, err := openC(img, &Options{Strict: true})
			if err != nil {
				t.Fatalf("format %d, seed %d: %v", format, seed, err)
			}
			err = q.View(func(t *Tx[ctag]) error {
				r, err := q.Root().Get(t)
				// Rolled back, or the transaction wholly in place.
				if n := r.Count; err == nil && (n != 8 && n != 9 || r.Pair != [2]int64{n, n}) {
					err = fmt.Errorf("root %+v, want count and pair 8, or 9", r)
				}
				return err
			})
			if err != nil {
				t.Errorf("format %d, seed %d: %v", format, seed, err)
			}
			if q.Info().Header.Version != format {
				t.Errorf("format %d, seed %d: opened as format %d", format, seed, q.Info().Header.Version)
			}
			q.Close()
		}
		p.Close()

		// The upgrade converts it: its log is retired in both formats.
		// (KeepAll: the rollback the failed commit wrote in place.)
		fsys = fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
		o := &Options{Layout: "c", Version: 1, Strict: true, Upgrades: []Upgrade{
			UpgradeRoot(0, func(t *Tx[ctag], old croot) (croot, error) {
				old.Count += 100
				return old, nil
			}),
		}}
		q, err := Open[ctag, croot](fsys, cpool, o)
		if err != nil {
			t.Fatalf("format %d: the upgrade: %v", format, err)
		}
		if v := q.Info().Header.Version; v != formatMarked {
			t.Errorf("format %d: after the upgrade, format %d", format, v)
		}
		// The upgrade's transaction wrote a log with marks.
		if l, err := q.c.readLog(); err != nil || len(l.entries) == 0 || l.lines == 0 {
			t.Errorf("format %d: after the upgrade, the log: %+v, %v", format, l, err)
		}
		q.Close()
		o.Upgrades = nil
		q, err = Open[ctag, croot](fsys, cpool, o)
		if err != nil {
			t.Fatal(err)
		}
		err = q.View(func(t *Tx[ctag]) error {
			r, err := q.Root().Get(t)
			if err == nil && r.Count != 108 {
				err = fmt.Errorf("root %+v after the upgrade", r)
			}
			return err
		})
		if err != nil {
			t.Errorf("format %d: %v", format, err)
		}
		q.Close()
	}
}
