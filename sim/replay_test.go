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
