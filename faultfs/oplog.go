package faultfs

import (
	"fmt"
	"slices"
	"sync"
)

// Op is one operation on an FS, its files, locks or regions, as shown to
// Options.Observe and to an Injector.
type Op struct {
	// Index numbers the operations of one FS from 0, in the order they
	// take effect. A crash clone starts again from 0.
	Index uint64
	Kind  OpKind
	// Path is the clean, absolute path of the file or directory; for a file,
	// lock or region, the one it was opened with.
	Path string
	// NewPath is the new name of a rename.
	NewPath string
	// Off and Len are the range of a read, write, flush or atomic; Off is
	// the size of a truncate; Len the length of a map or grow.
	Off, Len int64
}

// String describes the operation on one line, as a trace shows it.
func (op Op) String() string {
	s := fmt.Sprintf("#%d %s %s", op.Index, op.Kind, op.Path)
	if op.NewPath != "" {
		s += " -> " + op.NewPath
	}
	switch op.Kind {
	case OpRead, OpWrite, OpFlush, OpRegionRead, OpRegionWrite, OpRegionAtomic:
		s += fmt.Sprintf(" [%d,%d)", op.Off, op.Off+op.Len)
	case OpTruncate:
		s += fmt.Sprintf(" %d", op.Off)
	case OpMap, OpGrow:
		s += fmt.Sprintf(" %d", op.Len)
	}
	return s
}

// OpKind says what an Op does.
type OpKind uint8

// The kinds of operations.
const (
	OpOpen         OpKind = iota + 1 // FS.OpenFile
	OpRead                           // File.ReadAt
	OpWrite                          // File.WriteAt
	OpSync                           // File.Sync
	OpTruncate                       // File.Truncate
	OpClose                          // File.Close
	OpStat                           // FS.Stat, File.Stat
	OpRemove                         // FS.Remove
	OpRename                         // FS.Rename
	OpMkdir                          // FS.MkdirAll
	OpReadDir                        // FS.ReadDir
	OpSyncDir                        // FS.SyncDir
	OpLock                           // FS.Lock
	OpUnlock                         // Close of a lock
	OpMap                            // FS.Map
	OpRegionRead                     // Region.ReadAt, View, Load32, Load64
	OpRegionWrite                    // Region.WriteAt
	OpRegionAtomic                   // Region.Store32/64, Add32/64, CompareAndSwap32/64
	OpFlush                          // Region.Flush
	OpDrain                          // Region.Drain
	OpGrow                           // Region.Grow
	OpUnmap                          // Region.Close
)

var opNames = [...]string{
	OpOpen: "open", OpRead: "read", OpWrite: "write", OpSync: "sync",
	OpTruncate: "truncate", OpClose: "close", OpStat: "stat",
	OpRemove: "remove", OpRename: "rename", OpMkdir: "mkdir",
	OpReadDir: "readdir", OpSyncDir: "syncdir", OpLock: "lock",
	OpUnlock: "unlock", OpMap: "map", OpRegionRead: "region-read",
	OpRegionWrite: "region-write", OpRegionAtomic: "region-atomic",
	OpFlush: "flush", OpDrain: "drain", OpGrow: "grow", OpUnmap: "unmap",
}

// String returns the kind's name, as Op.String shows it.
func (k OpKind) String() string {
	if int(k) < len(opNames) && opNames[k] != "" {
		return opNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", k)
}

// Log records operations; its Observe method is an Options.Observe. It is
// safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	ops []Op
}

// Observe records op.
func (l *Log) Observe(op Op) {
	l.mu.Lock()
	l.ops = append(l.ops, op)
	l.mu.Unlock()
}

// Ops returns a copy of the operations recorded so far.
func (l *Log) Ops() []Op {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}
