package sim

import (
	"fmt"
	"slices"
	"strings"
)

// runSchedules runs the workload once under each schedule
// (Options.Schedules), each run with its own crash points, all of them
// through the one pipeline: crash points are numbered through every
// schedule's, and an image judged under one schedule is judged again
// under another only against another history (judged.history). A replay
// runs only the schedule its id names. A workload of one thread has one
// interleaving: it runs once.
func (x *explorer) runSchedules() {
	first, last := 0, x.opts.Schedules
	if x.replay != nil {
		first, last = x.replay.id.Schedule, x.replay.id.Schedule+1
	}
	if x.opts.Scheduler == PCTScheduler {
		x.steps = x.measureSteps()
	}
	interleavings := map[uint64]bool{}
	var threads, steps, runs int
	var note string
	for i := first; i < last && !x.stopped.Load(); i++ {
		var s *sched
		var err string
		if x.opts.Fault == ProcessKill {
			s, err = x.runKills(i)
		} else {
			s, err = x.runWorkload(i)
		}
		runs++
		threads, steps = max(threads, s.maxThreads), max(steps, s.decisions)
		interleavings[s.schedule] = true
		if note == "" && s.note != "" {
			note = fmt.Sprintf("schedule %d: %s", i, s.note)
		}
		if err != "" {
			if x.opts.Schedules > 1 || i > 0 {
				err = fmt.Sprintf("schedule %d: %s", i, err)
			}
			x.res.RunError = err
			break // a failed run ends the exploration, as it always did
		}
		if s.maxThreads <= 1 {
			break
		}
	}
	if threads > 1 {
		r := x.res
		r.Scheduler, r.Depth, r.Switches = x.opts.Scheduler.String(), x.opts.Depth, x.opts.Switches
		r.Schedules, r.Interleavings, r.Threads, r.Steps = runs, len(interleavings), threads, steps
		if x.opts.Scheduler == PCTScheduler {
			r.Steps = x.steps
		}
		r.Nondeterministic = note
	}
}

// runWorkload runs the workload under schedule i on a fresh machine, with
// the explorer hooked to its crash points, then takes the last crash
// point (the end of the trace). It returns the schedule's scheduler, and
// the run's error, if any.
func (x *explorer) runWorkload(i int) (*sched, string) {
	m := NewMachine()
	m.startDigest()
	if x.replay != nil || x.traces != nil {
		m.startRecording(x.sc.Adapters)
	}
	m.hook = x
	m.skip = x.sc.Adapters
	m.seed = x.opts.Seed
	x.ck = newChecker(x.sc)
	x.check = x.ck.prefix
	m.ck = x.ck
	x.schedule, x.local = i, 0
	proc := m.Start("workload")
	s := newSched(m, newPlan(x.opts.Scheduler, scheduleSeed(x.opts.Seed, i), x.opts.Depth, x.opts.Switches, x.steps))
	m.sched.Store(s)
	x.mu.Lock()
	x.m, x.proc = m, proc
	x.mu.Unlock()
	if x.stopped.Load() {
		m.killAll() // stopped between two schedules
	}

	x.live.Store(m)
	main := s.start(proc, "", x.sc.Run, m.envFor(proc, nil))
	<-s.done
	// Whatever runs on now — a goroutine the scheduler has not seen — is
	// no longer explored (see explorer.before).
	x.hookMu.Lock()
	x.live.Store(nil)
	x.hookMu.Unlock()
	var runErr string
	if err := main.err; err != nil && !x.stopped.Load() && !proc.Killed() {
		runErr = err.Error()
	}
	s.mu.Lock()
	if runErr == "" && !x.stopped.Load() {
		runErr = s.failure
	}
	if runErr == "" && !x.stopped.Load() {
		runErr = s.unwaitedFailure()
	}
	s.mu.Unlock()
	if x.opts.Fault == ProcessKill && x.kill != nil {
		// A run that killed one process: what its survivors failed with
		// is a verdict on the kill (kill.go).
		if !x.stopped.Load() {
			runErr = x.killEnd(m, proc, runErr)
		}
	} else if x.opts.Fault == ProcessKill {
		// The run that finds where to kill has no crash point; a fault it
		// injected must fire, as in any run.
		if unfired := m.unfired(); len(unfired) > 0 && runErr == "" && !x.stopped.Load() {
			runErr = "an injected fault never fired: " + strings.Join(unfired, "; ")
		}
	} else if !x.stopped.Load() && runErr == "" {
		x.hookMu.Lock()
		x.crashPoint(Event{Index: m.lastOp().Index + 1, Proc: proc.ID, Kind: "end"})
		x.hookMu.Unlock()
		// Checked once the workload is done, as it would have been with a
		// fault injected: a workload a replay stopped, or one that died,
		// is not done.
		if unfired := m.unfired(); len(unfired) > 0 && !x.stopped.Load() && !proc.Killed() {
			runErr = "an injected fault never fired: " + strings.Join(unfired, "; ")
		}
	}
	m.endThreads()
	x.warn(m.barrierWarnings())
	if x.traces != nil {
		x.traces = append(x.traces, m.full)
	}
	return s, runErr
}

