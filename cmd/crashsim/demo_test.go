package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	// Without the time budget, so that the table is the same on any machine:
	// under the race detector on a busy CI machine, runs cut short by time
	// explore fewer crash points and a bug variant can go unseen.
	code := run([]string{"demo", "--budget-time", "0"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("crashsim demo: exit %d\n%s%s", code, out.String(), errb.String())
	}
	got := out.String()
	for _, want := range []string{"verdict", "caught", "What the laboratory caught", "crashsim replay ", "bug variants were caught."} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "FAIL") || strings.Contains(got, "UNEXPECTED") {
		t.Errorf("demo output reports a failure:\n%s", got)
	}
}

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

func TestDemoUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "pmem-log"}, &out, &errb); code != exitUsageErr {
		t.Errorf("demo with an argument: exit %d, want %d", code, exitUsageErr)
	}
}
