package sim

import (
	"os"
	"path"

	"github.com/crashsim/crashsim/engine"
)

// durableRegion creates the file name, maps size bytes of it and makes its
// size and name durable before anything is stored, as correct code does;
// done unmaps and closes.
func durableRegion(env *Env, name string, size int64) (r engine.Region, done func(), err error) {
	f, err := env.FS.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	if r, err = env.FS.Map(f, size); err != nil {
		f.Close()
		return nil, nil, err
	}
	done = func() { r.Close(); f.Close() }
	if err := f.Sync(); err != nil {
		done()
		return nil, nil, err
	}
	if err := env.FS.SyncDir(path.Dir(name)); err != nil {
		done()
		return nil, nil, err
	}
	return r, done, nil
}
