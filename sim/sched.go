package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sched runs the simulated threads of one machine one at a time (see the
// package doc, "Threads and the scheduler"). A thread holds the turn while
// it runs; at each scheduling point — every storage operation, marker and
// yield — it asks the scheduler who runs next, and gives its turn away or
// keeps it. Threads are goroutines: the one whose turn it is runs, every
// other one is parked at a scheduling point (waiting on its own channel),
// waits on one of the scheduler's primitives, sleeps on the simulated
// clock, or is blocked on a Go primitive of the program.
//
// The last kind is what the scheduler cannot see directly: a thread
// blocked on a sync.Mutex, a sync.Cond or a channel waits for another
// thread without passing a scheduling point. The scheduler learns it from
// the runtime (goroutines.go): a watchdog notices a turn that makes no
// progress and hands the turn on if its thread waits for another
// goroutine; and a thread that such a primitive wakes runs outside any
// turn until it reaches a scheduling point (where it parks) or blocks
// again, so before every decision the scheduler waits until none runs
// that way (settle). Which thread runs next therefore never depends on
// timing: only on which threads are parked, which the program's own
// logic decides — as long as wake-ups do not race (see the package doc
// for the line).
//
// A goroutine that is no thread (Unscheduled's, or one no thread
// started) is not scheduled at all: its operations pass their scheduling
// points at once (see point and unscheduled), and look leaves it out, so
// settle never waits for it.
type sched struct {
	m    *Machine
	plan *plan

	mu      sync.Mutex
	threads []*thread
	byG     map[uintptr]*thread // by runtime descriptor, for threads that reached a scheduling point
	byGoid  map[int64]*thread
	holder  *thread // whose turn it is; nil while nobody's
	// blocked counts the threads blocked on Go primitives, loose those
	// that may run outside a turn; both need a look at the runtime before
	// the next decision.
	blocked, loose int
	created        uint64 // goroutines the process had created when the threads last settled
	now            time.Duration
	decisions      int // decisions made, each after a scheduling point or a thread's end or wait
	choices        int // decisions among more than one thread
	switches       int // decisions that took the turn from a thread that could go on
	maxThreads     int
	schedule       uint64 // digest of the decisions: which thread ran after which step
	note           string // why the run may not be deterministic, from the first decision that saw it
	ended          bool   // the workload is over (see finish)
	stopped        bool   // the exploration stopped: the threads may run at most afterStop more steps
	afterStop      int
	failure        string // a deadlock, or a thread's failure, for Result.RunError
	done           chan struct{}
	halted         chan struct{} // closed once the machine's processes are killed at the end
	arrived        chan struct{} // a loose thread parked: settle looks again
	newcomers      []*thread     // adopted at a scheduling point, waiting for an id (see adopt)

	// looked says the caller of handOff has just seen every thread
	// settled in a traceback (checkHolder): settle need not look again.
	looked bool
	// handoffs counts the decisions that gave the turn to another thread
	// than last, the last to hold it (BenchmarkThreadSwitch).
	handoffs int
	last     *thread
	looks    int // tracebacks taken (traceback)

	progress atomic.Uint64 // scheduling points passed, for the watchdog
	inLab    atomic.Int32  // crash points in progress: the holder is busy in the laboratory
	holderID atomic.Int32  // the holder's id, for the trace, -1 if none
	// solo is the holder when it is the only thread and nothing may run
	// outside its turn: its scheduling points cost one comparison.
	solo atomic.Pointer[thread]
	stop chan struct{}
	// before are the goroutines that existed when a machine's code made
	// its scheduler by starting a thread (Machine.scheduler): not the
	// program's threads.
	before map[int64]bool
}

// threadState is where a thread is.
type threadState int

const (
	runnable  threadState = iota // parked at a scheduling point, waiting for its turn
	running                      // holding the turn
	goBlocked                    // blocked on a Go primitive of the program (as last seen)
	looseRun                     // may run outside a turn: woken by a Go primitive, or new
	waiting                      // blocked on a primitive of the scheduler (Mutex, Cond, Thread.Wait)
	sleeping                     // in Env.Sleep
	finished                     // returned, or gone
)

// pointKind is what a scheduling point is: while threads are blocked on
// Go primitives, those inside a storage operation go first (see eligible).
type pointKind int

const (
	atStart pointKind = iota
	atStorage
	atMarker
	atYield
)

type thread struct {
	s       *sched
	id      int
	name    string
	proc    *Process
	g       uintptr
	goid    int64
	state   threadState
	at      pointKind
	wake    chan struct{}
	prio    int64         // PCT's priority
	until   time.Duration // a sleeper's wake time
	adopted bool          // a goroutine the program started itself
	outside bool          // the goroutine that made the scheduler by starting a thread (Machine.scheduler)
	err     error         // what the thread's function returned
	joiners []*thread     // threads waiting in Thread.Wait for this one
	waited  bool          // a thread called Wait: its error is the waiter's
	wait    string        // what a blocked thread waits on, for a deadlock's report
	env     *Env
}

func (t *thread) String() string {
	if t.name != "" {
		return fmt.Sprintf("thread %d (%s)", t.id, t.name)
	}
	return fmt.Sprintf("thread %d", t.id)
}

// afterStop bounds the steps a stopped exploration lets its threads take:
// their operations fail (the processes are killed) and they normally end
// at once; a thread that retries forever is left parked.
const afterStopSteps = 10000

func newSched(m *Machine, p *plan) *sched {
	s := &sched{
		m: m, plan: p,
		byG: map[uintptr]*thread{}, byGoid: map[int64]*thread{},
		done: make(chan struct{}), halted: make(chan struct{}), arrived: make(chan struct{}, 1), stop: make(chan struct{}),
		created: goroutinesCreated(),
	}
	s.holderID.Store(-1)
	go s.watch()
	return s
}

// start starts the first thread, f, in process p, and waits until the
// workload is over: f returned, or no thread can run. It returns what f
// returned.
func (s *sched) start(p *Process, name string, f func(env *Env) error, env *Env) *thread {
	s.mu.Lock()
	t := s.spawnLocked(p, name, f, env)
	s.handOff(nil)
	s.mu.Unlock()
	return t
}

// spawnLocked starts a thread running f, parked at its start. s.mu is held.
func (s *sched) spawnLocked(p *Process, name string, f func(env *Env) error, env *Env) *thread {
	t := &thread{s: s, id: len(s.threads), name: name, proc: p, wake: make(chan struct{}, 1), at: atStart, env: env}
	env.thread = t
	if env.Rand == nil {
		env.Rand = s.m.threadRand(t.id)
	}
	s.threads = append(s.threads, t)
	s.maxThreads = max(s.maxThreads, s.live())
	s.plan.born(t)
	s.solo.Store(nil)
	registered := make(chan struct{})
	go func() {
		g, id := getg(), goid()
		s.mu.Lock()
		t.g, t.goid = g, id
		s.byG[g], s.byGoid[id] = t, t
		threads.Store(g, t)
		s.mu.Unlock()
		close(registered)
		<-t.wake
		err := runGuarded(func() error { return f(env) })
		s.exit(t, err)
	}()
	// Known by its goid before the spawner's next decision, which must not
	// take it for a goroutine of the program's.
	s.mu.Unlock()
	<-registered
	s.mu.Lock()
	return t
}

func (s *sched) live() int {
	n := 0
	for _, t := range s.threads {
		if t.state != finished {
			n++
		}
	}
	return n
}

// point is a scheduling point of whatever goroutine calls it, before a
// storage operation or a marker of process p (kind says which). It
// returns the caller's thread when it is its turn, or nil for a goroutine
// that calls after the workload ended, which no longer takes turns.
func (s *sched) point(p *Process, kind pointKind) *thread {
	s.progress.Add(1)
	if t := s.solo.Load(); t != nil && t.g == getg() && goroutinesCreated() == s.created {
		return t // one thread, and no goroutine started since: nothing to decide
	}
	g := getg()
	s.mu.Lock()
	t := s.byG[g]
	if t == nil {
		id, creator := selfCreator()
		if s.unscheduled(id, creator) {
			// No thread: its operation runs on behalf of the holder, which
			// may be waiting for it in a real system call (a FUSE
			// server's goroutine answering the workload's os.Open, or a
			// child process's). Waiting for a turn here would deadlock.
			s.mu.Unlock()
			return nil
		}
	}
	if t == nil && !s.ended {
		t = s.adopt(g, p)
	}
	if t == nil || t.state == finished {
		// A goroutine of the program's, or one taken for ended, running
		// after the workload ended: it goes on once the machine's
		// processes are killed, and its operation fails. Scheduling is
		// over for it.
		s.mu.Unlock()
		<-s.halted
		return nil
	}
	if t != s.holder {
		// Outside its turn: woken by a Go primitive, or new. It waits here.
		s.setState(t, runnable)
		t.at = kind
		select {
		case s.arrived <- struct{}{}:
		default:
		}
		s.park(t)
		return t
	}
	s.setState(t, runnable)
	t.at = kind
	if s.handOff(t) != t {
		s.park(t)
		return t
	}
	s.mu.Unlock()
	return t
}

// park waits for t's turn. s.mu is held, and released.
func (s *sched) park(t *thread) {
	s.mu.Unlock()
	<-t.wake
}

// setState moves t to state st, keeping the counts. s.mu is held.
func (s *sched) setState(t *thread, st threadState) {
	switch t.state {
	case goBlocked:
		s.blocked--
	case looseRun:
		s.loose--
	}
	t.state = st
	switch st {
	case goBlocked:
		s.blocked++
	case looseRun:
		s.loose++
	case finished:
		// Its goroutine's descriptor goes to the next goroutine the
		// runtime starts: no longer this thread's.
		if t.g != 0 {
			delete(s.byG, t.g)
			threads.CompareAndDelete(t.g, t)
		}
	}
}

// unscheduled reports whether goroutine id, started by goroutine
// creator, is no thread: Unscheduled's, or one that no thread started,
// directly or through goroutines that are no threads yet — the rule look
// follows. Such a goroutine is remembered, and so are those between it
// and the first that is no thread's. One started through a goroutine
// that ended before any look saw it cannot be traced to a thread, and is
// taken for none. s.mu is held.
func (s *sched) unscheduled(id, creator int64) bool {
	if isUnscheduled(id) {
		return true
	}
	if s.byGoid[creator] != nil {
		return false // a thread's: adopted
	}
	// Walk up the chain of creators, through goroutines started since the
	// last look, to a thread or to a goroutine that is none.
	gs := s.traceback()
	byID := make(map[int64]*goroutine, len(gs))
	for i := range gs {
		byID[gs[i].id] = &gs[i]
	}
	chain := []int64{id}
	for c := creator; ; {
		if s.byGoid[c] != nil && !isUnscheduled(c) {
			return false
		}
		g := byID[c]
		if g == nil || isUnscheduled(c) || s.before[c] || strings.HasSuffix(g.createdBy, unscheduledFn) {
			break // gone, the runtime's, or no thread's
		}
		chain = append(chain, c)
		c = g.creator
	}
	for _, c := range chain {
		unscheduledGoroutines.Store(c, true)
	}
	return true
}

// adopt makes a goroutine that reached a scheduling point without being
// a thread — one the program started itself, such as the engine's
// background work — a thread of process p, the process whose storage it
// called. Its id and priority wait for the next look at the runtime,
// which gives them to every new thread in one order (see look), not in
// the order they happened to arrive. s.mu is held.
func (s *sched) adopt(g uintptr, p *Process) *thread {
	id := goid()
	t := s.byGoid[id]
	if t == nil {
		t = &thread{s: s, id: -1, proc: p, wake: make(chan struct{}, 1), adopted: true, goid: id}
		s.byGoid[id] = t
		s.newcomers = append(s.newcomers, t)
	}
	t.g = g
	s.byG[g] = t
	threads.Store(g, t)
	s.solo.Store(nil)
	return t
}

// exit ends thread t, which returned err.
func (s *sched) exit(t *thread, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setState(t, finished)
	t.err = err
	for _, j := range t.joiners {
		s.ready(j)
	}
	t.joiners = nil
	holder := t == s.holder
	if holder {
		s.holder = nil
		s.holderID.Store(-1)
	}
	switch {
	case t.id == 0:
		s.finish("")
	case holder:
		s.handOff(nil)
	}
}

// ready makes a thread that waits on a primitive of the scheduler
// runnable. s.mu is held.
func (s *sched) ready(t *thread) {
	if t.state == waiting || t.state == sleeping {
		s.setState(t, runnable)
		t.at = atYield
		t.wait = ""
	}
}

// block makes the holder t wait on a primitive of the scheduler (why says
// which) until ready(t), and returns in its next turn. s.mu is held, and
// held again when it returns.
func (s *sched) block(t *thread, why string) {
	s.setState(t, waiting)
	t.wait = why
	s.await(t)
}

// await ends the turn of t, which no longer runs (it waits or sleeps),
// and returns in t's next turn. s.mu is held, and held again when it
// returns.
func (s *sched) await(t *thread) {
	if s.handOff(nil) == t {
		// t was made ready meanwhile (a sleeper whose time came) and got
		// the turn at once: handOff sent it its wake-up, which must not
		// stay for its next park.
		<-t.wake
		return
	}
	s.park(t)
	s.mu.Lock()
}

// handOff ends the current turn: cur, if not nil, is the thread whose
// turn it was, parked at a scheduling point. It waits until no thread
// runs outside a turn, picks the next thread and gives it the turn — cur
// itself, maybe — and returns it, or nil if no thread can run. s.mu is
// held (settling releases it for a while).
func (s *sched) handOff(cur *thread) *thread {
	if s.ended {
		s.holder = nil
		s.holderID.Store(-1)
		return nil
	}
	if s.stopped {
		if s.afterStop++; s.afterStop > afterStopSteps {
			s.finish("")
			s.holder = nil
			s.holderID.Store(-1)
			return nil
		}
	}
	s.decisions++
	// A thread that runs alone passes its scheduling points without a
	// decision (point's fast path), unless a goroutine was created since
	// — anywhere in the process: the explorer's workers' (porcupine's
	// checks start goroutines), a parallel test's. Such a point is no
	// decision either, or the count of decisions, which PCT's change
	// points and the schedule's digest use, would depend on what other
	// goroutines did meanwhile.
	alone := cur != nil && s.solo.Load() == cur
	// Nobody's turn while deciding: the watchdog leaves it alone.
	s.holder = nil
	s.holderID.Store(-1)
	for {
		s.settle()
		ready := s.eligible()
		if alone {
			alone = false
			if len(ready) == 1 && ready[0] == cur && s.live() == 1 && s.blocked == 0 && s.loose == 0 {
				s.decisions--
			}
		}
		if len(ready) == 0 && s.wakeSleepers() {
			continue
		}
		if len(ready) == 0 {
			s.holder = nil
			s.holderID.Store(-1)
			s.finish(s.deadlock())
			return nil
		}
		if s.blocked > 1 && s.note == "" {
			s.note = s.raceNote()
		}
		next := s.plan.pick(s, ready, cur)
		if len(ready) > 1 {
			s.choices++
			s.schedule = mix(s.schedule, uint64(s.decisions)<<20|uint64(next.id))
			if cur != nil && next != cur && cur.state == runnable && contains(ready, cur) {
				s.switches++
			}
		}
		s.setState(next, running)
		if next != s.last {
			s.handoffs++
			s.last = next
		}
		s.holder = next
		s.holderID.Store(int32(next.id))
		if s.live() == 1 && s.blocked == 0 && s.loose == 0 {
			s.solo.Store(next)
		} else {
			s.solo.Store(nil)
		}
		if next != cur {
			next.wake <- struct{}{}
		}
		return next
	}
}

func contains(ts []*thread, t *thread) bool {
	for _, u := range ts {
		if u == t {
			return true
		}
	}
	return false
}

// eligible returns the threads that may run next: those parked at a
// scheduling point; but while some thread is blocked on a Go primitive,
// only those inside a storage operation if there are any. A thread that
// waits on a Go primitive waits, in the programs this was made for, for
// an operation in progress — a group commit's waiters for its leader's
// fsync — and letting the others start new operations meanwhile would
// put more threads to wait on the same primitive, whose wake-up would
// race (see the package doc).
func (s *sched) eligible() []*thread {
	var all, inOp []*thread
	for _, t := range s.threads {
		if t.state == runnable {
			all = append(all, t)
			if t.at == atStorage {
				inOp = append(inOp, t)
			}
		}
	}
	if s.blocked > 0 && len(inOp) > 0 {
		return inOp
	}
	return all
}

// wakeSleepers advances the simulated clock to the earliest sleeper's
// wake time, and makes every thread due then runnable. It reports
// whether there was a sleeper.
func (s *sched) wakeSleepers() bool {
	var first *thread
	for _, t := range s.threads {
		if t.state == sleeping && (first == nil || t.until < first.until) {
			first = t
		}
	}
	if first == nil {
		return false
	}
	s.now = max(s.now, first.until)
	for _, t := range s.threads {
		if t.state == sleeping && t.until <= s.now {
			s.ready(t)
		}
	}
	return true
}

// finish ends the workload: why is a deadlock's description, or "".
// Threads still parked stay parked. s.mu is held.
func (s *sched) finish(why string) {
	if s.ended {
		return
	}
	s.ended = true
	if why != "" && s.failure == "" {
		s.failure = why
	}
	select {
	case <-s.done: // a drain (see drain) after the workload ended
	default:
		close(s.done)
	}
}

// deadlock describes the threads that cannot go on when none can run,
// or returns "" if the workload is simply over: its first thread ended.
func (s *sched) deadlock() string {
	if s.threads[0].state == finished {
		return ""
	}
	var stuck []string
	for _, t := range s.threads {
		if t.state == goBlocked || t.state == waiting {
			stuck = append(stuck, fmt.Sprintf("%v waits on %s", t, t.wait))
		}
	}
	return "deadlock: no thread can go on: " + strings.Join(stuck, "; ")
}

// raceNote says why a run where two threads are blocked on Go primitives
// at once may not be deterministic. s.mu is held.
func (s *sched) raceNote() string {
	var ts []string
	for _, t := range s.threads {
		if t.state == goBlocked {
			ts = append(ts, fmt.Sprintf("%v on %s", t, t.wait))
		}
	}
	return fmt.Sprintf("after step %d, %s were blocked on Go primitives at once: if one wake-up frees both they race, and the run may not replay (use sim.Mutex and sim.Cond, which the scheduler sees)",
		s.decisions, strings.Join(ts, " and "))
}

// settle waits until no thread runs outside a turn: every thread is
// parked, waiting, sleeping, finished, or blocked on a Go primitive —
// which, once every other thread is parked, nothing but the holder can
// end. It looks at the runtime only when a thread was blocked or loose
// or a goroutine was started since it last did. s.mu is held; it is
// released while waiting.
func (s *sched) settle() {
	wait := 20 * time.Microsecond
	looked := s.looked
	s.looked = false
	for looks := 0; ; looks++ {
		created := goroutinesCreated()
		if s.loose == 0 && len(s.newcomers) == 0 && created == s.created && (s.blocked == 0 || looked && looks == 0) {
			return
		}
		if looks == 0 && s.loose+s.blocked > 0 && len(s.newcomers) == 0 && created == s.created {
			// A thread that a Go primitive woke normally parks at its next
			// scheduling point within microseconds, which settles it
			// without a look at the runtime (a traceback of every
			// goroutine, which stops the world: the dearest step of a
			// switch). Give it that chance first.
			s.mu.Unlock()
			s.yieldFor(s.arrived)
			s.mu.Lock()
			if s.blocked == 0 && s.loose == 0 && len(s.newcomers) == 0 && goroutinesCreated() == s.created {
				return
			}
		}
		if !s.look(s.traceback()) {
			s.created = created
			return
		}
		s.mu.Unlock()
		if looks < settleSpins {
			s.yieldFor(s.arrived)
		} else {
			select {
			case <-s.arrived:
			case <-time.After(wait):
			}
			wait = min(2*wait, 2*time.Millisecond)
		}
		s.mu.Lock()
	}
}

// settleSpins is how many times settle lets a loose thread run on by
// yielding the processor (yieldFor) before it waits on a timer: a thread a
// Go primitive woke normally parks or blocks again within microseconds,
// and a timer of 20 µs takes a millisecond or more on a loaded machine
// (Go's timers wait in epoll), which made every such wake-up cost that
// much (docs/BENCHMARKS.md, thread switches).
const settleSpins = 16

// yieldFor yields the processor a few times, so that the goroutines that
// may run do, and returns early once ch receives.
func (s *sched) yieldFor(ch <-chan struct{}) {
	for range 8 {
		runtime.Gosched()
		select {
		case <-ch:
			return
		default:
		}
	}
}

// traceback returns every goroutine of the process (goroutines), counting
// the looks: each stops the world, the dearest step of a switch through
// a Go primitive (BenchmarkThreadSwitch reports them).
func (s *sched) traceback() []goroutine {
	s.looks++
	return goroutines()
}

// look updates the threads' states from the runtime's goroutines gs,
// adopts the goroutines that threads started, and reports whether a
// thread may still run outside a turn. s.mu is held.
func (s *sched) look(gs []goroutine) (unsettled bool) {
	byID := make(map[int64]*goroutine, len(gs))
	for i := range gs {
		byID[gs[i].id] = &gs[i]
	}
	for _, t := range s.threads {
		if t.state != goBlocked && t.state != looseRun || t.goid == 0 {
			continue
		}
		g := byID[t.goid]
		switch {
		case g == nil: // gone: an adopted goroutine that returned
			s.setState(t, finished)
		case g.waitsForGoroutine() && !g.inLaboratory():
			s.setState(t, goBlocked)
			t.wait = g.state + " in " + g.top.fn
		default:
			s.setState(t, looseRun)
			unsettled = true
		}
	}
	if unsettled {
		// A thread still runs and may start goroutines: they are
		// numbered once none does (see below).
		return true
	}
	// Goroutines the threads started, not known yet, and those that
	// reached a scheduling point before this look: threads from now on,
	// numbered by their creator's id and then their goroutine id, however
	// they arrived. The runtime gives a goroutine's ids in the order it
	// starts them unless it moved to another processor (P) in between:
	// then two goroutines started by one thread between two looks may be
	// numbered the other way round (env.Go's threads never are). The runtime's own goroutines (a GC worker) and timers'
	// (time.AfterFunc) are not the program's; the scheduler's own spawns
	// register themselves.
	type birth struct {
		t       *thread
		creator int
		g       *goroutine
	}
	var births []birth
	for i := range gs {
		g := &gs[i]
		known := s.byGoid[g.id]
		if known != nil && known.id >= 0 {
			continue
		}
		creator := s.byGoid[g.creator]
		if known == nil && (s.before[g.id] || isUnscheduled(g.id) || strings.HasSuffix(g.createdBy, unscheduledFn) || creator == nil || creator.id < 0 || strings.HasPrefix(g.createdBy, "runtime.") || strings.HasPrefix(g.createdBy, "time.")) {
			continue
		}
		if known == nil && strings.Contains(g.createdBy, "(*sched)") {
			unsettled = true // a thread being spawned: it registers at once
			continue
		}
		b := birth{t: known, creator: math.MaxInt, g: g}
		if creator != nil && creator.id >= 0 {
			b.creator = creator.id
		}
		if b.t == nil {
			b.t = &thread{s: s, id: -1, wake: make(chan struct{}, 1), adopted: true, goid: g.id}
			s.byGoid[g.id] = b.t
			if creator != nil {
				b.t.proc = creator.proc
			}
		}
		births = append(births, b)
	}
	sort.Slice(births, func(i, j int) bool {
		if births[i].creator != births[j].creator {
			return births[i].creator < births[j].creator
		}
		return births[i].t.goid < births[j].t.goid
	})
	for _, b := range births {
		t := b.t
		t.id = len(s.threads)
		s.threads = append(s.threads, t)
		s.plan.born(t)
		if t.env == nil {
			t.env = s.m.envFor(t.proc, t)
		}
		switch {
		case t.g != 0: // parked at its first scheduling point (adopt)
		case b.g.waitsForGoroutine() && !b.g.inLaboratory():
			s.setState(t, goBlocked)
			t.wait = b.g.state + " in " + b.g.top.fn
		default:
			s.setState(t, looseRun)
			unsettled = true
		}
	}
	s.newcomers = s.newcomers[:0]
	s.maxThreads = max(s.maxThreads, s.live())
	return unsettled
}

// watch is the watchdog: when a turn makes no progress for a while, it
// looks at the holder, and hands the turn on if the holder is blocked on
// a Go primitive or gone. A holder that is busy, in the program or in the
// laboratory, keeps its turn however long it takes. A holder blocked
// with no other thread to run is a deadlock only once it has made no
// progress for deadlockAfter: a goroutine waiting on a real timer (code
// outside the line, engine.WaitLock on another machine) looks blocked too.
func (s *sched) watch() {
	const first, most = 50 * time.Microsecond, 5 * time.Millisecond
	wait := first
	last := s.progress.Load()
	since := time.Now()
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if p := s.progress.Load(); p != last || s.inLab.Load() > 0 {
			last, wait, since = p, first, time.Now()
			t.Reset(wait)
			continue
		}
		if s.checkHolder(time.Since(since)) {
			wait, since = first, time.Now()
		} else {
			wait = min(2*wait, most)
		}
		last = s.progress.Load()
		t.Reset(wait)
	}
}

