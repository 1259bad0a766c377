package engine

import (
	"errors"
	"io/fs"
	"os"
	"path"
)

// Durable directory operations: the steps that make a file's content and
// its name survive a power failure (docs/DESIGN.md F2: data is durable after
// File.Sync, a name after SyncDir of its directory), put together once so
// that no engine package gets their order wrong. Paths are those the FS
// takes; the parent of a path is path.Dir of it.

// SyncFile makes the data and size of the file name durable (fsync). It
// does not make the name durable: that takes SyncParent.
func SyncFile(fsys FS, name string) error {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncParent makes durable every create, remove and rename in the
// directory that holds name (fsync of the parent directory).
func SyncParent(fsys FS, name string) error {
	return fsys.SyncDir(path.Dir(name))
}

// WriteFileAtomic replaces the content of name with data so that a crash
// at any point leaves either the old file (or none) or the new one, whole,
// and so that the new one is durable when it returns: it writes data to
// name+".tmp", syncs it, renames it over name and syncs the directory.
//
// The temporary name is fixed, so that a crash leaves at most one stray
// temporary file, which the next call replaces: two WriteFileAtomic of one
// name must not run at once. On an error the temporary file is removed
// (when it can be) and name is unchanged, unless the error came from the
// final directory sync, when name may be either.
func WriteFileAtomic(fsys FS, name string, data []byte, perm fs.FileMode) error {
	tmp := name + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, name)
	}
	if err != nil {
		fsys.Remove(tmp) // best effort: a stray temporary file is replaced by the next call
		return err
	}
	return SyncParent(fsys, name)
}

// RenameDurable renames oldname to newname (atomically, replacing a file
// at newname) and syncs the directories of both, so that the rename is
// durable when it returns.
func RenameDurable(fsys FS, oldname, newname string) error {
	if err := fsys.Rename(oldname, newname); err != nil {
		return err
	}
	if err := SyncParent(fsys, newname); err != nil {
		return err
	}
	if path.Dir(oldname) != path.Dir(newname) {
		return SyncParent(fsys, oldname)
	}
	return nil
}

// MkdirAllDurable creates the directory dir and any missing parents, like
// FS.MkdirAll, and makes the name of each durable by syncing its parent.
// The parent of dir is synced even when dir already existed, since whoever
// created it may not have done so.
func MkdirAllDurable(fsys FS, dir string, perm fs.FileMode) error {
	dir = path.Clean(dir)
	var missing []string
	for p := dir; ; {
		_, err := fsys.Stat(p)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
		parent := path.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	if err := fsys.MkdirAll(dir, perm); err != nil {
		return err
	}
	// Top down: a directory's name is durable once its parent's is.
	synced := map[string]bool{}
	for i := len(missing) - 1; i >= 0; i-- {
		parent := path.Dir(missing[i])
		if err := fsys.SyncDir(parent); err != nil {
			return err
		}
		synced[parent] = true
	}
	if parent := path.Dir(dir); !synced[parent] && parent != dir {
		return fsys.SyncDir(parent)
	}
	return nil
}

// CreateStaging starts the durable creation of a new file name that is
// built under the temporary name name+".creating" and renamed into place
// once durable, so that a crash during the creation leaves no file rather
// than half of one. It fails with fs.ErrExist if name exists. A temporary
// file left by a creation that crashed is removed first, once its lock
// can be taken (a creation still running holds it). It returns the open
// temporary file and its name.
func CreateStaging(fsys FS, name string, perm fs.FileMode) (File, string, error) {
	if _, err := fsys.Stat(name); err == nil {
		return nil, "", &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	tmp := name + ".creating"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		// Left by a creation that crashed, unless one is running now.
		l, lerr := fsys.Lock(tmp, Exclusive)
		if lerr != nil {
			return nil, "", lerr
		}
		l.Close()
		if err := fsys.Remove(tmp); err != nil {
			return nil, "", err
		}
		f, err = fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	}
	if err != nil {
		return nil, "", err
	}
	return f, tmp, nil
}
