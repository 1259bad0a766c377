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

// firstCaught explores sc under opts and returns the first schedule
// with a violation (-1 if none) and how many schedules had none.
func firstCaught(t *testing.T, sc *sim.Scenario, opts sim.Options) (first, clean int, res *sim.Result) {
	t.Helper()
	res, err := sim.Explore(sc, opts)
	if err != nil || res.RunError != "" || res.Nondeterministic != "" {
		t.Fatalf("%v %q %q", err, res.RunError, res.Nondeterministic)
	}
	caught := map[int]bool{}
	for _, v := range res.Violations {
		caught[res.Points[v.Point].Schedule] = true
	}
	first = -1
	for s := range res.Schedules {
		if caught[s] && first < 0 {
			first = s
		}
		if !caught[s] {
			clean++
		}
	}
	return first, clean, res
}

// TestWALGroupEarlyAckFound: the bug variant wal-bug-group-early-ack
// shows only in interleavings where an appender appends while another's
// sync round is in flight, before its fsync: some schedules pass. Under
// a power failure the random scheduler finds it within the scenario's
// default schedules (walGroupSchedules, what the demo runs) for every
// seed tried, and PCT of depth 2 within pctMost, on average within the
// bound PCT predicts (1/Result.PCTChance schedules).
func TestWALGroupEarlyAckFound(t *testing.T) {
	sc, ok := Lookup("wal-bug-group-early-ack")
	if !ok || sc.Schedules != walGroupSchedules {
		t.Fatalf("no scenario wal-bug-group-early-ack with %d schedules", walGroupSchedules)
	}
	seeds, pctMost := uint64(10), 8
	if heavy() {
		seeds, pctMost = 20, 16
	}
	clean := 0
	for _, c := range []struct {
		opts sim.Options
		most int
	}{
		{sim.Options{Fault: sim.PowerFailure, Strategy: sim.DropAll}, walGroupSchedules},
		{sim.Options{Fault: sim.PowerFailure, Strategy: sim.DropAll, Scheduler: sim.PCTScheduler, Depth: 2, Schedules: pctMost}, pctMost},
	} {
		total := 0
		var chance float64
		var name string
		for seed := range seeds {
			c.opts.Seed = seed
			first, n, res := firstCaught(t, sc, c.opts)
			if first < 0 {
				t.Fatalf("%s scheduler, seed %d: %d schedules never caught the bug", res.Scheduler, seed, res.Schedules)
			}
			if res.Schedules != c.most || res.Threads != walGroupThreads+1 {
				t.Errorf("%s scheduler, seed %d: %d schedules, %d threads", res.Scheduler, seed, res.Schedules, res.Threads)
			}
			total += first + 1
			clean += n
			chance, name = res.PCTChance(), res.Scheduler
		}
		mean := float64(total) / float64(seeds)
		t.Logf("%s scheduler: caught within %.1f schedules on average over %d seeds", name, mean, seeds)
		if c.opts.Scheduler == sim.PCTScheduler && (chance <= 0 || mean > 1/chance) {
			t.Errorf("PCT: caught within %.1f schedules on average, its bound predicts at most %.1f", mean, 1/chance)
		}
	}
	if clean == 0 {
		t.Errorf("every schedule showed the bug: it does not depend on the interleaving")
	}
}
