package shm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/crashsim/crashsim/internal/shmbug"
)

// freshGrace is the least time an empty chunk that is neither the head
// nor the next stays unsealed after its creation: the time its creator
// takes to install it.
const freshGrace = time.Second

// Why a chunk was freed: the statistics word it counts in, or -1 for a
// chunk its creator could not install, which counts nowhere.
const freeUncounted = -1

// Cleanup makes one pass of the cleaner over the namespace and returns how
// many chunks it freed. Any process may run it, any number at once: every
// decision is a compare-and-swap on a word of shared memory, so two
// cleaners never free one chunk twice, and a cleaner killed at any step
// leaves what the next pass of any cleaner finishes. The pass:
//
//   - frees each chunk that is neither the head nor the prefetched next
//     once every entry is acknowledged and the decay period has passed
//     since a cleaner first saw that, or, acknowledged or not, once its TTL
//     has passed since its first entry (the bound on what a consumer that
//     died holds). To decide, it first seals the chunk (no append succeeds
//     in it after that) and counts its entries, published or not;
//   - moves the head on when its TTL has passed, so that the chunk can be
//     freed by a later pass;
//   - finishes the frees of cleaners that died, and reclaims the slots of
//     chunk creations older than the TTL, whose creator died;
//   - unmaps this process's mappings of chunks freed by anyone.
//
// To free a chunk is to unlink it (its memory returns to the system once
// every process has unmapped it) and to free its slot.
func (s *Store) Cleanup() (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("%w: namespace %s", ErrClosed, s.name)
	}
	now := s.clock.Now()
	head, err := s.ctl.Load64(ctlHeadOff)
	if err != nil {
		return 0, s.regionErr(err)
	}
	next, err := s.ctl.Load64(ctlNextOff)
	if err != nil {
		return 0, s.regionErr(err)
	}
	freed := 0
	var errs []error
	for i := range s.hdr.MaxChunks {
		w, err := s.loadSlot(i)
		if err != nil {
			return freed, s.regionErr(err)
		}
		gen := slotGenOf(w)
		switch slotState(w) {
		case slotFree:
			continue
		case slotCreating:
			age := time.Duration(s.secs(now)-slotSecs(w)) * time.Second
			if age > s.hdr.TTL && s.free(i, gen, statReclaimed) {
				s.step("reclaimed")
			}
		case slotFreeing:
			s.finishFree(i, w)
		case slotLive:
			ref := chunkRef(i, gen)
			if ref == next && ref != head {
				continue
			}
			ok, err := s.cleanChunk(i, gen, ref == head, now)
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				freed++
			}
		}
	}
	s.unmapStale()
	if err := errors.Join(errs...); err != nil {
		s.local.cleanupErrors.Add(1)
		return freed, err
	}
	return freed, nil
}

// cleanChunk is Cleanup's decision on the live chunk of slot and gen,
// the head if head is set; it reports whether it freed the chunk.
func (s *Store) cleanChunk(slot, gen uint32, head bool, now time.Time) (bool, error) {
	c, err := s.chunkFor(slot, gen)
	if err != nil {
		if errors.Is(err, ErrGone) {
			return false, nil
		}
		return false, err
	}
	ttl := s.hdr.TTL
	first, err := c.r.Load64(chunkFirstOff)
	if err != nil {
		return false, s.gone(err)
	}
	if first == 0 {
		// No entry, or its writer died before it noted the time: the
		// chunk's creation is the earliest the first write can be.
		first = uint64(c.created)
	}
	u, err := c.r.Load64(chunkUsedOff)
	if err != nil {
		return false, s.gone(err)
	}
	hasEntries := usedEnd(u) > dataStart
	expired := hasEntries && now.UnixNano()-int64(first) > int64(ttl)
	if head {
		if expired {
			// Its first blobs' TTL passed: move appends on, so that a
			// later pass can free it.
			if err := s.advance(c.ref, false); err != nil && !errors.Is(err, ErrFull) {
				return false, err
			}
		}
		return false, nil
	}
	if !isSealed(u) {
		if !hasEntries && now.UnixNano()-c.created < int64(max(s.hdr.Decay, freshGrace)) {
			// Freshly created: about to become the next chunk, perhaps
			// (sealed, it would be useless to the appends it is for).
			return false, nil
		}
		if err := s.seal(c); err != nil {
			return false, err
		}
	}
	entries, err := s.countEntries(c)
	if err != nil {
		// Entries that do not tile: freed only by the TTL.
		if expired {
			return s.free(slot, gen, statFreedExpired), err
		}
		return false, err
	}
	acks, err := c.r.Load64(chunkAcksOff)
	if err != nil {
		return false, s.gone(err)
	}
	if acks >= entries || s.bug == shmbug.FreeUnacked {
		since, err := c.r.Load64(chunkAckedAtOff)
		if err != nil {
			return false, s.gone(err)
		}
		if since == 0 {
			since = uint64(now.UnixNano())
			if _, err := c.r.CompareAndSwap64(chunkAckedAtOff, 0, since); err != nil {
				return false, s.gone(err)
			}
			s.step("acked-since")
		}
		if now.UnixNano()-int64(since) >= int64(s.hdr.Decay) {
			return s.free(slot, gen, statFreedAcked), nil
		}
		return false, nil
	}
	if expired {
		return s.free(slot, gen, statFreedExpired), nil
	}
	return false, nil
}

