package sim

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
)

// A naive reference enumerator written directly from docs/DESIGN.md section 4
// (F2, persistent memory), to check the crash states the explorer builds:
//
//   - the failure-atomic unit is an aligned 8-byte word;
//   - stores to one 64-byte line reach media in program order, so after a
//     crash a line holds a prefix of the stores made to it since it was last
//     made durable; lines are independent;
//   - a line is durable once a Flush covering it is followed by a Drain: the
//     Drain makes durable what the line held when it was flushed;
//   - an unflushed line may be written back at any moment.
//
// Strategy Prefixes keeps, for each cut between two operations in program
// order, every store before it.
//
// Crash points are just before each Drain, and at the end.

const (
	refRegion = 256 // four lines
	refFile   = "/pmem/ref"
)

type refOp struct {
	kind string // "store", "flush", "drain"
	off  int64  // word-aligned for stores, line-aligned for flushes
	n    int64  // bytes: 8 or 16 for stores, a multiple of 64 for flushes
	val  byte
}

func (o refOp) String() string { return fmt.Sprintf("%s@%d+%d=%d", o.kind, o.off, o.n, o.val) }

// refStore is one 8-byte word store.
type refStore struct {
	seq  int // program order
	word int64
	val  byte
}

// refMachine is the reference's state: durable lines, and per line the
// word stores since it was last durable.
type refMachine struct {
	durable [refRegion]byte
	pending [refRegion / 64][]refStore
	flushed map[int]int // line -> how many of its pending stores a Flush covered
	seq     int
}

func newRefMachine() *refMachine { return &refMachine{flushed: map[int]int{}} }

