//go:build !linux

package engine

import (
	"errors"

	"golang.org/x/sys/unix"
)

// fdatasync is fsync(2) outside Linux, where fdatasync(2) is not everywhere:
// it makes no less durable.
func fdatasync(fd uintptr) error {
	for {
		err := unix.Fsync(int(fd))
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
