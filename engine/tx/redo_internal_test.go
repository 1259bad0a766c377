package tx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/internal/txbug"
)

// The redo log of format 6 (redo.go), forged in a closed pool whose Count
// is 7: what recovery replays, ignores, and refuses.

// redoSlotOff is the offset of slot s of the pools of cfs, whose logs
// are of MinLogSize bytes, each in a slot of its own.
func redoSlotOff(s int) int64 { return logAreaOff + int64(s)*MinLogSize }

// forgeRedo writes into slot s a whole log of seq, its checksums and marks
// valid, holding entries with their new bytes, and newhash what replaying
// it leaves (new entries hashed as the pool holds them); it returns the
// log's bytes.
func forgeRedo(t *testing.T, fsys engine.FS, s int, seq uint64, entries []logEntry) []byte {
	t.Helper()
	var body []byte
	h := seq
	for _, e := range entries {
		body = appendEntry(body, e.off, e.n, e.data)
		b := e.data
		if e.new {
			b = readFile(t, fsys, e.off, int(e.n))
		}
		h = commitHash(h, e.off, b)
	}
	b, err := encodeLog(nil, seq, len(entries), h, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(len(b)) / logLine {
		binary.LittleEndian.PutUint64(b[i*logLine+logMarkOff:], logMark(seq, i))
	}
	writeFile(t, fsys, redoSlotOff(s), b)
	return b
}

// setCount is a log entry that sets the root's Count of the pools of cfs.
func setCount(countOff, v int64) logEntry {
	return logEntry{off: countOff, n: 8, data: binary.NativeEndian.AppendUint64(nil, uint64(v))}
}

// openCount opens the pool (strict) and returns its Count and what Open
// found.
func openCount(fsys engine.FS, o *Options) (int64, Info, error) {
	if o == nil {
		o = &Options{}
	}
	o.Strict = true
	p, err := openC(fsys, o)
	if err != nil {
		return 0, Info{}, err
	}
	defer p.Close()
	var count int64
	err = p.View(func(t *Tx[ctag]) error {
		r, err := p.Root().Get(t)
		count = r.Count
		return err
	})
	if err == nil {
		err = p.Check()
	}
	return count, p.Info(), err
}

func TestCorruptRedoLog(t *testing.T) {
	good := cfs(t)
	countOff := readRootOffset(t, good)
	const seq = 3 << 32
	type slotLog struct {
		slot    int
		seq     uint64
		entries []logEntry
		// change damages the log's bytes after it is written.
		change func(b []byte, at int64, fsys engine.FS)
	}
	flipFirstData := func(b []byte, at int64, fsys engine.FS) { // a byte of the first entry's bytes
		writeFile(t, fsys, at+logLine+entryHeaderSize, []byte{b[logLine+entryHeaderSize] ^ 1})
	}
	unmarkLine1 := func(b []byte, at int64, fsys engine.FS) {
		flipFirstData(b, at, fsys)
		writeFile(t, fsys, at+logLine+logMarkOff, make([]byte, 8))
	}
	for _, c := range []struct {
		name     string
		logs     []slotLog
		want     int64 // Count after Open
		replayed int
		err      error
	}{
		{"past the end", []slotLog{{0, seq, []logEntry{{off: 1 << 30, n: 8, data: make([]byte, 8)}}, nil}}, 0, 0, ErrCorrupt},
		{"over the log", []slotLog{{0, seq, []logEntry{{off: logAreaOff + 8, n: 8, data: make([]byte, 8)}}, nil}}, 0, 0, ErrCorrupt},
		{"over the pool header", []slotLog{{0, seq, []logEntry{{off: 0, n: 8, data: make([]byte, 8)}}, nil}}, 0, 0, ErrCorrupt},
		{"replayed, slot 0", []slotLog{{0, seq, []logEntry{setCount(countOff, 99)}, nil}}, 99, 1, nil},
		{"replayed, slot 1", []slotLog{{1, seq, []logEntry{setCount(countOff, 99)}, nil}}, 99, 1, nil},
		{"both, in the order of their seqs", []slotLog{
			{0, seq + 1, []logEntry{setCount(countOff, 60)}, nil},
			{1, seq, []logEntry{setCount(countOff, 50)}, nil},
		}, 60, 2, nil},
		{"both, the other way", []slotLog{
			{0, seq, []logEntry{setCount(countOff, 60)}, nil},
			{1, seq + 1, []logEntry{setCount(countOff, 50)}, nil},
		}, 50, 2, nil},
		{"the same seq twice", []slotLog{
			{0, seq, []logEntry{setCount(countOff, 60)}, nil},
			{1, seq, []logEntry{setCount(countOff, 50)}, nil},
		}, 0, 0, ErrCorrupt},
		{"the newest torn: the older replayed", []slotLog{
			{0, seq, []logEntry{setCount(countOff, 60)}, nil},
			{1, seq + 1, []logEntry{setCount(countOff, 50)}, unmarkLine1},
		}, 60, 1, nil},
		{"the newest damaged, not in place", []slotLog{
			{0, seq, []logEntry{setCount(countOff, 60)}, nil},
			{1, seq + 1, []logEntry{setCount(countOff, 50)}, flipFirstData},
		}, 0, 0, ErrCorrupt},
		{"the newest damaged, in place: nothing replayed", []slotLog{
			{0, seq, []logEntry{setCount(countOff, 60)}, nil},
			{1, seq + 1, []logEntry{setCount(countOff, 7)}, flipFirstData},
		}, 7, 0, nil},
		{"the older damaged, not in place", []slotLog{
			{0, seq, []logEntry{setCount(countOff, 60)}, flipFirstData},
			{1, seq + 1, []logEntry{setCount(countOff, 50)}, nil},
		}, 0, 0, ErrCorrupt},
		{"the older damaged, in place: the newest replayed", []slotLog{
			{0, seq, []logEntry{setCount(countOff, 7)}, flipFirstData},
			{1, seq + 1, []logEntry{setCount(countOff, 50)}, nil},
		}, 50, 1, nil},
	} {
		fsys := copyFS(good)
		for _, l := range c.logs {
			b := forgeRedo(t, fsys, l.slot, l.seq, l.entries)
			if l.change != nil {
				l.change(b, redoSlotOff(l.slot), fsys)
			}
		}
		got, info, err := openCount(fsys, nil)
		if !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("%s: Open = %v, want %v", c.name, err, c.err)
			continue
		}
		if err == nil && (got != c.want || info.Replayed != c.replayed || info.RolledBack) {
			t.Errorf("%s: Count %d, %+v; want Count %d, %d logs replayed", c.name, got, info, c.want, c.replayed)
		}
	}
}

