package sim

import (
	"fmt"
	"strings"

	"github.com/crashsim/crashsim/faultfs"
)

// Barriers misused (issue 10 section 4): the workload's machine watches
// what a program does after a barrier of its failed, and warns of the two
// mistakes that lose acknowledged data on Linux whatever the crash:
//
//   - a Sync (or Datasync) retried after it failed, with nothing written
//     to the file in between: Linux marks the pages of a failed fsync
//     clean, so the retry succeeds without writing them ("fsyncgate",
//     PostgreSQL 2018);
//   - a Sync, Datasync or SyncDir whose error was ignored: the program
//     went on to acknowledge operations (Env.Durable) while the barrier
//     had not since succeeded on that file or directory.
//
// It costs nothing until a barrier fails: each check starts with the
// count of failed barriers, and the source lines are found (a stack walk
// each) only for the operations a warning names.

// Warning is a misuse of a barrier the workload made. A warning is not a
// violation: a run whose crash states all recover correctly passes with
// its warnings, but each names a line that loses data on a real machine.
type Warning struct {
	// Kind is "sync-retried" or "error-ignored".
	Kind string `json:"kind"`
	// Problem says in one line what was done and why it is wrong.
	Problem string `json:"problem"`
	// Path is the file or directory whose barrier failed.
	Path string `json:"path"`
	// Failed is the trace index of the barrier that failed, and
	// FailedSource its line.
	Failed       uint64 `json:"failed"`
	FailedSource string `json:"failed_source,omitempty"`
	// Then is the trace index of what followed — the retry, or the
	// acknowledgement — and ThenSource its line: the culprit.
	Then       uint64 `json:"then"`
	ThenSource string `json:"then_source,omitempty"`
}

func (w Warning) String() string {
	at := func(i uint64, src string) string {
		if src == "" {
			return fmt.Sprintf("#%d", i)
		}
		return fmt.Sprintf("#%d at %s", i, src)
	}
	return fmt.Sprintf("%s: %s (failed %s; then %s)", w.Kind, w.Problem, at(w.Failed, w.FailedSource), at(w.Then, w.ThenSource))
}

// failedBarrier is a barrier that failed and has not succeeded since on
// the same file or directory.
type failedBarrier struct {
	kind    faultfs.OpKind
	index   uint64
	source  string
	written bool // the file was written since: a later sync is no bare retry
	warned  bool // an acknowledgement was warned of already
	retry   *Warning
}

// isBarrierOp reports whether op is a barrier whose failure is watched.
func isBarrierOp(k faultfs.OpKind) bool {
	return k == faultfs.OpSync || k == faultfs.OpDatasync || k == faultfs.OpSyncDir
}

// barrierFailed records that op, a barrier, failed. Called with m.mu
// held, from failed.
func (m *Machine) barrierFailed(op faultfs.Op) {
	if m.failedBarriers == nil {
		m.failedBarriers = map[string]*failedBarrier{}
	}
	if fb := m.failedBarriers[op.Path]; fb != nil && fb.retry != nil && fb.retry.Then == op.Index {
		fb.retry = nil // the retry failed too: still failed, no warning yet
		return
	}
	m.failedBarriers[op.Path] = &failedBarrier{kind: op.Kind, index: op.Index, source: callerOutside(m.skip)}
}

// watchBarriers follows op while some barrier is failed: a write to its
// file, a barrier of it again, an acknowledgement. Called with m.mu held,
// from observe, only when failedBarriers is not empty.
func (m *Machine) watchBarriers(op faultfs.Op) {
	// A retry seen at the operation before is confirmed now: had it
	// failed, failed would have said so before this operation began.
	for path, fb := range m.failedBarriers {
		if fb.retry != nil && fb.retry.Then < op.Index {
			if fb.retry.Kind != "" {
				m.warnings = append(m.warnings, *fb.retry)
			}
			delete(m.failedBarriers, path)
		}
	}
	switch {
	case op.Kind == faultfs.OpMark && strings.HasPrefix(op.Note, "durable "):
		for path, fb := range m.failedBarriers {
			if fb.warned {
				continue
			}
			fb.warned = true
			m.warnings = append(m.warnings, Warning{Kind: "error-ignored", Path: path,
				Problem: fmt.Sprintf("the %s of %s failed and the program went on to acknowledge operations (%s) without a %s of it that succeeded: its error was ignored", fb.kind, path, op.Note, fb.kind),
				Failed:  fb.index, FailedSource: fb.source, Then: op.Index, ThenSource: callerOutside(m.skip)})
		}
	case op.Kind == faultfs.OpWrite || op.Kind == faultfs.OpAppend || op.Kind == faultfs.OpTruncate || op.Kind == faultfs.OpAllocate:
		if fb := m.failedBarriers[op.Path]; fb != nil {
			fb.written = true
		}
	case isBarrierOp(op.Kind):
		fb := m.failedBarriers[op.Path]
		switch {
		case fb == nil:
		case op.Kind != faultfs.OpSyncDir && !fb.written:
			fb.retry = &Warning{Kind: "sync-retried", Path: op.Path,
				Problem: fmt.Sprintf("a %s of %s that failed was retried with nothing written to the file since: Linux marks the pages of a failed fsync clean, so the retry succeeds without making them durable (fsyncgate)", fb.kind, op.Path),
				Failed:  fb.index, FailedSource: fb.source, Then: op.Index, ThenSource: callerOutside(m.skip)}
		default:
			// Written again, or a directory synced again: resolved if it
			// succeeds, which failed would otherwise say.
			fb.retry = &Warning{Then: op.Index}
		}
	}
}

// barrierWarnings returns the warnings of the machine so far, the pending
// retry confirmed: the workload has returned.
func (m *Machine) barrierWarnings() []Warning {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.failedBarriers) > 0 {
		m.watchBarriers(faultfs.Op{Index: ^uint64(0)})
	}
	return m.warnings
}
