package raftwalcrash

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

const childEnv = "CRASHSIM_RAFTWAL_CHILD"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		out, err := child(strings.Fields(args))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Stdout.Write(out)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	// segmentSize is small enough that the third append seals the first
	// segment (sealingAppend): a 32-byte file header, then per append an
	// entry frame of 120 bytes and a commit frame of 8; the third would
	// leave no room for the index frame (24 bytes), so its one write
	// carries the entry, the index frame and the commit frame, [288,440).
	segmentSize   = 400
	sealingAppend = 3
	appends       = 4
)

// record is the data of the raft log entry at index i.
func record(i uint64) []byte {
	return []byte(fmt.Sprintf("record %d %s", i, strings.Repeat("x", 80)))
}

// rotations is raft-wal's metrics collector, told of a rotation: raft-wal
// counts segment_rotations once its rotation holds the WAL's write lock.
type rotations struct {
	once    sync.Once
	started chan struct{}
}

func (r *rotations) IncrementCounter(name string, delta uint64) {
	if name == "segment_rotations" {
		r.once.Do(func() { close(r.started) })
	}
}

func (r *rotations) SetGauge(string, uint64) {}

func open(dir string, rot *rotations) (*wal.WAL, error) {
	return wal.Open(dir, wal.WithSegmentSize(segmentSize), wal.WithMetricsCollector(rot), wal.WithLogger(hclog.NewNullLogger()))
}

// child runs one raft-wal program:
//
//	append DIR INDEX SEALS  one StoreLog of the entry INDEX; SEALS=1 when
//	                        it seals the tail, then the child waits for
//	                        the rotation to begin before it closes
//	dump DIR                the log's records as JSON, then one more
//	                        append: a log that cannot take it is no log
func child(args []string) ([]byte, error) {
	rot := &rotations{started: make(chan struct{})}
	w, err := open(args[1], rot)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer w.Close()
	switch args[0] {
	case "append":
		i, err := strconv.ParseUint(args[2], 10, 64)
		if err != nil {
			return nil, err
		}
		if err := w.StoreLog(&raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: record(i)}); err != nil {
			return nil, fmt.Errorf("append %d: %w", i, err)
		}
		if args[3] == "1" {
			select {
			case <-rot.started:
			case <-time.After(10 * time.Second):
				return nil, fmt.Errorf("append %d sealed no segment", i)
			}
		}
		return nil, w.Close() // waits for the rotation to end
	case "dump":
		first, err := w.FirstIndex()
		if err != nil {
			return nil, err
		}
		last, err := w.LastIndex()
		if err != nil {
			return nil, err
		}
		if last > 0 && first != 1 {
			return nil, fmt.Errorf("log starts at index %d, want 1", first)
		}
		records := [][]byte{}
		for i := first; i <= last && last > 0; i++ {
			var l raft.Log
			if err := w.GetLog(i, &l); err != nil {
				return nil, fmt.Errorf("get %d: %w", i, err)
			}
			records = append(records, l.Data)
		}
		if err := w.StoreLog(&raft.Log{Index: last + 1, Term: 2, Type: raft.LogCommand, Data: record(last + 1)}); err != nil {
			return nil, fmt.Errorf("append %d after reopening a log of %d entries: %w", last+1, last, err)
		}
		return json.Marshal(records)
	}
	return nil, fmt.Errorf("no child program %q", args[0])
}

func run(args ...string) ([]byte, error) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, " "), "GORACE=atexit_sleep_ms=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("raft-wal %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// segments are the segment files raft-wal leaves after the appends
// (base index, then id, from 0): the first, and the one the rotation
// after the sealing append made.
var segments = []string{
	"00000000000000000001-0000000000000000.wal",
	fmt.Sprintf("%020d-%016x.wal", sealingAppend+1, 1),
}

// walScenario appends entries 1..appends to a raft-wal log in the mount's
// root, one child each; the append sealingAppend fills the first segment,
// and raft-wal rotates to a second.
func walScenario() *sim.Scenario {
	return &sim.Scenario{
		Name:  "raft-wal-rotate",
		Doc:   "hashicorp/raft-wal v0.4.0 with its bbolt metadata store: appends through a segment rotation",
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			mnt, err := mount.Env(env, mount.Options{})
			if err != nil {
				return err
			}
			defer mnt.Close()
			for i := uint64(1); i <= appends; i++ {
				seals := "0"
				if i == sealingAppend {
					seals = "1"
				}
				env.Invoke(models.LogAppend{Record: record(i)})
				_, err := run("append", mnt.Dir(), strconv.FormatUint(i, 10), seals)
				env.Return(err)
				if err != nil {
					return err
				}
				env.DurableAll()
			}
			entries, err := os.ReadDir(mnt.Dir())
			if err != nil {
				return err
			}
			var walFiles []string
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".wal") {
					walFiles = append(walFiles, e.Name())
				}
			}
			if !slices.Equal(walFiles, segments) {
				return fmt.Errorf("segment files %v, want %v: the append that seals is not %d", walFiles, segments, sealingAppend)
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			mnt, err := mount.Env(env, mount.Options{})
			if err != nil {
				return nil, err
			}
			defer mnt.Close()
			out, err := run("dump", mnt.Dir())
			if err != nil {
				return nil, err
			}
			var records [][]byte
			return records, json.Unmarshal(out, &records)
		},
	}
}

