package tx

import (
	"encoding/binary"
	"fmt"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/zeebo/xxh3"
)

// The undo log, at Header.LogOff, in a pool of formats 3 to 5: lines of
// 64 bytes, each 56 bytes of the log and a mark. (Pools of formats 1 and
// 2 have the log of the releases that wrote them, legacylog.go; pools of
// format 6 a redo log of the same lines, in two slots, redo.go.)
//
//	line 0, the log's header:
//	0        8        16       24        32         40       48       56       64
//	+--------+--------+--------+---------+----------+--------+--------+--------+
//	| seq    | count  | length | newhash | rangesum | logsum | hdrsum | mark 0 |
//	+--------+--------+--------+---------+----------+--------+--------+--------+
//
//	lines 1, 2 ...: the entries, 56 bytes a line, length bytes in all
//	0                                                        56       64
//	+--------------------------------------------------------+--------+
//	| entries ...                                            | mark i |
//	+--------------------------------------------------------+--------+
//
//	entry:  | off (bit 63: new) | n | old bytes (n, padded to 8) |
//
// seq names the transaction whose log this is: the writer's epoch in the
// high 32 bits, a counter in the low 32, so that no two transactions of a
// pool's life have the same one. An entry is a range [off, off+n) the
// transaction changes and, unless bit 63 says the range is in memory the
// transaction allocated (nothing to restore), its old bytes. count is the
// number of entries, length their bytes. newhash is the chained XXH3 of
// the new contents of every entry's range, in log order (commitHash): what
// the ranges hold once the transaction is in place — the data is its own
// commit record. rangesum is the chained XXH3 of the entries' first two
// words (the ranges), from seq; logsum the XXH3 of the entries, seeded
// with seq; hdrsum the XXH3 of the header's first 48 bytes. Words are
// little-endian.
//
// Mark i is logMark(seq, i), stored after everything else of its line;
// mark 0 is 0 when the log is retired (or the pool new).
//
// The protocol of a transaction (commit in txn.go):
//
//  1. Write the log (old bytes read from the pool, new contents hashed
//     from the write set): store 0 to the marks of the lines that the log
//     in place names and that the new one overwrites; write the lines with
//     their marks 0; write the entries' lines again with their marks, then
//     store the header's mark; flush and drain.
//  2. Make the version word odd; write the new bytes in place; flush them
//     and drain; make the version even. The transaction is committed.
//
// A mark says that its line is whole. Stores to one line reach the media
// in the order they were made (docs/DESIGN.md F2: on persistent memory a
// line holds a prefix of its stores; a mapped page, or a sector of it, is
// written back as it was at one moment; a process crash loses no store),
// so a line that holds a log's mark holds every byte stored to it before
// the mark. And a line's bytes change only after its mark of the log in
// place is 0, so a mark never vouches for bytes stored after it. A log
// whose every line holds its mark was therefore whole before anything of
// its transaction was written in place (step 1 drains before step 2), and
// a log with a line without its mark is a log that step 1 was writing
// when the machine stopped: nothing of its transaction is in place. The
// one-word commit (commitWord in txn.go) writes one aligned word, failure-
// atomic, and no log; nothing else writes committed memory in place.
//
// Recovery (Open) reads the log (readLog) and decides:
//
//   - mark 0 is 0: no log (retired, new, or torn in its first line);
//   - mark 0 is not logMark(seq, 0), hdrsum fails, or the header's fields
//     are out of range: the header is damaged, ErrCorrupt;
//   - logsum holds: the log is whole. It hashes what its ranges hold now:
//     newhash means every byte of the transaction reached the media (it
//     committed, or was about to); anything else that it did not, and the
//     old bytes are written back, made durable, and the log retired (mark
//     0 = 0, durable);
//   - logsum fails and every line holds its mark: the log was whole, and
//     something damaged it after. If rangesum holds and the ranges hold
//     newhash, the transaction committed and the damaged old bytes are
//     not needed; otherwise ErrCorrupt — never applied, never ignored;
//   - logsum fails and a line lacks its mark: the log is torn, nothing of
//     it is in place, and it is ignored.
//
// So one damaged byte anywhere in the log is found: in a line's bytes by
// logsum (with every mark whole), in a mark by logsum holding, in the
// header by hdrsum or mark 0, which no single damaged byte makes 0 (every
// mark has two bytes with a bit forced on). Damage to both a line's bytes
// and its mark can pass for a torn line.
//
// Rollback writes only old bytes, so a crash during it leaves a log that
// still checks and ranges that still do not match newhash — a range whose
// old and new bytes differ somewhere keeps an old byte there — and
// recovering again does the same thing: recovery is idempotent.
//
// The log of the last transaction stays until the next one overwrites it,
// and its ranges must then keep the contents newhash describes: every
// later transaction that writes one of them logs first, which replaces the
// log. Only a transaction that changes at most one aligned word of
// committed memory (besides memory it allocated) skips the log: the word
// is stored atomically and made durable with the new memory, in one drain;
// it must not fall in the last log's ranges (commitWord).
//
// The version word, the seqlock of readers in other processes (odd while a
// writer changes data in place), lives in the live line of the pool
// header, which no commit flushes, so that storing it never waits for a
// line on its way to the media.
const (
	logLine        = 64
	logLineBytes   = 56 // of the log, in a line; its mark follows
	logMarkOff     = logLineBytes
	logSeqOff      = 0
	logCountOff    = 8
	logLengthOff   = 16
	logNewHashOff  = 24
	logRangeSumOff = 32
	logSumOff      = 40
	logHdrSumOff   = 48

	entryHeaderSize = 16
	entryNew        = uint64(1) << 63
	// entryInPlace marks the entry of a word log (format 6, redo.go): its
	// word was written in place before the log's drain.
	entryInPlace = uint64(1) << 62
)

