package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// Pools on a full disk (issue 16; docs/DESIGN.md F2 "mapped pages on a
// full disk", F3 ENOSPC). The pool file is mapped, and a store to a page
// with no block on a full disk kills the process with SIGBUS; so the pool
// allocates its blocks before it maps them, and reports ENOSPC instead:
//
//   - pool-enospc: ENOSPC injected into the allocation of Create, which
//     fails and leaves nothing (the workload creates the pool again), and
//     into that of the pool's growth inside an Update, which fails and is
//     not acknowledged; the pool stays usable.
//   - pool-full-disk: the disk really fills (a capacity, faultfs rule 17):
//     the pool is created on a small disk, then the disk fills up; an
//     Update that grows the pool fails, the Updates that fit commit, Create
//     of another pool fails and leaves nothing, and every recovery opens
//     the pool on the full disk. (A growth that gets part of its blocks
//     is engine/tx's TestGrowthOnAFullDisk.)
//   - pool-bug-sparse-map: pool-full-disk with the pool mapped without its
//     blocks allocated (internal/txbug SparseMap, in the workload and in
//     its recovery, since Open maps too): once the disk is full, the first
//     store to a hole kills the process with SIGBUS, and the recovery that
//     reads a hole is killed too — the two deaths of issue 16.
//
// The Update that fails is not an operation of the model: it must leave
// no trace, and the recovered state must be a prefix of the others.
const (
	poolFullCapacity = poolSize + 64<<10 // the disk of pool-full-disk before it fills
	poolBigValue     = 200 << 10         // a value the pool must grow for
)

func init() {
	register(
		func() *sim.Scenario {
			return poolFullDisk("pool-enospc", "ENOSPC injected into a pool's Create and into its growth inside an Update: each fails with ErrNoSpace, the pool is usable after", true, txbug.None)
		},
		func() *sim.Scenario {
			return poolFullDisk("pool-full-disk", "a pool on a disk that fills up: growth fails with ErrNoSpace, Updates that fit commit, and the pool opens on the full disk, never SIGBUS", false, txbug.None)
		},
		func() *sim.Scenario {
			return poolFullDisk("pool-bug-sparse-map", "BUG: a pool mapped without its blocks allocated: on the full disk a store to a hole kills the process with SIGBUS, and a load of one kills its recovery", false, txbug.SparseMap)
		},
	)
}

// growthAllocation matches the allocation of a pool's growth, at the end
// of the file: Create's and Open's start at 0.
type growthAllocation struct{}

func (growthAllocation) Match(op faultfs.Op) bool {
	return op.Kind == faultfs.OpAllocate && op.Off > 0
}

func (growthAllocation) String() string { return "an allocation past offset 0" }

// noSpace reports whether err is ErrNoSpace wrapping ENOSPC, the error of
// a pool on a full disk.
func noSpace(err error) bool {
	return errors.Is(err, tx.ErrNoSpace) && errors.Is(err, syscall.ENOSPC)
}

// wantNoSpace returns nil if err is ErrNoSpace wrapping ENOSPC, else an
// error that says what did not fail so.
func wantNoSpace(what string, err error) error {
	if noSpace(err) {
		return nil
	}
	return fmt.Errorf("%s on a full disk: %v, want ErrNoSpace wrapping ENOSPC", what, err)
}

func poolFullDisk(name, doc string, inject bool, bug txbug.Bug) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: poolKV(),
		Run: func(env *sim.Env) error {
			disk := env.Machine().Disk()
			if inject { // the explorer checks that both fire
				env.Inject(
					faultfs.Rule{When: faultfs.And(faultfs.PathGlob(poolDiskFile+".creating"), faultfs.OpKinds(faultfs.OpAllocate)), Fault: faultfs.Error(syscall.ENOSPC)},
					faultfs.Rule{When: faultfs.And(faultfs.PathGlob(poolDiskFile), growthAllocation{}), Fault: faultfs.Error(syscall.ENOSPC)},
				)
			} else {
				disk.SetCapacity(poolDiskDir, poolFullCapacity)
			}
			p, err := createPool(env, poolDiskFile, bug)
			if inject {
				if err := wantNoSpace("Create", err); err != nil {
					return err
				}
				if _, err := env.FS.Stat(poolDiskFile + ".creating"); !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("after the failed Create: %v, want no temporary file", err)
				}
				p, err = createPool(env, poolDiskFile, bug)
			}
			if err != nil {
				return err
			}
			defer p.Close()
			if !inject {
				// Another program takes the rest of the disk.
				used, _ := disk.Space(poolDiskDir)
				disk.SetCapacity(poolDiskDir, used)
				env.Logf("the disk is full: %d bytes used", used)
			}
			root := p.Root()
			put := func(k string, v []byte) error {
				return p.Update(func(t *tx.Tx[poolTag]) error {
					r, err := root.Get(t)
					if err != nil {
						return err
					}
					return r.Map.Put(t, []byte(k), v)
				})
			}
			acknowledged := func(k, v string) error {
				env.Invoke(models.KVPut{Key: k, Value: v})
				if err := put(k, []byte(v)); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
				return nil
			}
			if err := acknowledged("k1", "before the growth"); err != nil {
				return err
			}
			env.Logf("an Update that must grow the pool")
			if err := wantNoSpace("an Update that grows the pool", put("big", make([]byte, poolBigValue))); err != nil {
				return err
			}
			if err := acknowledged("k2", "after the failed growth"); err != nil {
				return err
			}
			if err := p.Check(); err != nil {
				return err
			}
			if inject {
				return nil
			}
			other := poolDiskDir + "/other"
			_, err = tx.Create[poolTag, poolRoot](env.FS, other, poolOptions(env, bug))
			if err := wantNoSpace("Create", err); err != nil {
				return err
			}
			if _, err := env.FS.Stat(other + ".creating"); !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("after the failed Create: %v, want no temporary file", err)
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) { return recoverMap(env, poolDiskFile, bug) },
	}
}
