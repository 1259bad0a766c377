package faultfs_test

import (
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/storagetest"
	"github.com/crashsim/crashsim/faultfs"
)

// TestConformance runs the conformance suite every backend passes
// (docs/DESIGN.md section 3).
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (engine.FS, string) {
		fsys := faultfs.New(faultfs.Options{})
		if err := fsys.MkdirAll("/work", 0o755); err != nil {
			t.Fatal(err)
		}
		return fsys, "/work"
	})
}

// TestConformanceOnMedia runs it in a persistent-memory mount and in a
// shared-memory mount: the media change what survives a crash, never what
// the file system does.
func TestConformanceOnMedia(t *testing.T) {
	for _, m := range []engine.Medium{engine.PMem, engine.SharedMemory} {
		t.Run(m.String(), func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) (engine.FS, string) {
				fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/mnt", Medium: m}}})
				if err := fsys.MkdirAll("/mnt/work", 0o755); err != nil {
					t.Fatal(err)
				}
				return fsys, "/mnt/work"
			})
		})
	}
}

// TestConformanceWrapped: the injecting wrapper, with nothing to inject, is
// a backend like any other, over the OS backend and over faultfs.
func TestConformanceWrapped(t *testing.T) {
	t.Run("os", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) (engine.FS, string) {
			return faultfs.Wrap(engine.OSFS{}, nil), t.TempDir()
		})
	})
	t.Run("faultfs", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) (engine.FS, string) {
			fsys := faultfs.New(faultfs.Options{})
			if err := fsys.MkdirAll("/work", 0o755); err != nil {
				t.Fatal(err)
			}
			return faultfs.Wrap(fsys, faultfs.NewRules()), "/work"
		})
	})
}