// logEntry is one range of a transaction's log.
type logEntry struct {
	off int64
	n   int64
	new bool // in memory the transaction allocated: no bytes in the log
	// inPlace says the entry's word was written in place before the log's
	// drain: the log is a word log (format 6, redo.go).
	inPlace bool
	// data is the range's bytes in the log: its old bytes in an undo log
	// (formats 1 to 5), its new bytes in a redo log (format 6, redo.go);
	// nil when new, or when the log's bytes are damaged.
	data []byte
}

// undoLog is a log as recovery reads it, undo or redo.
type undoLog struct {
	seq, newHash uint64
	entries      []logEntry // none for a retired or torn log
	// damaged says the log was whole and its entries' bytes are damaged:
	// the ranges are known, the bytes the log holds for them are not.
	damaged bool
	// lines is how many lines of a log of format 3 mark 0 names, whole
	// or not: those whose marks a crash could find (0 if mark 0 is 0).
	lines int64
	// torn says a line of the log lacks its mark (format 6 keeps its seq:
	// the next log goes where it is).
	torn bool
}

func pad8(n int64) int64 { return (n + 7) &^ 7 }

// logMark is the mark of line i of the log of seq: a 64-bit mix of both,
// with a bit on in each of its two lowest bytes, so that no single
// damaged byte turns a mark into 0, a retired log.
func logMark(seq uint64, i int64) uint64 {
	x := seq ^ uint64(i+1)*0x9e3779b97f4a7c15
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x | 0x0101
}

// littleEndian returns the word that Store64, which stores in the
// machine's byte order, stores as v's little-endian bytes.
func littleEndian(v uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return binary.NativeEndian.Uint64(b[:])
}

// logLines is the number of lines of a log of length bytes of entries.
func logLines(length int64) int64 { return 1 + (length+logLineBytes-1)/logLineBytes }

// logCapacity is the most bytes of entries the log of p holds: in format
// 6, one slot of it.
func (p *pool) logCapacity() int64 {
	switch {
	case !p.hdr.marked():
		return p.hdr.LogSize - legacyEntriesOff
	case p.hdr.redo():
		return (p.slotSize()/logLine - 1) * logLineBytes
	}
	return (p.hdr.LogSize/logLine - 1) * logLineBytes
}

