package faultfs

import (
	"io"
	"io/fs"

	"github.com/crashsim/crashsim/engine"
)

// View returns the file system as seen by owner, a simulated process id:
// every operation made through it, and through the files, regions and
// locks opened through it, carries Op.Owner = owner, so that a trace can
// tell the processes apart and ReleaseLocks can do what the kernel does
// when one dies (docs/DESIGN.md F1). The plain *FS is owner 0. A view is the
// same file system, not a copy: a file opened through one view may be
// mapped through another.
func (fsys *FS) View(owner int) engine.FS {
	return view{fs: fsys, owner: owner}
}

type view struct {
	fs    *FS
	owner int
}

var (
	_ engine.FS     = view{}
	_ engine.Linker = view{}
)

func (v view) OpenFile(name string, flag int, perm fs.FileMode) (engine.File, error) {
	return v.fs.openFile(v.owner, name, flag, perm)
}

func (v view) Remove(name string) error { return v.fs.remove(v.owner, name) }

func (v view) Rename(oldname, newname string) error { return v.fs.renameAs(v.owner, oldname, newname) }

func (v view) Link(oldname, newname string) error { return v.fs.linkAs(v.owner, oldname, newname) }

func (v view) MkdirAll(name string, perm fs.FileMode) error {
	return v.fs.mkdirAll(v.owner, name, perm)
}

func (v view) ReadDir(name string) ([]fs.DirEntry, error) { return v.fs.readDir(v.owner, name) }

func (v view) Stat(name string) (fs.FileInfo, error) { return v.fs.stat(v.owner, name) }

func (v view) SyncDir(name string) error { return v.fs.syncDirAs(v.owner, name) }

func (v view) Lock(name string, mode engine.LockMode) (io.Closer, error) {
	return v.fs.lock(v.owner, name, mode)
}

func (v view) Map(f engine.File, length int64) (engine.Region, error) {
	return v.fs.mapFile(v.owner, f, length)
}
