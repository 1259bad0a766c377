package scenarios

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/sim"
)

// walScenarios returns the WAL scenarios: the correct ones, or the bug
// variants.
func walScenarios(buggy bool) []*sim.Scenario {
	var out []*sim.Scenario
	for _, sc := range All() {
		if strings.HasPrefix(sc.Name, "wal-") && sc.Buggy() == buggy {
			out = append(out, sc)
		}
	}
	return out
}

// walOptions are the explorations every correct WAL scenario passes: a
// process crash and a power failure with every strategy (as
// TestCorrectScenariosPass runs them), then every F2 file rule — torn
// sectors, garbage tails, both — and crashes during recovery (Resume's
// own repair interrupted, then recovered again), at one crash; and at
// two, the program going on after Resume repaired torn sectors and
// garbage tails (TestCorrectScenariosPass explores every strategy at two).
var walExplorations = []sim.Options{
	{Fault: sim.PowerFailure, Strategy: sim.Subsets, Granularity: 512, CrashDepth: 1},
	{Fault: sim.PowerFailure, Strategy: sim.Subsets, Tail: faultfs.Tail{Garbage: true}, CrashDepth: 1},
	{Fault: sim.PowerFailure, Strategy: sim.Prefixes, Granularity: 512, Tail: faultfs.Tail{Garbage: true}, CrashDepth: 1},
	{Fault: sim.PowerFailure, Strategy: sim.Subsets, Granularity: 512, Tail: faultfs.Tail{Garbage: true}, Seed: 1, CrashDepth: 1},
	{Fault: sim.ProcessCrash, RecoveryCrashes: true, CrashDepth: 1},
	{Fault: sim.PowerFailure, Strategy: sim.DropAll, RecoveryCrashes: true, CrashDepth: 1},
	{Fault: sim.PowerFailure, Strategy: sim.Subsets, Granularity: 512, Tail: faultfs.Tail{Garbage: true}, RecoveryCrashes: true, CrashDepth: 1},
	{Fault: sim.PowerFailure, Strategy: sim.Subsets, Granularity: 512, Tail: faultfs.Tail{Garbage: true}, CrashDepth: 2},
}

// checkedRun wraps sc's workload so that its error is kept: the explorer
// ignores one from a workload whose process was killed, and wal-resume
// kills its first process on purpose.
func checkedRun(sc *sim.Scenario) (*sim.Scenario, func() error) {
	var mu sync.Mutex
	var first error
	run := sc.Run
	c := *sc
	c.Run = func(env *sim.Env) error {
		err := run(env)
		mu.Lock()
		if first == nil && err != nil {
			first = err
		}
		mu.Unlock()
		return err
	}
	return &c, func() error { mu.Lock(); defer mu.Unlock(); return first }
}

// TestWALScenariosPass: every correct WAL scenario, under every F2 file
// rule and with crashes during recovery, recovers every acknowledged entry
// and nothing else, and its workload — which checks the errors of the F3
// faults it injects — runs to its end.
func TestWALScenariosPass(t *testing.T) {
	scs := walScenarios(false)
	if len(scs) < 8 {
		t.Fatalf("%d correct WAL scenarios, want at least 8", len(scs))
	}
	for _, sc := range scs {
		for _, o := range walExplorations {
			o.MaxStates = 64
			checked, runErr := checkedRun(sc)
			res := sim.Check(t, checked, o)
			if err := runErr(); err != nil {
				t.Errorf("%s %+v: the workload failed: %v", sc.Name, o, err)
			}
			if res != nil && (res.Explored == 0 || res.Recoveries == 0 || o.CrashDepth == 2 && res.ContinuationStates == 0) {
				t.Errorf("%s %+v: explored %d states, %d recoveries, %d states after a recovery", sc.Name, o, res.Explored, res.Recoveries, res.ContinuationStates)
			}
		}
	}
}

