package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/crashsim/crashsim/engine/alloc"
	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// pool-apart, pool-apart-file: objects allocated outside a transaction —
// an Update that only allocates, a one-word commit of the heap's bitmap —
// and published later, by a transaction of their own (one word, or
// logged with others), beside allocations freed alone, objects allocated
// and published in one transaction, and one-word changes of a word of an
// object a transaction just allocated or published. No other scenario
// allocates apart from where it publishes: pool-alloc and pool-map
// allocate inside the transactions that publish. The model is a KV map
// from a root slot's name ("s0" to "s2") to its object's two words,
// absent while the slot is empty. An object allocated and not yet
// published is unreachable: a crash leaves it allocated, which Check
// reports as a leak, and that alone is no violation.

// apartBox is the object of pool-apart: two words.
type apartBox struct {
	V [2]int64
}

// apartRoot is the root of pool-apart.
type apartRoot struct {
	Slots [3]tx.Box[poolTag, apartBox]
}

// apartStep is one step of pool-apart's script.
type apartStep struct {
	op   string // see apartScript
	slot int    // the root slot
	v    int64  // the value stored, both words ("set0": the first only)
	with int    // "pub2": the other slot, published with slot
}

// apartScript is pool-apart's Updates: "new" allocates a box outside a
// transaction (held by the program for slot, unpublished), "pub"
// publishes it into slot alone (one word), "pub2" publishes the boxes for
// slot and with in one transaction, "drop" frees the box held for slot
// (unpublished) alone, "set0" changes one word of slot's box, "set"
// both, "free" frees slot's box and empties the slot,
// "newpub" allocates and publishes in one transaction, "allocfree"
// allocates a box and frees it, in two Updates that change nothing the
// model sees.
var apartScript = []apartStep{
	{op: "new", slot: 0, v: 1},
	{op: "pub", slot: 0},
	{op: "new", slot: 1, v: 2},
	{op: "new", slot: 2, v: 3},
	{op: "pub2", slot: 1, with: 2},
	{op: "set0", slot: 1, v: 4},
	{op: "set0", slot: 1, v: 5},
	{op: "allocfree"},
	{op: "free", slot: 0},
	{op: "newpub", slot: 0, v: 6},
	{op: "set0", slot: 0, v: 7},
	{op: "set0", slot: 0, v: 8},
	{op: "set", slot: 2, v: 9},
	{op: "new", slot: 1, v: 10},
	{op: "set0", slot: 2, v: 11},
	{op: "drop", slot: 1},
	{op: "new", slot: 1, v: 13},
	{op: "free", slot: 1},
	{op: "pub", slot: 1},
	{op: "allocfree"},
	{op: "set0", slot: 1, v: 12},
}

func init() {
	register(
		func() *sim.Scenario {
			return poolApart("pool-apart", "objects allocated outside a transaction, published later alone or with others, beside one-word changes and allocations freed alone, in persistent memory", poolPMemFile)
		},
		func() *sim.Scenario {
			return poolApart("pool-apart-file", "objects allocated outside a transaction and published later, in a file mapped through the page cache (msync)", poolDiskFile)
		},
	)
}

func poolApart(name, doc, file string) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: poolKV(),
		Run: func(env *sim.Env) error {
			if err := makePoolDir(env, file); err != nil {
				return err
			}
			p, err := tx.Create[poolTag, apartRoot](env.FS, file, poolOptions(env, txbug.None))
			if err != nil {
				return err
			}
			defer p.Close()
			var held [3]tx.Box[poolTag, apartBox] // allocated, not published
			var vals [3][2]int64                  // what each slot's box holds
			for _, s := range apartScript {
				if err := apartUpdate(env, p, s, &held, &vals); err != nil {
					return err
				}
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			state := map[string]string{}
			p, err := tx.Open[poolTag, apartRoot](env.FS, file, &tx.Options{Rand: envReader{env}})
			if errors.Is(err, fs.ErrNotExist) {
				return state, nil
			}
			if err != nil {
				return state, err
			}
			defer p.Close()
			if err := p.Check(); err != nil && !onlyLeaks(err) {
				return state, err
			}
			root := p.Root()
			err = p.View(func(t *tx.Tx[poolTag]) error {
				r, err := root.Get(t)
				if err != nil {
					return err
				}
				for i, b := range r.Slots {
					if b.IsNil() {
						continue
					}
					v, err := b.Get(t)
					if err != nil {
						return err
					}
					state[fmt.Sprintf("s%d", i)] = fmt.Sprintf("%d,%d", v.V[0], v.V[1])
				}
				return nil
			})
			return state, err
		},
		Continue: func(env *sim.Env) error { return continueApart(env, file) },
	}
}

