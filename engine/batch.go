package engine

// A Batch is a sequence of stores and flushes to make to a Region in one
// call, Apply. Its effect is exactly that of its steps made one after
// another, in order, as the Region's own WriteAt, Store64 and Flush calls:
// the same bytes, the same failure atomicity (only a Store64 is failure-
// atomic, and an aligned 8-byte WriteAt, which no Medium tears), the
// same order of stores within a cache line, page or sector, and so the
// same crash states. What it saves is the cost of the calls: the OS
// backend takes the mapping's lock once for the batch, not once a step
// (two atomic operations each, most of a small store's cost); a Region
// that cannot do better gets the steps as separate calls.
//
// A Batch keeps the slices given to WriteAt until it is Reset: they must
// not change before Apply. The zero Batch is empty and ready to use; one
// Batch reused with Reset allocates nothing once it has grown.
type Batch struct {
	steps []batchStep
}

type batchKind uint8

const (
	batchWrite batchKind = iota + 1
	batchStore64
	batchFlush
)

type batchStep struct {
	kind batchKind
	off  int64
	v    uint64 // batchStore64: the value; batchFlush: the length
	p    []byte // batchWrite: the bytes
}

// add appends a step and returns it. The fields are set in place, not
// copied in from a struct built on the stack: that copy, loaded in wider
// pieces than it was stored, costs a store-forwarding stall per step.
func (b *Batch) add(kind batchKind, off int64) *batchStep {
	if len(b.steps) == cap(b.steps) {
		b.steps = append(b.steps, batchStep{})
	} else {
		b.steps = b.steps[:len(b.steps)+1]
	}
	s := &b.steps[len(b.steps)-1]
	s.kind, s.off = kind, off
	return s
}

// WriteAt adds a step that stores p at off, as Region.WriteAt.
func (b *Batch) WriteAt(p []byte, off int64) {
	b.add(batchWrite, off).p = p
}

// Store64 adds a step that atomically stores v in the aligned word at off,
// as Region.Store64.
func (b *Batch) Store64(off int64, v uint64) {
	b.add(batchStore64, off).v = v
}

// Flush adds a step that starts the write-back of [off, off+n), as
// Region.Flush.
func (b *Batch) Flush(off, n int64) {
	b.add(batchFlush, off).v = uint64(n)
}

// Len returns the number of steps.
func (b *Batch) Len() int { return len(b.steps) }

// Reset empties the batch, keeping its memory, and forgets the slices
// given to WriteAt.
func (b *Batch) Reset() {
	clear(b.steps)
	b.steps = b.steps[:0]
}

// Batcher is a Region that applies a Batch in one call faster than its
// steps as separate calls. ApplyBatch must have exactly their effect; at
// the first step that fails it returns that step's error, the steps before
// it made and none after.
type Batcher interface {
	ApplyBatch(b *Batch) error
}

// Apply makes the steps of b to r, in order: with r's ApplyBatch if r is a
// Batcher, else one call a step. At the first step that fails it returns
// that step's error, as the calls would, the steps before it made.
func Apply(r Region, b *Batch) error {
	if br, ok := r.(Batcher); ok {
		return br.ApplyBatch(b)
	}
	for i := range b.steps {
		s := &b.steps[i]
		var err error
		switch s.kind {
		case batchWrite:
			_, err = r.WriteAt(s.p, s.off)
		case batchStore64:
			err = r.Store64(s.off, s.v)
		case batchFlush:
			err = r.Flush(s.off, int64(s.v))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
