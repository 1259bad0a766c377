package sim

import (
	"errors"
	"fmt"
)

var (
	// ErrUsage is returned when options, a scenario name or a replay id
	// cannot be used.
	ErrUsage = errors.New("sim: usage")

	// ErrKilled is returned by every operation of a simulated process after
	// it was killed: its workload must stop.
	ErrKilled = errors.New("sim: process killed")

	// ErrDiverged is returned by Replay when the workload no longer reaches
	// the crash point or state a replay id names: the scenario or the engine
	// changed since the id was printed.
	ErrDiverged = errors.New("sim: replay diverged")

	// ErrOtherWorkload is returned by RunReplay when the id carries a workload
	// digest (ReplayID.Workload) and the run is another workload: its
	// digest at the crash point differs, or it ends before that point. A
	// rapid property generates many workloads of one scenario, and all but
	// one are another. It wraps ErrDiverged.
	ErrOtherWorkload = fmt.Errorf("%w: another workload", ErrDiverged)

	// ErrMerge is returned by Merge and MergeRuns when the results given
	// are not every shard of one run, once each: shards of different
	// scenarios, options or seeds, a shard missing or given twice, or
	// shards that disagree about what the run reached.
	ErrMerge = errors.New("sim: not the shards of one run")
)

// deathError is the error of a process the machine killed (Process.Death):
// its death, which is ErrKilled.
type deathError string

func (e deathError) Error() string { return string(e) }
func (e deathError) Unwrap() error { return ErrKilled }
