package tx

import (
	"encoding/binary"
	"fmt"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/zeebo/xxh3"
)

// The redo log of format 6: the log area holds two slots of LogSize/2
// bytes, each a log of the lines of format 3 (log.go) — a header line and
// entry lines, each 56 bytes of the log and a mark — whose entries hold
// the ranges' new bytes instead of their old ones:
//
//	LogOff                         LogOff + LogSize/2              LogOff + LogSize
//	+------------------------------+-------------------------------+
//	| slot 0: header line, entries | slot 1: header line, entries  |
//	+------------------------------+-------------------------------+
//
//	line 0:  | seq | count | length | newhash | rangesum | logsum | hdrsum | mark 0 |
//	lines i: | entries ... (56 bytes)                                      | mark i |
//	entry:   | off (bit 63: new, 62: in place) | n | new bytes (n, padded to 8) |
//
// The fields are format 3's: newhash the chained XXH3 of what the ranges
// hold once the transaction is in place, rangesum of the entries'
// ranges, logsum of the entries, hdrsum of the header's first 48 bytes,
// mark i = logMark(seq, i), mark 0 zero for no log. seq is a 64-bit
// count, which a writer's Open starts 2^32 above every seq whose header
// checks in either slot: the logs' order is their seqs', and no log ever
// has the seq of one whose lines are still in a slot. A new range (in
// memory the transaction allocated) has no bytes in the log.
//
// The protocol of a transaction, one wait for the media (commitRedo):
//
//  1. Write the new memory in place and flush it (it is free in the
//     committed state: nothing reads it until the transaction commits).
//     Write the log into the slot that does not hold the last logged
//     transaction's: each line's mark, if the log in place names the line,
//     stored 0, then its bytes, then its mark; the header line last, its
//     mark by an atomic store. Flush the log. Drain: the log and the new
//     memory are durable, and so is the data the last logged transaction
//     wrote in place (step 2, flushed then). The transaction is committed.
//  2. Make the version word odd, write the new bytes in place and flush
//     them, without draining, and make the version even. The next drain
//     — the next commit's, or Close's — makes them durable.
//
// So a log stays in its slot until the data it describes is durable: the
// data of transaction k is drained by k+1's commit, and only k+2 writes
// over k's slot. A crash finds at most two logs that matter, and recovery
// (recoverRedo) reads both slots, each as log.go says: no log, torn (a
// line without its mark: a log step 1 was writing, nothing of it in
// place), whole, or damaged (every mark, a checksum failing). A whole log
// is not yet a committed one: the media may write a line back at any
// moment, so a log may be whole before its drain returned. Its new memory
// tells (committedLog): the drain that makes the log durable makes the
// new memory durable with it, so the log's transaction committed if its
// ranges, replayed, would hold its newhash — the new bytes from the log,
// the new memory as the pool holds it. Then, in the order of their seqs:
//
//   - the newest whole log is replayed — its new bytes written in place —
//     if its transaction committed, after the older one, if whole: the
//     older's data may not be durable if the newest's drain had just
//     returned, and replaying a log is idempotent;
//   - a newest whole log whose transaction did not commit is retired, so
//     that no later state of its new memory makes it pass for committed,
//     and the older one, which did commit (its transaction returned
//     before the newest began), is replayed;
//   - a damaged log cannot be replayed: if its ranges hold newhash its
//     transaction is wholly in place, and so is every earlier one (its
//     drain made them durable), and nothing is replayed; if not,
//     ErrCorrupt — never applied, never ignored. An older log that is
//     damaged beside a newest whole one is ErrCorrupt unless its ranges
//     hold its newhash: the newest may never have been drained, and then
//     the older's data is needed (its ranges changed by the newest, if it
//     was, make this ErrCorrupt too: damage costs the pool, never its
//     contents).
//
// Replaying writes only new bytes, so a crash during recovery leaves the
// logs as they were, and recovering again does the same thing. Recovery
// retires no log it replays: the next log goes to the older slot.
//
// Replaying an older log after its transaction must change nothing a
// later transaction wrote and the replay of the newest does not write
// again. A later transaction writes in place only its logged ranges
// (replayed after), new memory (free in the older's committed state,
// and a log holds no range in memory free after its transaction:
// free drops the writes to a block the transaction frees, typed.go), and
// a one-word commit, which must not fall in either log's ranges, new
// memory included (commitWord): where it would, the transaction is
// logged instead. The new memory a committed log describes is therefore
// unchanged until a later log is the newest.
//
// A word log breaks the chain that would follow: a transaction that
// changes one word in a log's ranges — the heap's bitmap word, after a
// transaction that allocated — would be logged, the word would be in the
// newest log again, and so would the next one's. Such a transaction is
// logged as a word log instead: its one entry, of committed memory,
// carries bit 62 of off, and the word is stored in place before the log
// is written — an aligned store, which no crash tears — so that the drain
// makes the word durable with the log, and with the data of the older log
// (the one written before, whose data the next drain makes durable). A
// crash that keeps the word and not the whole log finds the older logs,
// which hold the word as it was, or a one-word commit made whole. Stored
// first, the word leaves no whole log behind a store that fails (the
// header's mark is the log's last store); and whatever fails, the commit
// stores the word back and retires the log, durably, before it returns
// (drainFailed), so that no later drain makes a whole log of an aborted
// transaction durable. Then:
//
//   - while a word log is the newest, the next one-word commit of a word
//     in a log (commitWord) stores the older log's mark 0 before its word,
//     both made durable by its one drain. A crash that keeps the word and
//     not the retirement finds both logs, and replays the older then the
//     word log: the word as the word log left it, the commit not made, as
//     its drain never returned. One that keeps the retirement finds the
//     word log alone;
//   - a word log with no older log is never replayed: its word has been
//     in place since its drain, and later one-word commits may have
//     changed it. So once the older log is retired no log recovery would
//     replay holds the word, and the commits after write no log;
//   - a damaged word log beside an older log needs both wholly in place:
//     its word was in place before its drain, which says nothing of the
//     older log's data.
//
// A word in a log's new memory is never a word log's: its store before
// the drain would change the memory by which recovery tells whether that
// log committed, and a crash that tears the word log would leave the
// older log's transaction, committed, taken for one that never was. Such
// a transaction is logged in full, its word written in place after its
// drain.
//
// Retiring both logs in that commit instead would not do: a crash may
// keep the word log's retirement and not the older's, whose replay would
// then write the older value of the word over the word log's.
//
// Close drains the data, then retires the older log, durably, then the
// newest: a newest log retired alone would leave the older one to be
// replayed over it.
//
// A drain that fails may have dropped what it was to make durable (a
// failed msync drops the pages it could not write), the last commit's
// data included, whose log the next one overwrites: the commit stores
// that data again, retires its own log and drains again, and the
// transaction is aborted; if that fails too the pool is broken
// (drainFailed).
//
// The bug switches of internal/txbug change this protocol where it would
// be tempting to: RedoOneSlot writes every log into slot 0, over the last
// transaction's before its data is durable; RedoUnchecked replays a log
// whose header checks without checking its lines' marks or its entries;
// RedoWordAlone replays a word log with no older log, as if a whole log
// were always one to replay.

