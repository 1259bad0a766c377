package scenarios

import (
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// TestPoolSparseMapCaught: the pool mapped without its blocks allocated is
// caught by the deaths issue 16 reported — the workload killed by SIGBUS
// by a store on the full disk, under a process crash and a power failure,
// and, under a process crash, the recovery killed by SIGBUS when it reads
// a hole of the pool: the second slot of the redo log, which nothing wrote
// before the disk filled, at every crash point after it filled.
//
// Under a power failure the recovery cannot die so in this workload, and
// the test asserts what happens instead. A load of a hole kills only on a
// full disk, and the crash points of a power failure are the barriers and
// the end of the workload. No barrier comes after the disk fills: the
// workload's first store after it, the first line of the first Update's
// log into that second slot, comes before the Update's drain and kills the
// workload. So every barrier's states are recovered on a disk with room,
// and must all be correct; and the end's states are judged as the
// workload's death, whatever their recovery does (sim: a death is a
// violation at the first crash point after it).
func TestPoolSparseMapCaught(t *testing.T) {
	sc, _ := Lookup("pool-bug-sparse-map")
	for _, o := range []sim.Options{{Fault: sim.ProcessCrash}, {Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 16}} {
		res, err := sim.Explore(sc, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.RunError != "" {
			t.Errorf("%v: the workload failed: %s", o.Fault, res.RunError)
		}
		var workload, recovery bool
		deathAtEnd := 0
		for _, v := range res.Violations {
			died := strings.HasPrefix(v.Problem, "the workload crashed: process 1 (workload) killed by SIGBUS: store")
			workload = workload || died
			recovery = recovery || strings.Contains(v.Problem, "(recovery) killed by SIGBUS: load")
			if died && v.At == "at the end of the workload" {
				deathAtEnd++
			}
		}
		switch o.Fault {
		case sim.ProcessCrash:
			if !workload || !recovery {
				t.Errorf("%v: %d violations; the workload's death by SIGBUS among them: %v, the recovery's: %v", o.Fault, len(res.Violations), workload, recovery)
			}
		case sim.PowerFailure:
			// Every violation is the workload's death at the end, and the
			// barriers' states, all before the disk filled, were recovered
			// and judged correct.
			if deathAtEnd == 0 || deathAtEnd != len(res.Violations) {
				t.Errorf("%v: %d violations, %d of them the workload's death by SIGBUS at the end of the workload; want that death and nothing else", o.Fault, len(res.Violations), deathAtEnd)
				for _, v := range res.Violations {
					t.Logf("%s: %s", v.At, v.Problem)
				}
			}
			if res.CrashPoints < 2 || res.Unique <= len(res.Violations) {
				t.Errorf("%v: %d crash points, %d distinct states for %d violations: want states at the barriers before the disk filled, recovered correctly", o.Fault, res.CrashPoints, res.Unique, len(res.Violations))
			}
		}
	}
}
