package shm

import (
	"errors"
	"fmt"
)

// Check walks the whole namespace and reports, joined, every way it
// differs from what this package's protocols leave — including after a
// writer, acknowledger, creator or cleaner was killed at any step: the
// control object's identity and chunk references, every live chunk's
// header and used word, entries that tile up to it with valid words,
// acknowledgement counts that do not exceed the acknowledged entries, and
// entry counts that match. It is an invariant walker for tests and for a
// recovery, in the manner of bbolt's Tx.Check; it changes nothing but
// this process's mappings. Run it while no other process changes the
// namespace, or it may report the changes in flight.
func (s *Store) Check() error {
	var errs []error
	b := make([]byte, ctlIdentLen)
	if _, err := s.ctl.ReadAt(b, 0); err != nil {
		return s.regionErr(err)
	}
	if h, err := DecodeNamespace(b); err != nil {
		errs = append(errs, fmt.Errorf("control object: %w", err))
	} else if h != s.hdr {
		errs = append(errs, fmt.Errorf("%w: control object identity changed since Attach", ErrCorrupt))
	}
	for _, r := range []struct {
		name string
		off  int64
	}{{"head", ctlHeadOff}, {"next", ctlNextOff}} {
		ref, err := s.ctl.Load64(r.off)
		if err != nil {
			return s.regionErr(err)
		}
		if ref != 0 && (refSlot(ref) >= s.hdr.MaxChunks || refGen(ref) == 0) {
			errs = append(errs, fmt.Errorf("%w: %s chunk %d generation %#x of %d slots", ErrCorrupt, r.name, refSlot(ref), refGen(ref), s.hdr.MaxChunks))
		}
	}
	for i := range s.hdr.MaxChunks {
		w, err := s.loadSlot(i)
		if err != nil {
			return s.regionErr(err)
		}
		if !slotIsLive(w) {
			if slotState(w) == slotFree && w != 0 {
				errs = append(errs, fmt.Errorf("%w: free slot %d holds %#x", ErrCorrupt, i, w))
			}
			continue
		}
		c, err := s.chunkFor(i, slotGenOf(w))
		if err != nil {
			errs = append(errs, fmt.Errorf("chunk %d: %w", i, err))
			continue
		}
		if err := s.checkChunk(c); err != nil {
			errs = append(errs, fmt.Errorf("chunk %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// checkChunk is Check of one live chunk.
func (s *Store) checkChunk(c *chunk) error {
	u, err := c.r.Load64(chunkUsedOff)
	if err != nil {
		return s.regionErr(err)
	}
	var entries, acked uint64
	if err := s.words(c, func(_ uint32, w uint64) bool {
		entries++
		if entryState(w) == entryAcked {
			acked++
		}
		return true
	}); err != nil {
		return err
	}
	acks, err := c.r.Load64(chunkAcksOff)
	if err != nil {
		return s.regionErr(err)
	}
	counted, err := c.r.Load64(chunkEntriesOff)
	if err != nil {
		return s.regionErr(err)
	}
	switch {
	case acks > acked:
		return fmt.Errorf("%w: %d acknowledgements counted, %d entries acknowledged", ErrCorrupt, acks, acked)
	case counted != 0 && counted&entriesCounted == 0:
		return fmt.Errorf("%w: entry count word %#x", ErrCorrupt, counted)
	case counted != 0 && !isSealed(u):
		return fmt.Errorf("%w: entries counted in a chunk not sealed", ErrCorrupt)
	case counted != 0 && counted&^entriesCounted != entries:
		return fmt.Errorf("%w: %d entries counted, %d there", ErrCorrupt, counted&^entriesCounted, entries)
	}
	return nil
}
