package sim

import (
	"fmt"

	"github.com/crashsim/crashsim/faultfs"
)

// Replay is one crash state rebuilt from its ReplayID, recovered again with
// the whole trace recorded and the source location of every storage
// operation of the workload.
type Replay struct {
	ID ReplayID
	// Doc is the scenario's Doc.
	Doc string
	// Violation is what is wrong with the state, nil if it now recovers
	// correctly. Its Kept and Lost list every unit the state keeps or
	// loses (the id names a state already shrunk by Explore).
	Violation *Violation
	// Verdict is one line: ok, or the problem.
	Verdict string
	// Trace is the run's trace up to the crash point.
	Trace []Event
	// Sources maps the trace index of a storage operation to the file:line
	// of the workload code that made it.
	Sources map[uint64]string
	// Recovery is the trace of the recovery of the crash image (of the
	// last recovery, for a crash during recovery).
	Recovery []Event
}

// replayTarget is what a replaying explorer looks for, and what it found.
type replayTarget struct {
	id  ReplayID
	out *Replay
	err error
}

// RunReplay rebuilds the crash state id names by running sc again with the
// same options up to the same crash point, recovers it, and judges it. It
// returns an error wrapping ErrDiverged when the run no longer reaches that
// point or state, which means the scenario or the engine changed, and
// ErrOtherWorkload (which wraps it) when the id has a workload digest and
// the run up to the point is not that workload.
func RunReplay(sc *Scenario, id ReplayID) (*Replay, error) {
	if id.Scenario != sc.Name {
		return nil, fmt.Errorf("%w: replay id is for scenario %s, not %s", ErrUsage, id.Scenario, sc.Name)
	}
	opts := id.Options()
	opts.Workers = 1
	x, err := newExplorer(sc, opts)
	if err != nil {
		return nil, err
	}
	x.replay = &replayTarget{id: id}
	x.run()
	switch {
	case x.replay.err != nil:
		return nil, x.replay.err
	case x.replay.out == nil && id.Workload != 0:
		return nil, fmt.Errorf("%w: the run reached %d crash points, not %d", ErrOtherWorkload, x.local, id.Point+1)
	case x.replay.out == nil:
		return nil, fmt.Errorf("%w: the run reached %d crash points, not %d", ErrDiverged, x.local, id.Point+1)
	}
	x.replay.out.Doc = sc.Doc
	return x.replay.out, nil
}

// replayPoint is crashPoint when replaying: it acts at the target point
// only, and ends the run there. died is as at crashPoint.
func (x *explorer) replayPoint(k int, at Event, died string) {
	id := x.replay.id
	if k != id.Point {
		return
	}
	defer x.stop("replayed")
	// It runs inside the workload's storage call, maybe in a goroutine of
	// the engine's with a lock of its own released: a panic here would
	// unwind through code that cannot take it (issue 11). Whatever went
	// wrong, the replay says so as an error.
	defer func() {
		if r := recover(); r != nil {
			x.replay.out = nil
			x.replay.err = fmt.Errorf("%w: rebuilding crash point %d failed: %v", ErrDiverged, k, r)
		}
	}()
	if id.Workload != 0 {
		if d := x.m.workloadDigest(); d != id.Workload {
			x.replay.err = fmt.Errorf("%w: at crash point %d the workload's digest is %016x, the id's %016x", ErrOtherWorkload, k, d, id.Workload)
			return
		}
	}
	check, _, img, pend := x.snapshot()
	var choice faultfs.Choice
	if pend != nil {
		var err error
		if choice, err = parseChoiceFor(pend, id.Choice); err != nil {
			x.replay.err = err
			return
		}
		img = pend.Clone(choice, x.opts.Tail)
	}
	r := &Replay{ID: id, Trace: append([]Event(nil), x.m.full...), Sources: x.m.sources}
	x.replay.out = r
	key := pointKey(id.Schedule, k)
	seed := x.recoverySeed(key, choice)
	m := machineOn(img)
	v := Violation{Point: k, Trace: at.Index, At: x.describePoint(at), ReplayID: id.String(), Kept: []Unit{}, Lost: []Unit{}}
	v.Excerpt = tail(r.Trace, excerptLen)
	unitsOf := func(p *faultfs.Pending, c faultfs.Choice) {
		if p == nil {
			return
		}
		lost, kept := deviations(p, c)
		v.Lost, v.Kept = units(p, c, lost, false), units(p, c, kept, true)
	}
	unitsOf(pend, choice)
	var out outcome
	if id.RecoveryPoint < 0 {
		m.startRecording()
		out = x.recoverMachine(m, seed)
		r.Recovery = m.full
	} else {
		h := &replayNested{x: x, id: id, seed: seed}
		m.hook = h
		x.recoverMachine(m, seed)
		if h.err != nil {
			x.replay.err = h.err
			return
		}
		if h.m == nil {
			x.replay.err = fmt.Errorf("%w: the recovery reached %d crash points, not %d", ErrDiverged, h.k, id.RecoveryPoint+1)
			return
		}
		out, r.Recovery = h.out, h.m.full
		v.RecoveryCrash = fmt.Sprintf("crash point %d of the recovery, %s", id.RecoveryPoint, x.describePoint(h.at))
		unitsOf(h.pend, h.choice)
	}
	for i := range v.Kept {
		v.Kept[i].Source = r.Sources[v.Kept[i].Trace]
	}
	for i := range v.Lost {
		v.Lost[i].Source = r.Sources[v.Lost[i].Trace]
	}
	bad := judge(check, died, out)
	if bad == nil {
		r.Verdict = "ok: the state recovers correctly"
		return
	}
	v.Problem, v.Expected, v.Observed, v.Diff, v.Panic = bad.problem, bad.expected, bad.observed, bad.diff, bad.panic
	v.BreaksOn, v.NotOn = x.breaksOn(job{point: key, choice: choice, pend: pend, check: check, died: died}, choice, id.RecoveryPoint >= 0)
	r.Violation, r.Verdict = &v, bad.problem
}

