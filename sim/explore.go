package sim

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// Explore runs scenario sc on a fresh simulated machine and, at every crash
// point of opts.Fault (docs/DESIGN.md section 5), builds the crash states that
// opts.Strategy picks among those opts.Profile allows, runs the scenario's
// recovery on each distinct image, and judges what it returns with the
// prefix property (section 6). The error is only for options or a scenario
// that cannot be explored; what the exploration finds is in the Result.
//
// Each violation says on which of faultfs.Profiles it reproduces
// (Violation.BreaksOn, NotOn). A power failure's violation reproduces on
// profile P when some crash state of its crash point that P allows fails
// the same check: its shrunk state if P allows it; else the first of P's
// states that fails among that state as P would leave it
// (faultfs.Pending.Translate: the same state with what P's ordering rules
// need kept, or with P's coarser units lost whole where any part was
// lost), then the states Strategy picks among P's at that point, as a run
// under P would, with the same MaxStates and seed. So "not on P" is
// exhaustive where P has at most MaxStates states there, and a sample
// otherwise. A process crash keeps the page cache whole, the same on every
// file system, and a death fails every state: both break on every profile.
func Explore(sc *Scenario, opts Options) (*Result, error) {
	x, err := newExplorer(sc, opts)
	if err != nil {
		return nil, err
	}
	x.run()
	return x.res, nil
}

// explorer is one exploration: the live machine running the workload, the
// crash points it reaches, and the workers that judge their images.
type explorer struct {
	sc    *Scenario
	opts  Options
	prof  faultfs.Profile // opts.Profile
	m     *Machine
	proc  *Process
	check *models.Prefix
	start time.Time
	res   *Result

	// Owned by whichever thread of the workload reaches a crash point:
	// the scheduler runs one at a time, and hookMu serializes them anyway.
	hookMu sync.Mutex
	// live is the machine of the workload running, nil between runs: a
	// crash point of another machine's (a goroutine outliving its
	// workload) is no crash point.
	live   atomic.Pointer[Machine]
	ck     *checker // the current schedule's checker, x.check its prefix
	saver  *saver   // with Options.SaveExecution (savedstate.go)
	points int      // crash points reached, in every shard and schedule
	deaths int      // the machine's deaths (Process.Death) crash points have seen
	// The schedule whose run is going on (see runSchedules): its number,
	// its crash points so far, and PCT's k.
	schedule int
	local    int
	steps    int

	// The pipeline (see crashPoint): the workload sends each crash point to
	// the builders and, in order, to the sequencer, which deduplicates its
	// images and sends the distinct ones to the workers.
	builds    chan *pointWork
	pending   chan *pointWork
	jobs      chan *batch
	workers   sync.WaitGroup
	sequenced chan struct{} // closed when the sequencer is done

	// Owned by the sequencer.
	explored int
	unique   int // distinct images so far, in every shard
	seen     map[judged]bool

	stopped    atomic.Bool
	recoveries atomic.Int64

	// Crashes after the first (chain.go): the depth the run explores, the
	// sequencer's sample of the crash states to continue, and what the
	// continuations did.
	depth         int
	chains        chainSample
	continuations atomic.Int64
	contStates    atomic.Int64

	mu       sync.Mutex
	fails    map[int]*failure // per crash point (slot), its first failing state
	excerpts [][]Event        // per crash point (slot), the trace before it
	digests  []uint64         // per crash point (slot), the workload's digest there
	keys     []int            // per crash point (slot), its pointKey
	done     int              // crash points the sequencer finished

	replay *replayTarget // set when replaying one state
	// Under ProcessKill (kill.go): the run's kill, nil in the run that
	// finds where to kill, and the places found there.
	kill       *killTarget
	candidates []killTarget
	traces     [][]Event // set by tests: every schedule's whole trace, recorded

	// causes holds, per crash point (slot), its failing states that are
	// each shrunk to a cause (culprit.go); under mu.
	causes map[int][]*failure
}

