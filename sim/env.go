package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/zeebo/xxh3"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// Env is what a scenario's workload and recovery see of the simulated
// machine: the file system of their process, a seeded random source, and
// the markers that tell the checker what the workload did. Each thread
// has an Env of its own (Env.Go): its markers are its client's.
type Env struct {
	// FS is the file system as the process sees it. Paths under /pmem are
	// persistent memory (Map gives PMem regions), under /dev/shm shared
	// memory; every other path is on the disk.
	FS engine.FS
	// Rand is seeded from the run's seed (and the thread's number): a
	// workload that draws from it is still a pure function of (scenario,
	// options, seed). It is the thread's own, not safe for use by others.
	Rand *rand.Rand

	proc   *Process
	ck     *checker // the workload's checker; nil during recovery
	thread *thread  // nil on a machine without a scheduler
}

// checker is the checker of a workload's markers, shared by the Envs of
// its threads.
type checker struct {
	// mu serializes the markers and makes a crash point's snapshot of the
	// checker and of the disk one: no marker falls between them.
	mu     sync.Mutex
	prefix *models.Prefix
	// history is a digest of the invocations so far, each input and its
	// client: the same counts of invoked and durable operations name
	// different histories in different schedules.
	history uint64
	// base is how many operations of the history came before this epoch:
	// 0 in the workload; in a continuation, those its recovery returned.
	base int

	// For a scenario judged by linearizability (Scenario.Check), the
	// clients' history, and per client its operation not returned yet;
	// nil otherwise.
	lin  *clientHistory
	open map[int]int

	// pending maps a client to its operation invoked and not yet
	// returned, by number (from 1): what a kill leaves pending (kill.go).
	pending map[int]int
}

// newChecker returns the checker of a run of sc's workload.
func newChecker(sc *Scenario) *checker {
	ck := &checker{prefix: models.NewPrefix(sc.Model)}
	if sc.Check.linearizable() {
		ck.lin = &clientHistory{model: sc.Model, hist: models.NewHistory(), buffered: sc.Check == BufferedDurableLinearizability}
		ck.open = map[int]int{}
	}
	return ck
}

// snapshotLin returns a frozen copy of the clients' history, or nil for a
// scenario judged by the prefix property. ck.mu is held.
func (ck *checker) snapshotLin() *clientHistory {
	if ck.lin == nil {
		return nil
	}
	c := *ck.lin
	c.hist = ck.lin.hist.Clone()
	return &c
}

