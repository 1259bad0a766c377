package torture

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The media of the kill cycles.
const (
	mediumDisk = "disk" // a directory on the work directory's file system
	mediumShm  = "shm"  // /dev/shm: tmpfs, what the OS backend maps as shared memory
	mediumPMem = "pmem" // a file on the disk, mapped with the PMem rules forced (pools only)
)

// medium is where a kill case keeps its files.
type medium struct {
	Name   string
	Dir    string
	FSType string // of Dir, as statfs says
}

// media makes a directory for each medium under work (the disk) and in
// /dev/shm, and says which it had to skip and why.
func media(work string) (ms []medium, skipped []string, err error) {
	disk := filepath.Join(work, "disk")
	if err := os.MkdirAll(disk, 0o755); err != nil {
		return nil, nil, fmt.Errorf("torture: %w", err)
	}
	ms = append(ms, medium{mediumDisk, disk, fsType(disk)})
	if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
		skipped = append(skipped, "shm: no /dev/shm on this machine")
	} else if shm, err := os.MkdirTemp("/dev/shm", "crashsim-torture-"); err != nil {
		skipped = append(skipped, fmt.Sprintf("shm: %v", err))
	} else {
		ms = append(ms, medium{mediumShm, shm, fsType(shm)})
	}
	pmem := filepath.Join(work, "pmem")
	if err := os.MkdirAll(pmem, 0o755); err != nil {
		return nil, nil, fmt.Errorf("torture: %w", err)
	}
	ms = append(ms, medium{mediumPMem, pmem, fsType(pmem) + ", PMem forced"})
	return ms, skipped, nil
}

// fsType names the file system that holds path.
func fsType(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "unknown"
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("fs %#x", st.Type)
}
