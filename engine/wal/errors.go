package wal

import (
	"errors"
	"fmt"
)

// Errors of the package. Each is returned wrapped, class first, with the
// file and what was wrong; test them with errors.Is.
var (
	// ErrCorrupt is returned when stored bytes are not what this package
	// wrote: a checksum, magic number, length, id or kind that does not
	// check, anywhere strict reading looks, or anywhere but the torn tail
	// that best-effort reading tolerates. The error is a *CorruptError,
	// which says in which file and at which offset.
	ErrCorrupt = errors.New("wal: corrupt")

	// ErrVersion is returned when a file's header is intact but its format
	// version is not Version: a file written by a newer release.
	ErrVersion = errors.New("wal: unsupported format version")

	// ErrLocked is returned by New and Resume (and OpenRecordLog) when
	// another writer, in this process or another, holds the directory. It
	// wraps engine.ErrLocked too.
	ErrLocked = errors.New("wal: locked by another writer")

	// ErrBroken is returned by every call that writes, after a write or an
	// fsync of the log failed: Linux drops the dirty pages of a failed
	// fsync and a retried fsync reports success, so nothing after the last
	// successful one can be promised durable, and the log refuses to go on.
	// The error also wraps the failure that broke the log. Close the log
	// and Resume it: Resume rewrites what it cannot prove durable.
	ErrBroken = errors.New("wal: broken by an earlier I/O failure (close it and Resume)")

	// ErrTooLarge is returned by Append when an entry's encoding is longer
	// than Options.MaxEntrySize. The log is unchanged and goes on.
	ErrTooLarge = errors.New("wal: entry too large")

	// ErrTruncated is returned by ReplayEach and Replay when they run
	// beside a writer whose Publish removed segments they had not read
	// yet, after they had passed entries on: the entries passed on are a
	// prefix of the log, and the ones removed are covered by a checkpoint
	// now. Recover, which starts from the latest checkpoint, starts again
	// instead of returning it; so may a reader that wants them.
	ErrTruncated = errors.New("wal: truncated under the reader by Publish")

	// ErrClosed is returned by Append, AppendBatch and a second Close on a
	// closed log. Flush and FlushAndSync on a log closed cleanly return nil:
	// Close made every entry durable, so there is nothing they could fail
	// to do.
	ErrClosed = errors.New("wal: closed")
)

// CorruptError says where stored bytes failed to check. It matches
// ErrCorrupt with errors.Is.
type CorruptError struct {
	// Path is the file.
	Path string
	// Segment is the segment's sequence number; 0 for a record log or a
	// checkpoint.
	Segment uint64
	// Offset is where, in the file, the bad frame or header starts.
	Offset int64
	// Reason says what did not check.
	Reason string
}

func (e *CorruptError) Error() string {
	if e.Segment != 0 {
		return fmt.Sprintf("%v: segment %d (%s) at offset %d: %s", ErrCorrupt, e.Segment, e.Path, e.Offset, e.Reason)
	}
	return fmt.Sprintf("%v: %s at offset %d: %s", ErrCorrupt, e.Path, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corrupt(path string, seg uint64, off int64, format string, args ...any) error {
	return &CorruptError{Path: path, Segment: seg, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
