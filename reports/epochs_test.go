package reports

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// deepFixture is a run at crash depth 2 with a violation after two crashes
// and one of a continuation that could not go on.
func deepFixture() []*sim.Result {
	chain := sim.Violation{
		ReplayID: "wal-bug-resume-keeps-tear:power:posix:subsets:0:0:zero:5+6:0/1/0+0/1/1",
		Point:    5, Trace: 27, At: "before #27 p1 sync /data/wal/1.wal",
		Problem: "recovered state matches no prefix of the 1 operations invoked (0 durable)",
		Excerpt: []sim.Event{{Index: 26, Proc: 1, Kind: "write", Path: "/data/wal/1.wal", Off: 64, Len: 2760}},
		Chain: []sim.Crash{{Epoch: 2, Point: 6, Trace: 118, At: "before #118 p2 sync /data/wal/1.wal",
			Excerpt: []sim.Event{{Index: 26, Proc: 2, Kind: "start", Note: "continuation"}, {Index: 117, Proc: 2, Kind: "write", Path: "/data/wal/1.wal", Off: 64, Len: 920}}}},
		Kept:     []sim.Unit{{Kind: "data", Path: "/data/wal/1.wal", Off: 0, Len: 512, Version: 1, Versions: 2, Trace: 26}},
		BreaksOn: []string{"posix"}, NotOn: []string{"btrfs"},
	}
	refused := sim.Violation{
		ReplayID: "pool-bug-epoch-reused:power:posix:subsets:0:0:zero:9+:0/1/0+",
		Point:    9, Trace: 154, At: "before #154 p1 drain /pmem/pool",
		Problem:  "after its recovery the program could not go on: the map's persistent lock is held",
		Liveness: true, BreaksOn: []string{"posix", "btrfs"}, NotOn: []string{},
	}
	points := []sim.Point{
		{Index: 5, Trace: 27, At: chain.At, States: 8, StatesExact: true, Explored: 8, Unique: 8, Violations: 1},
		{Index: 9, Trace: 154, At: refused.At, States: 8, StatesExact: true, Explored: 8, Unique: 8, Violations: 1},
	}
	return []*sim.Result{{Scenario: "wal-bug-resume-keeps-tear", Buggy: true, Fault: sim.PowerFailure, Strategy: sim.Subsets, FaultName: "power", StrategyName: "subsets",
		Profile: "posix", Shard: "all", CrashDepth: 2, MaxChains: 16, CrashPoints: 2, States: 16, StatesExact: true, Explored: 16, Unique: 16,
		Continuations: 4, ContinuationStates: 100, Recoveries: 120, Points: points, Violations: []sim.Violation{chain, refused}}}
}

// TestEpochs: a run at crash depth 2 shows its continuations in the table
// and on the page, and each violation the lives of the program it spans:
// the crash of each, or the continuation that could not go on, the trace
// of each later one, and the last crash's units only beside its own trace.
// JSON keeps them.
func TestEpochs(t *testing.T) {
	results := deepFixture()
	var b bytes.Buffer
	if err := Table(&b, results); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "4 (100)") || !strings.Contains(out, "continued: crash states whose recovery the program went on from") {
		t.Errorf("table without the continuations:\n%s", out)
	}
	b.Reset()
	if err := Violations(&b, results, -1); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"then:     epoch 2 (the program went on after its recovery): crash point 6, before #118 p2 sync /data/wal/1.wal",
		"trace of epoch 2 (its recovery, then the continuation):",
		"then:     epoch 2 (the program went on after its recovery): it could not",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("violations lack %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := HTML(&b, results); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkBalanced(t, out, "html", "body", "section", "details", "table", "ol")
	for _, want := range []string{
		`<span><b>crash depth</b> 2</span>`,
		`<b>continued</b> 4 recovered states, 100 crash states after them`,
		`class="mark bad deep"`,
		`shown after the program went on from its recovery and crashed again`,
		`over 2 epochs`,
		`<b>epoch 1: the workload</b><span class="end">✗ crash point 5, before #27 p1 sync /data/wal/1.wal</span>`,
		`<b>epoch 2: the continuation after its recovery</b><span class="end">✗ crash point 6, before #118 p2 sync /data/wal/1.wal</span>`,
		`<li class="recovery">recovery: <span class="end">recovered state matches no prefix`,
		`<span class="end">could not go on: after its recovery the program could not go on: the map&#39;s persistent lock is held</span>`,
		`trace of epoch 2, its recovery then the continuation, before its crash:`,
		`#117 p2 write /data/wal/1.wal [64,984)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Index 26 is in both traces: the kept unit is the last crash's, in
	// epoch 2's trace, not in the workload's.
	if n := strings.Count(out, `<tr class="kept `); n != 1 {
		t.Errorf("%d rows marked kept, want 1 (epoch 2's #26)", n)
	}
	b.Reset()
	if err := JSON(&b, results); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	got, want := back[0], results[0]
	if got.CrashDepth != 2 || got.Continuations != 4 || got.ContinuationStates != 100 || got.MaxChains != 16 ||
		!reflect.DeepEqual(got.Violations[0].Chain, want.Violations[0].Chain) || !got.Violations[1].Liveness {
		t.Errorf("JSON lost the epochs: %+v", got)
	}
}
