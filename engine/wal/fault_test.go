package wal_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/faultfs"
)

// syncRule fails the n-th fsync of a segment (counting from the first
// segment's creation) with Linux semantics.
func syncRule(n uint64) *faultfs.Rules {
	return faultfs.NewRules(faultfs.Rule{
		When:  faultfs.And(faultfs.PathGlob("/wal/*.wal"), faultfs.OpKinds(faultfs.OpSync), faultfs.OnIndex(n)),
		Fault: faultfs.SyncFailure,
	})
}

// TestFailedFsyncIsFatal: the failing FlushAndSync says why, the log
// refuses to go on, and a Resume in the same boot — with the dropped pages
// still in the page cache — makes them durable before anything new is
// acknowledged.
func TestFailedFsyncIsFatal(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	rules := syncRule(3) // the second entry's sync, after the two segments' creation
	fsys.SetInjector(rules)
	w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(entry(0, 3000)); err != nil {
		t.Fatal(err)
	}
	if err := w.FlushAndSync(); err != nil {
		t.Fatal(err)
	}
	w.AppendBatch([][]byte{entry(1, 3000), entry(2, 3000)}) // spans blocks 0 to 2
	err = w.FlushAndSync()
	if !errors.Is(err, wal.ErrBroken) || !errors.Is(err, syscall.EIO) || !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("FlushAndSync with a failing fsync: %v, want ErrBroken wrapping EIO", err)
	}
	if !strings.Contains(err.Error(), "sync /wal/0000000000000001.wal") {
		t.Errorf("the error does not say what failed: %v", err)
	}
	if len(rules.Unfired()) != 0 {
		t.Fatal("the fault never fired")
	}
	if _, err := w.Append([]byte("x")); !errors.Is(err, wal.ErrBroken) {
		t.Errorf("Append after a failed fsync: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, wal.ErrBroken) {
		t.Errorf("Flush after a failed fsync: %v", err)
	}
	if err := w.FlushAndSync(); !errors.Is(err, wal.ErrBroken) {
		t.Errorf("a retried FlushAndSync: %v, want ErrBroken (a retried fsync would lie)", err)
	}
	if err := w.Close(); !errors.Is(err, wal.ErrBroken) {
		t.Errorf("Close of a broken log: %v", err)
	}

	w, err = wal.Resume(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if w.LastID() != 3 {
		t.Fatalf("Resume found %d entries, want the 3 in the page cache", w.LastID())
	}
	w.Append(entry(3, 3000))
	if err := w.FlushAndSync(); err != nil {
		t.Fatal(err)
	}
	// A power failure now keeps every acknowledged entry, the ones whose
	// fsync failed included: Resume rewrote them.
	img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.LoseAll})
	checkEntries(t, mustReplay(t, img, "/wal", wal.Strict), 4, fixed(3000))
}

func TestFailedWriteIsFatal(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault faultfs.Fault
	}{{"enospc", faultfs.Error(syscall.ENOSPC)}, {"short write", faultfs.ShortWrite}} {
		t.Run(c.name, func(t *testing.T) {
			fsys := faultfs.New(faultfs.Options{})
			rules := faultfs.NewRules(faultfs.Rule{
				When:  faultfs.And(faultfs.PathGlob("/wal/*.wal"), faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(3)),
				Fault: c.fault,
			})
			fsys.SetInjector(rules)
			w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				w.Append(entry(i, 1000))
				err = w.FlushAndSync()
				if i < 1 && err != nil {
					t.Fatal(err)
				}
			}
			if !errors.Is(err, wal.ErrBroken) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("FlushAndSync with a failing write: %v, want ErrBroken wrapping ENOSPC", err)
			}
			w.Close()
			// Recovery keeps the acknowledged entry and cuts what the
			// failed write left.
			img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
			w, err = wal.Resume(img, "/wal", wal.Bytes, wal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			w.Close()
			es := mustReplay(t, img, "/wal", wal.Strict)
			if len(es) != 1 || !bytes.Equal(es[0].Value, entry(0, 1000)) {
				t.Fatalf("after recovery: %d entries", len(es))
			}
		})
	}
}

