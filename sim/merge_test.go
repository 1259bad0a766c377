package sim

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// shardsOf explores sc as n shards under opts.
func shardsOf(t *testing.T, sc *Scenario, opts Options, n int) []*Result {
	t.Helper()
	out := make([]*Result, n)
	for i := range out {
		o := opts
		o.Shard = Shard{I: i, N: n}
		r, err := Explore(sc, o)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = r
	}
	return out
}

// forgetfulLogOf appends records and loses its last one on recovery
// (forgetfulLog): a violation at most crash points, several states of one
// point failing.
func forgetfulLogOf(records int) *Scenario {
	return appendLog(slices.Repeat([][]byte{[]byte("rec")}, records), forgetfulLog)
}

// sameRun compares two results but for Elapsed and Shard.
func sameRun(a, b *Result) bool {
	x, y := *a, *b
	x.Elapsed, y.Elapsed, x.Shard, y.Shard = 0, 0, "", ""
	return reflect.DeepEqual(x, y)
}

func TestMerge(t *testing.T) {
	sc := forgetfulLogOf(4)
	opts := Options{Strategy: Subsets, Workers: 2}
	whole, err := Explore(sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.Violations) == 0 {
		t.Fatal("the forgetful log passed: nothing to merge")
	}
	for _, n := range []int{2, 3} {
		shards := shardsOf(t, sc, opts, n)
		slices.Reverse(shards)
		merged, err := Merge(shards...)
		if err != nil {
			t.Fatalf("%d shards: %v", n, err)
		}
		if !sameRun(whole, merged) || merged.Shard != "all" {
			t.Errorf("%d shards merged: %+v\nwhole run: %+v", n, merged, whole)
		}
		longest := shards[0].Elapsed
		for _, s := range shards {
			longest = max(longest, s.Elapsed)
		}
		if merged.Elapsed != longest {
			t.Errorf("%d shards merged took %v, the longest shard %v", n, merged.Elapsed, longest)
		}
	}
	alone, err := Merge(whole)
	if err != nil || !reflect.DeepEqual(alone, whole) || alone == whole {
		t.Errorf("Merge(whole run) = %p %v, want a copy of %p", alone, err, whole)
	}
}