// TestRedoLogOfUncommittedTransaction: a whole log whose new memory does
// not hold what its transaction wrote there was made whole by the media
// before its drain returned — its transaction never committed. Open
// ignores it, replays the older log, and retires it, so that no later
// state of the new memory makes it pass for committed.
func TestRedoLogOfUncommittedTransaction(t *testing.T) {
	good := cfs(t)
	countOff := readRootOffset(t, good)
	fsys := copyFS(good)
	// The new memory: 64 bytes of the heap past the pool's objects.
	h, err := DecodeHeader(readFile(t, fsys, 0, headerSize))
	if err != nil {
		t.Fatal(err)
	}
	fresh := h.Size - 4096
	writeFile(t, fsys, fresh, []byte("what the transaction wrote in its new memory"))
	forgeRedo(t, fsys, 0, 5<<32, []logEntry{setCount(countOff, 60)})
	forgeRedo(t, fsys, 1, 5<<32+1, []logEntry{setCount(countOff, 50), {off: fresh, n: 64, new: true}})
	writeFile(t, fsys, fresh, make([]byte, 64)) // the new memory lost
	got, info, err := openCount(fsys, nil)
	if err != nil || got != 60 || info.Replayed != 1 {
		t.Fatalf("Open = %d, %+v, %v; want Count 60, the older log alone replayed", got, info, err)
	}
	// Its new memory now as the transaction wrote it: the log, retired,
	// is never replayed.
	writeFile(t, fsys, fresh, []byte("what the transaction wrote in its new memory"))
	if got, info, err := openCount(fsys, nil); err != nil || got != 60 || info.Replayed != 0 {
		t.Errorf("Open again = %d, %+v, %v; want Count 60, nothing replayed", got, info, err)
	}
}

// TestRedoUncheckedReplaysATornLog: the bug switch RedoUnchecked is what
// it says — the torn newest log, ignored by the correct protocol, is
// replayed as if whole.
func TestRedoUncheckedReplaysATornLog(t *testing.T) {
	good := cfs(t)
	countOff := readRootOffset(t, good)
	for _, bug := range []txbug.Bug{txbug.None, txbug.RedoUnchecked} {
		fsys := copyFS(good)
		// Line 1 torn: its bytes not the log's, its mark not there.
		b := forgeRedo(t, fsys, 1, 9<<32, []logEntry{setCount(countOff, 50)})
		at := redoSlotOff(1) + logLine
		writeFile(t, fsys, at+entryHeaderSize, []byte{b[logLine+entryHeaderSize] ^ 0x80})
		writeFile(t, fsys, at+logMarkOff, make([]byte, 8))
		got, _, err := openCount(fsys, &Options{bug: bug})
		if err != nil || (got == 7) != (bug == txbug.None) {
			t.Errorf("%v: Count %d, %v; want 7 only without the bug", bug, got, err)
		}
	}
}

