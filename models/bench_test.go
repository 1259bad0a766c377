package models

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// benchClients and benchOps size the benchmarks' history: a counter
// shared by benchClients clients, benchOps operations each, overlapping.
const (
	benchClients = 4
	benchOps     = 60
)

// counterHistory builds a linearizable history of adds and reads on a
// counter, seeded: at each step one client either calls an operation
// (which takes effect at once, its linearization point) or returns the
// one it has in flight, so that operations of different clients overlap.
// It returns the History and the final value, the recovered state of a
// crash after the last return.
func counterHistory(seed uint64) (*History, uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	h := NewHistory()
	var value uint64
	type flight struct {
		id  int
		out uint64
	}
	inFlight := map[int]*flight{}
	done := make([]int, benchClients)
	for {
		var live []int
		for c := range benchClients {
			if done[c] < benchOps || inFlight[c] != nil {
				live = append(live, c)
			}
		}
		if len(live) == 0 {
			return h, value
		}
		c := live[rng.IntN(len(live))]
		if f := inFlight[c]; f != nil {
			h.Return(f.id, f.out)
			delete(inFlight, c)
			done[c]++
			continue
		}
		if rng.IntN(2) == 0 {
			value++
			inFlight[c] = &flight{h.Call(c, CounterAdd{Delta: 1}), value}
		} else {
			inFlight[c] = &flight{h.Call(c, CounterRead{}), value}
		}
	}
}

// nativeCounter is the counter written for porcupine directly, as a user
// of porcupine alone would: the recovered state is a read that never
// returns.
var nativeCounter = porcupine.Model{
	Init: func() any { return uint64(0) },
	Step: func(state, input, output any) (bool, any) {
		v := state.(uint64)
		switch in := input.(type) {
		case CounterAdd:
			return output.(uint64) == v+in.Delta, v + in.Delta
		case CounterRead:
			return output.(uint64) == v, v
		}
		return false, v
	},
	Equal: func(a, b any) bool { return a.(uint64) == b.(uint64) },
}

// nativeOperations is h for nativeCounter, with the observation of
// CheckDurable as a read of the recovered value after every operation.
func nativeOperations(h *History, observed uint64) []porcupine.Operation {
	ops := append([]porcupine.Operation(nil), h.ops...)
	return append(ops, porcupine.Operation{ClientId: benchClients, Input: CounterRead{}, Output: observed, Call: h.clock + 1, Return: never - 1})
}

// BenchmarkCheckDurable is the laboratory's check of a history
// (CheckDurable: the adapted model, the history turned into porcupine's
// operations, the observation added); BenchmarkPorcupineAlone is
// porcupine on the same history with a model written for it. Their
// ratio is the adapter's cost (docs/BENCHMARKS.md, issue 11 section 5:
// at most 1.2).
func BenchmarkCheckDurable(b *testing.B) {
	h, value := counterHistory(1)
	m := Counter()
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if v := CheckDurable(m, h, value, false, 0); v.Result != porcupine.Ok {
			b.Fatalf("%v: %s", v.Result, v.Problem)
		}
	}
	reportCPU(b, start)
}

// reportCPU reports the process's CPU time per operation since start
// (cpu-ns/op), the figure to compare on a machine shared with other work.
func reportCPU(b *testing.B, start time.Duration) {
	if d := cpuTime() - start; d > 0 {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkPorcupineAlone(b *testing.B) {
	h, value := counterHistory(1)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if !porcupine.CheckOperations(nativeCounter, nativeOperations(h, value)) {
			b.Fatal("not linearizable")
		}
	}
	reportCPU(b, start)
}

// TestBenchmarkHistoryIsJudged: the benchmarks' history is linearizable
// for both checks, and a wrong recovered value is not, for both: they
// judge the same thing.
func TestBenchmarkHistoryIsJudged(t *testing.T) {
	h, value := counterHistory(1)
	if h.Len() != benchClients*benchOps {
		t.Fatalf("%d operations, want %d", h.Len(), benchClients*benchOps)
	}
	for _, c := range []struct {
		observed uint64
		ok       bool
	}{{value, true}, {value - 1, false}, {value + 1, false}} {
		ours := CheckDurable(Counter(), h, c.observed, false, 0).Result == porcupine.Ok
		alone := porcupine.CheckOperations(nativeCounter, nativeOperations(h, c.observed))
		if ours != c.ok || alone != c.ok {
			t.Errorf("recovered %d: CheckDurable %v, porcupine alone %v, want %v", c.observed, ours, alone, c.ok)
		}
	}
}
