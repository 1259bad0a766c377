package sim

import (
	"fmt"
	"strings"
	"time"
)

// Result is the outcome of exploring one scenario under one set of options:
// the one result type that package reports renders as tables, JSON and
// HTML.
type Result struct {
	Scenario string   `json:"scenario"`
	Buggy    bool     `json:"buggy"`
	Fault    Fault    `json:"-"`
	Strategy Strategy `json:"-"`
	// FaultName and StrategyName are Fault and Strategy as text, for JSON.
	FaultName    string `json:"fault"`
	StrategyName string `json:"strategy"`
	// Profile is the file system's profile whose crash states the run
	// explored (Options.Profile).
	Profile     string `json:"profile"`
	Seed        uint64 `json:"seed"`
	Granularity int    `json:"granularity,omitempty"`
	// MaxStates, the budget, the tail and RecoveryCrashes are the rest of
	// the Options that shape a result (Workers and Progress never do): with
	// the fields above they say which run this is, so that Merge can tell
	// the shards of one run from those of another. TailSeed is set only
	// with GarbageTail.
	MaxStates       int           `json:"max_states"`
	BudgetStates    int           `json:"budget_states,omitempty"`
	BudgetTime      time.Duration `json:"budget_time_ns,omitempty"`
	GarbageTail     bool          `json:"garbage_tail,omitempty"`
	TailSeed        uint64        `json:"tail_seed,omitempty"`
	RecoveryCrashes bool          `json:"recovery_crashes,omitempty"`
	// CrashDepth is the most crashes of one chain the run explored: the
	// Options.CrashDepth that applied to the scenario (1 for one without
	// a Continue). MaxChains bounded its continuations; it is 0 at depth 1.
	CrashDepth int `json:"crash_depth"`
	MaxChains  int `json:"max_chains,omitempty"`
	// Shard is the part of the run this result is ("i/n"), or "all".
	Shard string `json:"shard"`

	// The interleavings explored, set only when the workload ran more
	// than one thread (see Options.Schedules): the scheduler, PCT's depth
	// and the bound on switches the run was asked for; the schedules run
	// and how many distinct interleavings they were; the most threads
	// alive at once and the most steps (scheduling decisions) of one
	// schedule, PCT's n and k (PCTChance).
	Scheduler     string `json:"scheduler,omitempty"`
	Depth         int    `json:"pct_depth,omitempty"`
	Switches      int    `json:"switch_bound,omitempty"`
	Schedules     int    `json:"schedules,omitempty"`
	Interleavings int    `json:"interleavings,omitempty"`
	Threads       int    `json:"threads,omitempty"`
	Steps         int    `json:"steps,omitempty"`
	// Nondeterministic says why the run may not replay: the first
	// schedule in which two threads were blocked on Go primitives at once
	// (see the package doc, "Threads and the scheduler").
	Nondeterministic string `json:"nondeterministic,omitempty"`
	// Execution is the recorded execution the violations depend on, with
	// Options.SaveExecution; WriteExecution saves it beside the results.
	Execution *Execution `json:"-"`
	// ExecutionFile is the file the command that ran it saved Execution
	// in, which ReplayCommand names.
	ExecutionFile string `json:"execution_file,omitempty"`

	// CrashPoints is how many crash points the workload reached (each
	// shard reaches them all).
	CrashPoints int `json:"crash_points"`
	// States is how many crash states the fault model allows at those
	// points; StatesExact is false when the count saturated.
	States      uint64 `json:"states"`
	StatesExact bool   `json:"states_exact"`
	// Explored is how many states the strategy built; Unique how many of
	// them were distinct, each recovered and judged once: an image counts
	// again when it is judged against a different acknowledged history.
	Explored int `json:"explored"`
	Unique   int `json:"unique"`
	// Recoveries counts the recovery runs that judged a state, those of
	// crashes during recovery included; not those spent shrinking a
	// violation to its cause. Each shard counts its own, which add up to
	// the whole run's.
	Recoveries int `json:"recoveries"`
	// Continuations counts the continuations run (Scenario.Continue after
	// a recovery, at every depth past the first crash), and
	// ContinuationStates the crash states of theirs that were judged, each
	// distinct in its chain; their recoveries are in Recoveries. Each
	// shard counts those of the chains it judges: they add up to the
	// whole run's.
	Continuations      int `json:"continuations,omitempty"`
	ContinuationStates int `json:"continuation_states,omitempty"`

	Violations []Violation `json:"violations"`
	// Warnings are the barriers the workload misused (a Sync retried
	// after it failed, a barrier's error ignored): each loses data on a
	// real machine, whether or not a crash state here shows it. Every
	// shard has them all.
	Warnings []Warning `json:"warnings,omitempty"`
	// Points has one entry per crash point explored. Their Violations
	// count this shard's failing states; the rest is the same in every
	// shard of a run.
	Points []Point `json:"points,omitempty"`
	// Stopped says why the exploration ended early ("state budget", "time
	// budget"), or is empty when it covered every crash point.
	Stopped string        `json:"stopped,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// RunError is an error of the workload itself (not of a recovery), such
	// as a failed operation; the exploration stops there.
	RunError string `json:"run_error,omitempty"`
}

// OK reports whether the run found nothing wrong.
func (r *Result) OK() bool { return len(r.Violations) == 0 && r.RunError == "" }

// Point is the record of one crash point.
type Point struct {
	// Index numbers the crash points of a run from 0, through every
	// schedule's.
	Index int `json:"index"`
	// Schedule is the number of the schedule whose run reached it, from 0.
	Schedule int `json:"schedule,omitempty"`
	// Trace is the index in the trace of the operation the crash precedes
	// (F2) or follows (F1).
	Trace uint64 `json:"trace"`
	// At describes that operation.
	At          string `json:"at"`
	States      uint64 `json:"states"`
	StatesExact bool   `json:"states_exact"`
	Explored    int    `json:"explored"`
	Unique      int    `json:"unique"`
	Violations  int    `json:"violations"`
}

// Violation is one crash state whose recovery the model rejects, or whose
// recovery failed.
type Violation struct {
	// ReplayID names exactly this state (see ReplayID): `crashsim replay
	// <id>` rebuilds it for a built-in scenario, and the go test command
	// Check prints for a user's own.
	ReplayID string `json:"replay_id"`
	Point    int    `json:"point"`
	Trace    uint64 `json:"trace"`
	At       string `json:"at"`
	// State is the failing state's place in its crash point's enumeration
	// (of the outer state, for a RecoveryCrash): a crash point reports its
	// failing state with the lowest, so Merge keeps the same one.
	State int `json:"state"`
	// Problem says in one line what is wrong.
	Problem  string `json:"problem"`
	Expected string `json:"expected,omitempty"`
	Observed string `json:"observed,omitempty"`
	// Diff says where the observed state differs from the expected one.
	Diff string `json:"diff,omitempty"`
	// Panic is the panic value and stack of a recovery that panicked.
	Panic string `json:"panic,omitempty"`
	// Kept and Lost are the pending units this state kept and lost, shrunk
	// to the fewest that still fail: the cause of the violation.
	Kept []Unit `json:"kept"`
	Lost []Unit `json:"lost"`
	// Culprit is the unit the violation blames, one of Lost or Kept: the
	// earliest change lost, or if none is, the latest kept; nil when the
	// state has no units (a process crash, a death, a continuation that
	// failed). Its Source is the line to look at.
	Culprit *Unit `json:"culprit,omitempty"`
	// Cause says that the violation is one of the causes of its crash
	// point: its state lost at most one pending unit and failed, and was
	// shrunk. A point reports each distinct cause (by its shrunk units)
	// once, from its lowest state; a point without causes, its first
	// failing state (shrunk, if a power failure's state of the workload).
	Cause bool `json:"cause,omitempty"`
	// Excerpt is the trace around the crash point.
	Excerpt []Event `json:"excerpt"`
	// RecoveryCrash is set when the violation was found by crashing the
	// recovery of another image: the crash point in that recovery.
	RecoveryCrash string `json:"recovery_crash,omitempty"`
	// Chain lists the crashes after the first, when the violation needed
	// more than one (docs/DESIGN.md F4): each in the continuation that
	// followed the recovery of the one before. Point, Trace, At and
	// Excerpt above are the first crash's, the workload's; Kept and Lost
	// the last crash's units.
	Chain []Crash `json:"chain,omitempty"`
	// Liveness is set when the violation is no crash state but a
	// continuation that failed: after the recovery of the last crash of
	// the chain, the program could not go on (Problem says why).
	Liveness bool `json:"liveness,omitempty"`
	// BreaksOn and NotOn split faultfs.Profiles, in their order, by
	// whether the violation reproduces on each: whether some crash state
	// of its crash point that the profile allows fails the same check
	// (see Explore). A process crash, which keeps the page cache whole,
	// and a death break on every one.
	BreaksOn []string `json:"breaks_on"`
	NotOn    []string `json:"not_on"`
	// Linearization is porcupine's HTML page of a violation of
	// linearizability (Scenario.Check): every client's operations on a
	// timeline with the longest linearizations porcupine found. The
	// reports package writes it to a file of its own beside an HTML
	// report and links it.
	Linearization string `json:"linearization,omitempty"`
}

