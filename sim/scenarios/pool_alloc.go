package scenarios

import (
	"fmt"
	"strings"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// pool-alloc: random transactions that allocate, free and replace blobs
// of random sizes — small ones from runs, large ones of whole pages, some
// large enough to make the heap grow a zone — kept in a persistent vector
// at the root. The model is a KV map from a blob's name to its contents.
const (
	poolAllocTxs = 6
	poolLarge    = 9000 // bytes: a blob of more than a page
)

// poolItem is one blob of the allocator workload.
type poolItem struct {
	ID   uint64
	Data tx.Bytes[poolTag]
}

func init() {
	register(func() *sim.Scenario {
		return poolAlloc("pool-alloc", "random transactions allocating, freeing and replacing blobs of random sizes in a pool (small blocks, pages, heap growth)")
	})
}

// blobContents is the contents of blob id of n bytes.
func blobContents(id uint64, n int) string {
	s := fmt.Sprintf("b%d:", id)
	return s + strings.Repeat(string(rune('a'+id%26)), max(n-len(s), 0))
}

func blobSize(env *sim.Env) int {
	if env.Rand.IntN(3) == 0 {
		return 2100 + env.Rand.IntN(poolLarge-2100)
	}
	return 1 + env.Rand.IntN(300)
}

func poolAlloc(name, doc string) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: poolKV(),
		Run: func(env *sim.Env) error {
			p, err := createPool(env, poolPMemFile, txbug.None)
			if err != nil {
				return err
			}
			defer p.Close()
			var live []uint64 // ids, in the vector's order
			next := uint64(1)
			for range poolAllocTxs {
				if live, err = allocTx(env, p, live, &next); err != nil {
					return err
				}
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			state := map[string]string{}
			p, ok, err := openPool(env, poolPMemFile, txbug.None)
			if err != nil || !ok {
				return state, err
			}
			defer p.Close()
			root := p.Root()
			err = p.View(func(t *tx.Tx[poolTag]) error {
				r, err := root.Get(t)
				if err != nil || r.Items.IsNil() {
					return err
				}
				items, err := r.Items.All(t)
				if err != nil {
					return err
				}
				for _, it := range items {
					b, err := it.Data.Get(t)
					if err != nil {
						return err
					}
					state[fmt.Sprintf("b%d", it.ID)] = string(b)
				}
				return nil
			})
			return state, err
		},
		Continue: continueAlloc,
	}
}

// poolItems returns the blobs in the pool's vector.
func poolItems(p *tx.Pool[poolTag, poolRoot]) ([]poolItem, error) {
	var items []poolItem
	root := p.Root()
	err := p.View(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil || r.Items.IsNil() {
			return err
		}
		items, err = r.Items.All(t)
		return err
	})
	return items, err
}

// continueAlloc is how a program using the blobs goes on after its
// recovery: it opens the pool again (or creates it, if the crash left
// none) and runs two more transactions, numbering new blobs after the
// highest it finds.
func continueAlloc(env *sim.Env) error {
	p, err := reopenPool(env, poolPMemFile, txbug.None)
	if err != nil {
		return err
	}
	items, err := poolItems(p)
	if err != nil {
		p.Close()
		return err
	}
	var live []uint64
	next := uint64(1)
	for _, it := range items {
		live = append(live, it.ID)
		next = max(next, it.ID+1)
	}
	for range 2 {
		if live, err = allocTx(env, p, live, &next); err != nil {
			p.Close()
			return err
		}
	}
	return p.Close()
}

// allocTx runs one random transaction of one to three steps — allocate a
// new blob, free one, replace one's contents — on the blobs live (their
// ids, in the vector's order), numbering new ones from *next, one
// operation of the model. It returns the blobs live after it.
func allocTx(env *sim.Env, p *tx.Pool[poolTag, poolRoot], live []uint64, next *uint64) ([]uint64, error) {
	root := p.Root()
	var ops poolTx
	type step struct {
		op  string
		id  uint64
		idx int
		v   string
	}
	var steps []step
	shadow := append([]uint64(nil), live...)
	for range 1 + env.Rand.IntN(3) {
		switch k := env.Rand.IntN(3); {
		case k == 0 || len(shadow) == 0:
			id := *next
			*next++
			v := blobContents(id, blobSize(env))
			steps = append(steps, step{op: "alloc", id: id, v: v})
			ops = append(ops, models.KVPut{Key: fmt.Sprintf("b%d", id), Value: v})
			shadow = append(shadow, id)
		case k == 1:
			i := env.Rand.IntN(len(shadow))
			steps = append(steps, step{op: "free", idx: i, id: shadow[i]})
			ops = append(ops, models.KVDelete{Key: fmt.Sprintf("b%d", shadow[i])})
			shadow[i] = shadow[len(shadow)-1]
			shadow = shadow[:len(shadow)-1]
		default:
			i := env.Rand.IntN(len(shadow))
			v := blobContents(shadow[i], blobSize(env))
			steps = append(steps, step{op: "replace", idx: i, id: shadow[i], v: v})
			ops = append(ops, models.KVPut{Key: fmt.Sprintf("b%d", shadow[i]), Value: v})
		}
	}
	env.Invoke(ops)
	err := p.Update(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		for _, s := range steps {
			switch s.op {
			case "alloc":
				b, err := tx.NewBytes(t, []byte(s.v))
				if err != nil {
					return err
				}
				if err := r.Items.Append(t, poolItem{ID: s.id, Data: b}); err != nil {
					return err
				}
			case "free":
				it, err := r.Items.SwapRemove(t, s.idx)
				if err != nil {
					return err
				}
				if err := it.Data.Free(t); err != nil {
					return err
				}
			case "replace":
				it, err := r.Items.At(t, s.idx)
				if err != nil {
					return err
				}
				if err := it.Data.Free(t); err != nil {
					return err
				}
				if it.Data, err = tx.NewBytes(t, []byte(s.v)); err != nil {
					return err
				}
				if err := r.Items.Set(t, s.idx, it); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	env.Return(nil)
	env.DurableAll()
	return shadow, nil
}
