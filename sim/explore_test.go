package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
)

// appendLog is a file log of length-prefixed records, fsynced after each
// append, with a recovery that stops at a torn record; recover is the
// recovery, so a test can swap in a broken one.
func appendLog(records [][]byte, recover func(env *Env) (any, error)) *Scenario {
	return &Scenario{
		Name:  "append-log",
		Model: models.Log(),
		Run: func(env *Env) error {
			f, err := env.FS.OpenFile("/log", os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			end := int64(0)
			for _, r := range records {
				env.Invoke(models.LogAppend{Record: r})
				frame := binary.LittleEndian.AppendUint32(nil, uint32(len(r)))
				frame = append(frame, r...)
				if _, err := f.WriteAt(frame, end); err != nil {
					return err
				}
				end += int64(len(frame))
				if err := f.Sync(); err != nil {
					return err
				}
				env.DurableAll()
			}
			return nil
		},
		Recover: recover,
	}
}

// readLog reads the records of /log up to the first incomplete one. It
// trusts the length prefix, which is right for this workload: a record's
// length and data reach the file in one write, and a torn one is cut by the
// file's size.
func readLog(fsys engine.FS, name string) ([][]byte, error) {
	b, err := engine.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var recs [][]byte
	for off := 0; off+4 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n == 0 || off+4+n > len(b) {
			break
		}
		recs = append(recs, b[off+4:off+4+n])
		off += 4 + n
	}
	return recs, err
}

func recoverLog(env *Env) (any, error) { return readLog(env.FS, "/log") }

// TestCheckWithRapid: a rapid-generated operation sequence is the workload;
// sim.Check runs inside rapid.Check, so a failure would be shrunk by rapid.
func TestCheckWithRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		records := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 1, 3000), 1, 4).Draw(rt, "records")
		Check(rt, appendLog(records, recoverLog), Options{Strategy: rapid.SampledFrom(Strategies).Draw(rt, "strategy"), MaxStates: 32})
	})
}

// A recovery that is not idempotent: it moves the log to a new file by
// removing the old one first. Recovering once is right; a crash inside it
// loses the log. Only Options.RecoveryCrashes can see that.
func movingRecovery(env *Env) (any, error) {
	recs, err := readLog(env.FS, "/log")
	if err != nil {
		return nil, err
	}
	if _, err := env.FS.Stat("/log"); err == nil {
		if err := env.FS.Remove("/log"); err != nil {
			return nil, err
		}
		if err := env.FS.SyncDir("/"); err != nil {
			return nil, err
		}
	}
	moved, err := readLog(env.FS, "/log.moved")
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return moved, nil // already moved by an earlier recovery
	}
	f, err := engine.Create(env.FS, "/log.moved")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b []byte
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
		b = append(b, r...)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	return recs, env.FS.SyncDir("/")
}

