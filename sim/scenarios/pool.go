package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// The persistent pools of engine/tx: random transactions on a pool's hash
// map (pool-map, and pool-map-file on a mapped disk file) and on its
// allocator (pool-alloc, in pool_alloc.go), each transaction one operation
// of the model. Recovery opens the pool, which rolls back an interrupted
// transaction, runs the pool's Check (leaks, double allocations, bad
// pointers) and returns its contents.
//
// The bug variants are hidden options of the real commit protocol
// (internal/txbug), not copies of it:
//
//   - pool-bug-write-before-log: the data is written in place before the
//     undo log is durable (no drain between them);
//   - pool-bug-retire-early: the commit record is made durable before the
//     data is flushed;
//   - pool-bug-publish-unflushed: new objects are published without their
//     contents flushed;
//   - pool-bug-redo-one-slot: every redo log (pool format 6) goes to one
//     slot, over the last transaction's log before its data is durable;
//   - pool-bug-redo-word-alone (pool_words.go): recovery replays a word
//     log with no older log, over the one-word commits made since;
//   - pool-bug-redo-unchecked: recovery replays a redo log whose header
//     checks without checking its lines and its entries, a torn log with
//     the rest.
const (
	poolPMemFile = "/pmem/pool"
	poolDiskDir  = "/data"
	poolDiskFile = "/data/pool"
	poolSize     = 160 << 10
	poolLogSize  = tx.MinLogSize
	poolMapTxs   = 6
	poolMapKeys  = 5
)

// poolTag is the type of the scenarios' pools.
type poolTag struct{}

// poolRoot is the root object of the scenarios' pools.
type poolRoot struct {
	Map   tx.Map[poolTag]
	Items tx.Vec[poolTag, poolItem]
}

func init() {
	register(
		func() *sim.Scenario {
			return poolMap("pool-map", "random transactions of puts and deletes on a persistent pool's hash map in persistent memory", poolPMemFile, txbug.None)
		},
		func() *sim.Scenario {
			return poolMap("pool-map-file", "random transactions on a pool's hash map in a file mapped through the page cache (msync)", poolDiskFile, txbug.None)
		},
		func() *sim.Scenario {
			return poolMap("pool-bug-write-before-log", "BUG: a pool transaction writes in place before its undo log is durable", poolPMemFile, txbug.WriteBeforeLog)
		},
		func() *sim.Scenario {
			return poolMap("pool-bug-retire-early", "BUG: a pool transaction retires its log (commit record durable) before its data is flushed", poolPMemFile, txbug.RetireEarly)
		},
		func() *sim.Scenario {
			return poolMap("pool-bug-publish-unflushed", "BUG: a pool transaction publishes new objects before their contents are durable", poolPMemFile, txbug.PublishUnflushed)
		},
		func() *sim.Scenario {
			return poolMap("pool-bug-redo-one-slot", "BUG: a pool transaction writes its redo log over the last one before that transaction's data is durable", poolPMemFile, txbug.RedoOneSlot)
		},
		func() *sim.Scenario {
			return poolMap("pool-bug-redo-unchecked", "BUG: a pool's recovery replays a redo log whose header checks, without checking its lines and entries", poolPMemFile, txbug.RedoUnchecked)
		},
	)
}

// poolTx is one transaction of the workload: model operations applied
// together.
type poolTx []any

// poolKV is the KV model with transactions of several operations.
func poolKV() models.Model {
	kv := models.KV()
	m := kv
	m.Name = "kv-tx"
	m.Apply = func(state, input any) (any, any) {
		b, ok := input.(poolTx)
		if !ok {
			return kv.Apply(state, input)
		}
		for _, in := range b {
			state, _ = kv.Apply(state, in)
		}
		return state, nil
	}
	m.DescribeInput = func(input any) string {
		b, ok := input.(poolTx)
		if !ok {
			return kv.DescribeInput(input)
		}
		parts := make([]string, len(b))
		for i, in := range b {
			parts[i] = kv.DescribeInput(in)
		}
		return "tx{" + strings.Join(parts, " ") + "}"
	}
	return m
}

// poolOptions are the options of the scenarios' pools, with the bug. The
// pool's randomness (its UUID, its maps' seeds) comes from the run's seed,
// so that a crash state replays.
func poolOptions(env *sim.Env, bug txbug.Bug) *tx.Options {
	o := &tx.Options{Size: poolSize, LogSize: poolLogSize, Rand: envReader{env}}
	if bug != txbug.None {
		txbug.Set(o, bug)
	}
	return o
}

// makePoolDir makes the directory of a pool in a file on the disk,
// durably, before the pool is created there; a pool in persistent memory
// needs none.
func makePoolDir(env *sim.Env, name string) error {
	if name != poolDiskFile {
		return nil
	}
	if err := env.FS.MkdirAll(poolDiskDir, 0o755); err != nil {
		return err
	}
	return env.FS.SyncDir("/")
}

