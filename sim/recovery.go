package sim

import (
	"strconv"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// recoveryCrash is a crash state of a recovery: Options.RecoveryCrashes
// crashes the recovery of each image at each of its own crash points and
// recovers again from there, which must still satisfy the check: recovery
// must be idempotent when it is itself interrupted.
type recoveryCrash struct {
	point   int
	at      Event
	choice  faultfs.Choice
	pend    *faultfs.Pending // nil for a process crash
	excerpt []Event
}

// nestedHook explores the crash points of one recovery, in the worker that
// judges its image, and stops at the first failure.
type nestedHook struct {
	x     *explorer
	j     job
	prof  faultfs.Profile // whose crash states the recovery's crash points have
	count bool            // count the recoveries in Result.Recoveries
	m     *Machine
	check *models.Prefix
	k     int
	seen  map[faultfs.Fingerprint]bool
	fail  *failure
}

// nestedStates bounds the states explored at one crash point of a
// recovery; they multiply with the states of the outer crash point.
const nestedStates = 32

// crashRecovery runs the recovery of j's image (a copy of it, base) with
// nestedHook at its crash points, whose states are prof's, and returns the
// first failure found. With count, its recoveries count in
// Result.Recoveries: not those that judge a violation's profiles, which
// only the shard that found the violation spends.
func (x *explorer) crashRecovery(j job, base *faultfs.FS, prof faultfs.Profile, count bool) *failure {
	m := machineOn(base)
	h := &nestedHook{x: x, j: j, prof: prof, count: count, m: m, check: j.check, seen: map[faultfs.Fingerprint]bool{}}
	m.hook = h
	x.recoverMachine(m, j.seedOf(j.choice))
	return h.fail
}

func (h *nestedHook) options() *Options { return &h.x.opts }

func (h *nestedHook) before(p *Process, at Event) {
	if h.x.opts.Fault == PowerFailure {
		h.point(at)
	}
}

func (h *nestedHook) after(p *Process, at Event) {
	if h.x.opts.Fault.f1() {
		h.point(at)
	}
}

func (h *nestedHook) point(at Event) {
	if h.fail != nil {
		return
	}
	k := h.k
	h.k++
	try := func(img *faultfs.FS, c faultfs.Choice, pend *faultfs.Pending) bool {
		fp := img.Fingerprint()
		if h.seen[fp] {
			return true
		}
		h.seen[fp] = true
		if h.count {
			h.x.recoveries.Add(1)
		}
		out := h.x.recoverMachine(untracedMachineOn(img), h.j.seedOf(h.j.choice))
		if bad := h.j.judge(out); bad != nil { // h.check is h.j.check
			h.fail = &failure{job: h.j, out: out, problem: *bad,
				rec: &recoveryCrash{point: k, at: at, choice: c, pend: pend, excerpt: h.m.excerpt()}}
			return false
		}
		return true
	}
	if h.x.opts.Fault.f1() {
		try(h.m.disk.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll}), faultfs.Choice{}, nil)
		return
	}
	pend := h.m.disk.PendingUnder(h.prof, h.x.opts.Granularity)
	limit := min(h.x.opts.MaxStates, nestedStates)
	for c := range pend.Choices(h.x.opts.Strategy.faultfs(), limit, h.x.seedAt(k)) {
		if !try(pend.Clone(c, h.x.opts.Tail), c, pend) {
			return
		}
	}
}

