package engine

import (
	"fmt"
	"os"
)

// Linker is an FS that can give a file a second name, as link(2) does.
// Link uses it; an FS without it cannot link.
type Linker interface {
	// Link has the semantics of the function Link.
	Link(oldname, newname string) error
}

// Link makes newname a new name of the file oldname (a hard link): both
// names are the same file, and a write through one is seen through the
// other, until one is removed. newname must not exist; unlike Rename, Link
// never replaces a name, so it publishes a file only where there was none
// (an atomic "create if absent, whole").
//
// The new name is a namespace change of its directory, durable after
// SyncDir of newname's parent, like a create; the file's data are durable
// after File.Sync, whatever its names.
//
// Errors are those of os.Link: an *os.LinkError with Op "link" wrapping
// fs.ErrExist when newname exists, fs.ErrNotExist when oldname does not,
// syscall.EPERM when oldname is a directory, syscall.EXDEV across file
// systems. An FS that is no Linker gives an error wrapping ErrNotSupported.
func Link(fsys FS, oldname, newname string) error {
	if l, ok := fsys.(Linker); ok {
		return l.Link(oldname, newname)
	}
	return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fmt.Errorf("%w: hard link on a %T", ErrNotSupported, fsys)}
}
