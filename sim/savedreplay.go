package sim

import (
	"fmt"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// RunSavedReplay rebuilds the crash state id names from the saved
// execution e, without running the workload: the crash image of the
// workload's crash is the one saved, and the history the check judges
// against is the saved one. Recovery, which is code, runs on it, and so
// do the continuations and recoveries of the id's later crashes (a chain,
// a crash of the recovery), as in RunReplay; the verdict is judged again.
// The Kept, Lost, BreaksOn and NotOn of a violation of the workload's
// crash are the saved violation's: they need the pending units of the
// crash point, which only a run of the workload has. The Replay's Saved
// says so, and its Trace is the saved excerpt.
//
// It returns an error wrapping ErrNotSaved when e holds no state of id,
// and ErrUsage when id is not sc's or the saved history does not fit sc's
// model (its inputs of a type this process has not registered with gob, or
// that the model refuses).
func RunSavedReplay(sc *Scenario, id ReplayID, e *Execution) (*Replay, error) {
	if id.Scenario != sc.Name {
		return nil, fmt.Errorf("%w: replay id is for scenario %s, not %s", ErrUsage, id.Scenario, sc.Name)
	}
	var s *SavedState
	for i := range e.States {
		if e.States[i].ID == id.String() {
			s = &e.States[i]
			break
		}
	}
	if s == nil {
		return nil, fmt.Errorf("%w: the saved execution of %s holds %d states, none of %s", ErrNotSaved, e.Scenario, len(e.States), id)
	}
	img, err := faultfs.FromImage(s.Image)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExecutionCorrupt, err)
	}
	check, err := savedCheck(sc.Model, s)
	if err != nil {
		return nil, fmt.Errorf("%w: the saved history of %s: %v", ErrUsage, id, err)
	}
	var choice faultfs.Choice
	if id.Choice != "keep" {
		// The recovery's seed is the state's, as in the run.
		if choice, err = faultfs.ParseChoice(id.Choice); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUsage, err)
		}
	}
	opts := id.Options()
	opts.Workers = 1
	x, err := newExplorer(sc, opts)
	if err != nil {
		return nil, err
	}
	x.replay = &replayTarget{id: id}
	sv := s.Violation
	r := &Replay{ID: id, Doc: sc.Doc, Trace: sv.Excerpt,
		Saved: fmt.Sprintf("a saved execution: the crash image and the history up to crash point %d were saved by the run, and the workload was not run again (its trace is the run's excerpt); the recovery ran", id.Point)}
	x.replay.out = r
	v := Violation{Point: sv.Point, Trace: sv.Trace, At: sv.At, ReplayID: id.String(), Kept: []Unit{}, Lost: []Unit{}, Liveness: id.Continuation, Excerpt: sv.Excerpt}
	func() {
		// As in replayPoint: whatever goes wrong, the replay says so as an
		// error.
		defer func() {
			if p := recover(); p != nil {
				x.replay.out = nil
				x.replay.err = fmt.Errorf("%w: replaying the saved state failed: %v", ErrDiverged, p)
			}
		}()
		x.replayState(r, v, job{point: pointKey(id.Schedule, id.Point), choice: choice, check: check, died: s.Died, base: x.opts.Seed}, img)
	}()
	if x.replay.err != nil {
		return nil, x.replay.err
	}
	if r.Violation != nil {
		r.Violation.BreaksOn, r.Violation.NotOn = sv.BreaksOn, sv.NotOn
		if len(id.Chain) == 0 && id.RecoveryPoint < 0 {
			r.Violation.Kept, r.Violation.Lost, r.Violation.Culprit = sv.Kept, sv.Lost, sv.Culprit
		}
	}
	return r, nil
}

// onReplayImage, set by tests, is shown each replay's crash image of the
// workload's crash before its recovery.
var onReplayImage func(img *faultfs.FS)

// savedCheck rebuilds the checker of a saved state: the model's inputs
// invoked in order, the first Durable of them acknowledged.
func savedCheck(m models.Model, s *SavedState) (check *models.Prefix, err error) {
	inputs, err := decodeInputs(s.Inputs)
	if err != nil {
		return nil, fmt.Errorf("%v (a model input of a program's own type must be registered with gob.Register in the replaying process)", err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("model %s refuses it: %v", m.Name, p)
		}
	}()
	check = models.NewPrefix(m)
	for _, in := range inputs {
		check.Invoke(in)
	}
	check.Durable(s.Durable)
	return check, nil
}