const slotCount = 2

// slotSize is the size of a slot of format 6's log area.
func (p *pool) slotSize() int64 { return p.hdr.LogSize / slotCount }

// slotOff is the offset of slot s.
func (p *pool) slotOff(s int) int64 { return p.logOff + int64(s)*p.slotSize() }

// redo reports whether the pool logs its transactions with format 6's redo
// log (this file) rather than an undo log (log.go, legacylog.go).
func (h *Header) redo() bool { return h.Version >= formatRedo }

var zeroWord [8]byte

// appendRedoLog adds to b the stores of the log of seq with the entries
// body into slot s, and returns the log's bytes (in buf, grown if it must
// be) and its number of lines.
func (p *pool) appendRedoLog(b *engine.Batch, s int, seq uint64, count int, newHash uint64, body, buf []byte) ([]byte, int64, error) {
	buf, err := encodeLog(buf, seq, count, newHash, body)
	if err != nil {
		return buf, 0, err
	}
	n := int64(len(buf)) / logLine
	at, named := p.slotOff(s), p.slotLines[s]
	for i := int64(1); i < n; i++ {
		line := buf[i*logLine : (i+1)*logLine]
		off := at + i*logLine
		if i < named {
			// The log in place names the line: its mark goes first, so
			// that no mark of it is ever found beside the new bytes. A
			// mark is an aligned word, which no medium tears.
			b.WriteAt(zeroWord[:], off+logMarkOff)
		}
		binary.LittleEndian.PutUint64(line[logMarkOff:], logMark(seq, i))
		b.WriteAt(line[:logMarkOff], off)
		b.WriteAt(line[logMarkOff:], off+logMarkOff)
	}
	if named > 0 {
		b.Store64(at+logMarkOff, 0)
	}
	b.WriteAt(buf[:logMarkOff], at)
	b.Store64(at+logMarkOff, littleEndian(logMark(seq, 0)))
	return buf, n, nil
}

