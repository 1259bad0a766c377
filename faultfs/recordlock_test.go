package faultfs

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// recStep is one step of a record-lock table test: a set (Unlock false) or
// an unlock by process proc of owner's range.
type recStep struct {
	proc       int
	owner      uint64
	start, end int64
	excl       bool
	unlock     bool
	wantLocked bool // the set must fail with ErrLocked
}

// TestRecordLockSemantics walks POSIX record-lock scripts and checks the
// table after each: merge, split, conflict, upgrade, an owner's locks
// never conflicting with each other, release on the death of a process.
func TestRecordLockSemantics(t *testing.T) {
	const eof = RecordEOF
	tests := []struct {
		name    string
		steps   []recStep
		release int      // ReleaseLocks of this process after the steps, if not 0
		want    []string // the table, sorted
	}{
		{name: "adjacent same type merge",
			steps: []recStep{{proc: 1, owner: 1, start: 0, end: 9}, {proc: 1, owner: 1, start: 10, end: 19}, {proc: 1, owner: 1, start: 30, end: 39}},
			want:  []string{"rd [0,19] owner 0x1 pid 1", "rd [30,39] owner 0x1 pid 1"}},
		{name: "overlapping merge to EOF",
			steps: []recStep{{proc: 1, owner: 1, start: 5, end: 9, excl: true}, {proc: 1, owner: 1, start: 8, end: eof, excl: true}},
			want:  []string{"wr [5,EOF] owner 0x1 pid 1"}},
		{name: "unlock in the middle splits",
			steps: []recStep{{proc: 1, owner: 1, start: 0, end: 99, excl: true}, {proc: 1, owner: 1, start: 40, end: 49, unlock: true}},
			want:  []string{"wr [0,39] owner 0x1 pid 1", "wr [50,99] owner 0x1 pid 1"}},
		{name: "unlock to EOF cuts the tail",
			steps: []recStep{{proc: 1, owner: 1, start: 0, end: eof}, {proc: 1, owner: 1, start: 10, end: eof, unlock: true}},
			want:  []string{"rd [0,9] owner 0x1 pid 1"}},
		{name: "own locks never conflict: a write inside a read splits it",
			steps: []recStep{{proc: 1, owner: 1, start: 0, end: 99}, {proc: 1, owner: 1, start: 10, end: 19, excl: true}},
			want:  []string{"rd [0,9] owner 0x1 pid 1", "rd [20,99] owner 0x1 pid 1", "wr [10,19] owner 0x1 pid 1"}},
		{name: "upgrade read to write when alone",
			steps: []recStep{{proc: 1, owner: 1, start: 0, end: 9}, {proc: 1, owner: 1, start: 0, end: 9, excl: true}},
			want:  []string{"wr [0,9] owner 0x1 pid 1"}},
		{name: "upgrade refused while another owner reads",
			steps: []recStep{{proc: 1, owner: 1, start: 0, end: 9}, {proc: 2, owner: 2, start: 5, end: 5}, {proc: 1, owner: 1, start: 0, end: 9, excl: true, wantLocked: true}},
			want:  []string{"rd [0,9] owner 0x1 pid 1", "rd [5,5] owner 0x2 pid 2"}},
		{name: "readers share, a writer conflicts, disjoint ranges do not",
			steps: []recStep{
				{proc: 1, owner: 1, start: 0, end: 9}, {proc: 2, owner: 2, start: 5, end: 14},
				{proc: 3, owner: 3, start: 9, end: 9, excl: true, wantLocked: true},
				{proc: 3, owner: 3, start: 15, end: eof, excl: true},
				{proc: 1, owner: 1, start: 20, end: 20, wantLocked: true}},
			want: []string{"rd [0,9] owner 0x1 pid 1", "rd [5,14] owner 0x2 pid 2", "wr [15,EOF] owner 0x3 pid 3"}},
		{name: "the death of a process releases its locks only",
			steps:   []recStep{{proc: 1, owner: 1, start: 0, end: 9, excl: true}, {proc: 2, owner: 2, start: 10, end: 19, excl: true}},
			release: 1,
			want:    []string{"wr [10,19] owner 0x2 pid 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := New(Options{})
			f, err := fsys.OpenFile("/f", 0o102, 0o600) // O_RDWR|O_CREATE
			ok(t, err)
			defer f.Close()
			for i, s := range tt.steps {
				v := fsys.View(s.proc).(RecordLocker)
				if s.unlock {
					ok(t, v.RecordUnlock("/f", s.owner, s.start, s.end))
					continue
				}
				err := v.RecordLock("/f", RecordLock{Owner: s.owner, Pid: s.proc, Start: s.start, End: s.end, Exclusive: s.excl})
				if s.wantLocked != errors.Is(err, engine.ErrLocked) || (!s.wantLocked && err != nil) {
					t.Fatalf("step %d %+v: %v, want locked %v", i, s, err, s.wantLocked)
				}
			}
			if tt.release != 0 {
				fsys.ReleaseLocks(tt.release)
			}
			if got := recordTable(fsys, "/f"); !slices.Equal(got, tt.want) {
				t.Errorf("table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func recordTable(fsys *FS, name string) []string {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	_, _, node, _ := fsys.resolve(name)
	var out []string
	for _, r := range node.locks.records {
		out = append(out, r.RecordLock.String())
	}
	slices.Sort(out)
	return out
}

// TestTestRecordLock: F_GETLK's answer is the first conflicting lock of
// another owner, with its pid; an owner's own lock is no conflict.
func TestTestRecordLock(t *testing.T) {
	fsys := New(Options{})
	f, err := fsys.OpenFile("/f", 0o102, 0o600)
	ok(t, err)
	defer f.Close()
	ok(t, fsys.View(1).(RecordLocker).RecordLock("/f", RecordLock{Owner: 7, Pid: 4242, Start: 100, End: RecordEOF, Exclusive: true}))
	for _, tc := range []struct {
		l    RecordLock
		want bool
	}{
		{RecordLock{Owner: 8, Start: 0, End: 99}, false},
		{RecordLock{Owner: 8, Start: 0, End: 100}, true},
		{RecordLock{Owner: 8, Start: 1 << 40, End: RecordEOF}, true},
		{RecordLock{Owner: 7, Start: 0, End: RecordEOF, Exclusive: true}, false},
	} {
		c, found, err := fsys.TestRecordLock("/f", tc.l)
		ok(t, err)
		if found != tc.want || found && c.Pid != 4242 {
			t.Errorf("TestRecordLock(%v) = %v, %v; want conflict %v with pid 4242", tc.l, c, found, tc.want)
		}
	}
}

// TestRecordLockTrace: sets and unlocks are in the trace with their
// process, range and type; record locks are not in a crash clone.
func TestRecordLockTrace(t *testing.T) {
	log := new(Log)
	fsys := New(Options{Observe: log.Observe})
	f, err := fsys.OpenFile("/f", 0o102, 0o600)
	ok(t, err)
	defer f.Close()
	v := fsys.View(3).(RecordLocker)
	ok(t, v.RecordLock("/f", RecordLock{Owner: 1, Pid: 3, Start: 0, End: RecordEOF, Exclusive: true}))
	ok(t, v.RecordUnlock("/f", 1, 5, 9))
	var got []string
	for _, op := range log.Ops() {
		if op.Kind == OpRecordLock || op.Kind == OpRecordUnlock {
			got = append(got, fmt.Sprint(op))
		}
	}
	want := []string{"#1 p3 setlk /f [0,EOF] wr", "#2 p3 unlk /f [5,9]"}
	if !slices.Equal(got, want) {
		t.Errorf("trace %q, want %q", got, want)
	}
	clone := fsys.CrashClone(CrashOptions{Mode: KeepAll})
	if err := clone.RecordLock("/f", RecordLock{Owner: 2, Start: 0, End: 0, Exclusive: true}); err != nil {
		t.Errorf("a lock in the crash clone: %v (the record lock was cloned)", err)
	}
}
