package tx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/internal/txbug"
)

// txn is a transaction of a pool: Update's (writable) or View's. An
// Update's writes go to a private write set — sorted, disjoint ranges with
// their new bytes — and reach the pool only when it commits; its reads
// see the pool with the write set applied. The mutex lets goroutines that
// fn starts share the transaction.
type txn struct {
	p        *pool
	writable bool
	mu       sync.Mutex
	over     bool   // fn returned: the transaction is closed to its Tx
	gen      uint64 // counts the transactions run on this txn; a Tx is valid for one
	doomed   error  // a nested transaction failed: this one must abort

	ents    []wsEntry // the write set, sorted by off, disjoint
	data    []byte    // their new bytes
	fresh   []logRange
	freed   []logRange // blocks freed
	borrows []logRange
	wake    bool // a persistent lock was released

	// A View in a process that is not the writer validates every read
	// against the version word: version is the even value it began with.
	validate   bool
	version    uint64
	conflicted bool // a read saw the version change: the View runs again

	scratch []byte
	old     []byte // the old bytes of the entries, in order, at commit
	logBody []byte // the log's entries, at commit
	logBuf  []byte // the log's bytes, at commit
}

// wsEntry is a range of the write set; new says it is in memory allocated
// by the transaction, with nothing to restore.
type wsEntry struct {
	off, n int64
	at     int // its bytes are data[at : at+n]
	new    bool
}

// errConflict is what every read of a View returns once one of its reads
// saw a writer of another process at work: the torn bytes are never
// handed out, and View runs the function again, whatever it returned.
var errConflict = errors.New("tx: a writer of another process changed the pool during the View")

// begin readies the writer's transaction for a new Update.
func (t *txn) begin() {
	t.over = false
	t.doomed = nil
	t.ents = t.ents[:0]
	if cap(t.data) > 1<<20 {
		t.data = nil
	}
	t.data = t.data[:0]
	t.fresh = t.fresh[:0]
	t.freed = t.freed[:0]
	t.borrows = t.borrows[:0]
	t.wake = false
}

// errOver is returned by a Tx used after its function returned.
func (t *txn) errOver() error {
	return fmt.Errorf("%w: transaction of %s is over", ErrClosed, t.p.name)
}