// commitHash chains the XXH3 of one range's contents into h: a log's
// newhash is commitHash over every entry in log order, from seq.
func commitHash(h uint64, off int64, contents []byte) uint64 {
	return xxh3.HashSeed(contents, h^uint64(off)*0xff51afd7ed558ccd)
}

// appendEntry appends the encoding of an entry to body.
func appendEntry(body []byte, off, n int64, old []byte) []byte {
	o := uint64(off)
	size := int64(entryHeaderSize)
	if old == nil {
		o |= entryNew
	} else {
		size += pad8(n)
	}
	at := len(body)
	body = append(body, make([]byte, size)...)
	binary.LittleEndian.PutUint64(body[at:], o)
	binary.LittleEndian.PutUint64(body[at+8:], uint64(n))
	copy(body[at+entryHeaderSize:], old)
	return body
}

// rangeSum is the chained XXH3 of the first two words of every entry of
// body — the ranges — from seq.
func rangeSum(seq uint64, body []byte) (uint64, error) {
	h := seq
	for p := int64(0); p < int64(len(body)); {
		if p+entryHeaderSize > int64(len(body)) {
			return 0, fmt.Errorf("%w: log entry header at %d past the log's %d bytes", ErrCorrupt, p, len(body))
		}
		h = xxh3.HashSeed(body[p:p+entryHeaderSize], h)
		o := binary.LittleEndian.Uint64(body[p:])
		n := int64(binary.LittleEndian.Uint64(body[p+8:]))
		p += entryHeaderSize
		if o&entryNew == 0 {
			if n < 0 || pad8(n) > int64(len(body))-p {
				return 0, fmt.Errorf("%w: log entry of %d bytes past the log's end", ErrCorrupt, n)
			}
			p += pad8(n)
		}
	}
	return h, nil
}

// encodeLog returns the lines of the log of seq with the entries body,
// their marks 0, in buf (grown if it must be).
func encodeLog(buf []byte, seq uint64, count int, newHash uint64, body []byte) ([]byte, error) {
	n := logLines(int64(len(body)))
	buf = append(buf[:0], make([]byte, n*logLine)...)
	rs, err := rangeSum(seq, body)
	if err != nil {
		return nil, err
	}
	h := buf[:logLine]
	binary.LittleEndian.PutUint64(h[logSeqOff:], seq)
	binary.LittleEndian.PutUint64(h[logCountOff:], uint64(count))
	binary.LittleEndian.PutUint64(h[logLengthOff:], uint64(len(body)))
	binary.LittleEndian.PutUint64(h[logNewHashOff:], newHash)
	binary.LittleEndian.PutUint64(h[logRangeSumOff:], rs)
	binary.LittleEndian.PutUint64(h[logSumOff:], xxh3.HashSeed(body, seq))
	binary.LittleEndian.PutUint64(h[logHdrSumOff:], xxh3.Hash(h[:logHdrSumOff]))
	for i := int64(1); i < n; i++ {
		copy(buf[i*logLine:i*logLine+logLineBytes], body[(i-1)*logLineBytes:])
	}
	return buf, nil
}

