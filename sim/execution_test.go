package sim

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// randomLog is appendLog whose records a real process would write: drawn
// from crypto/rand at every run, so that no two runs are one workload.
func randomLog(recover func(env *Env) (any, error)) *Scenario {
	sc := appendLog(nil, recover)
	sc.Name = "random-log"
	sc.Run = func(env *Env) error {
		recs := make([][]byte, 3)
		for i := range recs {
			recs[i] = make([]byte, 16)
			rand.Read(recs[i])
		}
		return appendLog(recs, recover).Run(env)
	}
	return sc
}

// forgetful loses the last record of a log it reads back: every state
// with two records or more is a violation.
func forgetful(env *Env) (any, error) {
	recs, err := readLog(env.FS, "/log")
	if len(recs) > 1 {
		recs = recs[:len(recs)-1]
	}
	return recs, err
}

// replayImages records the crash image of each replay before its
// recovery: a deep copy of its Image, and its fingerprint.
func replayImages(t *testing.T) *[]*faultfs.Image {
	var got []*faultfs.Image
	onReplayImage = func(img *faultfs.FS) {
		im := img.Image()
		for i := range im.Nodes {
			for j := range im.Nodes[i].Blocks {
				if d := im.Nodes[i].Blocks[j].Data; d != nil {
					im.Nodes[i].Blocks[j].Data = slices.Clone(d)
				}
			}
		}
		got = append(got, im)
	}
	t.Cleanup(func() { onReplayImage = nil })
	return &got
}