func requireMountable(t testing.TB) {
	t.Helper()
	disk := faultfs.New(faultfs.Options{})
	mnt, err := mount.Serve(func(int) engine.FS { return disk }, mount.Options{})
	mount.Require(t, err)
	mnt.Close()
}

// replaying says whether the test binary runs under -crashsim.replay, the
// flag each violation's replay command sets: the test then rebuilds that
// one state (sim.Check) instead of exploring.
func replaying() bool {
	f := flag.Lookup("crashsim.replay")
	return f != nil && f.Value.String() != ""
}

// replayID is v's replay id without its workload digest. raft-wal
// stores wall-clock times (each segment's CreateTime and SealTime, in the
// JSON it commits to wal-meta.db), so no two runs store the same bytes and
// a rerun never has the digest of the run that found v: without it, a
// replay checks no digest and rebuilds the state from a rerun that makes
// the same calls (sim.ReplayID: ids without "@workload" replay unchecked).
func replayID(t *testing.T, v *sim.Violation) sim.ReplayID {
	t.Helper()
	id, err := sim.ParseReplayID(v.ReplayID)
	if err != nil {
		t.Fatal(err)
	}
	id.Workload = 0
	return id
}

// replayCommand is the command, run from bench/, that rebuilds the state
// id names (sim.Check under -crashsim.replay).
func replayCommand(id sim.ReplayID) string {
	return "go test ./raftwalcrash -run '^TestRaftWAL$' -v -crashsim.replay='" + id.String() + "'"
}

// sealSync is the trace line of the fsync of the append that seals the
// first segment, by a child's pid.
var sealSync = regexp.MustCompile(`pid \d+ sync /` + regexp.QuoteMeta(segments[0]) + `\n`)

// TestRaftWAL explores raft-wal v0.4.0 appending through a segment
// rotation under power failures and process crashes, and pins what the
// exploration finds (docs/MOUNT.md):
//
//   - a crash after the append that seals a segment wrote its index
//     frame, and before the rotation's metadata commit is durable, leaves
//     a log that opens but refuses every append (ErrSealed, "segment is
//     sealed"), under both faults; the replay of the first such state
//     rebuilds it, and its trace has the sealing append's fsync;
//   - under power failure only, an acknowledged append into the segment
//     the rotation made is lost: the rotation creates the file without a
//     sync, and the next process, which reopens it rather than creating
//     it, syncs the file but never its directory.
//
// Nothing else is found: no state recovers other records than a prefix of
// the acknowledged ones.
func TestRaftWAL(t *testing.T) {
	requireMountable(t)
	for _, c := range []struct {
		fault sim.Fault
		lost  bool // an acknowledged append is lost
	}{
		{sim.PowerFailure, true},
		{sim.ProcessCrash, false},
	} {
		opts := sim.Options{Fault: c.fault, MaxStates: 16}
		if replaying() {
			sim.Check(t, walScenario(), opts)
			continue
		}
		res, err := sim.Explore(walScenario(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("under %v: %d crash points, %d states explored, %d recovered, %d violations, %v",
			c.fault, res.CrashPoints, res.Explored, res.Recoveries, len(res.Violations), res.Elapsed)
		if res.RunError != "" {
			t.Fatalf("under %v: %s", c.fault, res.RunError)
		}
		var sealed *sim.Violation
		lost := false
		for i := range res.Violations {
			v := &res.Violations[i]
			t.Logf("under %v:\n%s", c.fault, v.WithReplay(replayCommand(replayID(t, v))))
			switch {
			case strings.HasPrefix(v.Problem, "recovery failed") && strings.HasSuffix(v.Problem, wal.ErrSealed.Error()):
				if sealed == nil {
					sealed = v
				}
			case strings.HasPrefix(v.Problem, "acknowledged operations lost") && lostCreate(v, segments[1]):
				lost = true
			default:
				t.Errorf("under %v: crash point %d: %s: not a sealed tail nor the lost segment file", c.fault, v.Point, v.Problem)
			}
		}
		if sealed == nil {
			t.Fatalf("under %v: no crash state leaves the tail sealed", c.fault)
		}
		if lost != c.lost {
			t.Errorf("under %v: an acknowledged append lost with %s: %v, want %v", c.fault, segments[1], lost, c.lost)
		}

		rep, err := sim.RunReplay(walScenario(), replayID(t, sealed))
		if err != nil {
			t.Fatalf("under %v: replay %s: %v", c.fault, replayID(t, sealed), err)
		}
		if rep.Violation == nil || rep.Violation.Problem != sealed.Problem {
			t.Fatalf("under %v: replay %s: verdict %q, want %q", c.fault, replayID(t, sealed), rep.Verdict, sealed.Problem)
		}
		var text strings.Builder
		if err := rep.Format(&text, 0, ""); err != nil {
			t.Fatal(err)
		}
		if !sealSync.MatchString(text.String()) {
			t.Errorf("under %v: replay's trace has no sync of %s by a child:\n%s", c.fault, segments[0], text.String())
		}
	}
}

// lostCreate says whether v's lost units include the creation of name.
func lostCreate(v *sim.Violation, name string) bool {
	for _, u := range v.Lost {
		if strings.Contains(u.String(), "create /"+name) {
			return true
		}
	}
	return false
}