// job is one crash image to recover and judge, or (start set) one to
// continue after its recovery.
type job struct {
	point  int // the crash point's pointKey in its epoch (the run's, for the workload)
	slot   int // its index in res.Points
	idx    int // the choice's place in the crash point's enumeration
	choice faultfs.Choice
	pend   *faultfs.Pending // nil for a process crash
	img    *faultfs.FS
	check  *models.Prefix
	hist   *clientHistory // the clients' history, for a scenario judged by linearizability
	died   string         // a death of the workload since the last crash point (see pointWork)
	// killed, failed, open and alts are pointWork's (ProcessKill).
	killed int
	failed string
	open   []int
	alts   []*models.Prefix
	// base seeds the recoveries and the sampled states of the crash
	// point (stateSeed, pointSeed): the run's seed in the workload; in a
	// continuation, the recovery seed of the state it went on from.
	base  uint64
	start *chainStart // set for a continuation (chain.go)
}

// seedOf is the recovery seed of state c of j's crash point.
func (j job) seedOf(c faultfs.Choice) uint64 { return stateSeed(j.base, j.point, c) }

// choicesSeed seeds the states sampled at j's crash point.
func (j job) choicesSeed() int64 { return pointSeed(j.base, j.point) }

// failure is the first failing state of a crash point, kept to be shrunk
// and reported when the run ends.
type failure struct {
	job     job // the workload's crash state (of the chain's first crash)
	out     outcome
	problem judgement
	rec     *recoveryCrash // set when the failure is in a crashed recovery (of the chain's last crash)
	// chain lists the crashes after the first (chain.go); liveness says
	// that the failure is the continuation after the last of them.
	chain    []chainLink
	liveness bool
	memo     shrinkMemo // shared by the causes of one crash point, if set
	// saved is a copy of a process crash's image before its recovery,
	// with Options.SaveExecution (savedstate.go).
	saved *faultfs.FS
}

