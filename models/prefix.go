package models

import (
	"fmt"
	"strings"
)

// Prefix checks the prefix property of docs/DESIGN.md section 6 for a history of
// one client: the state recovered after a crash must equal the model's state
// after operations 1..k for some k, where every operation acknowledged
// durable before the crash is within 1..k and no operation not yet invoked
// is. A state that matches no such prefix — an operation seen half-applied,
// an acknowledged one lost, garbage — is a violation.
//
// Feed it the workload's events as they happen (Invoke, Durable); Check may
// then be called any number of times, concurrently, until the next event.
type Prefix struct {
	model   Model
	inputs  []any
	lo      int   // states[0] is the state after lo operations
	states  []any // states after lo, lo+1, ..., len(inputs) operations
	durable int   // operations 1..durable are acknowledged durable
}

// keepBelowDurable is how many states before the durable mark the checker
// keeps, only to say in a violation which acknowledged operations were lost.
const keepBelowDurable = 16

// NewPrefix returns a checker for model with no operation invoked.
func NewPrefix(m Model) *Prefix {
	return &Prefix{model: m, states: []any{m.Init()}}
}

// Invoke records that the next operation began with input, and returns the
// output the model gives for it, so a workload can check what the system
// returned while it runs.
func (p *Prefix) Invoke(input any) (want any) {
	next, out := p.model.Apply(p.states[len(p.states)-1], input)
	p.inputs = append(p.inputs, input)
	p.states = append(p.states, next)
	return out
}

// Durable records that operations 1..n were acknowledged durable: the system
// promised they survive a crash. It never lowers the mark. n beyond the
// number of invoked operations is an error of the workload and panics.
func (p *Prefix) Durable(n int) {
	if n > len(p.inputs) {
		panic(fmt.Sprintf("models: Durable(%d) with %d operations invoked", n, len(p.inputs)))
	}
	if n <= p.durable {
		return
	}
	p.durable = n
	if drop := p.durable - keepBelowDurable - p.lo; drop > 0 {
		p.states = append([]any(nil), p.states[drop:]...)
		p.lo += drop
	}
}

// DurableAll records that every operation invoked so far is durable, as after
// a sync barrier returns.
func (p *Prefix) DurableAll() { p.Durable(len(p.inputs)) }

// Snapshot returns a checker frozen at this instant: later events on p do
// not change it, so it can judge crash images of this point while the
// workload goes on. It costs a copy of the slice headers, not of the states
// (states are never modified, and p never writes into the slices it shares).
func (p *Prefix) Snapshot() *Prefix {
	s := *p
	s.inputs = p.inputs[:len(p.inputs):len(p.inputs)]
	s.states = p.states[:len(p.states):len(p.states)]
	return &s
}

// Restart returns the checker of the program's next epoch (docs/DESIGN.md
// F4): the program crashed, its recovery returned the state after
// operations 1..k of p (a Verdict's Prefix, durable <= k <= invoked), and
// it goes on from there. The history of the new checker is operations
// 1..k, every one of them durable — the recovery read them from the crash
// image, which is the disk, so no later crash may take them back — and
// the operations invoked after it follow them. Operations k+1.. of p are
// not in it: they did not survive the crash, and one that shows up again
// after a later crash is a violation. p is not changed; like Snapshot, the
// new checker shares p's states and copies on its first Invoke.
//
// k outside [DurableCount, Invoked] panics: no correct recovery returns
// such a state.
func (p *Prefix) Restart(k int) *Prefix {
	if k < p.durable || k > len(p.inputs) {
		panic(fmt.Sprintf("models: Restart(%d) with operations %d..%d allowed", k, p.durable, len(p.inputs)))
	}
	r := &Prefix{model: p.model, lo: p.lo, durable: p.durable}
	r.inputs = p.inputs[:k:k]
	r.states = p.states[: k-p.lo+1 : k-p.lo+1]
	r.Durable(k)
	return r
}

// Invoked returns how many operations were invoked.
func (p *Prefix) Invoked() int { return len(p.inputs) }

// DurableCount returns the durable mark.
func (p *Prefix) DurableCount() int { return p.durable }

// Input returns the input of operation i (1-based).
func (p *Prefix) Input(i int) any { return p.inputs[i-1] }

// Model returns the model the checker runs.
func (p *Prefix) Model() Model { return p.model }

// Verdict is the judgement of one recovered state. It is not an error: a
// violation is a finding.
type Verdict struct {
	// OK is true when the state satisfies the check.
	OK bool
	// Prefix is the k whose state the observation equals, or -1 if it
	// equals none that the checker kept.
	Prefix int
	// Durable and Invoked bound the allowed k: Durable <= k <= Invoked.
	Durable, Invoked int
	// Problem says in one line what is wrong; empty when OK.
	Problem string
	// Observed describes the recovered state; Expected the allowed ones.
	Observed, Expected string
	// Diff says where the observed state differs from the state after every
	// invoked operation, when the model can tell (Model.Diff).
	Diff string
}

func (v Verdict) String() string {
	if v.OK {
		return fmt.Sprintf("ok: state after %d of %d operations (%d durable)", v.Prefix, v.Invoked, v.Durable)
	}
	return fmt.Sprintf("%s\n  observed: %s\n  expected: %s", v.Problem, v.Observed, v.Expected)
}

// maxDescribed caps how many allowed states a verdict spells out.
const maxDescribed = 4

// Check judges the observed recovered state.
func (p *Prefix) Check(observed any) Verdict {
	v := Verdict{Prefix: -1, Durable: p.durable, Invoked: len(p.inputs)}
	for k := p.durable; k <= len(p.inputs); k++ {
		if p.model.equal(p.state(k), observed) {
			v.OK, v.Prefix = true, k
			return v
		}
	}
	v.Observed = p.model.describeState(observed)
	v.Expected = p.describeAllowed()
	if p.model.Diff != nil {
		v.Diff = fmt.Sprintf("against the state after %d ops: %s", len(p.inputs), p.model.Diff(p.state(len(p.inputs)), observed))
	}
	for k := p.durable - 1; k >= p.lo; k-- {
		if p.model.equal(p.state(k), observed) {
			v.Prefix = k
			v.Problem = fmt.Sprintf("acknowledged operations lost: recovered the state after %d operations, but %d were acknowledged durable (lost: %s)",
				k, p.durable, p.describeInputs(k+1, p.durable))
			return v
		}
	}
	v.Problem = fmt.Sprintf("recovered state matches no prefix of the %d operations invoked (%d durable): an operation is half-applied or the state is corrupt", len(p.inputs), p.durable)
	return v
}

func (p *Prefix) state(k int) any { return p.states[k-p.lo] }

func (p *Prefix) describeAllowed() string {
	var b strings.Builder
	n := len(p.inputs) - p.durable + 1
	for i, k := 0, p.durable; k <= len(p.inputs); i, k = i+1, k+1 {
		if i == maxDescribed {
			fmt.Fprintf(&b, "; … %d more", n-i)
			break
		}
		if i > 0 {
			b.WriteString("; or ")
		}
		fmt.Fprintf(&b, "after %d ops: %s", k, p.model.describeState(p.state(k)))
	}
	return b.String()
}

func (p *Prefix) describeInputs(from, to int) string {
	parts := make([]string, 0, to-from+1)
	for i := from; i <= to; i++ {
		if len(parts) == maxDescribed {
			parts = append(parts, fmt.Sprintf("… %d more", to-i+1))
			break
		}
		parts = append(parts, fmt.Sprintf("#%d %s", i, p.model.describeInput(p.inputs[i-1])))
	}
	return strings.Join(parts, ", ")
}
