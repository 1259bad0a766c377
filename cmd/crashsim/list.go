package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/crashsim/crashsim/sim"
	"github.com/crashsim/crashsim/sim/scenarios"
)

// listEntry is one scenario in `list --json`.
type listEntry struct {
	Name   string   `json:"name"`
	Doc    string   `json:"doc"`
	Faults []string `json:"faults"`
	Bug    bool     `json:"bug"`
}

func listCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("list", "[--json]", "Lists every built-in scenario: its name, the fault models that apply, whether\nit is a deliberately broken variant that `run` must catch, and what it does.", stderr)
	asJSON := fs.Bool("json", false, "write the list as JSON")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(rest) > 0 {
		return usageError(stderr, "list", fmt.Errorf("%w: unexpected argument %q", sim.ErrUsage, rest[0]))
	}
	var entries []listEntry
	for _, sc := range scenarios.All() {
		e := listEntry{Name: sc.Name, Doc: sc.Doc, Bug: sc.Buggy(), Faults: []string{}}
		for _, f := range sim.Faults {
			if sc.Applies(f) {
				e.Faults = append(e.Faults, f.String())
			}
		}
		entries = append(entries, e)
	}
	if *asJSON {
		b, err := json.MarshalIndent(entries, "", "  ")
		if err == nil {
			_, err = fmt.Fprintf(stdout, "%s\n", b)
		}
		if err != nil {
			fmt.Fprintf(stderr, "crashsim list: %v\n", err)
			return exitProblem
		}
		return exitOK
	}
	t := newTable(stdout)
	t.Header("scenario", "faults", "kind", "what it does")
	bugs := 0
	for _, e := range entries {
		kind := "correct"
		if e.Bug {
			kind = "bug variant"
			bugs++
		}
		t.Append(e.Name, strings.Join(e.Faults, ", "), kind, e.Doc)
	}
	if err := t.Render(); err != nil {
		fmt.Fprintf(stderr, "crashsim list: %v\n", err)
		return exitProblem
	}
	fmt.Fprintf(stdout, "%d scenarios: %d correct, %d bug variants (each must be caught by `crashsim run`).\n", len(entries), len(entries)-bugs, bugs)
	return exitOK
}
