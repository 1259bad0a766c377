package sim

import (
	"fmt"
	"regexp"
	"strconv"

	"pgregory.net/rapid"
)

// CheckProperty is rapid.Check for a property whose every case is an
// exploration: gen draws a workload with rt and returns the scenario
// running it and the options to explore it with; CheckProperty explores
// it as Check does, and rapid shrinks a failing workload to a minimal one.
//
//	func TestMyLogAnyWorkload(t *testing.T) {
//		sim.CheckProperty(t, func(rt *rapid.T) (*sim.Scenario, sim.Options) {
//			records := rapid.SliceOf(rapid.SliceOfN(rapid.Byte(), 1, 100)).Draw(rt, "records")
//			return myLog(records), sim.Options{Fault: sim.PowerFailure}
//		})
//	}
//
// Beyond a plain rapid.Check calling Check, each violation of the shrunk
// workload ends with one complete command: the go test command with
// -crashsim.replay and -rapid.failfile, the file rapid wrote that workload
// to, from which the replay generates it again. Under -crashsim.replay,
// the workloads rapid generates that are not the named one are logged
// once and pass, and CheckProperty fails the test if none was.
//
// CheckProperty learns the fail file from rapid's report of the failure
// ("To reproduce, specify … -rapid.failfile=…"), which rapid makes before
// it runs the shrunk workload once more with its output shown; that run
// prints the command. rapid sees t through a wrapper, so it does not know
// t's deadline (it would stop generating early when the test's timeout is
// near).
func CheckProperty(t rapid.TB, gen func(rt *rapid.T) (*Scenario, Options)) {
	t.Helper()
	p := &property{TB: t}
	rapid.Check(p, func(rt *rapid.T) {
		sc, opts := gen(rt)
		check(rt, sc, opts, p)
	})
	if replayFlag == "" {
		return
	}
	tr := replayOf(t.Name())
	replays.Lock()
	named, matched, last := tr.named, tr.matched, tr.last
	replays.Unlock()
	if named && !matched {
		t.Errorf("sim.CheckProperty: -crashsim.replay names a workload rapid did not generate; the last one: %s\n"+
			"the command needs -rapid.failfile with the fail file rapid wrote for it, in this checkout", last)
	}
}

// property is the test as rapid sees it in CheckProperty: it passes
// everything through, and learns from rapid's report of a failure the
// fail file rapid wrote the failing workload to.
type property struct {
	rapid.TB
	failfile string
}

// failfileFlag finds the fail file in rapid's report, which quotes it with
// %q: `-rapid.failfile="testdata/rapid/TestX/TestX-….fail"`.
var failfileFlag = regexp.MustCompile(`-rapid\.failfile=("(?:[^"\\]|\\.)*")`)

func (p *property) Errorf(format string, args ...any) {
	p.TB.Helper()
	msg := fmt.Sprintf(format, args...)
	if m := failfileFlag.FindStringSubmatch(msg); m != nil {
		if file, err := strconv.Unquote(m[1]); err == nil {
			p.failfile = file
		}
	}
	p.TB.Errorf("%s", msg)
}
