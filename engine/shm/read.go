package shm

import (
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/crashsim/crashsim/internal/shmbug"
)

// Resolve returns a copy of the blob h names, which stays valid whatever
// happens to the blob's chunk afterwards. It fails with ErrHandle for a
// handle out of any namespace's bounds, ErrNotFound when h names no
// published blob (an append that did not complete, another namespace's
// handle), and ErrGone when the blob's chunk was freed.
func (s *Store) Resolve(h Handle) ([]byte, error) {
	return s.ResolveAppend(nil, h)
}

// ResolveAppend is Resolve that appends the blob to dst and returns the
// extended slice, so that a caller can reuse a buffer.
func (s *Store) ResolveAppend(dst []byte, h Handle) ([]byte, error) {
	c, _, err := s.entry(h)
	if err != nil {
		return dst, err
	}
	n := len(dst)
	dst = slices.Grow(dst, int(h.Size))[:n+int(h.Size)]
	// The bytes were all there when the word was published, and no
	// store changes them before the chunk is freed, which never reuses
	// this mapping's memory: the copy is the blob, even if the chunk is
	// freed meanwhile.
	if _, err := c.r.ReadAt(dst[n:], int64(h.Offset)); err != nil {
		return dst[:n], s.lostChunk(h, err)
	}
	return dst, nil
}

// View calls fn with the blob h names, in place in shared memory: no copy
// on the OS backend. fn must not modify it or keep it: the slice is valid
// only while fn runs, during which this process does not unmap the chunk
// (fn may call the Store's methods, Cleanup included).
// After fn returns, View checks that the blob's chunk is still the
// generation h names: if it was freed while fn ran, View returns ErrGone,
// and fn must treat what it read as void — not as torn bytes (a chunk's
// bytes never change while it is mapped) but as a blob the namespace no
// longer vouches for, whose acknowledgement, say, may already have led a
// producer to reuse its data. Its other errors are Resolve's, and fn is
// then not called.
func (s *Store) View(h Handle, fn func(blob []byte)) error {
	if s.bug == shmbug.ViewNoGenCheck {
		return s.viewNoGenCheck(h, fn)
	}
	c, _, err := s.entry(h)
	if err != nil {
		return err
	}
	if !c.pin() {
		return fmt.Errorf("%w: %v", ErrGone, h)
	}
	b, err := c.r.View(int64(h.Offset), int64(h.Size))
	if err != nil {
		c.unpin()
		return s.lostChunk(h, err)
	}
	fn(b)
	c.unpin()
	// After use: the generation check.
	w, err := s.loadSlot(h.Chunk)
	if err != nil {
		return s.regionErr(err)
	}
	if !slotHolds(w, h.Gen) {
		return fmt.Errorf("%w: %v: its chunk was freed while the view was in use", ErrGone, h)
	}
	return nil
}

// viewNoGenCheck is View with the laboratory's bug ViewNoGenCheck: the
// chunk the slot holds now, an entry published with the handle's size
// whatever its tag, and no generation check after use.
func (s *Store) viewNoGenCheck(h Handle, fn func(blob []byte)) error {
	if err := h.check(s.hdr.MaxChunks, s.hdr.ChunkSize); err != nil {
		return err
	}
	sw, err := s.loadSlot(h.Chunk)
	if err != nil {
		return s.regionErr(err)
	}
	if !slotIsLive(sw) {
		return fmt.Errorf("%w: %v: the slot holds %s", ErrGone, h, describeSlot(sw))
	}
	c, err := s.chunkFor(h.Chunk, slotGenOf(sw))
	if err != nil {
		return err
	}
	w, err := c.r.Load64(int64(h.Offset - entryWordLen))
	if err != nil {
		return s.lostChunk(h, err)
	}
	if st := entryState(w); st != entryPublished && st != entryAcked || entrySize(w) != h.Size {
		return fmt.Errorf("%w: %v", ErrNotFound, h)
	}
	if !c.pin() {
		return fmt.Errorf("%w: %v", ErrGone, h)
	}
	defer c.unpin()
	b, err := c.r.View(int64(h.Offset), int64(h.Size))
	if err != nil {
		return s.lostChunk(h, err)
	}
	fn(b)
	return nil
}

// Acknowledge marks the blob h names as consumed. Once every blob of a
// chunk is acknowledged, and the decay period passed, a cleaner frees the
// chunk. A second Acknowledge of one blob does nothing. Its errors are
// Resolve's.
//
// A process killed inside Acknowledge may leave the blob marked but not
// counted: its chunk is then freed at its TTL rather than after its decay.
func (s *Store) Acknowledge(h Handle) error {
	c, w, err := s.entry(h)
	if err != nil {
		return err
	}
	tag := entryTagOf(w)
	off := int64(h.Offset) - entryWordLen
	for entryState(w) == entryPublished {
		ok, err := c.r.CompareAndSwap64(off, w, ackedWord(tag, h.Size))
		if err != nil {
			return s.lostChunk(h, err)
		}
		if ok {
			s.step("ack-marked")
			if _, err := c.r.Add64(chunkAcksOff, 1); err != nil {
				return s.lostChunk(h, err)
			}
			s.step("ack-counted")
			return nil
		}
		if w, err = c.r.Load64(off); err != nil {
			return s.lostChunk(h, err)
		}
	}
	if w != ackedWord(tag, h.Size) {
		return fmt.Errorf("%w: entry word %#x changed under %v", ErrCorrupt, w, h)
	}
	return nil
}