// Crash is one crash of a chain after the first: a crash point of the
// continuation of epoch Epoch-1, which went on from the state the recovery
// of the crash before returned.
type Crash struct {
	// Epoch numbers the program's lives: 1 is the workload's, 2 the
	// first continuation's, and so on.
	Epoch int `json:"epoch"`
	// Point numbers the continuation's crash points from 0.
	Point int `json:"point"`
	// Trace is the index of the operation the crash precedes (F2) or
	// follows (F1) in the trace of the continuation's machine, which
	// begins with the recovery before it.
	Trace uint64 `json:"trace"`
	// At describes that operation.
	At string `json:"at"`
	// Excerpt is that trace around the crash point.
	Excerpt []Event `json:"excerpt"`
}

// Epochs is how many lives of the program the violation spans: 1 for a
// crash state of the workload, one more for each crash of its Chain, and
// one more for a continuation that failed (Liveness).
func (v *Violation) Epochs() int {
	n := 1 + len(v.Chain)
	if v.Liveness {
		n++
	}
	return n
}

// Unit is one pending unit of a crash state: a namespace change, a file's
// size, or a range of file or memory data, with the version the state
// picked; or the tail, when the state needs stale bytes to read as garbage
// (faultfs rule 18b).
type Unit struct {
	// Kind is "meta", "size", "data" or "tail".
	Kind string `json:"kind"`
	Path string `json:"path"`
	Off  int64  `json:"off,omitempty"`
	Len  int    `json:"len,omitempty"`
	// What describes a namespace change or a size.
	What string `json:"what,omitempty"`
	// Version is the version picked, of Versions (0 = durable): how many of
	// the unit's pending changes the state keeps.
	Version  int `json:"version"`
	Versions int `json:"versions"`
	// Lost says whether the unit is listed for what it loses (Trace is the
	// first change lost) or for what it keeps (Trace is the last kept).
	Lost bool `json:"lost"`
	// Trace is the trace index of the operation that made the first version
	// lost (for Lost) or the last version kept (for Kept).
	Trace uint64 `json:"trace"`
	// Epoch is the life of the program whose trace Trace indexes: 1 (or
	// 0, in a result written before epochs) the workload's; a later one's
	// trace begins with the recovery before it (see Crash). Recovery says
	// that the operation was made by a recovery that crashed
	// (Violation.RecoveryCrash): Trace indexes that recovery's own trace.
	Epoch    int  `json:"epoch,omitempty"`
	Recovery bool `json:"recovery,omitempty"`
	// Source is the file:line of that operation: the code's innermost
	// frame outside the laboratory and the scenario's Adapters. Explore
	// fills it in for the workload's units (running the workload once
	// more, recording, when it found violations); a replay for every
	// unit, those of recoveries and continuations too.
	Source string `json:"source,omitempty"`
}

