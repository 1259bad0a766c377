package sim

import (
	"strings"
	"testing"
)

func TestWriteEvents(t *testing.T) {
	var events []Event
	for i := range 100 {
		e := Event{Index: uint64(i), Proc: 1, Kind: "write", Path: "/f", Off: int64(i), Len: 1}
		if i%10 == 9 {
			e.Kind = "sync"
		}
		events = append(events, e)
	}
	var b strings.Builder
	writeEvents(&b, events, 40, map[uint64]string{99: "wal.go:7"}, 98, true)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 40 {
		t.Fatalf("%d lines, want the last 40 events:\n%s", len(lines), b.String())
	}
	if !strings.HasPrefix(lines[0], "   #60 ") {
		t.Errorf("first line %q, want event #60", lines[0])
	}
	if !strings.HasPrefix(lines[38], "-> #98 ") || !strings.HasPrefix(lines[39], " B #99 ") || !strings.HasSuffix(lines[39], " wal.go:7") {
		t.Errorf("crash point, barrier or source not marked:\n%s\n%s", lines[38], lines[39])
	}
	b.Reset()
	writeEvents(&b, events, 0, nil, 0, false)
	if n := strings.Count(b.String(), "\n"); n != 100 {
		t.Errorf("no limit: %d lines, want 100", n)
	}
}

// TestCrashPlaceSaidOnce: a power failure strikes before a barrier the
// trace then lacks; the violation and the replay say where, each once,
// in At's words ("before #15 …"), and a violated replay's verdict does not
// repeat the problem shown under it.
func TestCrashPlaceSaidOnce(t *testing.T) {
	var excerpt []Event
	for i := 11; i < 15; i++ {
		excerpt = append(excerpt, Event{Index: uint64(i), Proc: 1, Kind: "flush", Path: "/pmem/log"})
	}
	v := Violation{Point: 2, Trace: 15, At: "before #15 p1 drain /pmem/log", Problem: "a torn record", Excerpt: excerpt}
	rp := Replay{ID: ReplayID{Scenario: "x", Fault: PowerFailure, Strategy: Subsets, RecoveryPoint: -1}, Violation: &v, Verdict: v.Problem, Trace: excerpt}
	var b strings.Builder
	if err := rp.Format(&b, 0, ""); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{v.String(), b.String()} {
		if n := strings.Count(out, "-> crash before #15 p1 drain /pmem/log\n"); n != 1 {
			t.Errorf("the crash is marked %d times, want once:\n%s", n, out)
		}
		if strings.Contains(out, "before before") {
			t.Errorf("doubled word:\n%s", out)
		}
	}
	if n := strings.Count(b.String(), "a torn record"); n != 1 {
		t.Errorf("the replay says the problem %d times, want once:\n%s", n, b.String())
	}
	// A process crash follows an operation the excerpt shows.
	v.At, v.Excerpt = "after #14 p1 flush /pmem/log", excerpt
	v.Trace = 14
	if out := v.String(); strings.Contains(out, "-> crash") || !strings.Contains(out, "-> #14 p1 flush /pmem/log") {
		t.Errorf("a crash shown in the excerpt is marked again:\n%s", out)
	}
}