func TestRecoveryCrashes(t *testing.T) {
	sc := appendLog([][]byte{[]byte("one"), []byte("two")}, movingRecovery)
	for _, fault := range Faults {
		if !sc.Applies(fault) {
			continue
		}
		plain, err := Explore(sc, Options{Fault: fault})
		if err != nil || !plain.OK() {
			t.Fatalf("%v without recovery crashes: %v %+v", fault, err, plain.Violations)
		}
		res, err := Explore(sc, Options{Fault: fault, RecoveryCrashes: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Violations) == 0 {
			t.Fatalf("%v: a recovery that loses the log when interrupted was not caught", fault)
		}
		v := res.Violations[0]
		if v.RecoveryCrash == "" || res.Recoveries <= plain.Recoveries {
			t.Errorf("%v: violation %+v, %d recoveries (plain %d)", fault, v, res.Recoveries, plain.Recoveries)
		}
		id, err := ParseReplayID(v.ReplayID)
		if err != nil || id.RecoveryPoint < 0 {
			t.Fatalf("%v: replay id %q: %v", fault, v.ReplayID, err)
		}
		rp, err := RunReplay(sc, id)
		if err != nil || rp.Violation == nil || rp.Violation.Problem != v.Problem || rp.Violation.RecoveryCrash == "" {
			t.Errorf("%v: replay %s: %v, %+v", fault, v.ReplayID, err, rp)
		}
	}
}

func TestBudgets(t *testing.T) {
	sc := appendLog(slices.Repeat([][]byte{[]byte("record")}, 20), recoverLog)
	res, err := Explore(sc, Options{Strategy: Subsets, Budget: Budget{States: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != "state budget" || res.Explored != 10 || res.RunError != "" {
		t.Errorf("state budget 10: stopped %q, explored %d, run error %q", res.Stopped, res.Explored, res.RunError)
	}
	res, err = Explore(sc, Options{Strategy: Subsets, Budget: Budget{Time: time.Nanosecond}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != "time budget" || res.RunError != "" {
		t.Errorf("time budget: stopped %q, run error %q", res.Stopped, res.RunError)
	}
}

// TestShards: every shard of a run reaches the whole run's crash points
// with the same counts, and judges its own share of the distinct states:
// their recoveries add up to the whole run's, and each shard has some.
func TestShards(t *testing.T) {
	sc := appendLog(slices.Repeat([][]byte{[]byte("record")}, 7), recoverLog)
	whole, err := Explore(sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	recoveries := 0
	for i := range 3 {
		part, err := Explore(sc, Options{Shard: Shard{I: i, N: 3}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(part.Points, whole.Points) || part.Explored != whole.Explored || part.Unique != whole.Unique {
			t.Errorf("shard %d: points %+v, the whole run's %+v", i, part.Points, whole.Points)
		}
		if part.Recoveries == 0 || part.Shard != fmt.Sprintf("%d/3", i) {
			t.Errorf("shard %d (%s) judged no state", i, part.Shard)
		}
		recoveries += part.Recoveries
	}
	if recoveries != whole.Recoveries || whole.Recoveries != whole.Unique {
		t.Errorf("the shards recovered %d times, the whole run %d (%d distinct states)", recoveries, whole.Recoveries, whole.Unique)
	}
}

func TestReplayDiverged(t *testing.T) {
	sc := appendLog([][]byte{[]byte("one")}, recoverLog)
	for _, id := range []string{
		"append-log:power:subsets:0:0:zero:99:0//",    // no such crash point
		"append-log:power:subsets:0:0:zero:1:0/1/1,1", // a choice that does not fit
	} {
		rid, err := ParseReplayID(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := RunReplay(sc, rid); !errors.Is(err, ErrDiverged) {
			t.Errorf("replay %s: %v, want ErrDiverged", id, err)
		}
	}
	rid, _ := ParseReplayID("other:power:subsets:0:0:zero:1:0//")
	if _, err := RunReplay(sc, rid); !errors.Is(err, ErrUsage) {
		t.Errorf("replay of another scenario's id: %v, want ErrUsage", err)
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"process", "F1", "power", "f2"} {
		if _, err := ParseFault(s); err != nil {
			t.Errorf("ParseFault(%q): %v", s, err)
		}
	}
	for _, s := range Strategies {
		if got, err := ParseStrategy(s.String()); err != nil || got != s {
			t.Errorf("ParseStrategy(%v) = %v, %v", s, got, err)
		}
	}
	for _, bad := range []func() error{
		func() error { _, err := ParseFault("meteor"); return err },
		func() error { _, err := ParseStrategy("all"); return err },
		func() error { _, err := ParseShard("2/2"); return err },
		func() error { _, err := ParseShard("x"); return err },
		func() error { _, err := ParseShard("1/4x"); return err },
		func() error { _, err := ParseShard("1/4/8"); return err },
		func() error { _, err := Explore(appendLog(nil, recoverLog), Options{Granularity: 100}); return err },
	} {
		if err := bad(); !errors.Is(err, ErrUsage) {
			t.Errorf("bad input: %v, want ErrUsage", err)
		}
	}
	if sh, err := ParseShard("1/4"); err != nil || sh != (Shard{1, 4}) || sh.String() != "1/4" {
		t.Errorf("ParseShard(1/4) = %v, %v", sh, err)
	}
}

func TestReplayIDRoundTrip(t *testing.T) {
	for _, s := range []string{
		// Without a workload digest, as printed before digests existed.
		"pmem-log:power:subsets:7:64:zero:3:0/1/0,2",
		"x:process:keep-all:0:0:garbage:0:keep",
		"x:power:prefixes:1:512:zero:2:1//3:4:0/0/1",
		// With one.
		"pmem-log@00c0ffee12345678:power:subsets:7:64:zero:3:0/1/0,2",
		"my.pkg/log_2@ffffffffffffffff:process:keep-all:0:0:garbage:0:keep:1:keep",
		// With a profile, as printed since profiles; a choice with a
		// garbage tail.
		"pmem-log@00c0ffee12345678:power:ext4-ordered:subsets:7:0:zero:3:0/1/0,2",
		"x@00c0ffee12345678:power:posix:subsets:7:0:zero:3:0/1/0,2/g:1:0//",
	} {
		id, err := ParseReplayID(s)
		if err != nil || id.String() != s {
			t.Errorf("ParseReplayID(%q) = %v, %v (back: %q)", s, id, err, id.String())
		}
	}
	id, err := ParseReplayID("pmem-log@00c0ffee12345678:power:subsets:7:64:zero:3:0/1/0,2")
	if err != nil || id.Scenario != "pmem-log" || id.Workload != 0x00c0ffee12345678 || id.Point != 3 {
		t.Errorf("parsed %+v, %v", id, err)
	}
	if id, err := ParseReplayID("pmem-log:power:subsets:7:64:zero:3:0/1/0,2"); err != nil || id.Workload != 0 {
		t.Errorf("an id without a digest: %+v, %v", id, err)
	}
	if id, err := ParseReplayID("pmem-log@00c0ffee12345678:power:subsets:7:64:zero:3:0/1/0,2"); err != nil || id.Profile != "" || id.Options().Profile != "posix-4k" {
		t.Errorf("an id without a profile: %+v, %v; want the options of posix-4k", id, err)
	}
	if id, err := ParseReplayID("pmem-log@00c0ffee12345678:power:xfs:subsets:7:64:zero:3:0/1/0,2"); err != nil || id.Profile != "xfs" || id.Options().Profile != "xfs" || id.Strategy != Subsets {
		t.Errorf("an id with a profile: %+v, %v", id, err)
	}
	for _, bad := range []string{
		"pmem-log@:power:subsets:7:64:zero:3:0//",                   // empty digest
		"pmem-log@c0ffee:power:subsets:7:64:zero:3:0//",             // short
		"pmem-log@0000000000000000:power:subsets:7:64:zero:3:0//",   // zero: "unknown" has no text
		"pmem-log@00c0ffee1234567g:power:subsets:7:64:zero:3:0//",   // not hex
		"pmem-log@00c0ffee12345678@1:power:subsets:7:64:zero:3:0//", // two digests
		"my log:power:subsets:7:64:zero:3:0//",                      // a name a shell splits
		":power:subsets:7:64:zero:3:0//",                            // no name
		"x@00c0ffee12345678:power:ext3:subsets:7:0:zero:3:0//",      // no such profile
		"x@00c0ffee12345678:power::subsets:7:0:zero:3:0//",          // an empty one
	} {
		if _, err := ParseReplayID(bad); !errors.Is(err, ErrUsage) {
			t.Errorf("ParseReplayID(%q): %v, want ErrUsage", bad, err)
		}
	}
}

// TestScenarioNames: Explore and RunReplay refuse a scenario whose name a
// replay id cannot carry unquoted in a shell, or that lacks a part.
func TestScenarioNames(t *testing.T) {
	for _, name := range []string{"append-log", "my_log.v2", "pkg/log", "A-1"} {
		sc := appendLog([][]byte{[]byte("one")}, recoverLog)
		sc.Name = name
		if _, err := Explore(sc, Options{}); err != nil {
			t.Errorf("name %q: %v", name, err)
		}
	}
	for _, name := range []string{"", "my log", "a:b", "a@b", "it's", "a$b", "a;b", "naïve", "a\nb"} {
		sc := appendLog([][]byte{[]byte("one")}, recoverLog)
		sc.Name = name
		if _, err := Explore(sc, Options{}); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "name") {
			t.Errorf("name %q: Explore: %v, want ErrUsage about the name", name, err)
		}
		if _, err := RunReplay(sc, ReplayID{Scenario: name, Fault: PowerFailure, Strategy: Subsets, Choice: "0//", RecoveryPoint: -1}); !errors.Is(err, ErrUsage) {
			t.Errorf("name %q: RunReplay: %v, want ErrUsage", name, err)
		}
	}
	for what, broken := range map[string]func(*Scenario){
		"Run":     func(sc *Scenario) { sc.Run = nil },
		"Recover": func(sc *Scenario) { sc.Recover = nil },
		"Model":   func(sc *Scenario) { sc.Model = models.Model{} },
	} {
		sc := appendLog(nil, recoverLog)
		broken(sc)
		if _, err := Explore(sc, Options{}); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), what) {
			t.Errorf("no %s: %v, want ErrUsage naming it", what, err)
		}
	}
}

// TestWorkloadDigest: a replay id names the workload it was found with, so
// a replay of another workload of the same scenario — other data, or fewer
// operations — is refused with ErrOtherWorkload, not rebuilt as a state
// the id never named. An id without a digest is not checked.
func TestWorkloadDigest(t *testing.T) {
	forgetful := func(env *Env) (any, error) {
		recs, err := readLog(env.FS, "/log")
		if len(recs) > 1 {
			recs = recs[:len(recs)-1]
		}
		return recs, err
	}
	found := appendLog([][]byte{[]byte("one"), []byte("two")}, forgetful)
	res, err := Explore(found, Options{})
	if err != nil || len(res.Violations) == 0 {
		t.Fatalf("%v, %+v", err, res)
	}
	id, err := ParseReplayID(res.Violations[0].ReplayID)
	if err != nil || id.Workload == 0 {
		t.Fatalf("replay id %q: %+v, %v", res.Violations[0].ReplayID, id, err)
	}
	if rp, err := RunReplay(found, id); err != nil || rp.Violation == nil {
		t.Fatalf("replay of its own workload: %v, %+v", err, rp)
	}
	for name, other := range map[string]*Scenario{
		"other data":  appendLog([][]byte{[]byte("one"), []byte("owt")}, forgetful),
		"fewer ops":   appendLog([][]byte{[]byte("one")}, forgetful),
		"more ops":    appendLog([][]byte{[]byte("one"), []byte("two"), []byte("three")}, forgetful),
		"other order": appendLog([][]byte{[]byte("two"), []byte("one")}, forgetful),
	} {
		_, err := RunReplay(other, id)
		if !errors.Is(err, ErrOtherWorkload) || !errors.Is(err, ErrDiverged) {
			t.Errorf("%s: replay %s: %v, want ErrOtherWorkload", name, id, err)
		}
	}
	// Workloads whose trace differs only in the bytes or values they
	// store, which no marker names: the digest has the data.
	stores := func(data []byte, word uint64) *Scenario {
		return &Scenario{
			Name:  "stores",
			Model: models.Register(),
			Run: func(env *Env) error {
				r, done, err := durableRegion(env, "/pmem/r", 64)
				if err != nil {
					return err
				}
				defer done()
				if _, err := r.WriteAt(data, 0); err != nil {
					return err
				}
				if err := r.Store64(8, word); err != nil {
					return err
				}
				return r.Flush(0, 64)
			},
			Recover: func(env *Env) (any, error) { return uint64(1), nil }, // never right: every state is a violation
		}
	}
	res, err = Explore(stores([]byte("abcd"), 1), Options{Fault: ProcessCrash})
	if err != nil || len(res.Violations) == 0 {
		t.Fatalf("%v, %+v", err, res)
	}
	last, _ := ParseReplayID(res.Violations[len(res.Violations)-1].ReplayID)
	if _, err := RunReplay(stores([]byte("abcd"), 1), last); err != nil {
		t.Errorf("replay of the same stores: %v", err)
	}
	for name, other := range map[string]*Scenario{"other bytes": stores([]byte("abce"), 1), "other word": stores([]byte("abcd"), 2)} {
		if _, err := RunReplay(other, last); !errors.Is(err, ErrOtherWorkload) {
			t.Errorf("%s: replay %s: %v, want ErrOtherWorkload", name, last, err)
		}
	}

	unchecked := id
	unchecked.Workload = 0
	other := appendLog([][]byte{[]byte("one"), []byte("owt")}, forgetful)
	if rp, err := RunReplay(other, unchecked); err != nil || rp.Violation == nil {
		t.Errorf("an id without a digest is not checked: %v, %+v", err, rp)
	}
}

func FuzzParseReplayID(f *testing.F) {
	f.Add("pmem-log:power:subsets:7:64:zero:3:0/1/0,2")
	f.Add("x:power:prefixes:1:512:garbage:2:1//3:4:0/0/1")
	f.Add("my.pkg/log_2@00c0ffee12345678:process:keep-all:0:0:zero:1:keep")
	f.Add("wal@00c0ffee12345678:power:posix:subsets:0:0:zero:7+3:0/0/1,0,1+0/1/0")
	f.Add("pool:process:posix:keep-all:0:0:zero:7+3+:keep+keep+")
	f.Add("pool:power:posix:subsets:0:0:zero:7+3:0/0/1+1/0:2:0/1/0")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseReplayID(s)
		if err != nil {
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("error %v does not wrap ErrUsage", err)
			}
			return
		}
		again, err := ParseReplayID(id.String())
		if err != nil || !reflect.DeepEqual(again, id) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, id, id.String(), again, err)
		}
	})
}

// TestConcurrentWorkload: engine code may reach barriers from several
// goroutines at once (a group-commit flusher, say); the explorer serializes
// its crash points and the workload's markers (run with -race).
func TestConcurrentWorkload(t *testing.T) {
	sc := &Scenario{
		Name:  "concurrent",
		Model: models.Register(),
		Run: func(env *Env) error {
			errs := make(chan error, 4)
			for g := range 4 {
				go func() {
					f, err := engine.Create(env.FS, fmt.Sprintf("/f%d", g))
					if err == nil {
						_, err = f.WriteAt([]byte("data"), 0)
					}
					if err == nil {
						err = f.Sync()
					}
					if err == nil {
						err = env.FS.SyncDir("/")
					}
					env.Logf("goroutine %d done", g)
					errs <- err
				}()
			}
			for range 4 {
				if err := <-errs; err != nil {
					return err
				}
			}
			return nil
		},
		Recover: func(env *Env) (any, error) { return uint64(0), nil },
	}
	for _, f := range Faults {
		if !sc.Applies(f) {
			continue
		}
		res, err := Explore(sc, Options{Fault: f})
		if err != nil || !res.OK() || res.CrashPoints == 0 {
			t.Fatalf("%v: %v %+v", f, err, res)
		}
	}
}
