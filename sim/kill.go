package sim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zeebo/xxh3"

	"github.com/crashsim/crashsim/models"
)

// killTarget is one kill of ProcessKill: process pid, just after the
// operation at crash point local of the schedule's run (its F1 crash
// points, counted over every process as ProcessCrash counts them).
type killTarget struct {
	local int
	pid   int

	// Set by the run that kills.
	reached bool
	at      Event  // the operation the process was killed after
	wrong   int    // the process whose operation the point was, if not pid
	failed  string // what the survivors failed with, "" if nothing
}

// describe says where the kill was, for the crash point at the end of
// the run.
func (t *killTarget) describe(end Event) string {
	return fmt.Sprintf("p%d killed after %s; the others went on to the end of the workload (#%d)", t.pid, t.at, end.Index)
}

// labKilled reports whether the explorer killed t's process
// (ProcessKill).
func (t *thread) labKilled() bool { return t.proc != nil && t.proc.lab.Load() }

// killChoice is the choice field of a replay id under ProcessKill: the
// process killed, "p3".
func killChoice(pid int) string { return "p" + strconv.Itoa(pid) }

// parseKillChoice parses killChoice's form.
func parseKillChoice(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(s, "p"))
	if !strings.HasPrefix(s, "p") || err != nil || n < 2 {
		return 0, fmt.Errorf("%w: the choice of a kill names the process killed, p2 or above (p1 is the workload's own), not %q", ErrUsage, s)
	}
	return n, nil
}

// runKills explores schedule i under ProcessKill: one run that finds
// where a process may be killed — after every operation of every
// process but the workload's own, and inside its copies: the crash
// points of ProcessCrash that are theirs — then one run per place, on a
// fresh machine under the same schedule, which kills that process there
// and lets the others go on; each such run's end is its one crash
// point. A replay runs only the kill its id names.
func (x *explorer) runKills(i int) (*sched, string) {
	if x.replay != nil {
		x.kill = &killTarget{local: x.replay.id.Point, pid: x.replay.kill}
		return x.runWorkload(i)
	}
	x.kill, x.candidates = nil, nil
	s, runErr := x.runWorkload(i)
	if runErr != "" {
		return s, runErr
	}
	for _, c := range x.candidates {
		if x.stopped.Load() {
			break
		}
		x.kill = &killTarget{local: c.local, pid: c.pid}
		if _, err := x.runWorkload(i); err != "" {
			x.kill = nil
			return s, err
		}
	}
	x.kill = nil
	return s, ""
}

// killPoint is the hook after an operation of p under ProcessKill: in
// the run that finds where to kill, it notes the place; in a run that
// kills, it kills p at its place. The caller holds x.hookMu.
func (x *explorer) killPoint(p *Process, at Event) {
	if x.stopped.Load() {
		return
	}
	local := x.local
	x.local++
	switch {
	case p.Killed():
	case x.kill == nil:
		if p != x.proc && x.killsInside(p.copyPiece, p.copyPieces, local) {
			x.candidates = append(x.candidates, killTarget{local: local, pid: p.ID})
		}
	case local == x.kill.local && !x.kill.reached:
		if p.ID != x.kill.pid {
			x.kill.wrong = p.ID
			return
		}
		x.kill.reached, x.kill.at = true, at
		p.lab.Store(true) // before Kill: its thread's markers stop at once
		p.Kill()
	}
}

// killEnd ends a run that was to kill x.kill: its one crash point, at
// the end, where the recovery judges what the survivors left. runErr is
// what the survivors failed with: a verdict on the kill, not an error of
// the run. It returns the run's error, if the kill was not where it
// should be (a run that went another way).
func (x *explorer) killEnd(m *Machine, proc *Process, runErr string) string {
	t := x.kill
	if !t.reached {
		why := fmt.Sprintf("the run reached %d crash points, not %d, where p%d was to be killed", x.local, t.local+1, t.pid)
		if t.wrong != 0 {
			why = fmt.Sprintf("crash point %d is an operation of p%d, not of p%d", t.local, t.wrong, t.pid)
		}
		if x.replay != nil {
			x.replay.err = fmt.Errorf("%w: %s", ErrDiverged, why)
			return ""
		}
		return why
	}
	t.failed = runErr
	x.hookMu.Lock()
	x.crashPoint(Event{Index: m.lastOp().Index + 1, Proc: proc.ID, Kind: "end"})
	x.hookMu.Unlock()
	return ""
}

