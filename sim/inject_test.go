package sim

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// retryingLog appends three 8-byte records to /data/log, each made durable
// with a Sync that it retries once when it fails — the bug Linux's fsync
// semantics punish (docs/DESIGN.md F3): the retry reports success, the
// pages are gone. It injects rules, built by the caller, once it has
// looked for a file that is not there.
func retryingLog(name string, rules ...faultfs.Rule) *Scenario {
	return &Scenario{
		Name:  name,
		Model: models.Log(),
		Run: func(env *Env) error {
			if _, err := env.FS.Stat("/data/old-log"); !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			env.Inject(rules...)
			if err := engine.MkdirAllDurable(env.FS, "/data", 0o755); err != nil {
				return err
			}
			f, err := env.FS.OpenFile("/data/log", os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := env.FS.SyncDir("/data"); err != nil {
				return err
			}
			for i := range 3 {
				rec := binary.LittleEndian.AppendUint64(nil, uint64(i+1))
				env.Invoke(models.LogAppend{Record: rec})
				if _, err := f.WriteAt(rec, int64(i)*8); err != nil {
					return err
				}
				if err := f.Sync(); err != nil {
					if err := f.Sync(); err != nil { // BUG: the retry
						return err
					}
				}
				env.Return(nil)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *Env) (any, error) {
			f, err := env.FS.OpenFile("/data/log", os.O_RDONLY, 0)
			if errors.Is(err, fs.ErrNotExist) {
				return [][]byte(nil), nil
			}
			if err != nil {
				return nil, err
			}
			defer f.Close()
			var out [][]byte
			for off := int64(0); ; off += 8 {
				rec := make([]byte, 8)
				if _, err := f.ReadAt(rec, off); err == io.EOF {
					return out, nil
				} else if err != nil {
					return nil, err
				}
				out = append(out, rec)
			}
		},
	}
}

// TestInjectionPerExploration (docs/DESIGN.md F3): a rule built once,
// outside the workload, fires in every exploration and every replay — its
// OnIndex counts from 0 each time — and the fault it injects, like every
// error a storage call returns, is in the trace.
func TestInjectionPerExploration(t *testing.T) {
	rule := faultfs.Rule{
		When:  faultfs.And(faultfs.PathGlob("/data/log"), faultfs.OpKinds(faultfs.OpSync), faultfs.OnIndex(1)),
		Fault: faultfs.SyncFailure,
	}
	sc := retryingLog("retrying-log", rule)
	opts := Options{Fault: PowerFailure, Strategy: DropAll, Workers: 1}
	var first *Result
	for i := range 3 {
		res, err := Explore(sc, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.RunError != "" || len(res.Violations) == 0 {
			t.Fatalf("exploration %d: run error %q, %d violations; want the retried fsync caught", i+1, res.RunError, len(res.Violations))
		}
		if first == nil {
			first = res
		} else if res.Violations[0].ReplayID != first.Violations[0].ReplayID {
			t.Fatalf("exploration %d found %s, the first %s", i+1, res.Violations[0].ReplayID, first.Violations[0].ReplayID)
		}
	}
	id, err := ParseReplayID(first.Violations[0].ReplayID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		rp, err := RunReplay(sc, id)
		if err != nil || rp.Violation == nil {
			t.Fatalf("replay %d: %v, %+v; want the violation again", i+1, err, rp)
		}
		errs := map[string]string{}
		for _, e := range append(rp.Trace, rp.Recovery...) {
			if e.Err != "" {
				errs[e.Kind+" "+e.Path] = e.Err
			}
		}
		for op, want := range map[string]string{
			"stat /data/old-log": "ENOENT",
			"sync /data/log":     "EIO (injected sync failure)",
			"read /data/log":     "EOF",
		} {
			if errs[op] != want {
				t.Errorf("replay %d: %s returned %q in the trace, want %q (all: %v)", i+1, op, errs[op], want, errs)
			}
		}
		var text strings.Builder
		if err := rp.Format(&text, 0, ""); err != nil || !strings.Contains(text.String(), "sync /data/log = EIO (injected sync failure)") {
			t.Errorf("replay %d: the printed trace does not show the injected fault (%v):\n%s", i+1, err, text.String())
		}
	}
}

// TestInjectionNeverFired: a rule that never fires fails the run, as the
// design says (docs/DESIGN.md F3), whatever the workload makes of it; one
// that fires does not.
func TestInjectionNeverFired(t *testing.T) {
	never := faultfs.Rule{When: faultfs.PathGlob("/nowhere/*"), Fault: faultfs.Error(syscall.EIO)}
	for _, opts := range []Options{{Fault: PowerFailure}, {Fault: ProcessCrash}} {
		res, err := Explore(retryingLog("never", never), opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK() || !strings.Contains(res.RunError, "never fired: error input/output error on path /nowhere/*") {
			t.Errorf("%v: run error %q, want the rule that never fired", opts.Fault, res.RunError)
		}
	}
	once := faultfs.Rule{When: faultfs.OpKinds(faultfs.OpSyncDir), Fault: faultfs.Error(syscall.EIO)}
	res, err := Explore(retryingLog("fires", once), Options{Fault: PowerFailure})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.RunError, "never fired") || !strings.Contains(res.RunError, "input/output error") {
		t.Errorf("run error %q, want the workload's own (the injected EIO)", res.RunError)
	}
}
