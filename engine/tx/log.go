package tx

import (
	"encoding/binary"
	"fmt"

	"github.com/zeebo/xxh3"
)

// The undo log, at Header.LogOff: a header, then the entries.
//
//	0        8        16       24        32       40
//	+--------+--------+--------+---------+--------+---------------------------------------+
//	| seq    | count  | length | newhash | logsum | entries (length bytes) ...            |
//	+--------+--------+--------+---------+--------+---------------------------------------+
//	entry:  | off (bit 63: new) | n | old bytes (n, padded to 8) |
//
// seq names the transaction whose entries these are: the writer's epoch
// in the high 32 bits, a counter in the low 32, so that no two
// transactions of a pool's life have the same one; 0 is a retired log. An
// entry is a range [off, off+n) the transaction changes and, unless bit 63
// says the range is in memory the transaction allocated (nothing to
// restore), its old bytes. newhash is the chained XXH3 of the new contents
// of every entry's range, in log order (commitHash): what the ranges hold
// once the transaction is in place. logsum is XXH3 of the entries, seeded
// with seq, count, length and newhash, so that a log torn by a crash fails
// it.
//
// The protocol of a transaction (commit in txn.go):
//
//  1. Write the log — old bytes read from the pool, new contents hashed
//     from the write set — flush it and drain: the log is durable before
//     anything is written in place.
//  2. Make the version word odd; write the new bytes in place; flush them
//     and drain; make the version even. The transaction is committed.
//
// There is no commit record: the data is its own. Recovery (Open) finds a
// log whose logsum holds, and hashes what its ranges hold now: newhash
// means every byte of the transaction reached the media (it committed, or
// was about to), anything else that it did not, and the old bytes are
// written back, made durable, and the log retired (seq = 0, durable).
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
	logSeqOff      = 0
	logCountOff    = 8
	logLengthOff   = 16
	logNewHashOff  = 24
	logSumOff      = 32
	logHeaderBytes = 40
	logEntriesOff  = logHeaderBytes

	entryHeaderSize = 16
	entryNew        = uint64(1) << 63
)

// logEntry is one range of a transaction's log.
type logEntry struct {
	off int64
	n   int64
	new bool   // in memory the transaction allocated: no old bytes
	old []byte // nil when new
}

func pad8(n int64) int64 { return (n + 7) &^ 7 }

// logSum is the checksum of a log's entries.
func logSum(seq uint64, count uint32, newHash uint64, body []byte) uint64 {
	return xxh3.HashSeed(body, seq^uint64(count)<<40^uint64(len(body))*0x9e3779b97f4a7c15^newHash*0xc2b2ae3d27d4eb4f)
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

// logHeader is the decoded header of the log.
type logHeader struct {
	seq     uint64
	count   uint32
	length  int64
	newHash uint64
	sum     uint64
}

func decodeLogHeader(b []byte) logHeader {
	return logHeader{
		seq:     binary.LittleEndian.Uint64(b[logSeqOff:]),
		count:   uint32(binary.LittleEndian.Uint64(b[logCountOff:])),
		length:  int64(binary.LittleEndian.Uint64(b[logLengthOff:])),
		newHash: binary.LittleEndian.Uint64(b[logNewHashOff:]),
		sum:     binary.LittleEndian.Uint64(b[logSumOff:]),
	}
}

// encodeLogHeader writes the header of a log whose entries are body.
func encodeLogHeader(b []byte, seq uint64, count uint32, newHash uint64, body []byte) {
	binary.LittleEndian.PutUint64(b[logSeqOff:], seq)
	binary.LittleEndian.PutUint64(b[logCountOff:], uint64(count))
	binary.LittleEndian.PutUint64(b[logLengthOff:], uint64(len(body)))
	binary.LittleEndian.PutUint64(b[logNewHashOff:], newHash)
	binary.LittleEndian.PutUint64(b[logSumOff:], logSum(seq, count, newHash, body))
}

// parseLog decodes the entries of a log whose header h checks against
// body. It returns no entries, and no error, for a log that is retired or
// torn (its header or logsum does not hold): nothing of such a transaction
// is in place. A log that checks but names ranges outside [lo, hi) or
// overlapping the log itself is corrupt.
func parseLog(h logHeader, readBody func(n int64) ([]byte, error), logSize, lo, hi, logLo, logHi int64) ([]logEntry, error) {
	if h.seq == 0 || h.length < 0 || h.length > logSize-logEntriesOff || h.length%8 != 0 ||
		int64(h.count) > h.length/entryHeaderSize {
		return nil, nil
	}
	body, err := readBody(h.length)
	if err != nil {
		return nil, err
	}
	if logSum(h.seq, h.count, h.newHash, body) != h.sum {
		return nil, nil
	}
	entries := make([]logEntry, 0, h.count)
	for p := int64(0); p < int64(len(body)); {
		if p+entryHeaderSize > int64(len(body)) {
			return nil, fmt.Errorf("%w: log entry header at %d past the log's %d bytes", ErrCorrupt, p, len(body))
		}
		o := binary.LittleEndian.Uint64(body[p:])
		n := int64(binary.LittleEndian.Uint64(body[p+8:]))
		e := logEntry{off: int64(o &^ entryNew), n: n, new: o&entryNew != 0}
		p += entryHeaderSize
		if n <= 0 || e.off < lo || e.off > hi || n > hi-e.off || (e.off < logHi && e.off+n > logLo) {
			return nil, fmt.Errorf("%w: log entry [%d,%d) outside the pool's data [%d,%d)", ErrCorrupt, e.off, e.off+n, lo, hi)
		}
		if !e.new {
			if pad8(n) > int64(len(body))-p {
				return nil, fmt.Errorf("%w: log entry of %d bytes past the log's end", ErrCorrupt, n)
			}
			e.old = body[p : p+n]
			p += pad8(n)
		}
		entries = append(entries, e)
	}
	if len(entries) != int(h.count) {
		return nil, fmt.Errorf("%w: log has %d entries, its header says %d", ErrCorrupt, len(entries), h.count)
	}
	return entries, nil
}