// withoutEach returns the checkers of the histories of check without
// each nonempty subset of the operations open (invoked, not returned),
// numbered from 1: an operation the kill left pending may or may not
// have taken effect, at its place in the history, as durable
// linearizability allows it. Beyond six open operations only the
// history without all of them is tried.
func withoutEach(check *models.Prefix, open []int) []*models.Prefix {
	if len(open) == 0 {
		return nil
	}
	var alts []*models.Prefix
	if len(open) > 6 {
		return append(alts, without(check, open))
	}
	for set := 1; set < 1<<len(open); set++ {
		var drop []int
		for i, op := range open {
			if set&(1<<i) != 0 {
				drop = append(drop, op)
			}
		}
		alts = append(alts, without(check, drop))
	}
	return alts
}

// without returns the checker of check's history without the operations
// drop (sorted), its durable mark lowered by those of them below it.
func without(check *models.Prefix, drop []int) *models.Prefix {
	q := models.NewPrefix(check.Model())
	durable, d := check.DurableCount(), 0
	for i, k := 1, 0; i <= check.Invoked(); i++ {
		if k < len(drop) && drop[k] == i {
			k++
			if i <= durable {
				d++
			}
			continue
		}
		q.Invoke(check.Input(i))
	}
	q.Durable(durable - d)
	return q
}

// killDigest names what a kill leaves to judge beside the image and the
// history: the operations open, and what the survivors failed with.
func killDigest(t *killTarget, open []int) uint64 {
	h := mix(uint64(len(open)), xxh3.HashString(t.failed))
	for _, op := range open {
		h = mix(h, uint64(op))
	}
	return h
}

// judge judges one recovery of j's state: as the package's judge does,
// and under ProcessKill, with a failure of the survivors a violation
// whatever the recovery returns, and the recovered state good if it is
// good for the history with or without operations the kill left open.
func (j job) judge(out outcome) *judgement {
	if j.failed != "" {
		return &judgement{problem: fmt.Sprintf("after p%d was killed, the workload failed: %s", j.killed, j.failed)}
	}
	_, bad := judge(j.check, j.hist, j.died, out)
	if bad == nil || j.died != "" || out.err != nil || out.panic != "" || len(j.alts) == 0 {
		return bad
	}
	for _, alt := range j.alts {
		if _, b := judge(alt, nil, "", out); b == nil {
			return nil
		}
	}
	bad.problem += fmt.Sprintf(" (with or without the operations the kill left open, %s)", describeOps(j.check, j.open))
	return bad
}

// describeOps names operations of check by number and input.
func describeOps(check *models.Prefix, ops []int) string {
	var parts []string
	for _, op := range ops {
		in := check.Input(op)
		desc := fmt.Sprint(in)
		if d := check.Model().DescribeInput; d != nil {
			desc = d(in)
		}
		parts = append(parts, fmt.Sprintf("#%d %s", op, desc))
	}
	return strings.Join(parts, ", ")
}

// killsPerCopy bounds the places one copy gives to ProcessKill.
const killsPerCopy = 4

// killsInside reports whether ProcessKill kills after piece i of a copy
// split into n pieces (0 of 0: no copy), at crash point local. Each kill
// costs a run of the whole workload, where a process crash's state costs
// an image: so a copy of more than killsPerCopy pieces gives only the
// places that tell its states apart for a reader — after its first
// piece, after one drawn from the seed and the crash point among those
// in between, after the one before its last, and after its last (the
// copy whole) — rather than one per word. ProcessCrash still crashes
// the machine inside every piece.
func (x *explorer) killsInside(i, n, local int) bool {
	if n <= killsPerCopy || i == 1 || i >= n-1 {
		return true
	}
	// One of 2..n-2, drawn once per copy: its first piece's crash
	// point is local-(i-1).
	pick := 2 + int(mix(x.opts.Seed, uint64(local-(i-1)))%uint64(n-3))
	return i == pick
}
