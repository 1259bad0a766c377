package sim

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"

	"pgregory.net/rapid"
)

// replayFlag is the replay id of -crashsim.replay: set, every Check
// replays that state instead of exploring.
var replayFlag string

func init() {
	// Registered at init as rapid registers -rapid.seed: a test binary
	// parses the command line before it runs any test.
	flag.StringVar(&replayFlag, "crashsim.replay", "", "crashsim: sim.Check rebuilds and judges only the crash state of this replay `id` (each violation prints its command)")
}

// replays records, per test, what the Checks of a replaying test binary
// found: whether one of them was the exploration the id names.
var replays = struct {
	sync.Mutex
	tests map[string]*testReplay
}{tests: map[string]*testReplay{}}

// testReplay is what the Checks of one test found under -crashsim.replay.
type testReplay struct {
	named   bool            // a Check explored the scenario the id names
	matched bool            // a Check ran the exploration and workload it names
	told    bool            // a mismatch was logged
	guarded bool            // a cleanup will fail the test if none matched
	last    string          // why the last Check of the scenario was not the one
	skipped map[string]bool // the other scenarios whose Checks were skipped
}

// replayOf returns the record of the test named name.
func replayOf(name string) *testReplay {
	replays.Lock()
	defer replays.Unlock()
	r := replays.tests[name]
	if r == nil {
		r = &testReplay{skipped: map[string]bool{}}
		replays.tests[name] = r
	}
	return r
}

// replayCheck is Check under -crashsim.replay: a Check of another scenario
// is skipped; one of that scenario with other options or another workload
// is not the one named (see otherExploration); the one named rebuilds the
// state, prints it as `crashsim replay` does, and fails the test if it
// still violates.
func replayCheck(t TB, sc *Scenario, opts Options, p *property) {
	t.Helper()
	id, err := ParseReplayID(replayFlag)
	if err != nil {
		t.Fatalf("sim.Check(%s): -crashsim.replay: %v", sc.Name, err)
		return
	}
	tr := replayOf(t.Name())
	logf := t.Logf
	if p != nil {
		// rapid shows what a property logs only when it fails: say it to
		// the test itself.
		logf = p.TB.Logf
	}
	if sc.Name != id.Scenario {
		replays.Lock()
		tell := !tr.skipped[sc.Name]
		tr.skipped[sc.Name] = true
		replays.Unlock()
		if tell {
			logf("sim.Check(%s): skipped: -crashsim.replay replays scenario %s", sc.Name, id.Scenario)
		}
		return
	}
	replays.Lock()
	tr.named = true
	replays.Unlock()
	if why := otherOptions(opts, id); why != "" {
		otherExploration(t, tr, sc, why, p)
		return
	}
	rp, err := runReplayForCheck(sc, id)
	switch {
	case errors.Is(err, ErrDiverged):
		otherExploration(t, tr, sc, err.Error(), p)
		return
	case err != nil:
		t.Fatalf("sim.Check(%s): -crashsim.replay: %v", sc.Name, err)
		return
	}
	replays.Lock()
	first := !tr.matched
	tr.matched = true
	replays.Unlock()
	var b strings.Builder
	rp.Format(&b, 0, "") // a strings.Builder takes every write
	if rp.Violation != nil {
		t.Errorf("%s: the replayed state still violates\n%s", sc.Name, b.String())
		return
	}
	if first { // rapid may run the named workload again, from two fail files that are one
		logf("%s: the replayed state recovers correctly\n%s", sc.Name, b.String())
	}
}

// otherOptions says how opts differ from the options id was found with,
// or "" if they do not.
func otherOptions(opts Options, id ReplayID) string {
	o, want := opts.withDefaults(), id.Options()
	sched := Options{Scheduler: want.Scheduler, Depth: want.Depth}.withDefaults() // an id made by hand may leave them 0
	want.Scheduler, want.Depth = sched.Scheduler, sched.Depth
	if o.Fault != want.Fault || o.Profile != want.Profile || o.Strategy != want.Strategy || o.Seed != want.Seed || o.Granularity != want.Granularity || o.Tail.Garbage != want.Tail.Garbage ||
		o.Scheduler != want.Scheduler || o.Depth != want.Depth || o.Switches != want.Switches {
		return "explored with other options (" + optionsText(o) + ", the id's " + optionsText(want) + ")"
	}
	return ""
}

func optionsText(o Options) string {
	tail := "zero"
	if o.Tail.Garbage {
		tail = "garbage"
	}
	return fmt.Sprintf("%v/%v, profile %s, seed %d, granularity %d, %s tail, %v scheduler, depth %d, switch bound %d", o.Fault, o.Strategy, o.Profile, o.Seed, o.Granularity, tail, o.Scheduler, o.Depth, o.Switches)
}

// otherExploration handles a Check of the scenario the replay id names
// that is not the exploration it names: other options, or another
// workload. A test may run many (a loop over options, a rapid property
// generating workloads), so one such Check is no failure by itself; but a
// replay that never met its exploration must not pass:
//
//   - inside CheckProperty, it is logged once, and CheckProperty fails the
//     test when rapid is done if no workload matched;
//   - inside a plain rapid.Check, which gives no hook at its end, it fails
//     unless an earlier Check of the test matched: rapid must generate the
//     named workload first, from the fail file the command names;
//   - in a test with Cleanup (testing.T, testing.B), it is logged once, and
//     a cleanup fails the test if no Check of it matched;
//   - elsewhere it fails.
func otherExploration(t TB, tr *testReplay, sc *Scenario, why string, p *property) {
	t.Helper()
	_, inRapid := t.(*rapid.T)
	cleanup, hasCleanup := t.(interface{ Cleanup(func()) })
	replays.Lock()
	tr.last = why
	tell, matched := !tr.told, tr.matched
	tr.told = true
	guard := p == nil && !inRapid && hasCleanup && !tr.guarded
	tr.guarded = tr.guarded || guard
	replays.Unlock()
	logOnce := func(log func(string, ...any)) {
		if tell {
			log("sim.Check(%s): not the exploration -crashsim.replay names: %s (later ones of this test are not logged)", sc.Name, why)
		}
	}
	switch {
	case p != nil:
		logOnce(p.TB.Logf)
	case inRapid && !matched:
		t.Errorf("sim.Check(%s): not the exploration -crashsim.replay names: %s\n"+
			"rapid must generate that workload first: add -rapid.failfile=FILE with the fail file rapid wrote for it, or use sim.CheckProperty, whose command has it", sc.Name, why)
	case inRapid:
		logOnce(t.Logf)
	case hasCleanup:
		logOnce(t.Logf)
		if guard {
			cleanup.Cleanup(func() {
				replays.Lock()
				matched, last := tr.matched, tr.last
				replays.Unlock()
				if !matched {
					t.Errorf("sim.Check(%s): no Check of this test was the exploration -crashsim.replay names; the last one: %s", sc.Name, last)
				}
			})
		}
	default:
		t.Errorf("sim.Check(%s): not the exploration -crashsim.replay names: %s", sc.Name, why)
	}
}