func newExplorer(sc *Scenario, opts Options) (*explorer, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	if opts.Schedules <= 0 {
		opts.Schedules = sc.Schedules
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if !sc.Applies(opts.Fault) {
		return nil, fmt.Errorf("%w: scenario %s does not apply to a %v crash", ErrUsage, sc.Name, opts.Fault)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Tail.Seed == 0 {
		opts.Tail.Seed = opts.Seed // so that a replay id, which has the run's seed, rebuilds the same garbage
	}
	var tailSeed uint64
	if opts.Tail.Garbage {
		tailSeed = opts.Tail.Seed
	}
	x := &explorer{
		sc:    sc,
		opts:  opts,
		prof:  opts.profile(),
		check: models.NewPrefix(sc.Model),
		seen:  map[judged]bool{},
		fails: map[int]*failure{},
		res: &Result{
			Scenario: sc.Name, Buggy: sc.Buggy(), Fault: opts.Fault, Strategy: opts.Strategy,
			FaultName: opts.Fault.String(), StrategyName: opts.Strategy.String(), Profile: opts.Profile,
			Seed: opts.Seed, Granularity: opts.Granularity, MaxStates: opts.MaxStates,
			BudgetStates: opts.Budget.States, BudgetTime: opts.Budget.Time,
			GarbageTail: opts.Tail.Garbage, TailSeed: tailSeed,
			RecoveryCrashes: opts.RecoveryCrashes, CrashDepth: opts.depthFor(sc), Shard: opts.Shard.String(),
			StatesExact: true, Violations: []Violation{},
		},
	}
	if opts.SaveExecution {
		x.saver = &saver{states: map[string]pendingState{}}
	}
	x.depth = x.res.CrashDepth
	if x.depth > 1 {
		x.res.MaxChains = opts.MaxChains
		x.chains = newChainSample(opts.MaxChains, opts.Seed)
	}
	return x, nil
}

// run runs the workload, with the explorer hooked to its crash points, then
// the last crash point (the end of the trace), then waits for the workers
// and reports.
func (x *explorer) run() {
	x.start = time.Now()
	x.builds = make(chan *pointWork, 4*x.opts.Workers)
	x.pending = make(chan *pointWork, pointsInFlight)
	x.jobs = make(chan *batch, 2*x.opts.Workers)
	x.sequenced = make(chan struct{})
	for range x.opts.Workers {
		x.workers.Add(1)
		go x.work()
	}
	go x.sequence()
	x.runSchedules()
	close(x.pending)
	close(x.builds)
	<-x.sequenced
	x.workers.Wait()
	x.report()
}

// runGuarded runs f and turns a panic into an error carrying its stack.
func runGuarded(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return f()
}

func (x *explorer) options() *Options { return &x.opts }

// before is the crash point of a power failure: just before a barrier of
// any process of the machine.
func (x *explorer) before(p *Process, at Event) {
	if x.opts.Fault == PowerFailure {
		x.hookMu.Lock()
		defer x.hookMu.Unlock()
		if x.live.Load() == p.m {
			x.crashPoint(at)
		}
	}
}

// after is the crash point of a process crash: just after a change made by
// any process of the machine; under ProcessKill, the place where one
// process may be killed (kill.go).
func (x *explorer) after(p *Process, at Event) {
	if x.opts.Fault.f1() {
		x.hookMu.Lock()
		defer x.hookMu.Unlock()
		if x.live.Load() != p.m {
			return
		}
		if x.opts.Fault == ProcessKill {
			x.killPoint(p, at)
			return
		}
		x.crashPoint(at)
	}
}

// crashPoint takes the crash states of this point: a snapshot of what is
// pending and of the checker, and the strategy's choices among them. It runs
// in the workload's goroutine and leaves building the images to the workers
// and deduplicating them to the sequencer, so the workload goes on at once;
// which images exist, their order and which are recovered still depend only
// on the run, never on the workers.
func (x *explorer) crashPoint(at Event) {
	if x.stopped.Load() {
		return
	}
	k := x.points
	x.points++
	local := x.local
	x.local++
	var died string
	x.deaths, died = x.m.deathsSince(x.deaths)
	if x.kill != nil {
		// The end of a run that killed one process: named by the point
		// where it was killed (kill.go).
		local = x.kill.local
	}
	if x.replay != nil {
		x.replayPoint(local, at, died)
		return
	}
	if x.opts.Budget.Time > 0 && time.Since(x.start) > x.opts.Budget.Time {
		x.stop("time budget")
		return
	}
	pw := &pointWork{
		pt:   Point{Index: k, Schedule: x.schedule, Trace: at.Index, At: x.describePoint(at), StatesExact: true},
		key:  pointKey(x.schedule, local),
		tail: x.opts.Tail,
		died: died,
	}
	var open []int
	pw.check, pw.hist, pw.history, pw.prebuilt, pw.pend, open = x.snapshot()
	if x.kill != nil {
		pw.killed, pw.failed, pw.open = x.kill.pid, x.kill.failed, open
		if pw.hist == nil {
			// Durable linearizability takes pending operations as
			// either; the prefix check tries each way.
			pw.alts = withoutEach(pw.check, open)
		}
		pw.history = mix(pw.history, killDigest(x.kill, open))
	}
	x.mu.Lock()
	pw.slot = len(x.res.Points)
	x.res.Points = append(x.res.Points, pw.pt)
	x.excerpts = append(x.excerpts, x.m.excerpt())
	x.digests = append(x.digests, x.m.workloadDigest())
	x.keys = append(x.keys, pw.key)
	x.mu.Unlock()
	if x.opts.Fault.f1() {
		pw.pt.States = 1
		pw.choices = []faultfs.Choice{{}}
	} else {
		pw.pt.States, pw.pt.StatesExact = pw.pend.Count(faultfs.AllSubsets)
		for c := range pw.pend.Choices(x.opts.Strategy.faultfs(), x.opts.MaxStates, x.seedAt(pw.key)) {
			pw.choices = append(pw.choices, c)
		}
	}
	n := len(pw.choices)
	pw.imgs, pw.fps = make([]*faultfs.FS, n), make([]faultfs.Fingerprint, n)
	pw.left.Add(n)
	x.pending <- pw
	for range min(n, x.opts.Workers) {
		x.builds <- pw // each worker that takes it helps build its images
	}
}

// snapshot takes the checker's state and the machine's at a crash point
// as one: no marker falls between them (and, the scheduler running one
// thread at a time, no operation either). For a process crash it is the
// crash image, for a power failure the pending units. open lists the
// operations invoked and not returned, by number (from 1).
func (x *explorer) snapshot() (check *models.Prefix, hist *clientHistory, history uint64, img *faultfs.FS, pend *faultfs.Pending, open []int) {
	x.ck.mu.Lock()
	defer x.ck.mu.Unlock()
	check, hist, history = x.check.Snapshot(), x.ck.snapshotLin(), x.ck.history
	if x.kill != nil {
		open = x.ck.openOps()
	}
	if x.opts.Fault.f1() {
		return check, hist, history, x.m.disk.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll}), nil, open
	}
	return check, hist, history, nil, x.m.disk.PendingUnder(x.prof, x.opts.Granularity), open
}