// violation turns a crash point's first failure into a Violation: shrunk to
// its cause when it is a power failure's crash state (of the chain's last
// crash).
func (x *explorer) violation(f *failure) Violation {
	pt := x.res.Points[f.job.slot]
	v := Violation{Point: pt.Index, State: f.job.idx, Trace: pt.Trace, At: pt.At, Excerpt: x.excerpts[f.job.slot], Kept: []Unit{}, Lost: []Unit{}, Liveness: f.liveness}
	// The id names the crash point by its schedule and its place in that
	// schedule's run, which is all a replay runs.
	schedule, local := splitPointKey(f.job.point)
	id := ReplayID{Scenario: x.sc.Name, Workload: x.digests[f.job.slot], Fault: x.opts.Fault, Profile: x.opts.Profile, Strategy: x.opts.Strategy, Seed: x.opts.Seed,
		Scheduler: x.opts.Scheduler, Depth: x.opts.Depth, Switches: x.opts.Switches, Schedule: schedule,
		Granularity: x.opts.Granularity, GarbageTail: x.opts.Tail.Garbage, Point: local, Choice: choiceKey(f.job.pend, f.job.choice), RecoveryPoint: -1, Continuation: f.liveness}
	if f.job.killed > 0 {
		id.Choice = killChoice(f.job.killed)
	}
	last := f.job // the chain's last crash
	for i, l := range f.chain {
		v.Chain = append(v.Chain, Crash{Epoch: i + 2, Point: l.j.point, Trace: l.at.Index, At: x.describeLater(l.at), Excerpt: l.excerpt})
		id.Chain = append(id.Chain, Link{Point: l.j.point, Choice: choiceKey(l.j.pend, l.j.choice)})
		last = l.j
	}
	lastChoice := func(key string) {
		if n := len(id.Chain); n > 0 {
			id.Chain[n-1].Choice = key
		} else {
			id.Choice = key
		}
	}
	bad := f.problem
	failing := last.choice // the state each profile is judged from
	switch {
	case f.liveness:
		// No crash state fails: the program after the last one's
		// recovery does. Each try to shrink it would run it again.
	case f.rec != nil:
		// The outer state recovered correctly; the failure is in the
		// recovery of a crashed recovery. Its units are the recovery's.
		id.RecoveryPoint, id.RecoveryChoice = f.rec.point, choiceKey(f.rec.pend, f.rec.choice)
		v.RecoveryCrash = "crash point " + strconv.Itoa(f.rec.point) + " of the recovery, " + x.describePoint(f.rec.at)
		if f.rec.pend != nil {
			lost, kept := deviations(f.rec.pend, f.rec.choice)
			v.Lost, v.Kept = units(f.rec.pend, f.rec.choice, lost, false), units(f.rec.pend, f.rec.choice, kept, true)
		}
	case last.pend != nil && last.died == "":
		// A death fails every state of its point: no unit explains it.
		e := shrink(last.pend, last.choice, func(c faultfs.Choice) (outcome, *judgement) {
			// Not counted in Result.Recoveries: every shard that found a
			// failing state at this point shrinks its own, and Merge keeps
			// one, so these would not add up to the whole run's.
			if r, ok := f.memo[c.Key()]; ok {
				return r.out, r.bad
			}
			m := untracedMachineOn(last.pend.Clone(c, x.opts.Tail))
			out := x.recoverMachine(m, last.seedOf(c))
			_, bad := judge(last.check, last.hist, "", out)
			if f.memo != nil {
				f.memo[c.Key()] = memoized{out, bad}
			}
			return out, bad
		})
		bad = e.bad
		lastChoice(e.choice.Key())
		v.Lost, v.Kept = units(last.pend, e.choice, e.lost, false), units(last.pend, e.choice, e.kept, true)
		failing = e.choice
	}
	if len(f.chain) == 0 && !f.liveness {
		v.BreaksOn, v.NotOn = x.breaksOn(f.job, failing, f.rec != nil)
	} else {
		v.BreaksOn, v.NotOn = x.chainBreaksOn(f, last, failing)
	}
	markUnits(f, v.Lost, v.Kept)
	v.ReplayID = id.String()
	v.Problem, v.Expected, v.Observed, v.Diff, v.Panic = bad.problem, bad.expected, bad.observed, bad.diff, bad.panic
	if bad.lin != nil {
		v.Linearization = bad.lin.visualize()
	}
	x.keepState(f, id)
	return v
}

// choiceKey is the replay form of a choice: "keep" for a process crash,
// which has no choice.
func choiceKey(p *faultfs.Pending, c faultfs.Choice) string {
	if p == nil {
		return "keep"
	}
	return c.Key()
}
