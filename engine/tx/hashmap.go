package tx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"reflect"

	"github.com/zeebo/xxh3"
)

// Map is a persistent hash map from byte strings to byte strings: linear
// hashing over chained buckets, so that the table grows one bucket split
// per insert and no transaction ever rehashes the whole table.
//
// The Map value is a pointer to its header block, which it owns:
//
//	header (64 B): | count | level | split | dir | dirCap | seed | sum | 0 |
//	dir:           dirCap pointers to segments
//	segment:       512 buckets, each the pointer to its first entry (one page)
//	entry:         | next (pointer) | hash (u64) | klen (u32) | vlen (u32) | sum | key | value |
//
// There are 2^level + split buckets; a key with hash h is in bucket
// h mod 2^level, or h mod 2^(level+1) if that is below split. When an
// insert makes the entries outnumber the buckets, bucket split is split
// into itself and bucket split + 2^level. Hashes are XXH3 with a random
// per-map seed. Entries are not kept in any order; Range visits them
// bucket by bucket.
//
// Words are little-endian. In a pool of format 4 or 5 the header's sum is
// the XXH3 of its first 48 bytes and an entry's sum that of its hash, klen
// and vlen: every operation checks the sums of what it reads (ErrCorrupt).
// Pools of older formats have no sums — the header's last 16 bytes are 0,
// an entry's header is 24 bytes — and there a damaged header or entry is
// found by Check, which verifies that every entry is in the bucket of its
// hash, that its hash is its key's, that the chains hold count entries,
// and that every block is the map's once; Range verifies the first two for
// the entries it returns, and the count when it returns them all.
type Map[Tag any] struct {
	v uint64
}

func (Map[Tag]) persistentRef() (refKind, reflect.Type, reflect.Type) {
	return refMap, nil, reflect.TypeFor[Tag]()
}

const (
	mapHeaderSize   = 64
	segmentBuckets  = 512
	segmentBytes    = segmentBuckets * 8
	initialLevel    = 9 // one segment
	initialDirCap   = 8
	entryHeaderSz   = 24 // without a sum; mapOp.ehs is the pool's
	entrySumOff     = 24
	maxKeyOrValue   = 1 << 30
	mapCountOff     = 0
	mapLevelOff     = 8
	mapSplitOff     = 16
	mapDirOff       = 24
	mapDirCapOff    = 32
	mapSeedOff      = 40
	mapSumOff       = 48
	entryNextOff    = 0
	entryHashOff    = 8
	entryKlenOff    = 16
	entryVlenOff    = 20
	maxMapBuckets   = 1 << 40
	mapLoadFraction = 1 // entries per bucket before a split
)

type mapHeader struct {
	count, level, split, dir, dirCap, seed uint64
}

// NewMap allocates an empty map.
func NewMap[Tag any](tx *Tx[Tag]) (Map[Tag], error) {
	t, err := tx.writable()
	if err != nil {
		return Map[Tag]{}, err
	}
	defer t.mu.Unlock()
	hdr, _, err := t.alloc(mapHeaderSize)
	if err != nil {
		return Map[Tag]{}, err
	}
	dir, _, err := t.alloc(initialDirCap * 8)
	if err != nil {
		return Map[Tag]{}, err
	}
	seg, _, err := t.alloc(segmentBytes)
	if err != nil {
		return Map[Tag]{}, err
	}
	t.stage(make([]byte, segmentBytes), seg, true)
	d := make([]byte, initialDirCap*8)
	binary.LittleEndian.PutUint64(d, t.p.ptr(seg))
	t.stage(d, dir, true)
	var seed [8]byte
	if _, err := io.ReadFull(t.p.opts.random(), seed[:]); err != nil {
		return Map[Tag]{}, fmt.Errorf("tx: the map's seed: %w", err)
	}
	h := mapHeader{level: initialLevel, dir: t.p.ptr(dir), dirCap: initialDirCap, seed: binary.LittleEndian.Uint64(seed[:])}
	t.stage(h.encode(t.p.hdr.summed()), hdr, true)
	return Map[Tag]{v: t.p.ptr(hdr)}, nil
}

