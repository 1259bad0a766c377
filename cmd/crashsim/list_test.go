package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"list"}, &out, &errb); code != exitOK {
		t.Fatalf("crashsim list: exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{"pmem-log ", "pmem-log-bug-", "bug variant", "correct", "process, power"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, out.String())
		}
	}
}

func TestListJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"list", "--json"}, &out, &errb); code != exitOK {
		t.Fatalf("crashsim list --json: exit %d\n%s", code, errb.String())
	}
	var entries []listEntry
	if err := json.Unmarshal(out.Bytes(), &entries); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out.String())
	}
	var correct, bugs int
	for _, e := range entries {
		if e.Name == "" || e.Doc == "" || len(e.Faults) == 0 || e.Model == "" {
			t.Errorf("incomplete entry %+v", e)
		}
		if e.Bug != strings.Contains(e.Name, "-bug-") {
			t.Errorf("%s: bug %v", e.Name, e.Bug)
		}
		if e.Bug {
			bugs++
		} else {
			correct++
		}
	}
	if correct == 0 || bugs == 0 {
		t.Errorf("%d correct scenarios and %d bug variants listed", correct, bugs)
	}
}

func TestListUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"list", "extra"}, &out, &errb); code != exitUsageErr {
		t.Errorf("crashsim list extra: exit %d, want %d", code, exitUsageErr)
	}
}

func TestGoldenList(t *testing.T) {
	table := crashsim("list")
	golden(t, "list", table.transcript())
	for _, line := range strings.Split(table.stdout, "\n") {
		if n := utf8.RuneCountInString(line); n > listWidth {
			t.Errorf("a line of the list is %d columns wide, more than %d:\n%s", n, listWidth, line)
		}
	}
	names := crashsim("list", "--names")
	golden(t, "list-names", names.transcript())
	asJSON := crashsim("list", "--json")
	golden(t, "list-json", asJSON.transcript())

	var entries []listEntry
	if err := json.Unmarshal([]byte(asJSON.stdout), &entries); err != nil {
		t.Fatal(err)
	}
	// The table wraps a description but keeps every word of it.
	words := strings.Join(strings.Fields(strings.ReplaceAll(table.stdout, "│", " ")), " ")
	var want strings.Builder
	for _, e := range entries {
		want.WriteString(e.Name + "\n")
		if !strings.Contains(words, e.Doc) {
			t.Errorf("the table lacks the full description of %s: %q", e.Name, e.Doc)
		}
	}
	if names.stdout != want.String() {
		t.Errorf("list --names:\n%s\nwant the names of list --json:\n%s", names.stdout, want.String())
	}

	goldenHelp(t, "list")
	goldenErrors(t, "list",
		[]string{"list", "--bogus"},
		[]string{"list", "extra"},
		[]string{"list", "--names", "--json"},
	)
}

func TestWrap(t *testing.T) {
	for _, c := range []struct {
		text  string
		width int
		want  string
	}{
		{"", 10, ""},
		{"one two three", 7, "one two\nthree"},
		{"one two three", 13, "one two three"},
		{"  spaces   collapse ", 20, "spaces collapse"},
		{"a longerthanwidth word", 6, "a\nlongerthanwidth\nword"},
		{"crash → point", 7, "crash →\npoint"}, // runes, not bytes
	} {
		if got := wrap(c.text, c.width); got != c.want {
			t.Errorf("wrap(%q, %d) = %q, want %q", c.text, c.width, got, c.want)
		}
	}
}
