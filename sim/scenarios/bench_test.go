package scenarios

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/sim"
)

// BenchmarkExploreScaling measures the explorer on the engine's own
// scenarios — transactions on a persistent hash map (on persistent memory
// and on a mapped file) and the persistent allocator — whose recoveries
// open a pool, roll back its log and walk it, as a user's would: the rate
// of judged states with one and with two workers, at one crash (what
// BenchmarkExploreDepth adds at two). sim's BenchmarkExplore measures the
// same on a synthetic log beside a bare recovery loop.
func BenchmarkExploreScaling(b *testing.B) {
	for _, name := range []string{"pool-map", "pool-map-file", "pool-alloc"} {
		sc, ok := Lookup(name)
		if !ok {
			b.Fatalf("no scenario %s", name)
		}
		for _, workers := range []int{1, 2} {
			b.Run(name+"/workers="+strconv.Itoa(workers), func(b *testing.B) {
				opts := sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 1024, Workers: workers, CrashDepth: 1}
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

// BenchmarkShards measures what a shard saves: one exploration of each
// engine scenario whole, and as each of four shards (one worker each, as
// four machines would run them side by side). A sharded run takes as long
// as its slowest shard; every shard builds every image and recovers a
// quarter of them. Besides the time, it reports the CPU time of the
// process per exploration, which a busy machine inflates far less.
func BenchmarkShards(b *testing.B) {
	for _, name := range []string{"pool-map", "pool-alloc"} {
		sc, ok := Lookup(name)
		if !ok {
			b.Fatalf("no scenario %s", name)
		}
		shards := []sim.Shard{{}, {I: 0, N: 4}, {I: 1, N: 4}, {I: 2, N: 4}, {I: 3, N: 4}}
		for _, sh := range shards {
			label := "whole"
			if sh.N > 1 {
				label = "shard=" + strconv.Itoa(sh.I) + "of" + strconv.Itoa(sh.N)
			}
			b.Run(name+"/"+label, func(b *testing.B) {
				opts := sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 1024, Workers: 1, Shard: sh, CrashDepth: 1}
				cpu := cpuTime(b)
				for b.Loop() {
					res, err := sim.Explore(sc, opts)
					if err != nil || !res.OK() {
						b.Fatal(err, res.Violations)
					}
				}
				b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkExploreDepth measures what crash depth 2, the default of a
// scenario with a continuation, costs beside one crash: an exploration of
// each engine scenario at depth 1 and at the default (MaxChains
// continuations, each giving at most ChainStates crash states), with the
// CPU time of the process per exploration and the states judged after a
// recovery.
func BenchmarkExploreDepth(b *testing.B) {
	for _, name := range []string{"wal-batch", "pool-map", "pool-alloc"} {
		sc, ok := Lookup(name)
		if !ok {
			b.Fatalf("no scenario %s", name)
		}
		for _, fault := range sim.Faults {
			if !sc.Applies(fault) {
				continue
			}
			for _, depth := range []int{1, 2} {
				b.Run(name+"/"+fault.String()+"/depth="+strconv.Itoa(depth), func(b *testing.B) {
					opts := sim.Options{Fault: fault, CrashDepth: depth}
					cpu := cpuTime(b)
					later := 0
					for b.Loop() {
						res, err := sim.Explore(sc, opts)
						if err != nil || !res.OK() {
							b.Fatal(err, res.Violations)
						}
						later = res.ContinuationStates
					}
					b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
					b.ReportMetric(float64(later), "later-states")
				})
			}
		}
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkThreads measures what threads cost an exploration (issue 11
// section 5): crash states judged per second of wal-group's workload —
// four threads appending two entries each to one WAL, each made durable
// by FlushAndSync, whose fsyncs they share — against the same eight
// appends by one thread, each run under one schedule, one worker, one
// crash. The four threads hand the turn over at every storage operation
// and marker, and wait for each other on the WAL's sync.Cond, which the
// scheduler learns of from the runtime.
func BenchmarkThreads(b *testing.B) {
	for _, fault := range []sim.Fault{sim.ProcessCrash, sim.PowerFailure} {
		for _, threads := range []int{4, 1} {
			entries := 2 * 4 / threads
			sc := walScenario("wal-threads", "", func(env *sim.Env, fsys engine.FS) error {
				return walGroup(env, fsys, walOptions(), threads, entries)
			}, nil)
			b.Run(fmt.Sprintf("%v/threads=%d", fault, threads), func(b *testing.B) {
				opts := sim.Options{Fault: fault, MaxStates: 64, Workers: 1, CrashDepth: 1}
				states, points := 0, 0
				for b.Loop() {
					res, err := sim.Explore(sc, opts)
					if err != nil || !res.OK() {
						b.Fatal(err, res.RunError, res.Violations)
					}
					states += res.Unique
					points += res.CrashPoints
				}
				b.ReportMetric(float64(states)/b.Elapsed().Seconds(), "states/s")
				b.ReportMetric(float64(points)/float64(b.N), "points/op")
			})
		}
	}
}
