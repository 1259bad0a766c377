package engine

import (
	"os"

	"golang.org/x/sys/unix"
)

// isTmpfs reports whether fd is a file on tmpfs, such as /dev/shm.
func isTmpfs(fd int) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return false, err
	}
	return st.Type == unix.TMPFS_MAGIC, nil
}

// mmapSync maps fd with MAP_SYNC, which the kernel grants only where stores
// need no page-cache write-back: on a DAX file system.
func mmapSync(fd, length int) ([]byte, error) {
	return unix.Mmap(fd, 0, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED_VALIDATE|unix.MAP_SYNC)
}

// remap resizes the mapping old in place or elsewhere; mremap keeps its
// flags, MAP_SYNC included.
func remap(old []byte, _ *os.File, length int) ([]byte, error) {
	return unix.Mremap(old, length, unix.MREMAP_MAYMOVE)
}