// TestRedoSeqOrder: each writer's Open starts its seqs 2^32 above every
// seq in the slots, so that a log written after a crash is always the
// newest, even when the last one before the crash was torn.
func TestRedoSeqOrder(t *testing.T) {
	fsys := cfs(t)
	var seqs []uint64
	for i := range 4 {
		p, err := openC(fsys, nil)
		if err != nil {
			t.Fatal(err)
		}
		root := p.Root()
		if err := p.Update(func(t *Tx[ctag]) error {
			r, err := root.Get(t)
			r.Count, r.Pair = int64(100+i), [2]int64{int64(i + 1), int64(i + 1)} // three words: logged
			if err != nil {
				return err
			}
			return root.Set(t, r)
		}); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, p.c.seq-1)
		fsys = fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll}) // a crash, the pool open
		p.Close()
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] < seqs[i-1]+1<<32 {
			t.Errorf("seqs %#x", seqs)
		}
	}
	got, info, err := openCount(fsys, nil)
	if err != nil || got != 103 || info.Replayed != 2 {
		t.Errorf("after the crashes: Count %d, %+v, %v", got, info, err)
	}
}

// TestWordLogFailedStore: a word log (redo.go) whose commit fails at one
// of its stores or flushes leaves nothing a crash could take for a
// committed log, whichever operation fails — not even after a later
// commit's drain, which would make durable a whole log left in memory,
// nor after a process crash, which keeps every store. The transaction
// was aborted: recovery must find the word as it was (either way if the
// pool broke after the commit was durable, ErrBroken).
func TestWordLogFailedStore(t *testing.T) {
	for k := 0; ; k++ {
		fsys := cfs(t)
		p, err := openC(fsys, nil)
		if err != nil {
			t.Fatal(err)
		}
		root := p.Root()
		set := func(f func(r *croot)) error {
			return p.Update(func(t *Tx[ctag]) error {
				r, err := root.Get(t)
				if err != nil {
					return err
				}
				f(&r)
				return root.Set(t, r)
			})
		}
		// Logged: both words of Pair. Then one of them alone: its word
		// is in the newest log, and the commit is a word log.
		if err := set(func(r *croot) { r.Pair = [2]int64{1, 2} }); err != nil {
			t.Fatal(err)
		}
		inj := &nthChange{n: k, fault: faultfs.Error(syscall.EIO)}
		fsys.SetInjector(inj)
		err = set(func(r *croot) { r.Pair[0] = 3 })
		fsys.SetInjector(nil)
		if !inj.fired {
			// The commit has fewer than k+1 stores and flushes: every one
			// was tried.
			if err != nil {
				t.Fatalf("the word log without a fault: %v", err)
			}
			if k < 5 {
				t.Fatalf("a word log of %d stores and flushes: the test reaches no word log", k)
			}
			p.Close()
			return
		}
		if err == nil {
			t.Fatalf("change %d of the word log failed, and its commit returned nil", k)
		}
		// A pool broken after the commit was durable keeps it.
		broken := errors.Is(err, ErrBroken)
		count := int64(7)
		if !broken {
			// A one-word commit of a word in no log: its drain makes
			// durable whatever was flushed before it.
			if err2 := set(func(r *croot) { r.Count = 9 }); err2 != nil {
				t.Fatalf("change %d failed (%v), then the next commit: %v", k, err, err2)
			}
			count = 9
		}
		for _, mode := range []faultfs.Strategy{faultfs.LoseAll, faultfs.KeepAll} {
			img := fsys.CrashClone(faultfs.CrashOptions{Mode: mode})
			q, err := openC(img, &Options{Strict: true})
			if err != nil {
				t.Fatalf("change %d failed, then a crash (%v): Open: %v", k, mode, err)
			}
			err = q.View(func(t *Tx[ctag]) error {
				r, err := root.Get(t)
				if err != nil {
					return err
				}
				if r.Pair != [2]int64{1, 2} && (!broken || r.Pair != [2]int64{3, 2}) || r.Count != count {
					return fmt.Errorf("Pair %v Count %d, want [1 2] and %d", r.Pair, r.Count, count)
				}
				return nil
			})
			q.Close()
			if err != nil {
				t.Errorf("change %d of the word log failed, the commit was aborted, then a crash (%v): %v", k, mode, err)
			}
		}
		p.Close()
	}
}

// nthChange injects fault into the n-th (from 0) store or flush of a
// region, once.
type nthChange struct {
	n, i  int
	fired bool
	fault faultfs.Fault
}

func (f *nthChange) MaybeInject(op faultfs.Op) faultfs.Fault {
	switch op.Kind {
	case faultfs.OpRegionWrite, faultfs.OpRegionAtomic, faultfs.OpFlush:
		f.i++
		if f.i == f.n+1 {
			f.fired = true
			return f.fault
		}
	}
	return faultfs.Fault{}
}