// encode returns the bytes of the header, with its sum if summed.
func (h *mapHeader) encode(summed bool) []byte {
	b := make([]byte, mapHeaderSize)
	for i, w := range []uint64{h.count, h.level, h.split, h.dir, h.dirCap, h.seed} {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	if summed {
		binary.LittleEndian.PutUint64(b[mapSumOff:], xxh3.Hash(b[:mapSumOff]))
	}
	return b
}

// IsNil reports whether the map is nil.
func (m Map[Tag]) IsNil() bool { return m.v == 0 }

// mapOp is one operation on a map in a transaction; callers hold t.mu.
type mapOp struct {
	t      *txn
	off    int64 // the header
	h      mapHeader
	summed bool  // the header and entries have sums (formats 4 and 5)
	ehs    int64 // the size of an entry's header
	w      [8]byte
}

func (t *txn) openMap(v uint64) (*mapOp, error) {
	off, err := t.p.offset(v)
	if err != nil {
		return nil, err
	}
	if err := t.check(off, mapHeaderSize); err != nil {
		return nil, err
	}
	var b [mapHeaderSize]byte
	if err := t.readAt(b[:], off); err != nil {
		return nil, err
	}
	m := &mapOp{t: t, off: off, summed: t.p.hdr.summed(), ehs: entryHeaderSz}
	if m.summed {
		m.ehs += 8
		if sum := binary.LittleEndian.Uint64(b[mapSumOff:]); sum != xxh3.Hash(b[:mapSumOff]) || !allZero(b[mapSumOff+8:]) {
			return nil, fmt.Errorf("%w: map at %d: header checksum", ErrCorrupt, off)
		}
	} else if !allZero(b[mapSumOff:]) {
		return nil, fmt.Errorf("%w: map at %d: the header's reserved bytes are not 0", ErrCorrupt, off)
	}
	for i, w := range []*uint64{&m.h.count, &m.h.level, &m.h.split, &m.h.dir, &m.h.dirCap, &m.h.seed} {
		*w = binary.LittleEndian.Uint64(b[8*i:])
	}
	if m.h.level < initialLevel || m.h.level > 40 || m.h.split >= 1<<m.h.level || m.h.dirCap == 0 ||
		m.h.dirCap*segmentBuckets < m.buckets() || m.h.dirCap > maxMapBuckets/segmentBuckets {
		return nil, fmt.Errorf("%w: map at %d: header %+v", ErrCorrupt, off, m.h)
	}
	return m, nil
}

func (m *mapOp) buckets() uint64 { return 1<<m.h.level + m.h.split }

// allZero reports whether b holds only zeros.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (m *mapOp) bucketOf(hash uint64) uint64 {
	b := hash & (1<<m.h.level - 1)
	if b < m.h.split {
		b = hash & (1<<(m.h.level+1) - 1)
	}
	return b
}

// word reads the pointer-sized word at off.
func (m *mapOp) word(off int64) (uint64, error) {
	if err := m.t.check(off, 8); err != nil {
		return 0, err
	}
	if err := m.t.readAt(m.w[:], off); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(m.w[:]), nil
}

func (m *mapOp) setWord(off int64, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	m.t.stage(b[:], off, m.t.isFresh(off, 8))
}

// slot returns the offset of bucket b's head pointer, allocating its
// segment (zeroed) if create and it has none.
func (m *mapOp) slot(b uint64, create bool) (int64, error) {
	seg := b / segmentBuckets
	dir, err := m.t.p.offset(m.h.dir)
	if err != nil {
		return 0, err
	}
	sv, err := m.word(dir + int64(seg)*8)
	if err != nil {
		return 0, err
	}
	if sv == 0 {
		if !create {
			return 0, fmt.Errorf("%w: map at %d: bucket %d has no segment", ErrCorrupt, m.off, b)
		}
		so, _, err := m.t.alloc(segmentBytes)
		if err != nil {
			return 0, err
		}
		m.t.stage(make([]byte, segmentBytes), so, true)
		sv = m.t.p.ptr(so)
		m.setWord(dir+int64(seg)*8, sv)
	}
	so, err := m.t.p.offset(sv)
	if err != nil {
		return 0, err
	}
	return so + int64(b%segmentBuckets)*8, nil
}

