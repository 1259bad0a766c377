package faultfs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// TestWrapInjects: through Wrap, on real files, each fault does what it
// does on a faultfs.FS, with the same errors, counted by the same
// predicates on the paths the test gave.
func TestWrapInjects(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	log := new(faultfs.Log)
	rules := faultfs.NewRules(
		faultfs.Rule{When: faultfs.And(faultfs.PathGlob(filepath.Join(dir, "*")), faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(1)), Fault: faultfs.Error(syscall.EIO)},
		faultfs.Rule{When: faultfs.And(faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(1)), Fault: faultfs.ShortWrite}, // the first rule takes the second write
		faultfs.Rule{When: faultfs.OpKinds(faultfs.OpRead), Fault: faultfs.BitFlip(5)},
		faultfs.Rule{When: faultfs.OpKinds(faultfs.OpSync), Fault: faultfs.SyncFailure},
		faultfs.Rule{When: faultfs.OpKinds(faultfs.OpClose), Fault: faultfs.Error(syscall.EBADF)},
		faultfs.Rule{When: faultfs.OpKinds(faultfs.OpRename), Fault: faultfs.Error(syscall.EXDEV)},
	)
	fsys := faultfs.Wrap(engine.OSFS{}, injectors{rules, log})
	f, err := engine.Create(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.WriteAt([]byte("abcd"), 0); n != 4 || err != nil {
		t.Fatalf("the first write: %d, %v", n, err)
	}
	n, err := f.WriteAt([]byte("efgh"), 4)
	var pe *fs.PathError
	if n != 0 || !errors.As(err, &pe) || pe.Op != "write" || pe.Path != name || !errors.Is(err, syscall.EIO) || !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("the second write: %d, %v; want PathError{write %s} wrapping EIO and ErrInjected", n, err, name)
	}
	if n, err := f.WriteAt([]byte("ijkl"), 4); n != 2 || !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("the short write: %d, %v", n, err)
	}
	b := make([]byte, 6)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) == "abcdij" {
		t.Fatalf("the read with a bit flip: %q, %v", b, err)
	}
	if got, _ := os.ReadFile(name); string(got) != "abcdij" {
		t.Fatalf("the file holds %q, want the first write and half of the short one", got)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) || !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("Sync: %v, want the injected EIO", err)
	}
	err = fsys.Rename(name, name+".new")
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("Rename: %v, want a LinkError wrapping EXDEV", err)
	}
	if err := f.Close(); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Close: %v, want the injected EBADF", err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("a second Close: %v; the first closed the file", err)
	}
	if unfired := rules.Unfired(); len(unfired) != 0 {
		t.Fatalf("unfired: %v", unfired)
	}
	ops := log.Ops()
	if ops[0].Kind != faultfs.OpOpen || ops[0].Path != name || ops[1].Index != 1 || ops[1].String() != "#1 write "+name+" [0,4)" {
		t.Fatalf("the injector saw %v", ops[:2])
	}
}

// injectors is a Rules and a Log: the log sees every operation.
type injectors struct {
	rules *faultfs.Rules
	log   *faultfs.Log
}

func (in injectors) MaybeInject(op faultfs.Op) faultfs.Fault {
	in.log.Observe(op)
	return in.rules.MaybeInject(op)
}
