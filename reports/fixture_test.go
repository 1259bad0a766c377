package reports

import (
	"fmt"
	"time"

	"github.com/crashsim/crashsim/sim"
)

// fixture is a hand-built set of results covering every verdict, an early
// stop, a saturated state count, a violation with every detail, and a
// result written before profiles (vec: no profile, its violation judged
// on none).
func fixture() []*sim.Result {
	viol := sim.Violation{
		ReplayID: "wal-bug-no-sync:power:subsets:7:0:zero:2:0/0/1",
		Point:    2, Trace: 41, At: "before #41 p1 sync /db/wal/000001.log",
		Problem:  "acknowledged operation 3 lost",
		Expected: "[a b c]", Observed: "[a b]",
		Kept: []sim.Unit{{Kind: "meta", Path: "/db/wal", What: "create 000001.log", Version: 1, Versions: 2, Trace: 38}},
		Lost: []sim.Unit{{Kind: "data", Path: "/db/wal/000001.log", Off: 4096, Len: 4096, Version: 0, Versions: 2, Trace: 39, Lost: true, Source: "wal/segment.go:120"}},
		Excerpt: []sim.Event{
			{Index: 38, Proc: 1, Kind: "create", Path: "/db/wal/000001.log"},
			{Index: 39, Proc: 1, Kind: "write", Path: "/db/wal/000001.log", Off: 4096, Len: 4096},
			{Index: 40, Proc: 1, Kind: "durable", Note: "ops 1..3"},
			{Index: 41, Proc: 1, Kind: "sync", Path: "/db/wal/000001.log"},
		},
		BreaksOn: []string{"posix", "ext4-writeback", "xfs"},
		NotOn:    []string{"ext4-ordered", "btrfs"},
	}
	// A violation of a result written before profiles says nothing of them.
	old := viol
	old.BreaksOn, old.NotOn = nil, nil
	points := func(n, bad int) []sim.Point {
		var ps []sim.Point
		for i := range n {
			p := sim.Point{Index: i, Trace: uint64(10 + 10*i), At: fmt.Sprintf("before #%d p1 drain", 10+10*i), States: 4, StatesExact: true, Explored: 4, Unique: 3}
			if i == bad {
				p.Violations = 1
			}
			ps = append(ps, p)
		}
		return ps
	}
	return []*sim.Result{
		{Scenario: "wal", Fault: sim.ProcessCrash, Strategy: sim.KeepAll, FaultName: "process", StrategyName: "keep-all", Shard: "all",
			CrashPoints: 5, States: 5, StatesExact: true, Explored: 5, Unique: 5, Recoveries: 5, Points: points(5, -1), Elapsed: 1500 * time.Microsecond},
		{Scenario: "wal", Fault: sim.PowerFailure, Strategy: sim.Subsets, FaultName: "power", StrategyName: "subsets", Shard: "all",
			CrashPoints: 5, States: 1 << 40, StatesExact: false, Explored: 256, Unique: 100, Recoveries: 100, Points: points(5, -1),
			Stopped: "state budget", Elapsed: 2 * time.Second},
		{Scenario: "wal-bug-no-sync", Buggy: true, Fault: sim.PowerFailure, Strategy: sim.Subsets, FaultName: "power", StrategyName: "subsets", Profile: "posix", Seed: 7, Shard: "all",
			CrashPoints: 5, States: 20, StatesExact: true, Explored: 20, Unique: 12, Recoveries: 12, Points: points(5, 2),
			Violations: []sim.Violation{viol, viol}, Elapsed: 40 * time.Millisecond},
		{Scenario: "wal-bug-no-sync", Buggy: true, Fault: sim.PowerFailure, Strategy: sim.KeepAll, FaultName: "power", StrategyName: "keep-all", Shard: "all",
			CrashPoints: 5, States: 5, StatesExact: true, Explored: 5, Unique: 5, Recoveries: 5, Points: points(5, -1), Elapsed: time.Millisecond},
		{Scenario: "vec", Fault: sim.PowerFailure, Strategy: sim.DropAll, FaultName: "power", StrategyName: "drop-all", Shard: "all",
			CrashPoints: 3, States: 3, StatesExact: true, Explored: 3, Unique: 3, Recoveries: 3, Violations: []sim.Violation{old}, Elapsed: time.Millisecond},
		{Scenario: "shm", Fault: sim.ProcessCrash, Strategy: sim.KeepAll, FaultName: "process", StrategyName: "keep-all", Shard: "all",
			CrashPoints: 1, RunError: "append: no space left", Elapsed: time.Millisecond},
	}
}
