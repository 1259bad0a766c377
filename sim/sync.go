package sim

import (
	"sync"
)

// Mutex is a mutual exclusion lock the scheduler sees: a thread that
// waits for it is parked in the scheduler, which runs the others, and
// Unlock makes the first waiter runnable, so a program that synchronises
// its threads with Mutex and Cond is scheduled deterministically however
// many wait (see the package doc, "Threads and the scheduler"). Lock is
// a scheduling point. Called from a goroutine that is no simulated
// thread — a test's, a recovery's without threads — it is a sync.Mutex.
// Its zero value is unlocked; it must not be copied after first use.
type Mutex struct {
	plain   sync.Mutex
	locked  bool
	waiters []*thread
}

// Lock locks m, waiting in the scheduler while another thread holds it.
func (m *Mutex) Lock() {
	t := currentThread()
	if t == nil {
		m.plain.Lock()
		return
	}
	s := t.s
	if s.point(t.proc, atYield) == nil {
		select {} // a goroutine taken for ended, after the workload ended: it stops here
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for m.locked {
		m.waiters = append(m.waiters, t)
		s.block(t, "sim.Mutex.Lock")
	}
	m.locked = true
}

// Unlock unlocks m and makes the first thread waiting for it runnable.
// Unlocking an unlocked Mutex panics (a thread's panic fails the run).
func (m *Mutex) Unlock() {
	t := currentThread()
	if t == nil {
		m.plain.Unlock()
		return
	}
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !m.locked {
		panic("sim: unlock of unlocked Mutex")
	}
	m.locked = false
	if len(m.waiters) > 0 {
		w := m.waiters[0]
		m.waiters = m.waiters[1:]
		s.ready(w)
	}
}

// Cond is a condition variable the scheduler sees, as Mutex is: Wait
// parks the thread in the scheduler, Signal and Broadcast make waiters
// runnable, and the scheduler then runs them one at a time in the order
// its strategy picks, never as a race. L is held while observing or
// changing the condition, usually a *Mutex. Called from a goroutine that
// is no simulated thread, it is a sync.Cond on L.
type Cond struct {
	L sync.Locker

	plainOnce sync.Once
	plain     *sync.Cond
	waiters   []*condWaiter
}

type condWaiter struct {
	t         *thread
	signalled bool
}

func (c *Cond) plainCond() *sync.Cond {
	c.plainOnce.Do(func() { c.plain = sync.NewCond(c.L) })
	return c.plain
}

// Wait unlocks c.L, waits until Signal or Broadcast wakes the thread,
// and locks c.L again before it returns. As with sync.Cond, the
// condition may not hold when it returns: wait in a loop.
func (c *Cond) Wait() {
	t := currentThread()
	if t == nil {
		c.plainCond().Wait()
		return
	}
	s := t.s
	w := &condWaiter{t: t}
	s.mu.Lock()
	c.waiters = append(c.waiters, w)
	s.mu.Unlock()
	c.L.Unlock()
	s.mu.Lock()
	if !w.signalled {
		s.block(t, "sim.Cond.Wait")
	}
	s.mu.Unlock()
	c.L.Lock()
}

// Signal wakes the thread that waits the longest, if any.
func (c *Cond) Signal() {
	t := currentThread()
	if t == nil {
		c.plainCond().Signal()
		return
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if len(c.waiters) > 0 {
		c.wake(t.s, c.waiters[0])
		c.waiters = c.waiters[1:]
	}
}

// Broadcast wakes every waiting thread.
func (c *Cond) Broadcast() {
	t := currentThread()
	if t == nil {
		c.plainCond().Broadcast()
		return
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	for _, w := range c.waiters {
		c.wake(t.s, w)
	}
	c.waiters = nil
}

// wake makes w's thread runnable. s.mu is held.
func (c *Cond) wake(s *sched, w *condWaiter) {
	w.signalled = true
	s.ready(w.t)
}

// threads maps the runtime descriptor of every goroutine that is a
// simulated thread, of any machine, to its thread: Mutex and Cond find
// the caller's scheduler there.
var threads sync.Map // uintptr -> *thread

// currentThread returns the calling goroutine's thread, nil if it is
// none.
func currentThread() *thread {
	if t, ok := threads.Load(getg()); ok {
		return t.(*thread)
	}
	return nil
}
