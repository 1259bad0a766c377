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
	got := verdicts([]*sim.Result{a, aCaught, b, nil, shard})
	want := []string{VerdictNotSeen, VerdictCaught, VerdictMissed, "", VerdictNotSeen}
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
