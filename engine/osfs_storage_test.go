package engine_test

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/storagetest"
)

// TestOSFSConformance runs the conformance suite against the OS backend on
// each medium it picks: a disk file system (MappedFile), tmpfs
// (SharedMemory), and tmpfs forced to PMem.
func TestOSFSConformance(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) (engine.FS, string) {
			return engine.OSFS{}, t.TempDir()
		})
	})
	t.Run("shm", func(t *testing.T) {
		skipWithoutShm(t)
		storagetest.Run(t, func(t *testing.T) (engine.FS, string) {
			return engine.OSFS{}, shmDir(t)
		})
	})
	t.Run("pmem-forced", func(t *testing.T) {
		skipWithoutShm(t)
		storagetest.Run(t, func(t *testing.T) (engine.FS, string) {
			return engine.OSFS{Medium: engine.PMem}, shmDir(t)
		})
	})
}

func skipWithoutShm(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/shm"); errors.Is(err, fs.ErrNotExist) {
		t.Skip("/dev/shm does not exist on this system: no tmpfs to test shared memory on")
	}
}

// shmDir returns a new empty directory under /dev/shm, removed when the test
// ends.
func shmDir(t testing.TB) string {
	t.Helper()
	skipWithoutShm(t)
	dir, err := os.MkdirTemp("/dev/shm", "crashsim-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
