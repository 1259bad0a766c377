package sim_test

import (
	"fmt"
	"log"
	"strings"
	"syscall"
	"testing"

	"pgregory.net/rapid"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/internal/mylog"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// records are what the examples append.
var records = [][]byte{[]byte("alpha"), []byte("beta"), []byte("gamma")}

// TestMyLogSurvivesPowerFailure is the README's example, run as the test it
// is: a user's own log (internal/mylog stands for it) under every power
// failure the fault model allows.
func TestMyLogSurvivesPowerFailure(t *testing.T) {
	sim.Check(t, &sim.Scenario{
		Name:  "my-log",
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			w, err := mylog.Open(env.FS, "/data/log") // env.FS is an engine.FS
			if err != nil {
				return err
			}
			for _, rec := range records {
				env.Invoke(models.LogAppend{Record: rec}) // what the workload is about to do
				if err := w.AppendAndSync(rec); err != nil {
					return err
				}
				env.Return(nil)  // what it returned
				env.DurableAll() // what the system promised
			}
			return w.Close()
		},
		Recover: func(env *sim.Env) (any, error) { return mylog.ReadAll(env.FS, "/data/log") },
	}, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets})
}

// TestMyLogAnyWorkload is the README's rapid example: every workload rapid
// draws, explored under power failures.
func TestMyLogAnyWorkload(t *testing.T) {
	sim.CheckProperty(t, func(rt *rapid.T) (*sim.Scenario, sim.Options) {
		records := rapid.SliceOf(rapid.SliceOfN(rapid.Byte(), 1, 100)).Draw(rt, "records")
		return myLog(records), sim.Options{Fault: sim.PowerFailure}
	})
}

// myLog is a scenario that appends records to a mylog and syncs each.
func myLog(records [][]byte) *sim.Scenario {
	return &sim.Scenario{
		Name:  "my-log",
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			w, err := mylog.Open(env.FS, "/data/log")
			if err != nil {
				return err
			}
			for _, rec := range records {
				env.Invoke(models.LogAppend{Record: rec})
				if err := w.AppendAndSync(rec); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
			}
			return w.Close()
		},
		Recover: func(env *sim.Env) (any, error) { return mylog.ReadAll(env.FS, "/data/log") },
	}
}

// TestMyLog is the package doc's example: the scenario, how the program
// goes on after its recovery, then Check, which crashes it twice.
func TestMyLog(t *testing.T) {
	sc := &sim.Scenario{
		Name:  "my-log",
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			w, err := mylog.Open(env.FS, "/data/log") // engine.FS of the simulated process
			if err != nil {
				return err
			}
			for _, rec := range records {
				env.Invoke(models.LogAppend{Record: rec}) // what the workload is about to do
				err = w.Append(rec)
				if err != nil {
					return err
				}
				env.Return(nil)
				err = w.Sync()
				if err != nil {
					return err
				}
				env.DurableAll() // what the system promised
			}
			return w.Close()
		},
		Recover: func(env *sim.Env) (any, error) {
			return mylog.ReadAll(env.FS, "/data/log") // the state, in the model's form
		},
	}
	sc.Continue = func(env *sim.Env) error { // after a recovery, the program goes on
		w, err := mylog.Open(env.FS, "/data/log") // appends go after the last intact record
		if err != nil {
			return err
		}
		rec := []byte("delta")
		env.Invoke(models.LogAppend{Record: rec}) // after the operations the recovery returned
		err = w.AppendAndSync(rec)
		if err != nil {
			return err
		}
		env.Return(nil)
		env.DurableAll()
		return w.Close()
	}
	sim.Check(t, sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets})
}

// Explore returns what Check reports: here a log that acknowledges each
// record as durable without syncing it, which a power failure catches. The
// violation is shrunk: its state keeps every unsynced change it can while
// it still fails, so it shows the least that is lost.
func ExampleExplore() {
	sc := &sim.Scenario{
		Name:  "my-log-bug-no-sync",
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			w, err := mylog.Open(env.FS, "/data/log")
			if err != nil {
				return err
			}
			for _, rec := range records {
				env.Invoke(models.LogAppend{Record: rec})
				if err := w.Append(rec); err != nil { // no Sync: nothing is durable
					return err
				}
				env.Return(nil)
				env.DurableAll() // a promise the log does not keep
			}
			return w.Close()
		},
		Recover: func(env *sim.Env) (any, error) { return mylog.ReadAll(env.FS, "/data/log") },
	}
	res, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.DropAll})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("crash points:", res.CrashPoints, "violations:", len(res.Violations))
	fmt.Println(res.Violations[0].Problem)
	// Output:
	// crash points: 4 violations: 1
	// acknowledged operations lost: recovered the state after 2 operations, but 3 were acknowledged durable (lost: #3 append("gamma"))
}

