package scenarios

import (
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// TestPoolSparseMapCaught: the pool mapped without its blocks allocated is
// caught by the deaths issue 16 reported — the workload killed by SIGBUS
// by a store on the full disk, under a process crash and a power failure,
// and the recovery killed by SIGBUS when it reads a hole of the pool (the
// second slot of the redo log, which the workload did not reach before the
// disk filled; under a power failure the crash points are the drains,
// before the disk fills, and the end of the run, where the workload's
// death is the violation).
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
		for _, v := range res.Violations {
			workload = workload || strings.HasPrefix(v.Problem, "the workload crashed: process 1 (workload) killed by SIGBUS: store")
			recovery = recovery || strings.Contains(v.Problem, "(recovery) killed by SIGBUS: load")
		}
		if !workload || !recovery && o.Fault == sim.ProcessCrash {
			t.Errorf("%v: %d violations; the workload's death by SIGBUS among them: %v, the recovery's: %v", o.Fault, len(res.Violations), workload, recovery)
		}
	}
}
