package sim

import (
	"strings"
	"testing"

	"github.com/crashsim/crashsim/models"
)

// threadedTornLog is tornLog with its workload and its continuation each
// run by a thread of their own (Env.Go), whose markers go to the
// checker of the epoch's threads.
func threadedTornLog(name string, cut bool) *Scenario {
	sc := tornLog(name, cut)
	sc.Run = func(env *Env) error {
		return env.Go(func(env *Env) error { return appendFrames(env, "w", 3) }).Wait()
	}
	sc.Continue = func(env *Env) error {
		return env.Go(func(env *Env) error { return appendFrames(env, "c", 2) }).Wait()
	}
	return sc
}

// TestThreadsInChains: a workload of threads under PCT, whose
// continuation starts a thread too. The cross-failure bug is caught at
// depth 2 — which it is only if the continuation's thread marks its
// operations on the continuation's checker — and its replay id carries both the
// schedule (the seed field's +pct3) and the chain, and replays to the same
// problem. The correct log passes, continued.
func TestThreadsInChains(t *testing.T) {
	opts := Options{Fault: PowerFailure, Scheduler: PCTScheduler, Schedules: 2}
	bug := threadedTornLog("threaded-torn-log-bug", false)
	res, err := Explore(bug, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Threads != 2 || res.Scheduler != "pct" || res.CrashDepth != 2 || len(res.Violations) == 0 || res.RunError != "" {
		t.Fatalf("%d threads, scheduler %q, depth %d, %d violations, run error %q; want 2, pct, 2, the bug caught",
			res.Threads, res.Scheduler, res.CrashDepth, len(res.Violations), res.RunError)
	}
	v := res.Violations[0]
	if len(v.Chain) != 1 || v.Liveness || !strings.Contains(v.Problem, "acknowledged operations lost") {
		t.Fatalf("violation: %+v", v)
	}
	id, err := ParseReplayID(v.ReplayID)
	if err != nil || id.Scheduler != PCTScheduler || id.Depth != 3 || len(id.Chain) != 1 || id.CrashDepth() != 2 || id.String() != v.ReplayID {
		t.Fatalf("replay id %q: %+v, %v", v.ReplayID, id, err)
	}
	if !strings.Contains(v.ReplayID, "+pct3") {
		t.Errorf("replay id %q: no schedule in its seed field", v.ReplayID)
	}
	rp, err := RunReplay(bug, id)
	if err != nil || rp.Violation == nil || rp.Violation.Problem != v.Problem || len(rp.Violation.Chain) != 1 || len(rp.Epochs) != 1 {
		t.Fatalf("replay %s: %v, %+v", v.ReplayID, err, rp)
	}

	good := threadedTornLog("threaded-torn-log", true)
	res, err = Explore(good, opts)
	if err != nil || !res.OK() {
		t.Fatalf("the correct log: %v, %+v %q", err, res.Violations, res.RunError)
	}
	if res.Continuations == 0 || res.ContinuationStates == 0 {
		t.Errorf("the correct log was not continued: %d continuations, %d of their states", res.Continuations, res.ContinuationStates)
	}
}

// TestContinuationDurableCountsItsOwn: in a continuation, Durable(n)
// marks the continuation's operations 1..n, those the recovery returned
// being durable already; DurableAll, every one invoked.
func TestContinuationDurableCountsItsOwn(t *testing.T) {
	m := NewMachine()
	p := m.Start("continuation")
	check := models.NewPrefix(models.Log())
	for _, r := range []string{"a", "b"} {
		check.Invoke(models.LogAppend{Record: []byte(r)})
	}
	check.Durable(2)
	env := continuationEnv(m, p, continuationRand(0, 2), check)
	th := env.Go(func(env *Env) error {
		env.Invoke(models.LogAppend{Record: []byte("c")})
		env.Invoke(models.LogAppend{Record: []byte("d")})
		env.Durable(1)
		return nil
	})
	if err := th.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := check.DurableCount(); got != 3 {
		t.Errorf("after Durable(1) of the continuation's thread: %d durable, want 3 (2 recovered + 1)", got)
	}
	env.DurableAll()
	if got := check.DurableCount(); got != 4 {
		t.Errorf("after DurableAll: %d durable, want 4", got)
	}
	m.endRecovery()
}