// entry checks h and returns its chunk and entry word: the handle in
// bounds, its chunk live in this generation, and the word published (or
// acknowledged) by exactly this handle's append.
func (s *Store) entry(h Handle) (*chunk, uint64, error) {
	if err := h.check(s.hdr.MaxChunks, s.hdr.ChunkSize); err != nil {
		return nil, 0, err
	}
	sw, err := s.loadSlot(h.Chunk)
	if err != nil {
		return nil, 0, s.regionErr(err)
	}
	if !slotHolds(sw, h.Gen) {
		return nil, 0, fmt.Errorf("%w: %v: the slot holds %s", ErrGone, h, describeSlot(sw))
	}
	c, err := s.chunkFor(h.Chunk, h.Gen)
	if err != nil {
		return nil, 0, err
	}
	off := h.Offset - entryWordLen
	w, err := c.r.Load64(int64(off))
	if err != nil {
		return nil, 0, s.lostChunk(h, err)
	}
	tag := entryTag(s.hdr.Nonce, h.Chunk, h.Gen, off, h.Size)
	if w|uint64(1)<<60 != ackedWord(tag, h.Size) {
		return nil, 0, fmt.Errorf("%w: %v", ErrNotFound, h)
	}
	return c, w, nil
}

// lostChunk is the error of a use of h's chunk whose mapping failed.
func (s *Store) lostChunk(h Handle, err error) error {
	return fmt.Errorf("%v: %w", h, s.regionErr(err))
}

// Entry is a blob Entries found.
type Entry struct {
	Handle Handle
	Acked  bool
}

// Entries yields every published blob of the namespace, chunk by chunk in
// the order the chunks were created, and in a chunk in the order the
// appends reserved their space — an order of the appends consistent with
// when each was called and returned. It skips entries whose writer has
// not published them (or died before it did), and chunks freed while it
// walks; it yields an ErrCorrupt error, and goes on with the next chunk,
// where a chunk holds what no crash leaves. It is the way to find blobs
// whose handles were lost, as a consumer that restarts after a crash
// must: the unacknowledged ones are the work left.
func (s *Store) Entries() iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		refs, err := s.liveChunks()
		if err != nil {
			yield(Entry{}, err)
			return
		}
		for _, ref := range refs {
			c, err := s.chunkFor(refSlot(ref), refGen(ref))
			if errors.Is(err, ErrGone) {
				continue // freed since
			}
			if err != nil {
				if !yield(Entry{}, err) || s.closed.Load() {
					return
				}
				continue
			}
			for e, err := range s.walk(c) {
				if !yield(e, err) {
					return
				}
			}
		}
	}
}

// liveChunks returns the references of the live chunks, in the order
// they were created.
func (s *Store) liveChunks() ([]uint64, error) {
	var refs []uint64
	for i := range s.hdr.MaxChunks {
		w, err := s.loadSlot(i)
		if err != nil {
			return nil, s.regionErr(err)
		}
		if slotIsLive(w) {
			refs = append(refs, chunkRef(i, slotGenOf(w)))
		}
	}
	first := firstGen(s.hdr.Nonce)
	slices.SortFunc(refs, func(a, b uint64) int {
		// Generations in the order they were handed out, across a wrap.
		x, y := refGen(a)-first, refGen(b)-first
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return refs, nil
}

// walk yields the published entries of chunk c, and an error where the
// chunk holds what no crash leaves, after which it stops.
func (s *Store) walk(c *chunk) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		err := s.words(c, func(off uint32, w uint64) bool {
			if st := entryState(w); st != entryPublished && st != entryAcked {
				return true
			}
			h := Handle{Chunk: c.slot, Gen: c.gen, Offset: off + entryWordLen, Size: entrySize(w)}
			return yield(Entry{Handle: h, Acked: entryState(w) == entryAcked}, nil)
		})
		if err != nil {
			yield(Entry{}, err)
		}
	}
}

// words calls fn with the offset and word of every entry of chunk c,
// published or not (a pending last entry with no word gets its
// reservation's word, the size from used), each checked by
// checkEntryWord, until fn returns false. The chunk's used word is read
// once, first: the entries are those reserved by then. It returns the
// first problem it finds; a chunk this process unmapped meanwhile ends it
// without one.
func (s *Store) words(c *chunk, fn func(off uint32, w uint64) bool) error {
	u, err := c.r.Load64(chunkUsedOff)
	if err != nil {
		return s.gone(err)
	}
	if err := s.checkUsed(c, u); err != nil {
		return err
	}
	end, last := usedEnd(u), usedLast(u)
	for off := uint32(dataStart); off < end; {
		w, err := c.r.Load64(int64(off))
		if err != nil {
			return s.gone(err)
		}
		size, ok, err := checkEntryWord(w, s.hdr.Nonce, c.slot, c.gen, off, end, last)
		if err != nil {
			return err
		}
		if !ok && w == 0 {
			w = reservedWord(size)
		}
		if !fn(off, w) {
			return nil
		}
		off += uint32(entryLen(size))
	}
	return nil
}
