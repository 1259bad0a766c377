package sim

import (
	"fmt"
	"strings"

	"github.com/crashsim/crashsim/models"
)

// Scenario is what the laboratory checks: a workload, the recovery that
// follows a crash, and the reference model that judges what recovery
// returns (docs/DESIGN.md section 6).
//
// A scenario's name says what it is; a deliberately broken variant has
// "-bug-" in its name, and the explorer is expected to report it.
type Scenario struct {
	// Name identifies the scenario in reports, replay ids and the CLI. It
	// is made of letters, digits and - _ . / (see Validate), so that a
	// replay id carries it unquoted in a shell command.
	Name string
	// Doc says in one line what the workload does and, for a bug variant,
	// what is wrong with it.
	Doc string
	// Faults lists the fault models that apply; nil means ProcessCrash
	// and PowerFailure. ProcessKill applies only when listed: its
	// workload starts processes of its own to kill (Machine.Start).
	Faults []Fault
	// Model is the reference model the recovered state is judged against.
	Model models.Model
	// Check is how runs are judged against Model: PrefixCheck, the
	// default, for one client whose operations are numbered in the order
	// they are invoked; DurableLinearizability or
	// BufferedDurableLinearizability for concurrent clients, one per
	// thread, whose Invoke and Return make a history that porcupine
	// judges, outputs included (docs/DESIGN.md section 6).
	Check CheckKind
	// Run is the workload. It runs on a fresh simulated machine in one
	// process, and marks its operations with Env.Invoke and its durability
	// acknowledgements with Env.Durable or Env.DurableAll. A crash may stop
	// it at any operation; an error it returns is a failure of the scenario
	// itself, reported as a violation of its run.
	Run func(env *Env) error
	// Recover runs after a crash on a machine holding the crash image, in a
	// new process. It opens the stored state, repairs it as the engine's
	// recovery does, runs the engine's invariant checks, and returns the
	// state in the model's form. An error or a panic is a violation.
	Recover func(env *Env) (state any, err error)
	// Continue, if set, is how the program goes on after a recovery
	// (docs/DESIGN.md F4). It runs on the machine the recovery left, in
	// a new process (the recovery's exited: its locks are released, what
	// it wrote is in the page cache, durable or not), opens the stored
	// state again and runs more operations, marked as Run marks its own:
	// they follow, in the one history of the run, the operations the
	// recovery returned. The explorer crashes it too, to
	// Options.CrashDepth crashes in all, and judges what each later
	// recovery returns against that history. An error it returns is a
	// violation — a store that recovered must take writes — unless
	// MayRefuse accepts it.
	Continue func(env *Env) error
	// MayRefuse, if set, reports whether err, an error of Continue, is
	// one the program may give after a recovery: a store that found
	// damage and refuses writes by design, say. Nil means none is.
	MayRefuse func(err error) bool
	// Adapters lists the import paths of the user's packages that stand
	// between the workload and its storage — an adapter from engine.FS to
	// the program's own file interface, say — whose stack frames are not
	// the culprit of a violation: a source line (Unit.Source, the lines of
	// a replay's traces) is the innermost frame outside the laboratory and
	// outside these packages, so it names the caller of the adapter. A
	// path ending in "/..." covers the packages below it too.
	Adapters []string
	// Schedules, if set, is how many interleavings of the workload's
	// threads a run explores when Options.Schedules is 0 (which otherwise
	// means 1): a concurrent scenario whose bug only some interleavings
	// show sets enough for a run with default options — the demo's — to
	// catch it.
	Schedules int
}

// Buggy reports whether the scenario is a deliberately broken variant that
// the explorer must catch.
func (s *Scenario) Buggy() bool { return strings.Contains(s.Name, "-bug-") }

// Applies reports whether fault model f applies to the scenario.
func (s *Scenario) Applies(f Fault) bool {
	if s.Faults == nil {
		return f != ProcessKill
	}
	for _, g := range s.Faults {
		if g == f {
			return true
		}
	}
	return false
}

// Validate reports a scenario that cannot be explored: a name a replay id
// cannot carry, or a missing workload, recovery or model.
func (s *Scenario) Validate() error {
	if err := validName(s.Name); err != nil {
		return err
	}
	switch {
	case s.Run == nil:
		return fmt.Errorf("%w: scenario %s has no Run (the workload)", ErrUsage, s.Name)
	case s.Recover == nil:
		return fmt.Errorf("%w: scenario %s has no Recover", ErrUsage, s.Name)
	case s.Model.Init == nil || s.Model.Apply == nil:
		return fmt.Errorf("%w: scenario %s has no Model (its Init or Apply is nil)", ErrUsage, s.Name)
	case s.Check < PrefixCheck || s.Check > BufferedDurableLinearizability:
		return fmt.Errorf("%w: scenario %s: unknown Check %d", ErrUsage, s.Name, int(s.Check))
	case s.Check.linearizable() && s.Continue != nil:
		return fmt.Errorf("%w: scenario %s: a scenario judged by %v has no Continue (crashes after the first are judged by the prefix property only)", ErrUsage, s.Name, s.Check)
	}
	return nil
}

// validName accepts the names a replay id can carry: not empty, and only
// letters, digits and - _ . / — nothing a shell would interpret, and no
// ':' or '@', which separate the id's fields.
func validName(name string) error {
	if why := nameProblem(name); why != "" {
		return fmt.Errorf("%w: %s", ErrUsage, why)
	}
	return nil
}

func nameProblem(name string) string {
	if name == "" {
		return "a scenario needs a name"
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_./", r)) {
			return fmt.Sprintf("scenario name %q: %q is not allowed (use letters, digits and - _ . /)", name, r)
		}
	}
	return ""
}
