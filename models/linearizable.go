package models

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// History records the operations of concurrent clients, for the durable
// linearizability checks. Times are logical: every event takes the next tick,
// so the order of events is all that matters. It is not safe for concurrent
// use; the simulator's scheduler runs one simulated thread at a time.
type History struct {
	ops      []porcupine.Operation
	pending  map[int]bool
	clock    int64
	lastSync int64 // call time of the last completed sync; 0 if none
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{pending: map[int]bool{}} }

func (h *History) tick() int64 { h.clock++; return h.clock }

// Call records that client invoked input and returns the operation's id.
func (h *History) Call(client int, input any) int {
	id := len(h.ops)
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: input, Call: h.tick()})
	h.pending[id] = true
	return id
}

// Return records that operation id returned output.
func (h *History) Return(id int, output any) {
	h.ops[id].Output = output
	h.ops[id].Return = h.tick()
	delete(h.pending, id)
}

// Amend replaces the input of operation id, called or returned: for an
// operation whose input the client learns only when it returns, such as
// an append that returns the handle the store chose (BlobAppend). The
// call time stays the call's.
func (h *History) Amend(id int, input any) {
	h.ops[id].Input = input
}

// End records that operation id returned with no output given: the model
// accepts whatever output it gives, as for an operation whose result the
// client ignores. The return still orders the operation before every
// operation called after it.
func (h *History) End(id int) {
	h.Return(id, unknown{})
}

// Clone returns a copy of h that later calls to either do not change.
func (h *History) Clone() *History {
	c := *h
	c.ops = append([]porcupine.Operation(nil), h.ops...)
	c.pending = make(map[int]bool, len(h.pending))
	for id := range h.pending {
		c.pending[id] = true
	}
	return &c
}

// Pending reports whether operation id was called and has not returned.
func (h *History) Pending(id int) bool { return h.pending[id] }

// Describe renders the history for a report on one line, the operations
// in call order separated by "; ": each one's client, input and output
// ("pending" for one that has not returned), at most the last max.
func (h *History) Describe(m Model, max int) string {
	var b strings.Builder
	first := 0
	if len(h.ops) > max {
		first = len(h.ops) - max
		fmt.Fprintf(&b, "… %d operations before; ", first)
	}
	for id := first; id < len(h.ops); id++ {
		op := h.ops[id]
		out := "pending"
		switch {
		case h.pending[id]:
		case op.Output == unknown{}:
			out = "returned"
		default:
			out = "-> " + describeOutput(m, op.Output)
		}
		fmt.Fprintf(&b, "client %d: %s %s; ", op.ClientId, m.describeInput(op.Input), out)
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// describeOutput renders an output as a state if it is one, else with %v.
func describeOutput(m Model, out any) string {
	if m.DescribeState != nil {
		if s, ok := describeAsState(m, out); ok {
			return s
		}
	}
	return fmt.Sprint(out)
}

func describeAsState(m Model, out any) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			s, ok = "", false
		}
	}()
	return m.DescribeState(out), true
}

// Synced records that a sync barrier called at the time of operation
// callID's call completed: every operation that returned before it was called
// is durable. It matters only for buffered durable linearizability.
func (h *History) Synced(callID int) {
	h.SyncedAt(h.ops[callID].Call)
}

// Now returns the history's logical time, a tick of its own: the time a
// sync barrier is called, for SyncedAt.
func (h *History) Now() int64 { return h.tick() }

// SyncedAt records that a sync barrier called at time t (Now, or an
// operation's call) completed: every operation that returned before t is
// durable.
func (h *History) SyncedAt(t int64) {
	if t > h.lastSync {
		h.lastSync = t
	}
}

// Len returns how many operations were called.
func (h *History) Len() int { return len(h.ops) }

// unknown is the output of an operation still pending at the crash: the
// model accepts any output for it.
type unknown struct{}

// observation is the input of the final operation that reads the whole
// recovered state; its output is that state.
type observation struct{}

// porcupineModel adapts m for porcupine, with the two inputs the crash
// checks add.
func porcupineModel(m Model) porcupine.Model {
	// The functions porcupine calls at every step of its search, taken
	// out of m once: a call through the Model's methods copies it each
	// time (BenchmarkCheckDurable).
	apply, equal, equalOutput := m.Apply, m.Equal, m.EqualOutput
	if equal == nil {
		equal = reflect.DeepEqual
	}
	if equalOutput == nil {
		equalOutput = reflect.DeepEqual
	}
	return porcupine.Model{
		Init:  m.Init,
		Equal: equal,
		Step: func(state, input, output any) (bool, any) {
			if _, ok := input.(observation); ok {
				return equal(state, output), state
			}
			next, out := apply(state, input)
			if _, ok := output.(unknown); ok {
				return true, next
			}
			return equalOutput(out, output), next
		},
		DescribeOperation: func(input, output any) string {
			if _, ok := input.(observation); ok {
				return "recovered " + m.describeState(output)
			}
			return fmt.Sprintf("%s -> %v", m.describeInput(input), output)
		},
		DescribeState: m.describeState,
	}
}