func (m *refMachine) apply(op refOp) {
	switch op.kind {
	case "store":
		// In-order prefixes cut between operations: a 16-byte store's two
		// words share its place in program order.
		m.seq++
		for w := op.off; w < op.off+op.n; w += 8 {
			l := w / 64
			m.pending[l] = append(m.pending[l], refStore{m.seq, w, op.val})
		}
	case "flush":
		for l := op.off / 64; l < (op.off+op.n)/64; l++ {
			m.flushed[int(l)] = len(m.pending[l])
		}
	case "drain":
		for l, n := range m.flushed {
			for _, s := range m.pending[l][:n] {
				fill(m.durable[s.word:s.word+8], s.val)
			}
			m.pending[l] = slices.Clone(m.pending[l][n:])
		}
		m.flushed = map[int]int{}
	}
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// image is the durable state with prefix k[l] of each line's pending stores.
func (m *refMachine) image(k []int) string {
	img := m.durable
	for l, stores := range m.pending {
		for _, s := range stores[:k[l]] {
			fill(img[s.word:s.word+8], s.val)
		}
	}
	return string(img[:])
}

// states returns the crash images the strategy allows now.
func (m *refMachine) states(s Strategy) map[string]bool {
	out := map[string]bool{}
	k := make([]int, len(m.pending))
	switch s {
	case DropAll:
		out[m.image(k)] = true
	case KeepAll:
		for l := range k {
			k[l] = len(m.pending[l])
		}
		out[m.image(k)] = true
	case Prefixes:
		for cut := 0; cut <= m.seq; cut++ {
			for l, stores := range m.pending {
				k[l] = 0
				for _, st := range stores {
					if st.seq <= cut {
						k[l]++
					}
				}
			}
			out[m.image(k)] = true
		}
	case Subsets:
		var rec func(l int)
		rec = func(l int) {
			if l == len(k) {
				out[m.image(k)] = true
				return
			}
			for v := 0; v <= len(m.pending[l]); v++ {
				k[l] = v
				rec(l + 1)
			}
		}
		rec(0)
	}
	return out
}

// referenceImages runs ops on the reference and collects the images of
// every crash point (before each drain, at the end), plus the image of the
// start, when nothing has been stored.
func referenceImages(ops []refOp, s Strategy) map[string]bool {
	m := newRefMachine()
	all := m.states(s)
	for _, op := range ops {
		if op.kind == "drain" {
			maps.Copy(all, m.states(s))
		}
		m.apply(op)
	}
	maps.Copy(all, m.states(s))
	return all
}

// traceScenario runs ops on a persistent-memory region and makes recovery
// report every image it sees to seen; its model accepts every state.
func traceScenario(ops []refOp, seen func(string)) *Scenario {
	return &Scenario{
		Name: "reference-trace",
		Model: models.Model{
			Name:  "anything",
			Init:  func() any { return nil },
			Apply: func(s, in any) (any, any) { return s, nil },
			Equal: func(a, b any) bool { return true },
		},
		Run: func(env *Env) error {
			r, done, err := durableRegion(env, refFile, refRegion)
			if err != nil {
				return err
			}
			defer done()
			for _, op := range ops {
				switch op.kind {
				case "store":
					b := make([]byte, op.n)
					fill(b, op.val)
					_, err = r.WriteAt(b, op.off)
				case "flush":
					err = r.Flush(op.off, op.n)
				case "drain":
					err = r.Drain()
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
		Recover: func(env *Env) (any, error) {
			b, err := engine.ReadFile(env.FS, refFile)
			if err == nil && len(b) == refRegion {
				seen(string(b)) // images of the set-up (no file yet) are not the reference's
			}
			return nil, nil
		},
	}
}

func genRefOps(t *rapid.T) []refOp {
	n := rapid.IntRange(1, 14).Draw(t, "ops")
	ops := make([]refOp, n)
	for i := range ops {
		switch rapid.IntRange(0, 5).Draw(t, "kind") {
		case 0, 1, 2:
			size := int64(rapid.SampledFrom([]int{8, 16}).Draw(t, "size"))
			ops[i] = refOp{kind: "store", n: size,
				off: int64(rapid.IntRange(0, int(refRegion-size)/8).Draw(t, "word")) * 8,
				val: byte(rapid.IntRange(1, 255).Draw(t, "val"))}
			if ops[i].off/64 != (ops[i].off+ops[i].n-1)/64 {
				ops[i].off -= 8 // keep a 16-byte store inside one line: the rule is per line
			}
		case 3, 4:
			first := rapid.IntRange(0, 3).Draw(t, "line")
			lines := rapid.IntRange(1, 4-first).Draw(t, "lines")
			ops[i] = refOp{kind: "flush", off: int64(first) * 64, n: int64(lines) * 64}
		default:
			ops[i] = refOp{kind: "drain"}
		}
	}
	return ops
}

// TestExplorerMatchesReference: for small random traces, the set of crash
// images the explorer recovers under each strategy equals the reference's;
// deduplication drops no distinct image.
func TestExplorerMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := genRefOps(t)
		for _, s := range Strategies {
			var mu sync.Mutex
			got := map[string]bool{}
			sc := traceScenario(ops, func(img string) { mu.Lock(); got[img] = true; mu.Unlock() })
			res, err := Explore(sc, Options{Fault: PowerFailure, Strategy: s, MaxStates: 1 << 16, Workers: 2})
			if err != nil || res.RunError != "" || len(res.Violations) > 0 {
				t.Fatalf("%v: %v %s %v", s, err, res.RunError, res.Violations)
			}
			want := referenceImages(ops, s)
			// The explorer also recovers the images of the set-up's crash
			// points; with no store made yet those are all zeros, which
			// the reference has as its start.
			if !maps.Equal(got, want) {
				t.Fatalf("%v on %v:\nexplorer %d images: %v\nreference %d images: %v", s, ops, len(got), keys(got), len(want), keys(want))
			}
			if res.Unique < len(want) {
				t.Fatalf("%v: %d unique images for %d distinct states", s, res.Unique, len(want))
			}
		}
	})
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		var words []string
		for w := 0; w < len(k); w += 8 {
			words = append(words, fmt.Sprint(k[w]))
		}
		out = append(out, fmt.Sprint(words))
	}
	sort.Strings(out)
	return out
}

// TestWorkersDoNotChangeResults: the result of a run is a function of the
// scenario, the options and the seed — never of the number of workers.
func TestWorkersDoNotChangeResults(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := genRefOps(t)
		sc := traceScenario(ops, func(string) {})
		sc.Model = models.Register() // rejects most images: violations to compare
		sc.Recover = func(env *Env) (any, error) {
			b, err := engine.ReadFile(env.FS, refFile)
			if err != nil || len(b) < 8 {
				return uint64(0), nil
			}
			return uint64(b[0]), nil
		}
		opts := Options{Fault: PowerFailure, Strategy: rapid.SampledFrom(Strategies).Draw(t, "strategy"), Seed: rapid.Uint64().Draw(t, "seed"), MaxStates: 8}
		var results []*Result
		for _, w := range []int{1, 2, 4} {
			opts.Workers = w
			res, err := Explore(sc, opts)
			if err != nil {
				t.Fatal(err)
			}
			res.Elapsed = 0
			results = append(results, res)
		}
		for _, r := range results[1:] {
			if fmt.Sprintf("%+v", r) != fmt.Sprintf("%+v", results[0]) {
				t.Fatalf("results differ with workers:\n%+v\n%+v", results[0], r)
			}
		}
	})
}
