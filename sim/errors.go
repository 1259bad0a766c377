package sim

import "errors"

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
)
