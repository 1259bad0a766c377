package torture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/alloc"
	"github.com/crashsim/crashsim/engine/tx"
)

// The pool workload: a pool whose root holds a hash map and two counters,
// changed together by each transaction (see poolOpOf).

type poolTag struct{}

type poolRoot struct {
	Seq uint64 // the last transaction committed
	Sum uint64 // the sum of mix(seed, k) over transactions 1..Seq
	Map tx.Map[poolTag]
}

// poolFlavor changes how the workload stores what it stores: a sweep
// builds a pool twice, the second time with every byte of user data
// different, to learn which bytes of the file are user data (which no
// engine can check without a checksum) and which the engine's own. A
// full-disk run grows the map (see poolOpOf).
type poolFlavor struct {
	mask     uint64 // Seq and Sum are stored xor mask
	valueXor byte   // values are stored xor valueXor
	grow     bool
}

// poolOptions are the options every pool of the torture is opened with.
func poolOptions(size int64, random io.Reader) *tx.Options {
	return &tx.Options{Layout: "crashsim-torture", Size: size, LogSize: tx.MinLogSize, Rand: random}
}

// openPool opens the pool name, or creates it if there is none.
func openPool(fsys engine.FS, name string, size int64, random io.Reader) (*tx.Pool[poolTag, poolRoot], error) {
	p, err := tx.Open[poolTag, poolRoot](fsys, name, poolOptions(size, random))
	if errors.Is(err, fs.ErrNotExist) {
		p, err = tx.Create[poolTag, poolRoot](fsys, name, poolOptions(size, random))
	}
	return p, err
}

// commitPoolOp runs transaction k of the campaign of seed.
func commitPoolOp(p *tx.Pool[poolTag, poolRoot], seed, k uint64, fl poolFlavor) error {
	root := p.Root()
	return p.Update(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Seq^fl.mask != k-1 && !(k == 1 && r.Seq == 0) {
			return fmt.Errorf("torture: transaction %d on a pool at %d", k, r.Seq^fl.mask)
		}
		if r.Map.IsNil() {
			if r.Map, err = tx.NewMap(t); err != nil {
				return err
			}
		}
		op := poolOpOf(seed, k, fl.grow)
		if op.delete {
			_, err = r.Map.Delete(t, []byte(op.key))
		} else {
			v := poolValue(seed, k)
			for i := range v {
				v[i] ^= fl.valueXor
			}
			err = r.Map.Put(t, []byte(op.key), v)
		}
		if err != nil {
			return err
		}
		sum := r.Sum ^ fl.mask
		if k == 1 {
			sum = 0
		}
		r.Seq, r.Sum = k^fl.mask, (sum+mix(seed, k))^fl.mask
		return root.Set(t, r)
	})
}

// poolSnapshot is what a View shows of the workload's pool.
type poolSnapshot struct {
	Seq, Sum uint64
	Len      int               // the map's Len
	Map      map[string][]byte // what Range returns
	// Misses are keys Range returns that Get does not find, or finds
	// with another value.
	Misses []string
}

// readPool reads the whole workload state of p in one View.
func readPool(p *tx.Pool[poolTag, poolRoot], fl poolFlavor) (poolSnapshot, error) {
	var s poolSnapshot
	root := p.Root()
	err := p.View(func(t *tx.Tx[poolTag]) error {
		s = poolSnapshot{Map: map[string][]byte{}}
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Seq != 0 || r.Sum != 0 { // zero is a new pool's root, whatever the flavor
			s.Seq, s.Sum = r.Seq^fl.mask, r.Sum^fl.mask
		}
		if r.Map.IsNil() {
			return nil
		}
		if s.Len, err = r.Map.Len(t); err != nil {
			return err
		}
		err = r.Map.Range(t, func(k, v []byte) bool {
			for i := range v {
				v[i] ^= fl.valueXor
			}
			s.Map[string(k)] = v
			return len(s.Map) <= maxMapLen // a runaway Range is judged wrong, not followed
		})
		if err != nil {
			return err
		}
		for k, want := range s.Map {
			v, ok, err := r.Map.Get(t, []byte(k))
			if err != nil {
				return err
			}
			for i := range v {
				v[i] ^= fl.valueXor
			}
			if !ok || !bytes.Equal(v, want) {
				s.Misses = append(s.Misses, k)
			}
		}
		slices.Sort(s.Misses)
		return nil
	})
	return s, err
}

// maxMapLen bounds what readPool takes from a Range.
const maxMapLen = 1 << 20

// maxSeq bounds the transactions of a campaign, so that a damaged Seq is
// not taken for a model to compute.
const maxSeq = 1 << 32

// judgePool says how s differs from the model after s.Seq transactions:
// nil if it does not.
func judgePool(seed uint64, s poolSnapshot) error {
	return judgePoolWith(newPoolModel(seed, false), s)
}

// judgePoolWith is judgePool with a model to advance.
func judgePoolWith(m *poolModel, s poolSnapshot) error {
	if s.Seq > maxSeq {
		return fmt.Errorf("Seq %d, more transactions than any run commits", s.Seq)
	}
	m = m.at(s.Seq)
	seed, model := m.seed, m.keys
	var bad []string
	if s.Sum != m.sum {
		bad = append(bad, fmt.Sprintf("Sum %#x, want %#x after %d transactions", s.Sum, m.sum, s.Seq))
	}
	if s.Len != len(model) {
		bad = append(bad, fmt.Sprintf("Len %d, want %d", s.Len, len(model)))
	}
	for _, key := range sortedKeys(model) {
		v, ok := s.Map[key]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s missing (put by transaction %d)", key, model[key]))
		case !bytes.Equal(v, poolValue(seed, model[key])):
			bad = append(bad, fmt.Sprintf("%s holds %d bytes that transaction %d did not write", key, len(v), model[key]))
		}
	}
	for _, key := range sortedKeys(s.Map) {
		if _, ok := model[key]; !ok {
			bad = append(bad, fmt.Sprintf("%q present, deleted or never put", key))
		}
	}
	if len(s.Misses) > 0 {
		bad = append(bad, fmt.Sprintf("Get does not find what Range returns for %q", s.Misses))
	}
	if len(bad) == 0 {
		return nil
	}
	if len(bad) > 4 {
		bad = append(bad[:4], fmt.Sprintf("and %d more differences", len(bad)-4))
	}
	return fmt.Errorf("after %d transactions: %s", s.Seq, strings.Join(bad, "; "))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// poolTyped reports whether err says damage in the words of the pool's
// packages (tx.ErrCorrupt, ErrCheck, ErrPointer, alloc's ErrCorrupt): the
// typed errors a damaged pool may give.
func poolTyped(err error) bool {
	return errors.Is(err, tx.ErrCorrupt) || errors.Is(err, tx.ErrCheck) || errors.Is(err, tx.ErrPointer) ||
		errors.Is(err, alloc.ErrCorrupt) || errors.Is(err, alloc.ErrNotAllocated)
}

// seeded returns a deterministic source of bytes for a pool's UUID and
// map seeds.
func seeded(seed uint64) io.Reader { return rand.NewChaCha8(chachaSeed(seed)) }

func chachaSeed(seed uint64) [32]byte {
	var s [32]byte
	for i := range 4 {
		w := mix(seed, uint64(i)+0x5eed)
		for j := range 8 {
			s[8*i+j] = byte(w >> (8 * j))
		}
	}
	return s
}