// entry is an entry's header.
type entry struct {
	off        int64
	next, hash uint64
	klen, vlen int64
}

func (m *mapOp) readEntry(v uint64) (entry, error) {
	off, err := m.t.p.offset(v)
	if err != nil {
		return entry{}, err
	}
	if err := m.t.check(off, m.ehs); err != nil {
		return entry{}, err
	}
	var buf [entryHeaderSz + 8]byte
	b := buf[:m.ehs]
	if err := m.t.readAt(b, off); err != nil {
		return entry{}, err
	}
	if m.summed && binary.LittleEndian.Uint64(b[entrySumOff:]) != xxh3.Hash(b[entryHashOff:entrySumOff]) {
		return entry{}, fmt.Errorf("%w: map entry at %d: checksum", ErrCorrupt, off)
	}
	e := entry{off: off, next: binary.LittleEndian.Uint64(b[0:]), hash: binary.LittleEndian.Uint64(b[8:]),
		klen: int64(binary.LittleEndian.Uint32(b[16:])), vlen: int64(binary.LittleEndian.Uint32(b[20:]))}
	if err := m.t.check(off, m.ehs+e.klen+e.vlen); err != nil {
		return entry{}, fmt.Errorf("%w: map entry at %d: %w", ErrCorrupt, off, err)
	}
	return e, nil
}

// entryHeader returns the size of an entry's header in the map.
func (m *mapOp) entryHeader() int64 { return m.ehs }

// putEntryHeader writes an entry's header to b[:m.ehs].
func (m *mapOp) putEntryHeader(b []byte, next, hash uint64, klen, vlen int) {
	binary.LittleEndian.PutUint64(b[0:], next)
	binary.LittleEndian.PutUint64(b[8:], hash)
	binary.LittleEndian.PutUint32(b[16:], uint32(klen))
	binary.LittleEndian.PutUint32(b[20:], uint32(vlen))
	if m.summed {
		binary.LittleEndian.PutUint64(b[entrySumOff:], xxh3.Hash(b[entryHashOff:entrySumOff]))
	}
}

// find looks k up: it returns the entry (off 0 if absent) and the offset
// of the link that points to it (or would point to a new one).
func (m *mapOp) find(k []byte, hash uint64, create bool) (entry, int64, error) {
	link, err := m.slot(m.bucketOf(hash), create)
	if err != nil {
		return entry{}, 0, err
	}
	v, err := m.word(link)
	if err != nil {
		return entry{}, 0, err
	}
	var key []byte
	for steps := uint64(0); v != 0; steps++ {
		if steps > m.h.count {
			return entry{}, 0, fmt.Errorf("%w: map at %d: a chain longer than the map (a cycle)", ErrCorrupt, m.off)
		}
		e, err := m.readEntry(v)
		if err != nil {
			return entry{}, 0, err
		}
		if e.hash == hash && e.klen == int64(len(k)) {
			if cap(key) < len(k) {
				key = make([]byte, len(k))
			}
			key = key[:len(k)]
			if err := m.t.readAt(key, e.off+m.ehs); err != nil {
				return entry{}, 0, err
			}
			if bytes.Equal(key, k) {
				return e, link, nil
			}
		}
		link, v = e.off+entryNextOff, e.next
	}
	return entry{}, link, nil
}

func (m *mapOp) hash(k []byte) uint64 { return xxh3.HashSeed(k, m.h.seed) }

