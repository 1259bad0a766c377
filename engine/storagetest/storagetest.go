// Package storagetest is the conformance suite of the storage layer: one set
// of checks that every backend of engine.FS, engine.File and engine.Region
// must pass, in the pattern of testing/fstest.TestFS and
// golang.org/x/net/nettest.TestConn. The OS backend defines the expected
// behaviour; a simulated backend that differs from it is wrong.
//
// # Usage
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) (engine.FS, string) {
//			return engine.OSFS{}, t.TempDir()
//		})
//	}
//
// Every check is a subtest with a backend of its own, and reports every
// failure it finds rather than stopping at the first. The suite reaches the
// backend only through the engine interfaces.
package storagetest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// Factory returns a fresh backend and the name of an existing, empty
// directory in it where a check may create what it needs. It is called once
// per check; clean-up is registered on t.
type Factory func(t *testing.T) (fsys engine.FS, dir string)

// check is one subtest of Run.
type check struct {
	name string
	run  func(t *testing.T, fsys engine.FS, dir string)
}

// Run runs every check of the suite against the backends newFS returns, each
// as a subtest.
func Run(t *testing.T, newFS Factory) {
	checks := [][]check{fileChecks, dirChecks, callChecks, lockChecks, regionChecks, permChecks}
	for _, cs := range checks {
		for _, c := range cs {
			t.Run(c.name, func(t *testing.T) {
				fsys, dir := newFS(t)
				c.run(t, fsys, dir)
			})
		}
	}
}

// wantErr reports unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// wantPathErr reports unless err is an *fs.PathError with the given Op
// wrapping target; a nil target accepts any underlying error, an empty op any
// Op.
func wantPathErr(t *testing.T, what string, err error, op string, target error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want *fs.PathError %q wrapping %v", what, op, target)
		return
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Errorf("%s: error %v is a %T, want *fs.PathError", what, err, err)
	} else if op != "" && pe.Op != op {
		t.Errorf("%s: error %v has Op %q, want %q", what, err, pe.Op, op)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// writeFile creates or truncates name with content.
func writeFile(t *testing.T, fsys engine.FS, name string, content []byte) {
	t.Helper()
	f, err := engine.Create(fsys, name)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if n, err := f.WriteAt(content, 0); err != nil || n != len(content) {
		t.Fatalf("write %s: %d, %v", name, n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
}

// wantContent reports unless name holds want.
func wantContent(t *testing.T, fsys engine.FS, name string, want []byte) {
	t.Helper()
	got, err := engine.ReadFile(fsys, name)
	if err != nil {
		t.Errorf("read %s: %v", name, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", name, got, want)
	}
}

// wantMissing reports unless name does not exist.
func wantMissing(t *testing.T, fsys engine.FS, name string) {
	t.Helper()
	_, err := fsys.Stat(name)
	wantPathErr(t, "stat "+name, err, "stat", fs.ErrNotExist)
}

// openFile opens name and closes it when the test ends.
func openFile(t *testing.T, fsys engine.FS, name string, flag int) engine.File {
	t.Helper()
	f, err := fsys.OpenFile(name, flag, 0o644)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func join(dir, name string) string { return path.Join(dir, name) }

const rw = os.O_RDWR