// find returns the index of the first entry that ends after off.
func (t *txn) find(off int64) int {
	lo, hi := 0, len(t.ents)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e := &t.ents[m]; e.off+e.n <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// buf returns a scratch buffer of n bytes.
func (t *txn) buf(n int64) []byte {
	if int64(cap(t.scratch)) < n {
		t.scratch = make([]byte, n)
	}
	return t.scratch[:n]
}

// readAt reads len(dst) bytes at off as the transaction sees them. Callers
// hold t.mu and have checked the range.
func (t *txn) readAt(dst []byte, off int64) error {
	n := int64(len(dst))
	if !t.writable {
		return t.readCommitted(dst, off)
	}
	i := t.find(off)
	if i == len(t.ents) || t.ents[i].off >= off+n {
		return t.readCommitted(dst, off)
	}
	if e := &t.ents[i]; e.off <= off && e.off+e.n >= off+n {
		copy(dst, t.data[e.at+int(off-e.off):])
		return nil
	}
	if err := t.readCommitted(dst, off); err != nil {
		return err
	}
	for ; i < len(t.ents) && t.ents[i].off < off+n; i++ {
		e := &t.ents[i]
		lo, hi := max(e.off, off), min(e.off+e.n, off+n)
		copy(dst[lo-off:hi-off], t.data[e.at+int(lo-e.off):])
	}
	return nil
}

// readCommitted reads committed bytes. A View outside the writer's process
// checks the version word after copying: a change means a writer was at
// work, and the View starts over.
func (t *txn) readCommitted(dst []byte, off int64) error {
	p := t.p
	if t.conflicted {
		return errConflict
	}
	if p.readOnly {
		if err := t.inFile(off, int64(len(dst))); err != nil {
			return err
		}
	}
	b := t.buf(int64(len(dst)))
	if _, err := p.r.ReadAt(b, off); err != nil {
		return err
	}
	if t.validate {
		v, err := p.r.Load64(versionOff)
		if err != nil {
			return err
		}
		if v != t.version {
			t.conflicted = true
			return errConflict
		}
	}
	copy(dst, b)
	return nil
}

// inFile checks that [off, off+n) is in the file of a read-only pool,
// whose writer, in another process, may have grown it since it was
// mapped: if the range is past the mapping, the file is mapped again at
// its size. A range still past its end is in no committed state — the
// file never shrinks, and a writer grows it before anything it commits
// points into the new part — so it was read from damaged bytes
// (ErrPointer), unless a writer was at work while the View read them
// (errConflict: the View runs again).
func (t *txn) inFile(off, n int64) error {
	p := t.p
	if off+n <= p.length.Load() {
		return nil
	}
	if err := p.remap(); err != nil {
		return err
	}
	if off+n <= p.length.Load() {
		return nil
	}
	if t.validate {
		v, err := p.r.Load64(versionOff)
		if err != nil {
			return err
		}
		if v != t.version {
			t.conflicted = true
			return errConflict
		}
	}
	return fmt.Errorf("%w: [%d,%d) is past the end of %s, %d bytes", ErrPointer, off, off+n, p.name, p.length.Load())
}

// isFresh reports whether [off, off+n) is in a block this transaction
// allocated.
func (t *txn) isFresh(off, n int64) bool {
	i := sort.Search(len(t.fresh), func(i int) bool { return t.fresh[i].off+t.fresh[i].n > off })
	return i < len(t.fresh) && t.fresh[i].off <= off && t.fresh[i].off+t.fresh[i].n >= off+n
}

func (t *txn) addFresh(off, n int64) {
	i := sort.Search(len(t.fresh), func(i int) bool { return t.fresh[i].off > off })
	t.fresh = append(t.fresh, logRange{})
	copy(t.fresh[i+1:], t.fresh[i:])
	t.fresh[i] = logRange{off, n}
}

// freshIndex returns the index of the block at off among the blocks the
// transaction allocated, or -1.
func (t *txn) freshIndex(off int64) int {
	i := sort.Search(len(t.fresh), func(i int) bool { return t.fresh[i].off >= off })
	if i < len(t.fresh) && t.fresh[i].off == off {
		return i
	}
	return -1
}

// dropWrites removes from the write set the entries inside [off, off+n).
func (t *txn) dropWrites(off, n int64) {
	i := t.find(off)
	j := i
	for j < len(t.ents) && t.ents[j].off >= off && t.ents[j].off+t.ents[j].n <= off+n {
		j++
	}
	t.ents = append(t.ents[:i], t.ents[j:]...)
}

// stage puts b at off into the write set. Callers hold t.mu.
func (t *txn) stage(b []byte, off int64, new bool) {
	n := int64(len(b))
	i := t.find(off)
	if i == len(t.ents) || t.ents[i].off >= off+n {
		at := len(t.data)
		t.data = append(t.data, b...)
		t.ents = append(t.ents, wsEntry{})
		copy(t.ents[i+1:], t.ents[i:])
		t.ents[i] = wsEntry{off: off, n: n, at: at, new: new}
		return
	}
	if e := &t.ents[i]; e.off <= off && e.off+e.n >= off+n {
		copy(t.data[e.at+int(off-e.off):], b)
		return
	}
	// b overlaps several entries, or sticks out of one: merge them into
	// one entry covering them all, over the committed bytes between.
	j := i
	lo, hi := min(off, t.ents[i].off), off+n
	allNew := new
	for ; j < len(t.ents) && t.ents[j].off < off+n; j++ {
		hi = max(hi, t.ents[j].off+t.ents[j].n)
		allNew = allNew && t.ents[j].new
	}
	merged := make([]byte, hi-lo)
	if !allNew {
		// The bytes between the entries are committed ones; read errors
		// cannot happen in ranges the callers checked.
		t.p.r.ReadAt(merged, lo)
	}
	for k := i; k < j; k++ {
		e := &t.ents[k]
		copy(merged[e.off-lo:], t.data[e.at:e.at+int(e.n)])
	}
	copy(merged[off-lo:], b)
	at := len(t.data)
	t.data = append(t.data, merged...)
	t.ents[i] = wsEntry{off: lo, n: hi - lo, at: at, new: allNew}
	t.ents = append(t.ents[:i+1], t.ents[j:]...)
}

// The transaction is the heap's Journal.

func (t *txn) ReadAt(b []byte, off int64) error {
	if err := t.p.checkRange(off, int64(len(b))); err != nil {
		return err
	}
	return t.readAt(b, off)
}

func (t *txn) WriteAt(b []byte, off int64) error {
	if err := t.p.checkRange(off, int64(len(b))); err != nil {
		return err
	}
	t.stage(b, off, t.isFresh(off, int64(len(b))))
	return nil
}

func (t *txn) InitAt(b []byte, off int64) error {
	if err := t.p.checkRange(off, int64(len(b))); err != nil {
		return err
	}
	t.stage(b, off, true)
	return nil
}

func (t *txn) Extend(length int64) error { return t.p.extend(length) }

// checkRange checks that [off, off+n) is in the pool's data: the heap
// header, the root line or the heap, never the pool header or the log.
func (p *pool) checkRange(off, n int64) error {
	if off < heapHeaderOff || n < 0 || off > p.length.Load()-n || (off < p.logEnd && off+n > p.logOff) {
		return fmt.Errorf("%w: [%d,%d) is outside the pool's data", ErrPointer, off, off+n)
	}
	return nil
}

// commit makes the write set durable and visible (see log.go for the
// protocol). Before it writes anything in place an error aborts cleanly;
// after, the log rolls the transaction back, and if even that fails the
// pool is broken.
func (t *txn) commit() error {
	p := t.p
	bug := p.opts.bug
	if p.hdr.rootSummed() {
		if err := t.sealRootLine(); err != nil {
			return err
		}
	}
	// Read the old bytes of every entry of committed memory, drop the
	// entries that change nothing and trim from the others the words that
	// do not change: what is left is what the log must hold.
	old := t.old[:0]
	kept := t.ents[:0]
	words := 0
	for _, e := range t.ents {
		if !e.new {
			at := len(old)
			old = append(old, make([]byte, e.n)...)
			if _, err := p.r.ReadAt(old[at:], e.off); err != nil {
				return err
			}
			lo, hi, same := changed(old[at:], t.data[e.at:e.at+int(e.n)], e.off)
			if same {
				old = old[:at]
				continue
			}
			if lo > 0 || hi < e.n {
				copy(old[at:], old[at+int(lo):at+int(hi)])
				old = old[:at+int(hi-lo)]
				e = wsEntry{off: e.off + lo, n: hi - lo, at: e.at + int(lo)}
			}
			words++
			if e.off/8 != (e.off+e.n-1)/8 {
				words++ // more than one word
			}
		}
		kept = append(kept, e)
	}
	t.ents, t.old = kept, old
	if len(t.ents) == 0 {
		return nil
	}
	if words <= 1 && bug == txbug.None {
		var in, inNew bool
		if p.hdr.redo() {
			in, inNew = t.wordInLive()
		}
		switch {
		case p.hdr.redo() && len(t.fresh) == 0 && t.keepsUnflushed():
			// The word may publish memory a one-word commit left to the
			// next drain: logged, with that memory (listUnflushed).
		case !in:
			return t.commitWord(-1)
		case p.wordLog[1-p.slot] && len(p.live[1-p.slot]) > 0:
			// The newest log is a word log: its data and the older's are
			// durable, and this commit retires the older (redo.go).
			return t.commitWord(p.slot)
		case words == 1 && !inNew:
			// Not in a log's new memory, which a word log's word, in
			// place before its drain, would change under the log that
			// the crash of that drain leaves newest (redo.go).
			return t.commitRedo(true)
		}
	}
	if p.hdr.redo() {
		return t.commitRedo(false)
	}
	// The log's entries.
	body := t.logBody[:0]
	at := 0
	for _, e := range t.ents {
		if e.new {
			body = appendEntry(body, e.off, e.n, nil)
			continue
		}
		body = appendEntry(body, e.off, e.n, old[at:at+int(e.n)])
		at += int(e.n)
	}
	t.logBody = body
	if int64(len(body)) > p.logCapacity() {
		return fmt.Errorf("%w: %d bytes of log for %d ranges, the log holds %d", ErrTxTooLarge, len(body), len(t.ents), p.logCapacity())
	}
	seq := p.nextSeq()
	h := seq
	for _, e := range t.ents {
		h = commitHash(h, e.off, t.data[e.at:e.at+int(e.n)])
	}
	p.lastLog = p.lastLog[:0] // the log no longer holds the last transaction
	buf, n, err := p.writeLog(seq, len(t.ents), h, body, t.logBuf)
	t.logBuf = buf
	if err != nil {
		return err
	}
	if p.medium != engine.SharedMemory {
		if err := t.flushUnflushed(); err != nil {
			return err
		}
		var err error
		if bug == txbug.WriteBeforeLog {
			err = p.r.Flush(p.logOff, n)
		} else {
			err = engine.Persist(p.r, p.logOff, n)
		}
		if err != nil {
			return err
		}
	}
	// In place, under the version word and out of this process's Views.
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	if err := t.apply(); err != nil {
		return p.rollBack(err)
	}
	for _, e := range t.ents {
		p.lastLog = append(p.lastLog, logRange{e.off, e.n})
	}
	p.unflushed = p.unflushed[:0]
	return nil
}

// sealRootLine stages the root line's new checksum (format 5, header.go)
// if the transaction changes the root pointer or the next identity, so
// that the line and its checksum commit together. The line in place is
// checked first: a line damaged since it was sealed is ErrCorrupt, never
// sealed again.
func (t *txn) sealRootLine() error {
	i := t.find(rootOff)
	if i == len(t.ents) || t.ents[i].off >= rootSumOff {
		return nil
	}
	var line [rootLineSize]byte
	if _, err := t.p.r.ReadAt(line[:], rootOff); err != nil {
		return err
	}
	if err := checkRootLine(line[:]); err != nil {
		return fmt.Errorf("%s: %w", t.p.name, err)
	}
	var b [rootSumOff - rootOff + 8]byte
	if err := t.readAt(b[:rootSumOff-rootOff], rootOff); err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b[rootSumOff-rootOff:], rootLineSum(b[:]))
	t.stage(b[rootSumOff-rootOff:], rootSumOff, false)
	return nil
}

