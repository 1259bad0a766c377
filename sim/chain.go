package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// Crashes after the first (docs/DESIGN.md F4). A chain starts at a crash
// state of the workload whose recovery is correct: the program goes on
// (Scenario.Continue) on the machine the recovery left, and the explorer
// crashes that continuation at its own crash points, recovers each state
// and judges it against the one history of the run (models.Prefix.
// Restart), and so on to Options.CrashDepth crashes.
//
// Which states are continued is decided by the sequencer, so that it is
// the same in every shard: a seeded sample of at most Options.MaxChains
// of the run's distinct crash images (chainSample), each continued by the
// shard that judges it. They are continued when the workload is done
// (startChains), under a state budget only as many as what the workload's
// crash points left of it pays for, Options.chainStates each.

// chainPointStates bounds the states one crash point of a continuation
// offers to its chain's sample.
const chainPointStates = 16

// chainStart is a crash state of the workload that the sequencer chose to
// continue.
type chainStart struct {
	u   int         // the distinct image's number in the run: which shard continues it
	img *faultfs.FS // a copy of a process crash's image; a power failure's is built again from its choice
}

// image returns the crash image of j, a continuation's job.
func (st *chainStart) image(j job, tail faultfs.Tail) *faultfs.FS {
	if st.img != nil {
		img := st.img
		st.img = nil
		return img
	}
	return j.pend.Clone(j.choice, tail)
}

// chainSample is the sequencer's seeded sample of the crash states to
// continue: a reservoir (Algorithm R) over the run's distinct crash
// images, one per fingerprint — the same image recovers and continues the
// same way wherever it was found.
type chainSample struct {
	max    int
	rng    *rand.Rand
	seen   map[faultfs.Fingerprint]bool
	n      int   // images offered
	picked []job // their start set
}

func newChainSample(max int, seed uint64) chainSample {
	return chainSample{max: max, rng: rand.New(rand.NewPCG(seed, 0x636861696e73)), seen: map[faultfs.Fingerprint]bool{}}
}

// offer offers the distinct image numbered u in the run, which j judges
// and whose fingerprint is fp; own says that j's image is a process
// crash's, which is recovered once and must be copied to be continued.
func (s *chainSample) offer(u int, j job, fp faultfs.Fingerprint, own bool) {
	if s.seen[fp] {
		return
	}
	s.seen[fp] = true
	s.n++
	slot := len(s.picked)
	if slot == s.max {
		if slot = s.rng.IntN(s.n); slot >= s.max {
			return
		}
		s.drop(s.picked[slot])
	}
	st := &chainStart{u: u}
	if own {
		st.img = j.img.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
	}
	j.img, j.start = nil, st
	if slot == len(s.picked) {
		s.picked = append(s.picked, j)
	} else {
		s.picked[slot] = j
	}
}

func (s *chainSample) drop(j job) {
	if j.start.img != nil {
		j.start.img.Release()
		j.start.img = nil
	}
}

// startChains sends this shard's continuations to the workers once the
// workload's crash points are all sequenced: a seeded choice of the
// sample, as many as the state budget leaves room for (chainStates
// each), in the order of the run. A run its time budget stopped continues
// nothing.
func (x *explorer) startChains() {
	if x.depth < 2 {
		return
	}
	picked := x.chains.picked
	x.mu.Lock()
	timeUp := x.res.Stopped == "time budget"
	x.mu.Unlock()
	n := len(picked)
	if timeUp {
		n = 0
	}
	if b := x.opts.Budget.States; b > 0 {
		n = min(n, max(0, b-x.explored)/x.opts.chainStates())
	}
	chosen := x.chains.rng.Perm(len(picked))[:n]
	slices.SortFunc(chosen, func(a, b int) int { return picked[a].start.u - picked[b].start.u })
	run := map[int]bool{}
	b := &batch{}
	for _, i := range chosen {
		if x.opts.Shard.judges(picked[i].start.u) {
			run[i] = true
			b.jobs = append(b.jobs, picked[i])
		}
	}
	for i, j := range picked {
		if !run[i] {
			x.chains.drop(j)
		}
	}
	for range min(len(b.jobs), x.opts.Workers) {
		x.jobs <- b
	}
}

// timeUp reports whether the time budget ran out.
func (x *explorer) timeUp() bool {
	return x.opts.Budget.Time > 0 && time.Since(x.start) > x.opts.Budget.Time
}

// chainLink is one crash of a chain after the first: the job of its state
// (its crash point in its continuation, its choice, the history it is
// judged against), where it struck, and the trace before it.
type chainLink struct {
	j       job
	at      Event
	excerpt []Event
}

