package torture

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/engine/wal"
)

// The checks after a kill. Each runs in a child process, so that a
// recovery that faults (SIGBUS on a full file system) or panics is
// reported rather than taking the torture down.

// verdict is a check's judgement of a crashed workload.
type verdict struct {
	// Class is "" when everything held; else what broke first: lost (an
	// acknowledged operation is missing), invented (data no operation
	// wrote, or an operation half applied), recovery-error (recovery or
	// Check failed on the state a crash left), litter (files recovery
	// should have removed).
	Class  string `json:",omitempty"`
	Detail string `json:",omitempty"`
	// Recovered is the last operation recovery found; Repaired whether the
	// repair step (Resume, or opening as the writer) ran.
	Recovered uint64
	Repaired  bool
	// SetAside and Temporaries count the WAL directory's files after
	// Resume: tails kept aside and stale temporary files.
	SetAside, Temporaries int
}

func (v *verdict) fail(class, format string, args ...any) verdict {
	v.Class, v.Detail = class, fmt.Sprintf(format, args...)
	return *v
}

// check runs a check job.
func check(j job) verdict {
	if j.Role == roleWALCheck {
		return checkWAL(j)
	}
	return checkPool(j)
}

// checkWAL judges the log a kill left at j.Path: read-only, best-effort
// recovery must hold every acknowledged entry and checkpoint, and nothing
// else but entries the workload appended after them, each whole; then
// Resume must succeed, clear away stale temporaries, and leave a log that
// Strict recovery reads back with the same entries.
func checkWAL(j job) verdict {
	fsys := fsysFor(j.Medium)
	var v verdict
	if _, err := os.Stat(j.Path); errors.Is(err, fs.ErrNotExist) && j.Acked == 0 {
		return v // killed before it made the log: nothing to recover
	}
	judge := func(mode wal.Mode, when string) (wal.Recovered[walState], bool) {
		rec, err := wal.Recover(fsys, j.Path, walStates{}, wal.Bytes, mode, applyWALEntry(j.Seed))
		switch {
		case errors.Is(err, errNotWritten):
			v.fail("invented", "%s: %v", when, err)
		case err != nil:
			v.fail("recovery-error", "%s: %v", when, err)
		case rec.State.K > maxSeq || rec.State.Sum != sumThrough(j.Seed, rec.State.K):
			v.fail("invented", "%s: the state through entry %d has sum %#x, want %#x (entries missing or repeated, or a checkpoint no Publish wrote)",
				when, rec.State.K, rec.State.Sum, sumThrough(j.Seed, min(rec.State.K, maxSeq)))
		case rec.State.K < j.Acked:
			v.fail("lost", "%s: entries %d..%d were acknowledged durable, the log ends at %d", when, rec.State.K+1, j.Acked, rec.State.K)
		case rec.State.K > j.Acked+j.Pending:
			v.fail("invented", "%s: the log ends at entry %d, and no more than %d were appended", when, rec.State.K, j.Acked+j.Pending)
		default:
			return rec, true
		}
		return rec, false
	}
	rec, ok := judge(wal.BestEffort, "best-effort recovery of the crashed log")
	if !ok {
		return v
	}
	v.Recovered = rec.State.K
	if ck, ok, err := wal.LatestCheckpoint(fsys, j.Path, walStates{}); err != nil {
		return v.fail("recovery-error", "latest checkpoint: %v", err)
	} else if j.Published > 0 && (!ok || ck.State.K < j.Published) {
		return v.fail("lost", "a checkpoint through entry %d was acknowledged, the latest is through %d", j.Published, ck.State.K)
	}

	w, err := wal.Resume(fsys, j.Path, wal.Bytes, wal.Options{SegmentSize: walSegmentSize})
	if err != nil {
		if j.NoSpace && errors.Is(err, syscall.ENOSPC) {
			return v
		}
		return v.fail("recovery-error", "Resume: %v", err)
	}
	v.Repaired = true
	// The documented retention: Resume keeps DefaultTornRetention of the
	// files set aside before, and whatever it sets aside itself.
	maxSetAside := wal.DefaultTornRetention
	for _, r := range w.Repairs() {
		if r.Aside != "" {
			maxSetAside++
		}
	}
	err = w.Close()
	v.SetAside, v.Temporaries = countLitter(j.Path)
	if err != nil && !(j.NoSpace && errors.Is(err, syscall.ENOSPC)) {
		return v.fail("recovery-error", "Close after Resume: %v", err)
	}
	again, ok := judge(wal.Strict, "Strict recovery after Resume")
	switch {
	case !ok:
		return v
	case again.State.K != rec.State.K:
		return v.fail("lost", "best-effort recovery found entries through %d, and after Resume Strict recovery through %d", rec.State.K, again.State.K)
	case v.Temporaries > 0:
		return v.fail("litter", "%d stale temporary files after Resume (a crash during WriteCheckpoint leaves them)", v.Temporaries)
	case v.SetAside > maxSetAside:
		return v.fail("litter", "%d set-aside tails after Resume, more than the %d the documented retention keeps", v.SetAside, maxSetAside)
	}
	return v
}

// countLitter counts the set-aside tails and temporary files of a WAL
// directory.
func countLitter(dir string) (setAside, temporaries int) {
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		switch filepath.Ext(de.Name()) {
		case ".torn":
			setAside++
		case ".tmp":
			temporaries++
		}
	}
	return setAside, temporaries
}

// checkPool judges the pool a kill left at j.Path: opening it as the
// writer recovers it; Check must pass; the map and counters must be the
// model's after some transaction Seq with Acked <= Seq <= Acked+Pending.
func checkPool(j job) verdict {
	var v verdict
	if _, err := os.Stat(j.Path); errors.Is(err, fs.ErrNotExist) && j.Acked == 0 {
		return v // killed before it made the pool: nothing to recover
	}
	p, err := tx.Open[poolTag, poolRoot](fsysFor(j.Medium), j.Path, poolOptions(j.PoolSize, nil))
	if err != nil {
		if j.NoSpace && errorKind(err) == "nospace" {
			return v
		}
		return v.fail("recovery-error", "Open: %v", err)
	}
	v.Repaired = true
	if err := p.Check(); err != nil {
		p.Close()
		return v.fail("recovery-error", "Check of the recovered pool: %v", err)
	}
	s, err := readPool(p, poolFlavor{})
	if err != nil {
		p.Close()
		return v.fail("recovery-error", "reading the recovered pool: %v", err)
	}
	v.Recovered = s.Seq
	switch err := judgePoolWith(newPoolModel(j.Seed, j.Grow), s); {
	case err != nil:
		p.Close()
		return v.fail("invented", "%v", err)
	case s.Seq < j.Acked:
		p.Close()
		return v.fail("lost", "transactions %d..%d were acknowledged, the pool is at %d", s.Seq+1, j.Acked, s.Seq)
	case s.Seq > j.Acked+j.Pending:
		p.Close()
		return v.fail("invented", "the pool is at transaction %d, and no more than %d were begun", s.Seq, j.Acked+j.Pending)
	}
	if err := p.Close(); err != nil && !(j.NoSpace && errorKind(err) == "nospace") {
		return v.fail("recovery-error", "Close of the recovered pool: %v", err)
	}
	return v
}
