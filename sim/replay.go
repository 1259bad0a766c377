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
	// last recovery, for a crash during recovery, or after the chain's
	// last crash), and RecoverySources the source line of each of its
	// storage operations: the recovery code's.
	Recovery        []Event
	RecoverySources map[uint64]string
	// Crashed is the recovery that crashed, for a crash during recovery
	// (ReplayID.RecoveryPoint): its trace up to its crash point, with the
	// recovery code's line of each storage operation. The violation's
	// units are that recovery's, and their Source lines come from it.
	// Its Epoch is the epoch the recovery belongs to.
	Crashed *Epoch
	// Epochs are the program's lives after the first, for a state reached
	// through more than one crash, or a continuation that failed
	// (docs/DESIGN.md F4).
	Epochs []Epoch
	// Saved is set when the crash image came from a saved execution
	// (RunSavedReplay) rather than from running the workload again: it
	// says from where. Trace is then the saved excerpt, without Sources.
	Saved string
}

// Epoch is one later life of the program in a Replay: the trace of the
// machine that held the crash image before it — its recovery's
// operations, then the continuation's — with the source line of each
// storage operation, up to its crash or, for a continuation that failed,
// to its end.
type Epoch struct {
	// Epoch numbers it: 2 is the first continuation's.
	Epoch   int
	Trace   []Event
	Sources map[uint64]string
	// At says where it crashed, as Violation.At does, and Crash is the
	// index of that operation; At is "" for a continuation run to its end.
	At    string
	Crash uint64
}

// replayTarget is what a replaying explorer looks for, and what it found.
type replayTarget struct {
	id   ReplayID
	kill int // under ProcessKill, the process the id kills
	out  *Replay
	err  error
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
	if id.Fault == ProcessKill {
		if x.replay.kill, err = parseKillChoice(id.Choice); err != nil {
			return nil, err
		}
	}
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
	check, hist, _, img, pend, open := x.snapshot()
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
	key := pointKey(id.Schedule, k) // the crash point's seeds are the schedule's
	v := Violation{Point: k, Trace: at.Index, At: x.describePoint(at), ReplayID: id.String(), Kept: []Unit{}, Lost: []Unit{}, Liveness: id.Continuation}
	v.Excerpt = tail(r.Trace, excerptLen)
	j := job{point: key, choice: choice, pend: pend, check: check, hist: hist, died: died, base: x.opts.Seed}
	if x.kill != nil {
		j.killed, j.failed, j.open = x.kill.pid, x.kill.failed, open
		if hist == nil {
			j.alts = withoutEach(check, open)
		}
	}
	x.replayState(r, v, j, img)
}

