package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/crashsim/crashsim/sim"
)

// tableHeader is the header of Table, in column order.
var tableHeader = []string{"scenario", "fault", "strategy", "crash points", "states explored", "unique", "continued", "recoveries", "violations", "time", "verdict"}

// Numbers are right-aligned so that their magnitudes line up.
var tableAlign = []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft}

// stoppedMark flags a row whose exploration a budget cut short; a
// footnote under the table explains it.
const stoppedMark = "*"

// Table writes one terminal table of the results, one row per result in
// the order given. Consecutive rows of one scenario form its group: the
// scenario (and a repeated fault) is written on the group's first row only,
// so the table reads as one block per scenario. Under the table it explains
// early stops and lists run errors.
func Table(w io.Writer, results []*sim.Result) error {
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: tableAlign}),
	)
	t.Header(tableHeader)
	stops := map[string]int{}
	deep := false
	var runErrors, interleavings []string
	var prev *sim.Result
	verdictOf := verdicts(results)
	for i, r := range results {
		if r == nil {
			continue
		}
		// Blanked by hand rather than with tablewriter's merging: a merge
		// would also join equal numbers of two runs of the same
		// combination (two shards, say) and hide that they are two runs.
		scenario, fault := r.Scenario, faultCell(r)
		if prev != nil && prev.Scenario == r.Scenario {
			scenario = ""
			if faultCell(prev) == fault {
				fault = ""
			}
		}
		prev = r
		deep = deep || r.CrashDepth > 1
		verdict := verdictOf[i]
		if r.Stopped != "" {
			verdict += stoppedMark
			stops[r.Stopped]++
		}
		if r.RunError != "" {
			runErrors = append(runErrors, fmt.Sprintf("run error: %s: %s", runName(r), r.RunError))
		}
		if r.Threads > 1 {
			interleavings = append(interleavings, interleavingLine(r))
		}
		err := t.Append(
			scenario, fault, strategyCell(r),
			fmt.Sprint(r.CrashPoints),
			states(r.Explored, r.States, r.StatesExact),
			fmt.Sprint(r.Unique), continued(r), fmt.Sprint(r.Recoveries),
			fmt.Sprint(len(r.Violations)),
			duration(r.Elapsed), verdict,
		)
		if err != nil {
			return fmt.Errorf("reports: table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("reports: table: %w", err)
	}
	if deep {
		if _, err := fmt.Fprintf(w, "continued: crash states whose recovery the program went on from, to crash again (crash depth 2 and more), and in brackets the crash states of those continuations judged; - for one crash.\n"); err != nil {
			return err
		}
	}
	if len(stops) > 0 {
		reasons := make([]string, 0, len(stops))
		for why, n := range stops {
			reasons = append(reasons, fmt.Sprintf("%s: %d %s", why, n, plural(n, "run", "runs")))
		}
		sort.Strings(reasons)
		if _, err := fmt.Fprintf(w, "%s stopped early (%s): not every crash state was explored; the counts cover what was.\n", stoppedMark, strings.Join(reasons, ", ")); err != nil {
			return err
		}
	}
	for _, line := range append(interleavings, runErrors...) {
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// Violations writes the details of each result's violations, at most max
// per result (all of them when max < 0), with the command that replays
// each.
//
// It also writes each result's warnings (sim.Warning), every one
// whatever max is: a barrier the workload misused, with the lines.
func Violations(w io.Writer, results []*sim.Result, max int) error {
	for _, r := range results {
		if r == nil {
			continue
		}
		for i, warn := range r.Warnings {
			if _, err := fmt.Fprintf(w, "\n== %s: warning %d of %d, a barrier misused (%s)\n  problem:  %s\n  failed:   #%d%s\n  then:     #%d%s\n",
				runName(r), i+1, len(r.Warnings), warn.Kind, warn.Problem, warn.Failed, at(warn.FailedSource), warn.Then, at(warn.ThenSource)); err != nil {
				return err
			}
		}
		if len(r.Violations) == 0 || max == 0 {
			continue
		}
		n := len(r.Violations)
		shown := n
		if max > 0 && shown > max {
			shown = max
		}
		for i := range shown {
			v := &r.Violations[i]
			if _, err := fmt.Fprintf(w, "\n== %s: violation %d of %d\n%s", runName(r), i+1, n, v.WithReplay(r.ReplayCommand(v))); err != nil {
				return err
			}
		}
		if shown < n {
			if _, err := fmt.Fprintf(w, "   … and %d more %s of %s not shown (--violations -1 shows all)\n", n-shown, plural(n-shown, "violation", "violations"), r.Scenario); err != nil {
				return err
			}
		}
	}
	return nil
}

// at is " at " and a source line, or "" when there is none.
func at(source string) string {
	if source == "" {
		return ""
	}
	return " at " + source
}

// continued is the continued cell of a result: its continuations and
// their crash states judged, or - for a run of one crash.
func continued(r *sim.Result) string {
	if r.CrashDepth <= 1 {
		return "-"
	}
	return fmt.Sprintf("%d (%d)", r.Continuations, r.ContinuationStates)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// strategyCell is the strategy, with the shard when the run covered only
// part of the crash points: two shards of one run must not read as one.
func strategyCell(r *sim.Result) string {
	if r.Shard != "" && r.Shard != "all" {
		return strategyName(r) + " [" + r.Shard + "]"
	}
	return strategyName(r)
}

// interleavingLine says what a run of several threads explored of their
// interleavings, and whether it may not replay.
func interleavingLine(r *sim.Result) string {
	sched := r.Scheduler
	if r.Depth > 0 {
		sched += fmt.Sprintf(" d=%d", r.Depth)
	}
	if r.Switches > 0 {
		sched += fmt.Sprintf(", at most %d switches", r.Switches)
	}
	line := fmt.Sprintf("interleavings: %s: %d distinct of %d %s (%s), %d threads, %d steps",
		runName(r), r.Interleavings, r.Schedules, plural(r.Schedules, "schedule", "schedules"), sched, r.Threads, r.Steps)
	if r.Nondeterministic != "" {
		line += "; may not replay: " + r.Nondeterministic
	}
	return line
}
