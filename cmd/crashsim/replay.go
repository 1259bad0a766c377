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

By default the workload runs again up to the crash point, which rebuilds
the state of a deterministic workload. With --execution FILE, a saved
execution ('run --save DIR' writes one per run with violations, and its
replay commands name it), the crash image and the history it is judged
against come from the file: the workload is not run again, the recovery
is, and the report says so. A real process (a program on a FUSE mount) is
not deterministic: its violations replay from their saved execution.

Built-in scenarios only: a scenario of your own replays in its own test,
with the go test command sim.Check prints for each violation
(go test ./yourpkg -run '^TestYours$' -v -crashsim.replay='<id>', and
-crashsim.save=DIR adds -crashsim.execution=FILE to it).

Exit code: 1 if the state still violates, 0 if it now recovers correctly,
2 on a usage error or when the scenario no longer reaches that state (the
scenario or the engine changed since the id was printed).`

// replayEvents is how much of each trace replay shows by default: the
// cause of a violation is nearly always in the last few barriers.
const replayEvents = 40

func replayCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay", "[--execution FILE] <id> [--all]", replayAbout, stderr)
	all := fs.Bool("all", false, "show every event of the traces, not only the last 40")
	execution := fs.String("execution", "", "rebuild the state from this saved execution `file` ('run --save'), without running the workload")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(rest) != 1 {
		got := "none"
		if len(rest) > 1 {
			got = fmt.Sprintf("%d arguments", len(rest))
		}
		return usageError(stderr, "replay", fmt.Errorf("replay takes one replay id (run and demo print one per violation), got %s", got))
	}
	id, err := sim.ParseReplayID(rest[0])
	if err != nil {
		return usageError(stderr, "replay", err)
	}
	sc, ok := scenarios.Lookup(id.Scenario)
	if !ok {
		// Not a built-in scenario: a user's own replays in its own test,
		// which printed the command with the violation.
		fmt.Fprintf(stderr, "crashsim: no built-in scenario %q ('crashsim list' shows them). "+
			"A scenario of your own replays in the test that checks it, with the command sim.Check printed:\n"+
			"  go test ./yourpkg -run '^TestYours$' -v -crashsim.replay='%s'\n", id.Scenario, id)
		return exitUsageErr
	}
	var rp *sim.Replay
	if *execution != "" {
		e, rerr := sim.ReadExecution(*execution)
		if rerr != nil {
			fmt.Fprintf(stderr, "crashsim: --execution: %s\n", executionProblem(rerr))
			return exitUsageErr
		}
		rp, err = sim.RunSavedReplay(sc, id, e)
	} else {
		rp, err = sim.RunReplay(sc, id)
	}
	switch {
	case errors.Is(err, sim.ErrNotSaved):
		fmt.Fprintf(stderr, "crashsim: --execution: %s\n", executionProblem(err))
		return exitUsageErr
	case errors.Is(err, sim.ErrOtherWorkload):
		fmt.Fprintf(stderr, "crashsim: the id is of another %s workload than this build runs (%s): the scenario or the engine changed since the id was printed\n",
			id.Scenario, reason(err, sim.ErrOtherWorkload))
		return exitUsageErr
	case errors.Is(err, sim.ErrDiverged):
		fmt.Fprintf(stderr, "crashsim: the id no longer reaches its crash state (%s): the scenario or the engine changed since the id was printed\n",
			reason(err, sim.ErrDiverged))
		return exitUsageErr
	case errors.Is(err, sim.ErrUsage):
		return usageError(stderr, "replay", err)
	case err != nil:
		fmt.Fprintf(stderr, "crashsim replay: %v\n", err)
		return exitProblem
	}
	limit := replayEvents
	if *all {
		limit = 0
	}
	if err := rp.Format(stdout, limit, "--all shows every one"); err != nil {
		fmt.Fprintf(stderr, "crashsim replay: %v\n", err)
		return exitProblem
	}
	if rp.Violation != nil {
		return exitProblem
	}
	return exitOK
}

// executionProblem says what is wrong with a saved execution, in the
// words of its error's class, without the package's prefix.
func executionProblem(err error) string {
	for _, class := range []error{sim.ErrExecutionTruncated, sim.ErrExecutionCorrupt, sim.ErrExecutionVersion, sim.ErrNotSaved} {
		if errors.Is(err, class) {
			return strings.TrimPrefix(class.Error(), "sim: ") + ": " + reason(err, class)
		}
	}
	return err.Error()
}
