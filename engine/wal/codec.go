package wal

import (
	"encoding"
	"fmt"
)

// Codec encodes the entries of a WAL (and the states of checkpoints) to
// bytes and back. The log calls it on every append and every replay, so it
// should not reflect: Bytes and Binary do not.
type Codec[T any] interface {
	// Append appends the encoding of v to dst and returns the extended
	// slice, as strconv.AppendInt does. A checkpoint's encoding must be
	// deterministic: the same state, the same bytes (sort map keys).
	Append(dst []byte, v T) ([]byte, error)
	// Decode decodes b. b is valid only during the call: Decode copies
	// what it keeps.
	Decode(b []byte) (T, error)
}

// Bytes is the Codec of raw byte entries: the entry is its own encoding.
// Decode returns a copy. ReplayEach and Replay copy entries of up to
// arenaEntry (256) bytes into blocks of arenaBlock (4 KiB) that
// consecutive entries share, each entry a slice whose capacity is its
// length (appending to it copies it): one allocation per block instead of
// one per entry, most of the cost of replaying small entries
// (docs/BENCHMARKS.md). An entry kept keeps its block alive: at most 4 KiB
// for an entry of 256 bytes or fewer.
var Bytes Codec[[]byte] = bytesCodec{}

type bytesCodec struct{}

func (bytesCodec) Append(dst, v []byte) ([]byte, error) { return append(dst, v...), nil }

// Decode copies b with make and copy, a form the compiler turns into one
// allocation that is not zeroed first (append to a slice made empty with
// a capacity zeroes it, then copies: twice the memory traffic for a
// 64 KiB entry).
func (bytesCodec) Decode(b []byte) ([]byte, error) {
	c := make([]byte, len(b))
	copy(c, b)
	return c, nil
}

// BytesView is the Codec of raw byte entries that does not copy: Decode
// returns b itself, which aliases the log's read buffer and is valid only
// until the ReplayEach (or Recover) callback it is passed to returns. It
// is for callbacks that parse or copy an entry at once: it saves Bytes's
// copy of every entry and its allocations (docs/BENCHMARKS.md has both
// side by side). Never keep what it returns, and never use it with
// Replay, which keeps every entry.
var BytesView Codec[[]byte] = bytesViewCodec{}

type bytesViewCodec struct{}

func (bytesViewCodec) Append(dst, v []byte) ([]byte, error) { return append(dst, v...), nil }
func (bytesViewCodec) Decode(b []byte) ([]byte, error)      { return b, nil }

// Binary returns the Codec of a type that encodes itself: T appends its
// encoding with encoding.BinaryAppender and *T decodes it with
// encoding.BinaryUnmarshaler. Its type argument P is inferred:
//
//	codec := wal.Binary[Op]()
func Binary[T encoding.BinaryAppender, P interface {
	*T
	encoding.BinaryUnmarshaler
}]() Codec[T] {
	return binaryCodec[T, P]{}
}

type binaryCodec[T encoding.BinaryAppender, P interface {
	*T
	encoding.BinaryUnmarshaler
}] struct{}

func (binaryCodec[T, P]) Append(dst []byte, v T) ([]byte, error) { return v.AppendBinary(dst) }

func (binaryCodec[T, P]) Decode(b []byte) (T, error) {
	var v T
	if err := P(&v).UnmarshalBinary(b); err != nil {
		return v, fmt.Errorf("wal: decode %T: %w", v, err)
	}
	return v, nil
}

// The blocks of an entryArena: entries of up to arenaEntry bytes share
// blocks of arenaBlock bytes; larger ones are copied alone.
const (
	arenaBlock = 4 << 10
	arenaEntry = 256
)

// entryArena copies the entries of one replay decoded with Bytes (see
// Bytes). It belongs to one replay: it is not safe for concurrent use.
type entryArena struct{ block []byte }

func (a *entryArena) copy(b []byte) ([]byte, error) {
	if len(b) > arenaEntry {
		return bytesCodec{}.Decode(b)
	}
	if a.block == nil || len(b) > cap(a.block)-len(a.block) {
		a.block = make([]byte, 0, arenaBlock)
	}
	n := len(a.block)
	a.block = append(a.block, b...)
	return a.block[n:len(a.block):len(a.block)], nil
}