// changed returns the part [lo, hi) of a range at off whose new bytes
// differ from its old ones, widened to whole aligned words, or same if none
// differs.
func changed(old, new []byte, off int64) (lo, hi int64, same bool) {
	n := int64(len(old))
	i := int64(0)
	for i < n && old[i] == new[i] {
		i++
	}
	if i == n {
		return 0, 0, true
	}
	j := n
	for old[j-1] == new[j-1] {
		j--
	}
	lo = max((off+i)&^7-off, 0)
	hi = min((off+j+7)&^7-off, n)
	return lo, hi, false
}

// flushUnflushed flushes the new memory of earlier one-word commits (see
// commitWord), but for the blocks this transaction frees: the next drain
// makes it durable, before anything this transaction writes in place can
// point to it.
func (t *txn) flushUnflushed() error {
	p := t.p
	for _, u := range p.unflushed {
		if t.frees(u.off) {
			continue
		}
		if err := p.r.Flush(u.off, u.n); err != nil {
			return err
		}
	}
	return nil
}

// keepsUnflushed reports whether new memory of one-word commits, which
// the next drain makes durable, is left that the transaction does not
// free.
func (t *txn) keepsUnflushed() bool {
	for _, u := range t.p.unflushed {
		if !t.frees(u.off) {
			return true
		}
	}
	return false
}

