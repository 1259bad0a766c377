package faultfs

import (
	"fmt"
	"slices"
	"strconv"
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
	// Off and Len are the range of a read, write, flush, atomic or
	// allocate; Off is the size of a truncate; Len the length of a map or
	// grow.
	Off, Len int64
	// Owner is the simulated process that made the operation: the owner of
	// the View it came through (0 for the plain FS), or of a Mark.
	Owner int
	// Note is the text of a Mark, or the type of a record lock ("rd", "wr").
	Note string
}

// String describes the operation on one line, as a trace shows it; the
// owner is shown when it is not 0.
func (op Op) String() string {
	s := fmt.Sprintf("#%d %s", op.Index, op.Kind)
	if op.Owner != 0 {
		s = fmt.Sprintf("#%d p%d %s", op.Index, op.Owner, op.Kind)
	}
	if op.Kind == OpMark {
		return s + " " + strconv.Quote(op.Note)
	}
	s += " " + op.Path
	if op.NewPath != "" {
		s += " -> " + op.NewPath
	}
	switch op.Kind {
	case OpRead, OpWrite, OpFlush, OpRegionRead, OpRegionWrite, OpRegionAtomic, OpAllocate, OpAppend, OpWriteSync:
		s += fmt.Sprintf(" [%d,%d)", op.Off, op.Off+op.Len)
	case OpTruncate:
		s += fmt.Sprintf(" %d", op.Off)
	case OpMap, OpGrow:
		s += fmt.Sprintf(" %d", op.Len)
	case OpRecordLock, OpRecordUnlock:
		end := "EOF"
		if op.Off+op.Len != RecordEOF {
			end = strconv.FormatInt(op.Off+op.Len, 10)
		}
		s += fmt.Sprintf(" [%d,%s]", op.Off, end)
		if op.Note != "" {
			s += " " + op.Note
		}
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
	OpMark                           // FS.Mark: a marker of the workload, which changes nothing
	OpAllocate                       // File.Allocate
	OpDatasync                       // File.Datasync
	OpAppend                         // File.Append: Off is where it writes, the end (0 through Wrap, which cannot know it)
	OpWriteSync                      // the sync that ends a write to an O_DSYNC or O_SYNC file: Off and Len are the range written
	OpLink                           // FS.Link: Path is the existing name, NewPath the new one
	OpRecordLock                     // RecordLocker.RecordLock: Off and Off+Len are the range, both included (Off+Len = RecordEOF: to the end of the file), Note "rd" or "wr"
	OpRecordUnlock                   // RecordLocker.RecordUnlock: the range as for OpRecordLock
)

var opNames = [...]string{
	OpOpen: "open", OpRead: "read", OpWrite: "write", OpSync: "sync",
	OpTruncate: "truncate", OpClose: "close", OpStat: "stat",
	OpRemove: "remove", OpRename: "rename", OpMkdir: "mkdir",
	OpReadDir: "readdir", OpSyncDir: "syncdir", OpLock: "lock",
	OpUnlock: "unlock", OpMap: "map", OpRegionRead: "region-read",
	OpRegionWrite: "region-write", OpRegionAtomic: "region-atomic",
	OpFlush: "flush", OpDrain: "drain", OpGrow: "grow", OpUnmap: "unmap",
	OpMark: "mark", OpAllocate: "allocate", OpDatasync: "datasync",
	OpAppend: "append", OpWriteSync: "write-sync", OpLink: "link",
	OpRecordLock: "setlk", OpRecordUnlock: "unlk",
}

// String returns the kind's name, as Op.String shows it.
func (k OpKind) String() string {
	if int(k) < len(opNames) && opNames[k] != "" {
		return opNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", k)
}

// Mark records a marker of the workload, such as "operation invoked",
// "returned" or "acknowledged durable", as an operation of owner with the
// given note: it takes the next Index, so that storage operations and
// markers share one total order, and it is shown to Options.Observe and to
// the Injector like any operation. It changes nothing, and a fault injected
// on it is ignored. It returns the mark's Index.
func (fsys *FS) Mark(owner int, note string) uint64 {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	seq, _ := fsys.begin(Op{Kind: OpMark, Owner: owner, Note: note})
	return uint64(seq - 1)
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
