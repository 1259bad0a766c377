package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/crashsim/crashsim/engine"
)

// Thread is a simulated thread: a goroutine that the machine's scheduler
// runs one at a time with the others (see the package doc, "Threads and
// the scheduler"). Env.Go and Process.Go start one; a goroutine the
// program starts itself becomes one at its first storage operation.
type Thread struct {
	t *thread
	s *sched
}

// ID returns the thread's number on its machine: 0 for the workload's
// first thread (the one that runs Scenario.Run), then in the order they
// start.
func (th *Thread) ID() int { return th.t.id }

// Wait waits until the thread returns, and returns what its function
// returned. The waiting thread blocks in the scheduler, which runs the
// others meanwhile. It must be called from a thread of the same machine.
func (th *Thread) Wait() error {
	s := th.s
	me := s.point(th.t.proc, atYield)
	s.mu.Lock()
	defer s.mu.Unlock()
	th.t.waited = true
	for th.t.state != finished {
		if me == nil { // the workload is over: nothing will end it
			return fmt.Errorf("%w: %v was still running when the workload ended", ErrKilled, th.t)
		}
		th.t.joiners = append(th.t.joiners, me)
		s.block(me, fmt.Sprintf("Wait for %v", th.t))
	}
	if err := th.t.err; err != nil && th.t.labKilled() && !errors.Is(err, ErrKilled) {
		// Its process was killed (ProcessKill): what its goroutine made
		// of the failing calls after is not the process's doing.
		return fmt.Errorf("%w: %v, whose process was killed, returned: %v", ErrKilled, th.t, err)
	}
	return th.t.err
}

// Go starts f in a new thread of the calling thread's process, with an
// Env of its own: the same file system, its own Rand (seeded from the
// run's seed and the thread's number), and its own client number
// (Env.Client) for the markers it makes. The new thread runs when the
// scheduler gives it a turn. On a machine without a scheduler — a
// recovery's, or one a test made with NewMachine — the first Go makes
// one, whose first thread is the caller.
func (e *Env) Go(f func(env *Env) error) *Thread {
	return e.proc.goWith(e.FS, f)
}

// Go starts f in a new thread of process p: its Env's file system is
// p's. Threads of several processes run side by side on one machine, one
// at a time, as Env.Go's do.
func (p *Process) Go(f func(env *Env) error) *Thread {
	return p.goWith(p.FS(), f)
}

func (p *Process) goWith(fsys engine.FS, f func(env *Env) error) *Thread {
	s := p.m.scheduler()
	s.point(p, atYield)
	s.mu.Lock()
	defer s.mu.Unlock()
	env := &Env{FS: fsys, proc: p, ck: p.m.ck}
	t := s.spawnLocked(p, "", f, env)
	return &Thread{t: t, s: s}
}

// Yield is a scheduling point: the scheduler may give the turn to
// another thread here, as at every storage operation and marker. A
// thread that waits for another by polling memory must yield in its
// loop, or no other thread runs.
func (e *Env) Yield() {
	if s := e.proc.m.sched.Load(); s != nil {
		s.point(e.proc, atYield)
	}
}

// Client returns the number of the client the thread's markers belong
// to: its thread's number (0 for the workload's first thread). Each
// thread's Invoke and Return are its own client's, in call and return
// order (docs/DESIGN.md section 6).
func (e *Env) Client() int {
	if e.thread == nil {
		return 0
	}
	return e.thread.id
}

// ClockOrigin is the simulated clock's origin, the time Env.Now gives before
// any thread slept: 2000-01-01 UTC, as Go's testing/synctest chose.
var ClockOrigin = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Now returns the machine's simulated time: ClockOrigin plus every sleep the
// scheduler has waited out. It moves only when no thread can run but
// some sleep — to the earliest wake time — so time-based behaviour
// (timeouts, TTLs) replays exactly.
func (e *Env) Now() time.Time { return e.proc.m.Now() }

// Now returns the machine's simulated time (see Env.Now).
func (m *Machine) Now() time.Time {
	s := m.sched.Load()
	if s == nil {
		return ClockOrigin
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return ClockOrigin.Add(s.now)
}

// Sleep makes the calling thread sleep d of simulated time: it runs again
// once the clock reached its wake time and the scheduler picks it. A
// sleep of 0 or less is a yield.
func (e *Env) Sleep(d time.Duration) {
	s := e.proc.m.scheduler()
	me := s.point(e.proc, atYield)
	if d <= 0 || me == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	me.until = s.now + d
	s.setState(me, sleeping)
	me.wait = fmt.Sprintf("Sleep until %v", ClockOrigin.Add(me.until).Format(time.StampMicro))
	s.await(me)
}

// After returns a channel that receives the simulated time once d of it
// has passed: a thread of its own sleeps d and sends it, so that a
// receive is woken as Go wakes it, by that thread's send.
func (e *Env) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	e.Go(func(env *Env) error {
		env.Sleep(d)
		c <- env.Now()
		return nil
	})
	return c
}