// listUnflushed readies a logged commit of format 6 (commitRedo) that
// keeps new memory of one-word commits not yet durable (commitWord): it
// adds that memory to the write set as new memory of this log, with its
// bytes as they are, so that the log's one drain makes it durable and
// recovery takes the log for committed only if it is (committedLog):
// nothing the log publishes is read before it is durable. With it go the
// allocator's words those commits changed, as they are (a replay writes
// them again, unchanged), so that while the log is one recovery would
// read, freeing that memory, and allocating it again with other bytes
// under the log, is no one-word commit (inLive). If the transaction
// writes into that memory itself, the memory is drained first instead:
// its bytes in place would no longer be the log's new memory.
func (t *txn) listUnflushed() error {
	p := t.p
	for _, u := range p.unflushed {
		if t.frees(u.off) {
			continue
		}
		for _, e := range t.ents {
			if e.off < u.off+u.n && u.off < e.off+e.n {
				return t.drainUnflushed()
			}
		}
	}
	for _, u := range p.unflushed {
		if t.frees(u.off) {
			continue
		}
		at := len(t.data)
		t.data = append(t.data, make([]byte, u.n)...)
		if _, err := p.r.ReadAt(t.data[at:], u.off); err != nil {
			return err
		}
		t.ents = append(t.ents, wsEntry{off: u.off, n: u.n, at: at, new: true})
	}
	for _, w := range p.unflushedWords {
		if t.covers(w) {
			continue
		}
		v, err := p.r.Load64(w)
		if err != nil {
			return err
		}
		at := len(t.data)
		t.data = binary.NativeEndian.AppendUint64(t.data, v)
		t.ents = append(t.ents, wsEntry{off: w, n: 8, at: at})
	}
	return nil
}

