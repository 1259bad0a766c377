package boltcrash

import (
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

func TestMain(m *testing.M) { Main(m) }

// TestBolt explores bbolt v1.5.0 under power failures and process
// crashes, two transactions after the database was made, and pins what
// the exploration finds (docs/MOUNT.md):
//
//   - once bbolt's file is made and its name durable, no acknowledged
//     transaction is lost and no recovered state is wrong in any state
//     explored: every violation is a failure to open a database whose
//     creation (bolt.Open's first write of its four pages, then fdatasync)
//     was interrupted — an error ("file size too small"), a panic ("Page
//     expected to be: 3, but self identifies as 0") or a fault past the
//     end of the mapping;
//   - bbolt never fsyncs the directory it creates its file in, so a power
//     failure can lose the database whole with every acknowledged
//     transaction (bolt-create).
func TestBolt(t *testing.T) {
	RequireMountable(t)
	for _, c := range []struct {
		name    string
		created bool
		fault   sim.Fault
		lost    bool // acknowledged transactions are lost
	}{
		{"bolt-put", true, sim.PowerFailure, false},
		{"bolt-put", true, sim.ProcessCrash, false},
		{"bolt-create", false, sim.PowerFailure, true},
	} {
		res, err := sim.Explore(Scenario(c.name, 2, c.created), sim.Options{Fault: c.fault, MaxStates: 16})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s under %v: %d crash points, %d states explored, %d recovered, %d violations, %v",
			c.name, c.fault, res.CrashPoints, res.Explored, res.Recoveries, len(res.Violations), res.Elapsed)
		if res.RunError != "" {
			t.Fatalf("%s under %v: %s", c.name, c.fault, res.RunError)
		}
		lost := false
		for _, v := range res.Violations {
			first, _, _ := strings.Cut(v.Problem, "\n")
			t.Logf("  point %d at %s: %s", v.Point, v.At, first)
			switch {
			case strings.HasPrefix(v.Problem, "acknowledged operations lost"):
				lost = true
			case !strings.HasPrefix(v.Problem, "recovery failed"):
				t.Errorf("%s under %v: %s: a recovered state is wrong", c.name, c.fault, first)
			}
		}
		if lost != c.lost {
			t.Errorf("%s under %v: acknowledged transactions lost: %v, want %v", c.name, c.fault, lost, c.lost)
		}
	}
}

// TestBoltTornMeta explores RenamedScenario under power failures that
// tear writes at 8 bytes (Options.Granularity), so that a meta page
// written at a crash can be left half old, half new: bbolt then opens the
// database from its other meta page, the transaction before, and no state
// explored recovers wrongly. boltdb v1.2.0, before the fix of boltdb/bolt
// issue 548, refuses to open such a database ("checksum error"):
// bench/boltcrash/old, TestTornMeta, and docs/MOUNT.md.
func TestBoltTornMeta(t *testing.T) {
	RequireMountable(t)
	res, err := sim.Explore(RenamedScenario("bolt-renamed", 2), sim.Options{Fault: sim.PowerFailure, MaxStates: 16, Granularity: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bolt-renamed, torn at 8 bytes: %d crash points, %d states explored, %d recovered, %d violations, %v",
		res.CrashPoints, res.Explored, res.Recoveries, len(res.Violations), res.Elapsed)
	if res.RunError != "" {
		t.Fatal(res.RunError)
	}
	for _, v := range res.Violations {
		t.Errorf("crash point %d at %s: %s", v.Point, v.At, v.Problem)
	}
}
