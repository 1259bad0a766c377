package shm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/internal/shmbug"
)

// Append stores a copy of blob in the namespace and returns its handle.
// It takes no lock: a reservation is one compare-and-swap on the active
// chunk's used word, then the copy, then one atomic store that publishes
// the blob. The blob's bytes never move and never change until its chunk
// is freed.
//
// A writer killed at any instruction of an Append leaves either no blob or
// the whole blob: until the publishing store, every reader — Resolve of
// the handle the Append would have returned, Entries — sees nothing there.
//
// It fails with ErrTooLarge for a blob longer than MaxBlob, and ErrFull
// when the active chunk has no room and the namespace already holds
// MaxChunks chunks (AppendWait waits for the cleaner instead).
func (s *Store) Append(blob []byte) (Handle, error) {
	if uint64(len(blob)) > uint64(s.maxBlob) {
		return Handle{}, fmt.Errorf("%w: %d bytes, at most %d in chunks of %d", ErrTooLarge, len(blob), s.maxBlob, s.hdr.ChunkSize)
	}
	n := uint32(len(blob))
	for {
		c := s.cur.Load()
		if c == nil {
			var err error
			if c, err = s.current(); err != nil {
				return Handle{}, err
			}
		}
		h, ok, err := s.appendTo(c, blob, n)
		if ok || err != nil {
			return h, err
		}
		// c is full, sealed or freed: append to the chunk after it.
		s.cur.CompareAndSwap(c, nil)
		if err := s.advance(c.ref, true); err != nil {
			return Handle{}, err
		}
	}
}

// waitPoll is how often AppendWait looks again for room that another
// process's cleaner made; this process's own frees wake it at once.
const waitPoll = time.Millisecond

// AppendWait is Append that, when the namespace is full, waits for a
// cleaner (of any process) to free a chunk, until ctx is done; it then
// returns an error wrapping both ErrFull and ctx's error.
func (s *Store) AppendWait(ctx context.Context, blob []byte) (Handle, error) {
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		wake := s.freedSignal()
		h, err := s.Append(blob)
		if !errors.Is(err, ErrFull) {
			return h, err
		}
		t.Reset(waitPoll)
		select {
		case <-ctx.Done():
			return Handle{}, fmt.Errorf("%w: %w", err, context.Cause(ctx))
		case <-wake:
			if !t.Stop() {
				<-t.C
			}
		case <-t.C:
		}
	}
}

