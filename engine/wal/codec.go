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
// Decode returns a copy.
var Bytes Codec[[]byte] = bytesCodec{}

type bytesCodec struct{}

func (bytesCodec) Append(dst, v []byte) ([]byte, error) { return append(dst, v...), nil }

func (bytesCodec) Decode(b []byte) ([]byte, error) {
	return append(make([]byte, 0, len(b)), b...), nil
}

// BytesView is the Codec of raw byte entries that does not copy: Decode
// returns b itself, which aliases the log's read buffer and is valid only
// until the ReplayEach (or Recover) callback it is passed to returns. It
// is for callbacks that parse or copy an entry at once: replaying 1 KiB
// entries from the page cache, it reads about 2.5 times as many bytes a
// second as Bytes, whose cost is an allocation per entry
// (docs/BENCHMARKS.md). Never keep what it returns, and never use it with
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