// covers reports whether an entry of the write set holds a byte of the
// aligned word at w.
func (t *txn) covers(w int64) bool {
	for _, e := range t.ents {
		if e.off < w+8 && w < e.off+e.n {
			return true
		}
	}
	return false
}

// drainUnflushed makes the new memory of one-word commits durable, but
// for the blocks the transaction frees, with a drain of its own.
func (t *txn) drainUnflushed() error {
	p := t.p
	if err := t.flushUnflushed(); err != nil {
		return err
	}
	if err := p.r.Drain(); err != nil {
		return p.drainFailed(err, -1)
	}
	p.unflushed, p.unflushedWords = p.unflushed[:0], p.unflushedWords[:0]
	return nil
}

// frees reports whether the transaction frees the block at off.
func (t *txn) frees(off int64) bool {
	for _, f := range t.freed {
		if f.off == off {
			return true
		}
	}
	return false
}

// apply writes the write set in place and makes it durable.
func (t *txn) apply() error {
	p := t.p
	bug := p.opts.bug
	if err := p.r.Store64(versionOff, p.version+1); err != nil {
		return err
	}
	for _, e := range t.ents {
		if _, err := p.r.WriteAt(t.data[e.at:e.at+int(e.n)], e.off); err != nil {
			return err
		}
	}
	if bug == txbug.RetireEarly {
		// The log retired, durably, before the data is flushed.
		if err := p.retireLog(); err != nil {
			return err
		}
	}
	if p.medium != engine.SharedMemory {
		if err := t.flushData(bug); err != nil {
			return err
		}
	}
	p.version += 2
	return p.r.Store64(versionOff, p.version)
}