// TestDurabilityOfEachCall: Append survives nothing, Flush a process
// crash, FlushAndSync a power failure.
func TestDurabilityOfEachCall(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Append(entry(0, 100))
	w.FlushAndSync()
	w.Append(entry(1, 100))
	w.Flush()
	w.Append(entry(2, 100))
	for _, c := range []struct {
		mode faultfs.Strategy
		want int
	}{{faultfs.KeepAll, 2}, {faultfs.LoseAll, 1}} {
		img := fsys.CrashClone(faultfs.CrashOptions{Mode: c.mode})
		r, err := wal.Resume(img, "/wal", wal.Bytes, wal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		checkEntries(t, mustReplay(t, img, "/wal", wal.Strict), c.want, fixed(100))
	}
	w.Close()
}

// tornLog writes a log of three synced entries of 1000 bytes, and two more
// flushed but not synced, then cuts the last one in half in the page
// cache, as a crash inside its write would. It returns the file system and
// the offset of the torn frame.
func tornLog(t *testing.T) (*faultfs.FS, int64) {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{})
	w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		w.Append(entry(i, 1000))
		if i < 3 {
			w.FlushAndSync()
		}
	}
	w.Flush()
	img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll}) // the writer is gone
	w.Close()
	f, err := img.OpenFile(segmentPath("/wal", 1), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	torn := int64(wal.HeaderSize + 4*(wal.FrameHeaderSize+1000))
	if _, err := f.WriteAt(make([]byte, 600), torn+420); err != nil {
		t.Fatal(err)
	}
	return img, torn
}

func TestStrictAndBestEffortOnATornTail(t *testing.T) {
	fsys, torn := tornLog(t)
	_, err := wal.Replay(fsys, "/wal", wal.Bytes, wal.Strict)
	var ce *wal.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("strict replay of a torn tail: %v, want a *CorruptError", err)
	}
	if ce.Segment != 1 || ce.Offset != torn || ce.Path != segmentPath("/wal", 1) {
		t.Errorf("corruption at segment %d offset %d (%s), want segment 1 offset %d", ce.Segment, ce.Offset, ce.Path, torn)
	}
	checkEntries(t, mustReplay(t, fsys, "/wal", wal.BestEffort), 4, fixed(1000))
}

func TestResumeCutsATornTailAndKeepsItAside(t *testing.T) {
	fsys, torn := tornLog(t)
	w, err := wal.Resume(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	reps := w.Repairs()
	if len(reps) != 1 || reps[0].Segment != 1 || reps[0].Offset != torn {
		t.Fatalf("repairs %v, want one cut at segment 1 offset %d", reps, torn)
	}
	aside, err := engine.ReadFile(fsys, reps[0].Aside)
	if err != nil {
		t.Fatalf("the cut bytes were not kept: %v", err)
	}
	frame := wal.AppendFrame(nil, wal.KindEntry, 5, entry(4, 1000))
	if int64(len(aside)) != reps[0].Length || !bytes.Equal(aside[:420], frame[:420]) {
		t.Errorf("the bytes kept aside (%d) are not the torn frame's", len(aside))
	}
	if id, err := w.Append(entry(4, 1000)); err != nil || id != 5 {
		t.Fatalf("append after the repair: id %d, %v", id, err)
	}
	w.Close()
	checkEntries(t, mustReplay(t, fsys, "/wal", wal.Strict), 5, fixed(1000))
	// Resume of a repaired log changes nothing.
	w, err = wal.Resume(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 64 << 10})
	if err != nil || len(w.Repairs()) != 0 {
		t.Fatalf("second Resume: %v, repairs %v", err, w.Repairs())
	}
	w.Close()
}

