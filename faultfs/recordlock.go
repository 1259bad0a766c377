package faultfs

import (
	"fmt"
	"io/fs"
	"math"
	"slices"
	"syscall"

	"github.com/crashsim/crashsim/engine"
)

// Record locks are fcntl(2)'s POSIX byte-range locks (F_SETLK, F_SETLKW,
// F_GETLK), kept beside the flock table of each inode. A record lock
// belongs to an owner (for a FUSE request, the kernel's lock owner id: in
// effect the process), covers [Start, End] with End = RecordEOF for "to
// the end of the file, however long", and is shared or exclusive. An
// owner's own locks never conflict with each other: setting a range first
// removes the owner's locks over it (splitting those that stick out) and
// then adds the new one, merged with the owner's adjacent or overlapping
// locks of the same type. Two owners conflict where their ranges overlap
// and one of the locks is exclusive. Like flock locks, record locks are
// released by ReleaseLocks of the simulated process that took them and
// are never part of a crash clone.

// RecordEOF is the End of a record lock that reaches the end of the file
// however far it grows (fcntl's l_len = 0).
const RecordEOF = math.MaxInt64

// RecordLock is one POSIX record lock.
type RecordLock struct {
	Owner      uint64 // the lock owner: locks of one owner never conflict
	Pid        int    // the process F_GETLK reports as the holder
	Start, End int64  // the range, End included; End = RecordEOF for "to EOF"
	Exclusive  bool   // a write lock (F_WRLCK); else a read lock (F_RDLCK)
}

func (l RecordLock) overlaps(start, end int64) bool { return l.Start <= end && start <= l.End }

func (l RecordLock) String() string {
	t := "rd"
	if l.Exclusive {
		t = "wr"
	}
	end := "EOF"
	if l.End != RecordEOF {
		end = fmt.Sprint(l.End)
	}
	return fmt.Sprintf("%s [%d,%s] owner %#x pid %d", t, l.Start, end, l.Owner, l.Pid)
}

// RecordLocker is the record locks of a file system as one simulated
// process takes them: *FS (process 0) and its Views implement it, and so
// do the processes of a sim.Machine. It is apart from engine.FS, whose
// locks are whole-file flock locks, because only the mount needs it.
type RecordLocker interface {
	// RecordLock sets l on the file name, as F_SETLK does: the range of
	// l.Owner's locks becomes l. A conflicting lock of another owner gives
	// an *fs.PathError{Op: "setlk"} wrapping engine.ErrLocked (EAGAIN).
	RecordLock(name string, l RecordLock) error
	// RecordUnlock removes owner's locks over [start, end], splitting
	// those that stick out, as F_SETLK with F_UNLCK does.
	RecordUnlock(name string, owner uint64, start, end int64) error
	// TestRecordLock returns the first lock that would conflict with l,
	// and true, as F_GETLK does; false when l could be set.
	TestRecordLock(name string, l RecordLock) (RecordLock, bool, error)
}

var (
	_ RecordLocker = (*FS)(nil)
	_ RecordLocker = view{}
)

func (fsys *FS) RecordLock(name string, l RecordLock) error { return fsys.recordLock(0, name, l) }

func (fsys *FS) RecordUnlock(name string, owner uint64, start, end int64) error {
	return fsys.recordUnlock(0, name, owner, start, end)
}

func (fsys *FS) TestRecordLock(name string, l RecordLock) (RecordLock, bool, error) {
	return fsys.testRecordLock(name, l)
}

func (v view) RecordLock(name string, l RecordLock) error { return v.fs.recordLock(v.owner, name, l) }

func (v view) RecordUnlock(name string, owner uint64, start, end int64) error {
	return v.fs.recordUnlock(v.owner, name, owner, start, end)
}

func (v view) TestRecordLock(name string, l RecordLock) (RecordLock, bool, error) {
	return v.fs.testRecordLock(name, l)
}

// recordLocked is a record lock in the table: the lock and the simulated
// process that took it, whose death releases it.
type recordLocked struct {
	RecordLock
	proc int
}

