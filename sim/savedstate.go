package sim

import (
	"fmt"
	"slices"
	"sync"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// saver collects, with Options.SaveExecution, what each violation's saved
// state needs, as violations are made (concurrently, one goroutine per
// crash point), until the run's violations are final.
type saver struct {
	mu     sync.Mutex
	states map[string]pendingState // by replay id
}

// pendingState is a violation's state before it is encoded.
type pendingState struct {
	img   *faultfs.FS // the workload's crash image, or nil if why says why not
	check *models.Prefix
	died  string
	why   string
}

// keepImage returns, when the run saves its execution, a copy of a
// process crash's image made before its recovery changes it: a power
// failure's is built again from its choice when it fails.
func (x *explorer) keepImage(j job) *faultfs.FS {
	if x.saver == nil || j.pend != nil {
		return nil
	}
	return j.img.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
}

// keepState keeps what the saved state of f's violation, named id, needs:
// the crash image of the workload's crash (of the first crash of a
// chain), and the history it is judged against.
func (x *explorer) keepState(f *failure, id ReplayID) {
	if x.saver == nil {
		return
	}
	ps := pendingState{check: f.job.check, died: f.job.died}
	switch {
	case f.job.hist != nil:
		// Not saved yet: a clients' history (Scenario.Check) and the
		// operations a kill left open; judging by the prefix alone
		// would replay a different check.
		ps.why = "a saved execution does not yet hold the clients' history a linearizability check needs"
	case f.job.killed != 0:
		ps.why = "a saved execution does not yet hold what a kill of one process left open"
	case f.job.pend != nil:
		c, err := faultfs.ParseChoice(id.Choice)
		if err != nil {
			ps.why = err.Error()
			break
		}
		ps.img = f.job.pend.Clone(c, x.opts.Tail)
	case f.saved != nil:
		ps.img = f.saved
	default:
		ps.why = "no image of the workload's crash was kept"
	}
	x.saver.mu.Lock()
	x.saver.states[id.String()] = ps
	x.saver.mu.Unlock()
}

// ReplayCommand is the crashsim command that replays v, a violation of
// r: `crashsim replay <id>`, from r's saved execution when r has an
// ExecutionFile that holds its state (or, read back from JSON, when it
// has one at all).
func (r *Result) ReplayCommand(v *Violation) string {
	cmd := "crashsim replay " + v.ReplayID
	if r.ExecutionFile == "" {
		return cmd
	}
	if r.Execution != nil && !slices.ContainsFunc(r.Execution.States, func(s SavedState) bool { return s.ID == v.ReplayID }) {
		return cmd
	}
	return "crashsim replay --execution " + shellWord(r.ExecutionFile) + " " + v.ReplayID
}

// saveExecution fills r.Execution, when the run saves its execution, with
// the saved state of each of r's violations, in their order.
func (x *explorer) saveExecution(r *Result) {
	if x.saver == nil {
		return
	}
	e := &Execution{Scenario: x.sc.Name}
	for _, v := range r.Violations {
		ps, ok := x.saver.states[v.ReplayID]
		if !ok || ps.img == nil {
			why := ps.why
			if !ok {
				why = "no state kept"
			}
			e.Unsaved = append(e.Unsaved, v.ReplayID+": "+why)
			continue
		}
		inputs := make([]any, ps.check.Invoked())
		for i := range inputs {
			inputs[i] = ps.check.Input(i + 1)
		}
		b, err := encodeInputs(inputs)
		if err != nil {
			e.Unsaved = append(e.Unsaved, fmt.Sprintf("%s: the model's inputs cannot be saved: %v", v.ReplayID, err))
			continue
		}
		e.States = append(e.States, SavedState{ID: v.ReplayID, Violation: v, Inputs: b, Durable: ps.check.DurableCount(), Died: ps.died,
			Fingerprint: ps.img.Fingerprint(), Image: ps.img.Image()})
	}
	r.Execution = e
}