// pointsInFlight bounds the crash points between the workload and the
// sequencer. Their images are alive at once, so it bounds memory too (with
// MaxStates); eight keep two workers busy while a point is being built, where
// four left them waiting (BenchmarkExplore).
const pointsInFlight = 8

// pointWork is one crash point on its way through the pipeline.
type pointWork struct {
	pt       Point
	slot     int
	key      int // pointKey
	check    *models.Prefix
	hist     *clientHistory
	history  uint64           // the checker's history digest
	pend     *faultfs.Pending // nil for a process crash
	prebuilt *faultfs.FS      // the one image of a process crash
	tail     faultfs.Tail
	choices  []faultfs.Choice
	// died is the Death of a process of the workload's machine since the
	// last crash point, or "": a correct program never dies of its
	// storage, so every state of the point is then a violation.
	died string
	// Under ProcessKill (kill.go): the process killed, what the survivors
	// failed with ("" if nothing), and the checkers of the histories
	// without some of the operations left open, which may or may not
	// have taken effect.
	killed int
	failed string
	open   []int
	alts   []*models.Prefix

	next atomic.Int64   // the next image to build
	left sync.WaitGroup // images not built yet
	imgs []*faultfs.FS
	fps  []faultfs.Fingerprint
}

// build builds and fingerprints images of pw until none is left to start.
func (pw *pointWork) build() {
	for i := int(pw.next.Add(1) - 1); i < len(pw.choices); i = int(pw.next.Add(1) - 1) {
		img := pw.prebuilt
		if img == nil {
			img = pw.pend.Clone(pw.choices[i], pw.tail)
		}
		pw.imgs[i], pw.fps[i] = img, img.Fingerprint()
		pw.left.Done()
	}
}