// seal sets the seal bit of c's used word: no reservation succeeds in c
// after it, so that its entries can be counted once and for all.
func (s *Store) seal(c *chunk) error {
	for {
		u, err := c.r.Load64(chunkUsedOff)
		if err != nil {
			return s.gone(err)
		}
		if isSealed(u) {
			return nil
		}
		ok, err := c.r.CompareAndSwap64(chunkUsedOff, u, u|usedSealed)
		if err != nil {
			return s.gone(err)
		}
		if ok {
			s.step("sealed")
			return nil
		}
	}
}

// countEntries returns the number of entries of sealed chunk c, published
// or not, counting them the first time and recording the count in its
// header.
func (s *Store) countEntries(c *chunk) (uint64, error) {
	e, err := c.r.Load64(chunkEntriesOff)
	if err != nil {
		return 0, s.gone(err)
	}
	if e&entriesCounted != 0 {
		return e &^ entriesCounted, nil
	}
	var n uint64
	if err := s.words(c, func(uint32, uint64) bool { n++; return true }); err != nil {
		return 0, err
	}
	if _, err := c.r.CompareAndSwap64(chunkEntriesOff, 0, entriesCounted|n); err != nil {
		return 0, s.gone(err)
	}
	s.step("counted")
	return n, nil
}

// free frees the chunk of slot and gen, if the slot still holds it (live,
// or being created when reason is statReclaimed): the slot goes to
// freeing, the object is unlinked, the slot is free. It reports whether
// this call took the slot. A cleaner killed between the steps leaves a
// slot in freeing, which the next pass finishes (finishFree).
func (s *Store) free(slot, gen uint32, reason int) bool {
	w, err := s.loadSlot(slot)
	if err != nil || slotGenOf(w) != gen {
		return false
	}
	switch st := slotState(w); {
	case st == slotLive, st == slotCreating && (reason == statReclaimed || reason == freeUncounted):
	default:
		return false
	}
	freeing := slotWord(slotFreeing, s.secs(s.clock.Now()), gen)
	if ok, err := s.ctl.CompareAndSwap64(slotOff(slot), w, freeing); err != nil || !ok {
		return false
	}
	s.step("freeing")
	s.finishFree(slot, freeing)
	if reason >= 0 {
		s.ctl.Add64(ctlStatsOff+8*int64(reason), 1)
	}
	return true
}

// finishFree unlinks the chunk of a slot in freeing, word w, and frees the
// slot.
func (s *Store) finishFree(slot uint32, w uint64) {
	gen := slotGenOf(w)
	if err := s.fsys.Remove(s.chunkPath(gen)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return // the next pass tries again
	}
	s.step("unlinked")
	if ok, _ := s.ctl.CompareAndSwap64(slotOff(slot), w, 0); ok {
		s.step("freed")
	}
	s.unmapLocal(slot, gen)
	s.signalFreed()
}

// unmapStale unmaps this process's mappings of chunks that are no longer
// live.
func (s *Store) unmapStale() {
	for i := range s.chunks {
		c := s.chunks[i].Load()
		if c == nil {
			continue
		}
		if w, err := s.loadSlot(c.slot); err == nil && !slotHolds(w, c.gen) {
			s.unmapLocal(c.slot, c.gen)
		}
	}
}

// freedSignal returns a channel closed the next time this process frees a
// chunk.
func (s *Store) freedSignal() <-chan struct{} {
	s.freedMu.Lock()
	defer s.freedMu.Unlock()
	return s.freed
}

func (s *Store) signalFreed() {
	s.freedMu.Lock()
	defer s.freedMu.Unlock()
	close(s.freed)
	s.freed = make(chan struct{})
}

// RunCleanup runs Cleanup every interval until ctx is done or the Store
// is closed, and returns ctx's error or ErrClosed. A pass that fails does
// not stop it: Stats counts the failures. Run it in a goroutine of its
// own, in every process that attaches, or at least in one (each process
// unmaps the chunks others freed only when its own cleaner, or a Resolve,
// notices).
func (s *Store) RunCleanup(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("%w: cleanup interval %v", ErrOptions, interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return fmt.Errorf("%w: namespace %s", ErrClosed, s.name)
		case <-t.C:
			if _, err := s.Cleanup(); errors.Is(err, ErrClosed) {
				return err
			}
		}
	}
}