// newEntry allocates an entry for k and v.
func (m *mapOp) newEntry(k, v []byte, hash, next uint64) (uint64, error) {
	off, _, err := m.t.alloc(m.ehs + int64(len(k)) + int64(len(v)))
	if err != nil {
		return 0, err
	}
	b := make([]byte, m.ehs+int64(len(k))+int64(len(v)))
	m.putEntryHeader(b, next, hash, len(k), len(v))
	copy(b[m.ehs:], k)
	copy(b[m.ehs+int64(len(k)):], v)
	m.t.stage(b, off, true)
	return m.t.p.ptr(off), nil
}

func (m *mapOp) writeHeader() {
	n := int64(mapSumOff)
	if m.summed {
		n += 8
	}
	m.t.stage(m.h.encode(m.summed)[:n], m.off, m.t.isFresh(m.off, n))
}

// Put sets k to v.
func (m Map[Tag]) Put(tx *Tx[Tag], k, v []byte) error {
	if len(k) > maxKeyOrValue || len(v) > maxKeyOrValue {
		return fmt.Errorf("tx.Map.Put: key of %d or value of %d bytes is too long", len(k), len(v))
	}
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	op, err := t.openMap(m.v)
	if err != nil {
		return err
	}
	hash := op.hash(k)
	e, link, err := op.find(k, hash, true)
	if err != nil {
		return err
	}
	if e.off != 0 {
		_, size, err := t.p.heap.Block(e.off)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrPointer, err)
		}
		if need := op.ehs + e.klen + int64(len(v)); need <= size {
			// The new value fits the entry's block: change it in place.
			var h [entryHeaderSz + 8]byte
			op.putEntryHeader(h[:], e.next, e.hash, int(e.klen), len(v))
			t.stage(h[entryVlenOff:op.ehs], e.off+entryVlenOff, t.isFresh(e.off, need))
			t.stage(v, e.off+op.ehs+e.klen, t.isFresh(e.off, need))
			return nil
		}
		nv, err := op.newEntry(k, v, hash, e.next)
		if err != nil {
			return err
		}
		op.setWord(link, nv)
		return t.free(e.off)
	}
	head, err := op.word(link)
	if err != nil {
		return err
	}
	nv, err := op.newEntry(k, v, hash, head)
	if err != nil {
		return err
	}
	op.setWord(link, nv)
	op.h.count++
	if op.h.count > op.buckets()*mapLoadFraction && op.buckets() < maxMapBuckets {
		if err := op.splitBucket(); err != nil {
			return err
		}
	}
	op.writeHeader()
	return nil
}

// splitBucket splits bucket split into itself and split + 2^level.
func (m *mapOp) splitBucket() error {
	old, nb := m.h.split, m.h.split+1<<m.h.level
	if seg := nb / segmentBuckets; seg >= m.h.dirCap {
		if err := m.growDir(); err != nil {
			return err
		}
	}
	oldLink, err := m.slot(old, false)
	if err != nil {
		return err
	}
	newLink, err := m.slot(nb, true)
	if err != nil {
		return err
	}
	v, err := m.word(oldLink)
	if err != nil {
		return err
	}
	// Walk the chain and relink its entries into two chains, in order,
	// writing only the links that change.
	type link struct {
		off int64
		cur uint64 // what the link holds now
	}
	stay, move := link{oldLink, v}, link{newLink, 0}
	for steps := uint64(0); v != 0; steps++ {
		if steps > m.h.count {
			return fmt.Errorf("%w: map at %d: a chain longer than the map (a cycle)", ErrCorrupt, m.off)
		}
		e, err := m.readEntry(v)
		if err != nil {
			return err
		}
		to := &stay
		if e.hash>>m.h.level&1 != 0 {
			to = &move
		}
		if to.cur != v {
			m.setWord(to.off, v)
		}
		*to = link{e.off + entryNextOff, e.next}
		v = e.next
	}
	for _, l := range []link{stay, move} {
		if l.cur != 0 {
			m.setWord(l.off, 0)
		}
	}
	m.h.split++
	if m.h.split == 1<<m.h.level {
		m.h.level++
		m.h.split = 0
	}
	return nil
}