// deadlockAfter is how long a blocked holder with no thread to hand its
// turn to waits before the workload is declared deadlocked.
var deadlockAfter = time.Second

// checkHolder looks at the holder, stalled for that long, and ends its
// turn if it waits for another goroutine or is gone. It reports whether
// it did.
func (s *sched) checkHolder(stalled time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holder
	if h == nil || s.ended || h.goid == 0 {
		return false
	}
	created := goroutinesCreated()
	gs := s.traceback()
	// While another thread runs outside a turn — one a Go primitive woke
	// — the holder may be waiting for it, for a moment: only once every
	// other thread is settled is a holder that waits for a goroutine
	// blocked for good.
	if s.look(gs) {
		return false
	}
	var g *goroutine
	for i := range gs {
		if gs[i].id == h.goid {
			g = &gs[i]
		}
	}
	switch {
	case g == nil:
		s.setState(h, finished)
		if h.id == 0 {
			s.finish("")
			return true
		}
	case g.waitsForGoroutine() && !g.inLaboratory():
		if !s.othersCanRun(h) && (h.outside || stalled < deadlockAfter) {
			// Nobody else to run: a deadlock, unless the wait ends by
			// itself; and a goroutine that is no thread of a run (a
			// test's, Machine.scheduler) is not the workload's to judge.
			return false
		}
		s.setState(h, goBlocked)
		h.wait = g.state + " in " + g.top.fn
	default:
		return false
	}
	// Every thread was settled in gs, the holder now blocked too: the
	// decision needs no other look, unless a goroutine started since.
	// (Set only now: a holder alone reads created without the lock, at
	// its scheduling points, which it is not at while blocked.)
	s.created = created
	s.looked = true
	s.handOff(nil)
	return true
}

