package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

func TestJudgeDemo(t *testing.T) {
	ok := &sim.Scenario{Name: "good"}
	broken := &sim.Scenario{Name: "broken"}
	caught := &sim.Scenario{Name: "good-bug-a"}
	missed := &sim.Scenario{Name: "good-bug-b"}
	viol := []sim.Violation{{Problem: "lost", ReplayID: "id"}}
	results := []*sim.Result{
		{Scenario: "good", FaultName: "power", StrategyName: "subsets"},
		{Scenario: "good", FaultName: "process", StrategyName: "keep-all"},
		{Scenario: "broken", FaultName: "power", StrategyName: "subsets", Violations: viol},
		{Scenario: "good-bug-a", Buggy: true, FaultName: "process", StrategyName: "keep-all"},
		{Scenario: "good-bug-a", Buggy: true, FaultName: "power", StrategyName: "subsets", Violations: viol},
		{Scenario: "good-bug-b", Buggy: true, FaultName: "power", StrategyName: "subsets", Stopped: "time budget"},
	}
	o := judgeDemo([]*sim.Scenario{ok, broken, caught, missed}, results)
	if o.correct != 2 || o.correctRuns != 3 || o.failedCorrect != 1 || o.bugs != 2 || len(o.caught) != 1 || o.caught[0].sc != caught {
		t.Errorf("outcome %+v", o)
	}
	want := []string{"correct scenario broken: FAIL under power/subsets: 1 violation, first: lost (crashsim replay id)", "bug variant good-bug-b was MISSED by all 1 runs (1 stopped by the time budget; rerun with --budget-time 0)"}
	if strings.Join(o.failures, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(o.failures, "\n"), strings.Join(want, "\n"))
	}
}

// TestGoldenDemo pins the demo's output but for its time and the body of
// each caught violation: its first line (where the crash is) and its
// replay command stay. run-bug.golden pins the body of a violation, and
// one for every bug variant would bury the table.
func TestGoldenDemo(t *testing.T) {
	untimedRuns(t)
	// Without the time budget, so that the table is the same on any
	// machine: under the race detector on a busy CI machine, runs cut
	// short by time explore fewer crash points.
	c := crashsim("demo", "--budget-time", "0")
	if c.code != exitOK {
		t.Fatalf("%s", c.transcript())
	}
	c.stdout = regexp.MustCompile(`(?m)^== Summary \(.*\)$`).ReplaceAllString(c.stdout, "== Summary (TIME)")
	c.stdout = regexp.MustCompile(`(?m)^(-- .*\ncrash point .*\n)(?:[ \t].*\n)*?(  replay: .*\n)`).ReplaceAllString(c.stdout, "$1  […]\n$2")
	golden(t, "demo", c.transcript())
	if strings.Contains(c.stdout, "FAIL") || strings.Contains(c.stdout, "UNEXPECTED") {
		t.Errorf("demo output reports a failure")
	}
	if n, bugs := strings.Count(c.stdout, "\n  […]\n  replay:   crashsim replay "), strings.Count(crashsim("list", "--names").stdout, "-bug-"); n != bugs {
		t.Errorf("the demo shows %d caught violations, want one for each of the %d bug variants", n, bugs)
	}

	goldenHelp(t, "demo")
	goldenErrors(t, "demo",
		[]string{"demo", "extra"},
		[]string{"demo", "--budget-states", "-1"},
		[]string{"demo", "--html", "no/such/dir/demo.html"},
	)
}
