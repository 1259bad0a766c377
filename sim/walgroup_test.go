package sim_test

import (
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
	"github.com/crashsim/crashsim/sim/scenarios"
)

// TestWALGroupEarlyAckReplay: a violation of wal-bug-group-early-ack that
// PCT found in a later schedule (one the interleaving of the engine's own
// group commit decides, the WAL's code unchanged but for the bug) has a
// replay id naming that schedule; replaying it gives the same violation
// and the same interleaving — the explored schedule's trace, thread by
// thread, up to the crash point — every time, and not schedule 0's.
func TestWALGroupEarlyAckReplay(t *testing.T) {
	sc, ok := scenarios.Lookup("wal-bug-group-early-ack")
	if !ok {
		t.Fatal("no scenario wal-bug-group-early-ack")
	}
	opts := sim.Options{Fault: sim.PowerFailure, Strategy: sim.DropAll, Scheduler: sim.PCTScheduler, Depth: 2, Seed: 0, Schedules: 8, CrashDepth: 1}
	res, traces, err := sim.ExploreTraces(sc, opts)
	if err != nil || res.RunError != "" || len(res.Violations) == 0 {
		t.Fatalf("%v %q: %d violations", err, res.RunError, len(res.Violations))
	}
	v := res.Violations[0]
	schedule := res.Points[v.Point].Schedule
	if schedule == 0 || !strings.Contains(v.ReplayID, "+pct2+s") {
		t.Fatalf("violation in schedule %d, id %s: want a later schedule, named in the id", schedule, v.ReplayID)
	}
	id, err := sim.ParseReplayID(v.ReplayID)
	if err != nil {
		t.Fatal(err)
	}
	explored := eventsText(traces[schedule])
	for range 3 {
		r, err := sim.RunReplay(sc, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Violation == nil || r.Violation.Problem != v.Problem {
			t.Fatalf("the replay judged %q, the run %q", r.Verdict, v.Problem)
		}
		replayed := eventsText(r.Trace)
		if !strings.HasPrefix(explored, replayed) {
			t.Fatalf("the replay's trace is not schedule %d's:\n%s\n--- replayed:\n%s", schedule, explored, replayed)
		}
		if strings.HasPrefix(eventsText(traces[0]), replayed) {
			t.Fatalf("schedule 0 traces as the replay does: the test shows nothing")
		}
		if n := strings.Count(replayed, "durable"); n == 0 {
			t.Fatalf("no acknowledgement in the replayed trace:\n%s", replayed)
		}
	}
}

func eventsText(events []sim.Event) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.String() + "\n")
	}
	return b.String()
}