// corruptAt flips a byte of file name at off.
func corruptAt(t *testing.T, fsys engine.FS, name string, off int64) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptionBeforeTheTailIsAlwaysAnError: a bad frame in a sealed
// segment is an error in both modes, and Resume refuses to touch the log.
func TestCorruptionBeforeTheTailIsAlwaysAnError(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	w, _ := wal.New(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 1024})
	for i := range 20 {
		w.Append(entry(i, 100))
	}
	w.Close()
	corruptAt(t, fsys, segmentPath("/wal", 1), wal.HeaderSize+120+50)
	for _, mode := range []wal.Mode{wal.Strict, wal.BestEffort} {
		_, err := wal.Replay(fsys, "/wal", wal.Bytes, mode)
		var ce *wal.CorruptError
		if !errors.As(err, &ce) || ce.Segment != 1 || ce.Offset != wal.HeaderSize+120 {
			t.Errorf("%v replay of a corrupt sealed segment: %v", mode, err)
		}
	}
	if _, err := wal.Resume(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 1024}); !errors.Is(err, wal.ErrCorrupt) {
		t.Errorf("Resume of a log corrupt before its tail: %v", err)
	}
	// A missing segment in the middle is corruption too.
	fsys.Remove(segmentPath("/wal", 2))
	if _, err := wal.Replay(fsys, "/wal", wal.Bytes, wal.BestEffort); !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("replay with a segment missing: %v", err)
	}
}

func TestAnotherVersionIsNotCorruption(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	w, _ := wal.New(fsys, "/wal", wal.Bytes, wal.Options{})
	w.Append([]byte("x"))
	w.Close()
	// A header of version 2, with its checksum right.
	f, _ := fsys.OpenFile(segmentPath("/wal", 1), os.O_RDWR, 0)
	hdr := make([]byte, wal.HeaderSize)
	f.ReadAt(hdr, 0)
	hdr[8] = 2
	putCRC(hdr)
	f.WriteAt(hdr, 0)
	f.Close()
	for _, mode := range []wal.Mode{wal.Strict, wal.BestEffort} {
		if _, err := wal.Replay(fsys, "/wal", wal.Bytes, mode); !errors.Is(err, wal.ErrVersion) || errors.Is(err, wal.ErrCorrupt) {
			t.Errorf("%v replay of a version 2 segment: %v, want ErrVersion", mode, err)
		}
	}
	if _, err := wal.Resume(fsys, "/wal", wal.Bytes, wal.Options{}); !errors.Is(err, wal.ErrVersion) {
		t.Errorf("Resume of a version 2 log: %v", err)
	}
}

// putCRC sets the checksum of a file header.
func putCRC(hdr []byte) {
	binary.LittleEndian.PutUint32(hdr[36:], crc32.Checksum(hdr[:36], crc32.MakeTable(crc32.Castagnoli)))
}

