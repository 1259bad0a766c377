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
	if len(o.deep) != 0 {
		t.Errorf("violations after one crash listed as caught only at depth 2: %+v", o.deep)
	}
}

// TestJudgeDemoDeep: a bug variant every violation of which needed a
// second crash (a chain, or a continuation that failed) is listed as
// caught only by crashing twice, with the first of them; one with a
// violation after a single crash is not.
func TestJudgeDemoDeep(t *testing.T) {
	deep := &sim.Scenario{Name: "x-bug-deep"}
	mixed := &sim.Scenario{Name: "x-bug-mixed"}
	chain := sim.Violation{Point: 5, At: "before #27 p1 sync /data/log", Problem: "lost", ReplayID: "a",
		Chain: []sim.Crash{{Epoch: 2, Point: 6, At: "before #118 p2 sync /data/log"}}}
	refused := sim.Violation{Point: 9, At: "after #9 p1 write /data/log", Problem: "refused", ReplayID: "b", Liveness: true}
	once := sim.Violation{Point: 1, At: "before #3 p1 sync /data/log", Problem: "lost", ReplayID: "c"}
	results := []*sim.Result{
		{Scenario: "x-bug-deep", Buggy: true, FaultName: "process", StrategyName: "keep-all", Violations: []sim.Violation{refused}},
		{Scenario: "x-bug-deep", Buggy: true, FaultName: "power", StrategyName: "subsets", Violations: []sim.Violation{chain}},
		{Scenario: "x-bug-mixed", Buggy: true, FaultName: "power", StrategyName: "subsets", Violations: []sim.Violation{chain, once}},
	}
	o := judgeDemo([]*sim.Scenario{deep, mixed}, results)
	if len(o.failures) != 0 || len(o.caught) != 2 {
		t.Fatalf("outcome %+v", o)
	}
	if len(o.deep) != 1 || o.deep[0].sc != deep || o.deep[0].violation.ReplayID != "b" {
		t.Fatalf("caught only at depth 2: %+v, want x-bug-deep with its first violation", o.deep)
	}
	if got, want := chainText(o.deep[0].violation), "crash point 9 (after #9 p1 write /data/log); recovery; the continuation: refused"; got != want {
		t.Errorf("chainText = %q, want %q", got, want)
	}
	if got, want := chainText(&chain), "crash point 5 (before #27 p1 sync /data/log); recovery; crash point 6 of the continuation (before #118 p2 sync /data/log); recovery: lost"; got != want {
		t.Errorf("chainText = %q, want %q", got, want)
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
	// The demo shows a depth-2 catch: the bug variants that only a second
	// crash shows, each with its chain of crashes.
	_, deep, _ := strings.Cut(c.stdout, "\n== Caught only by crashing twice")
	deep, _, _ = strings.Cut(deep, "\n== ")
	for _, name := range []string{"wal-bug-resume-keeps-tear", "pool-bug-epoch-reused"} {
		if !regexp.MustCompile(`(?m)^` + name + ` \(.*\): crash point \d+ .*; recovery; (crash point \d+ of the continuation|the continuation: )`).MatchString(deep) {
			t.Errorf("the demo does not show %s as caught only by crashing twice:\n%s", name, deep)
		}
	}

	goldenHelp(t, "demo")
	goldenErrors(t, "demo",
		[]string{"demo", "extra"},
		[]string{"demo", "--budget-states", "-1"},
		[]string{"demo", "--html", "no/such/dir/demo.html"},
	)
}
