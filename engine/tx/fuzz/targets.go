// Package fuzz holds the fuzz targets of package engine/tx, shared by the
// native fuzz tests (fuzz_test.go, `make fuzz-smoke`) and go-fuzz (the
// gofuzz build tag, `make gofuzz`). Each target damages a real pool file
// with the fuzzer's bytes — its header, its undo log (raw bytes, or a log
// forged with a valid checksum so that recovery believes it) — and opens
// it, as a writer and as a reader. The property: no panic, and every
// failure is one of the package's typed errors; a pool that opens can be
// read, checked, written and closed, again without a panic.
//
// The targets run on faultfs's simulated file system with a persistent
// memory mount: crashes are the laboratory's business, the fuzzers' is
// bytes.
package fuzz

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/crashsim/crashsim/internal/fuzzinput"
	"io/fs"
	"os"
	"sync"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/zeebo/xxh3"
)

// Tag and Root are the fuzzed pool's types: a root with a list, a blob
// and a map, so that recovery and Check have pointers to follow.
type Tag struct{}

type Node struct {
	Value int64
	Next  tx.Box[Tag, Node]
}

type Root struct {
	Count int64
	List  tx.Box[Tag, Node]
	Blob  tx.Bytes[Tag]
	Map   tx.Map[Tag]
}

// Name is the pool's file.
const Name = "/pmem/pool"

// The pool's geometry, from its header (engine/tx/header.go and log.go).
const (
	HeaderSize = 128
	LiveEnd    = 392 // the pool header, the live line, the heap header, the root line and the layout record
	LogOff     = 4096
	// The log is lines of LogLine bytes: logLineBytes of the log, then
	// the line's mark.
	LogLine      = 64
	logLineBytes = 56
)

var (
	baseOnce sync.Once
	base     *faultfs.FS
	baseErr  error
)

// Base returns the file system holding the sample pool: a few committed
// transactions, the last one's log still in place (as after a crash).
func Base() (*faultfs.FS, error) {
	baseOnce.Do(func() { base, baseErr = build() })
	if baseErr != nil {
		return nil, baseErr
	}
	return base.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll}), nil
}

func build() (*faultfs.FS, error) {
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		return nil, err
	}
	p, err := tx.Create[Tag, Root](fsys, Name, &tx.Options{Size: 160 << 10, LogSize: tx.MinLogSize, Rand: zeros{}})
	if err != nil {
		return nil, err
	}
	root := p.Root()
	for i := range int64(4) {
		err := p.Update(func(t *tx.Tx[Tag]) error {
			r, err := root.Get(t)
			if err != nil {
				return err
			}
			if r.Map.IsNil() {
				if r.Map, err = tx.NewMap(t); err != nil {
					return err
				}
			}
			if err := r.Map.Put(t, []byte(fmt.Sprint("k", i)), make([]byte, 10*i)); err != nil {
				return err
			}
			if r.List, err = tx.NewBox(t, Node{Value: i, Next: r.List}); err != nil {
				return err
			}
			if !r.Blob.IsNil() {
				if err := r.Blob.Free(t); err != nil {
					return err
				}
			}
			if r.Blob, err = tx.NewBytes(t, make([]byte, 100+1000*i)); err != nil {
				return err
			}
			r.Count = i
			return root.Set(t, r)
		})
		if err != nil {
			return nil, err
		}
	}
	// No Close: the last transaction's log stays, as a crash leaves it.
	return fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll}), nil
}

// zeros is a deterministic source for the pool's UUID and map seeds.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return len(b), nil
}

