package scenarios

import (
	"slices"
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

// TestShmProcs: with two writer processes (three threads), a reader and
// a cleaner, the explorer kills each of them (p2 to p5) at its
// operations — after a kill of the cleaner, the supervisor's
// replacement finishes its work — and the store passes, judged by
// durable linearizability; each bug variant of the writers' append is
// caught only by a kill of a writer (p2 or p3), never of the reader or
// the cleaner; the cleaner's bug is caught whatever is killed, by the
// history alone (the slow reader resolves a blob freed under it: no
// order of the operations explains that output, crash or not); the
// variant of View is caught after a power failure, as
// shm-bug-view-no-gen-check is.
func TestShmProcs(t *testing.T) {
	sc, _ := Lookup("shm-procs")
	res := sim.Check(t, sc, sim.Options{Fault: sim.ProcessKill})
	killed := map[string]int{}
	for _, p := range res.Points {
		killed[strings.Fields(p.At)[0]]++
	}
	for _, p := range []string{"p2", "p3", "p4", "p5"} {
		if killed[p] == 0 {
			t.Errorf("shm-procs: %s never killed (kills: %v)", p, killed)
		}
	}
	for _, c := range []struct {
		name, problem string
		fault         sim.Fault
		by            []string // the processes whose kill catches it, each of them; nil: not a kill
	}{
		{"shm-procs-bug-publish-before-data", "not durably linearizable", sim.ProcessKill, []string{"p2", "p3"}},
		{"shm-procs-bug-split-publish", "corrupt shared memory", sim.ProcessKill, []string{"p2", "p3"}},
		{"shm-procs-bug-free-unacked", "not linearizable, crash or not", sim.ProcessKill, []string{"p2", "p3", "p4", "p5"}},
		{"shm-procs-bug-view-no-gen-check", "views in the new namespace", sim.PowerFailure, nil},
	} {
		sc, _ := Lookup(c.name)
		res, err := sim.Explore(sc, sim.Options{Fault: c.fault})
		if err != nil {
			t.Fatal(err)
		}
		if res.RunError != "" || len(res.Violations) == 0 {
			t.Errorf("%s: not caught (run error %q)", c.name, res.RunError)
			continue
		}
		if p := res.Violations[0].Problem; !strings.Contains(p, c.problem) {
			t.Errorf("%s: %q, want %q", c.name, p, c.problem)
		}
		by := map[string]bool{}
		for _, v := range res.Violations {
			id, err := sim.ParseReplayID(v.ReplayID)
			if err != nil {
				t.Fatal(err)
			}
			by[id.Choice] = true
			if c.by != nil && !slices.Contains(c.by, id.Choice) {
				t.Errorf("%s: caught by a kill of %s (%s), not of a writer", c.name, id.Choice, v.At)
			}
		}
		for _, p := range c.by {
			if !by[p] {
				t.Errorf("%s: never caught by a kill of %s", c.name, p)
			}
		}
	}
}