// replayNested crashes a recovery at the crash point a replay id names and
// recovers again from the state it names, recording that last recovery.
type replayNested struct {
	x    *explorer
	id   ReplayID
	seed uint64
	k    int

	at     Event
	pend   *faultfs.Pending
	choice faultfs.Choice
	m      *Machine // the machine of the last recovery, once run
	out    outcome
	err    error
}

func (h *replayNested) options() *Options { return &h.x.opts }

func (h *replayNested) before(p *Process, at Event) {
	if h.x.opts.Fault == PowerFailure {
		h.point(p, at)
	}
}

func (h *replayNested) after(p *Process, at Event) {
	if h.x.opts.Fault == ProcessCrash {
		h.point(p, at)
	}
}

func (h *replayNested) point(p *Process, at Event) {
	k := h.k
	h.k++
	if k != h.id.RecoveryPoint || h.m != nil || h.err != nil {
		return
	}
	defer p.Kill() // the crashed recovery stops here
	var img *faultfs.FS
	if h.x.opts.Fault == ProcessCrash {
		img = p.m.disk.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
	} else {
		h.pend = p.m.disk.PendingUnder(h.x.prof, h.x.opts.Granularity)
		var err error
		if h.choice, err = parseChoiceFor(h.pend, h.id.RecoveryChoice); err != nil {
			h.err = err
			return
		}
		img = h.pend.Clone(h.choice, h.x.opts.Tail)
	}
	h.at = at
	h.m = machineOn(img)
	h.m.startRecording()
	h.out = h.x.recoverMachine(h.m, h.seed)
}

// parseChoiceFor parses a choice key and checks that it fits p.
func parseChoiceFor(p *faultfs.Pending, key string) (faultfs.Choice, error) {
	c, err := faultfs.ParseChoice(key)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if c.Prefix > len(p.Meta) || len(c.Sizes) != len(p.Sizes) || len(c.Data) != len(p.Data) {
		return c, fmt.Errorf("%w: choice %s does not fit the crash point (%d namespace changes, %d sizes, %d data units pending)",
			ErrDiverged, key, len(p.Meta), len(p.Sizes), len(p.Data))
	}
	// Each unit's version too: a workload that went another way can leave
	// as many units with fewer versions, and the units of the replay's
	// report index them.
	for i, v := range c.Sizes {
		if v >= p.Sizes[i].Versions() {
			return c, fmt.Errorf("%w: choice %s picks version %d of the size of %s, which has %d at the crash point", ErrDiverged, key, v, p.Sizes[i].Path, p.Sizes[i].Versions())
		}
	}
	for i, v := range c.Data {
		if v >= p.Data[i].Versions() {
			return c, fmt.Errorf("%w: choice %s picks version %d of %s [%d,%d), which has %d at the crash point", ErrDiverged, key, v, p.Data[i].Path, p.Data[i].Off, p.Data[i].Off+int64(p.Data[i].Len), p.Data[i].Versions())
		}
	}
	if c.Garbage && p.Tails < 2 {
		return c, fmt.Errorf("%w: choice %s reads a garbage tail, which the crash point does not have", ErrDiverged, key)
	}
	return c, nil
}

func tail(events []Event, n int) []Event {
	return append([]Event(nil), events[max(0, len(events)-n):]...)
}