// ReadAt and WriteAt read and write the pool file of fsys.
func ReadAt(fsys engine.FS, b []byte, off int64) error {
	f, err := fsys.OpenFile(Name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.ReadAt(b, off)
	return err
}

func WriteAt(fsys engine.FS, b []byte, off int64) error {
	f, err := fsys.OpenFile(Name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt(b, off)
	return err
}

// typed reports whether err is one of the errors a damaged pool may give.
func typed(err error) bool {
	for _, e := range []error{tx.ErrCorrupt, tx.ErrVersion, tx.ErrLayout, tx.ErrPointer, tx.ErrNil, tx.ErrCheck, tx.ErrNoSpace, tx.ErrTxTooLarge, tx.ErrBroken} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Header decodes data as a pool header, then opens the sample pool with
// its first LiveEnd bytes — the header, the live line and the lines after
// it, to the layout record — replaced by data.
func Header(data []byte) error {
	if h, err := tx.DecodeHeader(data); err == nil {
		var b [HeaderSize]byte
		h.Encode(b[:])
		if h2, err := tx.DecodeHeader(b[:]); err != nil || h2 != h {
			return fmt.Errorf("a decoded header re-encodes to %+v, %v; decoded %+v", h2, err, h)
		}
	} else if !typed(err) {
		return fmt.Errorf("DecodeHeader: untyped error %v", err)
	}
	fsys, err := Base()
	if err != nil {
		return err
	}
	if err := WriteAt(fsys, data[:min(len(data), LiveEnd)], 0); err != nil {
		return err
	}
	return use(fsys)
}

// Log writes the fuzzer's bytes over the sample pool's undo log and opens
// it. The first byte picks how: odd, the bytes go in as they are (a torn
// log, or garbage: its checks fail); even, they are read as a log (seq,
// newhash, then entries of offset, length and old bytes), sealed with
// valid checksums and marks, so that recovery trusts it and rolls it back
// — or, with bit 2 of the first byte, sealed then damaged in one byte,
// with or without the mark of that byte's line.
func Log(data []byte) error {
	fsys, err := Base()
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return use(fsys)
	}
	mode, data := data[0], data[1:]
	var b []byte
	if mode%2 == 1 {
		b = data
	} else {
		b = forge(data, mode)
	}
	if len(b) > tx.MinLogSize {
		b = b[:tx.MinLogSize]
	}
	if err := WriteAt(fsys, b, LogOff); err != nil {
		return err
	}
	return use(fsys)
}

// forge reads data as a log: seq (8 bytes), newhash (8), then entries of
// an offset (4), a length (2) and, unless the entry is new, its old bytes;
// mode's bit 1 miscounts the entries, bit 2 damages the sealed log (a
// byte picked by the next two bytes of data, and bit 3 takes its line's
// mark away).
func forge(data []byte, mode byte) []byte {
	in := fuzzinput.New(data)
	seq := in.Uint64() | 1
	newHash := in.Uint64()
	damage := int(in.Uint16())
	var body []byte
	count := uint64(0)
	for !in.Empty() && len(body) < tx.MinLogSize/2 {
		off := uint64(in.Uint32())
		n := uint64(in.Uint16())
		isNew := n&1 == 1 && in.Byte()&1 == 1
		e := make([]byte, 16)
		if isNew {
			off |= 1 << 63
		}
		binary.LittleEndian.PutUint64(e[0:], off)
		binary.LittleEndian.PutUint64(e[8:], n)
		body = append(body, e...)
		if !isNew {
			old := make([]byte, (n+7)&^7)
			copy(old, in.Bytes(int(n)))
			body = append(body, old...)
		}
		count++
	}
	if mode&2 != 0 {
		count++
	}
	b := EncodeLog(seq, count, newHash, body)
	if mode&4 != 0 {
		at := damage % len(b)
		b[at] ^= 0x5a
		if mode&8 != 0 {
			clear(b[at/LogLine*LogLine+logLineBytes : at/LogLine*LogLine+LogLine])
		}
	}
	return b
}

// EncodeLog returns the lines of a whole log of seq with the entries
// body, count of them, sealed as engine/tx seals it (log.go): its header
// line — seq, count, length, newhash, the checksums of the ranges, of the
// entries and of the header — then the entries, 56 bytes a line, every
// line with its mark. TestForgedLogIsTheEngines checks that the two
// agree on a log the engine wrote.
func EncodeLog(seq, count, newHash uint64, body []byte) []byte {
	n := 1 + (len(body)+logLineBytes-1)/logLineBytes
	b := make([]byte, n*LogLine)
	rangeSum := seq
	for p := 0; p+16 <= len(body); {
		rangeSum = xxh3.HashSeed(body[p:p+16], rangeSum)
		o, size := binary.LittleEndian.Uint64(body[p:]), binary.LittleEndian.Uint64(body[p+8:])
		p += 16
		if o&(1<<63) == 0 {
			p += int((size + 7) &^ 7)
		}
		if p < 0 { // a length no log has: the entries end here
			break
		}
	}
	h := b[:LogLine]
	binary.LittleEndian.PutUint64(h[0:], seq)
	binary.LittleEndian.PutUint64(h[8:], count)
	binary.LittleEndian.PutUint64(h[16:], uint64(len(body)))
	binary.LittleEndian.PutUint64(h[24:], newHash)
	binary.LittleEndian.PutUint64(h[32:], rangeSum)
	binary.LittleEndian.PutUint64(h[40:], xxh3.HashSeed(body, seq))
	binary.LittleEndian.PutUint64(h[48:], xxh3.Hash(h[:48]))
	for i := 0; i < n; i++ {
		if i > 0 {
			copy(b[i*LogLine:i*LogLine+logLineBytes], body[(i-1)*logLineBytes:])
		}
		binary.LittleEndian.PutUint64(b[i*LogLine+logLineBytes:], Mark(seq, int64(i)))
	}
	return b
}

// Mark is the mark of line i of the log of seq (log.go's logMark).
func Mark(seq uint64, i int64) uint64 {
	x := seq ^ uint64(i+1)*0x9e3779b97f4a7c15
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x | 0x0101
}

// use opens the pool in fsys as a writer and as a reader and, if it
// opens, reads everything reachable, checks it, writes and closes it.
func use(fsys *faultfs.FS) error {
	for _, ro := range []bool{true, false} {
		p, err := tx.Open[Tag, Root](fsys, Name, &tx.Options{ReadOnly: ro})
		if err != nil {
			if !typed(err) && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("Open (read-only %v): untyped error %v", ro, err)
			}
			continue
		}
		err = p.View(func(t *tx.Tx[Tag]) error { return walk(t, p.Root()) })
		if err != nil && !typed(err) {
			return fmt.Errorf("View: untyped error %v", err)
		}
		if err := p.Check(); err != nil && !typed(err) {
			return fmt.Errorf("Check: untyped error %v", err)
		}
		if !ro {
			err = p.Update(func(t *tx.Tx[Tag]) error {
				if err := walk(t, p.Root()); err != nil {
					return err
				}
				r, err := p.Root().Get(t)
				if err != nil {
					return err
				}
				r.Count++
				if r.List, err = tx.NewBox(t, Node{Value: -1, Next: r.List}); err != nil {
					return err
				}
				return p.Root().Set(t, r)
			})
			if err != nil && !typed(err) {
				return fmt.Errorf("Update: untyped error %v", err)
			}
		}
		if err := p.Close(); err != nil && !typed(err) {
			return fmt.Errorf("Close: untyped error %v", err)
		}
	}
	return nil
}

// walk reads everything reachable from the root, a bounded number of
// list nodes.
func walk(t *tx.Tx[Tag], root tx.Ptr[Tag, Root]) error {
	r, err := root.Get(t)
	if err != nil {
		return err
	}
	for b, i := r.List, 0; !b.IsNil() && i < 100; i++ {
		n, err := b.Get(t)
		if err != nil {
			return err
		}
		b = n.Next
	}
	if !r.Blob.IsNil() {
		if _, err := r.Blob.Get(t); err != nil {
			return err
		}
	}
	if !r.Map.IsNil() {
		if _, err := r.Map.Len(t); err != nil {
			return err
		}
		if err := r.Map.Range(t, func(k, v []byte) bool { return true }); err != nil {
			return err
		}
	}
	return nil
}

// Targets are the targets, in the order go-fuzz's first byte picks them.
var Targets = []func([]byte) error{Header, Log}
