package scenarios

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// WAL scenarios under injected media faults (docs/DESIGN.md F3). The workload
// must see a typed error (ErrBroken wrapping the errno), the log must
// refuse to go on, and recovery must still hold every acknowledged entry.
// The segment writes and syncs are counted from the creation of the first
// two segments (one header write and one sync each), so index 4 is the
// third entry's.
const walFaultIndex = 4

func init() {
	register(
		func() *sim.Scenario {
			return walScenario("wal-fsync-eio", "an fsync of the WAL fails with EIO (Linux drops the pages): the log breaks; a new instance Resumes, rewrites what it cannot trust, and appends",
				func(env *sim.Env, fsys engine.FS) error {
					return walFault(env, fsys, faultfs.SyncFailure, faultfs.OpSync, syscall.EIO, true)
				}, nil)
		},
		func() *sim.Scenario {
			return walScenario("wal-enospc", "a write of the WAL fails with ENOSPC: the append's FlushAndSync reports it and the log refuses further appends",
				func(env *sim.Env, fsys engine.FS) error {
					return walFault(env, fsys, faultfs.Error(syscall.ENOSPC), faultfs.OpWrite, syscall.ENOSPC, false)
				}, nil)
		},
		func() *sim.Scenario {
			return walScenario("wal-short-write", "a write of the WAL stores only half its bytes: the log breaks, and recovery cuts the torn frame",
				func(env *sim.Env, fsys engine.FS) error {
					return walFault(env, fsys, faultfs.ShortWrite, faultfs.OpWrite, syscall.ENOSPC, false)
				}, nil)
		},
		func() *sim.Scenario {
			return walScenario("wal-bug-fsync-retry", "BUG: retries an fsync that failed with EIO, which then reports success though Linux dropped the pages: acknowledged entries are lost",
				func(env *sim.Env, fsys engine.FS) error {
					return walFault(env, &bugFS{FS: fsys, retrySync: true}, faultfs.SyncFailure, faultfs.OpSync, syscall.EIO, true)
				}, nil)
		},
	)
}

// walFault appends entries, made durable, with fault injected into
// the segment operation of kind op at walFaultIndex: one entry, one more,
// then a batch of three that spans two blocks (so that an fsync failure
// drops a block no later append touches again), then one. The failing append
// must report errno wrapped in ErrBroken, and the log must refuse the next
// one. With resume, a new instance then Resumes the log and appends more:
// an fsync failure leaves the entry in the page cache, where Resume finds
// it and makes it durable. A write failure may not, so the workload stops
// there (the model cannot say that an invoked append did not happen).
func walFault(env *sim.Env, fsys engine.FS, fault faultfs.Fault, op faultfs.OpKind, errno syscall.Errno, resume bool) error {
	env.Inject(faultfs.Rule{
		When:  faultfs.And(faultfs.PathGlob(walDir+"/*.wal"), faultfs.OpKinds(op), faultfs.OnIndex(walFaultIndex)),
		Fault: fault,
	})
	w, err := wal.New(fsys, walDir, wal.Bytes, walOptions())
	if err != nil {
		return err
	}
	broke := false
	for _, n := range []int{1, 1, 3, 1} {
		batch := make([][]byte, n)
		for i := range batch {
			batch[i] = walRecord(env, walEntry)
			env.Invoke(models.LogAppend{Record: batch[i]})
		}
		_, err := w.AppendBatch(batch)
		if err == nil {
			err = w.FlushAndSync()
		}
		if err != nil {
			if !errors.Is(err, wal.ErrBroken) || !errors.Is(err, errno) {
				return fmt.Errorf("append: %v, want ErrBroken wrapping %v", err, errno)
			}
			broke = true
			break
		}
		env.Return(nil)
		env.DurableAll()
	}
	if _, buggy := fsys.(*bugFS); buggy {
		return w.Close() // the bug variant hid the failure
	}
	if !broke { // the explorer checks that the fault was injected
		return fmt.Errorf("the log did not break on the injected fault")
	}
	if _, err := w.Append([]byte("after the failure")); !errors.Is(err, wal.ErrBroken) {
		return fmt.Errorf("append after the failure: %v, want ErrBroken", err)
	}
	if err := w.Close(); !errors.Is(err, wal.ErrBroken) {
		return fmt.Errorf("close after the failure: %v, want ErrBroken", err)
	}
	if !resume {
		return nil
	}
	w, err = wal.Resume(fsys, walDir, wal.Bytes, walOptions())
	if err != nil {
		return err
	}
	for range 3 {
		e := walRecord(env, walEntry)
		env.Invoke(models.LogAppend{Record: e})
		if _, err := w.Append(e); err != nil {
			return err
		}
		if err := w.FlushAndSync(); err != nil {
			return err
		}
		env.Return(nil)
		env.DurableAll()
	}
	return w.Close()
}