// sequence takes the crash points in order, waits for their images, and
// sends each image not judged before against the same history, if this
// shard judges it, to the workers. It alone counts states and applies the
// state budget, so both are deterministic — and the same in every shard.
func (x *explorer) sequence() {
	defer close(x.sequenced)
	defer close(x.jobs)
	for pw := range x.pending {
		pw.left.Wait()
		if x.stopped.Load() {
			continue // the points the workload reached after the budget ran out
		}
		pt := &pw.pt
		b := &batch{}
		for i, c := range pw.choices {
			pt.Explored++
			x.explored++
			key := judged{pw.fps[i], pw.check.DurableCount(), pw.check.Invoked(), pw.history, pw.died != ""}
			mine := false
			j := job{point: pw.key, slot: pw.slot, idx: i, choice: c, pend: pw.pend, img: pw.imgs[i], check: pw.check, hist: pw.hist, died: pw.died, base: x.opts.Seed,
				killed: pw.killed, failed: pw.failed, open: pw.open, alts: pw.alts}
			if !x.seen[key] {
				x.seen[key] = true
				mine = x.opts.Shard.judges(x.unique)
				if x.depth > 1 && pw.died == "" {
					x.chains.offer(x.unique, j, pw.fps[i], pw.prebuilt != nil)
				}
				x.unique++
				pt.Unique++
			}
			if mine {
				b.jobs = append(b.jobs, j)
			} else if pw.prebuilt == nil {
				pw.imgs[i].Release() // judged already, or another shard's: never recovered here
			}
			if x.opts.Budget.States > 0 && x.explored >= x.opts.Budget.States {
				x.stop("state budget")
				break
			}
		}
		for range min(len(b.jobs), x.opts.Workers) {
			x.jobs <- b
		}
		x.mu.Lock()
		pt.Violations = x.res.Points[pw.slot].Violations // workers may have counted some
		x.res.Points[pw.slot] = *pt
		x.done++
		failing := len(x.fails)
		x.mu.Unlock()
		if x.opts.Progress != nil {
			x.opts.Progress(Progress{Scenario: x.sc.Name, CrashPoints: pt.Index + 1, Explored: x.explored, Violations: failing, Elapsed: time.Since(x.start)})
		}
	}
	x.startChains()
}

// describePoint says where crash point at is: before a barrier (F2), after
// an operation (F1), or at the end.
func (x *explorer) describePoint(at Event) string {
	switch {
	case at.Kind == "end" && x.kill != nil:
		return x.kill.describe(at)
	case at.Kind == "end":
		return "at the end of the workload"
	case x.opts.Fault.f1():
		return "after " + at.String()
	}
	return "before " + at.String()
}

// judged identifies a judgement: the verdict on an image depends on the
// image and on the history it is judged against — the same image can be
// correct before an operation is acknowledged and a violation after, or
// after the workload died — so both are the key of deduplication.
type judged struct {
	image            faultfs.Fingerprint
	durable, invoked int
	history          uint64 // which invocations, in which order (checker.history)
	died             bool
}

// seedAt is the seed of the random choices at crash point k (a pointKey).
func (x *explorer) seedAt(k int) int64 { return pointSeed(x.opts.Seed, k) }

// pointSeed is the seed of the random choices at crash point k (a
// pointKey) of an epoch whose seeds come from base (see job.base).
func pointSeed(base uint64, k int) int64 {
	sched, local := splitPointKey(k)
	return int64(mix(pointBase(base, sched), uint64(local)) >> 1)
}

// pointKey names crash point local of schedule sched's run in one int:
// the crash points' seeds come from it, and a replay id names both. For
// the first schedule it is the point's index, as it was before schedules.
func pointKey(sched, local int) int { return sched<<localBits | local }

func splitPointKey(k int) (sched, local int) { return k >> localBits, k & (1<<localBits - 1) }

// localBits are the bits of a pointKey that number a schedule's crash
// points: 32 where an int has 64 bits, 16 where it has 32.
const localBits = 16 + 16*(^uint(0)>>63)

