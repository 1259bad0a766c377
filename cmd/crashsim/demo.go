package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/crashsim/crashsim/reports"
	"github.com/crashsim/crashsim/sim"
	"github.com/crashsim/crashsim/sim/scenarios"
)

const demoAbout = `Explores every built-in scenario under every fault model and strategy that
applies, within a budget per run so that the whole demo takes seconds;
prints the table of runs, one caught violation of each bug variant with
the command that replays it, the bug variants that only a second crash
shows (the scenarios that go on after their recovery are crashed twice),
on which file-system profiles each bug variant's violations reproduce, and
a summary. Power failures leave what posix allows, the weakest profile.

Exit code: 0 when every correct scenario passed and every bug variant was
caught in at least one run, 1 otherwise (saying which expectation failed),
2 on a usage error.`

// The demo's budgets. States bound each run and are the primary bound, so
// the demo gives the same table on any machine. Time bounds the whole demo
// and is shared evenly by its runs: it only keeps a slow machine (or the
// race detector) from making the demo long, whatever the number of
// scenarios, and a run it stops is marked in the table.
const (
	demoBudgetStates = 2000
	demoBudgetTime   = 30 * time.Second
	// demoMinRunTime keeps a share from being too short to explore
	// anything when there are very many runs.
	demoMinRunTime = 200 * time.Millisecond
)

func demoCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "[flags]", demoAbout, stderr)
	budgetStates := fs.Int("budget-states", demoBudgetStates, "stop each run after this many crash states (0: no limit)")
	budgetTime := fs.Duration("budget-time", demoBudgetTime, "time for the whole demo, shared evenly by its runs (0: no limit)")
	seed := fs.Uint64("seed", 0, "seed of every random choice")
	workers := fs.Int("workers", 0, "recoveries run in parallel (0: one per CPU)")
	html := fs.String("html", "", "also write an HTML report of every run to this `file`")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(rest) > 0 {
		return sayUsage(stderr, fmt.Sprintf("demo takes no arguments, got %q", rest[0]), "to explore the scenarios you name, see 'crashsim run --help'")
	}
	if err := checkNonNegative(
		nonNegative{"budget-states", int64(*budgetStates), "no limit"},
		nonNegative{"budget-time", int64(*budgetTime), "no limit"},
		nonNegative{"workers", int64(*workers), "one per CPU"},
	); err != nil {
		return usageError(stderr, "demo", err)
	}
	_, htmlFile, err := createOutputs("", *html)
	if err != nil {
		return usageError(stderr, "demo", err)
	}

	scs := scenarios.All()
	jobs, err := planJobs(scs, sim.Faults, sim.Strategies)
	if err != nil {
		return usageError(stderr, "demo", err)
	}
	bugs := 0
	for _, sc := range scs {
		if sc.Buggy() {
			bugs++
		}
	}
	fmt.Fprintf(stdout, "== Every built-in scenario under every fault model and strategy that applies\n")
	perRun := time.Duration(0)
	if *budgetTime > 0 {
		perRun = max((*budgetTime / time.Duration(len(jobs))).Round(time.Millisecond), demoMinRunTime)
	}
	fmt.Fprintf(stdout, "   %d scenarios (%d correct, %d bug variants), %d runs; each run bounded by %s\n\n",
		len(scs), len(scs)-bugs, bugs, len(jobs), budgetText(*budgetStates, perRun))
	opts := sim.Options{Budget: sim.Budget{States: *budgetStates, Time: perRun}, Seed: *seed, Workers: *workers}
	bar := newProgress(stderr, len(jobs))
	start := time.Now()
	results, err := exploreJobs(jobs, opts, bar)
	bar.finish()
	if err != nil {
		if errors.Is(err, sim.ErrUsage) {
			return usageError(stderr, "demo", err)
		}
		fmt.Fprintf(stderr, "crashsim demo: %v\n", err)
		return exitProblem
	}
	if err := reports.Table(stdout, results); err != nil {
		fmt.Fprintf(stderr, "crashsim demo: %v\n", err)
		return exitProblem
	}
	if err := writeOutputs(nil, htmlFile, results); err != nil {
		fmt.Fprintf(stderr, "crashsim demo: %v\n", err)
		return exitProblem
	}

	o := judgeDemo(scs, results)
	if len(o.caught) > 0 {
		fmt.Fprintf(stdout, "\n== What the laboratory caught: one violation of each bug variant\n")
		for _, c := range o.caught {
			fmt.Fprintf(stdout, "\n-- %s (%s/%s): %s\n%s", c.sc.Name, c.result.FaultName, c.result.StrategyName, c.sc.Doc, c.violation.WithReplay("crashsim replay "+c.violation.ReplayID))
		}
	}
	if len(o.deep) > 0 {
		fmt.Fprintf(stdout, "\n== Caught only by crashing twice: the program went on after its recovery and crashed again (crash depth 2)\n")
		for _, c := range o.deep {
			fmt.Fprintf(stdout, "%s (%s/%s): %s\n", c.sc.Name, c.result.FaultName, c.result.StrategyName, chainText(c.violation))
		}
	}
	if len(reports.ProfileRows(results)) > 0 {
		fmt.Fprintf(stdout, "\n== Where each bug variant's violations reproduce: file-system profiles (faultfs rule 18)\n")
		if err := reports.Profiles(stdout, results); err != nil {
			fmt.Fprintf(stderr, "crashsim demo: %v\n", err)
			return exitProblem
		}
	}
	fmt.Fprintf(stdout, "\n== Summary (%s)\n", time.Since(start).Round(time.Millisecond))
	if len(o.failures) == 0 {
		fmt.Fprintf(stdout, "%d correct scenarios passed all %d of their runs; all %d bug variants were caught.\n", o.correct, o.correctRuns, o.bugs)
		fmt.Fprintf(stdout, "Replay any state above with its command; 'crashsim run' explores further, 'crashsim tour' shows the storage layer.\n")
		return exitOK
	}
	fmt.Fprintf(stdout, "%d of %d correct scenarios passed; %d of %d bug variants caught.\n", o.correct-o.failedCorrect, o.correct, len(o.caught), o.bugs)
	for _, f := range o.failures {
		fmt.Fprintf(stdout, "UNEXPECTED: %s\n", f)
	}
	// Said on stderr too: a CI log that keeps only stderr still shows why.
	fmt.Fprintf(stderr, "crashsim demo: %d %s not met (see UNEXPECTED above)\n", len(o.failures), plural(len(o.failures), "expectation", "expectations"))
	return exitProblem
}