// TestMergeRefuses: results that are not every shard of one run, once
// each, are refused with an error that names what differs.
func TestMergeRefuses(t *testing.T) {
	sc := forgetfulLogOf(3)
	base := Options{Strategy: Subsets}
	two := shardsOf(t, sc, base, 2)
	three := shardsOf(t, sc, base, 3)
	with := func(o Options, f func(*Options)) Options { f(&o); return o }
	other := func(f func(*Options)) *Result { return shardsOf(t, sc, with(base, f), 2)[1] }
	renamed := *sc
	renamed.Name = "other-log"
	tampered := func(i int, f func(*Result)) []*Result {
		c := *two[i]
		c.Points = slices.Clone(c.Points)
		f(&c)
		out := slices.Clone(two)
		out[i] = &c
		return out
	}
	whole, err := Explore(sc, base)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		shards []*Result
		want   string
	}{
		{"none", nil, "no results"},
		{"nil", []*Result{two[0], nil}, "result 1 is nil"},
		{"seed", []*Result{two[0], other(func(o *Options) { o.Seed = 9 })}, "differ in seed: 0 and 9"},
		{"scenario", []*Result{two[0], shardsOf(t, &renamed, base, 2)[1]}, "differ in scenario: append-log and other-log"},
		{"strategy", []*Result{two[0], other(func(o *Options) { o.Strategy = Prefixes })}, "differ in strategy: subsets and prefixes"},
		{"profile", []*Result{two[0], other(func(o *Options) { o.Profile = "xfs" })}, "differ in profile: posix and xfs"},
		{"max states", []*Result{two[0], other(func(o *Options) { o.MaxStates = 3 })}, "differ in max states: 256 and 3"},
		{"state budget", []*Result{two[0], other(func(o *Options) { o.Budget.States = 5 })}, "differ in state budget: 0 and 5"},
		{"recovery crashes", []*Result{two[0], other(func(o *Options) { o.RecoveryCrashes = true })}, "differ in recovery crashes: false and true"},
		{"garbage tail", []*Result{two[0], other(func(o *Options) { o.Tail.Garbage = true })}, "differ in garbage tail: false and true"},
		{"granularity", []*Result{two[0], other(func(o *Options) { o.Granularity = 512 })}, "differ in granularity: 0 and 512"},
		{"shard count", []*Result{two[0], three[1], three[2]}, "split 2 ways and of one split 3 ways"},
		{"whole and shard", []*Result{whole, two[1]}, "a whole run and a shard (all and 1/2)"},
		{"two whole runs", []*Result{whole, whole}, "2 whole runs"},
		{"missing", []*Result{three[2], three[0]}, "shard 1/3 is missing"},
		{"two missing", []*Result{three[1]}, "shards 0/3 and 2/3 are missing"},
		{"duplicate", []*Result{two[0], two[1], two[0]}, "shard 0/2 is given twice"},
		{"bad label", tampered(1, func(r *Result) { r.Shard = "1-2" }), `shard "1-2": want i/n or all`},
		{"time budget", tampered(1, func(r *Result) { r.Stopped = "time budget" }), "shard 1/2 was stopped by its time budget"},
		{"points", tampered(1, func(r *Result) { r.Points[2].Explored++ }), "disagree about crash point 2"},
		{"run error", tampered(0, func(r *Result) { r.RunError = "boom" }), `disagree about the workload's error: "boom" and ""`},
		{"scheduler", tampered(1, func(r *Result) { r.Scheduler = "pct" }), "differ in scheduler:  and pct"},
		{"schedules", tampered(1, func(r *Result) { r.Schedules = 4 }), "differ in schedules: 0 and 4"},
		{"crash depth", tampered(1, func(r *Result) { r.CrashDepth = 3 }), "differ in crash depth: 1 and 3"},
		{"max chains", tampered(1, func(r *Result) { r.MaxChains = 4 }), "differ in max chains: "},
		{"one state twice", tampered(1, func(r *Result) { r.Violations = append(r.Violations, two[0].Violations[0]) }), "reported twice (again by shard 1/2)"},
	} {
		_, err := Merge(c.shards...)
		if !errors.Is(err, ErrMerge) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrMerge saying %q", c.name, err, c.want)
		}
	}
}

// TestMergeRuns: the shards of several runs, interleaved and with whole
// runs among them, become one result per run in the order of each run's
// first result.
func TestMergeRuns(t *testing.T) {
	sc := forgetfulLogOf(3)
	power := Options{Strategy: Prefixes}
	process := Options{Fault: ProcessCrash}
	wholePower, err := Explore(sc, power)
	if err != nil {
		t.Fatal(err)
	}
	wholeProcess, err := Explore(sc, process)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := Explore(sc, Options{Strategy: DropAll})
	if err != nil {
		t.Fatal(err)
	}
	p, q := shardsOf(t, sc, power, 2), shardsOf(t, sc, process, 3)
	in := []*Result{q[2], p[1], alone, q[0], p[0], q[1]}
	out, err := MergeRuns(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || !sameRun(out[0], wholeProcess) || !sameRun(out[1], wholePower) || out[2] != alone {
		t.Errorf("MergeRuns gave %d results: %+v", len(out), out)
	}
	if _, err := MergeRuns([]*Result{q[2], p[1], alone, q[0], p[0]}); !errors.Is(err, ErrMerge) || !strings.Contains(err.Error(), "shard 1/3 is missing") {
		t.Errorf("a run's shard missing: %v", err)
	}
	if out, err := MergeRuns([]*Result{alone, wholePower}); err != nil || len(out) != 2 {
		t.Errorf("whole runs alone: %v, %v", out, err)
	}
	// The runs of two profiles are two runs, each merged of its own shards.
	xfs := power
	xfs.Profile = "xfs"
	wholeXFS, err := Explore(sc, xfs)
	if err != nil {
		t.Fatal(err)
	}
	x := shardsOf(t, sc, xfs, 2)
	out, err = MergeRuns([]*Result{p[0], x[1], p[1], x[0]})
	if err != nil || len(out) != 2 || !sameRun(out[0], wholePower) || !sameRun(out[1], wholeXFS) || out[1].Profile != "xfs" {
		t.Errorf("shards of two profiles: %v, %v", out, err)
	}
}
