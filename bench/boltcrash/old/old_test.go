package old

import (
	"flag"
	"regexp"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/bench/boltcrash"
	"github.com/crashsim/crashsim/sim"
)

func TestMain(m *testing.M) { boltcrash.Main(m) }

// metaSync is the trace line of the crash point of a meta page's write:
// the fdatasync after it, by a child's pid.
var metaSync = regexp.MustCompile(`crash before #\d+ p\d+ pid \d+ datasync /db\n`)

// TestTornMeta explores boltcrash.RenamedScenario on boltdb v1.2.0 under
// power failures. With writes torn at 8 bytes, a meta page that a commit
// was writing at the crash is left half old, half new, and v1.2.0 refuses
// to open the database ("checksum error") although its other meta page,
// the transaction before, is whole: every violation is that one, and the
// replay of the first rebuilds it. With 512-byte sectors, which cannot
// tear the meta page's 64 bytes, nothing is found. bbolt v1.5.0 (and
// boltdb v1.2.1, the fix) opens every state of the same exploration:
// boltcrash.TestBoltTornMeta.
func TestTornMeta(t *testing.T) {
	boltcrash.RequireMountable(t)
	for _, c := range []struct {
		granularity int
		found       bool
	}{
		{0, false},
		{8, true},
	} {
		opts := sim.Options{Fault: sim.PowerFailure, MaxStates: 16, Granularity: c.granularity}
		sc := boltcrash.RenamedScenario("bolt-renamed", 2)
		if replaying() {
			sim.Check(t, sc, opts)
			continue
		}
		res, err := sim.Explore(sc, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("granularity %d: %d crash points, %d states explored, %d recovered, %d violations, %v",
			c.granularity, res.CrashPoints, res.Explored, res.Recoveries, len(res.Violations), res.Elapsed)
		if res.RunError != "" {
			t.Fatal(res.RunError)
		}
		for i := range res.Violations {
			v := &res.Violations[i]
			t.Logf("granularity %d:\n%s", c.granularity, v.WithReplay(replayCommand(v.ReplayID)))
			if !strings.HasPrefix(v.Problem, "recovery failed") || !strings.HasSuffix(v.Problem, "checksum error") {
				t.Errorf("granularity %d: crash point %d: %s: not a torn meta page", c.granularity, v.Point, v.Problem)
			}
		}
		if found := len(res.Violations) > 0; found != c.found {
			t.Fatalf("granularity %d: torn meta page found: %v, want %v", c.granularity, found, c.found)
		}
		if !c.found {
			continue
		}
		v := res.Violations[0]
		id, err := sim.ParseReplayID(v.ReplayID)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := sim.RunReplay(boltcrash.RenamedScenario("bolt-renamed", 2), id)
		if err != nil {
			t.Fatalf("replay %s: %v", v.ReplayID, err)
		}
		if rep.Violation == nil || rep.Violation.Problem != v.Problem {
			t.Fatalf("replay %s: verdict %q, want %q", v.ReplayID, rep.Verdict, v.Problem)
		}
		var text strings.Builder
		if err := rep.Format(&text, 0, ""); err != nil {
			t.Fatal(err)
		}
		if !metaSync.MatchString(text.String()) {
			t.Errorf("replay's trace does not crash before a child's datasync of /db:\n%s", text.String())
		}
	}
}

// replayCommand is the command, run from bench/boltcrash/old, that
// rebuilds the state id names (sim.Check under -crashsim.replay).
func replayCommand(id string) string {
	return "go test . -run '^TestTornMeta$' -v -crashsim.replay='" + id + "'"
}

// replaying says whether the test binary runs under -crashsim.replay: the
// test then rebuilds that one state (sim.Check) instead of exploring.
func replaying() bool {
	f := flag.Lookup("crashsim.replay")
	return f != nil && f.Value.String() != ""
}
