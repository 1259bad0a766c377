package sim

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// Env is what a scenario's workload and recovery see of the simulated
// machine: the file system of their process, a seeded random source, and
// the markers that tell the checker what the workload did.
type Env struct {
	// FS is the file system as the process sees it. Paths under /pmem are
	// persistent memory (Map gives PMem regions), under /dev/shm shared
	// memory; every other path is on the disk.
	FS engine.FS
	// Rand is seeded from the run's seed: a workload that draws from it is
	// still a pure function of (scenario, options, seed). It is not safe for
	// concurrent use.
	Rand *rand.Rand

	proc  *Process
	mu    *sync.Mutex    // serializes the checker: markers may come from several goroutines
	check *models.Prefix // nil during recovery
	// base is how many operations of the history came before this epoch:
	// 0 in the workload; in a continuation, those its recovery returned.
	base int
}

// Process returns the simulated process the code runs in.
func (e *Env) Process() *Process { return e.proc }

// Machine returns the simulated machine, to start more processes.
func (e *Env) Machine() *Machine { return e.proc.m }

// Invoke marks the start of the next operation of the workload, with its
// input in the model's terms, and returns the output the model gives for it.
// During recovery it only marks the trace.
func (e *Env) Invoke(input any) (want any) {
	e.proc.mark("invoke", e.describe(input))
	if e.check == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.check.Invoke(input)
}

// Return marks the end of the current operation, with its output.
func (e *Env) Return(output any) {
	e.proc.mark("return", fmt.Sprint(output))
}

// Durable marks operations 1..n as acknowledged durable: the system under
// test has promised they survive a crash. In a continuation (Scenario.
// Continue) n counts the continuation's own operations: those the
// recovery before it returned are durable already.
func (e *Env) Durable(n int) {
	e.proc.mark("durable", fmt.Sprintf("ops 1..%d", n))
	if e.check != nil {
		e.mu.Lock()
		e.check.Durable(e.base + n)
		e.mu.Unlock()
	}
}

// DurableAll marks every operation invoked so far as acknowledged durable,
// as when a sync barrier returns.
func (e *Env) DurableAll() {
	if e.check == nil {
		e.proc.mark("durable", "all")
		return
	}
	e.mu.Lock()
	n := e.check.Invoked() - e.base
	e.mu.Unlock()
	e.Durable(n)
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
	e.proc.mark("note", fmt.Sprintf(format, args...))
}

func (e *Env) describe(input any) string {
	if e.check != nil && e.check.Model().DescribeInput != nil {
		return e.check.Model().DescribeInput(input)
	}
	return fmt.Sprint(input)
}
