package engine

import (
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// O_DSYNC is the open flag of synchronized data writes, which package os
// does not define: a write through a file opened with it returns once its
// data, and the size it needs to be read back, are durable, as if Datasync
// followed it. os.O_SYNC does the same for the data and all of the file's
// metadata, as if Sync followed. Neither makes the file's name durable.
const O_DSYNC = unix.O_DSYNC

// openFlags are the flags every backend of FS accepts. On Linux os.O_SYNC
// holds O_DSYNC's bit and one of its own, so a flag that holds either is
// in the set.
const openFlags = os.O_RDONLY | os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_EXCL |
	os.O_TRUNC | os.O_APPEND | os.O_SYNC | O_DSYNC

// accessModes masks the access mode of an open flag.
const accessModes = os.O_RDONLY | os.O_WRONLY | os.O_RDWR

// CheckOpenFlags returns an error if flag holds a flag that FS.OpenFile
// does not support, nil otherwise: an *fs.PathError{Op: "open"} wrapping
// ErrNotSupported and naming the flags. Every backend calls it first, so
// that no backend ignores a flag another one honours: open(2) ignores the
// flags it does not know, and a simulator that ignored O_DIRECT, say, would
// judge another program than the one that runs. The access mode must be
// one of O_RDONLY, O_WRONLY and O_RDWR (Linux's mode 3, for ioctl only, is
// not supported).
func CheckOpenFlags(name string, flag int) error {
	switch {
	case flag&^openFlags != 0:
		return &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: open flag %#x", ErrNotSupported, flag&^openFlags)}
	case flag&accessModes == accessModes:
		return &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: access mode %#x", ErrNotSupported, flag&accessModes)}
	}
	return nil
}

// SyncWrites reports whether a write through a file opened with flag is
// synchronized (O_SYNC or O_DSYNC): it returns once what it wrote is
// durable.
func SyncWrites(flag int) bool {
	return flag&O_DSYNC == O_DSYNC || flag&os.O_SYNC == os.O_SYNC
}
