package scenarios

import (
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// TestDurinnBugMissedByPrefix: the counter whose readers return a value
// before it is durable passes the prefix property under every strategy
// (the writer's durability markers are right) and fails durable
// linearizability, which judges what the readers returned.
func TestDurinnBugMissedByPrefix(t *testing.T) {
	sc, _ := Lookup("pmem-counter-bug-read-unpersisted")
	prefix := *sc
	prefix.Check = sim.PrefixCheck
	caught := false
	every(sc, func(o sim.Options) {
		res, err := sim.Explore(&prefix, o)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			t.Errorf("prefix check %v/%v: %s %v, want a pass", o.Fault, o.Strategy, res.RunError, res.Violations)
		}
		res, err = sim.Explore(sc, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Violations {
			if !strings.HasPrefix(v.Problem, "not durably linearizable") {
				t.Errorf("%v/%v: problem %q, want a violation of durable linearizability", o.Fault, o.Strategy, v.Problem)
			}
			caught = true
		}
	})
	if !caught {
		t.Error("durable linearizability never caught the read before the flush")
	}
}

// TestConcurrentBugsReplayTheirInterleaving: a violation of a bug
// variant found in a later schedule replays the same interleaving: the
// replay's trace ends with the violation's excerpt, thread for thread.
func TestConcurrentBugsReplayTheirInterleaving(t *testing.T) {
	for _, c := range []struct {
		name    string
		problem string
	}{
		{"pool-bug-view-uncommitted", "not linearizable, crash or not"},
		{"pmem-counter-bug-read-unpersisted", "not durably linearizable"},
	} {
		sc, _ := Lookup(c.name)
		res, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.DropAll, Seed: 3, Schedules: 6})
		if err != nil {
			t.Fatal(err)
		}
		var v *sim.Violation
		for i := range res.Violations {
			w := &res.Violations[i]
			if strings.Contains(w.ReplayID, "+s") && strings.HasPrefix(w.Problem, c.problem) {
				v = w
				break
			}
		}
		if v == nil {
			t.Errorf("%s: no violation %q in a schedule after the first among %d", c.name, c.problem, len(res.Violations))
			continue
		}
		if v.Linearization == "" {
			t.Errorf("%s: no porcupine page", c.name)
		}
		id, err := sim.ParseReplayID(v.ReplayID)
		if err != nil {
			t.Fatal(err)
		}
		rp, err := sim.RunReplay(sc, id)
		if err != nil {
			t.Fatalf("%s: replay %s: %v", c.name, v.ReplayID, err)
		}
		if rp.Violation == nil || rp.Violation.Problem != v.Problem {
			t.Errorf("%s: replay %s: %q, want %q", c.name, v.ReplayID, rp.Verdict, v.Problem)
		}
		if len(rp.Trace) < len(v.Excerpt) {
			t.Fatalf("%s: replay trace of %d events, excerpt of %d", c.name, len(rp.Trace), len(v.Excerpt))
		}
		tail := rp.Trace[len(rp.Trace)-len(v.Excerpt):]
		for i, e := range v.Excerpt {
			if got, want := tail[i].String(), e.String(); got != want {
				t.Errorf("%s: replayed event %d is %q, the run's %q", c.name, i, got, want)
				break
			}
		}
	}
}