// othersCanRun reports whether a thread other than h is runnable or
// sleeps. s.mu is held.
func (s *sched) othersCanRun(h *thread) bool {
	for _, t := range s.threads {
		if t != h && (t.state == runnable || t.state == sleeping) {
			return true
		}
	}
	return false
}

// close ends scheduling: the watchdog stops, and threads still parked
// stay parked.
func (s *sched) close() {
	s.mu.Lock()
	s.finish("")
	s.mu.Unlock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
}

// drain lets the threads left when the workload ended run on, one at a
// time as before, so that they end — every operation of theirs fails,
// the processes being killed — instead of staying parked for good; at
// most afterStopSteps steps.
func (s *sched) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holder != nil || !s.ended {
		return
	}
	s.ended, s.stopped = false, true
	s.afterStop = 0
	if s.handOff(nil) == nil {
		s.ended = true
	}
}

// current returns the id of the thread whose turn it is, -1 if none.
func (s *sched) current() int {
	if s == nil {
		return -1
	}
	return int(s.holderID.Load())
}

// sortedThreads is for reports: the threads by id.
func (s *sched) sortedThreads() []*thread {
	ts := append([]*thread(nil), s.threads...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].id < ts[j].id })
	return ts
}

// plan is a schedule's strategy: which thread runs after each step.
type plan struct {
	strategy Scheduler
	rand     *rand.Rand
	switches int // the bound on preemptions, 0 for none
	// PCT: depth d, the estimated steps k, and the change points.
	depth   int
	changes []int // steps at which the holder's priority drops, sorted
}