// TestBrokenLogRefusesEveryWrite: once a log is broken, every Flush and
// FlushAndSync returns ErrBroken, even with nothing left to write or sync
// — a nil would say that what the failure dropped is durable.
func TestBrokenLogRefusesEveryWrite(t *testing.T) {
	type call struct {
		name string
		f    func() error
	}
	refuses := func(t *testing.T, what string, calls ...call) {
		t.Helper()
		for _, c := range calls {
			if err := c.f(); !errors.Is(err, wal.ErrBroken) {
				t.Errorf("%s, then %s: %v, want ErrBroken", what, c.name, err)
			}
		}
	}
	t.Run("flushed, then the sync fails", func(t *testing.T) {
		fsys := faultfs.New(faultfs.Options{})
		fsys.SetInjector(syncRule(2)) // the first entry's sync, after the two segments' creation
		w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		w.Append(entry(0, 100))
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := w.FlushAndSync(); !errors.Is(err, wal.ErrBroken) {
			t.Fatalf("FlushAndSync with a failing fsync: %v", err)
		}
		refuses(t, "a failed fsync of written entries", call{"Flush", w.Flush}, call{"FlushAndSync", w.FlushAndSync}, call{"Close", w.Close})
	})
	t.Run("the segment ahead cannot be created", func(t *testing.T) {
		for _, zeroFill := range []bool{false, true} {
			fsys := faultfs.New(faultfs.Options{})
			// Segment 3 is created once segment 1 is sealed: its header
			// write fails (without ZeroFill, right after the seal round;
			// with it, in the goroutine, seen at segment 2's seal).
			fsys.SetInjector(faultfs.NewRules(faultfs.Rule{
				When:  faultfs.And(faultfs.PathGlob("/wal/0000000000000003.wal"), faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(0)),
				Fault: faultfs.Error(syscall.ENOSPC),
			}))
			w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 16 << 10, ZeroFill: zeroFill})
			if err != nil {
				t.Fatal(err)
			}
			var last error
			for i := 0; last == nil && i < 20; i++ { // three 4 KiB entries to a segment
				if _, last = w.Append(entry(i, 4<<10)); last == nil {
					last = w.FlushAndSync()
				}
			}
			if !errors.Is(last, wal.ErrBroken) || !errors.Is(last, syscall.ENOSPC) {
				t.Fatalf("ZeroFill %v: %v, want ErrBroken wrapping ENOSPC", zeroFill, last)
			}
			if d := w.DurableID(); d != w.LastID() {
				t.Fatalf("ZeroFill %v: durable %d, last %d: the case wanted is nothing left to sync", zeroFill, d, w.LastID())
			}
			refuses(t, fmt.Sprintf("ZeroFill %v: a segment not created", zeroFill), call{"Flush", w.Flush}, call{"FlushAndSync", w.FlushAndSync})
			if err := w.Close(); !errors.Is(err, wal.ErrBroken) {
				t.Errorf("ZeroFill %v: Close: %v, want ErrBroken", zeroFill, err)
			}
		}
	})
	t.Run("record log", func(t *testing.T) {
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
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := l.FlushAndSync(); !errors.Is(err, wal.ErrBroken) {
			t.Fatalf("FlushAndSync with a failing fsync: %v", err)
		}
		refuses(t, "a failed fsync of a record log's written records", call{"Flush", l.Flush}, call{"FlushAndSync", l.FlushAndSync}, call{"Close", l.Close})
	})
}

// sealedLog writes 30 entries of 50 bytes to a log of 1 KiB segments (13
// to a segment, then its seal, then 54 bytes of zeros) and returns the
// file system and the offset just past segment 1's seal.
func sealedLog(t *testing.T) (*faultfs.FS, int64) {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{})
	w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		w.Append(entry(i, 50))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := engine.ReadFile(fsys, segmentPath("/wal", 1))
	if err != nil {
		t.Fatal(err)
	}
	for off := wal.HeaderSize; ; {
		f, n, err := wal.DecodeFrame(b[off:])
		if err != nil {
			t.Fatalf("segment 1 at %d: %v", off, err)
		}
		off += n
		if f.Kind == wal.KindSeal {
			return fsys, int64(off)
		}
	}
}