// slotSeq returns the seq of slot s's header if its checksum holds, whole
// log or not, retired or not; else 0.
func (p *pool) slotSeq(s int) (uint64, error) {
	var h [logLine]byte
	if _, err := p.r.ReadAt(h[:], p.slotOff(s)); err != nil {
		return 0, err
	}
	if binary.LittleEndian.Uint64(h[logHdrSumOff:]) != xxh3.Hash(h[:logHdrSumOff]) {
		return 0, nil
	}
	return binary.LittleEndian.Uint64(h[logSeqOff:]), nil
}

// recoverRedo reads both slots and replays what the rules above say, then
// readies the writer's state: the next seq and slot, and the logs' ranges.
// The version word is odd while it writes in place.
func (p *pool) recoverRedo() error {
	var logs [slotCount]undoLog
	var maxSeq uint64
	for s := range slotCount {
		l, err := p.readLogAt(p.slotOff(s), p.logCapacity())
		if err != nil {
			return err
		}
		seq, err := p.slotSeq(s)
		if err != nil {
			return err
		}
		logs[s], maxSeq = l, max(maxSeq, seq)
	}
	// order: the slots holding a log with entries, oldest first.
	var order []int
	for s := range slotCount {
		if len(logs[s].entries) > 0 {
			order = append(order, s)
		}
	}
	if len(order) == 2 {
		switch a, b := logs[0].seq, logs[1].seq; {
		case a == b:
			return fmt.Errorf("%w: %s: both logs have seq %#x", ErrCorrupt, p.name, a)
		case a > b:
			order[0], order[1] = 1, 0
		}
	}
	// A word log with no older log is never replayed: its word is in
	// place since its drain, and it was written to be replayed after the
	// older log, which a later one-word commit retired.
	if len(order) > 0 && wordLog(logs[order[0]]) && p.opts.bug != txbug.RedoWordAlone {
		logs[order[0]].entries = nil
		order = order[1:]
	}
	var replay []int
	retire := -1
	if len(order) > 0 {
		newest := order[len(order)-1]
		switch {
		case logs[newest].damaged:
			if err := p.wholeInPlace(logs[newest], "newest"); err != nil {
				return err
			}
			if len(order) == 2 && wordLog(logs[newest]) {
				// Its word was in place before its drain, which says
				// nothing of the older log's data: that must be in place
				// too, since the word log cannot be replayed after it.
				if err := p.wholeInPlace(logs[order[0]], "older"); err != nil {
					return err
				}
			}
		default:
			ok, err := p.committedLog(logs[newest])
			if err != nil {
				return err
			}
			if !ok {
				// Made whole by the media before its drain returned: not
				// committed. It is retired, below, so that nothing ever
				// takes it for a committed log again (a transaction that
				// writes the same new memory, say); its slot is the next
				// log's.
				order = order[:len(order)-1]
				logs[newest].entries = nil
				retire = newest
				if len(order) == 0 {
					break
				}
				older := order[0]
				if logs[older].damaged {
					if err := p.wholeInPlace(logs[older], "older"); err != nil {
						return err
					}
					break
				}
				if ok, err := p.committedLog(logs[older]); err != nil || !ok {
					if err == nil {
						err = fmt.Errorf("%w: %s: neither log's transaction, %#x or %#x, holds its new memory", ErrCorrupt, p.name, logs[older].seq, logs[newest].seq)
					}
					return err
				}
				replay = append(replay, older)
				break
			}
			for _, s := range order {
				if !logs[s].damaged {
					replay = append(replay, s)
				} else if err := p.wholeInPlace(logs[s], "older"); err != nil {
					return err
				}
			}
		}
	}
	v, err := p.r.Load64(versionOff)
	if err != nil {
		return err
	}
	p.version = (v + 1) &^ 1
	if len(replay) > 0 {
		if err := p.r.Store64(versionOff, p.version+1); err != nil {
			return err
		}
		p.version += 2
		for _, s := range replay {
			for _, e := range logs[s].entries {
				if e.new {
					continue
				}
				if _, err := p.r.WriteAt(e.data, e.off); err != nil {
					return err
				}
				if err := p.r.Flush(e.off, e.n); err != nil {
					return err
				}
				p.info.LogEntries++
			}
			p.info.Replayed++
		}
		if err := p.r.Drain(); err != nil {
			return err
		}
	}
	if retire >= 0 {
		off := p.slotOff(retire) + logMarkOff
		if err := p.r.Store64(off, 0); err != nil {
			return err
		}
		if err := engine.Persist(p.r, off, 8); err != nil {
			return err
		}
		logs[retire].lines = 0
	}
	if p.version != v {
		if err := p.r.Store64(versionOff, p.version); err != nil {
			return err
		}
	}
	p.seq = maxSeq + 1<<32
	p.slot = 0
	switch len(order) {
	case 1:
		p.slot = 1 - order[0]
	case 2:
		p.slot = order[0]
	}
	p.pending, p.unflushed = p.pending[:0], p.unflushed[:0]
	p.unflushedWords = p.unflushedWords[:0]
	for s := range slotCount {
		p.wordLog[s] = wordLog(logs[s])
		p.slotLines[s] = logs[s].lines
		p.live[s] = p.live[s][:0]
		for _, e := range logs[s].entries {
			p.live[s] = append(p.live[s], liveRange{e.off, e.n, e.new})
		}
	}
	return nil
}

