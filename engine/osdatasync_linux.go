package engine

import (
	"errors"

	"golang.org/x/sys/unix"
)

// fdatasync is fdatasync(2), retried when a signal interrupts it.
func fdatasync(fd uintptr) error {
	for {
		err := unix.Fdatasync(int(fd))
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
