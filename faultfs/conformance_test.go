package faultfs_test

import (
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/storagetest"
	"github.com/crashsim/crashsim/faultfs"
)

// TestConformance runs the conformance suite every backend passes
// (DESIGN.md section 3).
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (engine.FS, string) {
		fsys := faultfs.New(faultfs.Options{})
		if err := fsys.MkdirAll("/work", 0o755); err != nil {
			t.Fatal(err)
		}
		return fsys, "/work"
	})
}