// Linearizability verdicts, as porcupine gives them.
type LinearVerdict struct {
	// Result is porcupine's: Ok, Illegal, or Unknown when the search ran out
	// of time.
	Result porcupine.CheckResult
	// Problem says in one line what is wrong; empty when Ok.
	Problem string
	// Info can render an HTML picture of the history with porcupine. It is
	// filled in only when Result is Illegal: porcupine's search is cheaper
	// without it, so a history found illegal is searched a second time.
	Info porcupine.LinearizationInfo
	// Model is the adapted model, for porcupine.Visualize.
	Model porcupine.Model
}

// Visualize writes porcupine's HTML page of the history the verdict
// judged (porcupine.Visualize): every client's operations on a timeline,
// and the longest linearizations porcupine found. The verdict must be
// Illegal (or have Info otherwise).
func (v LinearVerdict) Visualize(w io.Writer) error {
	return porcupine.Visualize(v.Model, v.Info, w)
}

// CheckLinearizable checks that the history h is linearizable against m:
// the operations' outputs, in real-time order, are those of some sequential
// order of them. An operation still pending may or may not have taken
// effect, with any output. It is the check of a run that did not crash.
func CheckLinearizable(m Model, h *History, timeout time.Duration) LinearVerdict {
	v := check(m, h.operations(), timeout)
	if v.Result == porcupine.Illegal {
		v.Problem = fmt.Sprintf("not linearizable: no order of the %d operations explains their outputs", len(h.ops))
	}
	return v
}

// CheckDurable checks durable linearizability (Izraelevitz et al., DISC
// 2016): the history with the crash removed, plus the recovered state as a
// final observation, is linearizable. An operation pending at the crash may or
// may not have taken effect.
//
// With buffered set it checks buffered durable linearizability instead, for
// APIs that make writes durable in batches: operations that completed after
// the call of the last completed sync may be lost, but only as a suffix of a
// linearization. The observation then spans from that call to the end, so
// those operations may linearize after it (lost) or before it (kept), and
// real-time order among them makes the lost ones a suffix.
//
// timeout bounds porcupine's search (0: none).
func CheckDurable(m Model, h *History, observed any, buffered bool, timeout time.Duration) LinearVerdict {
	ops := h.operations()
	obsCall := h.clock + 1
	if buffered {
		obsCall = h.lastSync
	}
	ops = append(ops, porcupine.Operation{ClientId: maxClient(ops) + 1, Input: observation{}, Output: observed, Call: obsCall, Return: never - 1})
	v := check(m, ops, timeout)
	switch v.Result {
	case porcupine.Illegal:
		v.Problem = fmt.Sprintf("not durably linearizable: no order of the %d operations explains the recovered state %s", len(h.ops), m.describeState(observed))
	case porcupine.Unknown:
		v.Problem = "durable linearizability unknown: the search timed out"
	}
	return v
}

// never is the return time of an operation that never returned.
const never = int64(1) << 62

// operations returns the history for porcupine, with room for one more:
// operations pending get an unknown output and never return.
func (h *History) operations() []porcupine.Operation {
	ops := make([]porcupine.Operation, 0, len(h.ops)+1)
	for id, op := range h.ops {
		if h.pending[id] {
			op.Output, op.Return = unknown{}, never
		}
		ops = append(ops, op)
	}
	return ops
}

// check runs porcupine on ops, and again verbosely when they are illegal,
// for the picture.
func check(m Model, ops []porcupine.Operation, timeout time.Duration) LinearVerdict {
	pm := porcupineModel(m)
	v := LinearVerdict{Result: porcupine.CheckOperationsTimeout(pm, ops, timeout), Model: pm}
	switch v.Result {
	case porcupine.Illegal:
		_, v.Info = porcupine.CheckOperationsVerbose(pm, ops, timeout)
	case porcupine.Unknown:
		v.Problem = "linearizability unknown: the search timed out"
	}
	return v
}

func maxClient(ops []porcupine.Operation) int {
	m := 0
	for _, op := range ops {
		m = max(m, op.ClientId)
	}
	return m
}
