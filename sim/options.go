package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crashsim/crashsim/faultfs"
)

// Fault is a fault model of docs/DESIGN.md section 4 that the explorer enumerates.
// F3 (media and I/O faults) is injected by a scenario, never enumerated.
type Fault int

const (
	// ProcessCrash is F1: the process stops between two operations or inside
	// a multi-word copy; everything in the page cache and in shared memory
	// survives, its locks are released.
	ProcessCrash Fault = iota + 1
	// PowerFailure is F2: only what the medium's rules make durable
	// survives, plus a choice among the pending units; shared memory is lost.
	PowerFailure
	// ProcessKill is F1 of one process among several: the explorer kills
	// one of the processes the workload started (never the workload's
	// own) just after one of its operations, or inside a copy, while the
	// others go on to the end of the workload; its locks are released,
	// what it stored in the page cache and in shared memory stays. The
	// recovery then runs on what the survivors left (see the package doc,
	// "Killing one process"). It applies only to a scenario that lists it
	// in Scenario.Faults.
	ProcessKill
)

// Faults lists the fault models in the order reports show them.
var Faults = []Fault{ProcessCrash, PowerFailure, ProcessKill}

// f1 reports whether f crashes processes (F1), whose crash points are
// after operations and whose one state keeps the page cache and shared
// memory whole.
func (f Fault) f1() bool { return f == ProcessCrash || f == ProcessKill }

