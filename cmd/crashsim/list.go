package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/crashsim/crashsim/sim"
	"github.com/crashsim/crashsim/sim/scenarios"
)

const listAbout = `Lists every built-in scenario: its name, the fault models that apply, and
what it does. A bug variant (-bug- in its name, BUG: in its description)
is deliberately broken: 'crashsim run' must catch it.

The table fits a terminal 100 columns wide, descriptions wrapped; --names
prints one name a line for scripts, --json everything list knows.`

// listEntry is one scenario in `list --json`.
type listEntry struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
	// Faults are the fault models that apply, by name.
	Faults []string `json:"faults"`
	// Bug says the scenario is a bug variant, which run must catch.
	Bug bool `json:"bug"`
	// Model names the reference model that judges its recoveries.
	Model string `json:"model"`
}

// listWidth is the width of a terminal list's table must fit.
const listWidth = 100

func listCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("list", "[--names | --json]", listAbout, stderr)
	asJSON := fs.Bool("json", false, "write every scenario as JSON: name, full description, faults, bug, model")
	onlyNames := fs.Bool("names", false, "write the scenarios' names only, one a line")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(rest) > 0 {
		return usageError(stderr, "list", fmt.Errorf("list takes no arguments, got %q", rest[0]))
	}
	if *asJSON && *onlyNames {
		return usageError(stderr, "list", fmt.Errorf("--names and --json exclude each other"))
	}
	entries := listEntries()
	switch {
	case *onlyNames:
		var b strings.Builder
		for _, e := range entries {
			b.WriteString(e.Name + "\n")
		}
		err = writeString(stdout, b.String())
	case *asJSON:
		var b []byte
		if b, err = json.MarshalIndent(entries, "", "  "); err == nil {
			err = writeString(stdout, string(b)+"\n")
		}
	default:
		err = listTable(stdout, entries)
	}
	if err != nil {
		fmt.Fprintf(stderr, "crashsim list: %v\n", err)
		return exitProblem
	}
	return exitOK
}

func listEntries() []listEntry {
	var entries []listEntry
	for _, sc := range scenarios.All() {
		e := listEntry{Name: sc.Name, Doc: sc.Doc, Bug: sc.Buggy(), Faults: []string{}, Model: sc.Model.Name}
		for _, f := range sim.Faults {
			if sc.Applies(f) {
				e.Faults = append(e.Faults, f.String())
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// listTable writes the entries as a table listWidth wide, each
// description wrapped to what the other columns leave.
func listTable(w io.Writer, entries []listEntry) error {
	header := []string{"scenario", "faults", "what it does"}
	nameWidth, faultsWidth, bugs := len(header[0]), len(header[1]), 0
	for _, e := range entries {
		nameWidth = max(nameWidth, len(e.Name))
		faultsWidth = max(faultsWidth, len(strings.Join(e.Faults, ", ")))
		if e.Bug {
			bugs++
		}
	}
	// A row is "│ a │ b │ c │": a border and a space before each cell, a
	// space after it, a border at the end.
	docWidth := max(listWidth-(nameWidth+3)-(faultsWidth+3)-3-1, 20)
	t := newTable(w)
	t.Header(header)
	for _, e := range entries {
		if err := t.Append(e.Name, strings.Join(e.Faults, ", "), wrap(e.Doc, docWidth)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	return writeString(w, fmt.Sprintf("%d scenarios: %d correct, %d bug variants ('crashsim run' must catch each).\n", len(entries), len(entries)-bugs, bugs))
}

// wrap breaks text into lines of at most width columns at spaces; a word
// longer than width gets a line of its own.
func wrap(text string, width int) string {
	var b strings.Builder
	line := 0
	for i, word := range strings.Fields(text) {
		n := len([]rune(word))
		switch {
		case i == 0:
		case line+1+n > width:
			b.WriteString("\n")
			line = 0
		default:
			b.WriteString(" ")
			line++
		}
		b.WriteString(word)
		line += n
	}
	return b.String()
}

func writeString(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}
