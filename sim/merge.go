package sim

import (
	"fmt"
	"slices"
	"strings"
)

// Merge puts the results of every shard of one run together into the
// result one machine gives for the whole run (see Shard): the crash points
// and their counts, which every shard has; the violations of all the
// shards, keeping per crash point each distinct cause (Violation.Cause,
// grouped by its shrunk units) from its lowest state (Violation.State),
// or for a point without causes the violation of its lowest state, as
// the whole run does; each point's count of failing states, the
// recoveries and the continuations (Result.Continuations,
// ContinuationStates), added up; and the longest shard's time as Elapsed. Shard
// is "all". The shards may come in any order; the merged result shares the
// violations' lists with them and changes none of them. A single whole
// run is returned as a copy.
//
// It refuses, with an ErrMerge naming what differs, results that are not
// every shard of one run once each: shards of different scenarios, fault
// models, profiles, strategies, seeds, other options (Result.MaxStates …) or numbers
// of shards; a shard missing or given twice; shards stopped by a time
// budget, which each stop at a crash point of their own; and shards that
// disagree about the crash points or what they hold, as those of a
// workload that does not run the same on every machine would.
func Merge(shards ...*Result) (*Result, error) {
	if len(shards) == 0 {
		return nil, fmt.Errorf("%w: no results to merge", ErrMerge)
	}
	parts := make([]Shard, len(shards))
	for i, r := range shards {
		if r == nil {
			return nil, fmt.Errorf("%w: result %d is nil", ErrMerge, i)
		}
		sh, err := resultShard(r)
		if err != nil {
			return nil, err
		}
		parts[i] = sh
	}
	first, n := shards[0], max(parts[0].N, 1)
	name := runName(first)
	for i, r := range shards[1:] {
		if what, a, b := differ(first, r); what != "" {
			return nil, fmt.Errorf("%w: %s: shards %s and %s differ in %s: %s and %s", ErrMerge, name, parts[0], parts[i+1], what, a, b)
		}
		if m := max(parts[i+1].N, 1); m != n {
			if n == 1 || m == 1 {
				return nil, fmt.Errorf("%w: %s: a whole run and a shard (%s and %s)", ErrMerge, name, parts[0], parts[i+1])
			}
			return nil, fmt.Errorf("%w: %s: shards of a run split %d ways and of one split %d ways (%s and %s)", ErrMerge, name, n, m, parts[0], parts[i+1])
		}
	}
	if n == 1 {
		if len(shards) > 1 {
			return nil, fmt.Errorf("%w: %s: %d whole runs; only the shards of one run merge", ErrMerge, name, len(shards))
		}
		c := *first
		c.Points = slices.Clone(first.Points)
		c.Violations = slices.Clone(first.Violations)
		return &c, nil
	}

	byIndex := make([]*Result, n)
	for i, r := range shards {
		if byIndex[parts[i].I] != nil {
			return nil, fmt.Errorf("%w: %s: shard %s is given twice", ErrMerge, name, parts[i])
		}
		byIndex[parts[i].I] = r
	}
	var missing []string
	for i, r := range byIndex {
		if r == nil {
			missing = append(missing, Shard{I: i, N: n}.String())
		}
	}
	if len(missing) > 0 {
		if len(missing) == 1 {
			return nil, fmt.Errorf("%w: %s: shard %s is missing", ErrMerge, name, missing[0])
		}
		last := len(missing) - 1
		return nil, fmt.Errorf("%w: %s: shards %s and %s are missing", ErrMerge, name, strings.Join(missing[:last], ", "), missing[last])
	}
	for i, r := range byIndex {
		if r.Stopped == "time budget" {
			return nil, fmt.Errorf("%w: %s: shard %s was stopped by its time budget: each shard stops at a crash point of its own, so they do not add up to one run (a state budget does not have this problem)",
				ErrMerge, name, Shard{I: i, N: n})
		}
	}
	for i, r := range byIndex[1:] {
		if what := disagree(byIndex[0], r); what != "" {
			return nil, fmt.Errorf("%w: %s: shards %s and %s disagree about %s: the workload does not run the same on every machine, or the shards ran different builds",
				ErrMerge, name, Shard{I: 0, N: n}, Shard{I: i + 1, N: n}, what)
		}
	}

	m := *byIndex[0]
	m.Shard = Shard{}.String()
	// Each shard saved its own violations' states, in its own file.
	m.Execution, m.ExecutionFile = nil, ""
	m.Points = slices.Clone(m.Points)
	for k := range m.Points {
		m.Points[k].Violations = 0
	}
	m.Recoveries, m.Continuations, m.ContinuationStates, m.Elapsed = 0, 0, 0, 0
	kept := map[string]int{}      // crash point and cause -> its violation in m.Violations
	reported := map[[2]int]bool{} // crash point and state of each violation
	m.Violations = []Violation{}
	for i, r := range byIndex {
		for k, p := range r.Points {
			m.Points[k].Violations += p.Violations
		}
		m.Recoveries += r.Recoveries
		m.Continuations += r.Continuations
		m.ContinuationStates += r.ContinuationStates
		m.Elapsed = max(m.Elapsed, r.Elapsed)
		for _, v := range r.Violations {
			if reported[[2]int{v.Point, v.State}] {
				return nil, fmt.Errorf("%w: %s: state %d of crash point %d reported twice (again by shard %s): each state is one shard's to judge",
					ErrMerge, name, v.State, v.Point, Shard{I: i, N: n})
			}
			reported[[2]int{v.Point, v.State}] = true
			// A cause is kept per point and cause; any other violation
			// only as the point's lowest state, where it has key "".
			key := fmt.Sprint(v.Point) + "\x00"
			if v.Cause {
				key += "cause" + causeKey(&v)
			}
			j, ok := kept[key]
			switch {
			case !ok:
				kept[key] = len(m.Violations)
				m.Violations = append(m.Violations, v)
			case v.State < m.Violations[j].State:
				m.Violations[j] = v
			}
		}
	}
	// A point with causes reports them only; one without, its lowest
	// failing state.
	hasCause := map[int]bool{}
	for _, v := range m.Violations {
		hasCause[v.Point] = hasCause[v.Point] || v.Cause
	}
	m.Violations = slices.DeleteFunc(m.Violations, func(v Violation) bool { return !v.Cause && hasCause[v.Point] })
	slices.SortStableFunc(m.Violations, func(a, b Violation) int {
		if a.Point != b.Point {
			return a.Point - b.Point
		}
		return a.State - b.State
	})
	return &m, nil
}