func budgetText(states int, d time.Duration) string {
	var parts []string
	if states > 0 {
		parts = append(parts, fmt.Sprintf("%d crash states", states))
	}
	if d > 0 {
		parts = append(parts, d.String())
	}
	if len(parts) == 0 {
		return "nothing (no budget)"
	}
	return strings.Join(parts, " or ")
}

// demoOutcome is the demo's judgement: what a correct scenario and a bug
// variant are each expected to do, and where that failed.
type demoOutcome struct {
	correct, correctRuns, failedCorrect, bugs int
	caught                                    []caughtBug
	// deep are the bug variants no violation of which needed fewer than
	// two crashes (docs/DESIGN.md F4), each with its first violation.
	deep     []caughtBug
	failures []string
}

// chainText says in one line which crashes a violation needed and what
// went wrong: "crash point 5 (before #27 …); recovery; crash point 6 of
// the continuation (before #118 …); recovery: problem".
func chainText(v *sim.Violation) string {
	parts := []string{fmt.Sprintf("crash point %d (%s)", v.Point, v.At)}
	for _, c := range v.Chain {
		parts = append(parts, "recovery", fmt.Sprintf("crash point %d of the continuation (%s)", c.Point, c.At))
	}
	if v.Liveness {
		return strings.Join(append(parts, "recovery; the continuation: "+v.Problem), "; ")
	}
	return strings.Join(append(parts, "recovery: "+v.Problem), "; ")
}

// onlyDeep returns the first violation of runs if every violation of
// every run needed more than one crash, or nil.
func onlyDeep(runs []*sim.Result) (*sim.Result, *sim.Violation) {
	var first *sim.Violation
	var in *sim.Result
	for _, r := range runs {
		for i := range r.Violations {
			v := &r.Violations[i]
			if v.Epochs() < 2 {
				return nil, nil
			}
			if first == nil {
				in, first = r, v
			}
		}
	}
	return in, first
}

type caughtBug struct {
	sc        *sim.Scenario
	result    *sim.Result
	violation *sim.Violation
}

// judgeDemo checks the expectations of reports.Outcomes — every run of a
// correct scenario passes, every bug variant is caught by at least one run,
// no run fails to run — and says in words where they were not met.
func judgeDemo(scs []*sim.Scenario, results []*sim.Result) demoOutcome {
	var o demoOutcome
	outcomes := map[string]reports.Outcome{}
	for _, oc := range reports.Outcomes(results) {
		outcomes[oc.Scenario] = oc
	}
	for _, sc := range scs {
		oc, ok := outcomes[sc.Name]
		if !ok {
			o.failures = append(o.failures, fmt.Sprintf("scenario %s: no fault model applies, nothing was explored", sc.Name))
		}
		if sc.Buggy() {
			o.bugs++
		} else {
			o.correct++
			o.correctRuns += len(oc.Runs)
			if !oc.Good {
				o.failedCorrect++
			}
		}
		for _, r := range oc.Runs {
			if v := reports.Verdict(r); v == reports.VerdictError || (!sc.Buggy() && !reports.Good(v)) {
				kind := "correct scenario"
				if sc.Buggy() {
					kind = "bug variant"
				}
				o.failures = append(o.failures, fmt.Sprintf("%s %s: %s under %s/%s%s", kind, sc.Name, v, r.FaultName, r.StrategyName, failureDetail(r)))
			}
		}
		if r, v := onlyDeep(oc.Runs); sc.Buggy() && v != nil {
			o.deep = append(o.deep, caughtBug{sc, r, v})
		}
		switch {
		case oc.Caught != nil:
			o.caught = append(o.caught, caughtBug{sc, oc.Caught, &oc.Caught.Violations[0]})
		case sc.Buggy() && ok:
			o.failures = append(o.failures, fmt.Sprintf("bug variant %s was MISSED by all %d runs%s", sc.Name, len(oc.Runs), timeStopped(oc.Runs)))
		}
	}
	return o
}

// timeStopped says how many of a missed bug variant's runs the time budget
// cut short, the likely reason on a slow machine, and how to go further.
func timeStopped(runs []*sim.Result) string {
	n := 0
	for _, r := range runs {
		if r.Stopped == "time budget" {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d stopped by the time budget; rerun with --budget-time 0)", n)
}

func failureDetail(r *sim.Result) string {
	switch {
	case r.RunError != "":
		return ": " + r.RunError
	case len(r.Violations) > 0:
		return fmt.Sprintf(": %d %s, first: %s (crashsim replay %s)", len(r.Violations), plural(len(r.Violations), "violation", "violations"), r.Violations[0].Problem, r.Violations[0].ReplayID)
	}
	return ""
}