// continueApart is how the program goes on after its recovery: it opens
// the pool again (or creates it, if the crash left none), and allocates a
// box apart, allocates and frees another, publishes the first into an
// empty slot (emptied first if none is) and changes one word of it.
func continueApart(env *sim.Env, file string) error {
	p, err := tx.Open[poolTag, apartRoot](env.FS, file, &tx.Options{Rand: envReader{env}})
	if errors.Is(err, fs.ErrNotExist) {
		if err := makePoolDir(env, file); err != nil {
			return err
		}
		p, err = tx.Create[poolTag, apartRoot](env.FS, file, poolOptions(env, txbug.None))
	}
	if err != nil {
		return err
	}
	var held [3]tx.Box[poolTag, apartBox]
	var vals [3][2]int64
	slot := -1
	root := p.Root()
	err = p.View(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		for i := len(r.Slots) - 1; i >= 0; i-- {
			if r.Slots[i].IsNil() {
				slot = i
				continue
			}
			v, err := r.Slots[i].Get(t)
			if err != nil {
				return err
			}
			vals[i] = v.V
		}
		return nil
	})
	steps := []apartStep{{op: "new", slot: max(slot, 0), v: 100}, {op: "allocfree"}, {op: "pub", slot: max(slot, 0)}, {op: "set0", slot: max(slot, 0), v: 101}}
	if slot < 0 {
		steps = append([]apartStep{{op: "free", slot: 0}}, steps...)
	}
	for _, s := range steps {
		if err != nil {
			break
		}
		err = apartUpdate(env, p, s, &held, &vals)
	}
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}

// onlyLeaks reports whether Check's err reports leaked blocks and nothing
// else: what a crash between an allocation and its publication leaves.
func onlyLeaks(err error) bool {
	var ce *alloc.CheckError
	if !errors.As(err, &ce) || ce.Total != len(ce.Problems) {
		return false
	}
	for _, p := range ce.Problems {
		if !strings.Contains(p.Text, "(leaked)") {
			return false
		}
	}
	return true
}

// apartUpdate runs step s, one operation of the model (an empty one where
// the slots do not change).
func apartUpdate(env *sim.Env, p *tx.Pool[poolTag, apartRoot], s apartStep, held *[3]tx.Box[poolTag, apartBox], vals *[3][2]int64) error {
	root := p.Root()
	put := func(slot int, v [2]int64) models.KVPut {
		vals[slot] = v
		return models.KVPut{Key: fmt.Sprintf("s%d", slot), Value: fmt.Sprintf("%d,%d", v[0], v[1])}
	}
	var ops poolTx
	var fn func(t *tx.Tx[poolTag], r *apartRoot) (bool, error) // reports whether the root changed
	switch s.op {
	case "new":
		fn = func(t *tx.Tx[poolTag], r *apartRoot) (bool, error) {
			b, err := tx.NewBox(t, apartBox{V: [2]int64{s.v, s.v}})
			held[s.slot] = b
			return false, err
		}
		vals[s.slot] = [2]int64{s.v, s.v} // once published
	case "drop":
		fn = func(t *tx.Tx[poolTag], r *apartRoot) (bool, error) {
			return false, held[s.slot].Free(t)
		}
	case "pub", "pub2":
		slots := []int{s.slot}
		if s.op == "pub2" {
			slots = append(slots, s.with)
		}
		for _, i := range slots {
			ops = append(ops, put(i, vals[i]))
		}
		fn = func(t *tx.Tx[poolTag], r *apartRoot) (bool, error) {
			for _, i := range slots {
				r.Slots[i] = held[i]
			}
			return true, nil
		}
	case "set0", "set":
		v := [2]int64{s.v, s.v}
		if s.op == "set0" {
			v[1] = vals[s.slot][1]
		}
		ops = append(ops, put(s.slot, v))
		fn = func(t *tx.Tx[poolTag], r *apartRoot) (bool, error) {
			return false, r.Slots[s.slot].Set(t, apartBox{V: v})
		}
	case "free":
		ops = append(ops, models.KVDelete{Key: fmt.Sprintf("s%d", s.slot)})
		fn = func(t *tx.Tx[poolTag], r *apartRoot) (bool, error) {
			if err := r.Slots[s.slot].Free(t); err != nil {
				return false, err
			}
			r.Slots[s.slot] = tx.Box[poolTag, apartBox]{}
			return true, nil
		}
	case "newpub":
		ops = append(ops, put(s.slot, [2]int64{s.v, s.v}))
		fn = func(t *tx.Tx[poolTag], r *apartRoot) (bool, error) {
			b, err := tx.NewBox(t, apartBox{V: [2]int64{s.v, s.v}})
			r.Slots[s.slot] = b
			return true, err
		}
	case "allocfree":
		var b tx.Box[poolTag, apartBox]
		env.Invoke(ops)
		err := p.Update(func(t *tx.Tx[poolTag]) error {
			var err error
			b, err = tx.NewBox(t, apartBox{V: [2]int64{-1, -1}})
			return err
		})
		if err == nil {
			err = p.Update(func(t *tx.Tx[poolTag]) error { return b.Free(t) })
		}
		if err != nil {
			return err
		}
		env.Return(nil)
		env.DurableAll()
		return nil
	default:
		return fmt.Errorf("pool-apart: unknown step %q", s.op)
	}
	env.Invoke(ops)
	if err := p.Update(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		changed, err := fn(t, &r)
		if err != nil || !changed {
			return err
		}
		return root.Set(t, r)
	}); err != nil {
		return err
	}
	env.Return(nil)
	env.DurableAll()
	return nil
}
