package storagetest

import (
	"io/fs"
	"os"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// permChecks: a file created with a mode has no permission beyond it, and
// its owner's permissions whole (a umask takes others' and the group's
// away, never the owner's), on every backend: shared-memory objects are
// created 0600 (engine/shm), so that no other user of the machine can map
// them.
var permChecks = []check{
	{"CreateMode", func(t *testing.T, fsys engine.FS, dir string) {
		for _, c := range []struct {
			name string
			perm fs.FileMode
		}{{"private", 0o600}, {"shared", 0o644}, {"umasked", 0o666}} {
			name := join(dir, c.name)
			f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, c.perm)
			if err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
			f.Close()
			fi, err := fsys.Stat(name)
			if err != nil {
				t.Fatalf("stat %s: %v", name, err)
			}
			if got := fi.Mode().Perm(); got&^c.perm != 0 || got&0o700 != c.perm&0o700 {
				t.Errorf("%s created with mode %v: %v", c.name, c.perm, got)
			}
		}
	}},
}
