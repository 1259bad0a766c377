package sim

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReplayFromGoTest is the user's path end to end: go test of a
// package of their own (testdata/userpkg) whose scenario has a bug prints,
// with each violation, one command; run as printed, from the module's
// root, it replays exactly that state in that test — for a plain Check in
// a subtest, and for a rapid property, whose command carries the fail file
// rapid regenerates the shrunk workload from. A replay id no generated
// workload has fails the property.
func TestReplayFromGoTest(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// Where rapid writes userpkg's fail files: a run must not start from
	// an earlier run's, and leaves none behind.
	failfiles := filepath.Join(root, "sim", "testdata", "userpkg", "testdata")
	os.RemoveAll(failfiles)
	t.Cleanup(func() { os.RemoveAll(failfiles) })

	out, failed := runIn(t, root, "go test ./sim/testdata/userpkg -count=1 -v")
	if !failed || !strings.Contains(out, "--- FAIL: TestUserLog/two_records") || !strings.Contains(out, "--- FAIL: TestUserProperty") {
		t.Fatalf("userpkg's buggy scenario did not fail its tests:\n%s", out)
	}

	t.Run("check", func(t *testing.T) {
		found, cmd := violationWith(t, out, regexp.QuoteMeta(`go test ./sim/testdata/userpkg -run '^TestUserLog$/^two_records$' -v -crashsim.replay='`)+`(user-log@[^']+)'`)
		replayed, failed := runIn(t, root, cmd[0])
		if !failed || !strings.Contains(replayed, "--- FAIL: TestUserLog/two_records") || strings.Contains(replayed, "TestUserProperty") {
			t.Fatalf("%s: the state does not fail its test alone:\n%s", cmd[0], replayed)
		}
		sameState(t, found, replayed, cmd[1])
	})

	t.Run("property", func(t *testing.T) {
		found, cmd := violationWith(t, out, regexp.QuoteMeta(`go test ./sim/testdata/userpkg -run '^TestUserProperty$' -v -crashsim.replay='`)+
			`(user-log@[^']+)' -rapid\.failfile='testdata/rapid/TestUserProperty/[^']+\.fail'`)
		replayed, failed := runIn(t, root, cmd[0])
		if !failed || !strings.Contains(replayed, "--- FAIL: TestUserProperty") || strings.Contains(replayed, "TestUserLog") {
			t.Fatalf("%s: the state does not fail its test alone:\n%s", cmd[0], replayed)
		}
		sameState(t, found, replayed, cmd[1])

		// An id no workload rapid generates has: the property fails.
		id, err := ParseReplayID(cmd[1])
		if err != nil {
			t.Fatal(err)
		}
		other := id
		other.Workload ^= 1
		none, failed := runIn(t, root, strings.Replace(cmd[0], id.String(), other.String(), 1))
		if !failed || !strings.Contains(none, "sim.CheckProperty: -crashsim.replay names a workload rapid did not generate") {
			t.Errorf("a replay id of no generated workload:\n%s", none)
		}
	})
}

// runIn runs the shell command cmd in dir and returns its output, and
// whether it exited 1 (a test failed). Any other outcome fails t.
func runIn(t *testing.T, dir, cmd string) (out string, failed bool) {
	t.Helper()
	c := exec.Command("sh", "-c", cmd)
	c.Dir = dir
	b, err := c.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(b), false
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return string(b), true
	}
	t.Fatalf("%s: %v\n%s", cmd, err, b)
	return "", false
}