// warn adds the barriers a schedule's run misused to the result's
// warnings: each problem once, as the first schedule that made it found
// it (its trace indices are that schedule's).
func (x *explorer) warn(ws []Warning) {
	for _, w := range ws {
		if !slices.ContainsFunc(x.res.Warnings, func(o Warning) bool {
			return o.Problem == w.Problem && o.FailedSource == w.FailedSource && o.ThenSource == w.ThenSource
		}) {
			x.res.Warnings = append(x.res.Warnings, w)
		}
	}
}

// measureSteps runs the workload once, unexplored, under the first
// schedule of the random scheduler, and returns its steps: PCT's k. Its
// crash points are where an explored run's are (the same copies split),
// but nothing is taken there.
func (x *explorer) measureSteps() int {
	m := NewMachine()
	m.hook = stepCounter{&x.opts}
	m.seed = x.opts.Seed
	m.ck = newChecker(x.sc)
	proc := m.Start("workload")
	s := newSched(m, newPlan(RandomScheduler, scheduleSeed(x.opts.Seed, 0), 0, 0, 0))
	m.sched.Store(s)
	s.start(proc, "", x.sc.Run, m.envFor(proc, nil))
	<-s.done
	m.endThreads()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decisions
}

// stepCounter is the crash hook of measureSteps: it takes nothing.
type stepCounter struct{ opts *Options }

func (stepCounter) before(*Process, Event) {}
func (stepCounter) after(*Process, Event)  {}
func (c stepCounter) options() *Options    { return c.opts }

// stop stops the machine's workload: its processes are killed, so every
// operation fails, and its threads take at most afterStopSteps more steps.
func (m *Machine) stop() {
	if m == nil {
		return
	}
	if s := m.sched.Load(); s != nil {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
	}
	m.killAll()
}

// endThreads ends a workload whose first thread returned: its processes
// are killed, so that the threads still running find every operation
// failing, as on a machine switched off, and end (see sched.drain).
func (m *Machine) endThreads() {
	s := m.sched.Load()
	if s == nil {
		return
	}
	m.killAll()
	close(s.halted)
	s.drain()
	s.close()
}

// endRecovery ends the threads of a recovery, or of a continuation, that
// started some (its machine made a scheduler, whose first thread is the
// recovery's own goroutine, the caller): they end as a workload's do when
// it returns. The machine is left without a scheduler, so that the code
// of the next epoch on it (a continuation after the recovery) starts as
// the recovery did.
func (m *Machine) endRecovery() {
	s := m.sched.Load()
	if s == nil {
		return
	}
	s.mu.Lock()
	first := s.threads[0]
	s.mu.Unlock()
	s.exit(first, nil)
	m.endThreads()
	m.sched.Store(nil)
}

// unwaitedFailure is the error of the first thread, by id, that failed
// and that no thread waited for: an error nobody handled fails the run
// as the workload's own does. s.mu is held.
func (s *sched) unwaitedFailure() string {
	for _, t := range s.threads[1:] {
		if t.err != nil && !t.waited && !t.labKilled() { // a process the explorer killed fails as it may
			return fmt.Sprintf("%v: %v", t, t.err)
		}
	}
	return ""
}
