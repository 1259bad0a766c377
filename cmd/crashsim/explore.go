package main

import (
	"fmt"
	"path"
	"strings"

	"github.com/crashsim/crashsim/sim"
	"github.com/crashsim/crashsim/sim/scenarios"
)

// A job is one exploration: a scenario under one fault model and strategy.
// `run` and `demo` both plan a list of jobs and explore them in order.
type job struct {
	sc       *sim.Scenario
	fault    sim.Fault
	strategy sim.Strategy
}

// selectScenarios returns the built-in scenarios the patterns name, in the
// registry's (name) order, each once; no pattern means all of them. A
// pattern is a name or a path.Match glob, so 'pmem-*' needs no shell
// support; one that matches nothing is a usage error rather than a run of
// nothing that passes. The error is said to the user as it is.
func selectScenarios(patterns []string) ([]*sim.Scenario, error) {
	all := scenarios.All()
	if len(patterns) == 0 {
		return all, nil
	}
	picked := make([]bool, len(all))
	for _, pat := range patterns {
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("scenario pattern %q is not a valid glob (%v)", pat, err)
		}
		found := false
		for i, sc := range all {
			if ok, _ := path.Match(pat, sc.Name); ok {
				picked[i], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("no built-in scenario matches %q", pat)
		}
	}
	var out []*sim.Scenario
	for i, sc := range all {
		if picked[i] {
			out = append(out, sc)
		}
	}
	return out, nil
}

// parseFaults turns --fault into the fault models to try: "all" is every
// one, each scenario then keeping those that apply to it.
func parseFaults(s string) ([]sim.Fault, error) {
	if strings.EqualFold(s, "all") {
		return sim.Faults, nil
	}
	f, err := sim.ParseFault(s)
	if err != nil {
		return nil, fmt.Errorf("invalid --fault %q: want %s", s, oneOf(append(names(sim.Faults), "all")))
	}
	return []sim.Fault{f}, nil
}

// parseStrategies is parseFaults for --strategy.
func parseStrategies(s string) ([]sim.Strategy, error) {
	if strings.EqualFold(s, "all") {
		return sim.Strategies, nil
	}
	st, err := sim.ParseStrategy(s)
	if err != nil {
		return nil, fmt.Errorf("invalid --strategy %q: want %s", s, oneOf(append(names(sim.Strategies), "all")))
	}
	return []sim.Strategy{st}, nil
}

// planJobs returns every (scenario, fault, strategy) combination that
// applies, grouped by scenario in the order reports show them. A
// combination that cannot apply to any scenario — a strategy named for a
// fault model that has none such — is a usage error, and so is an empty
// plan: exit 0 after exploring nothing would read as a pass.
func planJobs(scs []*sim.Scenario, faults []sim.Fault, strategies []sim.Strategy) ([]job, error) {
	usable := false
	for _, f := range faults {
		for _, st := range strategies {
			usable = usable || st.Applies(f)
		}
	}
	if !usable {
		// Only one fault model and one strategy can miss each other: "all"
		// of either always has a combination that applies.
		return nil, fmt.Errorf("--strategy %s does not apply to --fault %s: a process crash loses nothing, so only keep-all applies",
			strings.Join(names(strategies), ","), strings.Join(names(faults), ","))
	}
	var jobs []job
	for _, sc := range scs {
		for _, f := range faults {
			if !sc.Applies(f) {
				continue
			}
			for _, st := range strategies {
				if st.Applies(f) {
					jobs = append(jobs, job{sc, f, st})
				}
			}
		}
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("no selected scenario applies to --fault %s ('crashsim list' shows the fault models of each)", strings.Join(names(faults), ","))
	}
	return jobs, nil
}

func names[T fmt.Stringer](xs []T) []string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return s
}

// untimed makes exploreJobs zero each result's time. The golden tests set
// it: how long a run takes is the one part of the CLI's output that
// depends on the machine.
var untimed bool

// exploreJobs explores the jobs one after another with the base options,
// feeding the progress bar (nil: none). Each job gets the whole machine:
// the explorer parallelises inside a run (Options.Workers), and results
// come back in the plan's order. An error is one of the options, the same
// for every job, so the first one ends the loop.
func exploreJobs(jobs []job, base sim.Options, bar *progress) ([]*sim.Result, error) {
	results := make([]*sim.Result, 0, len(jobs))
	for _, j := range jobs {
		opts := base
		opts.Fault, opts.Strategy = j.fault, j.strategy
		bar.start(j)
		if bar != nil {
			opts.Progress = bar.update
		}
		r, err := sim.Explore(j.sc, opts)
		bar.done()
		if err != nil {
			return results, fmt.Errorf("%w (exploring %s under %s/%s)", err, j.sc.Name, j.fault, j.strategy)
		}
		if untimed {
			r.Elapsed = 0
		}
		results = append(results, r)
	}
	return results, nil
}
