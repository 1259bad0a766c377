package faultfs

import (
	"io"
	"io/fs"
	"os"

	"github.com/crashsim/crashsim/engine"
)

// Locks are flock(2) locks kept in memory: every Lock call makes a handle of
// its own, and handles conflict with each other even in one process, as
// flock does between open file descriptions. Each handle carries an owner,
// the simulated process id of the View it was taken through, so that
// ReleaseLocks can do what the kernel does when a process dies (docs/DESIGN.md
// F1). Locks are never part of a crash clone.

// lockState is the lock table entry of one inode.
type lockState struct {
	exclusive *lockHandle
	shared    map[*lockHandle]bool
	records   []recordLocked // fcntl record locks (recordlock.go)
}

// lockHandle is a held lock; Close releases it.
type lockHandle struct {
	fs       *FS
	node     *inode
	name     string
	path     string
	owner    int
	mode     engine.LockMode
	released bool
}

// Lock takes a flock-style lock on name for owner 0, creating the file (mode
// 0600 less the umask) if it does not exist; the create is a namespace
// change like any other. A conflicting lock held by any handle gives an
// *fs.PathError{Op: "lock"} wrapping engine.ErrLocked. See View for the
// locks of other owners.
func (fsys *FS) Lock(name string, mode engine.LockMode) (io.Closer, error) {
	return fsys.lock(0, name, mode)
}

// ReleaseLocks releases every lock held by owner, flock and record locks
// alike, as the kernel does when a process dies, and returns how many it
// released. Their handles' Close then
// returns an error wrapping engine.ErrClosed.
func (fsys *FS) ReleaseLocks(owner int) int {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	n := 0
	for l := range fsys.locks {
		if l.owner == owner {
			l.release()
			n++
		}
	}
	return n + fsys.releaseRecords(owner)
}

func (fsys *FS) lock(owner int, name string, mode engine.LockMode) (_ io.Closer, err error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	defer fsys.end(&err)
	p := cleanPath(name)
	seq, fault := fsys.begin(Op{Kind: OpLock, Path: p, Owner: owner})
	if err := fault.err("lock", name); err != nil {
		return nil, err
	}
	if mode != engine.Shared && mode != engine.Exclusive {
		return nil, pathError("lock", name, fs.ErrInvalid)
	}
	// flock opens the file O_CREATE|O_RDONLY first, and fails as open does.
	node, err := fsys.open(name, p, os.O_CREATE|os.O_RDONLY, 0o600, seq)
	if err != nil {
		return nil, err
	}
	ls := &node.locks
	if ls.exclusive != nil || (mode == engine.Exclusive && len(ls.shared) > 0) {
		return nil, pathError("lock", name, engine.ErrLocked)
	}
	l := &lockHandle{fs: fsys, node: node, name: name, path: p, owner: owner, mode: mode}
	if mode == engine.Exclusive {
		ls.exclusive = l
	} else {
		if ls.shared == nil {
			ls.shared = map[*lockHandle]bool{}
		}
		ls.shared[l] = true
	}
	fsys.locks[l] = true
	return l, nil
}

// release drops l from the lock table. fs.mu must be held.
func (l *lockHandle) release() {
	ls := &l.node.locks
	if ls.exclusive == l {
		ls.exclusive = nil
	}
	delete(ls.shared, l)
	delete(l.fs.locks, l)
	l.released = true
}

// Close releases the lock. A second Close, or a Close after ReleaseLocks,
// returns an *fs.PathError{Op: "unlock"} wrapping engine.ErrClosed.
func (l *lockHandle) Close() (err error) {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	defer l.fs.end(&err)
	_, fault := l.fs.begin(Op{Kind: OpUnlock, Path: l.path, Owner: l.owner})
	if l.released {
		return pathError("unlock", l.name, engine.ErrClosed)
	}
	l.release()
	return fault.err("unlock", l.name)
}
