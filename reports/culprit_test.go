package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// culpritFixture is a run whose violation was found by crashing the
// recovery, blaming a unit of that recovery, and whose workload retried
// a failed fsync.
func culpritFixture() []*sim.Result {
	culprit := sim.Unit{Kind: "data", Path: "/log.moved", Off: 0, Len: 512, Version: 0, Versions: 2, Lost: true, Trace: 6,
		Epoch: 2, Recovery: true, Source: "mylog/recover.go:41"}
	v := sim.Violation{
		ReplayID: "my-log:power:posix:subsets:0:0:zero:2:0/1/1@3:0/0/0",
		Point:    2, Trace: 7, At: "before #7 p1 sync /log",
		Problem:       "recovered state matches no prefix of the 2 operations invoked (2 durable)",
		Excerpt:       []sim.Event{{Index: 6, Proc: 1, Kind: "write", Path: "/log", Off: 0, Len: 8}},
		RecoveryCrash: "crash point 3 of the recovery, before #8 p1 sync /log.moved",
		Lost:          []sim.Unit{culprit},
		Kept:          []sim.Unit{},
		Culprit:       &culprit,
	}
	w := sim.Warning{Kind: "sync-retried", Path: "/log", Problem: "a sync of /log that failed was retried with nothing written to the file since (fsyncgate)",
		Failed: 9, FailedSource: "mylog/log.go:80", Then: 10, ThenSource: "mylog/log.go:83"}
	return []*sim.Result{{Scenario: "my-log", Buggy: false, Fault: sim.PowerFailure, Strategy: sim.Subsets, FaultName: "power", StrategyName: "subsets",
		Profile: "posix", Shard: "all", CrashDepth: 1, CrashPoints: 1, States: 4, StatesExact: true, Explored: 4, Unique: 4,
		Points:     []sim.Point{{Index: 2, Trace: 7, At: v.At, States: 4, StatesExact: true, Explored: 4, Unique: 4, Violations: 1}},
		Violations: []sim.Violation{v}, Warnings: []sim.Warning{w}}}
}

// TestCulpritsAndWarnings: the text, the JSON and the page name each
// violation's culprit with its line, and each warning with both lines; a
// unit of a crashed recovery marks no event of the workload's excerpt,
// whose trace index it does not count in.
func TestCulpritsAndWarnings(t *testing.T) {
	results := culpritFixture()
	var text bytes.Buffer
	if err := Violations(&text, results, -1); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"culprit:  lost /log.moved [0,512) (0 of 1 changes kept; first lost by #6 of the recovery that crashed) at mylog/recover.go:41",
		"warning 1 of 1, a barrier misused (sync-retried)",
		"failed:   #9 at mylog/log.go:80",
		"then:     #10 at mylog/log.go:83",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the text lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := JSON(&js, results); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&js)
	if err != nil {
		t.Fatal(err)
	}
	if c := back[0].Violations[0].Culprit; c == nil || *c != *results[0].Violations[0].Culprit || len(back[0].Warnings) != 1 || back[0].Warnings[0] != results[0].Warnings[0] {
		t.Errorf("JSON does not keep the culprit and the warning: %+v %+v", c, back[0].Warnings)
	}
	var page bytes.Buffer
	if err := HTML(&page, results); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Culprit: <code>lost /log.moved", "mylog/recover.go:41", "Warning, a barrier misused", "mylog/log.go:83"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page.String(), `class="lost"`) {
		t.Errorf("the recovery's unit marks an event of the workload's excerpt:\n%s", page.String())
	}
}
