package sim

import (
	"slices"
	"strings"
)

// Culprits (issue 10 section 4): each violation names the unit that
// caused it (Violation.Culprit), with its source line where the run can
// tell it, and a crash point reports every distinct cause among its
// failing states, not only its first.

// culprit returns the unit a violation blames among its shrunk units: the
// earliest change lost (by trace index), which the state needed durable —
// for the namespace, the first lost rename or create, never the last one
// kept — or, when the state fails for what it keeps, the latest change
// kept. It returns nil when the violation has no units (a process crash,
// a death, a continuation that failed).
func culprit(lost, kept []Unit) *Unit {
	var c *Unit
	for i := range lost {
		if lost[i].Kind != "tail" && (c == nil || lost[i].Trace < c.Trace) {
			c = &lost[i]
		}
	}
	if c == nil {
		for i := range kept {
			if kept[i].Kind != "tail" && (c == nil || kept[i].Trace > c.Trace) {
				c = &kept[i]
			}
		}
	}
	if c == nil {
		return nil
	}
	u := *c
	return &u
}

// causeKey identifies a violation's cause: its shrunk units. Two
// violations of one crash point with the same key are one cause.
func causeKey(v *Violation) string {
	var b strings.Builder
	for _, u := range v.Lost {
		b.WriteString("\x00lost " + u.key())
	}
	for _, u := range v.Kept {
		b.WriteString("\x00kept " + u.key())
	}
	return b.String()
}

// key identifies a unit and the version a state picked of it, without
// its source line.
func (u Unit) key() string {
	u.Source = ""
	return u.String()
}

// cause reports whether f is one of its crash point's causes: a failing
// power-failure state of the workload that loses at most one of its
// pending units (some of its changes), whose cause shrinking finds — not
// a crash of its recovery, a chain, a continuation that failed or a
// death. Such a state is its own cause, nearly: its shrink is cheap, and
// each unit whose loss alone fails is one cause. Whether a state is one
// depends on nothing but the state, never on which other states failed
// or in which shard, so the causes a run reports are those its shards
// report, merged (see Merge). A point has at most one such state per
// version of each unit, fewer where the strategy samples.
func (f *failure) cause() bool {
	if f.rec != nil || len(f.chain) != 0 || f.liveness || f.job.pend == nil || f.job.died != "" {
		return false
	}
	lost, _ := deviations(f.job.pend, f.job.choice)
	return len(lost) <= 1
}

// shrinkMemo remembers the judgement of each state tried while shrinking
// the causes of one crash point, which try many of the same states.
type shrinkMemo map[string]memoized

type memoized struct {
	out outcome
	bad *judgement
}

// violations turns the failing states of crash point slot into its
// violations, in the order of their states: one per distinct cause among
// its causes (each shrunk, grouped by its shrunk units: Violation.Cause),
// or, if it has none, its first failing state's.
func (x *explorer) violations(slot int) []Violation {
	causes := x.causes[slot]
	if len(causes) == 0 {
		return []Violation{x.violation(x.fails[slot])}
	}
	slices.SortFunc(causes, func(a, b *failure) int { return a.job.idx - b.job.idx })
	var out []Violation
	memo := shrinkMemo{}
	seen := map[string]bool{}
	for _, f := range causes {
		f.memo = memo
		v := x.violation(f)
		v.Cause = true
		if k := causeKey(&v); !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// keepCause keeps f for violations if it is one of its crash point's
// causes, without its image, which nothing reads again.
func (x *explorer) keepCause(f *failure) {
	if !f.cause() {
		return
	}
	f.job.img = nil
	if x.causes == nil {
		x.causes = map[int][]*failure{}
	}
	x.causes[f.job.slot] = append(x.causes[f.job.slot], f)
}

// quietHook is the hook of a machine that runs the workload again only to
// record it: it passes no crash point, but it makes the machine split
// copies as the explorer's does, so that the trace counts the same.
type quietHook struct{ opts *Options }

func (h quietHook) before(*Process, Event) {}
func (h quietHook) after(*Process, Event)  {}
func (h quietHook) options() *Options      { return h.opts }

// workloadSources runs the workload again on a machine of its own,
// recording the source line of each storage operation, as a replay does,
// and returns them by trace index: the lines of the units of the
// workload's crash states. The workload is a function of the seed and of
// the schedule, whose plan it runs under as the explorer's run did, so
// its trace is the explorer's; the digest at the end says whether it was.
// It costs one run of the workload and a stack walk per operation, which
// only a run with violations spends.
func (x *explorer) workloadSources(schedule int) map[uint64]string {
	m := NewMachine()
	m.startRecording(x.sc.Adapters)
	m.hook = quietHook{&x.opts}
	m.seed = x.opts.Seed
	m.ck = newChecker(x.sc)
	p := m.Start("workload")
	s := newSched(m, newPlan(x.opts.Scheduler, scheduleSeed(x.opts.Seed, schedule), x.opts.Depth, x.opts.Switches, x.steps))
	m.sched.Store(s)
	s.start(p, "", x.sc.Run, m.envFor(p, nil)) // its outcome is the explorer's to report
	<-s.done
	m.endThreads()
	return m.sources
}

// nameCulprits fills in the source line of each unit of the workload's
// crash states (Unit.Epoch 1, not made by a recovery) from the workload
// run again, and names each violation's culprit.
func (x *explorer) nameCulprits(vs []Violation) {
	sources := map[int]map[uint64]string{} // by schedule
	for i := range vs {
		v := &vs[i]
		for _, units := range [][]Unit{v.Lost, v.Kept} {
			for k := range units {
				u := &units[k]
				if u.Epoch > 1 || u.Recovery || u.Kind == "tail" {
					continue
				}
				schedule := x.scheduleOf(v.Point)
				if sources[schedule] == nil {
					sources[schedule] = x.workloadSources(schedule)
				}
				u.Source = sources[schedule][u.Trace]
			}
		}
		v.Culprit = culprit(v.Lost, v.Kept)
	}
}

// scheduleOf returns the schedule whose run reached crash point index.
func (x *explorer) scheduleOf(index int) int {
	if i := slices.IndexFunc(x.res.Points, func(p Point) bool { return p.Index == index }); i >= 0 {
		return x.res.Points[i].Schedule
	}
	return 0
}

// markUnits says whose trace the units of f's violation index: the
// workload's (epoch 1), a continuation's for a later crash of a chain, or
// the recovery's that crashed after the chain's last crash.
func markUnits(f *failure, units ...[]Unit) {
	epoch, rec := 1+len(f.chain), f.rec != nil
	if rec {
		epoch++
	}
	for _, us := range units {
		for i := range us {
			us[i].Epoch, us[i].Recovery = epoch, rec
		}
	}
}
