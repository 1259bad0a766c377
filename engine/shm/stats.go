package shm

import "errors"

// Stats describe a namespace as one process sees it at one moment: the
// words are read one at a time, while others may change them.
type Stats struct {
	// Chunks is the number of chunks the namespace holds: live ones (the
	// head, the next, those waiting to be freed), and those being created
	// or freed. It never exceeds MaxChunks.
	Chunks    int
	MaxChunks int
	ChunkSize int64
	// Live is the number of live chunks, and Sealed of those no append
	// goes to any more.
	Live, Sealed int
	// BytesUsed is the bytes of the live chunks' entries (each blob with
	// its 8-byte word and padding); Memory is the shared memory the
	// namespace holds, chunks and control object: at most MaxChunks ×
	// ChunkSize plus the control object.
	BytesUsed, Memory int64
	// Acked is the number of acknowledged blobs in live chunks.
	Acked uint64

	// Since the namespace was created, by every process: chunks created,
	// freed once all their blobs were acknowledged (FreedAcked) or when
	// their TTL passed (FreedExpired), creations reclaimed from a creator
	// that died, and chunks an Append had to create itself because no
	// chunk was prefetched.
	Created, FreedAcked, FreedExpired, Reclaimed, CreatedInline uint64

	// This process's: chunks it prefetched, chunks its Appends created,
	// cleanup passes that met an error.
	LocalPrefetched, LocalCreatedInline, LocalCleanupErrors uint64
}

// Stats returns the namespace's statistics.
func (s *Store) Stats() (Stats, error) {
	st := Stats{
		MaxChunks:          int(s.hdr.MaxChunks),
		ChunkSize:          int64(s.hdr.ChunkSize),
		Memory:             ctlSize(s.hdr.MaxChunks),
		LocalPrefetched:    s.local.prefetched.Load(),
		LocalCreatedInline: s.local.createdInline.Load(),
		LocalCleanupErrors: s.local.cleanupErrors.Load(),
	}
	var counters [ctlStatCount]uint64
	for i := range counters {
		v, err := s.ctl.Load64(ctlStatsOff + 8*int64(i))
		if err != nil {
			return Stats{}, s.regionErr(err)
		}
		counters[i] = v
	}
	st.Created, st.FreedAcked, st.FreedExpired = counters[statCreated], counters[statFreedAcked], counters[statFreedExpired]
	st.Reclaimed, st.CreatedInline = counters[statReclaimed], counters[statCreatedInline]
	for i := range s.hdr.MaxChunks {
		w, err := s.loadSlot(i)
		if err != nil {
			return Stats{}, s.regionErr(err)
		}
		if w == 0 {
			continue
		}
		st.Chunks++
		st.Memory += int64(s.hdr.ChunkSize)
		if !slotIsLive(w) {
			continue
		}
		st.Live++
		c, err := s.chunkFor(i, slotGenOf(w))
		if errors.Is(err, ErrGone) {
			continue
		}
		if err != nil {
			return Stats{}, err
		}
		u, err := c.r.Load64(chunkUsedOff)
		if err != nil {
			continue
		}
		acks, err := c.r.Load64(chunkAcksOff)
		if err != nil {
			continue
		}
		if isSealed(u) {
			st.Sealed++
		}
		st.BytesUsed += int64(usedEnd(u)) - dataStart
		st.Acked += acks
	}
	return st, nil
}