// replayState recovers the workload's crash image img of crash point
// j.point (a pointKey), whose state is j.choice of j.pend (nil for a
// process crash, or a saved image), goes on through the crashes of the
// id's chain, and judges the last recovery as j says (j.check, j.hist,
// j.died, a kill's); v is the violation's crash point. It fills r, or
// sets x.replay.err.
func (x *explorer) replayState(r *Replay, v Violation, j job, img *faultfs.FS) {
	id := r.ID
	if onReplayImage != nil {
		onReplayImage(img)
	}
	f := &failure{job: j, liveness: id.Continuation}
	last, sources := f.job, r.Sources // the chain's last crash, and the sources of its trace
	m := machineOn(img)
	// Crashes after the first (docs/DESIGN.md F4): each crash's state is
	// recovered, and the program goes on to the next crash.
	for n := 0; n < len(id.Chain) || id.Continuation && n == len(id.Chain); n++ {
		m.startRecording(x.sc.Adapters)
		out := x.recoverMachine(m, last.seedOf(last.choice))
		kk, bad := judge(last.check, last.hist, last.died, out)
		if bad != nil {
			x.replay.err = fmt.Errorf("%w: the state of the chain's crash %d no longer recovers correctly (%s): the program does not go on from it", ErrDiverged, n+1, bad.problem)
			return
		}
		var link *Link
		if n < len(id.Chain) {
			link = &id.Chain[n]
		}
		later, err := x.replayLater(m, last.check.Restart(kk), n+2, last.seedOf(last.choice), link)
		if err != nil {
			x.replay.err = err
			return
		}
		r.Epochs = append(r.Epochs, later.epoch)
		if link == nil {
			if later.problem == "" {
				r.Verdict = "ok: the program goes on after the recovery"
				return
			}
			v.Problem = later.problem
			v.BreaksOn, v.NotOn = x.chainBreaksOn(f, last, last.choice)
			r.Violation, r.Verdict = &v, later.problem
			return
		}
		v.Chain = append(v.Chain, Crash{Epoch: n + 2, Point: link.Point, Trace: later.epoch.Crash, At: later.epoch.At, Excerpt: tail(later.epoch.Trace, excerptLen)})
		f.chain = append(f.chain, chainLink{j: later.next})
		last, sources = later.next, later.epoch.Sources
		m = machineOn(later.img)
	}
	seed := last.seedOf(last.choice)
	unitsOf := func(p *faultfs.Pending, c faultfs.Choice) {
		if p == nil {
			return
		}
		lost, kept := deviations(p, c)
		v.Lost, v.Kept = units(p, c, lost, false), units(p, c, kept, true)
	}
	unitsOf(last.pend, last.choice)
	var out outcome
	if id.RecoveryPoint < 0 {
		m.startRecording(x.sc.Adapters)
		out = x.recoverMachine(m, seed)
		r.Recovery, r.RecoverySources = m.full, m.sources
	} else {
		h := &replayNested{x: x, id: id, seed: seed}
		m.hook = h
		// The crashed recovery is recorded too: the units of its crash
		// state are its own operations, whose lines are the culprits.
		m.startRecording(x.sc.Adapters)
		x.recoverMachine(m, seed)
		if h.err != nil {
			x.replay.err = h.err
			return
		}
		if h.m == nil {
			x.replay.err = fmt.Errorf("%w: the recovery reached %d crash points, not %d", ErrDiverged, h.k, id.RecoveryPoint+1)
			return
		}
		out, r.Recovery, r.RecoverySources = h.out, h.m.full, h.m.sources
		r.Crashed = &Epoch{Epoch: len(id.Chain) + 2, Trace: m.full, Sources: m.sources, At: x.describePoint(h.at), Crash: h.at.Index}
		v.RecoveryCrash = fmt.Sprintf("crash point %d of the recovery, %s", id.RecoveryPoint, x.describePoint(h.at))
		unitsOf(h.pend, h.choice)
		// The units are the crashed recovery's operations: its trace
		// counts from 0 again, so the workload's lines would mislabel
		// them.
		sources = m.sources
		f.rec = &recoveryCrash{}
	}
	markUnits(f, v.Lost, v.Kept)
	for i := range v.Kept {
		v.Kept[i].Source = sources[v.Kept[i].Trace]
	}
	for i := range v.Lost {
		v.Lost[i].Source = sources[v.Lost[i].Trace]
	}
	v.Culprit = culprit(v.Lost, v.Kept)
	bad := last.judge(out)
	if bad == nil {
		r.Verdict = "ok: the state recovers correctly"
		return
	}
	v.Problem, v.Expected, v.Observed, v.Diff, v.Panic = bad.problem, bad.expected, bad.observed, bad.diff, bad.panic
	if bad.lin != nil {
		v.Linearization = bad.lin.visualize()
	}
	if len(f.chain) == 0 {
		v.BreaksOn, v.NotOn = x.breaksOn(last, last.choice, id.RecoveryPoint >= 0)
	} else {
		v.BreaksOn, v.NotOn = x.chainBreaksOn(f, last, last.choice)
	}
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
	if h.x.opts.Fault.f1() {
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
	if h.x.opts.Fault.f1() {
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
	h.m.startRecording(h.x.sc.Adapters)
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
