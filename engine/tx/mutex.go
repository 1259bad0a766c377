package tx

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// Mutex is a persistent mutual-exclusion lock: a field of a persistent
// object that goroutines of the writer take and release in transactions,
// and may hold across transactions (to own a record while they work on it
// outside any transaction, say). Its state is one word holding the epoch
// of the pool's open in which it was taken: after a crash or a restart the
// pool's epoch is new, so every lock taken before reads as free — a
// persistent lock is never left locked by a process that died (Corundum's
// Mutex, whose VCell resets at restart). Taking and releasing are logged
// with the transaction: an aborted transaction takes or releases nothing.
//
// Use it through a Ptr to it (Field selects it in its object) with
// TryLock, Unlock and Lock. The zero value is unlocked.
//
// The lock's word is a field of its object and, like the object's other
// values, has no checksum: damaged, it may read as held or as free. Any
// damage is undone by the next restart, which frees the lock, unless it
// made the word's epoch one of an open still to come.
type Mutex struct {
	state uint64
}

// RWMutex is a persistent reader/writer lock: TryLock and Unlock for a
// writer, TryRLock and RUnlock for any number of readers. Like Mutex, it
// is free after a restart.
type RWMutex struct {
	state uint64
}

// Locker is the persistent locks.
type Locker interface{ Mutex | RWMutex }

// The lock word: the epoch in the high 32 bits, then a writer bit and a
// count of readers. A word of another epoch is free.
const (
	lockWriter  = 1 << 31
	lockReaders = lockWriter - 1
)

func (t *txn) lockState(v uint64) (uint64, error) {
	var b [8]byte
	if err := t.load(v, b[:]); err != nil {
		return 0, err
	}
	w := binary.NativeEndian.Uint64(b[:])
	epoch := t.p.epoch
	if t.p.readOnly {
		var err error
		if epoch, err = t.writerEpoch(); err != nil || epoch == 0 {
			return 0, err
		}
	}
	if uint32(w>>32) != epoch {
		return 0, nil // taken before this open: free
	}
	return w & (1<<32 - 1), nil
}

// writerEpoch is, for a View of a read-only pool, the epoch of the
// writer's open, read from the live line: 0 if no writer has the pool
// open (its last one closed it: every lock is free). A writer that died
// leaves the pool unclean, and its locks read as held until the next
// writer's open frees them.
func (t *txn) writerEpoch() (uint32, error) {
	var b [16]byte
	if err := t.readCommitted(b[:], uncleanOff); err != nil {
		return 0, err
	}
	if binary.NativeEndian.Uint64(b[:]) == 0 {
		return 0, nil
	}
	e, err := decodeEpoch(binary.NativeEndian.Uint64(b[epochOff-uncleanOff:]))
	if err != nil {
		return 0, fmt.Errorf("%s: live line: %w", t.p.name, err)
	}
	return e, nil
}

func (t *txn) setLockState(v, s uint64) error {
	var b [8]byte
	if s != 0 {
		s |= uint64(t.p.epoch) << 32
	}
	binary.NativeEndian.PutUint64(b[:], s)
	return t.store(v, b[:])
}

// TryLock takes m for writing in the transaction if nobody holds it, and
// reports whether it did.
func TryLock[Tag any, M Locker](tx *Tx[Tag], m Ptr[Tag, M]) (bool, error) {
	t, err := tx.writable()
	if err != nil {
		return false, err
	}
	defer t.mu.Unlock()
	s, err := t.lockState(m.v)
	if err != nil || s != 0 {
		return false, err
	}
	return true, t.setLockState(m.v, lockWriter)
}

// Unlock releases m, held for writing.
func Unlock[Tag any, M Locker](tx *Tx[Tag], m Ptr[Tag, M]) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	s, err := t.lockState(m.v)
	if err != nil {
		return err
	}
	if s != lockWriter {
		return fmt.Errorf("%w: Unlock of a lock not held for writing", ErrNotLocked)
	}
	t.wake = true
	return t.setLockState(m.v, 0)
}

// TryRLock takes m for reading in the transaction unless a writer holds
// it, and reports whether it did.
func TryRLock[Tag any](tx *Tx[Tag], m Ptr[Tag, RWMutex]) (bool, error) {
	t, err := tx.writable()
	if err != nil {
		return false, err
	}
	defer t.mu.Unlock()
	s, err := t.lockState(m.v)
	if err != nil || s&lockWriter != 0 || s&lockReaders == lockReaders {
		return false, err
	}
	return true, t.setLockState(m.v, s+1)
}

// RUnlock releases one hold of m for reading.
func RUnlock[Tag any](tx *Tx[Tag], m Ptr[Tag, RWMutex]) error {
	t, err := tx.writable()
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	s, err := t.lockState(m.v)
	if err != nil {
		return err
	}
	if s&lockWriter != 0 || s&lockReaders == 0 {
		return fmt.Errorf("%w: RUnlock of a lock not held for reading", ErrNotLocked)
	}
	if s == 1 {
		t.wake = true
	}
	return t.setLockState(m.v, s-1)
}

// IsLocked reports whether m is held for writing (or, for an RWMutex, for
// reading) in this epoch: a View may look. In a pool opened ReadOnly the
// epoch is that of the writer that has the pool open, in any process; if
// none has, no lock is held — but a writer that died holding a lock
// leaves it held, for readers, until the next writer opens the pool.
func IsLocked[Tag any, M Locker](tx *Tx[Tag], m Ptr[Tag, M]) (bool, error) {
	t, err := tx.enter()
	if err != nil {
		return false, err
	}
	defer t.mu.Unlock()
	s, err := t.lockState(m.v)
	return s != 0, err
}

// Lock takes m for writing, in a transaction of its own that commits at
// once, waiting while another holder has it, until ctx is done. It must
// not be called inside an Update, which it would wait for: there, use
// TryLock, which takes the lock as part of the transaction.
func Lock[Tag, Root any, M Locker](ctx context.Context, p *Pool[Tag, Root], m Ptr[Tag, M]) error {
	return waitLock(ctx, p, func(tx *Tx[Tag]) (bool, error) { return TryLock(tx, m) })
}

// RLock takes m for reading as Lock takes it for writing.
func RLock[Tag, Root any](ctx context.Context, p *Pool[Tag, Root], m Ptr[Tag, RWMutex]) error {
	return waitLock(ctx, p, func(tx *Tx[Tag]) (bool, error) { return TryRLock(tx, m) })
}

func waitLock[Tag, Root any](ctx context.Context, p *Pool[Tag, Root], try func(*Tx[Tag]) (bool, error)) error {
	for {
		wake := p.c.lockWait()
		var ok bool
		err := p.Update(func(tx *Tx[Tag]) (err error) {
			ok, err = try(tx)
			return err
		})
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-time.After(10 * time.Millisecond):
		}
	}
}