// current returns the head chunk, creating the first one if there is none,
// and makes it the chunk this process appends to.
func (s *Store) current() (*chunk, error) {
	for {
		head, err := s.ctl.Load64(ctlHeadOff)
		if err != nil {
			return nil, s.regionErr(err)
		}
		if head == 0 {
			if err := s.advance(0, true); err != nil {
				return nil, err
			}
			continue
		}
		if refSlot(head) >= s.hdr.MaxChunks {
			return nil, fmt.Errorf("%w: head chunk %d of %d", ErrCorrupt, refSlot(head), s.hdr.MaxChunks)
		}
		c, err := s.chunkFor(refSlot(head), refGen(head))
		if errors.Is(err, ErrGone) {
			// Freed under the head (its TTL passed): move past it.
			if err := s.advance(head, true); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		s.cur.Store(c)
		return c, nil
	}
}

// appendTo appends blob, of n bytes, to chunk c. It returns ok false, and
// no error, when c has no room for it, is sealed or was freed.
func (s *Store) appendTo(c *chunk, blob []byte, n uint32) (h Handle, ok bool, err error) {
	need := entryLen(n)
	var off uint32
	// First, the used word this process stored last, if its entry is
	// published (then it needs no help either): one compare-and-swap,
	// no load, when no other writer came in between.
	if u := c.lastUsed.Load(); u != 0 && uint64(usedEnd(u))+need <= s.hdr.ChunkSize {
		end := usedEnd(u)
		swapped, err := c.r.CompareAndSwap64(chunkUsedOff, u, usedWord(end+uint32(need), n))
		if err != nil {
			return Handle{}, false, s.gone(err)
		}
		if swapped {
			off = end
		}
	}
	for off == 0 {
		u, err := c.r.Load64(chunkUsedOff)
		if err != nil {
			return Handle{}, false, s.gone(err)
		}
		if isSealed(u) {
			return Handle{}, false, nil
		}
		end, last := usedEnd(u), usedLast(u)
		if err := s.checkUsed(c, u); err != nil {
			return Handle{}, false, err
		}
		if uint64(end)+need > s.hdr.ChunkSize {
			return Handle{}, false, nil
		}
		if end > dataStart && c.published.Load() != end {
			// Help the writer of the entry before: until its word is
			// written, only used says its size, and used is about to
			// say ours. A dead writer's entry is then still skipped.
			// (Not when this process published that entry itself.)
			prev := int64(uint64(end) - entryLen(last))
			w, err := c.r.Load64(prev)
			if err != nil {
				return Handle{}, false, s.gone(err)
			}
			if w == 0 {
				if _, err := c.r.CompareAndSwap64(prev, 0, reservedWord(last)); err != nil {
					return Handle{}, false, s.gone(err)
				}
			}
		}
		swapped, err := c.r.CompareAndSwap64(chunkUsedOff, u, usedWord(end+uint32(need), n))
		if err != nil {
			return Handle{}, false, s.gone(err)
		}
		if swapped {
			off = end
		}
	}
	s.step("reserved")
	if off == dataStart {
		if err := c.r.Store64(chunkFirstOff, uint64(s.clock.Now().UnixNano())); err != nil {
			return Handle{}, false, s.gone(err)
		}
		s.step("first-write")
	}
	tag := entryTag(s.hdr.Nonce, c.slot, c.gen, off, n)
	if err := s.copyAndPublish(c, blob, off, tag, n); err != nil {
		// Reserved and never published: skipped by every reader, freed
		// with its chunk at its TTL. Try the next chunk.
		return Handle{}, false, s.gone(err)
	}
	end := off + uint32(need)
	c.published.Store(end)
	c.lastUsed.Store(usedWord(end, n))
	if off <= s.prefetchEnd && end > s.prefetchEnd {
		s.prefetchSoon()
	}
	return Handle{Chunk: c.slot, Gen: c.gen, Offset: off + entryWordLen, Size: n}, true, nil
}

// copyAndPublish copies blob into its entry at off, then publishes the
// entry word — or, for the laboratory's bug variants, does it wrong.
func (s *Store) copyAndPublish(c *chunk, blob []byte, off, tag, n uint32) error {
	data := int64(off) + entryWordLen
	word := publishedWord(tag, n)
	switch s.bug {
	case shmbug.PublishBeforeData:
		if err := c.r.Store64(int64(off), word); err != nil {
			return err
		}
		s.step("published")
		if _, err := c.r.WriteAt(blob, data); err != nil {
			return err
		}
		s.step("copied")
		return nil
	case shmbug.SplitPublish:
		if _, err := c.r.WriteAt(blob, data); err != nil {
			return err
		}
		s.step("copied")
		// The state and tag, then the size: two stores, the word whole
		// only after both.
		if err := c.r.Store32(int64(off)+wordHigh, uint32(word>>32)); err != nil {
			return err
		}
		s.step("published-half")
		if err := c.r.Store32(int64(off)+wordLow, uint32(word)); err != nil {
			return err
		}
		s.step("published")
		return nil
	}
	if _, err := c.r.WriteAt(blob, data); err != nil {
		return err
	}
	s.step("copied")
	// Last, and atomic: before this store no reader takes the entry for
	// published; after it, the bytes are all there.
	if err := c.r.Store64(int64(off), word); err != nil {
		return err
	}
	s.step("published")
	return nil
}

// checkUsed reports a used word that no append leaves.
func (s *Store) checkUsed(c *chunk, u uint64) error {
	end, last := usedEnd(u), usedLast(u)
	switch {
	case end < dataStart || uint64(end) > s.hdr.ChunkSize || end%entryAlign != 0:
		return fmt.Errorf("%w: chunk %d: entries end at %d", ErrCorrupt, c.slot, end)
	case end == dataStart && last != 0:
		return fmt.Errorf("%w: chunk %d: no entry, but the last reserved %d bytes", ErrCorrupt, c.slot, last)
	case end > dataStart && uint64(end)-dataStart < entryLen(last):
		return fmt.Errorf("%w: chunk %d: the last entry, of %d bytes, does not fit before %d", ErrCorrupt, c.slot, last, end)
	}
	return nil
}

// gone turns the error of a chunk's Region into the Store's.
func (s *Store) gone(err error) error {
	err = s.regionErr(err)
	if errors.Is(err, ErrGone) {
		return nil
	}
	return err
}

// advance makes the chunk after from the head, if from is still the head
// (from 0: there is no head yet): the prefetched chunk if there is one,
// else a chunk it creates itself (inline says that counts as an Append
// creating one). Then it seals from, so that appends that still see it
// move on.
func (s *Store) advance(from uint64, inline bool) error {
	err := s.moveHead(from, inline)
	if from != 0 && refSlot(from) < s.hdr.MaxChunks {
		if c, cerr := s.chunkFor(refSlot(from), refGen(from)); cerr == nil {
			s.seal(c)
		}
	}
	return err
}

// moveHead is advance but for the seal.
func (s *Store) moveHead(from uint64, inline bool) error {
	for {
		head, err := s.ctl.Load64(ctlHeadOff)
		if err != nil {
			return s.regionErr(err)
		}
		if head != from {
			return nil
		}
		next, err := s.ctl.Load64(ctlNextOff)
		if err != nil {
			return s.regionErr(err)
		}
		switch {
		case next != 0 && next != head && s.refLive(next):
			moved, err := s.ctl.CompareAndSwap64(ctlHeadOff, from, next)
			if err != nil {
				return s.regionErr(err)
			}
			if moved {
				s.step("head-moved")
				s.ctl.CompareAndSwap64(ctlNextOff, next, 0)
				return nil
			}
			continue
		case next != 0:
			// Stale: it became the head, or was freed.
			s.ctl.CompareAndSwap64(ctlNextOff, next, 0)
			continue
		}
		if inFlight := s.prefetching(); inFlight != nil {
			// This process's prefetcher is creating the next chunk:
			// wait for it rather than create a second one beside it.
			<-inFlight
			continue
		}
		c, err := s.createChunk()
		if err != nil {
			return err
		}
		if inline {
			s.local.createdInline.Add(1)
			s.ctl.Add64(ctlStatsOff+8*statCreatedInline, 1)
		}
		if ok, err := s.ctl.CompareAndSwap64(ctlNextOff, 0, c.ref); err != nil || !ok {
			s.discard(c)
			if err != nil {
				return s.regionErr(err)
			}
			continue
		}
		s.step("next-installed")
		s.warm(c)
	}
}

// prefetchSoon asks for the next chunk to be created ahead of need.
func (s *Store) prefetchSoon() {
	switch s.mode {
	case PrefetchBackground:
		select {
		case s.prefetchReq <- struct{}{}:
		default: // one is pending already
		}
	case PrefetchInline:
		s.prefetch()
	}
}

// Prefetch creates the chunk that will follow the active one now, if
// there is none yet: what the prefetcher does when an append passes the
// threshold, for a program that knows a burst is coming (or that runs
// with PrefetchOff and chooses when chunks are created). If another
// process created it already, Prefetch maps it in this one, so that this
// process's first append or resolve there does not. It returns
// ErrFull when every slot is in use and ErrNoSpace when shared memory is
// full; a chunk already prefetched is no error.
func (s *Store) Prefetch() error {
	if s.closed.Load() {
		return fmt.Errorf("%w: namespace %s", ErrClosed, s.name)
	}
	if inFlight := s.prefetching(); inFlight != nil {
		<-inFlight // then make sure it installed one
	}
	return s.prefetchErr()
}

// prefetch is the prefetcher's Prefetch: an error is for the Append that
// needs the chunk to report.
func (s *Store) prefetch() { s.prefetchErr() }

// prefetching returns a channel closed when this process's prefetch in
// flight ends, or nil when there is none.
func (s *Store) prefetching() <-chan struct{} {
	s.prefetchMu.Lock()
	defer s.prefetchMu.Unlock()
	return s.inFlight
}

// prefetchErr creates the next chunk if there is none, and installs it.
// One runs at a time in a process; another caller returns at once.
func (s *Store) prefetchErr() error {
	s.prefetchMu.Lock()
	if s.inFlight != nil {
		s.prefetchMu.Unlock()
		return nil
	}
	done := make(chan struct{})
	s.inFlight = done
	s.prefetchMu.Unlock()
	defer func() {
		s.prefetchMu.Lock()
		s.inFlight = nil
		s.prefetchMu.Unlock()
		close(done)
	}()
	head, err := s.ctl.Load64(ctlHeadOff)
	if err != nil {
		return s.regionErr(err)
	}
	next, err := s.ctl.Load64(ctlNextOff)
	if err != nil {
		return s.regionErr(err)
	}
	if next != 0 && next != head && s.refLive(next) {
		// Another process created it: map it here now, so that this
		// process's first append or resolve there finds it mapped.
		if _, err := s.chunkFor(refSlot(next), refGen(next)); err != nil && !errors.Is(err, ErrGone) {
			return err
		}
		return nil
	}
	if next != 0 {
		if ok, err := s.ctl.CompareAndSwap64(ctlNextOff, next, 0); err != nil || !ok {
			return s.regionErr(err) // another process installed one
		}
	}
	c, err := s.createChunk()
	if err != nil {
		return err
	}
	if ok, err := s.ctl.CompareAndSwap64(ctlNextOff, 0, c.ref); err != nil || !ok {
		s.discard(c)
		return s.regionErr(err)
	}
	s.local.prefetched.Add(1)
	s.step("next-installed")
	s.warm(c)
	return nil
}

// nextGen hands out a generation, never 0.
func (s *Store) nextGen() (uint32, error) {
	for {
		g, err := s.ctl.Add32(ctlGenOff, 1)
		if err != nil {
			return 0, s.regionErr(err)
		}
		if g != 0 {
			return g, nil
		}
	}
}

// claimSlot takes a free slot for a chunk of generation gen being created:
// ErrFull when every slot holds one.
func (s *Store) claimSlot(gen uint32, now time.Time) (slot uint32, word uint64, err error) {
	word = slotWord(slotCreating, s.secs(now), gen)
	max := s.hdr.MaxChunks
	start := s.slotHint.Load() % max
	for k := range max {
		i := (start + k) % max
		w, err := s.loadSlot(i)
		if err != nil {
			return 0, 0, s.regionErr(err)
		}
		if w != 0 {
			continue
		}
		ok, err := s.ctl.CompareAndSwap64(slotOff(i), 0, word)
		if err != nil {
			return 0, 0, s.regionErr(err)
		}
		if ok {
			s.slotHint.Store(i + 1)
			return i, word, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: all %d chunks of %d bytes in use", ErrFull, max, s.hdr.ChunkSize)
}

// secs returns t in seconds since the namespace's epoch, for slot words.
func (s *Store) secs(t time.Time) int64 { return (t.UnixNano() - s.hdr.Epoch) / int64(time.Second) }

// createChunk creates a chunk in a free slot, maps it and makes it live.
// Every step before the slot is live is undone on failure; a creator that
// dies before it leaves a slot in creating, which a cleaner reclaims once
// it is older than the TTL.
func (s *Store) createChunk() (*chunk, error) {
	now := s.clock.Now()
	gen, err := s.nextGen()
	if err != nil {
		return nil, err
	}
	slot, claim, err := s.claimSlot(gen, now)
	if err != nil {
		return nil, err
	}
	s.step("slot-claimed")
	p := s.chunkPath(gen)
	release := func(err error) (*chunk, error) {
		s.fsys.Remove(p)
		s.ctl.CompareAndSwap64(slotOff(slot), claim, 0)
		return nil, err
	}
	f, err := s.fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Left by a creation reclaimed from under a slow creator, after
		// the generations wrapped around: not ours to keep.
		s.fsys.Remove(p)
		f, err = s.fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return release(err)
	}
	s.step("file-created")
	size := int64(s.hdr.ChunkSize)
	// The blocks first: a full tmpfs is ENOSPC here, not SIGBUS at the
	// first store into the mapping.
	if err := engine.Allocate(f, 0, size); err != nil {
		f.Close()
		return release(noSpace(err))
	}
	r, err := s.fsys.Map(f, size)
	if cerr := f.Close(); err == nil && cerr != nil {
		r.Close()
		err = cerr
	}
	if err != nil {
		return release(err)
	}
	h := ChunkHeader{Version: Version, Slot: slot, Gen: gen, Size: s.hdr.ChunkSize, Nonce: s.hdr.Nonce, Created: now.UnixNano()}
	var b [chunkIdentLen]byte
	h.Encode(b[:])
	_, err = r.WriteAt(b[:], 0)
	if err == nil {
		err = r.Store64(chunkUsedOff, usedWord(dataStart, 0))
	}
	if err != nil {
		r.Close()
		return release(err)
	}
	s.step("chunk-initialized")
	live, err := s.ctl.CompareAndSwap64(slotOff(slot), claim, slotWord(slotLive, 0, gen))
	if err != nil || !live {
		// Reclaimed as abandoned: this creation took too long.
		r.Close()
		if err == nil {
			err = fmt.Errorf("%w: the creation of chunk %d generation %#x was reclaimed", ErrGone, slot, gen)
		}
		s.fsys.Remove(p)
		return nil, s.regionErr(err)
	}
	s.step("chunk-live")
	s.ctl.Add64(ctlStatsOff+8*statCreated, 1)
	c := &chunk{slot: slot, gen: gen, ref: chunkRef(slot, gen), created: h.Created, r: r}
	s.mu.Lock()
	if s.closed.Load() {
		// Closed while it was being made (a prefetch that Close
		// waits for): live, but no head or next refers to it and no
		// mapping of this process will, so free it now, or the slot
		// would hold an empty chunk no cleaner frees.
		s.mu.Unlock()
		r.Close()
		s.free(slot, gen, -1)
		return nil, fmt.Errorf("%w: namespace %s", ErrClosed, s.name)
	}
	s.install(c)
	s.mu.Unlock()
	return c, nil
}

// warm reads through the pages of c, a chunk this process created (see
// pretouch), once it is installed as the next chunk: a writer that fills
// the head meanwhile moves on to it at once, rather than wait for every
// page of it to be faulted in (most of a creation's time: the pages are
// zeroed then), and takes the faults of the pages not yet read itself.
// The pin keeps the mapping while it reads.
func (s *Store) warm(c *chunk) {
	if !c.pin() {
		return
	}
	pretouch(c.r, int64(s.hdr.ChunkSize))
	c.unpin()
}

// pretouch reads a byte of every page of a chunk, so that this process's
// mapping has them all before its first append or resolve there: the
// prefetcher pays for the faults instead. In a chunk this process creates
// that is a minor fault a page (tmpfs zeroes each then); in one another
// process created, one in sixteen (the kernel maps the pages around a
// read fault). The pages a read maps are writable (no page of tmpfs
// needs write-back), so the appends there take no fault either — where
// without it each page's first write is one: measured under load, 32 MiB
// of another process's chunk read through in 1.2–2.4 ms, against 21 ms
// for its pages' first writes. (madvise(MADV_POPULATE_READ) did it in
// 0.8–1.2 ms, and gained nothing consistent on a fresh chunk: a
// millisecond a chunk, off the hot path, is not worth a storage-layer
// interface; docs/BENCHMARKS.md.)
func pretouch(r engine.Region, size int64) {
	if r.Medium() != engine.SharedMemory {
		return
	}
	v, err := r.View(0, size)
	if err != nil {
		return
	}
	var sum byte
	for off := 0; off < len(v); off += engine.PageSize {
		sum += v[off]
	}
	pretouchSink.Store(uint32(sum)) // so that the loads are not dropped
}

var pretouchSink atomic.Uint32

// discard frees a chunk this process created and could not install.
func (s *Store) discard(c *chunk) {
	s.free(c.slot, c.gen, -1)
}
