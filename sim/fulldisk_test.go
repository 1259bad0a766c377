package sim

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// TestSIGBUSKillsTheProcess (docs/DESIGN.md F2, "mapped pages on a full
// disk"): a store through a mapping to a page the full disk cannot back
// kills the simulated process — its locks go, the kill is in the trace
// with its cause, the store and every later operation fail with ErrKilled
// — and the other processes go on.
func TestSIGBUSKillsTheProcess(t *testing.T) {
	m := NewMachine()
	m.Disk().SetCapacity("/", 2*engine.PageSize)
	a, b := m.Start("a"), m.Start("b")
	l, err := a.FS().Lock("/lock", engine.Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := engine.Create(a.FS(), "/f")
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.FS().Map(f, 4*engine.PageSize) // holes
	if err != nil {
		t.Fatal(err)
	}
	for page := range int64(2) {
		if err := r.Store64(page*engine.PageSize, 1); err != nil {
			t.Fatalf("a store to page %d, which the disk can back: %v", page, err)
		}
	}
	if a.Death() != "" {
		t.Fatalf("Death before any fault: %q", a.Death())
	}
	err = r.Store64(2*engine.PageSize, 1)
	if !errors.Is(err, ErrKilled) || !errors.Is(err, faultfs.ErrSIGBUS) {
		t.Errorf("a store to a page the full disk cannot back: %v, want ErrKilled wrapping faultfs.ErrSIGBUS", err)
	}
	if !a.Killed() || !strings.Contains(a.Death(), "SIGBUS") {
		t.Errorf("after the fault: Killed %v, Death %q", a.Killed(), a.Death())
	}
	if _, err := r.Load64(0); !errors.Is(err, ErrKilled) {
		t.Errorf("a load after the death: %v, want ErrKilled", err)
	}
	last := m.excerpt()[len(m.excerpt())-1]
	if last.Kind != "kill" || !strings.Contains(last.Note, "SIGBUS") {
		t.Errorf("the trace ends with %v, want the kill by SIGBUS", last)
	}
	l2, err := b.FS().Lock("/lock", engine.Exclusive)
	if err != nil {
		t.Fatalf("the dead process's lock: %v", err)
	}
	l2.Close()
	if b.Death() != "" {
		t.Errorf("the other process died too: %q", b.Death())
	}
}

// pagedLog is a log of 8-byte records in a mapped file on a disk of
// capacity pages, one record at the start of each page, made durable
// after each append. With allocate it allocates each page before it stores
// to it, and stops at ENOSPC; without, it maps holes and stores into them,
// which kills it with SIGBUS once the disk is full. Recovery reads the
// file with read(2), which never faults.
func pagedLog(allocate bool, capacity, records int64) *Scenario {
	name := "paged-log-sparse"
	if allocate {
		name = "paged-log"
	}
	return &Scenario{
		Name:  name,
		Model: models.Log(),
		Run: func(env *Env) error {
			env.Machine().Disk().SetCapacity("/", capacity*engine.PageSize)
			f, err := env.FS.OpenFile("/log", os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := env.FS.Map(f, records*engine.PageSize)
			if err != nil {
				return err
			}
			defer r.Close()
			if err := f.Sync(); err != nil {
				return err
			}
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			for i := range records {
				off := i * engine.PageSize
				if allocate {
					err := engine.Allocate(f, off, engine.PageSize)
					if errors.Is(err, syscall.ENOSPC) {
						env.Logf("the disk is full after %d records", i)
						return nil
					}
					if err != nil {
						return err
					}
				}
				rec := binary.LittleEndian.AppendUint64(nil, uint64(i+1))
				env.Invoke(models.LogAppend{Record: rec})
				if _, err := r.WriteAt(rec, off); err != nil {
					return err
				}
				if err := engine.Persist(r, off, 8); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *Env) (any, error) {
			b, err := engine.ReadFile(env.FS, "/log")
			if errors.Is(err, fs.ErrNotExist) {
				return [][]byte(nil), nil
			}
			if err != nil {
				return nil, err
			}
			var recs [][]byte
			for off := 0; off+8 <= len(b) && binary.LittleEndian.Uint64(b[off:]) != 0; off += engine.PageSize {
				recs = append(recs, b[off:off+8])
			}
			return recs, nil
		},
	}
}

// TestExploreSIGBUS: the explorer reports a workload killed by SIGBUS as a
// violation, under a process crash (at the crash point right after the
// fault) and a power failure (at the end), and its replay id rebuilds it;
// the same log that allocates its pages first passes on the same disk.
func TestExploreSIGBUS(t *testing.T) {
	for _, opts := range []Options{{Fault: ProcessCrash}, {Fault: PowerFailure, Strategy: Subsets}} {
		fault := opts.Fault
		bad := pagedLog(false, 3, 5)
		res, err := Explore(bad, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.RunError != "" || len(res.Violations) != 1 {
			t.Fatalf("%v: run error %q, %d violations; want the death, once", fault, res.RunError, len(res.Violations))
		}
		v := res.Violations[0]
		if !strings.Contains(v.Problem, "the workload crashed") || !strings.Contains(v.Problem, "SIGBUS") {
			t.Errorf("%v: problem %q, want the workload killed by SIGBUS", fault, v.Problem)
		}
		if fault == ProcessCrash && !strings.Contains(v.At, "kill") {
			t.Errorf("%v: the violation is %s, want right after the kill", fault, v.At)
		}
		id, err := ParseReplayID(v.ReplayID)
		if err != nil {
			t.Fatal(err)
		}
		rp, err := RunReplay(bad, id)
		if err != nil {
			t.Fatalf("%v: replay %s: %v", fault, v.ReplayID, err)
		}
		if rp.Violation == nil || rp.Violation.Problem != v.Problem {
			t.Errorf("%v: the replay's verdict is %q, want %q", fault, rp.Verdict, v.Problem)
		}

		good := pagedLog(true, 3, 5)
		res, err = Explore(good, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			t.Errorf("%v: the log that allocates first: run error %q, violations %v", fault, res.RunError, res.Violations)
		}
	}
}