// openOps lists the operations invoked and not returned, in order.
// ck.mu is held.
func (ck *checker) openOps() []int {
	ops := make([]int, 0, len(ck.pending))
	for _, op := range ck.pending {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops
}

// gone reports whether the markers of e are void: its process was killed
// by the explorer (ProcessKill), and a process killed with kill -9 runs
// no more code. Its goroutine runs on to its next storage call, which
// fails, and whatever it marks meanwhile is not the process's doing.
func (e *Env) gone() bool { return e.proc.lab.Load() }

// Process returns the simulated process the code runs in.
func (e *Env) Process() *Process { return e.proc }

// Machine returns the simulated machine, to start more processes.
func (e *Env) Machine() *Machine { return e.proc.m }

// point is the scheduling point of a marker.
func (e *Env) point() {
	if s := e.proc.m.sched.Load(); s != nil {
		s.point(e.proc, atMarker)
	}
}

// Invoke marks the start of the next operation of the workload, with its
// input in the model's terms, and returns the output the model gives for it.
// During recovery it only marks the trace.
//
// In a scenario judged by linearizability (Scenario.Check) the operation
// is the calling thread's client's (Env.Client), recorded in the clients'
// history, and Invoke returns nil: outputs are judged from Return, not
// compared with one sequential order. A client invokes one operation at a
// time; one it invokes before it returned the last ends the last, with
// no output judged.
func (e *Env) Invoke(input any) (want any) {
	e.point()
	if e.gone() {
		return nil
	}
	note := e.describe(input)
	if e.ck == nil {
		e.proc.mark("invoke", note)
		return nil
	}
	e.ck.mu.Lock()
	defer e.ck.mu.Unlock()
	e.proc.mark("invoke", note)
	client := e.Client()
	e.ck.history = mix(e.ck.history, xxh3.HashString(note)^uint64(client))
	if e.ck.pending == nil {
		e.ck.pending = map[int]int{}
	}
	if ck := e.ck; ck.lin != nil {
		if id, ok := ck.open[client]; ok {
			ck.lin.hist.End(id)
		}
		id := ck.lin.hist.Call(client, input)
		ck.open[client] = id
		ck.pending[client] = id + 1
		return nil
	}
	want = e.ck.prefix.Invoke(input)
	e.ck.pending[client] = e.ck.prefix.Invoked()
	return want
}

// Return marks the end of the calling thread's current operation, with
// its output. In a scenario judged by linearizability the output is
// judged (Scenario.Check); otherwise it only marks the trace.
func (e *Env) Return(output any) {
	e.point()
	if e.gone() {
		return
	}
	if e.ck == nil {
		e.proc.mark("return", fmt.Sprint(output))
		return
	}
	ck := e.ck
	ck.mu.Lock()
	defer ck.mu.Unlock()
	note := fmt.Sprint(output)
	e.proc.mark("return", note)
	client := e.Client()
	delete(ck.pending, client)
	if ck.lin == nil {
		return
	}
	if id, ok := ck.open[client]; ok {
		ck.lin.hist.Return(id, output)
		delete(ck.open, client)
		// Which operations returned, and with what, is part of the
		// history an image is judged against (judged.history).
		ck.history = mix(ck.history, xxh3.HashString(note)^uint64(client)^returnMark)
	}
}

// ReturnWith ends the calling thread's current operation as Return does,
// and replaces the input its Invoke gave with input: for an operation
// whose input is known only when it returns, such as an append to a blob
// store that returns the handle the store chose (models.BlobAppend
// records it). In a scenario judged by the prefix property it is Return.
func (e *Env) ReturnWith(input, output any) {
	if e.gone() {
		return
	}
	if e.ck != nil && e.ck.lin != nil {
		e.ck.mu.Lock()
		if id, ok := e.ck.open[e.Client()]; ok {
			e.ck.lin.hist.Amend(id, input)
			e.ck.history = mix(e.ck.history, xxh3.HashString(e.describe(input))^uint64(e.Client()))
		}
		e.ck.mu.Unlock()
	}
	e.Return(output)
}

// returnMark and syncMark tell a return and a sync from an invocation in
// the history's digest.
const (
	returnMark = 1 << 63
	syncMark   = 1 << 62
)

// Syncing marks that the calling thread calls a sync barrier now, and
// returns the function to call once the barrier completed: every
// operation that returned before Syncing is then durable.
//
//	synced := env.Syncing()
//	if err := f.Sync(); err != nil {
//		return err
//	}
//	synced()
//
// Only a scenario judged by BufferedDurableLinearizability uses it:
// operations that returned after the call of the last completed sync may
// be lost, as a suffix of a linearization. Elsewhere it marks the trace.
// Both marks of a process the explorer killed are void, as its other
// markers are: a sync whose completion the process did not live to see
// is not a completed sync of the history.
func (e *Env) Syncing() (synced func()) {
	e.point()
	if e.gone() {
		return func() { e.point() }
	}
	if e.ck == nil || e.ck.lin == nil {
		e.proc.mark("sync-call", "")
		return func() {
			e.point()
			if !e.gone() {
				e.proc.mark("synced", "")
			}
		}
	}
	ck := e.ck
	ck.mu.Lock()
	t := ck.lin.hist.Now()
	e.proc.mark("sync-call", fmt.Sprintf("at %d", t))
	ck.history = mix(ck.history, uint64(t)|syncMark)
	ck.mu.Unlock()
	return func() {
		e.point()
		if e.gone() {
			return
		}
		ck.mu.Lock()
		defer ck.mu.Unlock()
		e.proc.mark("synced", fmt.Sprintf("the sync called at %d", t))
		ck.lin.hist.SyncedAt(t)
		ck.history = mix(ck.history, uint64(t)|syncMark|returnMark)
	}
}

// Durable marks operations 1..n as acknowledged durable: the system
// under test has promised they survive a crash. Operations are numbered
// in the order they were invoked, by every client. In a continuation
// (Scenario.Continue) n counts the continuation's own operations: those
// the recovery before it returned are durable already. A scenario judged
// by linearizability needs no such markers (every operation that returned
// must survive): there they only mark the trace.
func (e *Env) Durable(n int) {
	e.point()
	if e.gone() {
		return
	}
	if e.ck == nil {
		e.proc.mark("durable", fmt.Sprintf("ops 1..%d", n))
		return
	}
	e.ck.mu.Lock()
	defer e.ck.mu.Unlock()
	e.proc.mark("durable", fmt.Sprintf("ops 1..%d", n))
	if e.ck.lin != nil {
		return // durable linearizability needs no markers: what returned is durable
	}
	e.ck.prefix.Durable(e.ck.base + n)
}

// DurableAll marks every operation invoked so far is acknowledged
// durable, as when a sync barrier returns.
func (e *Env) DurableAll() {
	e.point()
	if e.gone() {
		return
	}
	if e.ck == nil {
		e.proc.mark("durable", "all")
		return
	}
	e.ck.mu.Lock()
	defer e.ck.mu.Unlock()
	if e.ck.lin != nil {
		e.proc.mark("durable", "all")
		return
	}
	n := e.ck.prefix.Invoked() - e.ck.base
	e.proc.mark("durable", fmt.Sprintf("ops 1..%d", n))
	e.ck.prefix.Durable(e.ck.base + n)
}

// Inject injects media and I/O faults (docs/DESIGN.md F3) into the storage
// of the machine the code runs on, from now on: the rules become a
// faultfs.Rules of their own, so that rules built once, outside Run, count
// afresh in every exploration and every replay (OnIndex from 0), and they
// are tried after the rules injected before, which still count: a rule
// sees no operation an earlier one fired on. Inject returns that Rules, for
// the workload's own checks (Fired).
//
// A rule injected by the workload that has not fired by the time the
// workload returns fails the run, as an error of the workload does
// (Result.RunError): the fault it was written to test was never injected.
// Nothing checks the rules a recovery injects.
func (e *Env) Inject(rules ...faultfs.Rule) *faultfs.Rules {
	r := faultfs.NewRules(rules...)
	e.proc.m.inject(r)
	return r
}

// Logf writes a note into the trace.
func (e *Env) Logf(format string, args ...any) {
	e.point()
	e.proc.mark("note", fmt.Sprintf(format, args...))
}

func (e *Env) describe(input any) string {
	if e.ck != nil && e.ck.prefix.Model().DescribeInput != nil {
		return e.ck.prefix.Model().DescribeInput(input)
	}
	return fmt.Sprint(input)
}