// createPool creates the pool and the root's structures, before the first
// operation.
func createPool(env *sim.Env, name string, bug txbug.Bug) (*tx.Pool[poolTag, poolRoot], error) {
	if err := makePoolDir(env, name); err != nil {
		return nil, err
	}
	p, err := tx.Create[poolTag, poolRoot](env.FS, name, poolOptions(env, bug))
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
		if r.Items, err = tx.NewVec[poolTag, poolItem](t, 0); err != nil {
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

// openPool is the recovery's Open: no pool yet is an empty one. It checks
// the pool before anything reads it. The recovery of a bug variant opens
// it with the correct protocol, but for a bug of Open itself (SparseMap,
// RedoUnchecked).
func openPool(env *sim.Env, name string, bug txbug.Bug) (*tx.Pool[poolTag, poolRoot], bool, error) {
	o := &tx.Options{Rand: envReader{env}}
	if bug == txbug.SparseMap || bug == txbug.RedoUnchecked {
		txbug.Set(o, bug)
	}
	p, err := tx.Open[poolTag, poolRoot](env.FS, name, o)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := p.Check(); err != nil {
		p.Close()
		return nil, false, err
	}
	return p, true, nil
}

func poolMap(name, doc, file string, bug txbug.Bug) *sim.Scenario {
	return poolMapWith(name, doc, file, bug, randomMapTxs)
}

// randomMapTxs draws the map workload from the run's seeded source:
// poolMapTxs transactions of one to three puts and deletes on poolMapKeys
// keys, values of random lengths.
func randomMapTxs(env *sim.Env) []poolTx { return drawMapTxs(env, poolMapTxs) }

// drawMapTxs draws n transactions of the map workload.
func drawMapTxs(env *sim.Env, n int) []poolTx {
	txs := make([]poolTx, n)
	for i := range txs {
		for range 1 + env.Rand.IntN(3) {
			k := fmt.Sprintf("k%d", env.Rand.IntN(poolMapKeys))
			if env.Rand.IntN(4) == 0 {
				txs[i] = append(txs[i], models.KVDelete{Key: k})
				continue
			}
			v := fmt.Sprintf("v%d-%s", i, strings.Repeat("x", env.Rand.IntN(40)))
			txs[i] = append(txs[i], models.KVPut{Key: k, Value: v})
		}
	}
	return txs
}

// poolMapWith is a map scenario whose transactions workload returns: the
// run's random ones, or a sequence rapid generated (pool_test.go). After
// its recovery the program goes on as continueMap does.
func poolMapWith(name, doc, file string, bug txbug.Bug, workload func(env *sim.Env) []poolTx) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: poolKV(),
		Run: func(env *sim.Env) error {
			p, err := createPool(env, file, bug)
			if err != nil {
				return err
			}
			defer p.Close()
			for _, ops := range workload(env) {
				if err := mapTx(env, p, ops); err != nil {
					return err
				}
			}
			return nil
		},
		Recover:  func(env *sim.Env) (any, error) { return recoverMap(env, file, bug) },
		Continue: func(env *sim.Env) error { return continueMap(env, file, bug) },
	}
}

// mapTx runs ops in one transaction on the pool's map, one operation of
// the model, acknowledged when it commits.
func mapTx(env *sim.Env, p *tx.Pool[poolTag, poolRoot], ops poolTx) error {
	root := p.Root()
	env.Invoke(ops)
	err := p.Update(func(t *tx.Tx[poolTag]) error {
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
	return nil
}

// applyKV applies ops, puts and deletes of the KV model, to m in t.
func applyKV(t *tx.Tx[poolTag], m tx.Map[poolTag], ops poolTx) error {
	for _, op := range ops {
		var err error
		switch op := op.(type) {
		case models.KVPut:
			err = m.Put(t, []byte(op.Key), []byte(op.Value))
		case models.KVDelete:
			_, err = m.Delete(t, []byte(op.Key))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// continueMap is how a program using the map goes on after its recovery:
// it opens the pool again (the recovery closed it), or creates it if the
// crash left none, and runs two more transactions.
func continueMap(env *sim.Env, file string, bug txbug.Bug) error {
	p, err := reopenPool(env, file, bug)
	if err != nil {
		return err
	}
	for _, ops := range drawMapTxs(env, 2) {
		if err := mapTx(env, p, ops); err != nil {
			p.Close()
			return err
		}
	}
	return p.Close()
}

// reopenPool is a writer's Open after a recovery, with the program's bug,
// if any. A crash before the pool was created left none, and it is
// created; one before the root's structures were, a pool without them,
// and they are made.
func reopenPool(env *sim.Env, file string, bug txbug.Bug) (*tx.Pool[poolTag, poolRoot], error) {
	o := &tx.Options{Rand: envReader{env}}
	if bug != txbug.None {
		txbug.Set(o, bug)
	}
	p, err := tx.Open[poolTag, poolRoot](env.FS, file, o)
	if errors.Is(err, fs.ErrNotExist) {
		return createPool(env, file, bug)
	}
	if err != nil {
		return nil, err
	}
	root := p.Root()
	err = p.Update(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil || !r.Map.IsNil() && !r.Items.IsNil() {
			return err
		}
		if r.Map.IsNil() {
			if r.Map, err = tx.NewMap(t); err != nil {
				return err
			}
		}
		if r.Items.IsNil() {
			if r.Items, err = tx.NewVec[poolTag, poolItem](t, 0); err != nil {
				return err
			}
		}
		return root.Set(t, r)
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// recoverMap is the map scenarios' recovery: it opens the pool (see
// openPool for bug), checks it, and returns its map.
func recoverMap(env *sim.Env, file string, bug txbug.Bug) (any, error) {
	state := map[string]string{}
	p, ok, err := openPool(env, file, bug)
	if err != nil || !ok {
		return state, err
	}
	defer p.Close()
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
}

// envReader reads random bytes from the run's seeded source.
type envReader struct{ env *sim.Env }

func (r envReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(r.env.Rand.Uint32())
	}
	return len(b), nil
}
