package wal

import "fmt"

// core is the writer's state machine, in the shape of etcd raft's Ready: it
// does no I/O, but says what I/O comes next (a round) and records what
// happened. It knows what was appended, written to the page cache and
// made durable, holds the encoded frames not written yet, and keeps the
// rules of the protocol:
//
//   - a round writes the buffered frames at the end of the current
//     segment, then syncs it if a caller asked for durability;
//   - the frames of a segment are durable, its seal included, before any
//     byte is written to the next one: a seal round writes the seal, syncs,
//     and only then are appends let into the next segment (so a crash
//     never leaves a segment unsealed while a later one holds data);
//   - the segment after the next one is created once a seal round is done,
//     ahead of need: switching segments takes no create on the hot path;
//   - an id is durable only once a sync that covered it succeeded, and
//     after any failed write or sync the core is broken for good.
//
// The WAL's methods are the loop that runs rounds: one at a time (busy),
// with the WAL's mutex released during the I/O, so appends go on into a
// second buffer meanwhile. Callers hold that mutex.
type core struct {
	segSize  int64 // a segment's preallocated size
	spareCap int   // the largest buffer worth keeping for reuse

	seg    uint64 // the segment appends go to
	frames int    // frames in it, written or buffered
	off    int64  // offset in it where buf will be written
	buf    []byte // encoded frames not handed to a round yet
	spare  []byte // the buffer of the last round, for reuse

	last    uint64 // the last id appended
	written uint64 // the last id a round wrote (to the page cache)
	durable uint64 // the last id a round made durable

	busy    bool  // a round is in flight
	sealing bool  // the round in flight seals seg: appends wait for it
	broken  error // the failure that broke the log, wrapped in ErrBroken

	// syncInFlight says the round in flight syncs, and syncRounds counts
	// the sync rounds done: only the bug variant walbug.JoinSyncInFlight
	// reads them.
	syncInFlight bool
	syncRounds   uint64

	sealed []sealedSegment // segments sealed, oldest first
}

// sealedSegment is a sealed segment and the last id in it, which is what
// truncation needs to know.
type sealedSegment struct{ seq, last uint64 }

// round is one batch of I/O: write data at off in segment seg; then, if
// sync, fsync the segment; if seal, data ends with the segment's seal
// frame and, once synced, the log goes on in segment seg+1, and segment
// create (seg+2) must be created.
type round struct {
	seg    uint64
	off    int64
	data   []byte
	last   uint64 // the last id data holds (or held before it, if empty)
	sync   bool
	seal   bool
	create uint64
}

// fits reports whether a frame of n bytes goes in the current segment with
// room left for its seal. An empty segment takes any frame: an oversize
// one gets a segment of its own, which grows past its preallocated size.
func (c *core) fits(n int) bool {
	return c.frames == 0 || c.off+int64(len(c.buf))+int64(n)+sealSize <= c.segSize
}

// appended records the frame just encoded at the end of buf, with id.
func (c *core) appended(buf []byte, id uint64) {
	c.buf = buf
	c.last = id
	c.frames++
}

// next starts a round: it takes the buffered frames, and with seal appends
// the segment's seal. A seal round always syncs. The caller must not be in
// a round already.
func (c *core) next(sync, seal bool) round {
	if c.busy {
		panic("wal: a round started while another is in flight")
	}
	data := c.buf
	r := round{seg: c.seg, off: c.off, last: c.last, sync: sync || seal, seal: seal}
	if seal {
		data = appendFrame(data, KindSeal, c.last, nil)
		r.create = c.seg + 2
	}
	r.data = data
	c.off += int64(len(data))
	c.buf, c.spare = c.spare[:0], nil
	c.busy, c.sealing, c.syncInFlight = true, seal, r.sync
	return r
}

// done records the outcome of round r's writes and sync. The round stays
// in flight if it must still create a segment ahead (see created).
func (c *core) done(r round, err error) {
	c.sealing, c.syncInFlight = false, false
	if r.sync {
		c.syncRounds++
	}
	if cap(r.data) <= c.spareCap {
		c.spare = r.data[:0]
	}
	if err != nil {
		c.fail(err)
		c.busy = false
		return
	}
	c.written = max(c.written, r.last)
	if r.sync {
		c.durable = max(c.durable, r.last)
	}
	if !r.seal {
		c.busy = false
		return
	}
	if len(c.buf) != 0 {
		panic("wal: frames appended to a segment being sealed")
	}
	c.sealed = append(c.sealed, sealedSegment{r.seg, r.last})
	c.seg, c.off, c.frames = r.seg+1, HeaderSize, 0
}

// created ends a seal round once the segment ahead was created (or not).
func (c *core) created(err error) {
	if err != nil {
		c.fail(err)
	}
	c.busy = false
}

// fail breaks the log with err, unless it is broken already.
func (c *core) fail(err error) {
	if c.broken == nil {
		c.broken = fmt.Errorf("%w: %w", ErrBroken, err)
	}
}