// chain explores the continuations that follow one crash state of the
// workload, in the worker that continues it, and stops at the first
// failure.
type chain struct {
	x     *explorer
	first job // the workload's crash state
}

// continueChain recovers j's state again, on a machine that keeps its
// trace and what is durable, and goes on from it. A state whose recovery
// fails is its own judgement's to report.
func (x *explorer) continueChain(j job) {
	img := j.start.image(j, x.opts.Tail)
	defer img.Release()
	first := j
	first.img = img
	saved := x.keepImage(first) // with Options.SaveExecution, a process crash's image before its recovery
	defer func() {
		if saved != nil {
			saved.Release()
		}
	}()
	m := machineOn(img)
	x.recoveries.Add(1)
	seed := j.seedOf(j.choice)
	out := x.recoverMachine(m, seed)
	k, bad := judge(j.check, nil, "", out)
	if bad != nil {
		return
	}
	c := &chain{x: x, first: j}
	if f := c.goOn(m, j.check.Restart(k), 2, seed, nil); f != nil {
		f.saved, saved = saved, nil
		x.fail(f)
	}
}

// goOn runs the scenario's continuation as epoch number epoch of the
// program, on m, the machine a recovery left, whose state was the state
// after the operations of check; base seeds its crash states (the
// recovery seed of the state m holds). links are the crashes of the chain
// before it, after the workload's. It judges a seeded sample of its crash
// states (at most Options.chainStates), continues the first good one again while
// the depth allows, and then judges the continuation itself: its error is
// a violation unless the scenario may refuse so.
func (c *chain) goOn(m *Machine, check *models.Prefix, epoch int, base uint64, links []chainLink) *failure {
	x := c.x
	x.continuations.Add(1)
	m.exitAll()
	p := m.Start("continuation")
	env := continuationEnv(m, p, continuationRand(x.opts.Seed, epoch), check)
	h := &chainHook{x: x, m: m, env: env, base: base, rng: rand.New(rand.NewPCG(base, 0x73616d706c65))}
	m.hook = h
	err := runGuarded(func() error { return x.sc.Continue(env) })
	if err == nil && p.Death() == "" {
		h.point(Event{Index: m.lastOp().Index + 1, Proc: p.ID, Kind: "end"})
	}
	m.endRecovery() // threads it started, if any, as a recovery's
	m.hook = nil
	slices.SortFunc(h.sample, func(a, b chainItem) int { return a.seq - b.seq })

	seen := map[judged]bool{}
	deeper := epoch < x.depth
	var f *failure
	for _, it := range h.sample {
		if f != nil {
			if it.j.img != nil {
				it.j.img.Release()
			}
			continue
		}
		f = c.judgeItem(it, epoch, links, &deeper, seen)
	}
	if f != nil {
		return f
	}
	var problem string
	switch d := p.Death(); {
	case d != "":
		problem = "after its recovery the program crashed: " + d
	case err != nil && (x.sc.MayRefuse == nil || !x.sc.MayRefuse(err)):
		problem = "after its recovery the program could not go on: " + err.Error()
	default:
		return nil
	}
	return &failure{job: c.first, problem: judgement{problem: problem}, chain: links, liveness: true}
}

// continuationEnv is the Env of a continuation run by process p on m,
// after the recovery of the operations of check: a checker of its own,
// which the threads it starts share (m.ck), counting its operations from
// those (checker.base). Like a recovery, it runs on a machine without a
// scheduler until it starts a thread (Env.Go).
func continuationEnv(m *Machine, p *Process, rng *rand.Rand, check *models.Prefix) *Env {
	ck := &checker{prefix: check, base: check.Invoked()}
	m.ck = ck
	return &Env{FS: p.FS(), Rand: rng, proc: p, ck: ck}
}

// continuationRand is the random source of the continuation of epoch
// epoch: the same for every chain of a run, so that two chains that
// continue the same image do the same.
func continuationRand(seed uint64, epoch int) *rand.Rand {
	return rand.New(rand.NewPCG(mix(seed, uint64(epoch)), 0x636f6e74696e7565))
}

