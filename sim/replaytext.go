package sim

import (
	"fmt"
	"io"
	"strings"
)

// Format writes the replay as `crashsim replay` and a replaying Check show
// it: the id, the scenario, the verdict, the violation if the state still
// violates, the trace up to the crash point with the workload's source
// line of each storage operation, the trace of each later epoch (the
// recovery, then the continuation, to its crash) for a state reached
// through several crashes, the trace of a recovery that crashed (to its
// crash point), and the trace of the last recovery, each storage
// operation of a recovery with the recovery code's line. Each
// trace shows its last `last` events, every one when last is 0; a cut
// trace says so, followed by more (how to see all of it) if not empty.
func (r *Replay) Format(w io.Writer, last int, more string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "replay   %s\n", r.ID)
	if r.Doc != "" {
		fmt.Fprintf(&b, "scenario %s: %s\n", r.ID.Scenario, r.Doc)
	} else {
		fmt.Fprintf(&b, "scenario %s\n", r.ID.Scenario)
	}
	verdict := r.Verdict
	if r.Violation != nil {
		// The verdict is the violation's problem, shown below: not twice.
		verdict = "VIOLATION: the state still recovers wrongly (see below)"
	}
	fmt.Fprintf(&b, "verdict  %s\n", verdict)
	if r.Saved != "" {
		fmt.Fprintf(&b, "from     %s\n", r.Saved)
	}
	crashAt := uint64(0)
	haveCrash := false
	crashLine := ""
	if v := r.Violation; v != nil {
		// The excerpt is the trace printed below, with sources: not twice.
		shown := *v
		shown.Excerpt = nil
		shown.Chain = nil
		for _, c := range v.Chain {
			c.Excerpt = nil
			shown.Chain = append(shown.Chain, c)
		}
		fmt.Fprintf(&b, "\n== Violation\n%s", shown.String())
		crashAt, haveCrash = v.Trace, true
		// A power failure strikes just before a barrier, so the barrier is
		// not in the trace: say where the crash is all the same.
		// (v.At says "before …", "after …" or "at the end …".)
		if n := len(r.Trace); n == 0 || r.Trace[n-1].Index < v.Trace {
			crashLine = "-> crash " + v.At
		}
	}
	fmt.Fprintf(&b, "\n== Trace up to the crash point%s\n", shownOf(len(r.Trace), last, more))
	writeEvents(&b, r.Trace, last, r.Sources, crashAt, haveCrash)
	if crashLine != "" {
		fmt.Fprintln(&b, crashLine)
	}
	for _, ep := range r.Epochs {
		if ep.At == "" {
			fmt.Fprintf(&b, "\n== Epoch %d: the recovery, then the program going on to its end%s\n", ep.Epoch, shownOf(len(ep.Trace), last, more))
			writeEvents(&b, ep.Trace, last, ep.Sources, 0, false)
			continue
		}
		fmt.Fprintf(&b, "\n== Epoch %d: the recovery, then the program going on to the crash point%s\n", ep.Epoch, shownOf(len(ep.Trace), last, more))
		writeEvents(&b, ep.Trace, last, ep.Sources, ep.Crash, true)
		if n := len(ep.Trace); n == 0 || ep.Trace[n-1].Index < ep.Crash {
			fmt.Fprintln(&b, "-> crash "+ep.At)
		}
	}
	if c := r.Crashed; c != nil {
		fmt.Fprintf(&b, "\n== The recovery that crashed, up to its crash point%s\n", shownOf(len(c.Trace), last, more))
		writeEvents(&b, c.Trace, last, c.Sources, c.Crash, true)
		if n := len(c.Trace); n == 0 || c.Trace[n-1].Index < c.Crash {
			fmt.Fprintln(&b, "-> crash "+c.At)
		}
	}
	if len(r.Recovery) > 0 || !r.ID.Continuation {
		title := "Recovery on the crash image"
		if r.Crashed != nil {
			title = "Recovery on the crash image of the crashed recovery"
		}
		fmt.Fprintf(&b, "\n== %s%s\n", title, shownOf(len(r.Recovery), last, more))
		writeEvents(&b, r.Recovery, last, r.RecoverySources, 0, false)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func shownOf(n, last int, more string) string {
	if last > 0 && n > last {
		if more != "" {
			return fmt.Sprintf(" (last %d of %d events; %s)", last, n, more)
		}
		return fmt.Sprintf(" (last %d of %d events)", last, n)
	}
	return fmt.Sprintf(" (%d events)", n)
}

// writeEvents writes the last `last` events (all when last is 0), one a
// line: a gutter marking barriers (B) and the crash point (->), the event,
// and where known the source line that made it.
func writeEvents(b *strings.Builder, events []Event, last int, sources map[uint64]string, crashAt uint64, haveCrash bool) {
	if last > 0 && len(events) > last {
		events = events[len(events)-last:]
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
		fmt.Fprintln(b, line)
	}
	if len(events) == 0 {
		fmt.Fprintln(b, "   (none)")
	}
}
