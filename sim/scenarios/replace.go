package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// The atomic file replace: a configuration file updated by writing a
// temporary file, fsyncing it, renaming it over the old one and fsyncing
// the directory. Each value is a few KiB, so it spans several sectors and
// blocks and a torn file is visible.
const (
	replaceDir     = "/data"
	replaceFile    = "/data/config"
	replaceTemp    = "/data/config.tmp"
	replaceUpdates = 3
)

// replaceSteps are the steps of an update a variant takes: fsync the
// temporary file, fsync the directory; syncFirst fsyncs the temporary
// file of the first update only, which installs the file where no file of
// that name was.
type replaceSteps struct{ syncTemp, syncDir, syncFirst bool }

func init() {
	register(
		func() *sim.Scenario {
			return fileReplace("file-replace", "replace a file atomically: write a temporary file, fsync, rename over, fsync the directory", replaceSteps{syncTemp: true, syncDir: true})
		},
		func() *sim.Scenario {
			return fileReplace("file-replace-bug-no-fsync", "BUG: renames the temporary file before fsyncing it: the new name may hold lost data", replaceSteps{syncDir: true})
		},
		func() *sim.Scenario {
			return fileReplace("file-replace-bug-no-dirsync", "BUG: acknowledges the update without fsyncing the directory: the rename may be lost", replaceSteps{syncTemp: true})
		},
		func() *sim.Scenario {
			return fileReplace("file-replace-bug-update-no-fsync", "BUG: renames each update over the file unfsynced (the first is fsynced): safe only where a rename over a file flushes it first (ext4 data=ordered, btrfs)",
				replaceSteps{syncDir: true, syncFirst: true})
		},
	)
}

func fileReplace(name, doc string, steps replaceSteps) *sim.Scenario {
	return &sim.Scenario{
		Name:   name,
		Doc:    doc,
		Faults: nil,
		Model:  models.KV(),
		Run: func(env *sim.Env) error {
			if err := env.FS.MkdirAll(replaceDir, 0o755); err != nil {
				return err
			}
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			for i := range replaceUpdates {
				v := fmt.Sprintf("config version %d, %d: ", i+1, env.Rand.IntN(1e6))
				v += strings.Repeat(fmt.Sprintf("%d", i+1), 3000-len(v))
				env.Invoke(models.KVPut{Key: "config", Value: v})
				s := steps
				s.syncTemp = s.syncTemp || s.syncFirst && i == 0
				if err := replace(env.FS, []byte(v), s); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			state := map[string]string{}
			b, err := engine.ReadFile(env.FS, replaceFile)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return state, nil
			case err != nil:
				return nil, err
			}
			state["config"] = string(b)
			return state, nil
		},
	}
}

func replace(fsys engine.FS, v []byte, steps replaceSteps) error {
	f, err := fsys.OpenFile(replaceTemp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(v, 0); err != nil {
		f.Close()
		return err
	}
	if steps.syncTemp {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(replaceTemp, replaceFile); err != nil {
		return err
	}
	if steps.syncDir {
		return fsys.SyncDir(replaceDir)
	}
	return nil
}
