package shm

import (
	"encoding/binary"
	"fmt"
)

// Handle names a blob: the slot of its chunk, the chunk's generation, and
// where the blob's bytes are in the chunk. It is a value of 16 bytes with
// no pointer: pass it to another process by value (MarshalBinary gives
// its bytes), through a pipe, a ring buffer or another blob. Any process
// attached to the namespace resolves it.
//
// A handle is checked wherever it is used: a handle that names nothing
// — forged, damaged, of another namespace, of an append that did not
// complete — gives ErrHandle or ErrNotFound, and one whose chunk was freed
// ErrGone, never bytes that are not the blob's. It is not a capability:
// a process that can write the namespace's blobs could build a handle
// that resolves into the middle of one of them (see the package doc's
// Caveats).
type Handle struct {
	Chunk  uint32 // the chunk's slot in the namespace, below MaxChunks
	Gen    uint32 // the chunk's generation: a slot reused holds another
	Offset uint32 // of the blob's first byte, from the start of the chunk
	Size   uint32 // of the blob, in bytes
}

// HandleLen is the length of a handle's binary form.
const HandleLen = 16

// String formats the handle as chunk/generation+offset:size, in hex.
func (h Handle) String() string {
	return fmt.Sprintf("%d/%08x+%x:%d", h.Chunk, h.Gen, h.Offset, h.Size)
}

// AppendBinary appends the handle's 16 bytes, little-endian, to b.
func (h Handle) AppendBinary(b []byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint32(b, h.Chunk)
	b = binary.LittleEndian.AppendUint32(b, h.Gen)
	b = binary.LittleEndian.AppendUint32(b, h.Offset)
	b = binary.LittleEndian.AppendUint32(b, h.Size)
	return b, nil
}

// MarshalBinary returns the handle's 16 bytes.
func (h Handle) MarshalBinary() ([]byte, error) { return h.AppendBinary(make([]byte, 0, HandleLen)) }

// UnmarshalBinary reads a handle from its 16 bytes. Whether it names a
// blob is for the store that resolves it to say.
func (h *Handle) UnmarshalBinary(b []byte) error {
	if len(b) != HandleLen {
		return fmt.Errorf("%w: %d bytes, want %d", ErrHandle, len(b), HandleLen)
	}
	*h = Handle{
		Chunk:  binary.LittleEndian.Uint32(b[0:]),
		Gen:    binary.LittleEndian.Uint32(b[4:]),
		Offset: binary.LittleEndian.Uint32(b[8:]),
		Size:   binary.LittleEndian.Uint32(b[12:]),
	}
	return nil
}

// check reports whether h can name a blob of a namespace of maxChunks
// chunks of chunkSize bytes, whatever those hold: the bounds of every
// field, before any is used to reach shared memory.
func (h Handle) check(maxChunks uint32, chunkSize uint64) error {
	off := uint64(h.Offset)
	switch {
	case h.Chunk >= maxChunks:
		return fmt.Errorf("%w: %v: chunk %d of %d", ErrHandle, h, h.Chunk, maxChunks)
	case h.Gen == 0:
		return fmt.Errorf("%w: %v: generation 0", ErrHandle, h)
	case off < dataStart+entryWordLen || (off-entryWordLen)%entryAlign != 0:
		return fmt.Errorf("%w: %v: offset %d", ErrHandle, h, h.Offset)
	case off+uint64(h.Size) > chunkSize:
		return fmt.Errorf("%w: %v: %d bytes at %d, beyond a %d-byte chunk", ErrHandle, h, h.Size, h.Offset, chunkSize)
	}
	return nil
}
