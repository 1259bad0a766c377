package scenarios

import (
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// TestShmSeeds: the blob store's scenarios pass on several seeds (other
// blob sizes, other acknowledgements), and a crash during the recovery —
// which attaches, checks, walks, appends and cleans up — is explored and
// recovered again.
func TestShmSeeds(t *testing.T) {
	for _, name := range []string{"shm-append", "shm-append-power"} {
		sc, _ := Lookup(name)
		every(sc, func(o sim.Options) {
			for seed := range uint64(4) {
				o.Seed = seed
				sim.Check(t, sc, o)
			}
			o.RecoveryCrashes = true
			o.Budget = sim.Budget{States: 3000}
			sim.Check(t, sc, o)
		})
	}
}

// TestShmBugsCaught: each bug variant is caught, by what its mistake
// leaves: under a process crash, a torn blob taken for whole (no prefix of
// the appends), a published entry of the wrong size (recovery finds the
// chunk corrupt), unacknowledged blobs freed (no prefix); under a power
// failure, a handle from before it viewed in the fresh namespace.
func TestShmBugsCaught(t *testing.T) {
	for _, c := range []struct {
		name, problem string
		fault         sim.Fault
	}{
		{"shm-bug-publish-before-data", "matches no prefix", sim.ProcessCrash},
		{"shm-bug-split-publish", "corrupt shared memory", sim.ProcessCrash},
		{"shm-bug-free-unacked", "matches no prefix", sim.ProcessCrash},
		{"shm-bug-view-no-gen-check", "views in the new namespace", sim.PowerFailure},
	} {
		sc, _ := Lookup(c.name)
		for seed := range uint64(3) {
			res, err := sim.Explore(sc, sim.Options{Fault: c.fault, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			if res.RunError != "" {
				t.Errorf("%s seed %d: the workload failed: %s", c.name, seed, res.RunError)
			}
			if len(res.Violations) == 0 {
				t.Errorf("%s seed %d: not caught", c.name, seed)
				continue
			}
			if p := res.Violations[0].Problem; !strings.Contains(p, c.problem) {
				t.Errorf("%s seed %d: %q, want %q", c.name, seed, p, c.problem)
			}
		}
	}
}