func (u Unit) String() string {
	if u.Kind == "tail" {
		return u.What
	}
	var b strings.Builder
	switch u.Kind {
	case "data":
		fmt.Fprintf(&b, "%s [%d,%d)", u.Path, u.Off, u.Off+int64(u.Len))
	default:
		b.WriteString(u.What)
	}
	changes := u.Versions - 1
	if u.Kind == "meta" {
		fmt.Fprintf(&b, " (%d of %d pending namespace changes kept", u.Version, changes)
	} else {
		fmt.Fprintf(&b, " (%d of %d changes kept", u.Version, changes)
	}
	if u.Lost {
		fmt.Fprintf(&b, "; first lost by #%d%s)", u.Trace, u.whose())
	} else {
		fmt.Fprintf(&b, "; last kept made by #%d%s)", u.Trace, u.whose())
	}
	if u.Source != "" {
		fmt.Fprintf(&b, " at %s", u.Source)
	}
	return b.String()
}

// whose says whose trace the unit's Trace indexes, if not the workload's.
func (u Unit) whose() string {
	switch {
	case u.Recovery:
		return " of the recovery that crashed"
	case u.Epoch > 1:
		return fmt.Sprintf(" of epoch %d", u.Epoch)
	}
	return ""
}

// CulpritText says what the violation blames, in words: "lost …" or
// "kept …" and the unit, or "" when it blames none.
func (v *Violation) CulpritText() string {
	switch {
	case v.Culprit == nil:
		return ""
	case v.Culprit.Lost:
		return "lost " + v.Culprit.String()
	}
	return "kept " + v.Culprit.String()
}