// wordLog reports whether l is a word log: one entry of committed memory
// written in place before the log's drain (commitRedo).
func wordLog(l undoLog) bool {
	for _, e := range l.entries {
		if e.inPlace {
			return true
		}
	}
	return false
}

// committedLog reports whether the transaction of the whole log l
// committed: whether its ranges, replayed, would hold its newhash — the
// new bytes from the log, and its new memory, which the commit's drain
// made durable with the log, as it is in place. A log whose new memory
// does not match was made whole by the media before its drain returned
// (a line may be written back at any moment), and its transaction never
// committed.
func (p *pool) committedLog(l undoLog) (bool, error) {
	if p.opts.bug == txbug.RedoUnchecked {
		return true, nil
	}
	h := l.seq
	var buf []byte
	for _, e := range l.entries {
		b := e.data
		if e.new {
			if int64(cap(buf)) < e.n {
				buf = make([]byte, e.n)
			}
			b = buf[:e.n]
			if _, err := p.r.ReadAt(b, e.off); err != nil {
				return false, err
			}
		}
		h = commitHash(h, e.off, b)
	}
	return h == l.newHash, nil
}

// wholeInPlace returns nil if the ranges of the damaged log l hold its
// newhash — its transaction wholly in place — and ErrCorrupt otherwise.
func (p *pool) wholeInPlace(l undoLog, which string) error {
	now, err := p.contentsHash(l.seq, l.entries)
	if err != nil {
		return err
	}
	if now != l.newHash {
		return fmt.Errorf("%w: %s: the %s log, of transaction %#x, is damaged, and its transaction is not wholly in place", ErrCorrupt, p.name, which, l.seq)
	}
	return nil
}

