package engine_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// everyPowerFailure explores sc under a power failure with every strategy,
// and with torn sectors and garbage tails.
func everyPowerFailure(t *testing.T, sc *sim.Scenario) {
	t.Helper()
	for _, s := range sim.Strategies {
		sim.Check(t, sc, sim.Options{Fault: sim.PowerFailure, Strategy: s, MaxStates: 64})
	}
	sim.Check(t, sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 64, Granularity: 512})
	sim.Check(t, sc, sim.Options{Fault: sim.ProcessCrash})
}

// readConfig is the recovery of the durable-helper scenarios: the content
// of name, as a one-key KV state.
func readConfig(fsys engine.FS, name string) (any, error) {
	state := map[string]string{}
	b, err := engine.ReadFile(fsys, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return state, nil
	case err != nil:
		return nil, err
	}
	state["config"] = string(b)
	return state, nil
}

// TestWriteFileAtomicSurvivesCrashes: each acknowledged WriteFileAtomic is
// durable, and a crash never shows a torn file or both names.
func TestWriteFileAtomicSurvivesCrashes(t *testing.T) {
	const name = "/data/a/b/config"
	everyPowerFailure(t, &sim.Scenario{
		Name:  "write-file-atomic",
		Model: models.KV(),
		Run: func(env *sim.Env) error {
			if err := engine.MkdirAllDurable(env.FS, "/data/a/b", 0o755); err != nil {
				return err
			}
			for i := range 3 {
				v := strings.Repeat(fmt.Sprint(i), 5000) // spans blocks: a torn file would show
				env.Invoke(models.KVPut{Key: "config", Value: v})
				if err := engine.WriteFileAtomic(env.FS, name, []byte(v), 0o644); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			state, err := readConfig(env.FS, name)
			if err != nil {
				return nil, err
			}
			// A stray temporary file may exist; the real name never is torn.
			return state, nil
		},
	})
}

// TestRenameDurableSurvivesCrashes: a file written, synced with SyncFile
// and renamed into place with RenameDurable is durable under its new name
// in another directory.
func TestRenameDurableSurvivesCrashes(t *testing.T) {
	everyPowerFailure(t, &sim.Scenario{
		Name:  "rename-durable",
		Model: models.KV(),
		Run: func(env *sim.Env) error {
			for _, d := range []string{"/in", "/out"} {
				if err := engine.MkdirAllDurable(env.FS, d, 0o755); err != nil {
					return err
				}
			}
			for i := range 2 {
				v := strings.Repeat(fmt.Sprint(i), 3000)
				env.Invoke(models.KVPut{Key: "config", Value: v})
				f, err := engine.Create(env.FS, "/in/new")
				if err != nil {
					return err
				}
				_, err = f.WriteAt([]byte(v), 0)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
				if err := engine.SyncFile(env.FS, "/in/new"); err != nil {
					return err
				}
				if err := engine.RenameDurable(env.FS, "/in/new", "/out/config"); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) { return readConfig(env.FS, "/out/config") },
	})
}

// TestDurableHelpersCatchMissingSteps: the same workload with one step
// left out (the directory sync of a rename) is caught, so the scenarios
// above are able to fail.
func TestDurableHelpersCatchMissingSteps(t *testing.T) {
	sc := &sim.Scenario{
		Name:  "rename-without-dirsync",
		Model: models.KV(),
		Run: func(env *sim.Env) error {
			if err := engine.MkdirAllDurable(env.FS, "/out", 0o755); err != nil {
				return err
			}
			env.Invoke(models.KVPut{Key: "config", Value: "v"})
			f, err := engine.Create(env.FS, "/out/new")
			if err != nil {
				return err
			}
			f.WriteAt([]byte("v"), 0)
			f.Sync()
			f.Close()
			if err := env.FS.Rename("/out/new", "/out/config"); err != nil {
				return err
			}
			env.Return(nil)
			env.DurableAll()
			return nil
		},
		Recover: func(env *sim.Env) (any, error) { return readConfig(env.FS, "/out/config") },
	}
	res, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.DropAll})
	if err != nil || len(res.Violations) == 0 {
		t.Fatalf("a rename without a directory sync was not caught: %v, %+v", err, res)
	}
}

func TestDurableHelpersOnOSFS(t *testing.T) {
	fsys := engine.OSFS{}
	dir := filepath.Join(t.TempDir(), "x", "y")
	if err := engine.MkdirAllDurable(fsys, dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := engine.MkdirAllDurable(fsys, dir, 0o755); err != nil {
		t.Fatalf("MkdirAllDurable of an existing directory: %v", err)
	}
	name := filepath.Join(dir, "f")
	for _, v := range []string{"first", "second, longer"} {
		if err := engine.WriteFileAtomic(fsys, name, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(name)
		if err != nil || string(b) != v {
			t.Fatalf("after WriteFileAtomic(%q): %q, %v", v, b, err)
		}
	}
	if _, err := os.Stat(name + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
	if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := engine.SyncFile(fsys, name); err != nil {
		t.Fatal(err)
	}
	if err := engine.SyncParent(fsys, name); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "g")
	if err := engine.RenameDurable(fsys, name, other); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(other); err != nil || string(b) != "second, longer" {
		t.Fatalf("after RenameDurable: %q, %v", b, err)
	}
	if err := engine.SyncFile(fsys, name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncFile of a missing file: %v, want ErrNotExist", err)
	}
	if err := engine.RenameDurable(fsys, name, other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RenameDurable of a missing file: %v, want ErrNotExist", err)
	}
	// A directory in the way of the temporary file: the error is returned
	// and the target is untouched.
	if err := os.Mkdir(other+".tmp", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := engine.WriteFileAtomic(fsys, other, []byte("x"), 0o600); err == nil {
		t.Error("WriteFileAtomic with a directory at the temporary name succeeded")
	}
	if b, _ := os.ReadFile(other); string(b) != "second, longer" {
		t.Errorf("a failed WriteFileAtomic changed the file: %q", b)
	}
}

// TestCreateStaging: a new file's temporary name, a leftover of a crashed
// creation reclaimed, and a name that exists refused.
func TestCreateStaging(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "pool")
	fsys := engine.OSFS{}
	if err := os.WriteFile(name+".creating", []byte("half of one"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, tmp, err := engine.CreateStaging(fsys, name, 0o644)
	if err != nil {
		t.Fatalf("CreateStaging over a leftover: %v", err)
	}
	if tmp != name+".creating" {
		t.Errorf("temporary name %q", tmp)
	}
	if fi, err := os.Stat(tmp); err != nil || fi.Size() != 0 {
		t.Errorf("the leftover was not replaced: %v %v", fi, err)
	}
	f.Close()
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
	if _, _, err := engine.CreateStaging(fsys, name, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateStaging of a name that exists: %v, want fs.ErrExist", err)
	}
}