// TestWALBugVariantsCaught pins which fault model catches each bug variant,
// and whether a process crash, which keeps the page cache, does: it
// catches none of the bugs of durability (a missing sync, a retried one),
// and does catch the bug of order (a publisher that removes segments
// before its checkpoint exists), which any crash between the two steps
// shows, and the trusted length, since a kill inside a write(2) that
// straddles a page boundary tears the frame.
func TestWALBugVariantsCaught(t *testing.T) {
	for _, c := range []struct {
		name         string
		catchers     []sim.Options
		processCrash bool // a process crash catches it too
	}{
		{"wal-bug-no-dirsync", []sim.Options{{Strategy: sim.DropAll}, {Strategy: sim.Prefixes}, {Strategy: sim.Subsets}}, false},
		// A frame that straddles a page boundary tears when the process
		// is killed inside its write(2) (F1), and recovery reads the torn
		// frame as an entry.
		{"wal-bug-no-crc", []sim.Options{{Strategy: sim.Subsets}, {Strategy: sim.Subsets, Granularity: 512}, {Strategy: sim.Subsets, Tail: faultfs.Tail{Garbage: true}}}, true},
		{"wal-bug-fsync-retry", []sim.Options{{Strategy: sim.DropAll}, {Strategy: sim.KeepAll}, {Strategy: sim.Subsets}}, false},
		{"wal-bug-checkpoint-no-fsync", []sim.Options{{Strategy: sim.DropAll}, {Strategy: sim.Subsets}}, false},
		{"wal-bug-publish-truncate-first", []sim.Options{{Strategy: sim.DropAll}, {Strategy: sim.KeepAll}, {Strategy: sim.Prefixes}, {Strategy: sim.Subsets}}, true},
	} {
		// One crash shows each of them: see TestDepthTwoBugs for the one
		// that needs two.
		sc, ok := Lookup(c.name)
		if !ok {
			t.Fatalf("no scenario %s", c.name)
		}
		for _, o := range c.catchers {
			o.Fault, o.MaxStates, o.CrashDepth = sim.PowerFailure, 64, 1
			res, err := sim.Explore(sc, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.RunError != "" || len(res.Violations) == 0 {
				t.Errorf("%s under %v/%v (granularity %d, garbage %v): not caught (%s)", c.name, o.Fault, o.Strategy, o.Granularity, o.Tail.Garbage, res.RunError)
			}
		}
		res, err := sim.Explore(sc, sim.Options{Fault: sim.ProcessCrash, CrashDepth: 1})
		if err != nil {
			t.Fatal(err)
		}
		if caught := len(res.Violations) != 0; caught != c.processCrash {
			t.Errorf("%s: caught by a process crash: %v, want %v (%d violations)", c.name, caught, c.processCrash, len(res.Violations))
		}
	}
	if got := len(walScenarios(true)); got != 7 {
		t.Errorf("%d WAL bug variants, want the 5 above, wal-bug-resume-keeps-tear (TestDepthTwoBugs) and wal-bug-group-early-ack (TestWALGroupEarlyAckFound)", got)
	}
}

// TestWALRecoveryRepairs: the explorations reach the states the repair is
// for: some recoveries find a torn tail and cut it, and every recovery
// leaves a log that reads back Strict (walRecover checks it).
func TestWALRecoveryRepairs(t *testing.T) {
	for _, name := range []string{"wal-append", "wal-batch", "wal-sync"} {
		sc, _ := Lookup(name)
		var repaired, recovered atomic.Int64
		sc.Recover = func(env *sim.Env) (any, error) {
			w, err := wal.Resume(env.FS, walDir, wal.Bytes, walOptions())
			if err != nil {
				return nil, err
			}
			recovered.Add(1)
			if len(w.Repairs()) > 0 {
				repaired.Add(1)
			}
			if err := w.Close(); err != nil {
				return nil, err
			}
			return walRecover(env)
		}
		sim.Check(t, sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, Granularity: 512, Tail: faultfs.Tail{Garbage: true}, MaxStates: 64})
		if repaired.Load() == 0 {
			t.Errorf("%s: none of %d recoveries repaired a torn tail", name, recovered.Load())
		}
	}
}

// TestWALScenariosAreDeterministic: an exploration of a WAL scenario is a
// pure function of its options (the log starts no goroutine of its own),
// so that every replay id names the state it was printed for.
func TestWALScenariosAreDeterministic(t *testing.T) {
	for _, name := range []string{"wal-resume", "wal-checkpoint", "wal-fsync-eio"} {
		sc, _ := Lookup(name)
		var sums []string
		for range 2 {
			res, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 64, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			sum := fmt.Sprint(res.CrashPoints, res.Explored, res.Unique, res.States)
			for _, p := range res.Points {
				sum += fmt.Sprint(" ", p.Trace, p.At, p.Explored, p.Unique)
			}
			sums = append(sums, sum)
		}
		if sums[0] != sums[1] {
			t.Errorf("%s: two explorations differ:\n%s\n%s", name, sums[0], sums[1])
		}
	}
}