// growDir doubles the directory.
func (m *mapOp) growDir() error {
	t := m.t
	dir, err := t.p.offset(m.h.dir)
	if err != nil {
		return err
	}
	old := make([]byte, m.h.dirCap*8)
	if err := t.check(dir, int64(len(old))); err != nil {
		return err
	}
	if err := t.readAt(old, dir); err != nil {
		return err
	}
	ncap := m.h.dirCap * 2
	nd, _, err := t.alloc(int64(ncap) * 8)
	if err != nil {
		return err
	}
	b := make([]byte, ncap*8)
	copy(b, old)
	t.stage(b, nd, true)
	if err := t.free(dir); err != nil {
		return err
	}
	m.h.dir, m.h.dirCap = t.p.ptr(nd), ncap
	return nil
}

// Get returns a copy of k's value and whether k is in the map.
func (m Map[Tag]) Get(tx *Tx[Tag], k []byte) ([]byte, bool, error) {
	t, err := tx.enter()
	if err != nil {
		return nil, false, err
	}
	defer t.mu.Unlock()
	op, err := t.openMap(m.v)
	if err != nil {
		return nil, false, err
	}
	e, _, err := op.find(k, op.hash(k), false)
	if err != nil || e.off == 0 {
		return nil, false, err
	}
	v := make([]byte, e.vlen)
	return v, true, t.readAt(v, e.off+op.ehs+e.klen)
}

// Delete removes k and reports whether it was there. The table does not
// shrink.
func (m Map[Tag]) Delete(tx *Tx[Tag], k []byte) (bool, error) {
	t, err := tx.writable()
	if err != nil {
		return false, err
	}
	defer t.mu.Unlock()
	op, err := t.openMap(m.v)
	if err != nil {
		return false, err
	}
	e, link, err := op.find(k, op.hash(k), false)
	if err != nil || e.off == 0 {
		return false, err
	}
	op.setWord(link, e.next)
	op.h.count--
	op.writeHeader()
	return true, t.free(e.off)
}

// Len returns the number of keys.
func (m Map[Tag]) Len(tx *Tx[Tag]) (int, error) {
	t, err := tx.enter()
	if err != nil {
		return 0, err
	}
	defer t.mu.Unlock()
	op, err := t.openMap(m.v)
	if err != nil {
		return 0, err
	}
	return int(op.h.count), nil
}

// Range calls fn with a copy of every key and value, bucket by bucket,
// until fn returns false. fn must not change the map. An entry that is
// not in the bucket of its key, or a map whose chains do not hold as many
// entries as it counts, is ErrCorrupt.
func (m Map[Tag]) Range(tx *Tx[Tag], fn func(k, v []byte) bool) error {
	t, err := tx.enter()
	if err != nil {
		return err
	}
	op, err := t.openMap(m.v)
	if err != nil {
		t.mu.Unlock()
		return err
	}
	seen := uint64(0)
	var kv []byte
	for b := uint64(0); b < op.buckets(); b++ {
		link, err := op.slot(b, false)
		if err != nil {
			t.mu.Unlock()
			return err
		}
		v, err := op.word(link)
		for err == nil && v != 0 {
			var e entry
			if e, err = op.readEntry(v); err != nil {
				break
			}
			if seen++; seen > op.h.count {
				err = fmt.Errorf("%w: map at %d: more entries than its count %d", ErrCorrupt, op.off, op.h.count)
				break
			}
			kv = make([]byte, e.klen+e.vlen)
			if err = t.readAt(kv, e.off+op.ehs); err != nil {
				break
			}
			if err = op.checkEntry(e, kv[:e.klen], b); err != nil {
				break
			}
			t.mu.Unlock()
			more := fn(kv[:e.klen:e.klen], kv[e.klen:])
			if t.mu.Lock(); t.over {
				t.mu.Unlock()
				return t.errOver()
			}
			if !more {
				t.mu.Unlock()
				return nil
			}
			v = e.next
		}
		if err != nil {
			t.mu.Unlock()
			return err
		}
	}
	t.mu.Unlock()
	if seen != op.h.count {
		return fmt.Errorf("%w: map at %d: %d entries, its count %d", ErrCorrupt, op.off, seen, op.h.count)
	}
	return nil
}

