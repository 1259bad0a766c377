// Package fuzz holds the fuzz targets of package engine/wal, shared by the
// native fuzz tests (fuzz_test.go, `make fuzz-smoke`) and go-fuzz (the
// gofuzz build tag, `make gofuzz`). Each target turns the fuzzer's bytes
// into something the log reads — a frame, a directory of segments, a log
// written then damaged, a checkpoint file, a record log — and returns an
// error when a property fails: reading never panics, strict reading
// accepting a log means best-effort reading returns the same, best effort
// returns increasing ids and never an entry that was not written, and
// Resume (or OpenRecordLog) repairs a log to exactly what best effort
// read, after which it reads back Strict and a second repair changes
// nothing.
//
// The targets run on MemFS, an in-memory engine.FS without durability:
// crashes are the laboratory's scenarios' business; the fuzzers' is bytes.
package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/crashsim/crashsim/internal/fuzzinput"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/crashsim/crashsim/engine/wal"
)

// dir is the WAL directory of the targets.
const dir = "/wal"

// segmentSize is the size of the segments the targets create: small, so
// that logs have several.
const segmentSize = 1024

// Frame decodes data as one frame: a valid frame must encode back to the
// same bytes, a short one must ask for more than data holds, an end must
// be a zero header.
func Frame(data []byte) error {
	f, n, err := wal.DecodeFrame(data)
	switch {
	case err == nil:
		if n > len(data) || n != wal.FrameHeaderSize+len(f.Payload) {
			return fmt.Errorf("frame of %d bytes with a %d-byte payload in %d bytes", n, len(f.Payload), len(data))
		}
		if enc := wal.AppendFrame(nil, f.Kind, f.ID, f.Payload); !bytes.Equal(enc, data[:n]) {
			return fmt.Errorf("frame %v %d does not encode back to its bytes", f.Kind, f.ID)
		}
	case err == io.ErrUnexpectedEOF:
		if n <= len(data) || n > wal.FrameHeaderSize+wal.MaxFrameSize {
			return fmt.Errorf("short frame needing %d bytes of %d", n, len(data))
		}
	case err == io.EOF:
		if len(data) < wal.FrameHeaderSize || !bytes.Equal(data[:wal.FrameHeaderSize], make([]byte, wal.FrameHeaderSize)) {
			return errors.New("end of data at a header that is not zero")
		}
	case !errors.Is(err, wal.ErrCorrupt):
		return fmt.Errorf("decode: %v is not ErrCorrupt", err)
	}
	return nil
}

// dirNames are the files Directory may write: mostly segments.
var dirNames = []string{
	"0000000000000001.wal", "0000000000000002.wal", "0000000000000003.wal", "0000000000000004.wal",
	"0000000000000005.wal", "0000000000000002.wal", "0000000000000003.wal", "0000000000000001.checkpoint",
	"0000000000000002.wal.20.torn", "LOCK", "junk", "0000000000000006.wal",
}

// Directory makes a WAL directory of the fuzzer's bytes — a sequence of
// (name selector, 2-byte length, content) — and checks how it reads and
// repairs.
func Directory(data []byte) error {
	in := fuzzinput.New(data)
	m := NewMemFS()
	m.MkdirAll(dir, 0o755)
	for !in.Empty() {
		name := dirNames[int(in.Byte())%len(dirNames)]
		m.WriteFile(path.Join(dir, name), in.Bytes(int(in.Uint16())%8192))
	}
	return checkLog(m, nil)
}

// EncodeDirectory is the inverse of Directory's decoding, for seeds: the
// segments of a WAL directory as Directory reads them.
func EncodeDirectory(m *MemFS) []byte {
	var out []byte
	snap := m.Snapshot()
	for _, p := range slices.Sorted(maps.Keys(snap)) {
		i := slices.Index(dirNames, path.Base(p))
		if path.Dir(p) != dir || i < 0 || len(snap[p]) > 0xffff {
			continue
		}
		out = append(out, byte(i))
		out = binary.LittleEndian.AppendUint16(out, uint16(len(snap[p])))
		out = append(out, snap[p]...)
	}
	return out
}