// writeLog writes the log of seq with the entries body (steps 1 of the
// protocol, without the drain) and returns how many bytes from the log's
// start it covers. A pool of format 1 or 2 gets the log of its format.
func (p *pool) writeLog(seq uint64, count int, newHash uint64, body []byte, buf []byte) ([]byte, int64, error) {
	if !p.hdr.marked() {
		buf = encodeLegacyLog(buf, seq, count, newHash, body)
		_, err := p.r.WriteAt(buf, p.logOff)
		return buf, int64(len(buf)), err
	}
	buf, err := encodeLog(buf, seq, count, newHash, body)
	if err != nil {
		return buf, 0, err
	}
	n := int64(len(buf)) / logLine
	if err := p.unmark(min(p.logLines, n)); err != nil {
		return buf, 0, err
	}
	p.logLines = max(p.logLines, n)
	if _, err := p.r.WriteAt(buf, p.logOff); err != nil {
		return buf, 0, err
	}
	// The entries' lines get their marks in one more write of the same
	// bytes: each mark is stored after its line's first write. A mark torn
	// by a crash is no mark, and its line is not whole, as it is not. The
	// header's mark is an atomic store: a torn one would read as damage.
	if n > 1 {
		for i := int64(1); i < n; i++ {
			binary.LittleEndian.PutUint64(buf[i*logLine+logMarkOff:], logMark(seq, i))
		}
		if _, err := p.r.WriteAt(buf[logLine:], p.logOff+logLine); err != nil {
			return buf, 0, err
		}
	}
	if err := p.r.Store64(p.logOff+logMarkOff, littleEndian(logMark(seq, 0))); err != nil {
		return buf, 0, err
	}
	p.logLines = n
	return buf, int64(len(buf)), nil
}

// unmark takes away the marks of the first n lines of the log in place,
// before the next log overwrites them: a crash must never find a mark
// beside bytes stored after it. Mark 0 is an atomic store (a torn one
// would read as damage); the others, when there are more than two, go
// in one write of the lines as they are with their marks 0 — a mark torn
// by a crash only says that its line is not whole, and the rest of the
// line is written with the bytes it holds.
func (p *pool) unmark(n int64) error {
	if n == 0 {
		return nil
	}
	if err := p.r.Store64(p.logOff+logMarkOff, 0); err != nil {
		return err
	}
	if n <= 3 {
		for i := int64(1); i < n; i++ {
			if err := p.r.Store64(p.logOff+i*logLine+logMarkOff, 0); err != nil {
				return err
			}
		}
		return nil
	}
	lines := make([]byte, (n-1)*logLine)
	if _, err := p.r.ReadAt(lines, p.logOff+logLine); err != nil {
		return err
	}
	for i := int64(0); i < n-1; i++ {
		clear(lines[i*logLine+logMarkOff : (i+1)*logLine])
	}
	_, err := p.r.WriteAt(lines, p.logOff+logLine)
	return err
}

// logRetireOff is the offset of the word whose 0 retires the log.
func (p *pool) logRetireOff() int64 {
	if !p.hdr.marked() {
		return p.logOff + legacySeqOff
	}
	return p.logOff + logMarkOff
}

// retireLog retires the log, durably.
func (p *pool) retireLog() error {
	off := p.logRetireOff()
	if err := p.r.Store64(off, 0); err != nil {
		return err
	}
	p.logLines = 0
	return engine.Persist(p.r, off, 8)
}

// readLog reads and checks the log (see the rules above).
func (p *pool) readLog() (undoLog, error) {
	if !p.hdr.marked() {
		return p.readLegacyLog()
	}
	return p.readLogAt(p.logOff, p.logCapacity())
}