// mix hashes two words into one (splitmix64's finalizer).
func mix(a, b uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 + b + 0x632be59bd9b4e5
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// stop ends the exploration early: the workload's process is killed, so
// its next operation fails and it returns.
func (x *explorer) stop(why string) {
	if x.stopped.Swap(true) {
		return
	}
	x.mu.Lock()
	x.res.Stopped = why
	m := x.m
	x.mu.Unlock()
	m.stop()
}

// work builds images, first, and judges them, until both run out.
func (x *explorer) work() {
	defer x.workers.Done()
	builds, jobs := x.builds, x.jobs
	for builds != nil || jobs != nil {
		var pw *pointWork
		var b *batch
		ok := true
		select {
		case pw, ok = <-builds: // a build waiting goes first: the sequencer waits on it
		default:
			select {
			case pw, ok = <-builds:
			case b, ok = <-jobs:
				if !ok {
					jobs = nil
					continue
				}
			}
		}
		switch {
		case !ok:
			builds = nil
		case pw != nil:
			pw.build()
		default:
			builds = x.judgeBatch(b, builds)
		}
	}
}

// batch is the images of one crash point to judge. Each worker that takes
// it claims images one at a time until none is left: one channel operation
// per crash point and worker rather than one per image, whose wake-ups
// cost as much as a small recovery.
type batch struct {
	jobs []job
	next atomic.Int64
}

// judgeBatch judges the images of b it claims, building first whatever
// crash point waits to be built between two of them (the sequencer waits
// on it). It returns builds, or nil once builds is closed.
func (x *explorer) judgeBatch(b *batch, builds chan *pointWork) chan *pointWork {
	for i := int(b.next.Add(1) - 1); i < len(b.jobs); i = int(b.next.Add(1) - 1) {
		x.judgeJob(b.jobs[i])
		select {
		case pw, ok := <-builds:
			if !ok {
				builds = nil
			} else {
				pw.build()
			}
		default:
		}
	}
	return builds
}

// judgeJob recovers one image and records a failure; with RecoveryCrashes
// it also crashes that recovery at each of its crash points. A
// continuation's job goes on from its state (chain.go).
func (x *explorer) judgeJob(j job) {
	if j.start != nil {
		x.continueChain(j)
		return
	}
	var base *faultfs.FS
	if x.opts.RecoveryCrashes {
		base = j.img.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
	}
	saved := x.keepImage(j)
	// Nobody asks for a power-failure state of this image again (crashes
	// of the recovery, if any, are of base): its writes need no history.
	j.img.Untrack()
	out := x.recoverOn(j.img, j.seedOf(j.choice))
	if bad := j.judge(out); bad != nil {
		x.fail(&failure{job: j, out: out, problem: *bad, saved: saved})
		return
	}
	// Judged and found good: nobody looks at this image again, so its
	// memory goes to the next ones (faultfs/recycle.go). Anything of the
	// recovery still running gets ErrClosed.
	j.img.Release()
	if base != nil {
		if rc := x.crashRecovery(j, base, x.prof, true); rc != nil {
			rc.saved, saved = saved, nil
			x.fail(rc)
		}
	}
	if saved != nil {
		saved.Release()
	}
}

// recoverySeed seeds the recovery of the state choice picks at crash point
// k. It depends on the state, not on its place in the enumeration, so that
// a replay, which knows only the state, recovers with the same seed.
func (x *explorer) recoverySeed(k int, choice faultfs.Choice) uint64 {
	return stateSeed(x.opts.Seed, k, choice)
}

// stateSeed is the recovery seed of the state choice picks at crash point
// k (a pointKey) of an epoch whose seeds come from base (see job.base).
func stateSeed(base uint64, k int, choice faultfs.Choice) uint64 {
	sched, local := splitPointKey(k)
	h := mix(mix(pointBase(base, sched), uint64(local)), uint64(choice.Prefix))
	for _, v := range choice.Sizes {
		h = mix(h, uint64(v))
	}
	h = mix(h, ^uint64(0)) // sizes end here: {1}{} and {}{1} differ
	for _, v := range choice.Data {
		h = mix(h, uint64(v))
	}
	return h
}

// fail records f if it is the first failing state of its crash point.
func (x *explorer) fail(f *failure) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.res.Points[f.job.slot].Violations++
	x.keepCause(f)
	if old := x.fails[f.job.slot]; old == nil || f.job.idx < old.job.idx {
		x.fails[f.job.slot] = f
	}
}

// outcome is what a recovery returned.
type outcome struct {
	state any
	err   error
	panic string // the panic value and stack
}

// recoverOn runs the scenario's recovery on a machine holding img.
func (x *explorer) recoverOn(img *faultfs.FS, seed uint64) outcome {
	x.recoveries.Add(1)
	m := untracedMachineOn(img)
	return x.recoverMachine(m, seed)
}

