package scenarios

import (
	"encoding/json"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// TestWALGroupCommitUnderTheScheduler: the WAL's group commit, engine
// code unchanged (sync.Mutex, sync.Cond, a channel), runs under the
// scheduler: eight schedules are eight interleavings of the appenders,
// none judged wrong, none flagged as possibly not replaying, and the
// result is the same, byte for byte, whatever the number of workers.
func TestWALGroupCommitUnderTheScheduler(t *testing.T) {
	sc, ok := Lookup("wal-group")
	if !ok {
		t.Fatal("no scenario wal-group")
	}
	for _, fault := range []sim.Fault{sim.ProcessCrash, sim.PowerFailure} {
		var want string
		for _, workers := range []int{1, 2} {
			res, err := sim.Explore(sc, sim.Options{Fault: fault, Schedules: 8, Seed: 1, Workers: workers})
			if err != nil || !res.OK() {
				t.Fatalf("%v: %v %q %d violations", fault, err, res.RunError, len(res.Violations))
			}
			if res.Interleavings != 8 || res.Threads != walGroupThreads+1 || res.Nondeterministic != "" {
				t.Errorf("%v: %d interleavings of %d schedules, %d threads, note %q", fault, res.Interleavings, res.Schedules, res.Threads, res.Nondeterministic)
			}
			res.Elapsed = 0
			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			if want == "" {
				want = string(b)
			} else if string(b) != want {
				t.Errorf("%v: %d workers give another result:\n%s\n%s", fault, workers, want, b)
			}
		}
	}
}
