package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The golden tests pin what the CLI prints, word for word: a wording
// regression fails them. Each testdata/*.golden file is a transcript of
// one or more commands (the command, its exit code, its stdout and
// stderr), or a file a command wrote. After an intended change, rewrite
// them with
//
//	go test ./cmd/crashsim -run Golden -update
//
// and read the diff as a user would.
var update = flag.Bool("update", false, "rewrite the golden files in testdata with the CLI's output")

// testdata is the absolute path of the golden files: the tests that write
// files run in a temporary directory (t.Chdir), so that no temporary path
// reaches the output.
var testdata = func() string {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return dir
}()

// golden compares got with testdata/name.golden, or writes it under
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/crashsim -run Golden -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("the output differs from testdata/%s.golden:\n%s\nIf the change is intended, rewrite the file with\n\tgo test ./cmd/crashsim -run Golden -update\nand review the diff.",
			name, firstDifference(string(want), got))
	}
}

// firstDifference shows the first line where two texts differ, with the
// lines before it.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	for _, l := range w[max(0, i-3):i] {
		fmt.Fprintf(&b, "   %s\n", l)
	}
	if i < len(w) {
		fmt.Fprintf(&b, "-  %s\n", w[i])
	} else {
		b.WriteString("-  (end)\n")
	}
	if i < len(g) {
		fmt.Fprintf(&b, "+  %s\n", g[i])
	} else {
		b.WriteString("+  (end)\n")
	}
	return b.String()
}

// command is one run of the CLI and what it printed.
type command struct {
	args           []string
	code           int
	stdout, stderr string
}

func crashsim(args ...string) command {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return command{args, code, out.String(), errb.String()}
}

// transcript writes the command as a golden file shows it.
func (c command) transcript() string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ crashsim %s\nexit %d\n", shellQuote(c.args), c.code)
	if c.stdout != "" {
		fmt.Fprintf(&b, "-- stdout --\n%s", c.stdout)
	}
	if c.stderr != "" {
		fmt.Fprintf(&b, "-- stderr --\n%s", c.stderr)
	}
	return b.String()
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./=:@,+-]+$`)

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if !shellSafe.MatchString(a) {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// untimedRuns zeroes the time of every run the test explores: the only
// machine-dependent part of run's, report's and demo's output.
func untimedRuns(t *testing.T) {
	untimed = true
	t.Cleanup(func() { untimed = false })
}

// goldenHelp pins a verb's --help, which prints on stderr and exits 0,
// as 'crashsim help VERB' does.
func goldenHelp(t *testing.T, verb string) {
	t.Helper()
	c := crashsim(verb, "--help")
	if c.code != exitOK || c.stdout != "" {
		t.Errorf("crashsim %s --help: exit %d, stdout %q", verb, c.code, c.stdout)
	}
	if other := crashsim("help", verb); other.stderr != c.stderr || other.code != exitOK {
		t.Errorf("crashsim help %s differs from crashsim %s --help", verb, verb)
	}
	golden(t, "help-"+verb, c.transcript())
}

// internalText finds what a user must not read: the class prefixes of the
// packages beneath, the flag package's and strconv's own messages.
var internalText = regexp.MustCompile(`(^|[\s(])(sim|reports|json|usage|strconv\.\w+):|flag provided`)

// singleDash finds a flag spelled with one dash, as the flag package
// spells them; the CLI's help and messages write two.
var singleDash = regexp.MustCompile(`(^|[\s"'])-[a-z]`)

// goldenErrors pins the mistakes of one verb in testdata/errors-VERB.golden,
// and checks that each is said as a mistake should be: exit 2, nothing on
// stdout, one line on stderr saying what was wrong and where to look (a
// user's own scenario given to replay gets, on a second line, the command
// that replays it), and no prefix of the packages beneath ("sim: usage:").
func goldenErrors(t *testing.T, verb string, cases ...[]string) {
	t.Helper()
	var all strings.Builder
	for _, args := range cases {
		c := crashsim(args...)
		wantLines := 1
		if strings.HasPrefix(c.stderr, `crashsim: no built-in scenario "`) {
			wantLines = 2
		}
		if c.code != exitUsageErr || c.stdout != "" || strings.Count(c.stderr, "\n") != wantLines || !strings.HasPrefix(c.stderr, "crashsim: ") {
			t.Errorf("want exit %d and %d line on stderr starting crashsim:, got\n%s", exitUsageErr, wantLines, c.transcript())
		}
		if m := internalText.FindString(c.stderr); m != "" {
			t.Errorf("%q says %q:\n%s", args, m, c.stderr)
		}
		if wantLines == 1 && singleDash.MatchString(c.stderr) {
			t.Errorf("%q spells a flag with one dash:\n%s", args, c.stderr)
		}
		if all.Len() > 0 {
			all.WriteString("\n")
		}
		all.WriteString(c.transcript())
	}
	golden(t, "errors-"+verb, all.String())
}
