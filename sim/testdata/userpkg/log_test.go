package userpkg

import (
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
