package engine

import (
	"io"
	"io/fs"
	"syscall"
)

// Allocator is a File that can have the file system allocate the blocks of
// a range without writing them, as fallocate(2) does. Allocate uses it when
// a File has it; a File without it is allocated by writing (see Allocate).
type Allocator interface {
	// Allocate has the semantics of the function Allocate.
	Allocate(off, n int64) error
}

// Allocate has the file system allocate every block of [off, off+n) of f,
// extending f with zeros if off+n is past its end, as posix_fallocate(3)
// does. Data already in the range is unchanged.
//
// Map and Region.Grow extend a file with a hole: a page of it gets a block
// only when a store (on tmpfs, even a load) through the mapping first
// touches it, and if the file system is full the kernel kills the process
// with SIGBUS (docs/DESIGN.md F2, "mapped pages on a full disk"). Allocating
// the range first turns that death into an error: on a full disk Allocate
// fails early with an error wrapping syscall.ENOSPC, and after it succeeds
// no access through a mapping of the range needs a block. Code that maps a
// file it grows should Allocate each range before it maps or grows over it.
//
// The blocks and the new size are durable after File.Sync. The error is
// an *fs.PathError, fallocate(2)'s: Op "fallocate" wrapping
// syscall.EINVAL for a negative off or an n that is not positive, EBADF
// for a file not open for writing, fs.ErrClosed after Close; ENOSPC when
// the file system has too few free blocks, in which case it may have
// allocated a part of the range and grown the file over that part (ext4
// does; tmpfs allocates nothing).
//
// A File that is an Allocator is asked to do all of this. Otherwise, and
// where the file system does not support fallocate (EOPNOTSUPP), Allocate
// does what glibc's posix_fallocate does then: it writes a zero byte in each
// 4 KiB block of the range whose byte there reads as zero, which allocates
// the block, and its errors are those of the reads and writes (Op "read"
// and "write"; EINVAL with Op "fallocate" for a bad range). That write
// races with a concurrent store to the same byte, so the range must not be
// written concurrently.
func Allocate(f File, off, n int64) error {
	if a, ok := f.(Allocator); ok {
		return a.Allocate(off, n)
	}
	return allocateByWriting(f, off, n)
}

// allocateByWriting is Allocate by writing, as posix_fallocate does where
// fallocate(2) is not supported: the last byte of each 4 KiB block of the
// range, or of the part of it that is in the range, is read, and written
// back as zero if it is zero (a non-zero byte means the block holds data,
// so it is allocated). The last write is at off+n-1, so the file is at
// least off+n bytes long afterwards.
func allocateByWriting(f File, off, n int64) error {
	if off < 0 || n <= 0 {
		return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: syscall.EINVAL}
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	end := off + n
	var b [1]byte
	for at := off; at < end; {
		next := min((at/PageSize+1)*PageSize, end)
		last := next - 1
		b[0] = 0
		if last < size {
			if _, err := f.ReadAt(b[:], last); err != nil && err != io.EOF {
				return err
			}
		}
		if b[0] == 0 {
			if _, err := f.WriteAt([]byte{0}, last); err != nil {
				return err
			}
		}
		at = next
	}
	return nil
}
