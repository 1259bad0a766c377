package mount_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

// randomLog is osLog's program with the directory's fsync left out,
// writing what a real process might: records it makes up as it runs,
// random each time, so that no two runs are one workload.
func randomLog() *sim.Scenario {
	sc := osLog("os-log-random", noDirSync)
	sc.Run = func(env *sim.Env) error {
		mnt, err := mount.Env(env, mount.Options{})
		if err != nil {
			return err
		}
		defer mnt.Close()
		var records [][]byte
		for range 3 {
			b := make([]byte, 6)
			rand.Read(b)
			rec := []byte("record " + hex.EncodeToString(b))
			env.Invoke(models.LogAppend{Record: rec})
			records = append(records, rec)
			err := writeLog(mnt.Dir(), records, noDirSync)
			env.Return(err)
			if err != nil {
				return err
			}
			env.DurableAll()
		}
		return nil
	}
	return sc
}

// TestSavedExecutionReplaysARealProcess: the program's violations cannot
// be replayed by running it again — it writes other records, and the
// replay says it is another workload — but the run's saved execution,
// written to a file and read back, rebuilds each violation's crash image
// byte for byte, recovers it on a fresh mount and judges it the same.
func TestSavedExecutionReplaysARealProcess(t *testing.T) {
	requireMountable(t)
	res, err := sim.Explore(randomLog(), sim.Options{Fault: sim.PowerFailure, MaxStates: 64, SaveExecution: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.RunError != "" || len(res.Violations) == 0 {
		t.Fatalf("run error %q, no violation:\n%s", res.RunError, describe(res))
	}
	e := res.Execution
	if len(e.States) != len(res.Violations) {
		t.Fatalf("%d states saved of %d violations (%q)", len(e.States), len(res.Violations), e.Unsaved)
	}
	file := t.TempDir() + "/run" + sim.ExecutionExt
	if err := sim.WriteExecution(file, e); err != nil {
		t.Fatal(err)
	}
	read, err := sim.ReadExecution(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range res.Violations {
		id, err := sim.ParseReplayID(v.ReplayID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sim.RunReplay(randomLog(), id); !errors.Is(err, sim.ErrOtherWorkload) {
			t.Fatalf("%s: the replay that runs the program again: %v, want ErrOtherWorkload", id, err)
		}
		saved := read.States[i]
		if saved.ID != v.ReplayID || !reflect.DeepEqual(saved.Image, e.States[i].Image) {
			t.Fatalf("%s: the image read back is not the one the run saved", id)
		}
		img, err := faultfs.FromImage(saved.Image)
		if err != nil || img.Fingerprint() != e.States[i].Fingerprint {
			t.Fatalf("%s: the image rebuilt from the file is not the run's: %v", id, err)
		}
		rep, err := sim.RunSavedReplay(randomLog(), id, read)
		if err != nil {
			t.Fatalf("%s: saved replay: %v", id, err)
		}
		if rep.Saved == "" || rep.Violation == nil || rep.Violation.Problem != v.Problem || rep.Violation.Observed != v.Observed || rep.Violation.Expected != v.Expected {
			t.Fatalf("%s: saved replay (%q) judges %q, the run %q (observed %q)", id, rep.Saved, rep.Verdict, v.Problem, v.Observed)
		}
	}
	t.Logf("%d violations, saved in %d bytes", len(res.Violations), func() int { b, _ := sim.EncodeExecution(e); return len(b) }())
}
