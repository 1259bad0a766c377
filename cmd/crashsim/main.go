// Command crashsim runs the crash laboratory from a terminal.
//
// Usage:
//
//	crashsim <verb> [flags] [args]
//
// Verbs:
//
//	demo     run every built-in scenario; show that correct ones pass and
//	         every bug variant is caught, and on which file-system profiles
//	list     list the built-in scenarios and the fault models that apply, as a
//	         table 100 columns wide, one name a line (--names) or JSON (--json)
//	run      explore scenarios under fault models and strategies, power
//	         failures under a file-system profile (--profile, posix by
//	         default); tables, violation details with the profiles each
//	         reproduces on, JSON (--json, --out) and HTML (--html)
//	replay   rebuild one crash state from its replay id and recover it again,
//	         with the trace and the source of each storage operation
//	report   render saved JSON results again, as tables or HTML, the
//	         shards of a run (run --shard) merged into one result
//	tour     the storage layer on this machine's media, and the crash states
//	         of an atomic file update
//	torture  the engine on real storage: kill -9 cycles, corruption sweeps,
//	         full disks; replay of what it found
//
// Every verb takes --help ('crashsim help VERB' says the same); flags may
// come before or after the arguments. A mistake is said in one line on
// stderr — what was wrong, and where to look — never with the whole usage.
// The exit code is 0 on success, 1 when a check found a problem (any
// violation or failed run for run and report; a state that still violates
// for replay; an unmet expectation for demo), 2 on a usage error (an
// unknown verb, flag, scenario or malformed file; for replay also a
// diverged id).
//
// The verbs live one per file; main only wires them. What each prints is
// pinned by the golden files in testdata, which
// 'go test ./cmd/crashsim -run Golden -update' rewrites.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// A verb is one subcommand.
type verb struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var verbs = map[string]verb{
	"demo":    {"every built-in scenario: correct ones pass, every bug variant is caught", demoCmd},
	"list":    {"the built-in scenarios and the fault models that apply", listCmd},
	"run":     {"explore scenarios under fault models and strategies", runCmd},
	"replay":  {"rebuild one crash state from its replay id and recover it again", replayCmd},
	"report":  {"render saved JSON results again, shards merged, as tables or HTML", reportCmd},
	"tour":    {"the storage layer on real media, and crash states of a file update", tourCmd},
	"torture": {"the engine on real storage: kill -9 cycles, corruption sweeps, full disks", tortureCmd},
}

// Exit codes.
const (
	exitOK       = 0
	exitProblem  = 1
	exitUsageErr = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsageErr
	}
	name := args[0]
	if name == "help" || name == "--help" || name == "-help" || name == "-h" {
		// 'crashsim help run' is 'crashsim run --help'.
		if len(args) > 1 {
			if v, ok := verbs[args[1]]; ok {
				return v.run([]string{"--help"}, stdout, stderr)
			}
			name = args[1]
		} else {
			usage(stderr)
			return exitOK
		}
	}
	v, ok := verbs[name]
	if !ok {
		what := fmt.Sprintf("unknown verb %q", name)
		if strings.HasPrefix(name, "-") {
			what = fmt.Sprintf("a verb comes first, its flags after it, not %s", name)
		}
		return sayUsage(stderr, what+" (verbs: "+strings.Join(verbNames(), ", ")+")", "see 'crashsim --help'")
	}
	return v.run(args[1:], stdout, stderr)
}

func verbNames() []string {
	names := make([]string, 0, len(verbs))
	for name := range verbs {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "crashsim: a crash laboratory for Go storage code\n\nusage: crashsim <verb> [flags] [args]\n\nverbs:")
	for _, name := range verbNames() {
		fmt.Fprintf(w, "  %-8s %s\n", name, verbs[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'crashsim <verb> --help' (or 'crashsim help <verb>') for a verb's flags.")
}
