package sim

import (
	"bytes"
	"fmt"

	"github.com/anishathalye/porcupine"

	"github.com/crashsim/crashsim/models"
)

// CheckKind is how a scenario's runs are judged (docs/DESIGN.md section
// 6). The zero value is the prefix property, which judges one client's
// operations by their order and its durability markers; the other two
// judge concurrent clients' histories with porcupine.
type CheckKind int

const (
	// PrefixCheck: the recovered state is the model's after operations
	// 1..k, every operation acknowledged durable (Env.Durable,
	// Env.DurableAll) inside 1..k. Outputs are not judged. The default.
	PrefixCheck CheckKind = iota
	// DurableLinearizability: each thread is a client; its Env.Invoke and
	// Env.Return make its operations' history, outputs included. The
	// history must be linearizable (a read that returns a value no order
	// of the operations explains is a violation, crash or not), and after
	// a crash the history up to the crash point, plus the recovered state
	// as a final observation, must be linearizable: every operation that
	// returned survives; one pending at the crash may or may not.
	DurableLinearizability
	// BufferedDurableLinearizability, for APIs that make writes durable
	// in batches: as DurableLinearizability, but operations that returned
	// after the call of the last completed sync (Env.Syncing) may be lost,
	// as a suffix of a linearization.
	BufferedDurableLinearizability
)

func (k CheckKind) String() string {
	switch k {
	case DurableLinearizability:
		return "durable linearizability"
	case BufferedDurableLinearizability:
		return "buffered durable linearizability"
	}
	return "prefix"
}

// linearizable reports whether the kind judges histories with porcupine.
func (k CheckKind) linearizable() bool { return k != PrefixCheck }

// clientHistory is a crash point's snapshot of the clients' history, for
// a scenario judged by linearizability.
type clientHistory struct {
	model    models.Model
	hist     *models.History
	buffered bool
}

// linFailure is what a violation of linearizability needs to draw
// porcupine's picture of it, once it is reported.
type linFailure struct {
	h        *clientHistory
	observed any
	durable  bool // judged with the recovered state; else the history alone
}

// visualize renders porcupine's page of the failure, or "" if the
// history turns out linearizable after all (it does not: judging is
// deterministic).
func (f *linFailure) visualize() string {
	var v models.LinearVerdict
	if f.durable {
		v = models.CheckDurable(f.h.model, f.h.hist, f.observed, f.h.buffered, 0)
	} else {
		v = models.CheckLinearizable(f.h.model, f.h.hist, 0)
	}
	if v.Result != porcupine.Illegal {
		return ""
	}
	var b bytes.Buffer
	if err := v.Visualize(&b); err != nil {
		return ""
	}
	return b.String()
}

// judgeLinearizable judges a recovered state against the clients'
// history: first with the state (durable linearizability), and if that
// fails, the history alone, to say whether the crash is to blame or the
// outputs were wrong already. porcupine's search has no time limit, so
// that the verdict does not depend on the machine's speed.
func judgeLinearizable(h *clientHistory, state any) (bad *judgement) {
	defer func() {
		if r := recover(); r != nil {
			bad = &judgement{problem: fmt.Sprintf("recovered state %T does not fit model %s: %v", state, h.model.Name, r)}
		}
	}()
	v := models.CheckDurable(h.model, h.hist, state, h.buffered, 0)
	if v.Result == porcupine.Ok {
		return nil
	}
	observed := describeState(h.model, state)
	if lv := models.CheckLinearizable(h.model, h.hist, 0); lv.Result == porcupine.Illegal {
		return &judgement{
			problem:  fmt.Sprintf("not linearizable, crash or not: no order of the %d operations before the crash explains their outputs", h.hist.Len()),
			expected: "outputs of a linearizable history",
			observed: h.hist.Describe(h.model, 12),
			lin:      &linFailure{h: h},
		}
	}
	kind := "durably linearizable"
	if h.buffered {
		kind = "buffered durably linearizable"
	}
	return &judgement{
		problem:  fmt.Sprintf("not %s: no order of the %d operations before the crash explains the recovered state", kind, h.hist.Len()),
		expected: "the state after an order of the operations that returned (and of any pending)",
		observed: observed,
		lin:      &linFailure{h: h, observed: state, durable: true},
	}
}

func describeState(m models.Model, s any) string {
	if m.DescribeState != nil {
		return m.DescribeState(s)
	}
	return fmt.Sprint(s)
}