// String renders the violation for a test log or a terminal. It names no
// command to replay it, which depends on where the scenario lives: see
// WithReplay.
func (v *Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "crash point %d, %s\n", v.Point, v.At)
	for _, c := range v.Chain {
		fmt.Fprintf(&b, "  then:     epoch %d (the program went on after its recovery): crash point %d, %s\n", c.Epoch, c.Point, c.At)
	}
	if v.Liveness {
		fmt.Fprintf(&b, "  then:     epoch %d (the program went on after its recovery): it could not\n", v.Epochs())
	}
	if v.RecoveryCrash != "" {
		fmt.Fprintf(&b, "  during recovery: %s\n", v.RecoveryCrash)
	}
	fmt.Fprintf(&b, "  problem:  %s\n", v.Problem)
	if v.Expected != "" {
		fmt.Fprintf(&b, "  expected: %s\n", v.Expected)
	}
	if v.Observed != "" {
		fmt.Fprintf(&b, "  observed: %s\n", v.Observed)
	}
	if v.Diff != "" {
		fmt.Fprintf(&b, "  diff:     %s\n", v.Diff)
	}
	if v.Panic != "" {
		fmt.Fprintf(&b, "  panic:    %s\n", indent(v.Panic, "            "))
	}
	if c := v.CulpritText(); c != "" {
		fmt.Fprintf(&b, "  culprit:  %s\n", c)
	}
	if p := v.ProfilesText(); p != "" {
		fmt.Fprintf(&b, "  profiles: %s\n", p)
	}
	for _, u := range v.Kept {
		fmt.Fprintf(&b, "  kept:     %s\n", u)
	}
	for _, u := range v.Lost {
		fmt.Fprintf(&b, "  lost:     %s\n", u)
	}
	if len(v.Chain) == 0 {
		writeExcerpt(&b, "  trace:\n", v.Excerpt, v.Trace, v.At)
	} else {
		writeExcerpt(&b, "  trace of epoch 1 (the workload):\n", v.Excerpt, v.Trace, v.At)
		for _, c := range v.Chain {
			writeExcerpt(&b, fmt.Sprintf("  trace of epoch %d (its recovery, then the continuation):\n", c.Epoch), c.Excerpt, c.Trace, c.At)
		}
	}
	return b.String()
}

// writeExcerpt writes a trace excerpt under its title, with the crash
// marked.
func writeExcerpt(b *strings.Builder, title string, excerpt []Event, crash uint64, at string) {
	if len(excerpt) == 0 {
		return
	}
	b.WriteString(title)
	crashShown := false
	for _, e := range excerpt {
		mark := "   "
		if e.Index == crash {
			mark, crashShown = "-> ", true
		}
		fmt.Fprintf(b, "    %s%s\n", mark, e)
	}
	// A power failure strikes just before a barrier, which the excerpt
	// then lacks: say where the crash is all the same.
	if !crashShown {
		fmt.Fprintf(b, "    -> crash %s\n", at)
	}
}

// ProfilesText says on which profiles the violation reproduces, in words:
// "breaks on posix, ext4-writeback and xfs; not on ext4-ordered or
// btrfs", "breaks on every profile", or "" when the violation does not
// say (a result written before profiles).
func (v *Violation) ProfilesText() string {
	switch {
	case len(v.BreaksOn) == 0 && len(v.NotOn) == 0:
		return ""
	case len(v.NotOn) == 0:
		return "breaks on every profile"
	case len(v.BreaksOn) == 0:
		return "breaks on none: not on " + wordList(v.NotOn, "or")
	}
	return "breaks on " + wordList(v.BreaksOn, "and") + "; not on " + wordList(v.NotOn, "or")
}

// wordList joins names as a sentence does: "a", "a and b", "a, b and c".
func wordList(names []string, and string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + and + " " + names[len(names)-1]
}

// WithReplay renders the violation as String does, followed by command,
// the command that replays it: `crashsim replay <id>` for a built-in
// scenario (the CLI and reports print that one), and the go test command
// of the test that found it for a user's own (Check prints that one).
func (v *Violation) WithReplay(command string) string {
	return v.String() + "  replay:   " + command + "\n"
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