func (x *explorer) recoverMachine(m *Machine, seed uint64) (out outcome) {
	p := m.Start("recovery")
	env := &Env{FS: p.FS(), Rand: rand.New(rand.NewPCG(seed, 0x7265636f76657279)), proc: p}
	defer func() {
		if r := recover(); r != nil {
			out = outcome{panic: fmt.Sprintf("%v\n%s", r, debug.Stack())}
		}
	}()
	defer m.endRecovery() // threads it started, if any
	state, err := x.sc.Recover(env)
	if d := p.Death(); d != "" {
		err = deathError(d) // whatever the recovery made of its errors, it died
	}
	return outcome{state: state, err: err}
}

// judgement is why a recovered state is wrong.
type judgement struct {
	problem, expected, observed, diff, panic string
	lin                                      *linFailure // a violation of linearizability, for its picture
}

// judge applies docs/DESIGN.md section 6 to one recovery: no error, no panic,
// and the prefix property; and to the workload: died, a death of one of its
// processes at the crash point (Process.Death), is a violation whatever
// the recovery makes of the state, since a correct program does not die of
// its storage. It returns nil when all is well.
//
// A good state is the state after operations 1..k of the history (the
// Verdict's Prefix), which judge returns with it. With hist, the clients'
// history of a scenario judged by linearizability, the state is judged
// against that instead (judgeLinearizable), and k is 0.
func judge(check *models.Prefix, hist *clientHistory, died string, out outcome) (k int, bad *judgement) {
	switch {
	case died != "":
		return -1, &judgement{problem: "the workload crashed: " + died}
	case out.panic != "":
		first, _, _ := cutLine(out.panic)
		return -1, &judgement{problem: "recovery panicked: " + first, panic: out.panic}
	case out.err != nil:
		return -1, &judgement{problem: "recovery failed: " + out.err.Error()}
	}
	if hist != nil {
		return 0, judgeLinearizable(hist, out.state)
	}
	v, err := checkGuarded(check, out.state)
	if err != nil {
		return -1, &judgement{problem: err.Error()}
	}
	if v.OK {
		return v.Prefix, nil
	}
	return -1, &judgement{problem: v.Problem, expected: v.Expected, observed: v.Observed, diff: v.Diff}
}

// checkGuarded runs the check, turning a panic of the model (a recovered
// state of the wrong type, say) into an error rather than a crash of the
// whole exploration.
func checkGuarded(check *models.Prefix, state any) (v models.Verdict, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("recovered state %T does not fit model %s: %v", state, check.Model().Name, r)
		}
	}()
	return check.Check(state), nil
}

func cutLine(s string) (first, rest string, ok bool) {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// report fills in the result once the workers are done: totals, and each
// crash point's first failure, shrunk, as a Violation.
func (x *explorer) report() {
	r := x.res
	r.Points = r.Points[:x.done] // past a budget, the workload ran on unexplored
	r.CrashPoints = len(r.Points)
	for _, p := range r.Points {
		r.Explored += p.Explored
		r.Unique += p.Unique
		if r.States+p.States < r.States {
			r.States, r.StatesExact = ^uint64(0), false
		} else {
			r.States += p.States
		}
		r.StatesExact = r.StatesExact && p.StatesExact
	}
	slots := make([]int, 0, len(x.fails))
	for s := range x.fails {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	vs := make([][]Violation, len(slots))
	var wg sync.WaitGroup
	sem := make(chan struct{}, x.opts.Workers)
	for i, s := range slots {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			vs[i] = x.violations(s)
		}()
	}
	wg.Wait()
	r.Violations = append([]Violation{}, slices.Concat(vs...)...)
	x.nameCulprits(r.Violations)
	x.saveExecution(r)
	r.Recoveries = int(x.recoveries.Load())
	r.Continuations, r.ContinuationStates = int(x.continuations.Load()), int(x.contStates.Load())
	r.Elapsed = time.Since(x.start)
}
