package shm

import (
	"errors"

	"github.com/crashsim/crashsim/engine"
)

// Errors of the blob store. They are wrapped with details, class first, so
// test them with errors.Is.
var (
	// ErrFull is returned by Append when the namespace holds MaxChunks
	// chunks and the active one has no room for the blob: nothing can be
	// written until the cleaner frees a chunk. AppendWait waits instead.
	ErrFull = errors.New("shm: namespace full")

	// ErrTooLarge is returned by Append for a blob longer than a chunk
	// can hold (Store.MaxBlob): blobs never span chunks.
	ErrTooLarge = errors.New("shm: blob larger than a chunk")

	// ErrNotFound is returned by Resolve, View and Acknowledge when the
	// handle names no published blob of this namespace: an append that did
	// not complete (its writer died before it published the blob), a
	// handle of another namespace or of an earlier one of the same name,
	// or a handle that was never returned by Append.
	ErrNotFound = errors.New("shm: no such blob")

	// ErrGone is returned by Resolve, View and Acknowledge when the blob's
	// chunk was freed — all its entries acknowledged and its decay period
	// over, or its TTL expired — and by View when that happened while the
	// view was in use.
	ErrGone = errors.New("shm: blob freed")

	// ErrHandle is returned for a handle that cannot name a blob of this
	// namespace whatever it holds: a chunk index beyond MaxChunks, an
	// offset or size outside a chunk or misaligned, generation zero.
	ErrHandle = errors.New("shm: invalid handle")

	// ErrCorrupt is returned when shared memory holds what this package
	// never writes and no crash of a writer, acknowledger or cleaner
	// leaves: a bad magic number or checksum, a field out of its range, a
	// chunk that is not the namespace's, entries that do not tile.
	ErrCorrupt = errors.New("shm: corrupt shared memory")

	// ErrVersion is returned by Attach for a namespace of another format
	// version.
	ErrVersion = errors.New("shm: unsupported version")

	// ErrNotReady is returned by Attach for a namespace whose control
	// object exists but is not initialized: its creator is still at work,
	// or died; retry, or remove it with CleanupNamespace.
	ErrNotReady = errors.New("shm: namespace not ready")

	// ErrNoSpace is returned when shared memory has no room for a new
	// chunk or control object (tmpfs is full: it wraps ENOSPC). Nothing is
	// left behind.
	ErrNoSpace = errors.New("shm: no space in shared memory")

	// ErrName is returned for a namespace name that is empty, longer than
	// 64 bytes, or holds anything but letters, digits and . _ - (or
	// starts with a dot).
	ErrName = errors.New("shm: invalid namespace name")

	// ErrOptions is returned by Create for options out of their range.
	ErrOptions = errors.New("shm: invalid options")

	// ErrClosed is returned by every method of a closed Store. It is
	// engine.ErrClosed.
	ErrClosed = engine.ErrClosed
)