func newPlan(strategy Scheduler, seed uint64, depth, switches, steps int) *plan {
	p := &plan{strategy: strategy, rand: rand.New(rand.NewPCG(seed, 0x7363686564756c65)), switches: switches, depth: depth}
	if strategy == PCTScheduler {
		for range max(depth-1, 0) {
			p.changes = append(p.changes, 1+p.rand.IntN(max(steps, 1)))
		}
		sort.Ints(p.changes)
	}
	return p
}

// born gives a new thread its PCT priority: a random one above every
// priority a change point gives (1 .. d-1).
func (p *plan) born(t *thread) {
	t.prio = int64(p.depth) + p.rand.Int64N(1<<40)
}

// pick chooses the next thread among ready (in id order), cur being the
// thread whose turn ends (nil if it cannot go on).
func (p *plan) pick(s *sched, ready []*thread, cur *thread) *thread {
	if len(ready) == 1 {
		return ready[0]
	}
	canStay := cur != nil && contains(ready, cur)
	if canStay && p.switches > 0 && s.switches >= p.switches {
		return cur
	}
	if p.strategy == PCTScheduler {
		for i, c := range p.changes {
			if c == s.decisions && cur != nil {
				cur.prio = int64(i + 1)
			}
		}
		best := ready[0]
		for _, t := range ready[1:] {
			if t.prio > best.prio {
				best = t
			}
		}
		return best
	}
	return ready[p.rand.IntN(len(ready))]
}
