package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/reports"
	"github.com/crashsim/crashsim/sim"
)

// TestReplayCorrect replays a state of the correct scenario: it recovers,
// so replay exits 0. (TestRunBugVariant replays one that violates.)
func TestReplayCorrect(t *testing.T) {
	var out, errb bytes.Buffer
	id := "pmem-log:process:keep-all:0:0:zero:3:keep"
	if code := run([]string{"replay", id, "--all"}, &out, &errb); code != exitOK {
		t.Fatalf("replay %s: exit %d\n%s%s", id, code, out.String(), errb.String())
	}
	for _, want := range []string{"replay   " + id, "verdict", "== Trace up to the crash point", "== Recovery on the crash image"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("replay output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "== Violation") {
		t.Errorf("a correct state printed a violation:\n%s", out.String())
	}
}

func TestReplayUsage(t *testing.T) {
	for _, args := range [][]string{
		{"replay"},
		{"replay", "a", "b"},
		{"replay", "not-an-id"},
		{"replay", "no-such-scenario:power:subsets:0:0:zero:1:0//1"},
		{"replay", "pmem-log:power:subsets:0:0:zero:100000:0//1"}, // diverged: no such crash point
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != exitUsageErr {
			t.Errorf("crashsim %v: exit %d, want %d\n%s", args, code, exitUsageErr, errb.String())
		}
	}
}

// TestReplayOwnScenario: the CLI knows only the built-in scenarios, and
// says how to replay one's own: in its test, with the flag sim registers.
func TestReplayOwnScenario(t *testing.T) {
	var out, errb bytes.Buffer
	id := "my-log@00c0ffee12345678:power:subsets:0:0:zero:1:0//1"
	if code := run([]string{"replay", id}, &out, &errb); code != exitUsageErr {
		t.Fatalf("replay of a user's scenario: exit %d, want %d", code, exitUsageErr)
	}
	for _, want := range []string{`no built-in scenario "my-log"`, "go test ./yourpkg -run '^TestYours$' -v -crashsim.replay='" + id + "'"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("error lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestGoldenReplay(t *testing.T) {
	run := crashsim(append([]string{"run", "--json"}, goldenBug...)...)
	results, err := reports.ReadJSON(strings.NewReader(run.stdout))
	if err != nil || len(results) != 1 || len(results[0].Violations) == 0 {
		t.Fatalf("run --json: %v, %v", results, err)
	}
	golden(t, "replay", crashsim("replay", results[0].Violations[0].ReplayID).transcript())

	goldenHelp(t, "replay")
	goldenErrors(t, "replay",
		[]string{"replay"},
		[]string{"replay", "one", "two"},
		[]string{"replay", "not-an-id"},
		[]string{"replay", "pmem-log:meteor:subsets:0:0:zero:1:0//1"},
		[]string{"replay", "my-log@00c0ffee12345678:power:subsets:0:0:zero:1:0//1"},
		// The scenario no longer reaches the state: no such crash point,
		// or another workload.
		[]string{"replay", "pmem-log:power:subsets:0:0:zero:100000:0//1"},
		[]string{"replay", "pmem-log@00c0ffee12345678:power:subsets:0:0:zero:1:0//1"},
		// A saved execution that is no file, or one cut short.
		[]string{"replay", "--execution", "testdata/no-such.crashexec", "pmem-log:power:subsets:0:0:zero:1:0//1"},
		[]string{"replay", "--execution", "testdata/truncated.crashexec", "pmem-log:power:subsets:0:0:zero:1:0//1"},
	)
}

// TestReplaySavedExecution: run --save writes each run's saved execution
// and its replay commands name it; replay --execution rebuilds the state
// from the file, judges it as the run did and says where it came from.
func TestReplaySavedExecution(t *testing.T) {
	dir := t.TempDir()
	r := crashsim(append([]string{"run", "--save", dir, "--violations", "1"}, goldenBug...)...)
	if r.code != exitProblem {
		t.Fatalf("%s", r.transcript())
	}
	file := filepath.Join(dir, "file-log-bug-no-crc.power.subsets"+sim.ExecutionExt)
	m := regexp.MustCompile(`replay:   crashsim replay --execution ` + regexp.QuoteMeta(file) + ` (\S+)\n`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no replay command with the saved execution %s:\n%s", file, r.stdout)
	}
	saved := crashsim("replay", "--execution", file, m[1])
	again := crashsim("replay", m[1])
	if saved.code != exitProblem || again.code != exitProblem || !strings.Contains(saved.stdout, "from     a saved execution") {
		t.Fatalf("%s\n%s", saved.transcript(), again.transcript())
	}
	problem := regexp.MustCompile(`(?m)^  (problem|expected|observed): .*$`)
	if a, b := problem.FindAllString(saved.stdout, -1), problem.FindAllString(again.stdout, -1); len(a) == 0 || strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("saved replay judges\n%s\nthe rerun\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	// A damaged file, and an id it does not hold, are usage errors.
	b, _ := os.ReadFile(file)
	os.WriteFile(file, b[:len(b)-1], 0o644)
	if c := crashsim("replay", "--execution", file, m[1]); c.code != exitUsageErr || !strings.Contains(c.stderr, "truncated") {
		t.Errorf("a truncated file: %s", c.transcript())
	}
	os.WriteFile(file, b, 0o644)
	if c := crashsim("replay", "--execution", file, "file-log-bug-no-crc:power:subsets:0:0:zero:100000:0//1"); c.code != exitUsageErr || !strings.Contains(c.stderr, "none of") {
		t.Errorf("an id not saved: %s", c.transcript())
	}
}