// commitRedo commits the write set with format 6's redo log (see above):
// the entries are what commit left of it, each changing something. If
// inPlace, the write set changes one word of committed memory, and the
// log is a word log: the word is written in place before the drain.
func (t *txn) commitRedo(inPlace bool) error {
	p := t.p
	bug := p.opts.bug
	if !inPlace && len(p.unflushed) > 0 {
		if err := t.listUnflushed(); err != nil {
			return err
		}
	}
	body := t.logBody[:0]
	for _, e := range t.ents {
		if e.new {
			body = appendEntry(body, e.off, e.n, nil)
		} else {
			at := len(body)
			body = appendEntry(body, e.off, e.n, t.data[e.at:e.at+int(e.n)])
			if inPlace {
				binary.LittleEndian.PutUint64(body[at:], uint64(e.off)|entryInPlace)
			}
		}
	}
	t.logBody = body
	if int64(len(body)) > p.logCapacity() {
		return fmt.Errorf("%w: %d bytes of log for %d ranges, the log holds %d", ErrTxTooLarge, len(body), len(t.ents), p.logCapacity())
	}
	seq := p.seq
	p.seq++
	h := seq
	for _, e := range t.ents {
		h = commitHash(h, e.off, t.data[e.at:e.at+int(e.n)])
	}
	s := p.slot
	if bug == txbug.RedoOneSlot {
		s = 0
	}
	flush := newFlusher(p.medium)
	b := &p.batch
	b.Reset()
	var w wordWrite
	if inPlace {
		// The word in place, before the log: one aligned store, which no
		// crash tears, under the version word, which stays odd until the
		// drain returns. A store of the log that fails leaves no whole
		// log (its header's mark is its last store) beside the word,
		// which is stored back; with the word after the log, a failed
		// word left a whole log of an aborted transaction, which a later
		// drain made durable and recovery replayed.
		p.applyMu.Lock()
		defer p.applyMu.Unlock()
		b.Store64(versionOff, p.version+1)
		var err error
		if w, err = t.word(); err != nil {
			return err
		}
		b.Store64(w.off, w.new)
		flush.add(b, w.off, 8)
	}
	// Step 1: the new memory, the log, one drain.
	for _, e := range t.ents {
		if e.new {
			b.WriteAt(t.data[e.at:e.at+int(e.n)], e.off)
			if bug != txbug.PublishUnflushed {
				flush.add(b, e.off, e.n)
			}
		}
	}
	if flush.mode == flushHull {
		for _, u := range p.pending { // not flushed when written (step 2)
			flush.add(b, u.off, u.n)
		}
	}
	if inPlace {
		// The word is the allocator's if one-word commits left new
		// memory (commit): it publishes nothing, and this drain makes
		// that memory durable.
		for _, u := range p.unflushed {
			if !t.frees(u.off) {
				flush.add(b, u.off, u.n)
			}
		}
	}
	buf, n, err := p.appendRedoLog(b, s, seq, len(t.ents), h, body, t.logBuf)
	t.logBuf = buf
	if err != nil {
		return err
	}
	flush.add(b, p.slotOff(s), n*logLine)
	flush.end(b)
	// Until the commit, the slot's lines are those of the log in place or
	// of this one, whichever is longer: a failed store may leave either.
	p.slotLines[s] = max(p.slotLines[s], n)
	err = engine.Apply(p.r, b)
	if err == nil && flush.mode != flushNone && bug != txbug.WriteBeforeLog {
		err = p.r.Drain()
	}
	if err != nil {
		// A store, a flush or the drain failed: the log may be whole (a
		// flush after its last store failed), and the word in place. The
		// word is stored back, and the log retired, durably, before the
		// commit returns (drainFailed): no later drain may make a whole
		// log of an aborted transaction durable.
		if inPlace {
			if serr := p.r.Store64(w.off, w.old); serr == nil {
				p.r.Flush(w.off, 8)
			}
		}
		err = p.drainFailed(err, s)
	}
	if inPlace {
		p.version += 2
		if serr := p.r.Store64(versionOff, p.version); serr != nil && err == nil {
			// Committed, durably: not an abort.
			p.broken = fmt.Errorf("%w: commit of %s failed after it was durable (%w)", ErrBroken, p.name, serr)
			err = p.broken
		}
	}
	if err != nil {
		return err
	}
	// Committed: the log of slot s is the newest.
	p.slotLines[s] = n
	p.live[s] = p.live[s][:0]
	for _, e := range t.ents {
		p.live[s] = append(p.live[s], liveRange{e.off, e.n, e.new})
	}
	p.wordLog[s] = inPlace
	if bug != txbug.RedoOneSlot {
		p.slot = 1 - s
	}
	p.unflushed, p.pending = p.unflushed[:0], p.pending[:0]
	p.unflushedWords = p.unflushedWords[:0]
	if inPlace {
		return nil // its data durable with the log
	}
	// Step 2: in place, under the version word and out of this process's
	// Views. On persistent memory each range is flushed now, so that its
	// lines are on their way while the program goes on; on a page-cache
	// mapping the next drain flushes it, with its own ranges, in one
	// range. Either way the next drain makes it durable.
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	b.Reset()
	b.Store64(versionOff, p.version+1)
	for _, e := range t.ents {
		if e.new {
			continue
		}
		b.WriteAt(t.data[e.at:e.at+int(e.n)], e.off)
		if flush.mode == flushLines && bug != txbug.RetireEarly {
			b.Flush(e.off, e.n)
		}
		p.pending = append(p.pending, logRange{e.off, e.n})
	}
	b.Store64(versionOff, p.version+2)
	if err := engine.Apply(p.r, b); err != nil {
		p.broken = fmt.Errorf("%w: commit of %s failed after its log was durable (%w); Open replays it", ErrBroken, p.name, err)
		return p.broken
	}
	p.version += 2
	if bug == txbug.RetireEarly {
		// The log retired, durably, before the data is flushed.
		off := p.slotOff(s) + logMarkOff
		if err := p.r.Store64(off, 0); err != nil {
			return err
		}
		if err := engine.Persist(p.r, off, 8); err != nil {
			return err
		}
		for _, e := range p.pending {
			if err := p.r.Flush(e.off, e.n); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushMode is how a commit flushes, by medium.
type flushMode uint8

const (
	flushNone  flushMode = iota // shared memory: nothing survives a power failure
	flushLines                  // persistent memory: each range's cache lines
	flushHull                   // a page-cache mapping: one range over them all
)

// flusher adds a commit's flushes to a batch: one for each range on
// persistent memory (a cache-line flush writes back what it covers and
// nothing else), their hull on a page-cache mapping, so that Drain makes
// one msync call, which costs nothing for the clean pages between.
type flusher struct {
	mode   flushMode
	lo, hi int64
}

func newFlusher(m engine.Medium) flusher {
	switch m {
	case engine.PMem:
		return flusher{mode: flushLines}
	case engine.MappedFile:
		return flusher{mode: flushHull, lo: -1}
	}
	return flusher{mode: flushNone}
}

func (f *flusher) add(b *engine.Batch, off, n int64) {
	switch {
	case n == 0 || f.mode == flushNone:
	case f.mode == flushLines:
		b.Flush(off, n)
	case f.lo < 0:
		f.lo, f.hi = off, off+n
	default:
		f.lo, f.hi = min(f.lo, off), max(f.hi, off+n)
	}
}

// end adds the hull's flush.
func (f *flusher) end(b *engine.Batch) {
	if f.mode == flushHull && f.lo >= 0 {
		b.Flush(f.lo, f.hi-f.lo)
	}
}

// drainFailed is what a commit of format 6 does when its stores or its
// drain fail, before anything is written in place. A failed drain may
// have dropped what it was to make durable (a failed msync drops the
// dirty pages it could not write, docs/DESIGN.md F3), and a later drain
// would not write them again: the data the last commit wrote in place,
// whose log the next commit would overwrite, and the new memory of
// one-word commits. So they are stored again, which makes their pages
// and lines dirty again, the log just written into slot s (if s >= 0) is
// retired, and all of it drained: the transaction is aborted, and cause
// returned. If that fails too the pool is broken, and what the
// transaction left is what recovery makes of it.
func (p *pool) drainFailed(cause error, s int) error {
	if p.medium == engine.SharedMemory {
		return cause // no drain: the stores failed, and nothing of the log is complete
	}
	err := p.restore()
	if err == nil && s >= 0 {
		off := p.slotOff(s) + logMarkOff
		if err = p.r.Store64(off, 0); err == nil {
			err = p.r.Flush(off, 8)
		}
	}
	if err == nil {
		err = p.r.Drain()
	}
	if err != nil {
		p.broken = fmt.Errorf("%w: commit of %s failed (%w), then its recovery (%w)", ErrBroken, p.name, cause, err)
		return p.broken
	}
	if s >= 0 {
		// Retired: nothing of its lines can be taken for a log.
		p.slotLines[s] = 0
		p.live[s] = p.live[s][:0]
	}
	p.pending, p.unflushed = p.pending[:0], p.unflushed[:0]
	p.unflushedWords = p.unflushedWords[:0]
	return cause
}

// restore stores again, and flushes, the data of the last logged commit
// and the new memory of the one-word commits since, as they are in
// memory: what a failed drain may have dropped.
func (p *pool) restore() error {
	var buf []byte
	for _, rs := range [][]logRange{p.pending, p.unflushed} {
		for _, u := range rs {
			if int64(cap(buf)) < u.n {
				buf = make([]byte, u.n)
			}
			b := buf[:u.n]
			if _, err := p.r.ReadAt(b, u.off); err != nil {
				return err
			}
			if _, err := p.r.WriteAt(b, u.off); err != nil {
				return err
			}
			if err := p.r.Flush(u.off, u.n); err != nil {
				return err
			}
		}
	}
	return nil
}

// closeRedo makes everything durable and retires both logs, the older
// first (see above), and clears the unclean flag.
func (p *pool) closeRedo() error {
	for _, rs := range [][]logRange{p.pending, p.unflushed} {
		for _, u := range rs {
			if err := p.r.Flush(u.off, u.n); err != nil {
				return err
			}
		}
	}
	if err := p.r.Drain(); err != nil {
		return err
	}
	for _, s := range []int{p.slot, 1 - p.slot} { // the older log, then the newest
		if len(p.live[s]) == 0 && p.slotLines[s] == 0 {
			continue
		}
		off := p.slotOff(s) + logMarkOff
		if err := p.r.Store64(off, 0); err != nil {
			return err
		}
		if err := engine.Persist(p.r, off, 8); err != nil {
			return err
		}
	}
	if err := p.r.Store64(uncleanOff, 0); err != nil {
		return err
	}
	return engine.Persist(p.r, liveOff, 64)
}

// inLive reports whether the aligned word at w is in the ranges of a log
// recovery would replay, and whether it is in such a log's new memory.
func (p *pool) inLive(w int64) (in, inNew bool) {
	for s := range slotCount {
		for _, r := range p.live[s] {
			if w < r.off+r.n && r.off < w+8 {
				in, inNew = true, inNew || r.new
			}
		}
	}
	return in, inNew
}
