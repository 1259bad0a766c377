package sim

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/models"
)

// ackBeforeSync plants an ordering bug of depth 2: the writer raises a
// flag ("written") before its Sync, and the acknowledger marks the
// record durable once it sees the flag. The record can be lost only when
// the acknowledger looks after the flag is raised (first ordering) and
// before the Sync (second ordering): a power failure at that Sync then
// loses an acknowledged record. pad yields before each thread's step
// make the workload longer, so that few interleavings hit the window.
func ackBeforeSync(pad int) *Scenario {
	return &Scenario{
		Name:  "ack-before-sync",
		Model: models.Log(),
		Run: func(env *Env) error {
			f, err := env.FS.OpenFile("/log", os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			written := false
			writer := env.Go(func(env *Env) error {
				for range pad {
					env.Yield()
				}
				rec := []byte("a")
				env.Invoke(models.LogAppend{Record: rec})
				frame := binary.LittleEndian.AppendUint32(nil, uint32(len(rec)))
				if _, err := f.WriteAt(append(frame, rec...), 0); err != nil {
					return err
				}
				written = true // the bug: raised before the Sync, not after
				env.Yield()
				return f.Sync()
			})
			acker := env.Go(func(env *Env) error {
				for range pad {
					env.Yield()
				}
				if written {
					env.Durable(1)
				}
				return nil
			})
			if err := writer.Wait(); err != nil {
				return err
			}
			return acker.Wait()
		},
		Recover: func(env *Env) (any, error) { return readLog(env.FS, "/log") },
	}
}

// firstCaught explores sc under opts and returns the schedule of its
// first violation, -1 if none.
func firstCaught(t *testing.T, sc *Scenario, opts Options) (int, *Result) {
	t.Helper()
	res, err := Explore(sc, opts)
	if err != nil || res.RunError != "" {
		t.Fatalf("%v %q", err, res.RunError)
	}
	first := -1
	for _, v := range res.Violations {
		if s := res.Points[v.Point].Schedule; first < 0 || s < first {
			first = s
		}
	}
	return first, res
}

// TestPCTFindsDepthTwoBug: PCT of depth 2 catches the planted ordering
// bug within the number of schedules its bound predicts. For each of 20
// seeds it counts the schedules up to the first that catches it; PCT
// guarantees each schedule catches it with probability at least
// p = Result.PCTChance, so on average within 1/p schedules.
func TestPCTFindsDepthTwoBug(t *testing.T) {
	sc := ackBeforeSync(6)
	const seeds, most = 20, 400
	total := 0
	var chance float64
	for seed := range uint64(seeds) {
		opts := Options{Fault: PowerFailure, Strategy: DropAll, Scheduler: PCTScheduler, Depth: 2, Seed: seed, Schedules: most}
		first, res := firstCaught(t, sc, opts)
		if first < 0 {
			t.Fatalf("seed %d: %d schedules never caught the bug", seed, most)
		}
		if res.Interleavings < 2 || res.Schedules != most || res.Threads != 3 {
			t.Errorf("seed %d: %d interleavings of %d schedules, %d threads", seed, res.Interleavings, res.Schedules, res.Threads)
		}
		chance = res.PCTChance()
		total += first + 1
	}
	mean := float64(total) / seeds
	t.Logf("PCT(d=2): caught within %.1f schedules on average; the bound predicts at most %.1f", mean, 1/chance)
	if chance <= 0 || mean > 1/chance {
		t.Errorf("caught within %.1f schedules on average, PCT's bound predicts at most %.1f", mean, 1/chance)
	}
}

// TestReplayRebuildsTheInterleaving: the replay id of a violation that
// only one interleaving shows rebuilds that interleaving — the same
// trace, thread by thread, as the explored run up to the crash point —
// and the same violation.
func TestReplayRebuildsTheInterleaving(t *testing.T) {
	sc := ackBeforeSync(6)
	opts := Options{Fault: PowerFailure, Strategy: DropAll, Scheduler: PCTScheduler, Depth: 2, Seed: 3, Schedules: 200}
	res, traces, err := ExploreTraces(sc, opts)
	if err != nil || len(res.Violations) == 0 {
		t.Fatalf("%v: %d violations", err, len(res.Violations))
	}
	v := res.Violations[0]
	schedule := res.Points[v.Point].Schedule
	if schedule == 0 || !strings.Contains(v.ReplayID, "+pct2+s") {
		t.Fatalf("violation in schedule %d, id %s: want a later schedule, named in the id", schedule, v.ReplayID)
	}
	id, err := ParseReplayID(v.ReplayID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := RunReplay(sc, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Violation == nil || r.Violation.Problem != v.Problem {
		t.Fatalf("the replay judged %q, the run %q", r.Verdict, v.Problem)
	}
	explored := traceText(traces[schedule])
	replayed := traceText(r.Trace)
	if !strings.HasPrefix(explored, replayed) || len(threadsOf(replayed)) < 2 {
		t.Fatalf("the replay's trace is not the explored schedule's:\n%s", firstDifference(explored, replayed))
	}
	// And not merely any interleaving: schedule 0 went another way.
	if strings.HasPrefix(traceText(traces[0]), replayed) {
		t.Errorf("schedule 0 traces as the replay does: the test shows nothing")
	}
}

// TestThreadsWorkersDoNotChangeResults: a run of several threads and
// schedules is a function of (scenario, options, seed): 100 runs of each
// concurrent scenario, under each scheduler, with 1, 2 and 4 workers in
// turn, give byte for byte the same result and the same trace of every
// schedule, threads included (docs/DESIGN.md section 5, issue 11 section
// 4): threads that synchronise through storage and the scheduler
// (ack-before-sync), and goroutines of the program's own on a channel and
// a WaitGroup (channel-workers). The scenarios are small (a few threads,
// a few steps each) so that the 100 runs stay cheap.
func TestThreadsWorkersDoNotChangeResults(t *testing.T) {
	const runs = 100
	workers := []int{1, 2, 4}
	for _, c := range []struct {
		sc   *Scenario
		opts Options
	}{
		{ackBeforeSync(2), Options{Fault: PowerFailure, Strategy: Subsets, Schedules: 4, Seed: 5}},
		{ackBeforeSync(2), Options{Fault: ProcessCrash, Scheduler: PCTScheduler, Schedules: 4, Seed: 5}},
		{channelWorkers(2), Options{Fault: PowerFailure, Strategy: Prefixes, Scheduler: PCTScheduler, Schedules: 3, Seed: 5}},
	} {
		sc, opts := c.sc, c.opts
		var want, wantTraces string
		for run := range runs {
			opts.Workers = workers[run%len(workers)]
			res, traces, err := ExploreTraces(sc, opts)
			if err != nil || res.RunError != "" {
				t.Fatalf("%v %q", err, res.RunError)
			}
			res.Elapsed = 0
			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			var tb strings.Builder
			for i, tr := range traces {
				fmt.Fprintf(&tb, "== schedule %d\n%s", i, traceText(tr))
			}
			if run == 0 {
				want, wantTraces = string(b), tb.String()
				if res.Interleavings < 2 || len(traces) != opts.Schedules {
					t.Errorf("%s: %d interleavings, %d traces", sc.Name, res.Interleavings, len(traces))
				}
				continue
			}
			if string(b) != want {
				t.Fatalf("%s %v, run %d, %d workers: the result differs from the first run's:\n%s\n%s", sc.Name, opts.Fault, run, opts.Workers, want, b)
			}
			if got := tb.String(); got != wantTraces {
				t.Fatalf("%s %v, run %d, %d workers: the traces differ from the first run's:\n%s", sc.Name, opts.Fault, run, opts.Workers, firstDifference(wantTraces, got))
			}
		}
	}
}
