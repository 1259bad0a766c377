//go:build !linux

package engine

import (
	"os"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// Outside Linux there is neither tmpfs detection nor MAP_SYNC: every file is
// a MappedFile unless forced to PMem.

func isTmpfs(fd int) (bool, error) { return false, nil }

func mmapSync(fd, length int) ([]byte, error) { return nil, unix.EOPNOTSUPP }

// remap maps f anew at the new length, then unmaps old, so that old stays
// valid if the new mapping fails.
func remap(old []byte, f *os.File, length int) ([]byte, error) {
	data, err := mmap.MapRegion(f, length, mmap.RDWR, 0, 0)
	if err != nil {
		return nil, err
	}
	// old came from mmap and is whole, so munmap cannot fail on it.
	m := mmap.MMap(old)
	_ = m.Unmap()
	return data, nil
}
