package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{nil, exitUsageErr},
		{[]string{"nonsense"}, exitUsageErr},
		{[]string{"help"}, exitOK},
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != c.code {
			t.Errorf("crashsim %v: exit %d, want %d\n%s", c.args, code, c.code, errb.String())
		}
		if !strings.Contains(errb.String(), "crashsim --help") && !strings.Contains(errb.String(), "usage: crashsim <verb>") {
			t.Errorf("crashsim %v: neither usage nor where to find it on stderr: %q", c.args, errb.String())
		}
	}
}

// TestVerbHelp checks that every verb explains itself on --help, on
// stderr, with its flags, and exits 0: help asked for is not an error.
func TestVerbHelp(t *testing.T) {
	for name := range verbs {
		var out, errb bytes.Buffer
		if code := run([]string{name, "--help"}, &out, &errb); code != exitOK {
			t.Errorf("crashsim %s --help: exit %d", name, code)
		}
		if out.Len() != 0 {
			t.Errorf("crashsim %s --help wrote to stdout: %q", name, out.String())
		}
		if !strings.Contains(errb.String(), "usage: crashsim "+name) {
			t.Errorf("crashsim %s --help: %q", name, errb.String())
		}
	}
	var out, errb bytes.Buffer
	run([]string{"run", "--help"}, &out, &errb)
	for _, flag := range []string{"--fault", "--strategy", "--max-states", "--budget-states", "--budget-time", "--seed", "--workers", "--profile", "--granularity", "--shard", "--recovery-crashes", "--json", "--out", "--html", "--violations"} {
		if !strings.Contains(errb.String(), "  "+flag+" ") && !strings.Contains(errb.String(), "  "+flag+"\n") {
			t.Errorf("run --help does not list %s:\n%s", flag, errb.String())
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, c := range []struct {
		args      []string
		wantPos   string
		wantFault string
		wantJSON  bool
	}{
		{[]string{"a", "--fault", "power", "b"}, "a b", "power", false},
		{[]string{"--json", "a", "--fault=process"}, "a", "process", true},
		{[]string{"a", "--", "--json", "b"}, "a --json b", "all", false},
		{[]string{"-"}, "-", "all", false},
		{nil, "", "all", false},
	} {
		fs := newFlags("x", "", "", &bytes.Buffer{})
		fault := fs.String("fault", "all", "")
		asJSON := fs.Bool("json", false, "")
		pos, err := parseFlags(fs, c.args)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := strings.Join(pos, " "); got != c.wantPos || *fault != c.wantFault || *asJSON != c.wantJSON {
			t.Errorf("%v: positional %q fault %q json %v; want %q %q %v", c.args, got, *fault, *asJSON, c.wantPos, c.wantFault, c.wantJSON)
		}
	}
}

func TestGoldenMain(t *testing.T) {
	c := crashsim("--help")
	if c.code != exitOK || c.stdout != "" {
		t.Errorf("crashsim --help: exit %d, stdout %q", c.code, c.stdout)
	}
	golden(t, "help", c.transcript())
	// Without a verb, the same usage, as an error.
	if bare := crashsim(); bare.code != exitUsageErr || bare.stderr != c.stderr {
		t.Errorf("crashsim without a verb: exit %d, %q; want %d and the usage", bare.code, bare.stderr, exitUsageErr)
	}
	goldenErrors(t, "main",
		[]string{"bogus"},
		[]string{"--bogus"},
		[]string{"help", "bogus"},
	)
}