// flushData flushes the write set's ranges and drains. On a page-cache
// mapping it flushes their hull in one range, so that Drain makes one
// msync call: msync of clean pages costs nothing.
func (t *txn) flushData(bug txbug.Bug) error {
	p := t.p
	skip := func(e *wsEntry) bool { return bug == txbug.PublishUnflushed && e.new }
	if p.medium == engine.MappedFile {
		lo, hi := int64(-1), int64(0)
		for i := range t.ents {
			if e := &t.ents[i]; !skip(e) {
				if lo < 0 || e.off < lo {
					lo = e.off
				}
				hi = max(hi, e.off+e.n)
			}
		}
		if lo < 0 {
			return nil
		}
		return engine.Persist(p.r, lo, hi-lo)
	}
	last := -1
	for i := range t.ents {
		if !skip(&t.ents[i]) {
			last = i
		}
	}
	for i := range t.ents {
		e := &t.ents[i]
		switch {
		case skip(e):
		case i == last:
			return engine.Persist(p.r, e.off, e.n)
		default:
			if err := p.r.Flush(e.off, e.n); err != nil {
				return err
			}
		}
	}
	return p.r.Drain()
}

// rollBack undoes a commit that failed after it began to write in place:
// it writes back the old bytes from the durable log and drains them, and
// retires the log. It does not ask, as recovery does, whether the new bytes
// are all in place: after a failed drain they may be in memory and not on
// the media. If the rollback fails too the pool is broken.
func (p *pool) rollBack(cause error) error {
	l, err := p.readLog()
	if err == nil && l.damaged {
		err = fmt.Errorf("%w: %s: the log just written reads back damaged", ErrCorrupt, p.name)
	}
	if err == nil && len(l.entries) > 0 {
		err = p.rollBackLog(l.entries)
	}
	if err == nil {
		err = p.r.Store64(versionOff, p.version)
	}
	p.lastLog = p.lastLog[:0]
	if err != nil {
		p.broken = fmt.Errorf("%w: commit failed (%w), then its rollback (%w)", ErrBroken, cause, err)
		return p.broken
	}
	return cause
}

// wordInLive reports whether the one word of committed memory the
// transaction changes, if any, is in the ranges of a redo log that
// recovery would replay over it (format 6): such a transaction is logged.
// inNew says the word is in such a log's new memory.
func (t *txn) wordInLive() (in, inNew bool) {
	for i := range t.ents {
		if e := &t.ents[i]; !e.new {
			return t.p.inLive(e.off &^ 7)
		}
	}
	return false, false
}

