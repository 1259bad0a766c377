package scenarios

import (
	"strconv"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// BenchmarkExploreScaling measures the explorer on the engine's own
// scenarios — transactions on a persistent hash map (on persistent memory
// and on a mapped file) and the persistent allocator — whose recoveries
// open a pool, roll back its log and walk it, as a user's would: the rate
// of judged states with one and with two workers. sim's BenchmarkExplore
// measures the same on a synthetic log beside a bare recovery loop.
func BenchmarkExploreScaling(b *testing.B) {
	for _, name := range []string{"pool-map", "pool-map-file", "pool-alloc"} {
		sc, ok := Lookup(name)
		if !ok {
			b.Fatalf("no scenario %s", name)
		}
		for _, workers := range []int{1, 2} {
			b.Run(name+"/workers="+strconv.Itoa(workers), func(b *testing.B) {
				opts := sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 1024, Workers: workers}
				states := 0
				for b.Loop() {
					res, err := sim.Explore(sc, opts)
					if err != nil || !res.OK() {
						b.Fatal(err, res.Violations)
					}
					states += res.Unique
				}
				b.ReportMetric(float64(states)/b.Elapsed().Seconds(), "states/s")
			})
		}
	}
}
