package reports

import (
	"testing"

	"github.com/crashsim/crashsim/sim"
)

func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		r    sim.Result
		want string
		good bool
	}{
		{sim.Result{}, VerdictPass, true},
		{sim.Result{Violations: make([]sim.Violation, 1)}, VerdictFail, false},
		{sim.Result{Buggy: true, Violations: make([]sim.Violation, 1)}, VerdictCaught, true},
		{sim.Result{Buggy: true}, VerdictNotSeen, true},
		{sim.Result{Buggy: true, RunError: "x", Violations: make([]sim.Violation, 1)}, VerdictError, false},
	} {
		if got := Verdict(&c.r); got != c.want || Good(got) != c.good {
			t.Errorf("Verdict(%+v) = %q (good %v), want %q (good %v)", c.r, got, Good(got), c.want, c.good)
		}
	}
}

func TestVerdictsMissedOnlyWhenNoRunCaught(t *testing.T) {
	a := &sim.Result{Scenario: "a-bug-x", Buggy: true}
	aCaught := &sim.Result{Scenario: "a-bug-x", Buggy: true, Violations: make([]sim.Violation, 1)}
	b := &sim.Result{Scenario: "b-bug-y", Buggy: true}
	shard := &sim.Result{Scenario: "c-bug-z", Buggy: true, Shard: "1/4"} // the other shards may catch it
	// A whole run beside a shard of the same variant: its other shards may
	// still catch it, as the scenario's outcome says (NotSeen).
	whole := &sim.Result{Scenario: "d-bug-w", Buggy: true, Fault: sim.ProcessCrash, Shard: "all"}
	dShard := &sim.Result{Scenario: "d-bug-w", Buggy: true, Shard: "0/2"}
	got := verdicts([]*sim.Result{a, aCaught, b, nil, shard, whole, dShard})
	want := []string{VerdictNotSeen, VerdictCaught, VerdictMissed, "", VerdictNotSeen, VerdictNotSeen, VerdictNotSeen}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("verdicts()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestOutcomes(t *testing.T) {
	rs := fixture()
	// A bug variant that errored in one run is not good even if caught.
	errored := &sim.Result{Scenario: "wal-bug-no-sync", Buggy: true, RunError: "boom"}
	got := Outcomes(append(rs, nil))
	want := []struct {
		name      string
		runs      int
		good      bool
		caughtRun *sim.Result
	}{
		{"wal", 2, true, nil},
		{"wal-bug-no-sync", 2, true, rs[2]},
		{"vec", 1, false, nil},
		{"shm", 1, false, nil},
	}
	if len(got) != len(want) {
		t.Fatalf("%d outcomes, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		o := got[i]
		if o.Scenario != w.name || len(o.Runs) != w.runs || o.Good != w.good || o.Caught != w.caughtRun {
			t.Errorf("outcome %d = %s runs %d good %v caught %p; want %s %d %v %p", i, o.Scenario, len(o.Runs), o.Good, o.Caught, w.name, w.runs, w.good, w.caughtRun)
		}
	}
	if o := Outcomes(append(rs, errored)); o[1].Good {
		t.Error("a bug variant with a failed run judged good")
	}
}

// TestOutcomesNotSeen: a bug variant none of whose runs caught it is
// missed, unless some run is a shard: then it is only not seen, as the
// table's verdicts say, and still not good.
func TestOutcomesNotSeen(t *testing.T) {
	for _, c := range []struct {
		name            string
		runs            []*sim.Result
		notSeen, missed bool
	}{
		{"whole runs", []*sim.Result{{Buggy: true}, {Buggy: true, Shard: "all"}}, false, true},
		{"one shard", []*sim.Result{{Buggy: true, Shard: "1/4"}}, true, false},
		{"a shard and a whole run", []*sim.Result{{Buggy: true}, {Buggy: true, Shard: "1/4"}}, true, false},
		{"a shard that caught it", []*sim.Result{{Buggy: true, Shard: "1/4", Violations: make([]sim.Violation, 1)}}, false, false},
		{"a shard that failed to run", []*sim.Result{{Buggy: true, Shard: "1/4", RunError: "boom"}}, false, true},
	} {
		for _, r := range c.runs {
			r.Scenario = "x-bug-y"
		}
		o := Outcomes(c.runs)[0]
		if o.NotSeen != c.notSeen || (!o.Good && !o.NotSeen) != c.missed {
			t.Errorf("%s: not seen %v, good %v; want not seen %v, missed %v", c.name, o.NotSeen, o.Good, c.notSeen, c.missed)
		}
	}
}
