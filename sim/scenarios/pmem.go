package scenarios

import (
	"errors"
	"io/fs"
	"os"

	"github.com/crashsim/crashsim/engine"
)

// mapPMem creates (or opens) a persistent-memory file of size bytes and maps
// it. With create it also makes the file's size and name durable before
// anything is stored, as correct code must: a mapping of a file whose size
// is not durable can lose everything.
func mapPMem(fsys engine.FS, name string, size int64, create bool) (engine.Region, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := fsys.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := fsys.Map(f, size)
	if err != nil {
		return nil, err
	}
	if create {
		if err := f.Sync(); err != nil {
			r.Close()
			return nil, err
		}
		if err := fsys.SyncDir("/pmem"); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// openPMem maps an existing persistent-memory file for recovery, or
// reports that it does not exist.
func openPMem(fsys engine.FS, name string, size int64) (engine.Region, bool, error) {
	r, err := mapPMem(fsys, name, size, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return r, err == nil, err
}