// MergeRuns merges the shards among results run by run: the results whose
// Shard is a part ("i/n") are grouped by scenario, fault model, profile
// and strategy, and each group is merged with Merge in the place of its
// first shard; whole runs pass through. So the results of every shard of a
// `crashsim run` of many scenarios become one result per run, in their
// order. At most one sharded run of each scenario, fault model, profile
// and strategy can be among results: two (of two seeds, say) are refused
// as shards that differ.
func MergeRuns(results []*Result) ([]*Result, error) {
	type key struct {
		scenario string
		fault    Fault
		profile  string
		strategy Strategy
	}
	type group struct {
		at     int // in out
		shards []*Result
	}
	var (
		out    []*Result
		groups []*group
		byKey  = map[key]*group{}
	)
	for i, r := range results {
		if r == nil {
			return nil, fmt.Errorf("%w: result %d is nil", ErrMerge, i)
		}
		sh, err := resultShard(r)
		if err != nil {
			return nil, err
		}
		if sh.N <= 1 {
			out = append(out, r)
			continue
		}
		k := key{r.Scenario, r.Fault, r.Profile, r.Strategy}
		g := byKey[k]
		if g == nil {
			g = &group{at: len(out)}
			out = append(out, nil)
			groups = append(groups, g)
			byKey[k] = g
		}
		g.shards = append(g.shards, r)
	}
	for _, g := range groups {
		m, err := Merge(g.shards...)
		if err != nil {
			return nil, err
		}
		out[g.at] = m
	}
	return out, nil
}

