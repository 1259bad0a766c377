package scenarios

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// every runs f for each fault model and strategy that applies to sc.
func every(sc *sim.Scenario, f func(sim.Options)) {
	for _, fault := range sim.Faults {
		if !sc.Applies(fault) {
			continue
		}
		for _, s := range sim.Strategies {
			if s.Applies(fault) {
				f(sim.Options{Fault: fault, Strategy: s})
			}
		}
	}
}

// TestCorrectScenariosPass: no violation under any fault model and strategy
// that applies, and no false alarm with sampling either: with seed 0 at the
// default crash depth (2 for a scenario with a continuation: the program
// goes on after its recovery and crashes again), with seed 1 at one crash.
// The CI run continues 4 recovered states per run (under -race the
// default 16 doubled the package's time); CRASHSIM_HEAVY=1 the default.
func TestCorrectScenariosPass(t *testing.T) {
	maxChains := 4
	if heavy() {
		maxChains = 0
	}
	for _, sc := range All() {
		if sc.Buggy() {
			continue
		}
		every(sc, func(o sim.Options) {
			for _, run := range []struct {
				seed  uint64
				depth int // 0: the default
			}{{0, 0}, {1, 1}} {
				o.Seed, o.MaxStates, o.CrashDepth, o.MaxChains = run.seed, 64, run.depth, maxChains
				res := sim.Check(t, sc, o)
				if res != nil && res.Explored == 0 {
					t.Errorf("%s %v/%v: explored nothing", sc.Name, o.Fault, o.Strategy)
				}
				if res != nil && run.depth == 0 && sc.Continue != nil && res.ContinuationStates == 0 {
					t.Errorf("%s %v/%v: at the default depth, no crash state after a recovery", sc.Name, o.Fault, o.Strategy)
				}
			}
		})
	}
}

// depthTwoBugs are the bug variants that only a second crash shows (see
// TestDepthTwoBugs).
var depthTwoBugs = []string{"wal-bug-resume-keeps-tear", "pool-bug-epoch-reused"}

// TestBugVariantsCaught: every bug variant is reported in at least one
// run — at one crash, but for those that need two, at the default depth
// — and the first violation of each run replays to the same problem
// (every violation with CRASHSIM_HEAVY=1: replays are most of the test's
// time, and one per run already checks that replay ids work for the
// variant).
func TestBugVariantsCaught(t *testing.T) {
	for _, sc := range All() {
		if !sc.Buggy() {
			continue
		}
		caught := false
		every(sc, func(o sim.Options) {
			if !slices.Contains(depthTwoBugs, sc.Name) {
				o.CrashDepth = 1
			}
			res, err := sim.Explore(sc, o)
			if err != nil {
				t.Fatalf("%s: %v", sc.Name, err)
			}
			if res.RunError != "" {
				t.Errorf("%s %v/%v: the workload failed: %s", sc.Name, o.Fault, o.Strategy, res.RunError)
			}
			for i, v := range res.Violations {
				caught = true
				if i > 0 && !heavy() {
					break // every violation's replay: the heavy run
				}
				id, err := sim.ParseReplayID(v.ReplayID)
				if err != nil {
					t.Fatalf("%s: replay id %q: %v", sc.Name, v.ReplayID, err)
				}
				rp, err := sim.RunReplay(sc, id)
				if err != nil {
					t.Fatalf("%s: replay %s: %v", sc.Name, v.ReplayID, err)
				}
				if rp.Violation == nil || rp.Violation.Problem != v.Problem {
					t.Errorf("%s: replay %s: verdict %q, want %q", sc.Name, v.ReplayID, rp.Verdict, v.Problem)
				}
				if len(rp.Sources) == 0 || len(rp.Trace) == 0 {
					t.Errorf("%s: replay %s: no trace or sources", sc.Name, v.ReplayID)
				}
			}
		})
		if !caught {
			t.Errorf("%s: bug variant never caught", sc.Name)
		}
	}
}

// TestExplanations pins what the shrunk violations blame: the cause a
// reader needs, not every unit of the state.
func TestExplanations(t *testing.T) {
	for _, c := range []struct {
		scenario string
		opts     sim.Options
		lost     string // in the description of a lost unit
		kept     string // in the description of a kept unit, if any
	}{
		{"file-replace-bug-no-dirsync", sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets}, "rename /data/config.tmp -> /data/config", ""},
		{"pmem-log-bug-count-first", sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets}, "", "/pmem/log [0,64)"},
		{"pmem-record-bug-no-commit", sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets}, "/pmem/record [64,128) (1 of 2", "/pmem/record [64,128) (1 of 2"},
		{"file-log-bug-no-crc", sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets}, "/data/log [512,1024)", "size of /data/log"}, // a torn sector under the size
	} {
		sc, _ := Lookup(c.scenario)
		res, err := sim.Explore(sc, c.opts)
		if err != nil || len(res.Violations) == 0 {
			t.Fatalf("%s: %v, %d violations", c.scenario, err, len(res.Violations))
		}
		v := res.Violations[0]
		has := func(units []sim.Unit, s string) bool {
			for _, u := range units {
				if strings.Contains(u.String(), s) {
					return true
				}
			}
			return s == ""
		}
		if !has(v.Lost, c.lost) || !has(v.Kept, c.kept) {
			t.Errorf("%s: explanation lacks lost %q / kept %q:\n%s", c.scenario, c.lost, c.kept, v.String())
		}
	}
}