// checkEntry reports whether entry e, whose key is key, found in bucket
// b, belongs there: its hash is its key's, and the bucket its hash's.
func (m *mapOp) checkEntry(e entry, key []byte, b uint64) error {
	if h := m.hash(key); h != e.hash || m.bucketOf(h) != b {
		return fmt.Errorf("%w: map at %d: the entry at %d in bucket %d has hash %#x, its key %#x, of bucket %d",
			ErrCorrupt, m.off, e.off, b, e.hash, h, m.bucketOf(h))
	}
	return nil
}

// Free frees the map and everything in it.
func (m Map[Tag]) Free(tx *Tx[Tag]) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	return t.dropOwned(refField{kind: refMap}, m.v)
}

// dropMap frees the entries, segments and directory of the map at off;
// dropOwned frees its header. Callers hold t.mu.
func (t *txn) dropMap(off int64) error {
	op, err := t.openMap(t.p.ptr(off))
	if err != nil {
		return err
	}
	return op.blocks(func(off, _ int64) error { return t.free(off) }, false)
}

// blocks calls f with the offset and size of every block of the map but
// its header: entries, then each segment, then the directory. The chains
// must hold count entries; with verify, each entry must be in the bucket
// of its key (checkEntry), which reads every key.
func (m *mapOp) blocks(f func(off, size int64) error, verify bool) error {
	dir, err := m.t.p.offset(m.h.dir)
	if err != nil {
		return err
	}
	var segs []int64
	seen := uint64(0)
	for b := uint64(0); b < m.buckets(); b++ {
		if b%segmentBuckets == 0 {
			sv, err := m.word(dir + int64(b/segmentBuckets)*8)
			if err != nil {
				return err
			}
			so, err := m.t.p.offset(sv)
			if err != nil {
				return fmt.Errorf("%w: map at %d: segment %d: %w", ErrCorrupt, m.off, b/segmentBuckets, err)
			}
			segs = append(segs, so)
		}
		v, err := m.word(segs[len(segs)-1] + int64(b%segmentBuckets)*8)
		if err != nil {
			return err
		}
		for v != 0 {
			if seen++; seen > m.h.count {
				return fmt.Errorf("%w: map at %d: more entries than its count %d", ErrCorrupt, m.off, m.h.count)
			}
			e, err := m.readEntry(v)
			if err != nil {
				return err
			}
			if verify {
				key := make([]byte, e.klen)
				if err := m.t.readAt(key, e.off+m.ehs); err != nil {
					return err
				}
				if err := m.checkEntry(e, key, b); err != nil {
					return err
				}
			}
			v = e.next
			if err := f(e.off, m.ehs+e.klen+e.vlen); err != nil {
				return err
			}
		}
	}
	if seen != m.h.count {
		return fmt.Errorf("%w: map at %d: %d entries, its count %d", ErrCorrupt, m.off, seen, m.h.count)
	}
	// Segments past the buckets in use (allocated by a split whose
	// directory grew) are the map's too.
	for s := uint64(len(segs)); s < m.h.dirCap; s++ {
		sv, err := m.word(dir + int64(s)*8)
		if err != nil {
			return err
		}
		if sv != 0 {
			so, err := m.t.p.offset(sv)
			if err != nil {
				return err
			}
			segs = append(segs, so)
		}
	}
	for _, s := range segs {
		if err := f(s, segmentBytes); err != nil {
			return err
		}
	}
	return f(dir, int64(m.h.dirCap)*8)
}
