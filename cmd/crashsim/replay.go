package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/crashsim/crashsim/sim"
	"github.com/crashsim/crashsim/sim/scenarios"
)

const replayAbout = `Rebuilds the crash state a replay id names (run and demo print one per
violation), recovers it again and judges it: prints the verdict, the
violation, the trace up to the crash point with the source location of each
storage operation, and the trace of the recovery.

Exit code: 1 if the state still violates, 0 if it now recovers correctly,
2 on a usage error or when the scenario no longer reaches that state (the
scenario or the engine changed since the id was printed).`

// replayEvents is how much of each trace replay shows by default: the
// cause of a violation is nearly always in the last few barriers.
const replayEvents = 40

func replayCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay", "<id> [--all]", replayAbout, stderr)
	all := fs.Bool("all", false, "show every event of the traces, not only the last 40")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(rest) != 1 {
		return usageError(stderr, "replay", fmt.Errorf("%w: want one replay id, got %d arguments", sim.ErrUsage, len(rest)))
	}
	id, err := sim.ParseReplayID(rest[0])
	if err != nil {
		return usageError(stderr, "replay", err)
	}
	sc, ok := scenarios.Lookup(id.Scenario)
	if !ok {
		return usageError(stderr, "replay", fmt.Errorf("%w: no scenario %q ('crashsim list' shows them)", sim.ErrUsage, id.Scenario))
	}
	rp, err := sim.RunReplay(sc, id)
	if err != nil {
		fmt.Fprintf(stderr, "crashsim replay: %v\n", err)
		if errors.Is(err, sim.ErrUsage) || errors.Is(err, sim.ErrDiverged) {
			return exitUsageErr
		}
		return exitProblem
	}
	limit := replayEvents
	if *all {
		limit = 0
	}
	printReplay(stdout, sc, rp, limit)
	if rp.Violation != nil {
		return exitProblem
	}
	return exitOK
}

func printReplay(w io.Writer, sc *sim.Scenario, rp *sim.Replay, limit int) {
	fmt.Fprintf(w, "replay   %s\n", rp.ID)
	fmt.Fprintf(w, "scenario %s: %s\n", sc.Name, sc.Doc)
	fmt.Fprintf(w, "verdict  %s\n", rp.Verdict)
	crashAt := uint64(0)
	haveCrash := false
	crashLine := ""
	if v := rp.Violation; v != nil {
		// The excerpt is the trace printed below, with sources: not twice.
		shown := *v
		shown.Excerpt = nil
		fmt.Fprintf(w, "\n== Violation\n%s", shown.String())
		crashAt, haveCrash = v.Trace, true
		// A power failure strikes just before a barrier, so the barrier is
		// not in the trace: say where the crash is all the same.
		if n := len(rp.Trace); n == 0 || rp.Trace[n-1].Index < v.Trace {
			when := "before"
			if rp.ID.Fault == sim.ProcessCrash {
				when = "after"
			}
			crashLine = fmt.Sprintf("-> crash %s %s", when, v.At)
		}
	}
	fmt.Fprintf(w, "\n== Trace up to the crash point%s\n", shownOf(len(rp.Trace), limit))
	printEvents(w, rp.Trace, limit, rp.Sources, crashAt, haveCrash)
	if crashLine != "" {
		fmt.Fprintln(w, crashLine)
	}
	fmt.Fprintf(w, "\n== Recovery on the crash image%s\n", shownOf(len(rp.Recovery), limit))
	printEvents(w, rp.Recovery, limit, nil, 0, false)
}

func shownOf(n, limit int) string {
	if limit > 0 && n > limit {
		return fmt.Sprintf(" (last %d of %d events; --all shows every one)", limit, n)
	}
	return fmt.Sprintf(" (%d events)", n)
}

// printEvents writes the last limit events (all when limit is 0), one a
// line: a gutter marking barriers (B) and the crash point (->), the event,
// and where known the workload's source line that made it.
func printEvents(w io.Writer, events []sim.Event, limit int, sources map[uint64]string, crashAt uint64, haveCrash bool) {
	if limit > 0 && len(events) > limit {
		events = events[len(events)-limit:]
	}
	width := 0
	text := make([]string, len(events))
	for i, e := range events {
		text[i] = e.String()
		width = max(width, len(text[i]))
	}
	width = min(width, 72) // a long note must not push every source off screen
	for i, e := range events {
		gutter := "   "
		switch {
		case haveCrash && e.Index == crashAt:
			gutter = "-> "
		case e.IsBarrier():
			gutter = " B "
		}
		line := gutter + text[i]
		if src := sources[e.Index]; src != "" {
			line += strings.Repeat(" ", max(1, width-len(text[i])+2)) + src
		}
		fmt.Fprintln(w, line)
	}
	if len(events) == 0 {
		fmt.Fprintln(w, "   (none)")
	}
}
