package engine

import (
	"errors"

	"golang.org/x/sys/unix"
)

// fallocate allocates [off, off+n) of fd with fallocate(2) in mode 0, which
// extends the file, retrying when a signal interrupts it (the Go runtime
// sends them to preempt goroutines). A test replaces it to play a file
// system without fallocate.
var fallocate = func(fd uintptr, off, n int64) error {
	for {
		err := unix.Fallocate(int(fd), 0, off, n)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// errNoFallocate is fallocate's error where the file system does not
// support it: Allocate then writes instead, as posix_fallocate does.
var errNoFallocate = unix.EOPNOTSUPP
