package tx

import (
	"encoding/binary"

	"github.com/zeebo/xxh3"
)

// The undo log of pools of formats 1 and 2, written by the releases before
// format 3 and by this one in the pools they made, until a layout upgrade
// converts them (layout.go): a header, then the entries, with no marks.
//
//	0        8        16       24        32       40
//	+--------+--------+--------+---------+--------+---------------------------------------+
//	| seq    | count  | length | newhash | logsum | entries (length bytes) ...            |
//	+--------+--------+--------+---------+--------+---------------------------------------+
//	entry:  | off (bit 63: new) | n | old bytes (n, padded to 8) |
//
// seq, count, length, newhash and the entries are those of format 3 (log.go);
// seq 0 is a retired log. logsum is the XXH3 of the entries, seeded with
// seq, count, length and newhash. The protocol is format 3's without the
// marks, and recovery ignores a log whose header or logsum does not hold.
// Such a log is torn, if a crash interrupted step 1 of the protocol — or
// damaged, if it was whole before: then the transaction may be half in
// place, and nothing here can tell. That is the limit of this format, and
// why format 3 has marks.
const (
	legacySeqOff     = 0
	legacyEntriesOff = 40
)

// legacyLogSum is the checksum of a log's entries.
func legacyLogSum(seq uint64, count uint32, newHash uint64, body []byte) uint64 {
	return xxh3.HashSeed(body, seq^uint64(count)<<40^uint64(len(body))*0x9e3779b97f4a7c15^newHash*0xc2b2ae3d27d4eb4f)
}

// encodeLegacyLog returns the bytes of the log of seq with the entries
// body, in buf.
func encodeLegacyLog(buf []byte, seq uint64, count int, newHash uint64, body []byte) []byte {
	buf = append(buf[:0], make([]byte, legacyEntriesOff)...)
	binary.LittleEndian.PutUint64(buf[0:], seq)
	binary.LittleEndian.PutUint64(buf[8:], uint64(count))
	binary.LittleEndian.PutUint64(buf[16:], uint64(len(body)))
	binary.LittleEndian.PutUint64(buf[24:], newHash)
	binary.LittleEndian.PutUint64(buf[32:], legacyLogSum(seq, uint32(count), newHash, body))
	return append(buf, body...)
}

// readLegacyLog reads and checks a log of format 1 or 2: no entries for a
// retired or torn one (its header or logsum does not hold). A log that
// checks and names ranges outside the pool's data or over the log itself
// is corrupt.
func (p *pool) readLegacyLog() (undoLog, error) {
	var h [legacyEntriesOff]byte
	if _, err := p.r.ReadAt(h[:], p.logOff); err != nil {
		return undoLog{}, err
	}
	l := undoLog{seq: binary.LittleEndian.Uint64(h[0:]), newHash: binary.LittleEndian.Uint64(h[24:])}
	count := uint32(binary.LittleEndian.Uint64(h[8:]))
	length := int64(binary.LittleEndian.Uint64(h[16:]))
	if l.seq == 0 || length < 0 || length > p.hdr.LogSize-legacyEntriesOff || length%8 != 0 || int64(count) > length/entryHeaderSize {
		return undoLog{}, nil
	}
	body := make([]byte, length)
	if _, err := p.r.ReadAt(body, p.logOff+legacyEntriesOff); err != nil {
		return undoLog{}, err
	}
	if legacyLogSum(l.seq, count, l.newHash, body) != binary.LittleEndian.Uint64(h[32:]) {
		return undoLog{}, nil
	}
	var err error
	l.entries, err = p.parseEntries(body, int(count), true)
	return l, err
}
