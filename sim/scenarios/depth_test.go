package scenarios

import (
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// TestDepthTwoBugs: the cross-failure bug variants (docs/DESIGN.md F4) — a
// WAL whose Resume never cuts a torn tail, and a pool whose Open takes the
// epoch of the open before it — pass every exploration at one crash, under
// every fault model and strategy, with crashes during the recovery too;
// at the default depth, two (with 64 states per crash point), each is
// caught: the WAL when a power failure tears a batch (a process crash
// tears no frame), the pool under both fault models. Each violation names
// both crashes, or the continuation that could not go on, and replays to
// the same problem.
func TestDepthTwoBugs(t *testing.T) {
	for _, name := range depthTwoBugs {
		sc, _ := Lookup(name)
		every(sc, func(o sim.Options) {
			for _, rc := range []bool{false, true} {
				o.MaxStates, o.CrashDepth, o.RecoveryCrashes = 64, 1, rc
				if rc {
					o.MaxStates = 8
				}
				res, err := sim.Explore(sc, o)
				if err != nil || res.RunError != "" || len(res.Violations) != 0 {
					t.Errorf("%s at one crash, %v/%v, recovery crashes %v: %v %s, %d violations; want none", name, o.Fault, o.Strategy, rc, err, res.RunError, len(res.Violations))
				}
			}
		})
	}
	for _, c := range []struct {
		name     string
		fault    sim.Fault
		caught   bool
		liveness bool
		problem  string
	}{
		{"wal-bug-resume-keeps-tear", sim.PowerFailure, true, false, "matches no prefix"},
		{"wal-bug-resume-keeps-tear", sim.ProcessCrash, false, false, ""},
		{"pool-bug-epoch-reused", sim.PowerFailure, true, true, "after its recovery the program could not go on: the map's persistent lock is held"},
		{"pool-bug-epoch-reused", sim.ProcessCrash, true, true, "after its recovery the program could not go on: the map's persistent lock is held"},
	} {
		sc, _ := Lookup(c.name)
		res, err := sim.Explore(sc, sim.Options{Fault: c.fault, MaxStates: 64})
		if err != nil {
			t.Fatal(err)
		}
		if res.CrashDepth != 2 || res.Continuations == 0 || (len(res.Violations) > 0) != c.caught {
			t.Errorf("%s under a %v crash: depth %d, %d continuations, %d violations; want depth 2, caught %v",
				c.name, c.fault, res.CrashDepth, res.Continuations, len(res.Violations), c.caught)
			continue
		}
		if !c.caught {
			continue
		}
		v := res.Violations[0]
		if v.Liveness != c.liveness || v.Epochs() != 2 || !strings.Contains(v.Problem, c.problem) {
			t.Errorf("%s under a %v crash: liveness %v, %d epochs, problem %q; want liveness %v, 2 epochs, %q",
				c.name, c.fault, v.Liveness, v.Epochs(), v.Problem, c.liveness, c.problem)
		}
		id, err := sim.ParseReplayID(v.ReplayID)
		if err != nil || id.Depth() != 2 {
			t.Fatalf("%s: replay id %q: %+v, %v", c.name, v.ReplayID, id, err)
		}
		rp, err := sim.RunReplay(sc, id)
		if err != nil || rp.Violation == nil || rp.Violation.Problem != v.Problem || len(rp.Epochs) != 1 {
			t.Errorf("%s: replay %s: %v, %+v", c.name, v.ReplayID, err, rp)
		}
	}
}
