package engine

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// RemoveAll removes name and, if it is a directory, everything in it, as
// os.RemoveAll does: the entries of a directory, in name order, before the
// directory, each with FS.Remove. It returns nil if name does not exist.
//
// It is not atomic, on any backend: each remove is a namespace change of
// its own, durable after SyncDir of its directory, and a crash may leave
// any prefix of them (faultfs rule 8): a directory partly emptied, never a
// directory gone while a name in it is left. Code that must see all or
// nothing renames the tree to a name recovery ignores first, and syncs
// that rename, then removes it.
//
// It is built on Stat, ReadDir and Remove, so that it behaves alike on
// every backend and its errors are theirs; like os.RemoveAll, it refuses a
// name whose last element is "." (an *fs.PathError wrapping
// syscall.EINVAL). It stops at the first error.
func RemoveAll(fsys FS, name string) error {
	if name == "." || strings.HasSuffix(name, "/.") {
		return &fs.PathError{Op: "RemoveAll", Path: name, Err: syscall.EINVAL}
	}
	fi, err := fsys.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	}
	if fi.IsDir() {
		entries, err := fsys.ReadDir(name)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := RemoveAll(fsys, path.Join(name, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
