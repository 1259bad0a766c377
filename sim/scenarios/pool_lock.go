package scenarios

import (
	"errors"
	"io/fs"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/crashsim/crashsim/sim"
)

// pool-lock: the map's transactions, each under the map's persistent lock
// (tx.Mutex), taken in a transaction before it and released in one after,
// as a program that owns a record across transactions does. A crash
// between the two leaves the lock taken, by a process that no longer
// exists; the next writer's Open starts a new epoch, in which every lock
// of an earlier one is free, so that the program goes on after its
// recovery. Its bug variant, pool-bug-epoch-reused, takes the epoch of
// the open before again (txbug.EpochReused): every recovery returns the
// right map, and only the program going on finds the lock held forever —
// a violation of liveness, caught at crash depth 2.
const poolLockOps = 4

// poolLockRoot is the root object of the lock scenarios' pools.
type poolLockRoot struct {
	Map tx.Map[poolTag]
	Mu  tx.Mutex
}

// errLockHeld is the error of an operation whose lock is held by no one
// alive.
var errLockHeld = errors.New("the map's persistent lock is held, and no process alive holds it")

func init() {
	register(
		func() *sim.Scenario {
			return poolLock("pool-lock", "transactions on a pool's hash map, each under a persistent lock taken and released in transactions of their own; a lock held at a crash is free after the restart", txbug.None)
		},
		func() *sim.Scenario {
			return poolLock("pool-bug-epoch-reused", "BUG: a writer's Open takes the epoch of the open before it again, so a persistent lock held by a process that crashed stays held: "+
				"every recovery reads the right map, and the program cannot go on (caught only at crash depth 2)", txbug.EpochReused)
		},
	)
}

func poolLock(name, doc string, bug txbug.Bug) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: poolKV(),
		Run: func(env *sim.Env) error {
			p, err := createLockPool(env, bug)
			if err != nil {
				return err
			}
			defer p.Close()
			for _, ops := range drawMapTxs(env, poolLockOps) {
				if err := lockedTx(env, p, ops); err != nil {
					return err
				}
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			state := map[string]string{}
			p, err := openLockPool(env, bug)
			if errors.Is(err, fs.ErrNotExist) {
				return state, nil
			}
			if err != nil {
				return state, err
			}
			defer p.Close()
			if err := p.Check(); err != nil {
				return state, err
			}
			root := p.Root()
			err = p.View(func(t *tx.Tx[poolTag]) error {
				r, err := root.Get(t)
				if err != nil || r.Map.IsNil() {
					return err
				}
				return r.Map.Range(t, func(k, v []byte) bool {
					state[string(k)] = string(v)
					return true
				})
			})
			return state, err
		},
		Continue: func(env *sim.Env) error {
			p, err := reopenLockPool(env, bug)
			if err != nil {
				return err
			}
			for _, ops := range drawMapTxs(env, 2) {
				if err := lockedTx(env, p, ops); err != nil {
					p.Close()
					return err
				}
			}
			return p.Close()
		},
	}
}

// createLockPool creates the pool in persistent memory, with its map.
func createLockPool(env *sim.Env, bug txbug.Bug) (*tx.Pool[poolTag, poolLockRoot], error) {
	p, err := tx.Create[poolTag, poolLockRoot](env.FS, poolPMemFile, poolOptions(env, bug))
	if err != nil {
		return nil, err
	}
	root := p.Root()
	err = p.Update(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Map, err = tx.NewMap(t); err != nil {
			return err
		}
		return root.Set(t, r)
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// openLockPool is a writer's Open, with the program's bug.
func openLockPool(env *sim.Env, bug txbug.Bug) (*tx.Pool[poolTag, poolLockRoot], error) {
	o := &tx.Options{Rand: envReader{env}}
	if bug != txbug.None {
		txbug.Set(o, bug)
	}
	return tx.Open[poolTag, poolLockRoot](env.FS, poolPMemFile, o)
}

// reopenLockPool is the continuation's Open: a crash before the pool was
// created left none, and it is created; one before its map was, a pool
// without it, and it is made.
func reopenLockPool(env *sim.Env, bug txbug.Bug) (*tx.Pool[poolTag, poolLockRoot], error) {
	p, err := openLockPool(env, bug)
	if errors.Is(err, fs.ErrNotExist) {
		return createLockPool(env, bug)
	}
	if err != nil {
		return nil, err
	}
	root := p.Root()
	err = p.Update(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil || !r.Map.IsNil() {
			return err
		}
		if r.Map, err = tx.NewMap(t); err != nil {
			return err
		}
		return root.Set(t, r)
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// lockedTx takes the map's lock in a transaction, runs ops on the map in
// the next (one operation of the model, acknowledged when it commits),
// and releases the lock in a third. A lock it finds held fails it with
// errLockHeld: the program is alone, so nobody alive holds it.
func lockedTx(env *sim.Env, p *tx.Pool[poolTag, poolLockRoot], ops poolTx) error {
	root := p.Root()
	mu := tx.Field(root, func(r *poolLockRoot) *tx.Mutex { return &r.Mu })
	err := p.Update(func(t *tx.Tx[poolTag]) error {
		ok, err := tx.TryLock(t, mu)
		if err == nil && !ok {
			err = errLockHeld
		}
		return err
	})
	if err != nil {
		return err
	}
	env.Invoke(ops)
	err = p.Update(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		return applyKV(t, r.Map, ops)
	})
	if err != nil {
		return err
	}
	env.Return(nil)
	env.DurableAll()
	return p.Update(func(t *tx.Tx[poolTag]) error { return tx.Unlock(t, mu) })
}
