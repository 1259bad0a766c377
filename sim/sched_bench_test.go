package sim

import (
	"sync"
	"testing"
)

// BenchmarkThreadSwitch measures what the scheduler costs a thread
// (docs/BENCHMARKS.md, issue 11 section 5), per scheduling point and per
// switch — a point where the turn went to another thread than the one
// that could have gone on — for the ways threads hand the turn over:
//
//   - yield: two threads at Env.Yield, the random scheduler choosing at
//     every point (as at every storage operation);
//   - sim-mutex: two threads taking turns through a sim.Mutex and a
//     sim.Cond, which the scheduler sees;
//   - go-channel: two threads taking turns through an unbuffered Go
//     channel, which the scheduler does not see (it learns from the
//     runtime that the holder blocked: see sched.settle and watch), each
//     at Env.Yield before its turn, as a thread at a storage operation;
//   - solo: one thread alone at Env.Yield, the fast path;
//   - bare-goroutines: two goroutines taking turns through a channel,
//     with no scheduler: the floor a switch between goroutines costs.
//
// ns/op is per round (one step of each thread), or per point for solo;
// ns/switch divides the time by the turns that went to another thread,
// whatever made them go (handoffs), points/op counts the scheduler's
// decisions, and looks/switch the tracebacks of every goroutine the
// scheduler took per switch (sched.traceback), each of which stops the
// world.
func BenchmarkThreadSwitch(b *testing.B) {
	b.Run("yield", func(b *testing.B) {
		benchThreads(b, func(env *Env, n int) error {
			t := env.Go(func(env *Env) error {
				for range n {
					env.Yield()
				}
				return nil
			})
			for range n {
				env.Yield()
			}
			return t.Wait()
		})
	})
	b.Run("sim-mutex", func(b *testing.B) {
		benchThreads(b, func(env *Env, n int) error {
			var mu Mutex
			cond := &Cond{L: &mu}
			turn := 0
			play := func(me int) {
				mu.Lock()
				for range n {
					for turn != me {
						cond.Wait()
					}
					turn = 1 - me
					cond.Signal()
				}
				mu.Unlock()
			}
			t := env.Go(func(env *Env) error { play(1); return nil })
			play(0)
			return t.Wait()
		})
	})
	b.Run("go-channel", func(b *testing.B) {
		benchThreads(b, func(env *Env, n int) error {
			ping, pong := make(chan int), make(chan int)
			t := env.Go(func(env *Env) error {
				for range n {
					env.Yield()
					pong <- <-ping
				}
				return nil
			})
			for i := range n {
				env.Yield()
				ping <- i
				<-pong
			}
			return t.Wait()
		})
	})
	b.Run("solo", func(b *testing.B) {
		benchThreads(b, func(env *Env, n int) error {
			for range n {
				env.Yield()
			}
			return nil
		})
	})
	b.Run("bare-goroutines", func(b *testing.B) {
		ping, pong := make(chan int), make(chan int)
		var wg sync.WaitGroup
		wg.Go(func() {
			for range b.N {
				pong <- <-ping
			}
		})
		for i := range b.N {
			ping <- i
			<-pong
		}
		wg.Wait()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/switch")
	})
}

// benchThreads runs f(env, b.N) as the workload of a machine of its own,
// and reports the scheduler's decisions per op and time per handoff.
func benchThreads(b *testing.B, f func(env *Env, n int) error) {
	m := NewMachine()
	b.ResetTimer()
	if err := m.Run(1, func(env *Env) error { return f(env, b.N) }); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	s := m.sched.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	b.ReportMetric(float64(s.decisions)/float64(b.N), "points/op")
	if s.handoffs > 1 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(s.handoffs), "ns/switch")
		b.ReportMetric(float64(s.looks)/float64(s.handoffs), "looks/switch")
	}
}

// BenchmarkGoroutines measures one look at the runtime (goroutines: a
// traceback of every goroutine, which stops the world), the step a
// switch through a Go primitive cannot do without.
func BenchmarkGoroutines(b *testing.B) {
	for b.Loop() {
		if len(goroutines()) == 0 {
			b.Fatal("no goroutines")
		}
	}
}