// Replay writes a WAL as the fuzzer's bytes say (segment size, then
// operations: append, batch, flush, sync, resume), then damages its files
// as the rest says (flip a bit, set a byte, truncate), and checks how it
// reads and repairs: in particular that no entry read is one that was not
// written with its id.
func Replay(data []byte) error {
	in := fuzzinput.New(data)
	opts := wal.Options{SegmentSize: wal.MinSegmentSize + int64(int(in.Uint16())%2048)}
	m := NewMemFS()
	w, err := wal.New(m, dir, wal.Bytes, opts)
	if err != nil {
		return err
	}
	written := map[uint64][]byte{}
	for range in.Byte() % 24 {
		switch op := in.Byte(); op % 6 {
		case 0, 1:
			e := in.Bytes(int(in.Uint16()) % 1500)
			id, err := w.Append(e)
			if err != nil {
				return err
			}
			written[id] = bytes.Clone(e)
		case 2:
			batch := make([][]byte, 1+op/6%4)
			for i := range batch {
				batch[i] = bytes.Clone(in.Bytes(int(in.Byte())))
			}
			first, err := w.AppendBatch(batch)
			if err != nil {
				return err
			}
			for i, e := range batch {
				written[first+uint64(i)] = e
			}
		case 3:
			err = w.Flush()
		case 4:
			err = w.FlushAndSync()
		case 5:
			if err = w.Close(); err == nil {
				w, err = wal.Resume(m, dir, wal.Bytes, opts)
			}
		}
		if err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := checkLog(m, written); err != nil {
		return fmt.Errorf("undamaged log: %w", err)
	}
	var files []string
	for p := range m.Snapshot() {
		if strings.HasSuffix(p, ".wal") {
			files = append(files, p)
		}
	}
	slices.Sort(files)
	for !in.Empty() {
		op, f, off := in.Byte(), files[int(in.Byte())%len(files)], int(in.Uint16())
		b := m.ReadFile(f)
		if len(b) == 0 {
			continue
		}
		switch op % 3 {
		case 0:
			b[off%len(b)] ^= 1 << (op / 3 % 8)
		case 1:
			b[off%len(b)] = in.Byte()
		case 2:
			b = b[:off%len(b)]
		}
		m.WriteFile(f, b)
	}
	return checkLog(m, written)
}

// checkLog checks how the log in m reads and repairs; written, if not
// nil, is every entry written, by id.
func checkLog(m *MemFS, written map[uint64][]byte) error {
	strict, strictErr := wal.Replay(m, dir, wal.Bytes, wal.Strict)
	best, bestErr := wal.Replay(m, dir, wal.Bytes, wal.BestEffort)
	if strictErr == nil {
		if bestErr != nil {
			return fmt.Errorf("strict read %d entries, best effort failed: %v", len(strict), bestErr)
		}
		if !sameEntries(strict, best) {
			return fmt.Errorf("strict read %d entries, best effort %d others", len(strict), len(best))
		}
	}
	for i, e := range best {
		if i > 0 && e.ID <= best[i-1].ID {
			return fmt.Errorf("entry id %d after id %d", e.ID, best[i-1].ID)
		}
		if want, ok := written[e.ID]; written != nil && (!ok || !bytes.Equal(e.Value, want)) {
			return fmt.Errorf("entry %d (%d bytes) was not written", e.ID, len(e.Value))
		}
	}

	c := m.Clone()
	w, resumeErr := wal.Resume(c, dir, wal.Bytes, wal.Options{SegmentSize: segmentSize})
	if (resumeErr == nil) != (bestErr == nil) {
		return fmt.Errorf("best effort: %v, but Resume: %v", bestErr, resumeErr)
	}
	if resumeErr != nil {
		return nil
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("close after Resume: %w", err)
	}
	after, err := wal.Replay(c, dir, wal.Bytes, wal.Strict)
	if err != nil {
		return fmt.Errorf("strict read after Resume: %w", err)
	}
	if !sameEntries(after, best) {
		return fmt.Errorf("after Resume %d entries, best effort read %d", len(after), len(best))
	}
	snap := c.Snapshot()
	w, err = wal.Resume(c, dir, wal.Bytes, wal.Options{SegmentSize: segmentSize})
	if err != nil {
		return fmt.Errorf("second Resume: %w", err)
	}
	if r := w.Repairs(); len(r) != 0 {
		return fmt.Errorf("second Resume repaired %v", r)
	}
	if err := w.Close(); err != nil {
		return err
	}
	if !maps.Equal(snap, c.Snapshot()) {
		return errors.New("a second Resume changed the files")
	}
	return nil
}

func sameEntries(a, b []wal.Entry[[]byte]) bool {
	return slices.EqualFunc(a, b, func(x, y wal.Entry[[]byte]) bool { return x.ID == y.ID && bytes.Equal(x.Value, y.Value) })
}

// Checkpoint reads the fuzzer's bytes as a checkpoint file (named after the
// id its header says it covers, or not, as the first byte says): a valid
// one must be what WriteCheckpoint writes for its state and id.
func Checkpoint(data []byte) error {
	in := fuzzinput.New(data)
	sel := in.Byte()
	body := in.Rest()
	through := uint64(1)
	if sel&1 == 0 && len(body) >= 24 {
		through = binary.LittleEndian.Uint64(body[16:])
	}
	m := NewMemFS()
	name := path.Join(dir, fmt.Sprintf("%016x.checkpoint", through))
	m.WriteFile(name, body)
	ck, err := wal.ReadCheckpoint(m, name, wal.Bytes)
	latest, ok, lerr := wal.LatestCheckpoint(m, dir, wal.Bytes)
	if err != nil {
		if !errors.Is(err, wal.ErrCorrupt) && !errors.Is(err, wal.ErrVersion) {
			return fmt.Errorf("read: %v is neither ErrCorrupt nor ErrVersion", err)
		}
		if ok || errors.Is(err, wal.ErrCorrupt) && lerr != nil {
			return fmt.Errorf("latest of one bad checkpoint: %v, %v", ok, lerr)
		}
		return nil
	}
	if !ok || lerr != nil || latest.Through != ck.Through || !bytes.Equal(latest.State, ck.State) {
		return fmt.Errorf("latest of one good checkpoint: %v, %v", ok, lerr)
	}
	m2 := NewMemFS()
	m2.MkdirAll(dir, 0o755)
	again, err := wal.WriteCheckpoint(m2, dir, wal.Bytes, ck.State, ck.Through)
	if err != nil {
		return err
	}
	if !bytes.Equal(m2.ReadFile(again), body) {
		return fmt.Errorf("checkpoint through %d read from bytes that WriteCheckpoint does not write", ck.Through)
	}
	return nil
}

// RecordLog reads the fuzzer's bytes as a record log, and checks it as
// checkLog does a WAL.
func RecordLog(data []byte) error {
	const name = "/records"
	m := NewMemFS()
	m.WriteFile(name, data)
	strict, strictErr := wal.ReadRecords(m, name, wal.Strict)
	best, bestErr := wal.ReadRecords(m, name, wal.BestEffort)
	if strictErr == nil && (bestErr != nil || !slices.EqualFunc(strict, best, bytes.Equal)) {
		return fmt.Errorf("strict read %d records, best effort %d (%v)", len(strict), len(best), bestErr)
	}
	l, openErr := wal.OpenRecordLog(m, name, wal.RecordLogOptions{})
	if (openErr == nil) != (bestErr == nil) {
		return fmt.Errorf("best effort: %v, but OpenRecordLog: %v", bestErr, openErr)
	}
	if openErr != nil {
		return nil
	}
	if err := l.Close(); err != nil {
		return err
	}
	after, err := wal.ReadRecords(m, name, wal.Strict)
	if err != nil {
		return fmt.Errorf("strict read after OpenRecordLog: %w", err)
	}
	if !slices.EqualFunc(after, best, bytes.Equal) {
		return fmt.Errorf("after OpenRecordLog %d records, best effort read %d", len(after), len(best))
	}
	snap := m.Snapshot()
	if l, err = wal.OpenRecordLog(m, name, wal.RecordLogOptions{}); err != nil {
		return err
	}
	if r := l.Repairs(); len(r) != 0 {
		return fmt.Errorf("second OpenRecordLog repaired %v", r)
	}
	l.Close()
	if !maps.Equal(snap, m.Snapshot()) {
		return errors.New("a second OpenRecordLog changed the files")
	}
	return nil
}

// Targets are the targets by name, for the go-fuzz entry point.
var Targets = []func([]byte) error{Frame, Directory, Replay, Checkpoint, RecordLog}