// resultShard parses a result's Shard: "i/n", or "all" (or nothing, in a
// hand-made result) for the whole run.
func resultShard(r *Result) (Shard, error) {
	if r.Shard == "" || r.Shard == (Shard{}).String() {
		return Shard{}, nil
	}
	sh, err := ParseShard(r.Shard)
	if err != nil {
		return Shard{}, fmt.Errorf("%w: %s: shard %q: want i/n or all", ErrMerge, runName(r), r.Shard)
	}
	return sh, nil
}

func runName(r *Result) string {
	return fmt.Sprintf("%s %v/%v", r.Scenario, r.Fault, r.Strategy)
}

// runFields are what makes results parts of one run, besides the number
// of shards: every option recorded in a Result.
var runFields = []struct {
	name string
	get  func(*Result) any
}{
	{"scenario", func(r *Result) any { return r.Scenario }},
	{"fault model", func(r *Result) any { return r.Fault }},
	{"profile", func(r *Result) any { return r.Profile }},
	{"strategy", func(r *Result) any { return r.Strategy }},
	{"seed", func(r *Result) any { return r.Seed }},
	{"granularity", func(r *Result) any { return r.Granularity }},
	{"max states", func(r *Result) any { return r.MaxStates }},
	{"state budget", func(r *Result) any { return r.BudgetStates }},
	{"time budget", func(r *Result) any { return r.BudgetTime }},
	{"garbage tail", func(r *Result) any { return r.GarbageTail }},
	{"tail seed", func(r *Result) any { return r.TailSeed }},
	{"recovery crashes", func(r *Result) any { return r.RecoveryCrashes }},
	{"scheduler", func(r *Result) any { return r.Scheduler }},
	{"PCT depth", func(r *Result) any { return r.Depth }},
	{"switch bound", func(r *Result) any { return r.Switches }},
	{"schedules", func(r *Result) any { return r.Schedules }},
	{"crash depth", func(r *Result) any { return max(r.CrashDepth, 1) }},
	{"max chains", func(r *Result) any { return r.MaxChains }},
}

// differ returns the first run field in which a and b differ, and their
// values, or "".
func differ(a, b *Result) (what, va, vb string) {
	for _, f := range runFields {
		if x, y := f.get(a), f.get(b); x != y {
			return f.name, fmt.Sprint(x), fmt.Sprint(y)
		}
	}
	return "", "", ""
}

// disagree says what two shards of one run report differently of what
// every shard computes whole — the crash points, their states, the
// deduplication, the workload's fate — or "".
func disagree(a, b *Result) string {
	switch {
	case a.RunError != b.RunError:
		return fmt.Sprintf("the workload's error: %q and %q", a.RunError, b.RunError)
	case a.Stopped != b.Stopped:
		return fmt.Sprintf("why the run stopped: %q and %q", a.Stopped, b.Stopped)
	case len(a.Points) != len(b.Points) || a.CrashPoints != b.CrashPoints:
		return fmt.Sprintf("the crash points reached: %d and %d", a.CrashPoints, b.CrashPoints)
	case a.Interleavings != b.Interleavings || a.Threads != b.Threads || a.Steps != b.Steps || a.Nondeterministic != b.Nondeterministic:
		return fmt.Sprintf("the interleavings: %d of %d threads in %d steps, and %d of %d threads in %d steps", a.Interleavings, a.Threads, a.Steps, b.Interleavings, b.Threads, b.Steps)
	case a.States != b.States || a.StatesExact != b.StatesExact || a.Explored != b.Explored || a.Unique != b.Unique:
		return fmt.Sprintf("the states: %d explored of %d, %d unique, and %d of %d, %d unique", a.Explored, a.States, a.Unique, b.Explored, b.States, b.Unique)
	}
	for k, p := range a.Points {
		q := b.Points[k]
		p.Violations, q.Violations = 0, 0
		if p != q {
			return fmt.Sprintf("crash point %d: %+v and %+v", p.Index, p, q)
		}
	}
	return ""
}