// violationWith returns the report of the violation in out whose replay
// command matches pattern (the last, for a property, whose output repeats
// the shrunk workload's), and the command with pattern's groups.
func violationWith(t *testing.T, out, pattern string) (report string, cmd []string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s+replay:   (` + pattern + `)$`)
	all := re.FindAllStringSubmatchIndex(out, -1)
	if len(all) == 0 {
		t.Fatalf("no replay command matches %s in:\n%s", pattern, out)
	}
	m := all[len(all)-1]
	start := strings.LastIndex(out[:m[0]], "violation\n")
	if start < 0 {
		t.Fatalf("no violation before %s", out[m[2]:m[3]])
	}
	return out[start:m[0]], []string{out[m[2]:m[3]], out[m[4]:m[5]]}
}

// sameState checks that a replay's output shows the state of the
// violation report found: the same crash point, problem and expected and
// observed states; every unit the report blames, kept or lost alike; and
// the report's excerpt of the trace as the end of the replay's trace. A
// replay lists every unit of the state, with the source line that made
// it, and the whole trace, with the source line of each operation.
func sameState(t *testing.T, found, replayed, id string) {
	t.Helper()
	at := strings.Index(replayed, "the replayed state still violates\n")
	if at < 0 {
		t.Fatalf("the replay does not say the state still violates:\n%s", replayed)
	}
	replay := replayed[at:]
	if end := strings.Index(replay, "== Recovery on the crash image"); end > 0 {
		replay = replay[:end]
	}
	if !strings.Contains(replay, "replay   "+id+"\n") {
		t.Errorf("the replay is not of %s:\n%s", id, replay)
	}
	lines := func(s string, re *regexp.Regexp) []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		return out
	}
	judgement := regexp.MustCompile(`(?m)^\s*((?:crash point \d+|problem: |expected: |observed: |diff: ).*)$`)
	if a, b := lines(found, judgement), lines(replay, judgement); len(a) < 4 || strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("found\n%s\nreplayed\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	units := regexp.MustCompile(`(?m)^\s*((?:kept|lost): .*?)(?: at \S+\.go:\d+)?$`)
	replayUnits := strings.Join(lines(replay, units), "\n")
	for _, u := range lines(found, units) {
		if !strings.Contains(replayUnits, u) {
			t.Errorf("the replay lacks the unit %q:\n%s", u, replayUnits)
		}
	}
	if !strings.Contains(replay, " at userpkg/log.go:") {
		t.Errorf("the replay names no source line of userpkg:\n%s", replay)
	}
	events := regexp.MustCompile(`(?m)^\s*(?:-> | B |   )?(#\d+ p\d+ .*?)(?:\s{2,}\S+\.go:\d+)?$`)
	excerpt, trace := lines(found, events), lines(replay, events)
	if len(excerpt) == 0 || len(trace) < len(excerpt) || strings.Join(trace[len(trace)-len(excerpt):], "\n") != strings.Join(excerpt, "\n") {
		t.Errorf("the replay's trace does not end with the excerpt found:\nfound\n%s\nreplayed\n%s", strings.Join(excerpt, "\n"), strings.Join(trace, "\n"))
	}
}

// TestSavedReplayFromGoTest: a test whose workload writes random data,
// run with -crashsim.save=DIR, prints with each violation a command that
// names the saved execution; run as printed, it rebuilds the state from
// the file and fails the test alone with the same judgement, saying it
// came from a saved execution. Without the file, the replay runs the
// workload again, finds another workload, and says so.
func TestSavedReplayFromGoTest(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, failed := runIn(t, root, "go test ./sim/testdata/userpkg -run '^TestUserRandom$' -count=1 -v -crashsim.save="+shellQuote(dir))
	if !failed || !strings.Contains(out, "--- FAIL: TestUserRandom") {
		t.Fatalf("the random scenario did not fail its test:\n%s", out)
	}
	found, cmd := violationWith(t, out, regexp.QuoteMeta(`go test ./sim/testdata/userpkg -run '^TestUserRandom$' -v -crashsim.replay='`)+
		`(user-random@[^']+)' -crashsim\.execution='`+regexp.QuoteMeta(dir)+`/TestUserRandom\.user-random\.1\.crashexec'`)
	replayed, failed := runIn(t, root, cmd[0])
	if !failed || !strings.Contains(replayed, "--- FAIL: TestUserRandom") || !strings.Contains(replayed, "from     a saved execution") {
		t.Fatalf("%s: the saved state does not fail its test:\n%s", cmd[0], replayed)
	}
	sameState(t, found, replayed, cmd[1])

	rerun, failed := runIn(t, root, strings.Split(cmd[0], " -crashsim.execution=")[0])
	if !failed || !strings.Contains(rerun, "another workload") {
		t.Errorf("a replay that runs the random workload again:\n%s", rerun)
	}
}
