package scenarios

import (
	"testing"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/internal/vecbug"
	"github.com/crashsim/crashsim/sim"
)

// tearingUnits are the simulator's tearing granularities a vector on the
// disk is explored at, beside its medium's own (4 KiB pages): 512-byte
// sectors, and 8-byte words — a disk that tears finer than any does.
var tearingUnits = []int{512, 8}

// TestVecTornSectors: the vector scenarios on the disk pass at every
// tearing unit, with zero-filled and garbage tails, on several seeds; the
// bug variants are caught at each.
func TestVecTornSectors(t *testing.T) {
	for _, name := range []string{"vec-append-file", "vec-set", "vec-bug-grow-before-extend"} {
		sc, _ := Lookup(name)
		for _, g := range tearingUnits {
			for _, s := range []sim.Strategy{sim.Subsets, sim.Prefixes} {
				for seed := range uint64(3) {
					o := sim.Options{Fault: sim.PowerFailure, Strategy: s, Granularity: g, Seed: seed, Tail: faultfs.Tail{Garbage: seed == 2}}
					if !sc.Buggy() {
						sim.Check(t, sc, o)
						continue
					}
					res, err := sim.Explore(sc, o)
					if err != nil {
						t.Fatal(err)
					}
					if s == sim.Subsets && len(res.Violations) == 0 {
						t.Errorf("%s at %d-byte units, seed %d: not caught", name, g, seed)
					}
				}
			}
		}
	}
}

// TestVecRecoveryCrashes: a crash during the recovery — the next writer's
// Open — is explored too and recovered again.
func TestVecRecoveryCrashes(t *testing.T) {
	for _, name := range []string{"vec-append", "vec-append-file", "vec-set"} {
		sc, _ := Lookup(name)
		for _, f := range sim.Faults {
			if !sc.Applies(f) {
				continue
			}
			sim.Check(t, sc, sim.Options{Fault: f, Strategy: sim.KeepAll, RecoveryCrashes: true})
		}
	}
}

// TestVecHeaderSlots shows why the header has two slots: the same
// vector with its header rewritten in place (vecbug.HeaderInPlace) loses
// acknowledged appends where a header write can tear — on persistent
// memory (8-byte words) and on a disk that tears at 8 bytes — and passes
// only where a slot is written whole: on a disk that writes 512-byte
// sectors atomically, since a slot is the head of a sector of its own.
// The vector as built passes everywhere (TestVecTornSectors).
func TestVecHeaderSlots(t *testing.T) {
	for _, c := range []struct {
		file   string
		unit   int
		caught bool
	}{
		{vecPMemFile, 0, true},
		{vecDiskFile, 8, true},
		{vecDiskFile, 512, false},
		{vecDiskFile, 0, false},
	} {
		sc := vecAppend("vec-header-in-place", "BUG: the header written in place", c.file, vecbug.HeaderInPlace)
		res, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, Granularity: c.unit})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(res.Violations) > 0; got != c.caught {
			t.Errorf("header in place in %s at %d-byte units: caught %v, want %v (%d violations)", c.file, c.unit, got, c.caught, len(res.Violations))
		}
	}
}
