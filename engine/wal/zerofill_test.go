package wal_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/faultfs"
)

// zeroFillSegment is a segment size above the 1 MiB that zero-filling
// writes at once, and not a multiple of it.
const zeroFillSegment = 2<<20 + 5000

// writeZeroFillLog writes 70 entries of 64 KiB (about 32 to a segment)
// with opts, syncing every 10th, and closes the log.
func writeZeroFillLog(t *testing.T, fsys engine.FS, dir string, opts wal.Options) {
	t.Helper()
	w, err := wal.New(fsys, dir, wal.Bytes, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 70 {
		if _, err := w.Append(entry(i, 64<<10)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			if err := w.FlushAndSync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, fsys engine.FS, name string) []byte {
	t.Helper()
	f, err := fsys.OpenFile(name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<40))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestZeroFillKeepsTheBytes: a log written with Options.ZeroFill holds
// exactly the files and bytes of one written without it, and replays the
// same entries.
func TestZeroFillKeepsTheBytes(t *testing.T) {
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := backend()
			plainDir, zeroDir := dir+"-plain", dir+"-zero"
			writeZeroFillLog(t, fsys, plainDir, wal.Options{SegmentSize: zeroFillSegment})
			writeZeroFillLog(t, fsys, zeroDir, wal.Options{SegmentSize: zeroFillSegment, ZeroFill: true})
			plain, zero := segments(t, fsys, plainDir), segments(t, fsys, zeroDir)
			if !slices.Equal(plain, zero) || len(plain) < 3 {
				t.Fatalf("segments %v with ZeroFill, %v without; want the same, at least 3", zero, plain)
			}
			for _, seg := range plain {
				if !bytes.Equal(readAll(t, fsys, plainDir+"/"+seg), readAll(t, fsys, zeroDir+"/"+seg)) {
					t.Errorf("segment %s differs with ZeroFill", seg)
				}
			}
			checkEntries(t, mustReplay(t, fsys, zeroDir, wal.Strict), 70, fixed(64<<10))
		})
	}
}

// TestZeroFillWritesEachSegmentBeforeItsSync: with Options.ZeroFill every
// segment's bytes after its header are written, in writes of at most
// 1 MiB, before the segment's first sync; without it no segment gets
// those writes. Either way, and though ZeroFill creates segments in a
// goroutine of their own, no frame is written to a segment before it was
// synced and its directory synced after that.
func TestZeroFillWritesEachSegmentBeforeItsSync(t *testing.T) {
	for _, zeroFill := range []bool{false, true} {
		fsys := faultfs.New(faultfs.Options{})
		var log faultfs.Log
		fsys.SetObserver(log.Observe)
		dir := "/data/wal"
		writeZeroFillLog(t, fsys, dir, wal.Options{SegmentSize: zeroFillSegment, ZeroFill: zeroFill})
		segs := segments(t, fsys, dir)
		for _, seg := range segs {
			name := dir + "/" + seg
			covered, synced, dirSynced := int64(wal.HeaderSize), false, false
			for _, op := range log.Ops() {
				switch {
				case op.Kind == faultfs.OpSyncDir && op.Path == dir && synced:
					dirSynced = true
				case op.Path != name:
				case op.Kind == faultfs.OpSync:
					synced = true
				case op.Kind == faultfs.OpWrite && !synced:
					if op.Off == covered && op.Len <= 1<<20 {
						covered += op.Len
					}
				case op.Kind == faultfs.OpWrite && !dirSynced:
					t.Errorf("ZeroFill %v: %s before its directory was synced", zeroFill, op)
				}
			}
			if !dirSynced {
				t.Errorf("ZeroFill %v: segment %s never synced with its directory", zeroFill, seg)
			}
			want := int64(wal.HeaderSize)
			if zeroFill {
				want = zeroFillSegment
			}
			if covered != want {
				t.Errorf("ZeroFill %v: segment %s written through %d before its first sync, want %d", zeroFill, seg, covered, want)
			}
		}
	}
}

// TestZeroFillCreateFailureBreaksTheLog: when the goroutine creating the
// segment ahead fails (here, ENOSPC while writing its zeros), the seal
// that needs it breaks the log with that error; the entries made durable
// before it replay.
func TestZeroFillCreateFailureBreaksTheLog(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	rules := faultfs.NewRules(faultfs.Rule{
		When:  faultfs.And(faultfs.PathGlob("/wal/0000000000000003.wal"), faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(1)),
		Fault: faultfs.Error(syscall.ENOSPC),
	})
	fsys.SetInjector(rules)
	const size = 16 << 10
	w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: size, ZeroFill: true})
	if err != nil {
		t.Fatal(err)
	}
	// Entries of 4 KiB, three to a segment: the fourth seals segment 1
	// and starts the creation of segment 3, the seventh seals segment 2
	// (in its Append) and needs it.
	var last error
	durable := 0
	for i := range 7 {
		if _, last = w.Append(entry(i, 4<<10)); last == nil {
			last = w.FlushAndSync()
		}
		if last != nil {
			break
		}
		durable++
	}
	if len(rules.Unfired()) != 0 {
		t.Fatal("the fault never fired")
	}
	if durable != 6 || !errors.Is(last, wal.ErrBroken) || !errors.Is(last, syscall.ENOSPC) {
		t.Fatalf("after %d durable entries: %v, want 6 then ErrBroken wrapping ENOSPC", durable, last)
	}
	if !strings.Contains(last.Error(), "0000000000000003.wal") {
		t.Errorf("the error does not say which segment: %v", last)
	}
	if _, err := w.Append(entry(6, 4<<10)); !errors.Is(err, wal.ErrBroken) {
		t.Errorf("Append after the failure: %v, want ErrBroken", err)
	}
	// Nothing is left to sync, and Close still says the log broke.
	if err := w.Close(); !errors.Is(err, wal.ErrBroken) {
		t.Errorf("Close of a broken log with nothing to sync: %v, want ErrBroken", err)
	}
	checkEntries(t, mustReplay(t, fsys, "/wal", wal.BestEffort), 6, fixed(4<<10))
}

// TestZeroFillTornAheadSegment: with ZeroFill the segment ahead is created
// while appends go on in the current one, so a crash may leave it with a
// torn header behind a segment holding data. Resume sets it aside and
// creates it again, and every entry stays.
func TestZeroFillTornAheadSegment(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	const size = 16 << 10
	opts := wal.Options{SegmentSize: size, ZeroFill: true}
	w, err := wal.New(fsys, "/wal", wal.Bytes, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // three to a segment: segment 2 holds two
		w.Append(entry(i, 4<<10))
		if err := w.FlushAndSync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash while segment 3's header was being written.
	f, err := fsys.OpenFile("/wal/0000000000000003.wal", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := wal.Replay(fsys, "/wal", wal.Bytes, wal.Strict); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("Strict replay of the torn log: %v, want ErrCorrupt", err)
	}
	w, err = wal.Resume(fsys, "/wal", wal.Bytes, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Repairs()) == 0 {
		t.Error("Resume reports no repair of the torn segment")
	}
	for i := 5; i < 8; i++ { // into segment 3
		w.Append(entry(i, 4<<10))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, mustReplay(t, fsys, "/wal", wal.Strict), 8, fixed(4<<10))
}
