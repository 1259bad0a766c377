package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
)

// tornLog is a file log of checksummed frames (length, CRC, data), each
// appended at the file's end and synced. Its recovery reads the frames up
// to the first that does not check and, with cut, cuts what follows them
// and syncs: the next append then follows the last good frame. Without
// cut it is a cross-failure bug: the recovered records are right, but the
// continuation appends after the torn bytes, where no later recovery
// reads, so what it acknowledged is lost at the next crash.
func tornLog(name string, cut bool) *Scenario {
	return &Scenario{
		Name:  name,
		Model: models.Log(),
		Run: func(env *Env) error {
			return appendFrames(env, "w", 3)
		},
		Recover: func(env *Env) (any, error) {
			recs, end, err := readFrames(env.FS)
			if err != nil || !cut {
				return recs, err
			}
			return recs, cutAt(env.FS, end)
		},
		Continue: func(env *Env) error {
			return appendFrames(env, "c", 2)
		},
	}
}

// appendFrames appends n frames of 700 bytes (torn across sectors by a
// power failure) at the end of /log, each synced and acknowledged.
func appendFrames(env *Env, tag string, n int) error {
	f, err := env.FS.OpenFile("/log", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := env.FS.SyncDir("/"); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	end := fi.Size()
	for i := range n {
		rec := []byte(strings.Repeat(fmt.Sprintf("%s%d.", tag, i), 700)[:700])
		env.Invoke(models.LogAppend{Record: rec})
		frame := binary.LittleEndian.AppendUint32(nil, uint32(len(rec)))
		frame = binary.LittleEndian.AppendUint32(frame, crc32.ChecksumIEEE(rec))
		frame = append(frame, rec...)
		if _, err := f.WriteAt(frame, end); err != nil {
			return err
		}
		end += int64(len(frame))
		if err := f.Sync(); err != nil {
			return err
		}
		env.Return(nil)
		env.DurableAll()
	}
	return nil
}

// readFrames returns the records of /log up to the first frame that does
// not check, and where they end.
func readFrames(fsys engine.FS) ([][]byte, int64, error) {
	b, err := engine.ReadFile(fsys, "/log")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	var recs [][]byte
	off := 0
	for off+8 <= len(b) {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n == 0 || off+8+n > len(b) || crc32.ChecksumIEEE(b[off+8:off+8+n]) != binary.LittleEndian.Uint32(b[off+4:]) {
			break
		}
		recs = append(recs, b[off+8:off+8+n])
		off += 8 + n
	}
	return recs, int64(off), err
}

// cutAt cuts /log at end, durably, if it is longer.
func cutAt(fsys engine.FS, end int64) error {
	f, err := fsys.OpenFile("/log", os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == end {
		return err
	}
	if err := f.Truncate(end); err != nil {
		return err
	}
	return f.Sync()
}

// TestCrossFailureBug: a recovery that leaves a torn tail passes every
// check at depth 1, with crashes during the recovery too, under both
// fault models; at depth 2 (the default for a scenario with a Continue)
// its continuation's acknowledged appends are lost at the next crash. The
// violation names both crashes, replays to the same problem, and the
// correct recovery, which cuts the tail, passes at depth 2.
func TestCrossFailureBug(t *testing.T) {
	bug := tornLog("torn-log-bug-no-cut", false)
	for _, fault := range Faults {
		if !bug.Applies(fault) {
			continue
		}
		for _, rc := range []bool{false, true} {
			res, err := Explore(bug, Options{Fault: fault, CrashDepth: 1, RecoveryCrashes: rc})
			if err != nil || !res.OK() || res.CrashDepth != 1 || res.Continuations != 0 {
				t.Fatalf("%v at depth 1 (recovery crashes %v): %v, %d violations, depth %d, %d continuations; want none",
					fault, rc, err, len(res.Violations), res.CrashDepth, res.Continuations)
			}
		}
	}
	// A process crash leaves no torn frame (the page cache keeps every
	// write whole: each is one page here); a power failure does.
	res, err := Explore(bug, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.CrashDepth != 2 || len(res.Violations) == 0 {
		t.Fatalf("at the default depth: depth %d, %d violations (%d continuations, %d of their states); want depth 2 and the bug caught",
			res.CrashDepth, len(res.Violations), res.Continuations, res.ContinuationStates)
	}
	v := res.Violations[0]
	if len(v.Chain) != 1 || v.Chain[0].Epoch != 2 || v.Liveness || !strings.Contains(v.Problem, "acknowledged operations lost") || len(v.Chain[0].Excerpt) == 0 {
		t.Fatalf("violation: %+v", v)
	}
	if !strings.Contains(v.String(), "then:     epoch 2") || !strings.Contains(v.String(), "trace of epoch 2") {
		t.Errorf("the violation does not show its second crash:\n%s", v.String())
	}
	id, err := ParseReplayID(v.ReplayID)
	if err != nil || len(id.Chain) != 1 || id.CrashDepth() != 2 {
		t.Fatalf("replay id %q: %+v, %v", v.ReplayID, id, err)
	}
	rp, err := RunReplay(bug, id)
	if err != nil || rp.Violation == nil || rp.Violation.Problem != v.Problem || len(rp.Violation.Chain) != 1 || len(rp.Epochs) != 1 {
		t.Fatalf("replay %s: %v, %+v", v.ReplayID, err, rp)
	}

	good := tornLog("torn-log", true)
	for _, fault := range Faults {
		if !good.Applies(fault) {
			continue
		}
		res, err := Explore(good, Options{Fault: fault})
		if err != nil || !res.OK() {
			t.Fatalf("%v: the correct log: %v, %+v", fault, err, res.Violations)
		}
		if res.Continuations == 0 || res.ContinuationStates == 0 {
			t.Errorf("%v: the correct log was not continued: %d continuations, %d of their states", fault, res.Continuations, res.ContinuationStates)
		}
	}
}

// TestChainsAreDeterministic: which states are continued and what their
// continuations explore depend on the run, never on the workers; and a
// depth of 3 continues the continuations.
func TestChainsAreDeterministic(t *testing.T) {
	sc := tornLog("torn-log", true)
	var last *Result
	for _, workers := range []int{1, 2, 1} {
		res, err := Explore(sc, Options{Workers: workers, CrashDepth: 3})
		if err != nil || !res.OK() {
			t.Fatalf("workers %d: %v, %+v", workers, err, res.Violations)
		}
		if last != nil && (res.Continuations != last.Continuations || res.ContinuationStates != last.ContinuationStates || res.Recoveries != last.Recoveries) {
			t.Errorf("workers %d: %d continuations, %d states, %d recoveries; before: %d, %d, %d", workers,
				res.Continuations, res.ContinuationStates, res.Recoveries, last.Continuations, last.ContinuationStates, last.Recoveries)
		}
		last = res
	}
	d2, err := Explore(sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d2.Continuations > d2.MaxChains || last.Continuations <= d2.Continuations {
		t.Errorf("%d continuations at depth 2 (at most %d chains), %d at depth 3: want more at depth 3", d2.Continuations, d2.MaxChains, last.Continuations)
	}
}

// TestChainsUnderAStateBudget: the continuations share the state budget
// with the workload's crash points, ChainStates each (MaxStates is more);
// a budget the workload spends continues nothing.
func TestChainsUnderAStateBudget(t *testing.T) {
	sc := tornLog("torn-log", true)
	whole, err := Explore(sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		budget, chains int
	}{
		{whole.Explored, 0},
		{whole.Explored + ChainStates - 1, 0},
		{whole.Explored + 2*ChainStates, 2},
		{10, 0},
	} {
		res, err := Explore(sc, Options{Budget: Budget{States: c.budget}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Continuations != c.chains || res.Explored+res.ContinuationStates > c.budget {
			t.Errorf("budget %d: %d continuations, %d + %d states; want %d continuations within the budget",
				c.budget, res.Continuations, res.Explored, res.ContinuationStates, c.chains)
		}
	}
}

// TestLiveness: a continuation that fails after a recovery is a
// violation — a recovered store must take writes — unless the scenario
// says that it may refuse so. It replays.
func TestLiveness(t *testing.T) {
	errReadOnly := errors.New("read-only after recovery")
	refusing := tornLog("refusing-log", true)
	refusing.Continue = func(env *Env) error {
		if _, err := env.FS.Stat("/log"); err == nil {
			return errReadOnly
		}
		return appendFrames(env, "c", 1)
	}
	res, err := Explore(refusing, Options{})
	if err != nil || len(res.Violations) == 0 {
		t.Fatalf("%v, %d violations; want the refusal", err, len(res.Violations))
	}
	v := res.Violations[0]
	if !v.Liveness || len(v.Chain) != 0 || v.Epochs() != 2 || !strings.Contains(v.Problem, "could not go on: read-only after recovery") {
		t.Errorf("violation: %+v", v)
	}
	id, err := ParseReplayID(v.ReplayID)
	if err != nil || !id.Continuation || !strings.HasSuffix(v.ReplayID, "+") {
		t.Fatalf("replay id %q: %+v, %v", v.ReplayID, id, err)
	}
	rp, err := RunReplay(refusing, id)
	if err != nil || rp.Violation == nil || !rp.Violation.Liveness || rp.Violation.Problem != v.Problem {
		t.Fatalf("replay %s: %v, %+v", v.ReplayID, err, rp)
	}
	refusing.MayRefuse = func(err error) bool { return errors.Is(err, errReadOnly) }
	if res, err := Explore(refusing, Options{}); err != nil || !res.OK() {
		t.Errorf("a refusal the scenario allows: %v, %+v", err, res.Violations)
	}
}

// TestChainShardsMerge: the shards of a run at depth 2 merge into the
// whole run, its continuations and their violations included.
func TestChainShardsMerge(t *testing.T) {
	for _, sc := range []*Scenario{tornLog("torn-log-bug-no-cut", false), tornLog("torn-log", true)} {
		whole, err := Explore(sc, Options{MaxStates: 16})
		if err != nil {
			t.Fatal(err)
		}
		var shards []*Result
		for i := range 3 {
			r, err := Explore(sc, Options{MaxStates: 16, Shard: Shard{I: i, N: 3}})
			if err != nil {
				t.Fatal(err)
			}
			shards = append(shards, r)
		}
		merged, err := Merge(shards...)
		if err != nil {
			t.Fatal(err)
		}
		w, m := *whole, *merged
		w.Elapsed, m.Elapsed, w.Shard, m.Shard = 0, 0, "", ""
		if !reflect.DeepEqual(w, m) {
			t.Errorf("%s: merged shards differ from the whole run:\n%+v\n%+v", sc.Name, w, m)
		}
		if whole.Continuations == 0 {
			t.Errorf("%s: nothing continued", sc.Name)
		}
	}
}
