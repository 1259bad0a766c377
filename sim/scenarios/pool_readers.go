package scenarios

import (
	"fmt"
	"maps"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// A pool's writer beside readers of the same process: one thread commits
// transactions on the pool's map while others read the whole map in
// Views. Every thread is a client of the history that durable
// linearizability judges (sim.DurableLinearizability): what each View
// returned must be the map after some order of the transactions that
// agrees with real time, and after a crash the recovered map too.
const (
	poolReaders     = 2
	poolReaderViews = 2 // per reader
	poolReaderTxs   = 3 // of the writer
)

func init() {
	register(
		func() *sim.Scenario {
			return poolReadersScenario("pool-readers", fmt.Sprintf("a writer commits %d transactions on a pool's map while %d readers each read the whole map in %d Views; judged by durable linearizability", poolReaderTxs, poolReaders, poolReaderViews), txbug.None)
		},
		func() *sim.Scenario {
			return poolReadersScenario("pool-bug-view-uncommitted", "BUG: a View does not keep out of the commits of its process, so a reader can see half of a transaction that has not returned", txbug.ViewUnlocked)
		},
	)
}

// poolView reads the whole map: its output is the map.
type poolView struct{}

// poolViewFailed is the output of a View that failed: no map explains it.
type poolViewFailed struct{ Err string }

// poolReadersKV is the transactions' model, poolKV, with whole-map reads.
func poolReadersKV() models.Model {
	m := poolKV()
	apply, describe := m.Apply, m.DescribeInput
	m.Name = "kv-tx-view"
	m.Apply = func(state, input any) (any, any) {
		if _, ok := input.(poolView); ok {
			return state, state
		}
		return apply(state, input)
	}
	m.EqualOutput = func(a, b any) bool {
		x, ok1 := a.(map[string]string)
		y, ok2 := b.(map[string]string)
		if ok1 || ok2 {
			return ok1 && ok2 && maps.Equal(x, y)
		}
		return a == b
	}
	m.DescribeInput = func(input any) string {
		if _, ok := input.(poolView); ok {
			return "view()"
		}
		return describe(input)
	}
	return m
}

func poolReadersScenario(name, doc string, bug txbug.Bug) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: poolReadersKV(),
		Check: sim.DurableLinearizability,
		Run: func(env *sim.Env) error {
			p, err := createPool(env, poolPMemFile, bug)
			if err != nil {
				return err
			}
			defer p.Close()
			txs := poolReaderWrites()
			writer := env.Go(func(env *sim.Env) error {
				for _, ops := range txs {
					if err := mapTx(env, p, ops); err != nil {
						return err
					}
				}
				return nil
			})
			var readers []*sim.Thread
			for range poolReaders {
				readers = append(readers, env.Go(func(env *sim.Env) error { return poolReader(env, p) }))
			}
			for _, t := range append([]*sim.Thread{writer}, readers...) {
				if err := t.Wait(); err != nil {
					return err
				}
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) { return recoverMap(env, poolPMemFile, bug) },
	}
}

// poolReaderWrites are the writer's transactions: each puts two keys
// together, so that half of one is a map no order of them gives.
func poolReaderWrites() []poolTx {
	txs := make([]poolTx, poolReaderTxs)
	for i := range txs {
		v := fmt.Sprintf("v%d", i+1)
		txs[i] = poolTx{models.KVPut{Key: "a", Value: v}, models.KVPut{Key: "b", Value: v}}
	}
	return txs
}

// poolReader reads the whole map in each of its Views. A View that
// fails returns that as its output, which no map explains.
func poolReader(env *sim.Env, p *tx.Pool[poolTag, poolRoot]) error {
	root := p.Root()
	for range poolReaderViews {
		env.Invoke(poolView{})
		state := map[string]string{}
		err := p.View(func(t *tx.Tx[poolTag]) error {
			r, err := root.Get(t)
			if err != nil || r.Map.IsNil() {
				return err
			}
			return r.Map.Range(t, func(k, v []byte) bool {
				state[string(k)] = string(v)
				return true
			})
		})
		if err != nil {
			env.Return(poolViewFailed{err.Error()})
			continue
		}
		env.Return(state)
	}
	return nil
}