// TestProfileOnlyBug: file-replace-bug-update-no-fsync renames each update
// over the file without fsyncing it. Under posix, the default, it is
// caught, and each violation says it breaks on posix, ext4-writeback and
// xfs, not on ext4-ordered or btrfs, which flush a file renamed over
// another; explored under those two it passes, under xfs it is caught.
func TestProfileOnlyBug(t *testing.T) {
	sc, _ := Lookup("file-replace-bug-update-no-fsync")
	res, err := sim.Explore(sc, sim.Options{})
	if err != nil || len(res.Violations) == 0 {
		t.Fatalf("posix: %v, %d violations", err, len(res.Violations))
	}
	for _, v := range res.Violations {
		if got := v.ProfilesText(); got != "breaks on posix, ext4-writeback and xfs; not on ext4-ordered or btrfs" {
			t.Errorf("crash point %d: %s", v.Point, got)
		}
	}
	for profile, caught := range map[string]bool{"ext4-ordered": false, "btrfs": false, "xfs": true, "ext4-writeback": true} {
		res, err := sim.Explore(sc, sim.Options{Profile: profile})
		if err != nil || (len(res.Violations) > 0) != caught {
			t.Errorf("explored under %s: %v, %d violations; want caught %v", profile, err, len(res.Violations), caught)
		}
	}
}

func TestRegistry(t *testing.T) {
	all := All()
	if len(all) < 11 {
		t.Errorf("%d scenarios, want the 4 demonstrations and their 7 bug variants", len(all))
	}
	for _, sc := range all {
		got, ok := Lookup(sc.Name)
		if !ok || got.Name != sc.Name || got.Doc == "" || got.Run == nil || got.Recover == nil || got.Model.Init == nil {
			t.Errorf("scenario %s is incomplete", sc.Name)
		}
		if err := sc.Validate(); err != nil {
			t.Errorf("scenario %s: %v", sc.Name, err)
		}
		if sc.Buggy() != strings.Contains(sc.Doc, "BUG") {
			t.Errorf("%s: a bug variant's doc says BUG, a correct one's does not: %q", sc.Name, sc.Doc)
		}
	}
	if _, ok := Lookup("no-such"); ok {
		t.Error("Lookup of an unknown name succeeded")
	}
}

// TestGarbageTailReplays: the tail option is part of a replay id, so a
// violation found with garbage tails and torn sectors replays exactly.
func TestGarbageTailReplays(t *testing.T) {
	sc, _ := Lookup("file-log-bug-no-crc")
	o := sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, Granularity: 512, Tail: faultfs.Tail{Garbage: true}, Seed: 3}
	res, err := sim.Explore(sc, o)
	if err != nil || len(res.Violations) == 0 {
		t.Fatalf("%v, %d violations", err, len(res.Violations))
	}
	v := res.Violations[0]
	id, err := sim.ParseReplayID(v.ReplayID)
	if err != nil || !id.GarbageTail || id.Granularity != 512 {
		t.Fatalf("replay id %q: %+v, %v", v.ReplayID, id, err)
	}
	rp, err := sim.RunReplay(sc, id)
	if err != nil || rp.Violation == nil || rp.Violation.Observed != v.Observed {
		t.Fatalf("replay %s: %v, %+v; want observed %q", v.ReplayID, err, rp, v.Observed)
	}
	// The correct log is not fooled by garbage either.
	good, _ := Lookup("file-log")
	sim.Check(t, good, o)
}

// TestInputsRegistered: the scenarios' own model inputs cross a saved
// execution in a history ([]any) without being registered by the test.
func TestInputsRegistered(t *testing.T) {
	in := []any{poolTx{models.KVPut{Key: "k", Value: "v"}}, shmPut{Blob: "b"}, shmAck{Blob: "b"}, vecCut{Len: 1}, vecPush{Value: 2}, vecSlot{Slot: 1, Value: 3}}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(in); err != nil {
		t.Fatal(err)
	}
	var out []any
	if err := gob.NewDecoder(&buf).Decode(&out); err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("decoded %#v, %v", out, err)
	}
}