func (f Fault) String() string {
	switch f {
	case ProcessCrash:
		return "process"
	case PowerFailure:
		return "power"
	case ProcessKill:
		return "kill"
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// ParseFault parses "process" (or "F1"), "power" (or "F2") and "kill".
func ParseFault(s string) (Fault, error) {
	switch strings.ToLower(s) {
	case "process", "f1":
		return ProcessCrash, nil
	case "power", "f2":
		return PowerFailure, nil
	case "kill":
		return ProcessKill, nil
	}
	return 0, fmt.Errorf("%w: unknown fault model %q (want process, power or kill)", ErrUsage, s)
}

// Strategy says which crash states of a crash point the explorer builds
// (docs/DESIGN.md section 5).
type Strategy int

const (
	// DropAll keeps only what is durable: one state per crash point, the
	// LazyFS model.
	DropAll Strategy = iota + 1
	// KeepAll keeps every pending unit: one state per crash point. It is the
	// only strategy of a process crash.
	KeepAll
	// Prefixes keeps, for every global cut in program order, everything
	// before it: the states of a machine that writes back in order.
	Prefixes
	// Subsets lets every pending unit pick any of its versions
	// independently, enumerated while they number at most
	// Options.MaxStates per crash point, else that many seeded samples.
	Subsets
)

// Strategies lists the strategies in the order reports show them.
var Strategies = []Strategy{DropAll, KeepAll, Prefixes, Subsets}

func (s Strategy) String() string {
	switch s {
	case DropAll:
		return "drop-all"
	case KeepAll:
		return "keep-all"
	case Prefixes:
		return "prefixes"
	case Subsets:
		return "subsets"
	}
	return "Strategy(" + strconv.Itoa(int(s)) + ")"
}

// ParseStrategy parses a strategy's name.
func ParseStrategy(s string) (Strategy, error) {
	for _, st := range Strategies {
		if strings.EqualFold(s, st.String()) {
			return st, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown strategy %q (want drop-all, keep-all, prefixes or subsets)", ErrUsage, s)
}

// Applies reports whether strategy s means something under fault f: a
// process crash loses nothing, so it has only KeepAll.
func (s Strategy) Applies(f Fault) bool {
	return f == PowerFailure || s == KeepAll
}

func (s Strategy) faultfs() faultfs.Strategy {
	switch s {
	case DropAll:
		return faultfs.LoseAll
	case KeepAll:
		return faultfs.KeepAll
	case Prefixes:
		return faultfs.InOrderPrefixes
	}
	return faultfs.AllSubsets
}

// Options configure an exploration. The zero value explores power failures
// of the posix profile with the Subsets strategy, seed 0, one worker per
// CPU.
type Options struct {
	// Fault is the fault model; 0 means PowerFailure.
	Fault Fault
	// Profile names the file system whose crash states a power failure
	// leaves of the files on a disk (faultfs rule 18; docs/DESIGN.md F2):
	// posix, ext4-writeback, xfs, ext4-ordered, btrfs, or posix-4k (the
	// rules before profiles). "" means posix, the weakest, so that nothing
	// any of them can leave is missed. Each violation says on which of
	// faultfs.Profiles it reproduces (Violation.BreaksOn).
	Profile string
	// Strategy picks the states of each crash point; 0 means Subsets
	// (KeepAll under ProcessCrash).
	Strategy Strategy
	// MaxStates bounds the states of one crash point under Subsets; beyond
	// it they are sampled (seeded). 0 means 256.
	MaxStates int
	// Budget bounds the whole exploration; when it runs out the result says
	// so and lists what was explored.
	Budget Budget
	// Seed makes every random choice: the run is a pure function of
	// (scenario, options, seed).
	Seed uint64
	// Workers run recoveries in parallel; 0 means one per CPU. It changes
	// speed, never results or their order.
	Workers int
	// Granularity overrides the unit that tears, in bytes (one of
	// Granularities), on every medium and under every profile a violation
	// is judged on; 0 keeps each medium's own (64 on persistent memory,
	// the profile's sector on files and mapped files: 512 under posix).
	Granularity int
	// Tail is what a file's tail past its surviving data reads as. With
	// Garbage, always garbage; otherwise the profile says (zeros, or under
	// posix and ext4-writeback zeros and garbage, each in states of their
	// own). Seed, 0 by default, means Options.Seed.
	Tail faultfs.Tail
	// Shard makes this run one of several machines' shares of one
	// exploration: it judges only its share of the distinct crash states
	// (see Shard), and Merge puts the shards' results together.
	Shard Shard
	// RecoveryCrashes also crashes each recovery at each of its own crash
	// points, and checks that recovering again from there is still correct:
	// recovery must be idempotent.
	RecoveryCrashes bool
	// Schedules is how many interleavings of the workload's threads to
	// explore: the workload runs once under each schedule, every one with
	// its own crash points; 0 means the scenario's Schedules, or 1. A
	// workload of one thread has one interleaving and runs once whatever
	// it says.
	Schedules int
	// Scheduler picks the thread that runs after each scheduling point;
	// 0 means RandomScheduler.
	Scheduler Scheduler
	// Depth is PCT's bug depth d (PCTScheduler only): d-1 priority change
	// points per schedule; 0 means 3.
	Depth int
	// Switches bounds the preemptions of each schedule — turns taken from
	// a thread that could have gone on; past it, a thread runs until it
	// blocks or ends. 0 means no bound.
	Switches int
	// CrashDepth is the most crashes in one chain (docs/DESIGN.md F4): 1
	// crashes the workload only; 2 also lets the program go on after a
	// recovery (Scenario.Continue) and crashes that continuation, and so
	// on. 0 means 2 for a scenario with a Continue and 1 for one without;
	// a scenario without a Continue has one crash whatever the depth.
	// Beyond the first crash the states are sampled: see MaxChains.
	CrashDepth int
	// MaxChains bounds the continuations at CrashDepth 2 and more: a
	// seeded sample of at most MaxChains of the run's distinct crash
	// images is continued after its recovery, and each continuation's
	// crash points give a seeded sample of at most MaxStates or
	// ChainStates crash states, whichever is fewer. Under a state budget
	// the continuations share what the workload's crash points left of
	// it, that many each. 0 means 16.
	MaxChains int
	// Progress, if set, is called after each crash point is explored.
	Progress func(Progress)
	// SaveExecution saves, in Result.Execution, the recorded execution
	// each violation depends on: the crash image the workload left and
	// the history it is judged against, so that RunSavedReplay rebuilds
	// the state without running the workload (execution.go).
	SaveExecution bool
}

// ProfileNames lists the profiles Options.Profile names, as a user reads
// them: "posix, ext4-writeback, xfs, ext4-ordered, btrfs or posix-4k".
func ProfileNames() string {
	var names []string
	for _, p := range faultfs.Profiles {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ") + " or " + faultfs.POSIX4K.Name
}

// profile returns the profile o names; o is valid.
func (o Options) profile() faultfs.Profile {
	p, _ := faultfs.ProfileNamed(o.Profile)
	return p
}

// Granularities are the units that tear, in bytes, that
// Options.Granularity may choose.
var Granularities = []int{8, 64, 512, 4096}

// Budget bounds an exploration. Zero fields are unbounded.
type Budget struct {
	// States is the most crash states judged in the whole run.
	States int
	// Time is the longest the exploration runs. A run stopped by time
	// depends on the machine's speed; one stopped by States does not.
	Time time.Duration
}

// Progress reports how far an exploration is.
type Progress struct {
	Scenario    string
	CrashPoints int
	Explored    int
	Violations  int
	Elapsed     time.Duration
}

// DefaultProfile is the profile of Options.Profile "".
const DefaultProfile = "posix"

// withDefaults returns o with its zero fields filled in.
func (o Options) withDefaults() Options {
	if o.Fault == 0 {
		o.Fault = PowerFailure
	}
	if o.Profile == "" {
		o.Profile = DefaultProfile
	}
	if o.Strategy == 0 {
		o.Strategy = Subsets
		if o.Fault.f1() {
			o.Strategy = KeepAll
		}
	}
	if o.MaxStates <= 0 {
		o.MaxStates = 256
	}
	if o.Schedules <= 0 {
		o.Schedules = 1
	}
	if o.Scheduler == 0 {
		o.Scheduler = RandomScheduler
	}
	if o.Scheduler == PCTScheduler && o.Depth <= 0 {
		o.Depth = 3
	}
	if o.MaxChains <= 0 {
		o.MaxChains = 16
	}
	return o
}

// ChainStates is the most crash states one continuation gives (see
// Options.MaxChains): a seeded sample of the states its crash points
// allow, at most chainPointStates of each.
const ChainStates = 64

// chainStates is the most crash states one continuation gives under o.
func (o Options) chainStates() int { return min(o.MaxStates, ChainStates) }

// depthFor returns the crash depth of a run of sc under o (see
// Options.CrashDepth).
func (o Options) depthFor(sc *Scenario) int {
	switch {
	case sc.Continue == nil, o.Fault == ProcessKill:
		return 1 // no continuation after a kill of one process (yet)
	case o.CrashDepth <= 0:
		return 2
	}
	return o.CrashDepth
}

// validate reports options that cannot be explored.
func (o Options) validate() error {
	if !o.Strategy.Applies(o.Fault) {
		return fmt.Errorf("%w: strategy %v does not apply to a %v crash (it loses nothing)", ErrUsage, o.Strategy, o.Fault)
	}
	if _, ok := faultfs.ProfileNamed(o.Profile); !ok {
		return fmt.Errorf("%w: unknown profile %q (want %s)", ErrUsage, o.Profile, ProfileNames())
	}
	if o.Granularity != 0 && !slices.Contains(Granularities, o.Granularity) {
		return fmt.Errorf("%w: granularity %d: want 8, 64, 512 or 4096", ErrUsage, o.Granularity)
	}
	if o.Scheduler != RandomScheduler && o.Scheduler != PCTScheduler {
		return fmt.Errorf("%w: unknown scheduler %v (want random or pct)", ErrUsage, o.Scheduler)
	}
	if o.Switches < 0 || o.Depth < 0 || o.Scheduler != PCTScheduler && o.Depth != 0 {
		return fmt.Errorf("%w: switch bound %d, depth %d under the %v scheduler", ErrUsage, o.Switches, o.Depth, o.Scheduler)
	}
	if o.CrashDepth < 0 {
		return fmt.Errorf("%w: crash depth %d: want 1 or more (0: the default)", ErrUsage, o.CrashDepth)
	}
	if o.Shard.N > 1 && (o.Shard.I < 0 || o.Shard.I >= o.Shard.N) {
		return fmt.Errorf("%w: shard %v", ErrUsage, o.Shard)
	}
	return nil
}
