package main

import (
	"bytes"
	"strings"
	"testing"

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

func TestPrintEvents(t *testing.T) {
	var events []sim.Event
	for i := range 100 {
		e := sim.Event{Index: uint64(i), Proc: 1, Kind: "write", Path: "/f", Off: int64(i), Len: 1}
		if i%10 == 9 {
			e.Kind = "sync"
		}
		events = append(events, e)
	}
	var b bytes.Buffer
	printEvents(&b, events, replayEvents, map[uint64]string{99: "wal.go:7"}, 98, true)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != replayEvents {
		t.Fatalf("%d lines, want the last %d events:\n%s", len(lines), replayEvents, b.String())
	}
	if !strings.HasPrefix(lines[0], "   #60 ") {
		t.Errorf("first line %q, want event #60", lines[0])
	}
	if !strings.HasPrefix(lines[38], "-> #98 ") || !strings.HasPrefix(lines[39], " B #99 ") || !strings.HasSuffix(lines[39], " wal.go:7") {
		t.Errorf("crash point, barrier or source not marked:\n%s\n%s", lines[38], lines[39])
	}
	b.Reset()
	printEvents(&b, events, 0, nil, 0, false)
	if n := strings.Count(b.String(), "\n"); n != 100 {
		t.Errorf("no limit: %d lines, want 100", n)
	}
}