// recordFile returns the inode of name for a record-lock operation, which
// needs the file to exist (it is open). fs.mu must be held.
func (fsys *FS) recordFile(op, name string, start, end int64) (*inode, error) {
	if start < 0 || end < start {
		return nil, pathError(op, name, syscall.EINVAL)
	}
	_, _, node, errno := fsys.resolve(cleanPath(name))
	if errno != 0 {
		return nil, pathError(op, name, errno)
	}
	if node == nil {
		return nil, pathError(op, name, fs.ErrNotExist)
	}
	return node, nil
}

func (fsys *FS) recordLock(proc int, name string, l RecordLock) (err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	_, fault := fsys.begin(Op{Kind: OpRecordLock, Path: cleanPath(name), Off: l.Start, Len: l.End - l.Start, Owner: proc, Note: recordType(l.Exclusive)})
	if err := fault.err("setlk", name); err != nil {
		return err
	}
	node, err := fsys.recordFile("setlk", name, l.Start, l.End)
	if err != nil {
		return err
	}
	if _, ok := conflict(node.locks.records, l); ok {
		return pathError("setlk", name, engine.ErrLocked)
	}
	recs := unlockRange(node.locks.records, l.Owner, l.Start, l.End)
	// Merge with the owner's locks of the same type that touch the range.
	for i := 0; i < len(recs); {
		r := recs[i]
		if r.Owner == l.Owner && r.Exclusive == l.Exclusive && touches(r.RecordLock, l) {
			l.Start, l.End = min(l.Start, r.Start), max(l.End, r.End)
			recs = slices.Delete(recs, i, i+1)
			continue
		}
		i++
	}
	node.locks.records = append(recs, recordLocked{RecordLock: l, proc: proc})
	fsys.recordNodes[node] = true
	return nil
}

func (fsys *FS) recordUnlock(proc int, name string, owner uint64, start, end int64) (err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	_, fault := fsys.begin(Op{Kind: OpRecordUnlock, Path: cleanPath(name), Off: start, Len: end - start, Owner: proc})
	node, err := fsys.recordFile("unlock", name, start, end)
	if err != nil {
		return err
	}
	node.locks.records = unlockRange(node.locks.records, owner, start, end)
	return fault.err("unlock", name)
}

func (fsys *FS) testRecordLock(name string, l RecordLock) (RecordLock, bool, error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	node, err := fsys.recordFile("getlk", name, l.Start, l.End)
	if err != nil {
		return RecordLock{}, false, err
	}
	c, ok := conflict(node.locks.records, l)
	return c, ok, nil
}

// touches reports whether a and b overlap or are adjacent, so that one
// lock can cover both.
func touches(a, b RecordLock) bool {
	return (b.End == RecordEOF || a.Start <= b.End+1) && (a.End == RecordEOF || b.Start <= a.End+1)
}

// conflict returns the first lock of another owner that overlaps l where
// one of the two is exclusive.
func conflict(recs []recordLocked, l RecordLock) (RecordLock, bool) {
	for _, r := range recs {
		if r.Owner != l.Owner && r.overlaps(l.Start, l.End) && (r.Exclusive || l.Exclusive) {
			return r.RecordLock, true
		}
	}
	return RecordLock{}, false
}

// unlockRange returns recs without owner's locks over [start, end]: a lock
// inside it goes, one that sticks out keeps the part (or two parts)
// outside.
func unlockRange(recs []recordLocked, owner uint64, start, end int64) []recordLocked {
	var out []recordLocked
	for _, r := range recs {
		if r.Owner != owner || !r.overlaps(start, end) {
			out = append(out, r)
			continue
		}
		if r.Start < start {
			left := r
			left.End = start - 1
			out = append(out, left)
		}
		if end != RecordEOF && r.End > end {
			right := r
			right.Start = end + 1
			out = append(out, right)
		}
	}
	return out
}

// releaseRecords drops the record locks simulated process proc took.
// fs.mu must be held.
func (fsys *FS) releaseRecords(proc int) int {
	n := 0
	for node := range fsys.recordNodes {
		recs := node.locks.records
		kept := slices.DeleteFunc(slices.Clone(recs), func(r recordLocked) bool { return r.proc == proc })
		n += len(recs) - len(kept)
		node.locks.records = kept
		if len(kept) == 0 {
			delete(fsys.recordNodes, node)
		}
	}
	return n
}

func recordType(exclusive bool) string {
	if exclusive {
		return "wr"
	}
	return "rd"
}