// readLogAt reads and checks the log of lines at off whose entries hold
// at most capacity bytes: the undo log of formats 3 to 5, or one slot of
// format 6's redo log.
func (p *pool) readLogAt(off, capacity int64) (undoLog, error) {
	var h [logLine]byte
	if _, err := p.r.ReadAt(h[:], off); err != nil {
		return undoLog{}, err
	}
	mark0 := binary.LittleEndian.Uint64(h[logMarkOff:])
	if mark0 == 0 {
		return undoLog{}, nil
	}
	l := undoLog{
		seq:     binary.LittleEndian.Uint64(h[logSeqOff:]),
		newHash: binary.LittleEndian.Uint64(h[logNewHashOff:]),
	}
	count := binary.LittleEndian.Uint64(h[logCountOff:])
	length := int64(binary.LittleEndian.Uint64(h[logLengthOff:]))
	switch {
	case mark0 != logMark(l.seq, 0):
		return l, fmt.Errorf("%w: %s: log header: mark %#x, want %#x for seq %#x", ErrCorrupt, p.name, mark0, logMark(l.seq, 0), l.seq)
	case binary.LittleEndian.Uint64(h[logHdrSumOff:]) != xxh3.Hash(h[:logHdrSumOff]):
		return l, fmt.Errorf("%w: %s: log header checksum", ErrCorrupt, p.name)
	case l.seq == 0 || length <= 0 || length > capacity || length%8 != 0 || count == 0 || count > uint64(length/entryHeaderSize):
		return l, fmt.Errorf("%w: %s: log header: seq %#x, %d entries in %d bytes", ErrCorrupt, p.name, l.seq, count, length)
	}
	l.lines = logLines(length)
	lines := make([]byte, (l.lines-1)*logLine)
	if _, err := p.r.ReadAt(lines, off+logLine); err != nil {
		return l, err
	}
	body := make([]byte, length)
	whole := true
	for i := int64(1); i < l.lines; i++ {
		line := lines[(i-1)*logLine : i*logLine]
		copy(body[(i-1)*logLineBytes:], line[:logLineBytes])
		whole = whole && binary.LittleEndian.Uint64(line[logMarkOff:]) == logMark(l.seq, i)
	}
	rs, rerr := rangeSum(l.seq, body)
	rangesOK := rerr == nil && rs == binary.LittleEndian.Uint64(h[logRangeSumOff:])
	if p.opts.bug == txbug.RedoUnchecked && p.hdr.redo() {
		// The mistake: a header that checks is taken for a whole log.
		var err error
		l.entries, err = p.parseEntries(body, int(count), true)
		return l, err
	}
	switch {
	case xxh3.HashSeed(body, l.seq) == binary.LittleEndian.Uint64(h[logSumOff:]):
		if !rangesOK {
			return l, fmt.Errorf("%w: %s: log ranges checksum", ErrCorrupt, p.name)
		}
	case !whole:
		return undoLog{seq: l.seq, lines: l.lines, torn: true}, nil // torn: nothing of it in place
	case !rangesOK:
		return l, fmt.Errorf("%w: %s: the log of transaction %#x was whole, and its ranges are damaged", ErrCorrupt, p.name, l.seq)
	default:
		l.damaged = true
	}
	var err error
	l.entries, err = p.parseEntries(body, int(count), !l.damaged)
	return l, err
}

// parseEntries decodes count entries from body, with their bytes if
// withData. Entries that name ranges outside the pool's data or over the
// log itself are corrupt.
func (p *pool) parseEntries(body []byte, count int, withData bool) ([]logEntry, error) {
	lo, hi := int64(heapHeaderOff), p.r.Len()
	entries := make([]logEntry, 0, count)
	for at := int64(0); at < int64(len(body)); {
		if at+entryHeaderSize > int64(len(body)) {
			return nil, fmt.Errorf("%w: %s: log entry header at %d past the log's %d bytes", ErrCorrupt, p.name, at, len(body))
		}
		o := binary.LittleEndian.Uint64(body[at:])
		n := int64(binary.LittleEndian.Uint64(body[at+8:]))
		e := logEntry{off: int64(o &^ entryNew), n: n, new: o&entryNew != 0}
		if p.hdr.redo() && !e.new && o&entryInPlace != 0 {
			e.off, e.inPlace = int64(o&^entryInPlace), true
		}
		at += entryHeaderSize
		if n <= 0 || e.off < lo || e.off > hi || n > hi-e.off || (e.off < p.logEnd && e.off+n > p.logOff) {
			return nil, fmt.Errorf("%w: %s: log entry [%d,%d) outside the pool's data [%d,%d)", ErrCorrupt, p.name, e.off, e.off+n, lo, hi)
		}
		if !e.new {
			if pad8(n) > int64(len(body))-at {
				return nil, fmt.Errorf("%w: %s: log entry of %d bytes past the log's end", ErrCorrupt, p.name, n)
			}
			if withData {
				e.data = body[at : at+n]
			}
			at += pad8(n)
		}
		entries = append(entries, e)
	}
	if len(entries) != count {
		return nil, fmt.Errorf("%w: %s: log has %d entries, its header says %d", ErrCorrupt, p.name, len(entries), count)
	}
	return entries, nil
}
