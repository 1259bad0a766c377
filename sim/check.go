package sim

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"pgregory.net/rapid"
)

// TB is the part of testing.TB that Check uses; *testing.T, *testing.B and
// *rapid.T all have it.
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Check explores sc under opts from a test and fails the test with a
// readable report of every violation, each ending with the go test
// command that replays exactly that state in this test: the go test entry
// point of the laboratory.
//
//	func TestLogSurvivesPowerFailure(t *testing.T) {
//		sc, _ := scenarios.Lookup("pmem-log")
//		sim.Check(t, sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets})
//	}
//
// Each barrier the workload misused (Result.Warnings) is logged: a
// warning is no violation, so it fails nothing.
//
// Under the test flag -crashsim.replay=<id>, Check does not explore: it
// rebuilds only the state id names, prints it as `crashsim replay` does,
// and fails the test if it still violates (see the package doc). It then
// returns nil, as it does when it cannot explore.
//
// Check composes with rapid: build the scenario's workload from a
// rapid-generated sequence inside rapid.Check, and rapid shrinks a failing
// sequence to a minimal one. CheckProperty does that and also makes each
// replay command carry the fail file rapid needs to generate that
// workload again.
func Check(t TB, sc *Scenario, opts Options) *Result {
	t.Helper()
	return check(t, sc, opts, nil)
}

// check is Check, inside the property p when CheckProperty calls it.
func check(t TB, sc *Scenario, opts Options, p *property) *Result {
	t.Helper()
	if replayFlag != "" {
		replayCheck(t, sc, opts, p)
		return nil
	}
	opts.SaveExecution = opts.SaveExecution || saveDirFlag != ""
	res, err := Explore(sc, opts)
	if err != nil {
		t.Fatalf("sim.Check(%s): %v", sc.Name, err)
		return nil
	}
	saved := saveForCheck(t, sc, res)
	if res.RunError != "" {
		t.Errorf("%s: the workload failed: %s", sc.Name, res.RunError)
	}
	for i := range res.Violations {
		v := &res.Violations[i]
		t.Errorf("%s under a %v crash (%v): violation\n%s", sc.Name, res.Fault, res.Strategy, v.WithReplay(savedReplayCommand(replayCommand(t, v.ReplayID, p), saved, v.ReplayID, res.Execution)))
	}
	for _, w := range res.Warnings {
		t.Logf("%s: warning: %s", sc.Name, w) // a misuse, not a verdict: see Warning
	}
	return res
}

// replayCommand is the command that replays the state id names in the
// test t runs: go test of t's package, t's test alone, and the replay
// flag. Inside rapid it also needs the fail file rapid wrote for the
// workload, which only CheckProperty learns.
func replayCommand(t TB, id string, p *property) string {
	cmd := goTestCommand(t.Name(), id)
	_, inRapid := t.(*rapid.T)
	switch {
	case p != nil && p.failfile != "":
		cmd += " -rapid.failfile=" + shellQuote(p.failfile)
	case p != nil:
		// Rapid names the fail file of the shrunk workload once it has
		// shrunk it, then runs that workload once more: a Check before
		// does not know it yet, the one after prints the whole command.
		cmd += " -rapid.failfile=FILE\n" +
			"            (FILE: the fail file in rapid's \"To reproduce\" line)"
	case inRapid:
		// sim.Check inside rapid.Check cannot know the fail file rapid
		// will write, nor learn it afterwards.
		cmd += " -rapid.failfile=FILE\n" +
			"            (FILE: the fail file in rapid's \"To reproduce\" line; sim.CheckProperty prints the whole command)"
	}
	return cmd
}

// goTestCommand is `go test <package> -run <test> -v
// -crashsim.replay=<id>`, to run from the module's root: -v so that the
// replay is printed even when the state now recovers correctly.
func goTestCommand(test, id string) string {
	var b strings.Builder
	b.WriteString("go test " + shellWord(packageDir()))
	if test != "" {
		b.WriteString(" -run " + shellQuote(runPattern(test)))
	}
	b.WriteString(" -v -crashsim.replay=" + shellQuote(id))
	return b.String()
}

// runPattern is the -run pattern that selects exactly the test or subtest
// name: each level anchored, its regexp metacharacters quoted.
func runPattern(name string) string {
	levels := strings.Split(name, "/")
	for i, l := range levels {
		levels[i] = "^" + regexp.QuoteMeta(l) + "$"
	}
	return strings.Join(levels, "/")
}

// packageDir is the test's package as go test takes it from the module's
// root: a test binary runs in its package's directory, so the path from
// the nearest directory above with a go.mod; the absolute directory if
// there is none.
var packageDir = sync.OnceValue(func() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd
		}
		dir = parent
	}
})

// shellQuote quotes s for a POSIX shell: in single quotes, where a single
// quote of s ends the quoted part, is escaped with a backslash, and a new
// quoted part begins.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellWord quotes s only if a shell would split or interpret it.
func shellWord(s string) string {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_./", r)) {
			return shellQuote(s)
		}
	}
	return s
}