// judgeItem recovers one sampled crash state of a continuation and judges
// it; the first good one, while *deeper, is continued in its turn.
func (c *chain) judgeItem(it chainItem, epoch int, links []chainLink, deeper *bool, seen map[judged]bool) *failure {
	x := c.x
	img := it.j.img
	if img == nil {
		img = it.j.pend.Clone(it.j.choice, x.opts.Tail)
	}
	key := judged{img.Fingerprint(), it.j.check.DurableCount(), it.j.check.Invoked(), it.history, false}
	if seen[key] {
		img.Release()
		return nil
	}
	seen[key] = true
	x.contStates.Add(1)
	x.recoveries.Add(1)
	var rbase *faultfs.FS
	if x.opts.RecoveryCrashes {
		rbase = img.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
	}
	next := *deeper
	var m *Machine
	if next {
		m = machineOn(img) // its continuation needs what the recovery makes durable
	} else {
		img.Untrack()
		m = untracedMachineOn(img)
	}
	defer img.Release()
	seed := it.j.seedOf(it.j.choice)
	out := x.recoverMachine(m, seed)
	k, bad := judge(it.j.check, nil, "", out)
	it.j.img = nil
	chain := append(links[:len(links):len(links)], chainLink{j: it.j, at: it.at, excerpt: it.excerpt})
	if bad != nil {
		return &failure{job: c.first, out: out, problem: *bad, chain: chain}
	}
	if rbase != nil {
		if f := x.crashRecovery(it.j, rbase, x.prof, true); f != nil {
			f.job, f.chain = c.first, chain
			return f
		}
	}
	if next {
		*deeper = false
		return c.goOn(m, it.j.check.Restart(k), epoch+1, seed, chain)
	}
	return nil
}

// chainItem is a crash state of a continuation offered to its chain's
// sample.
type chainItem struct {
	seq     int    // the order it was offered in
	j       job    // its state; img set for a process crash
	history uint64 // the checker's history digest (judged.history)
	at      Event
	excerpt []Event
}

// chainHook takes the crash states of a continuation as it runs: at each
// crash point, the states the strategy picks (at most chainPointStates),
// of which the chain keeps a seeded sample of at most
// Options.chainStates (Algorithm R) to judge once the continuation is done. A Pending is a
// snapshot, so a power failure's state is built when it is judged; a
// process crash's image is taken at its point.
type chainHook struct {
	x      *explorer
	m      *Machine
	env    *Env
	base   uint64
	k      int // crash points so far
	n      int // states offered
	rng    *rand.Rand
	sample []chainItem
}

func (h *chainHook) options() *Options { return &h.x.opts }

func (h *chainHook) before(p *Process, at Event) {
	if h.x.opts.Fault == PowerFailure {
		h.point(at)
	}
}

func (h *chainHook) after(p *Process, at Event) {
	if h.x.opts.Fault.f1() {
		h.point(at)
	}
}

func (h *chainHook) point(at Event) {
	k := h.k
	h.k++
	if h.x.timeUp() {
		return
	}
	// The checker and the disk are taken as one, as the workload's
	// (explorer.snapshot): no marker of another thread falls between.
	ck := h.env.ck
	ck.mu.Lock()
	it := chainItem{j: job{point: k, check: ck.prefix.Snapshot(), base: h.base}, history: ck.history, at: at, excerpt: h.m.excerpt()}
	if h.x.opts.Fault.f1() {
		it.j.img = h.m.disk.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
		ck.mu.Unlock()
		h.offer(it)
		return
	}
	pend := h.m.disk.PendingUnder(h.x.prof, h.x.opts.Granularity)
	ck.mu.Unlock()
	i := 0
	for ch := range pend.Choices(h.x.opts.Strategy.faultfs(), min(h.x.opts.MaxStates, chainPointStates), it.j.choicesSeed()) {
		s := it
		s.j.idx, s.j.choice, s.j.pend = i, ch, pend
		h.offer(s)
		i++
	}
}

func (h *chainHook) offer(it chainItem) {
	it.seq = h.n
	h.n++
	if len(h.sample) < h.x.opts.chainStates() {
		h.sample = append(h.sample, it)
		return
	}
	i := h.rng.IntN(h.n)
	if i >= len(h.sample) {
		if it.j.img != nil {
			it.j.img.Release()
		}
		return
	}
	if old := h.sample[i].j.img; old != nil {
		old.Release()
	}
	h.sample[i] = it
}

// allows reports whether profile prof allows state c of pend as it is.
func allows(pend *faultfs.Pending, c faultfs.Choice, prof faultfs.Profile) bool {
	q := pend.Under(prof)
	return sameUnits(q, pend) && q.Nearest(c).Key() == c.Key()
}

// chainBreaksOn judges a violation found after more than one crash, or
// in a continuation, on every profile (see Explore): it reproduces on P
// when P allows each earlier crash's state as it was, and some state P
// allows at its last crash fails — failing, the last crash's state
// shrunk, if P allows it, else as reproduces finds one. A continuation
// that failed needs P to allow every crash's state.
func (x *explorer) chainBreaksOn(f *failure, last job, failing faultfs.Choice) (breaks, not []string) {
	breaks, not = []string{}, []string{}
	crashes := []job{f.job}
	for _, l := range f.chain {
		crashes = append(crashes, l.j)
	}
	earlier := crashes[:len(crashes)-1]
	if f.liveness {
		earlier = crashes
	}
	for _, prof := range faultfs.Profiles {
		ok := true
		for _, j := range earlier {
			ok = ok && (j.pend == nil || prof.Name == x.prof.Name || allows(j.pend, j.choice, prof))
		}
		switch {
		case !ok:
			not = append(not, prof.Name)
		case f.liveness || last.pend == nil || prof.Name == x.prof.Name || x.reproduces(last, failing, f.rec != nil, prof):
			breaks = append(breaks, prof.Name)
		default:
			not = append(not, prof.Name)
		}
	}
	return breaks, not
}

