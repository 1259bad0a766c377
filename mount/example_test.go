package mount_test

import (
	"testing"

	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

// TestExampleCheck is the package doc's Usage: writeLog, a program that
// calls package os, checked from go test through the mount.
func TestExampleCheck(t *testing.T) {
	requireMountable(t)
	sc := &sim.Scenario{
		Name:  "os-log",
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			mnt, err := mount.Env(env, mount.Options{})
			if err != nil {
				return err
			}
			defer mnt.Close()
			var records [][]byte
			for _, rec := range [][]byte{[]byte("a"), []byte("b")} {
				records = append(records, rec)
				env.Invoke(models.LogAppend{Record: rec})
				err = writeLog(mnt.Dir(), records, correct)
				env.Return(err)
				if err != nil {
					return err
				}
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			mnt, err := mount.Env(env, mount.Options{})
			if err != nil {
				return nil, err
			}
			defer mnt.Close()
			return readLog(mnt.Dir())
		},
	}
	sim.Check(t, sc, sim.Options{Fault: sim.PowerFailure})
}
