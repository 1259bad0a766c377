package reports

import (
	"fmt"
	"strings"
	"time"

	"github.com/crashsim/crashsim/sim"
)

// The verdicts of a result. A correct scenario passes or fails; a bug
// variant is expected to fail, so finding a violation there is the good
// outcome ("caught"). A bug variant need not be caught under every fault
// model — a missing fsync is invisible to a process crash — so one run that
// finds nothing has not "seen" it, which is no failure; it is "MISSED" only
// when no run of it caught it (Outcome, and Table over its results). The bad
// outcomes are in capitals so they stand out in a terminal and in grep.
const (
	VerdictPass    = "pass"
	VerdictFail    = "FAIL"
	VerdictCaught  = "caught"
	VerdictNotSeen = "not seen"
	VerdictMissed  = "MISSED"
	// VerdictError is a run whose workload itself failed: nothing after the
	// failure was explored, so neither pass nor caught can be claimed.
	VerdictError = "ERROR"
)

// Verdict returns the verdict word of one result.
func Verdict(r *sim.Result) string {
	switch {
	case r.RunError != "":
		return VerdictError
	case r.Buggy && len(r.Violations) > 0:
		return VerdictCaught
	case r.Buggy:
		return VerdictNotSeen
	case len(r.Violations) > 0:
		return VerdictFail
	}
	return VerdictPass
}

// Good reports whether a verdict is no failure: what the scenario's kind
// expects, or a bug variant not seen by one run.
func Good(verdict string) bool {
	return verdict == VerdictPass || verdict == VerdictCaught || verdict == VerdictNotSeen
}

// verdicts returns the verdict of each result in a list, with a bug
// variant's runs MISSED when none of its runs in the list caught it and
// each of them judged all its states — but when one is a shard, which
// judged only its part of the states, only "not seen": another shard may
// have caught it. Outcomes judges a whole scenario by the same rule.
func verdicts(results []*sim.Result) []string {
	outcomes := map[string]Outcome{}
	for _, o := range Outcomes(results) {
		outcomes[o.Scenario] = o
	}
	out := make([]string, len(results))
	for i, r := range results {
		if r == nil {
			continue
		}
		out[i] = Verdict(r)
		if o := outcomes[r.Scenario]; out[i] == VerdictNotSeen && o.Caught == nil && !o.Partial {
			out[i] = VerdictMissed
		}
	}
	return out
}

// isShard reports whether a result judged only one shard of its run's
// crash states.
func isShard(r *sim.Result) bool {
	return r.Shard != "" && r.Shard != (sim.Shard{}).String()
}

// faultName and strategyName prefer the text a result carries: a result
// read back from JSON of a newer crashsim may name a fault this build does
// not know, and should still render as it was written.
func faultName(r *sim.Result) string {
	if r.FaultName != "" {
		return r.FaultName
	}
	return r.Fault.String()
}

// faultCell is the fault model as the table and the page show it: a power
// failure with the file-system profile whose crash states it explored,
// "power (xfs)". A result written before profiles has none.
func faultCell(r *sim.Result) string {
	if r.Profile != "" && faultName(r) == sim.PowerFailure.String() {
		return faultName(r) + " (" + r.Profile + ")"
	}
	return faultName(r)
}

func strategyName(r *sim.Result) string {
	if r.StrategyName != "" {
		return r.StrategyName
	}
	return r.Strategy.String()
}

// states renders "explored/total", with ≥ when the total saturated: the
// reader must not take a lower bound for the size of the state space.
func states(explored int, total uint64, exact bool) string {
	if exact {
		return fmt.Sprintf("%d/%d", explored, total)
	}
	if total >= 1e6 {
		// A saturated count is only a bound: its digits say nothing.
		return fmt.Sprintf("%d/≥%s", explored, strings.Replace(fmt.Sprintf("%.2g", float64(total)), "e+", "e", 1))
	}
	return fmt.Sprintf("%d/≥%d", explored, total)
}

// duration rounds to what a person compares at a glance: three significant
// figures at most.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// runName names one result in prose: scenario and what it was run under.
func runName(r *sim.Result) string {
	if r.Profile != "" && faultName(r) == sim.PowerFailure.String() {
		return fmt.Sprintf("%s (%s/%s, %s, seed %d)", r.Scenario, faultName(r), strategyName(r), r.Profile, r.Seed)
	}
	return fmt.Sprintf("%s (%s/%s, seed %d)", r.Scenario, faultName(r), strategyName(r), r.Seed)
}

// Outcome judges one scenario over all its runs, as the demo and the HTML
// summary do: a correct scenario must pass every run; a bug variant must be
// caught by at least one (a missing fsync is invisible to a process crash,
// so some of its runs pass); a run that failed to run spoils either.
type Outcome struct {
	Scenario string
	Buggy    bool
	// Runs are the scenario's results, in the order given.
	Runs []*sim.Result
	// Good says the scenario did what its kind expects.
	Good bool
	// Caught is the first run that caught a bug variant, or nil.
	Caught *sim.Result
	// Partial says some of the runs are shards (sim.Options.Shard), each
	// of which judged only its part of the run's crash states.
	Partial bool
	// NotSeen says a bug variant was neither caught nor missed: no run
	// caught it, none failed to run, and some are shards, whose other
	// shards judged the rest of its states and may have caught it. Good
	// is false: nothing shows that it was caught.
	NotSeen bool
}

// Outcomes judges each scenario of the results, in order of first
// appearance. A bug variant no run caught is missed (Good false) — or,
// when some of its runs are shards, NotSeen.
func Outcomes(results []*sim.Result) []Outcome {
	var out []Outcome
	at := map[string]int{}
	for _, r := range results {
		if r == nil {
			continue
		}
		i, ok := at[r.Scenario]
		if !ok {
			i = len(out)
			at[r.Scenario] = i
			out = append(out, Outcome{Scenario: r.Scenario, Buggy: r.Buggy})
		}
		o := &out[i]
		o.Runs = append(o.Runs, r)
		o.Partial = o.Partial || isShard(r)
		if o.Caught == nil && r.Buggy && len(r.Violations) > 0 {
			o.Caught = r
		}
	}
	for i := range out {
		o := &out[i]
		o.Good = !o.Buggy || o.Caught != nil
		errored := false
		for _, r := range o.Runs {
			v := Verdict(r)
			errored = errored || v == VerdictError
			if v == VerdictError || (!o.Buggy && v != VerdictPass) {
				o.Good = false
			}
		}
		o.NotSeen = o.Buggy && o.Caught == nil && o.Partial && !errored
	}
	return out
}