// describe says where crash point at of a continuation is.
func (x *explorer) describeLater(at Event) string {
	if at.Kind == "end" {
		return "at the end of the continuation"
	}
	return x.describePoint(at)
}

// later is what replaying one continuation found: its epoch's trace, and
// the state its crash left (next, whose image is img), or, run to its end,
// the problem of a continuation that failed.
type later struct {
	epoch   Epoch
	next    job
	img     *faultfs.FS
	problem string
}

// replayLater runs the continuation of epoch epoch on m, recording, as
// goOn does: to the crash point link names, where it builds the state
// link names and stops; or with link nil to its end, and judges it.
func (x *explorer) replayLater(m *Machine, check *models.Prefix, epoch int, base uint64, link *Link) (later, error) {
	m.exitAll()
	p := m.Start("continuation")
	env := continuationEnv(m, p, continuationRand(x.opts.Seed, epoch), check)
	h := &replayLaterHook{x: x, env: env, m: m, target: -1}
	if link != nil {
		h.target, h.key = link.Point, link.Choice
	}
	m.hook = h
	err := runGuarded(func() error { return x.sc.Continue(env) })
	if link == nil && err == nil && p.Death() == "" {
		h.point(p, Event{Index: m.lastOp().Index + 1, Proc: p.ID, Kind: "end"})
	}
	m.endRecovery() // threads it started, if any, as goOn does
	m.hook = nil
	l := later{epoch: Epoch{Epoch: epoch, Trace: h.trace, Sources: m.sources}}
	if link == nil {
		l.epoch.Trace = append([]Event(nil), m.full...)
		switch d := p.Death(); {
		case d != "":
			l.problem = "after its recovery the program crashed: " + d
		case err != nil && (x.sc.MayRefuse == nil || !x.sc.MayRefuse(err)):
			l.problem = "after its recovery the program could not go on: " + err.Error()
		}
		return l, nil
	}
	switch {
	case h.err != nil:
		return l, h.err
	case h.img == nil:
		return l, fmt.Errorf("%w: the continuation of epoch %d reached %d crash points, not %d", ErrDiverged, epoch, h.k, link.Point+1)
	}
	l.epoch.At, l.epoch.Crash = x.describeLater(h.at), h.at.Index
	l.next = job{point: link.Point, choice: h.choice, pend: h.pend, check: h.check, base: base}
	l.img = h.img
	return l, nil
}

// replayLaterHook counts a continuation's crash points as chainHook does
// and, at the one a replay id names, builds its state and stops the
// continuation there.
type replayLaterHook struct {
	x      *explorer
	env    *Env
	m      *Machine
	target int    // the crash point to stop at, -1 for none
	key    string // the choice of its pending units
	k      int

	at     Event
	trace  []Event
	check  *models.Prefix
	pend   *faultfs.Pending
	choice faultfs.Choice
	img    *faultfs.FS
	err    error
}

func (h *replayLaterHook) options() *Options { return &h.x.opts }

func (h *replayLaterHook) before(p *Process, at Event) {
	if h.x.opts.Fault == PowerFailure {
		h.point(p, at)
	}
}

func (h *replayLaterHook) after(p *Process, at Event) {
	if h.x.opts.Fault.f1() {
		h.point(p, at)
	}
}

func (h *replayLaterHook) point(p *Process, at Event) {
	k := h.k
	h.k++
	if k != h.target || h.img != nil || h.err != nil {
		return
	}
	defer p.Kill() // the continuation stops here
	ck := h.env.ck
	ck.mu.Lock()
	h.check = ck.prefix.Snapshot()
	h.at, h.trace = at, append([]Event(nil), h.m.full...)
	if h.x.opts.Fault.f1() {
		h.img = h.m.disk.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
		ck.mu.Unlock()
		return
	}
	h.pend = h.m.disk.PendingUnder(h.x.prof, h.x.opts.Granularity)
	ck.mu.Unlock()
	var err error
	if h.choice, err = parseChoiceFor(h.pend, h.key); err != nil {
		h.err = err
		return
	}
	h.img = h.pend.Clone(h.choice, h.x.opts.Tail)
}