// commitWord commits a transaction that changes at most one word of
// committed memory: the word is stored atomically and made durable with
// one drain, and no log is written. The transaction makes no committed
// object point to memory it allocated — that would take a second word, the
// pointer, besides the allocator's — so its new memory is unreachable until
// a later transaction publishes it, and need not be durable before then:
// it is flushed by the next transaction's first drain (flushUnflushed),
// which comes before anything that transaction writes in place, or by
// Close. A crash before that leaves it allocated and unreachable, as the
// transaction did.
//
// The word must keep the contents the last log's newhash describes if it
// is in one of its ranges; such a log is retired, durably, first. In
// format 6 the word is in no log recovery would replay, or retire >= 0:
// the newest log is a word log, and the older one, in slot retire, is
// retired by a store of its mark 0 made durable by this commit's drain
// (redo.go).
func (t *txn) commitWord(retire int) error {
	p := t.p
	var word *wsEntry
	for i := range t.ents {
		if !t.ents[i].new {
			word = &t.ents[i]
		}
	}
	if word != nil && len(p.lastLog) > 0 {
		w := word.off &^ 7
		for _, r := range p.lastLog {
			if w < r.off+r.n && r.off < w+8 {
				if err := p.retireLog(); err != nil {
					return err
				}
				p.lastLog = p.lastLog[:0]
				break
			}
		}
	}
	// The new memory is left to the next drain (unflushed). In format 6
	// a commit that may publish it before that drain is logged instead,
	// with it (listUnflushed): a log made whole by a crash before its
	// drain is told from a committed one by its new memory (redo.go).
	// This commit's word, if it allocated, is the allocator's: it
	// publishes nothing, and its drain makes the earlier commits' new
	// memory durable.
	redo := p.hdr.redo()
	flush := newFlusher(p.medium)
	drain := flush.mode != flushNone && (word != nil || len(p.unflushed) > 0)
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	b := &p.batch
	b.Reset()
	b.Store64(versionOff, p.version+1)
	for _, e := range t.ents {
		if e.new {
			b.WriteAt(t.data[e.at:e.at+int(e.n)], e.off)
		}
	}
	for _, u := range p.unflushed {
		if !t.frees(u.off) {
			flush.add(b, u.off, u.n)
		}
	}
	if drain && flush.mode == flushHull {
		for _, u := range p.pending { // format 6: the last logged commit's data
			flush.add(b, u.off, u.n)
		}
	}
	if retire >= 0 {
		// Before the word: a process that dies between the two leaves
		// the word log alone, which recovery does not replay.
		off := p.slotOff(retire) + logMarkOff
		b.Store64(off, 0)
		flush.add(b, off, 8)
	}
	var w wordWrite
	if word != nil {
		var err error
		if w, err = t.word(); err != nil {
			return err
		}
		b.Store64(w.off, w.new)
		flush.add(b, w.off, 8)
	}
	flush.end(b)
	err := engine.Apply(p.r, b)
	if err == nil && drain {
		if err = p.r.Drain(); err != nil {
			// Aborted: the word as it was, and what the failed drain may
			// have dropped stored again (drainFailed).
			if word != nil {
				if serr := p.r.Store64(w.off, w.old); serr == nil {
					p.r.Flush(w.off, 8)
				}
			}
			err = p.drainFailed(err, -1)
		}
	}
	if err == nil {
		if drain {
			p.unflushed, p.pending = p.unflushed[:0], p.pending[:0]
			p.unflushedWords = p.unflushedWords[:0]
		}
		if retire >= 0 {
			// The older log retired, the word log alone: no log recovery
			// would replay.
			for s := range slotCount {
				p.live[s] = p.live[s][:0]
			}
		}
		fresh := false
		for _, e := range t.ents {
			if e.new && flush.mode != flushNone { // shared memory: nothing to make durable
				p.unflushed = append(p.unflushed, logRange{e.off, e.n})
				fresh = true
			}
		}
		if redo && fresh && word != nil {
			p.unflushedWords = append(p.unflushedWords, w.off)
		}
	}
	p.version += 2
	if serr := p.r.Store64(versionOff, p.version); err == nil {
		err = serr
	}
	return err
}

// wordWrite is the store of a one-word commit: the aligned word at off,
// its new value and its old one, as Store64 stores them.
type wordWrite struct {
	off      int64
	new, old uint64
}

// word returns the store of the one word of committed memory the write
// set changes. The word's other bytes are loaded as a word, not with
// ReadAt: a buffer passed to the Region's methods escapes, and would cost
// every one-word commit an allocation. Its old value is the old bytes
// commit read (t.old) in the loaded word.
func (t *txn) word() (wordWrite, error) {
	var word *wsEntry
	for i := range t.ents {
		if !t.ents[i].new {
			word = &t.ents[i]
		}
	}
	w := word.off &^ 7
	var nb, ob [8]byte
	if word.n < 8 {
		cur, err := t.p.r.Load64(w)
		if err != nil {
			return wordWrite{}, err
		}
		binary.NativeEndian.PutUint64(nb[:], cur)
		binary.NativeEndian.PutUint64(ob[:], cur)
	}
	copy(nb[word.off-w:], t.data[word.at:word.at+int(word.n)])
	copy(ob[word.off-w:], t.old[:word.n])
	return wordWrite{off: w, new: binary.NativeEndian.Uint64(nb[:]), old: binary.NativeEndian.Uint64(ob[:])}, nil
}

// errBorrowed reports whether [off, off+n) overlaps an object that a
// Modify is changing.
func (t *txn) errBorrowed(off, n int64) error {
	for _, b := range t.borrows {
		if off < b.off+b.n && b.off < off+n {
			return fmt.Errorf("%w: [%d,%d)", ErrBorrowed, off, off+n)
		}
	}
	return nil
}

var errTxDone = errors.New("tx: transaction already ended")