// TestSavedReplayOfNondeterministicWorkload: a workload that writes
// random data cannot be replayed by running it again (ErrOtherWorkload),
// but its saved execution, written and read back, rebuilds each
// violation's crash image byte for byte — the one the run judged — and
// judges it the same, under both fault models.
func TestSavedReplayOfNondeterministicWorkload(t *testing.T) {
	for _, fault := range []Fault{PowerFailure, ProcessCrash} {
		sc := randomLog(forgetful)
		res, err := Explore(sc, Options{Fault: fault, SaveExecution: true})
		if err != nil || len(res.Violations) == 0 {
			t.Fatalf("%v: %v, %d violations", fault, err, len(res.Violations))
		}
		e := res.Execution
		if len(e.States) != len(res.Violations) || len(e.Unsaved) != 0 {
			t.Fatalf("%v: %d states saved of %d violations, unsaved %q", fault, len(e.States), len(res.Violations), e.Unsaved)
		}
		b, err := EncodeExecution(e)
		if err != nil {
			t.Fatal(err)
		}
		read, err := DecodeExecution(b)
		if err != nil {
			t.Fatalf("%v: DecodeExecution: %v", fault, err)
		}
		images := replayImages(t)
		for i, v := range res.Violations {
			id, err := ParseReplayID(v.ReplayID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := RunReplay(sc, id); !errors.Is(err, ErrOtherWorkload) {
				t.Fatalf("%v: replay by running %s again: %v, want ErrOtherWorkload", fault, id, err)
			}
			*images = nil
			rp, err := RunSavedReplay(sc, id, read)
			if err != nil {
				t.Fatalf("%v: RunSavedReplay(%s): %v", fault, id, err)
			}
			if len(*images) != 1 || !reflect.DeepEqual((*images)[0], e.States[i].Image) {
				t.Fatalf("%v: %s: the rebuilt crash image is not the one the run saved", fault, id)
			}
			sameVerdict(t, v, rp)
		}
	}
}

// sameVerdict checks that a replay judges its state as the run did.
func sameVerdict(t *testing.T, v Violation, rp *Replay) {
	t.Helper()
	if rp.Saved == "" {
		t.Errorf("%s: the replay does not say it came from a saved execution", v.ReplayID)
	}
	got := rp.Violation
	if got == nil {
		t.Fatalf("%s: the saved replay recovers correctly; the run found: %s", v.ReplayID, v.Problem)
	}
	if got.Problem != v.Problem || got.Expected != v.Expected || got.Observed != v.Observed || got.At != v.At || got.Trace != v.Trace ||
		!reflect.DeepEqual(got.Kept, v.Kept) || !reflect.DeepEqual(got.Lost, v.Lost) || !reflect.DeepEqual(got.BreaksOn, v.BreaksOn) {
		t.Errorf("%s: the saved replay judges\n%+v\nthe run judged\n%+v", v.ReplayID, *got, v)
	}
}

// TestSavedReplayMatchesRerun: where the workload is deterministic, the
// replay that runs it again and the replay from the saved execution
// rebuild the same crash image and give the same verdict; a replay id
// the execution does not hold is ErrNotSaved.
func TestSavedReplayMatchesRerun(t *testing.T) {
	sc := appendLog([][]byte{[]byte("one"), []byte("two"), []byte("three")}, forgetful)
	res, err := Explore(sc, Options{SaveExecution: true})
	if err != nil || len(res.Violations) == 0 {
		t.Fatalf("%v, %d violations", err, len(res.Violations))
	}
	images := replayImages(t)
	for _, v := range res.Violations {
		id, _ := ParseReplayID(v.ReplayID)
		*images = nil
		again, err := RunReplay(sc, id)
		if err != nil {
			t.Fatal(err)
		}
		saved, err := RunSavedReplay(sc, id, res.Execution)
		if err != nil {
			t.Fatal(err)
		}
		if len(*images) != 2 || !reflect.DeepEqual((*images)[0], (*images)[1]) {
			t.Fatalf("%s: the saved replay rebuilt another image than the rerun", id)
		}
		if again.Verdict != saved.Verdict || again.Saved != "" {
			t.Errorf("%s: rerun %q, saved %q", id, again.Verdict, saved.Verdict)
		}
		sameVerdict(t, v, saved)
	}
	id, _ := ParseReplayID(res.Violations[0].ReplayID)
	id.Point += 100
	if _, err := RunSavedReplay(sc, id, res.Execution); !errors.Is(err, ErrNotSaved) {
		t.Errorf("an id not saved: %v, want ErrNotSaved", err)
	}
	// Without SaveExecution nothing is saved.
	if res, _ := Explore(sc, Options{}); res.Execution != nil {
		t.Errorf("an execution saved without SaveExecution")
	}
}

// TestExecutionFileErrors: a saved execution cut short is
// ErrExecutionTruncated, at every length; one damaged anywhere, or with
// bytes after its end, ErrExecutionCorrupt; one of another version
// ErrExecutionVersion.
func TestExecutionFileErrors(t *testing.T) {
	sc := randomLog(forgetful)
	res, err := Explore(sc, Options{SaveExecution: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeExecution(res.Execution)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, err := DecodeExecution(b[:n]); !errors.Is(err, ErrExecutionTruncated) {
			t.Fatalf("cut to %d of %d bytes: %v, want ErrExecutionTruncated", n, len(b), err)
		}
	}
	for i := range b {
		if i >= 8 && i < 12 {
			continue // the version and the reserved bytes
		}
		d := slices.Clone(b)
		d[i] ^= 0x10
		if _, err := DecodeExecution(d); !errors.Is(err, ErrExecutionCorrupt) {
			t.Fatalf("byte %d flipped: %v, want ErrExecutionCorrupt", i, err)
		}
	}
	if _, err := DecodeExecution(append(slices.Clone(b), 0)); !errors.Is(err, ErrExecutionCorrupt) {
		t.Errorf("a byte appended: %v, want ErrExecutionCorrupt", err)
	}
	d := slices.Clone(b)
	binary.LittleEndian.PutUint16(d[8:], ExecutionVersion+1)
	if _, err := DecodeExecution(d); !errors.Is(err, ErrExecutionVersion) {
		t.Errorf("version %d: %v, want ErrExecutionVersion", ExecutionVersion+1, err)
	}
	if _, err := DecodeExecution([]byte("not a saved execution at all")); !errors.Is(err, ErrExecutionCorrupt) {
		t.Errorf("another file: %v, want ErrExecutionCorrupt", err)
	}
}

// FuzzDecodeExecution: no input makes the decoder panic or return an
// error of another kind; what it accepts encodes back to what decodes the
// same. The body's parser is fuzzed past the checksum too.
func FuzzDecodeExecution(f *testing.F) {
	sc := appendLog([][]byte{[]byte("one"), []byte("two")}, forgetful)
	res, err := Explore(sc, Options{SaveExecution: true})
	if err != nil {
		f.Fatal(err)
	}
	b, err := EncodeExecution(res.Execution)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeBody(b)
		e, err := DecodeExecution(b)
		if err != nil {
			if !errors.Is(err, ErrExecutionTruncated) && !errors.Is(err, ErrExecutionCorrupt) && !errors.Is(err, ErrExecutionVersion) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		again, err := EncodeExecution(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := DecodeExecution(again)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("re-encoded: %v", err)
		}
	})
}

// TestSavedHistoryOfOwnTypes: a model input of a type of the program's
// own is saved, and decodes in a process that registered it (this one,
// which saved it); the history rebuilt is the one judged.
func TestSavedHistoryOfOwnTypes(t *testing.T) {
	type note struct{ Text string }
	m := models.Model{Name: "notes", Init: func() any { return 0 }, Apply: func(s, in any) (any, any) { return s.(int) + len(in.(note).Text), nil }}
	p := models.NewPrefix(m)
	p.Invoke(note{"ab"})
	p.Invoke(note{"cde"})
	p.Durable(1)
	b, err := encodeInputs([]any{p.Input(1), p.Input(2)})
	if err != nil {
		t.Fatal(err)
	}
	check, err := savedCheck(m, &SavedState{Inputs: b, Durable: 1})
	if err != nil {
		t.Fatal(err)
	}
	if v := check.Check(5); !v.OK || v.Prefix != 2 || check.DurableCount() != 1 {
		t.Errorf("rebuilt history judges 5 as %+v", v)
	}
	if _, err := savedCheck(models.Register(), &SavedState{Inputs: b}); err == nil {
		t.Errorf("a history the model refuses was rebuilt")
	}
}

// TestSavedReplayOfChains: a violation reached through two crashes saves
// the image of the first, the workload's, under both fault models; the
// saved replay runs the recovery and the continuation again from it to
// the second crash, and gives the rerun's verdict from the same image.
func TestSavedReplayOfChains(t *testing.T) {
	// Its recovery is right until the continuation has run once; after
	// that it forgets the last record.
	sc := appendLog([][]byte{[]byte("one"), []byte("two")}, func(env *Env) (any, error) {
		recs, err := readLog(env.FS, "/log")
		if _, serr := env.FS.Stat("/restarted"); serr == nil && len(recs) > 0 {
			recs = recs[:len(recs)-1]
		}
		return recs, err
	})
	sc.Name = "forgets-after-restart"
	sc.Continue = func(env *Env) error {
		f, err := env.FS.OpenFile("/restarted", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return env.FS.SyncDir("/")
	}
	images := replayImages(t)
	for _, fault := range []Fault{ProcessCrash, PowerFailure} {
		res, err := Explore(sc, Options{Fault: fault, CrashDepth: 2, SaveExecution: true})
		if err != nil {
			t.Fatal(err)
		}
		e := res.Execution
		if len(e.States) != len(res.Violations) || len(e.Unsaved) != 0 {
			t.Fatalf("%v: %d of %d violations saved, unsaved %q", fault, len(e.States), len(res.Violations), e.Unsaved)
		}
		chains := 0
		for _, v := range res.Violations {
			if len(v.Chain) == 0 {
				continue
			}
			chains++
			id, _ := ParseReplayID(v.ReplayID)
			*images = nil
			again, err := RunReplay(sc, id)
			if err != nil {
				t.Fatal(err)
			}
			saved, err := RunSavedReplay(sc, id, e)
			if err != nil {
				t.Fatalf("%v: %s: %v", fault, id, err)
			}
			if len(*images) != 2 || !reflect.DeepEqual((*images)[0], (*images)[1]) {
				t.Fatalf("%v: %s: the saved replay started from another image than the rerun", fault, id)
			}
			if saved.Violation == nil || saved.Verdict != again.Verdict || saved.Violation.Problem != v.Problem || len(saved.Epochs) != 1 {
				t.Errorf("%v: %s: saved %q (%d epochs), rerun %q, run %q", fault, id, saved.Verdict, len(saved.Epochs), again.Verdict, v.Problem)
			}
		}
		if chains == 0 {
			t.Fatalf("%v: no violation through two crashes: %+v", fault, res.Violations)
		}
	}
}

// TestSavedReplayOfRecoveryCrashes: a violation found by crashing a
// recovery saves the workload's image; the saved replay runs the
// recovery to the same crash point of its own and recovers again, from
// the rerun's image and with its verdict, under both fault models.
func TestSavedReplayOfRecoveryCrashes(t *testing.T) {
	sc := appendLog([][]byte{[]byte("one"), []byte("two")}, movingRecovery)
	images := replayImages(t)
	for _, fault := range Faults {
		if !sc.Applies(fault) {
			continue
		}
		res, err := Explore(sc, Options{Fault: fault, RecoveryCrashes: true, SaveExecution: true})
		if err != nil || len(res.Violations) == 0 || len(res.Execution.States) != len(res.Violations) {
			t.Fatalf("%v: %v, %d violations, %d saved", fault, err, len(res.Violations), len(res.Execution.States))
		}
		crashed := 0
		for _, v := range res.Violations {
			id, _ := ParseReplayID(v.ReplayID)
			if id.RecoveryPoint < 0 {
				continue
			}
			crashed++
			*images = nil
			again, err := RunReplay(sc, id)
			if err != nil {
				t.Fatal(err)
			}
			saved, err := RunSavedReplay(sc, id, res.Execution)
			if err != nil {
				t.Fatalf("%v: %s: %v", fault, id, err)
			}
			if len(*images) != 2 || !reflect.DeepEqual((*images)[0], (*images)[1]) {
				t.Fatalf("%v: %s: the saved replay started from another image than the rerun", fault, id)
			}
			if saved.Violation == nil || saved.Verdict != again.Verdict || saved.Violation.RecoveryCrash != again.Violation.RecoveryCrash || saved.Crashed == nil {
				t.Errorf("%v: %s: saved %q, rerun %q", fault, id, saved.Verdict, again.Verdict)
			}
		}
		if crashed == 0 {
			t.Fatalf("%v: no violation in a crashed recovery", fault)
		}
	}
}
