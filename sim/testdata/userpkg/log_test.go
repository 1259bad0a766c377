package userpkg

import (
	"crypto/rand"
	"testing"

	"pgregory.net/rapid"

	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// scenario appends records with a bug: it acknowledges each record as
// durable before the fsync that makes it so, and a power failure between
// the two loses an acknowledged record.
func scenario(records [][]byte) *sim.Scenario {
	return &sim.Scenario{
		Name:  "user-log",
		Doc:   "BUG: acknowledges each record before its fsync",
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			l, err := Open(env.FS, "/log")
			if err != nil {
				return err
			}
			defer l.Close()
			for _, rec := range records {
				env.Invoke(models.LogAppend{Record: rec})
				if err := l.Append(rec); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll() // the bug: before l.Sync
				if err := l.Sync(); err != nil {
					return err
				}
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) { return ReadAll(env.FS, "/log") },
	}
}

func TestUserLog(t *testing.T) {
	t.Run("two records", func(t *testing.T) {
		sim.Check(t, scenario([][]byte{[]byte("one"), []byte("two")}), sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets})
	})
}

func TestUserProperty(t *testing.T) {
	sim.CheckProperty(t, func(rt *rapid.T) (*sim.Scenario, sim.Options) {
		records := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 1, 16), 1, 4).Draw(rt, "records")
		return scenario(records), sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets}
	})
}

// TestUserRandom is scenario with records a real process would write:
// random, drawn at every run, so that running the workload again is
// another workload; only a saved execution (-crashsim.save) replays it.
func TestUserRandom(t *testing.T) {
	sc := scenario(nil)
	sc.Name = "user-random"
	sc.Run = func(env *sim.Env) error {
		recs := [][]byte{make([]byte, 8), make([]byte, 8)}
		for _, r := range recs {
			rand.Read(r)
		}
		return scenario(recs).Run(env)
	}
	sim.Check(t, sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets})
}
