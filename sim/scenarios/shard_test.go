package scenarios

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// TestShardsMergeToTheWholeRun: every built-in scenario explored as one
// run and as four shards merged gives the same result — crash points,
// counts, recoveries and violations — whatever the order the shards are
// merged in; only the time and the shard label may differ. The bug
// variants' violations make the merge pick, per crash point, the same
// failing state as the whole run. The scenarios with a continuation run at
// crash depth 2, their chains spread over the shards too: 4 of them per
// run in CI, one a shard; CRASHSIM_HEAVY=1 the default 16.
func TestShardsMergeToTheWholeRun(t *testing.T) {
	type run struct {
		sc   *sim.Scenario
		opts sim.Options
	}
	maxChains := 4
	if heavy() {
		maxChains = 0
	}
	var runs []run
	for _, sc := range All() {
		if !sc.Applies(sim.PowerFailure) {
			continue // shm-append: a process crash only; see below
		}
		runs = append(runs, run{sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 16, MaxChains: maxChains}})
	}
	for _, name := range []string{"file-replace-bug-no-fsync", "pmem-log-bug-no-drain", "wal-append", "shm-append", "shm-bug-publish-before-data"} {
		sc, _ := Lookup(name)
		if !sc.Applies(sim.PowerFailure) {
			runs = append(runs, run{sc, sim.Options{Fault: sim.ProcessCrash, Seed: 3}})
			continue
		}
		runs = append(runs,
			run{sc, sim.Options{Fault: sim.ProcessCrash, Seed: 3}},
			run{sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Prefixes, RecoveryCrashes: true}},
			run{sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 16, Budget: sim.Budget{States: 40}}})
	}
	violations := 0
	for _, r := range runs {
		whole, err := sim.Explore(r.sc, r.opts)
		if err != nil {
			t.Fatalf("%s: %v", r.sc.Name, err)
		}
		violations += len(whole.Violations)
		shards := make([]*sim.Result, 4)
		for i := range shards {
			o := r.opts
			o.Shard = sim.Shard{I: i, N: len(shards)}
			if shards[i], err = sim.Explore(r.sc, o); err != nil {
				t.Fatalf("%s shard %d: %v", r.sc.Name, i, err)
			}
		}
		rng := rand.New(rand.NewPCG(uint64(len(r.sc.Name)), 1))
		for try := range 2 {
			merged, err := sim.Merge(shards...)
			if err != nil {
				t.Fatalf("%s %+v: merge: %v", r.sc.Name, r.opts, err)
			}
			if merged.Shard != "all" {
				t.Errorf("%s: merged shard %q, want all", r.sc.Name, merged.Shard)
			}
			if d := resultDiff(whole, merged); d != "" {
				t.Errorf("%s %v/%v %+v (merge %d): the merged shards differ from the whole run: %s", r.sc.Name, r.opts.Fault, r.opts.Strategy, r.opts, try, d)
			}
			rng.Shuffle(len(shards), func(i, j int) { shards[i], shards[j] = shards[j], shards[i] })
		}
	}
	if violations == 0 {
		t.Error("no run had a violation: the merge of violations went untested")
	}
}

// resultDiff compares two results but for Elapsed and Shard, and says
// where they differ.
func resultDiff(a, b *sim.Result) string {
	x, y := *a, *b
	x.Elapsed, y.Elapsed, x.Shard, y.Shard = 0, 0, "", ""
	if reflect.DeepEqual(x, y) {
		return ""
	}
	switch {
	case !reflect.DeepEqual(x.Points, y.Points):
		return "points"
	case len(x.Violations) != len(y.Violations):
		return "number of violations"
	}
	for i := range x.Violations {
		if !reflect.DeepEqual(x.Violations[i], y.Violations[i]) {
			return "violation " + x.Violations[i].ReplayID + " vs " + y.Violations[i].ReplayID
		}
	}
	x.Points, y.Points, x.Violations, y.Violations = nil, nil, nil, nil
	return fmt.Sprintf("totals: %+v vs %+v", x, y)
}