// TestResumeRepairsTheSlackOfASealedSegment: bytes after a valid seal are
// never data, so damage there — garbage right after the seal or further
// on, a file cut short after it — is what Strict reading reports and best
// effort ignores; Resume keeps the bytes aside, restores the zeros and the
// size, and reports it, so that the log reads back Strict. A valid frame
// after a seal is not slack: it is corruption, and Resume refuses it.
func TestResumeRepairsTheSlackOfASealedSegment(t *testing.T) {
	seg1 := segmentPath("/wal", 1)
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, fsys *faultfs.FS, seal int64)
	}{
		{"a byte far in the slack", func(t *testing.T, fsys *faultfs.FS, seal int64) { corruptAt(t, fsys, seg1, seal+30) }},
		{"a byte right after the seal", func(t *testing.T, fsys *faultfs.FS, seal int64) { corruptAt(t, fsys, seg1, seal) }},
		{"the file cut short after the seal", func(t *testing.T, fsys *faultfs.FS, seal int64) {
			f, err := fsys.OpenFile(seg1, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(seal + 10); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys, seal := sealedLog(t)
			c.damage(t, fsys, seal)
			if _, err := wal.Replay(fsys, "/wal", wal.Bytes, wal.Strict); !errors.Is(err, wal.ErrCorrupt) {
				t.Fatalf("Strict replay of damaged slack: %v, want ErrCorrupt", err)
			}
			checkEntries(t, mustReplay(t, fsys, "/wal", wal.BestEffort), 30, fixed(50))
			w, err := wal.Resume(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 1024})
			if err != nil {
				t.Fatal(err)
			}
			reps := w.Repairs()
			if len(reps) != 1 || reps[0].Segment != 1 {
				t.Fatalf("repairs %v, want one of segment 1", reps)
			}
			if reps[0].Aside != "" {
				aside, err := engine.ReadFile(fsys, reps[0].Aside)
				if err != nil || int64(len(aside)) != reps[0].Length || reps[0].Offset != seal {
					t.Errorf("the bytes kept aside: %d, %v; repair %v", len(aside), err, reps[0])
				}
			}
			w.Append(entry(30, 50))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			checkEntries(t, mustReplay(t, fsys, "/wal", wal.Strict), 31, fixed(50))
			w, err = wal.Resume(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 1024})
			if err != nil || len(w.Repairs()) != 0 {
				t.Fatalf("second Resume: %v, repairs %v", err, w.Repairs())
			}
			w.Close()
		})
	}
	t.Run("a valid frame after the seal", func(t *testing.T) {
		fsys, seal := sealedLog(t)
		f, err := fsys.OpenFile(seg1, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(wal.AppendFrame(nil, wal.KindEntry, 14, []byte("x")), seal)
		f.Close()
		for _, mode := range []wal.Mode{wal.Strict, wal.BestEffort} {
			if _, err := wal.Replay(fsys, "/wal", wal.Bytes, mode); !errors.Is(err, wal.ErrCorrupt) {
				t.Errorf("%v replay with a frame after a seal: %v, want ErrCorrupt", mode, err)
			}
		}
		if _, err := wal.Resume(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: 1024}); !errors.Is(err, wal.ErrCorrupt) {
			t.Errorf("Resume with a frame after a seal: %v, want ErrCorrupt", err)
		}
	})
}

// TestFaultsOnRealFiles: the injector wraps the OS backend too
// (docs/DESIGN.md F3), so a test of the WAL on real files injects faults:
// EIO on the third write to a segment — after the two segments' headers,
// the first entry's — fails FlushAndSync with ErrBroken wrapping it; the
// log refuses to go on; Resume on the same files finds no entry that was
// not acknowledged, then appends.
func TestFaultsOnRealFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	rules := faultfs.NewRules(faultfs.Rule{
		When:  faultfs.And(faultfs.PathGlob(filepath.Join(dir, "*.wal")), faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(2)),
		Fault: faultfs.Error(syscall.EIO),
	})
	fsys := faultfs.Wrap(engine.OSFS{}, rules)
	w, err := wal.New(fsys, dir, wal.Bytes, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(entry(0, 100)); err != nil {
		t.Fatal(err)
	}
	err = w.FlushAndSync()
	if !errors.Is(err, wal.ErrBroken) || !errors.Is(err, syscall.EIO) || !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("FlushAndSync with a failing write: %v, want ErrBroken wrapping the injected EIO", err)
	}
	if len(rules.Unfired()) != 0 {
		t.Fatal("the fault never fired")
	}
	if _, err := w.Append(entry(1, 100)); !errors.Is(err, wal.ErrBroken) {
		t.Errorf("Append after a failed write: %v, want ErrBroken", err)
	}
	if err := w.Close(); !errors.Is(err, wal.ErrBroken) {
		t.Errorf("Close of a broken log: %v, want ErrBroken", err)
	}
	w, err = wal.Resume(engine.OSFS{}, dir, wal.Bytes, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w.LastID() != 0 {
		t.Fatalf("Resume found %d entries, want none: the only append failed", w.LastID())
	}
	w.Append(entry(0, 100))
	if err := w.FlushAndSync(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, mustReplay(t, engine.OSFS{}, dir, wal.Strict), 1, fixed(100))
}
