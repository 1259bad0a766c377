package sim

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
)

// recordSet models records put into slots of shared memory: its state is
// the records, sorted, so that the order in which two processes' puts
// land does not matter.
func recordSet() models.Model {
	return models.Model{
		Name: "record-set",
		Init: func() any { return []string{} },
		Apply: func(state, input any) (any, any) {
			s := slices.Clone(state.([]string))
			s = append(s, input.(string))
			slices.Sort(s)
			return s, nil
		},
		Equal: func(a, b any) bool { return slices.Equal(a.([]string), b.([]string)) },
	}
}

// killSlots is the shared memory of twoWriters: slotsEach slots per
// writer, each a flag word and a record of recordLen bytes.
const (
	killSlots  = "/dev/shm/slots"
	slotsEach  = 3
	recordLen  = 16
	slotLen    = 8 + recordLen
	flagFilled = 1
)

// twoWriters is a workload of two processes, a and b, each putting
// slotsEach records into slots of its own in one shared-memory object:
// a record, then its flag (a correct publish). With bBug, b stores the
// flag first (publish before data): b killed between its flag and its
// record leaves a flagged slot with a torn record, which only a kill of
// b — not of a — can show.
func twoWriters(name string, bBug bool) *Scenario {
	put := func(env *Env, r engine.Region, slot int, rec string, bug bool) error {
		off := int64(slot * slotLen)
		env.Invoke(rec)
		if bug {
			if err := r.Store64(off, flagFilled); err != nil {
				return err
			}
		}
		if _, err := r.WriteAt([]byte(rec), off+8); err != nil {
			return err
		}
		if !bug {
			if err := r.Store64(off, flagFilled); err != nil {
				return err
			}
		}
		env.Return(nil)
		env.DurableAll() // shared memory outlives the process
		return nil
	}
	writer := func(who string, first int, bug bool) func(env *Env) error {
		return func(env *Env) error {
			f, err := env.FS.OpenFile(killSlots, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := env.FS.Map(f, engine.PageSize)
			if err != nil {
				return err
			}
			defer r.Close()
			for i := range slotsEach {
				rec := fmt.Sprintf("%s%d-%s", who, i, strings.Repeat(who, recordLen-3))
				if err := put(env, r, first+i, rec, bug); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return &Scenario{
		Name:   name,
		Faults: []Fault{ProcessKill},
		Model:  recordSet(),
		Run: func(env *Env) error {
			f, err := env.FS.OpenFile(killSlots, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				return err
			}
			if err := f.Truncate(engine.PageSize); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			m := env.Machine()
			ta := m.Start("a").Go(writer("a", 0, false))
			tb := m.Start("b").Go(writer("b", slotsEach, bBug))
			for _, t := range []*Thread{ta, tb} {
				if err := t.Wait(); err != nil && !errors.Is(err, ErrKilled) {
					return err
				}
			}
			return nil
		},
		Recover: func(env *Env) (any, error) {
			b, err := engine.ReadFile(env.FS, killSlots)
			if errors.Is(err, os.ErrNotExist) {
				return []string{}, nil
			}
			if err != nil {
				return nil, err
			}
			recs := []string{}
			for slot := 0; (slot+1)*slotLen <= len(b) && slot < 2*slotsEach; slot++ {
				if b[slot*slotLen] == flagFilled {
					recs = append(recs, string(b[slot*slotLen+8:(slot+1)*slotLen]))
				}
			}
			slices.Sort(recs)
			return recs, nil
		},
	}
}

// TestProcessKill: under ProcessKill the explorer kills a, then b, at each
// of their operations while the other goes on; the bug of b shows only
// when b is killed, every violation's id names b (p3), two runs (with
// two workers and one) give the same result, as do two shards merged,
// and the id replays it.
func TestProcessKill(t *testing.T) {
	opts := Options{Fault: ProcessKill, Schedules: 2, Workers: 2}
	good, err := Explore(twoWriters("two-writers", false), opts)
	if err != nil {
		t.Fatal(err)
	}
	if good.RunError != "" || len(good.Violations) != 0 {
		t.Fatalf("correct writers: run error %q, %d violations, first %+v", good.RunError, len(good.Violations), good.Violations)
	}
	// Their recovery crashed too: it is judged with the operations the
	// kill left open as the recovery it crashed.
	if rc, err := Explore(twoWriters("two-writers", false), Options{Fault: ProcessKill, RecoveryCrashes: true}); err != nil || !rc.OK() {
		t.Fatalf("correct writers with crashes of the recovery: %v, %+v", err, rc.Violations)
	}
	killed := map[string]bool{}
	for _, p := range good.Points {
		killed[strings.Fields(p.At)[0]] = true
	}
	if !killed["p2"] || !killed["p3"] || len(killed) != 2 {
		t.Fatalf("kills of %v, want of p2 and p3 only (p1 is the workload's own)", killed)
	}

	sc := twoWriters("two-writers-bug", true)
	res, err := Explore(sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.RunError != "" || len(res.Violations) == 0 {
		t.Fatalf("b publishing before its data: run error %q, no violation", res.RunError)
	}
	for _, v := range res.Violations {
		id, err := ParseReplayID(v.ReplayID)
		if err != nil {
			t.Fatal(err)
		}
		if id.Fault != ProcessKill || id.Choice != "p3" || !strings.HasPrefix(v.At, "p3 killed after ") {
			t.Errorf("violation at %q, id %s: want b (p3) killed", v.At, v.ReplayID)
		}
	}
	again, err := Explore(sc, Options{Fault: ProcessKill, Schedules: 2, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ids(res) != ids(again) || res.CrashPoints != again.CrashPoints || res.Unique != again.Unique {
		t.Fatalf("two runs differ:\n%s (%d points, %d unique)\n%s (%d points, %d unique)", ids(res), res.CrashPoints, res.Unique, ids(again), again.CrashPoints, again.Unique)
	}

	// Two shards, merged, are the whole run.
	var parts []*Result
	for i := range 2 {
		r, err := Explore(sc, Options{Fault: ProcessKill, Schedules: 2, Workers: 2, Shard: Shard{I: i, N: 2}})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, r)
	}
	merged, err := Merge(parts...)
	if err != nil {
		t.Fatal(err)
	}
	if ids(merged) != ids(res) {
		t.Fatalf("two shards merged:\n%s\nthe whole run:\n%s", ids(merged), ids(res))
	}

	v := res.Violations[0]
	id, _ := ParseReplayID(v.ReplayID)
	r, err := RunReplay(sc, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Violation == nil || r.Violation.Problem != v.Problem || r.Violation.At != v.At {
		t.Fatalf("replay of %s: %q at %q, want %q at %q", v.ReplayID, r.Verdict, atOf(r.Violation), v.Problem, v.At)
	}
	if !slices.ContainsFunc(r.Trace, func(e Event) bool { return e.Kind == "kill" && e.Proc == 3 }) {
		t.Errorf("replay's trace has no kill of p3")
	}

	// The same point named with the other process is not that kill.
	id.Choice = "p2"
	if _, err := RunReplay(sc, id); !errors.Is(err, ErrDiverged) {
		t.Errorf("replay killing p2 at b's operation: %v, want ErrDiverged", err)
	}
}

func ids(r *Result) string {
	var b strings.Builder
	for _, v := range r.Violations {
		b.WriteString(v.ReplayID + " " + v.Problem + "\n")
	}
	return b.String()
}

func atOf(v *Violation) string {
	if v == nil {
		return ""
	}
	return v.At
}

// TestProcessKillOpenOperation: a process killed inside an operation
// leaves it open, and the recovered state may hold it or not; a kill
// that makes the survivors fail is a violation.
func TestProcessKillOpenOperation(t *testing.T) {
	check := models.NewPrefix(recordSet())
	for _, r := range []string{"x", "y", "z"} {
		check.Invoke(r)
	}
	check.DurableAll()
	alts := withoutEach(check, []int{2})
	if len(alts) != 1 {
		t.Fatalf("%d alternatives, want 1", len(alts))
	}
	j := job{check: check, open: []int{2}, alts: alts, killed: 3}
	if bad := j.judge(outcome{state: []string{"x", "z"}}); bad != nil {
		t.Errorf("without the open operation: %s", bad.problem)
	}
	if bad := j.judge(outcome{state: []string{"x", "y", "z"}}); bad != nil {
		t.Errorf("with the open operation: %s", bad.problem)
	}
	if bad := j.judge(outcome{state: []string{"x"}}); bad == nil || !strings.Contains(bad.problem, "#2") {
		t.Errorf("a returned operation lost: %v", bad)
	}
	j.failed = "reader: torn blob"
	if bad := j.judge(outcome{state: []string{"x", "y", "z"}}); bad == nil || !strings.Contains(bad.problem, "after p3 was killed") {
		t.Errorf("survivors failed: %v", bad)
	}
}

// TestParseKillChoice: the choice of a kill names a process other than
// the workload's.
func TestParseKillChoice(t *testing.T) {
	for s, want := range map[string]int{"p2": 2, "p17": 17, "p1": 0, "keep": 0, "3": 0, "p": 0} {
		got, err := parseKillChoice(s)
		if got != want || (err == nil) != (want > 0) {
			t.Errorf("parseKillChoice(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
}

// TestKillsInsideCopy: a copy of more than killsPerCopy pieces gives
// killsPerCopy places — after its first piece, one drawn from the seed,
// the one before the last, the last — the same in every run; shorter
// copies give every piece.
func TestKillsInsideCopy(t *testing.T) {
	places := func(seed uint64, first, n int) []int {
		x := &explorer{opts: Options{Seed: seed}}
		var got []int
		for i := 1; i <= n; i++ {
			if x.killsInside(i, n, first+i-1) {
				got = append(got, i)
			}
		}
		return got
	}
	if got := places(0, 7, 3); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("3 pieces: places %v, want all", got)
	}
	drawn := map[int]bool{}
	for seed := range uint64(20) {
		got := places(seed, 40, 12)
		if len(got) != killsPerCopy || got[0] != 1 || got[2] != 11 || got[3] != 12 || got[1] < 2 || got[1] > 10 {
			t.Fatalf("seed %d, 12 pieces: places %v", seed, got)
		}
		if again := places(seed, 40, 12); !slices.Equal(got, again) {
			t.Fatalf("seed %d: places %v, then %v", seed, got, again)
		}
		drawn[got[1]] = true
	}
	if len(drawn) < 3 {
		t.Errorf("the piece drawn in between is %v over 20 seeds: not drawn", drawn)
	}
}

// TestProcessKillSurvivorFails: a survivor that fails after a kill — a
// reader that finds a record flagged whole but torn, left by a writer
// killed between its flag and its data — is a violation of that kill,
// whatever the recovery returns; the run without a kill is no error.
func TestProcessKillSurvivorFails(t *testing.T) {
	const rec = "0123456789abcdef"
	sc := &Scenario{
		Name:   "torn-for-reader",
		Faults: []Fault{ProcessKill},
		Model:  recordSet(),
		Run: func(env *Env) error {
			f, err := env.FS.OpenFile(killSlots, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				return err
			}
			if err := f.Truncate(engine.PageSize); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			mapped := func(env *Env, f func(r engine.Region) error) error {
				file, err := env.FS.OpenFile(killSlots, os.O_RDWR, 0)
				if err != nil {
					return err
				}
				defer file.Close()
				r, err := env.FS.Map(file, engine.PageSize)
				if err != nil {
					return err
				}
				defer r.Close()
				return f(r)
			}
			m := env.Machine()
			w := m.Start("writer").Go(func(env *Env) error {
				return mapped(env, func(r engine.Region) error {
					if err := r.Store64(0, flagFilled); err != nil { // the flag first: wrong
						return err
					}
					_, err := r.WriteAt([]byte(rec), 8)
					return err
				})
			})
			if err := w.Wait(); err != nil && !errors.Is(err, ErrKilled) {
				return err
			}
			err = m.Start("reader").Go(func(env *Env) error {
				return mapped(env, func(r engine.Region) error {
					flag, err := r.Load64(0)
					if err != nil {
						return err
					}
					b := make([]byte, len(rec))
					if _, err := r.ReadAt(b, 8); err != nil {
						return err
					}
					if flag == flagFilled && string(b) != rec {
						return fmt.Errorf("reader: a record flagged whole reads %q", b)
					}
					return nil
				})
			}).Wait()
			if errors.Is(err, ErrKilled) {
				return nil
			}
			return err
		},
		Recover: func(env *Env) (any, error) { return []string{}, nil },
	}
	res, err := Explore(sc, Options{Fault: ProcessKill})
	if err != nil {
		t.Fatal(err)
	}
	if res.RunError != "" || len(res.Violations) == 0 {
		t.Fatalf("run error %q, %d violations: want the reader's failure", res.RunError, len(res.Violations))
	}
	for _, v := range res.Violations {
		if !strings.HasPrefix(v.Problem, "after p2 was killed, the workload failed: reader: a record flagged whole reads") {
			t.Errorf("%s: %s", v.At, v.Problem)
		}
	}
	if !slices.ContainsFunc(res.Points, func(p Point) bool { return strings.HasPrefix(p.At, "p3 killed") }) {
		t.Errorf("the reader (p3) was never killed")
	}
}

// TestProcessKillLinearizable: a scenario of several processes judged by
// durable linearizability under ProcessKill. The two writers pass and
// b's bug is caught only by a kill of b, by the history (no withoutEach
// alternatives: porcupine takes an operation the kill left open as
// pending). And in markedAfterKill, the operation the killed process was
// inside stays pending — its Return after the kill is void — and nothing
// it marks after the kill enters the history: neither an operation
// invoked and returned then, nor the completion of a sync (buffered).
func TestProcessKillLinearizable(t *testing.T) {
	opts := Options{Fault: ProcessKill, Schedules: 2, Workers: 2}
	good := twoWriters("two-writers", false)
	good.Check = DurableLinearizability
	if res, err := Explore(good, opts); err != nil || !res.OK() {
		t.Fatalf("correct writers: %v, run error %q, violations %+v", err, res.RunError, res.Violations)
	}
	bug := twoWriters("two-writers-bug", true)
	bug.Check = DurableLinearizability
	res, err := Explore(bug, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.RunError != "" || len(res.Violations) == 0 {
		t.Fatalf("b publishing before its data: run error %q, no violation", res.RunError)
	}
	for _, v := range res.Violations {
		if !strings.HasPrefix(v.At, "p3 killed after ") || !strings.Contains(v.Problem, "not durably linearizable") {
			t.Errorf("%q at %q: want not durably linearizable, b (p3) killed", v.Problem, v.At)
		}
	}

	// markedAfterKill: where a kill after each file's operations must
	// be caught (true) or not, by kind.
	for _, c := range []struct {
		kind   CheckKind
		caught map[string]bool
	}{
		{DurableLinearizability, map[string]bool{"/x": false, "/s": true, "/y": true}},
		{BufferedDurableLinearizability, map[string]bool{"/x": false, "/s": false, "/y": true}},
	} {
		res, err := Explore(markedAfterKill(c.kind), Options{Fault: ProcessKill})
		if err != nil {
			t.Fatal(err)
		}
		if res.RunError != "" {
			t.Fatalf("%v: run error %q", c.kind, res.RunError)
		}
		killedAt, caught := map[string]bool{}, map[string]bool{}
		for _, p := range res.Points {
			killedAt[fileOf(p.At)] = true
		}
		for _, v := range res.Violations {
			caught[fileOf(v.At)] = true
		}
		for file, want := range c.caught {
			if !killedAt[file] {
				t.Errorf("%v: never killed after an operation on %s (points %+v)", c.kind, file, res.Points)
			}
			if caught[file] != want {
				t.Errorf("%v: killed after %s: caught %v, want %v (violations %+v)", c.kind, file, caught[file], want, res.Violations)
			}
		}
	}
}

// fileOf returns which of markedAfterKill's files a kill's place names.
func fileOf(at string) string {
	for _, f := range []string{"/x", "/s", "/y"} {
		if strings.Contains(at, " "+f+" ") {
			return f
		}
	}
	return ""
}

// markedAfterKill is a workload whose process a invokes x, writes /x
// and returns x; calls a sync, writes /s and completes the sync; invokes
// and returns y and writes /y. Recovery always finds the record set
// empty. Killed after /x, x is pending (its Return is void) and the rest
// never happened: nothing to miss. Killed after /s, x returned and is
// lost, which durable linearizability catches; buffered, the sync never
// completed (its completion is void) and x may be lost. Killed after
// /y, x returned before a completed sync and is lost: caught either way.
func markedAfterKill(kind CheckKind) *Scenario {
	write := func(env *Env, path string) error {
		f, err := env.FS.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt([]byte{1}, 0); err != nil {
			return err
		}
		return f.Close()
	}
	return &Scenario{
		Name:   "marked-after-kill",
		Faults: []Fault{ProcessKill},
		Model:  recordSet(),
		Check:  kind,
		Run: func(env *Env) error {
			t := env.Machine().Start("a").Go(func(env *Env) error {
				env.Invoke("x")
				if err := write(env, "/x"); err != nil {
					return err
				}
				env.Return(nil)
				synced := env.Syncing()
				if err := write(env, "/s"); err != nil {
					return err
				}
				synced()
				env.Invoke("y")
				env.Return(nil)
				return write(env, "/y")
			})
			if err := t.Wait(); err != nil && !errors.Is(err, ErrKilled) {
				return err
			}
			return nil
		},
		Recover: func(env *Env) (any, error) { return []string{}, nil },
	}
}