// AfterFunc runs f in a thread of its own once d of simulated time has
// passed.
func (e *Env) AfterFunc(d time.Duration, f func(env *Env)) *Thread {
	return e.Go(func(env *Env) error {
		env.Sleep(d)
		f(env)
		return nil
	})
}

// Run runs f as the first thread of the machine's first process (started
// if none), under a scheduler of the random strategy seeded with seed,
// as the explorer runs a workload, and returns when f returns: threads
// still running then find every operation failing, their processes
// killed, and end. It returns f's error, or the scheduler's if no thread
// could go on (a deadlock). Use it to run threads on a machine of one's
// own (NewMachine); a machine runs at most one Run, and no other threads.
func (m *Machine) Run(seed uint64, f func(env *Env) error) error {
	m.mu.Lock()
	var p *Process
	if len(m.procs) > 0 {
		p = m.procs[0]
	}
	m.mu.Unlock()
	if p == nil {
		p = m.Start("main")
	}
	m.seed = seed
	s := newSched(m, newPlan(RandomScheduler, scheduleSeed(seed, 0), 0, 0, 0))
	if !m.sched.CompareAndSwap(nil, s) {
		s.close()
		return fmt.Errorf("%w: the machine already runs threads", ErrUsage)
	}
	main := s.start(p, "", f, m.envFor(p, nil))
	<-s.done
	s.mu.Lock()
	err, failure := main.err, s.failure
	s.mu.Unlock()
	m.endThreads()
	if err == nil && failure != "" {
		err = errors.New(failure)
	}
	return err
}

// scheduler returns the machine's scheduler, making one whose first
// thread is the caller if it has none: a recovery's machine, when the
// recovery starts a thread (the explorer ends them when it returns).
// Elsewhere, use Machine.Run.
func (m *Machine) scheduler() *sched {
	if s := m.sched.Load(); s != nil {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sched.Load(); s != nil {
		return s
	}
	var p *Process
	if len(m.procs) > 0 {
		p = m.procs[0]
	}
	s := newSched(m, newPlan(RandomScheduler, m.seed, 0, 0, 0))
	s.adoptCaller(p)
	m.sched.Store(s)
	return s
}

// adoptCaller makes the calling goroutine thread 0, holding the turn: a
// machine that had no scheduler until its code started a thread. The
// goroutines that existed before are not the program's threads.
func (s *sched) adoptCaller(p *Process) {
	g, id := getg(), goid()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.before = map[int64]bool{}
	for _, gr := range goroutines() {
		s.before[gr.id] = true
	}
	t := &thread{s: s, id: 0, proc: p, g: g, goid: id, wake: make(chan struct{}, 1), state: running, outside: true}
	t.env = s.m.envFor(p, t)
	s.threads = append(s.threads, t)
	s.byG[g], s.byGoid[id] = t, t
	threads.Store(g, t)
	s.plan.born(t)
	s.holder = t
	s.holderID.Store(0)
	s.maxThreads = 1
	s.created = goroutinesCreated()
}

// threadRand is the Rand of thread id: thread 0's is the workload's
// (Env.Rand as it always was), each other's its own stream of the run's
// seed.
func (m *Machine) threadRand(id int) *rand.Rand {
	return rand.New(rand.NewPCG(m.seed, 0x776f726b6c6f6164+uint64(id)))
}

// envFor returns the Env of thread t (nil: not known yet) of process p.
func (m *Machine) envFor(p *Process, t *thread) *Env {
	e := &Env{proc: p, ck: m.ck, thread: t}
	if p != nil {
		e.FS = p.FS()
	}
	if t != nil {
		e.Rand = m.threadRand(t.id)
	}
	return e
}

// Unscheduled runs f in a goroutine that no machine's scheduler runs, and
// returns when f does: f and the goroutines it starts, directly or not,
// are no threads even when the caller is one. A storage operation of
// theirs runs at once, on behalf of the thread that holds the turn,
// without a scheduling point: it is what a server does that answers a
// thread blocked in a real system call — the FUSE mount's (package
// mount), whose goroutines carry out the calls of the workload's os.*
// and of its child processes on the simulated disk. The thread that
// holds the turn keeps it while it waits in the system call, so the
// operations that answer it happen in its turn, in the order it asked
// for them.
func Unscheduled(f func()) {
	done := make(chan struct{})
	go unscheduled(f, done)
	<-done
}

// unscheduledFn is the function that starts Unscheduled's goroutine, as
// a traceback names its creator: a scheduler that sees the goroutine
// before it registered itself leaves it alone.
const unscheduledFn = "/sim.Unscheduled"

// unscheduledGoroutines holds the ids of goroutines known to be no
// threads (Unscheduled's, and those sched.unscheduled found), of any
// machine. A goroutine id is never reused.
var unscheduledGoroutines sync.Map // int64 -> bool

func isUnscheduled(id int64) bool {
	_, ok := unscheduledGoroutines.Load(id)
	return ok
}

func unscheduled(f func(), done chan struct{}) {
	defer close(done)
	unscheduledGoroutines.Store(goid(), true)
	f()
}
