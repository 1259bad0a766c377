//go:build !linux

package engine

import "golang.org/x/sys/unix"

// Outside Linux there is no fallocate(2): Allocate writes, as
// posix_fallocate does where the file system does not support it.

var fallocate = func(fd uintptr, off, n int64) error { return errNoFallocate }

var errNoFallocate = unix.EOPNOTSUPP
