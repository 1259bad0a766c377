package sim

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/models"
)

// divergingLog writes one record per run, rewritten rewrites times before
// its sync: the first run (the exploration) rewrites it three times, every
// later one (the replay) once, so a state of the first run names versions
// of a unit that the replay's crash point does not have — the workload
// went another way, as one whose goroutines race does.
func divergingLog(runs *atomic.Int32) *Scenario {
	return &Scenario{
		Name:  "diverging-log",
		Model: models.Log(),
		Run: func(env *Env) error {
			rewrites := 1
			if runs.Add(1) == 1 {
				rewrites = 3
			}
			f, err := env.FS.OpenFile("/log", os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := f.Sync(); err != nil {
				return err
			}
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			env.Invoke(models.LogAppend{Record: []byte("abc")})
			// In a goroutine of the workload's own, as the workload
			// fsynced its shared log from several.
			done := make(chan error)
			go func() {
				for i := range rewrites {
					if _, err := f.WriteAt([]byte{0, 0, 0, 3, 'a', 'b', byte('c' - 2 + i)}, 0); err != nil {
						done <- err
						return
					}
				}
				done <- f.Sync()
			}()
			return <-done
		},
		Recover: func(env *Env) (any, error) { return [][]byte(nil), nil },
	}
}

// TestReplayOfAnotherWayNeverPanics: the replay of a state whose workload
// went another way is ErrDiverged, never an index out of range in the
// shrinker's units (issue 11's first panic), with or without the id's
// workload digest.
func TestReplayOfAnotherWayNeverPanics(t *testing.T) {
	var runs atomic.Int32
	sc := divergingLog(&runs)
	res, err := Explore(sc, Options{Fault: PowerFailure, Strategy: Subsets, Profile: "posix-4k", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var ids []ReplayID
	for _, v := range res.Violations {
		id, err := ParseReplayID(v.ReplayID)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// States that keep a later version of the record than the replay's
	// crash point has.
	for _, c := range []string{"0/1/2", "0/1/3"} {
		ids = append(ids, ReplayID{Scenario: sc.Name, Fault: PowerFailure, Profile: "posix-4k", Strategy: Subsets, Point: 2, Choice: c, RecoveryPoint: -1})
	}
	if len(ids) == 0 {
		t.Fatal("no state to replay")
	}
	for _, id := range ids {
		for _, digest := range []uint64{id.Workload, 0} {
			id.Workload = digest
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("replay of %s panicked: %v", id, r)
					}
				}()
				_, err = RunReplay(sc, id)
			}()
			if !errors.Is(err, ErrDiverged) {
				t.Errorf("replay of %s: %v, want ErrDiverged", id, err)
			}
		}
	}
}

// leakyWAL appends to a WAL from goroutines of its own that share its
// group commit, and returns without waiting for them: they go on
// appending and syncing after the workload is over.
func leakyWAL() *Scenario {
	return &Scenario{
		Name:  "leaky-wal",
		Model: models.Log(),
		Run: func(env *Env) error {
			w, err := wal.New(env.FS, "/data/wal", wal.Bytes, wal.Options{SegmentSize: 4 << 10})
			if err != nil {
				return err
			}
			for g := range 3 {
				go func() {
					for i := 0; ; i++ {
						if _, err := w.Append([]byte{byte(g), byte(i)}); err != nil {
							return
						}
						if w.FlushAndSync() != nil {
							return
						}
					}
				}()
			}
			return nil
		},
		Recover: func(env *Env) (any, error) { return [][]byte(nil), nil },
	}
}

// TestLeakedGoroutinesNeverKillTheLaboratory: goroutines of a workload
// that sync a shared WAL after the workload returned reached crash points
// of a finished exploration, whose panic inside the WAL's unlocked
// section ended the process with "fatal error: sync: unlock of unlocked
// mutex" (issue 11). The exploration runs in a child process, which must
// exit cleanly.
func TestLeakedGoroutinesNeverKillTheLaboratory(t *testing.T) {
	if os.Getenv("CRASHSIM_LEAKY_CHILD") == "1" {
		for _, f := range Faults {
			if !leakyWAL().Applies(f) {
				continue
			}
			for range 20 {
				if _, err := Explore(leakyWAL(), Options{Fault: f, Workers: 2}); err != nil {
					t.Fatal(err)
				}
			}
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeakedGoroutinesNeverKillTheLaboratory$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CRASHSIM_LEAKY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "fatal error") || strings.Contains(string(out), "panic") {
		t.Fatalf("the exploration's process died: %v\n%s", err, firstLines(string(out), 30))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