// Scenario.Adapters: the log's storage calls are all made in package
// mylog, the program's own wrapper of engine.FS, so the culprit's source
// line is mylog's; naming the package as an adapter makes it the line of
// the workload that called into it. Replays name lines the same way.
func ExampleScenario_adapters() {
	sc := &sim.Scenario{
		Name:  "my-log-bug-no-sync",
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			w, err := mylog.Open(env.FS, "/data/log")
			if err != nil {
				return err
			}
			for _, rec := range records {
				env.Invoke(models.LogAppend{Record: rec})
				if err := w.Append(rec); err != nil { // no Sync: the culprit
					return err
				}
				env.DurableAll()
			}
			return w.Close()
		},
		Recover: func(env *sim.Env) (any, error) { return mylog.ReadAll(env.FS, "/data/log") },
	}
	file := func(sc *sim.Scenario) string {
		res, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.DropAll})
		if err != nil {
			log.Fatal(err)
		}
		f, _, _ := strings.Cut(res.Violations[0].Culprit.Source, ":")
		return f
	}
	fmt.Println("culprit in", file(sc))
	sc.Adapters = []string{"github.com/crashsim/crashsim/internal/mylog"} // the program's wrapper of engine.FS
	fmt.Println("culprit in", file(sc))
	// Output:
	// culprit in mylog/mylog.go
	// culprit in sim/example_test.go
}

// Env.Inject injects media faults with rules that count afresh in every
// exploration and replay, though built once: here the log's second fsync
// fails with Linux semantics, in each of two explorations. The log
// reports it, and the workload stops there without acknowledging the
// record; a rule that never fires fails the run.
func ExampleEnv_Inject() {
	// EIO on the second sync of the log, in every exploration and replay:
	rule := faultfs.Rule{
		When:  faultfs.And(faultfs.PathGlob("/data/log"), faultfs.OpKinds(faultfs.OpSync), faultfs.OnIndex(1)),
		Fault: faultfs.SyncFailure,
	}
	workload := func(rules ...faultfs.Rule) *sim.Scenario {
		return &sim.Scenario{
			Name:  "my-log-eio",
			Model: models.Log(),
			Run: func(env *sim.Env) error {
				env.Inject(rules...) // fresh counts each run; one that never fires fails the run
				w, err := mylog.Open(env.FS, "/data/log")
				if err != nil {
					return err
				}
				for _, rec := range records {
					env.Invoke(models.LogAppend{Record: rec})
					if err := w.AppendAndSync(rec); err != nil {
						fmt.Println("append:", err)
						return nil // not acknowledged: a crash may keep it or lose it
					}
					env.Return(nil)
					env.DurableAll()
				}
				return w.Close()
			},
			Recover: func(env *sim.Env) (any, error) { return mylog.ReadAll(env.FS, "/data/log") },
		}
	}
	for range 2 {
		res, err := sim.Explore(workload(rule), sim.Options{Fault: sim.PowerFailure, Strategy: sim.DropAll})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("ok:", res.OK())
	}
	never := faultfs.Rule{When: faultfs.PathGlob("/elsewhere"), Fault: faultfs.Error(syscall.EIO)}
	res, _ := sim.Explore(workload(rule, never), sim.Options{Fault: sim.PowerFailure, Strategy: sim.DropAll})
	fmt.Println(res.RunError)
	// Output:
	// append: sync /data/log: faultfs: injected fault: input/output error
	// ok: true
	// append: sync /data/log: faultfs: injected fault: input/output error
	// ok: true
	// append: sync /data/log: faultfs: injected fault: input/output error
	// an injected fault never fired: error input/output error on path /elsewhere
}
