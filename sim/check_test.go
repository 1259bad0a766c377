package sim

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// tb records what Check reports.
type tb struct {
	name                 string
	errors, fatals, logs []string
}

func (t *tb) Helper()      {}
func (t *tb) Name() string { return t.name }
func (t *tb) Logf(format string, args ...any) {
	t.logs = append(t.logs, fmt.Sprintf(format, args...))
}
func (t *tb) Errorf(format string, args ...any) {
	t.errors = append(t.errors, fmt.Sprintf(format, args...))
}
func (t *tb) Fatalf(format string, args ...any) {
	t.fatals = append(t.fatals, fmt.Sprintf(format, args...))
}

// cleanupTB is a tb with Cleanup, as *testing.T has; the test runs the
// cleanups where the testing package would, at the end.
type cleanupTB struct {
	tb
	cleanups []func()
}

func (t *cleanupTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func (t *cleanupTB) runCleanups() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// forgetfulLog is a recovery that forgets the last record: it loses an
// acknowledged append.
func forgetfulLog(env *Env) (any, error) {
	recs, err := readLog(env.FS, "/log")
	if len(recs) > 1 {
		recs = recs[:len(recs)-1]
	}
	return recs, err
}

var twoRecords = [][]byte{[]byte("one"), []byte("two")}

func TestCheckReports(t *testing.T) {
	ok := tb{name: "TestUser"}
	Check(&ok, appendLog(twoRecords, recoverLog), Options{})
	if len(ok.errors)+len(ok.fatals) > 0 {
		t.Errorf("correct log: %v %v", ok.errors, ok.fatals)
	}
	bad := tb{name: "TestUser/a+b"}
	res := Check(&bad, appendLog(twoRecords, forgetfulLog), Options{})
	if res == nil || len(res.Violations) == 0 || len(bad.errors) != len(res.Violations) {
		t.Fatalf("forgetful recovery: %d errors for %+v", len(bad.errors), res)
	}
	// One command that replays the state in this test: the package from
	// the module's root, the subtest alone, the id.
	want := "  replay:   go test ./sim -run '^TestUser$/^a\\+b$' -v -crashsim.replay='" + res.Violations[0].ReplayID + "'\n"
	if !strings.Contains(bad.errors[0], "acknowledged operations lost") || !strings.HasSuffix(bad.errors[0], want) || strings.Contains(bad.errors[0], "crashsim replay") {
		t.Errorf("forgetful recovery reported\n%s\nwant it to end with\n%s", bad.errors[0], want)
	}
	usage := tb{name: "TestUser"}
	Check(&usage, appendLog(twoRecords, recoverLog), Options{Fault: ProcessCrash, Strategy: Subsets})
	if len(usage.fatals) != 1 || !strings.Contains(usage.fatals[0], "does not apply") {
		t.Errorf("unusable options: %q", usage.fatals)
	}
}

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestX":               "^TestX$",
		"TestX/sub":           "^TestX$/^sub$",
		"TestX/a.b(c)/[d]*":   `^TestX$/^a\.b\(c\)$/^\[d\]\*$`,
		"TestX/it's_1#01":     "^TestX$/^it's_1#01$",
		"TestX/x|y/^z$/100%?": `^TestX$/^x\|y$/^\^z\$$/^100%\?$`,
	} {
		got := runPattern(name)
		if got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
		// The pattern selects the name, level by level, as go test does.
		levels, pats := strings.Split(name, "/"), strings.Split(got, "/")
		for i := range levels {
			if !regexp.MustCompile(pats[i]).MatchString(levels[i]) {
				t.Errorf("%q does not match level %q of %q", pats[i], levels[i], name)
			}
		}
	}
	for s, want := range map[string]string{
		"^TestX$":    `'^TestX$'`,
		"it's":       `'it'\''s'`,
		"a@b:c/0,1":  `'a@b:c/0,1'`,
		"./sim":      `'./sim'`,
		"":           `''`,
		"$(rm -rf)'": `'$(rm -rf)'\'''`,
	} {
		if got := shellQuote(s); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", s, got, want)
		}
	}
	if got := shellWord("./sim/testdata"); got != "./sim/testdata" {
		t.Errorf("shellWord of a plain path quoted it: %s", got)
	}
	if got := shellWord("/home/a b"); got != `'/home/a b'` {
		t.Errorf("shellWord of a path with a space: %s", got)
	}
}

// replayingAs runs the rest of the test as a test binary run with
// -crashsim.replay=id: the flag set, and no Check seen yet.
func replayingAs(t *testing.T, id string) {
	old := replayFlag
	replays.Lock()
	oldTests := replays.tests
	replays.tests = map[string]*testReplay{}
	replays.Unlock()
	replayFlag = id
	t.Cleanup(func() {
		replayFlag = old
		replays.Lock()
		replays.tests = oldTests
		replays.Unlock()
	})
}

// count returns how many of lines contain s.
func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// TestCheckReplay: under -crashsim.replay, the Check of the exploration
// the id names rebuilds that state, prints it exactly as `crashsim
// replay` does, and fails while it violates; once the recovery is fixed
// it passes. Checks of other scenarios are skipped; a Check of the same
// scenario that is not the named exploration (other options, another
// workload) fails a test that cannot say later whether another matched,
// and is logged once in one that can (Cleanup), whose end fails if none
// did.
func TestCheckReplay(t *testing.T) {
	found := appendLog(twoRecords, forgetfulLog)
	res, err := Explore(found, Options{})
	if err != nil || len(res.Violations) == 0 {
		t.Fatalf("%v, %+v", err, res)
	}
	id := res.Violations[0].ReplayID
	pid, err := ParseReplayID(id)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := RunReplay(found, pid)
	if err != nil {
		t.Fatal(err)
	}
	var cli strings.Builder
	if err := rp.Format(&cli, 0, ""); err != nil {
		t.Fatal(err)
	}
	replayingAs(t, id)

	named := tb{name: "TestUser"}
	if res := Check(&named, found, Options{}); res != nil {
		t.Errorf("a replaying Check returned a result: %+v", res)
	}
	if len(named.errors) != 1 || !strings.Contains(named.errors[0], "still violates") || !strings.HasSuffix(named.errors[0], "\n"+cli.String()) {
		t.Fatalf("the named exploration reported %q, want the replay as crashsim replay prints it:\n%s", named.errors, cli.String())
	}
	for _, want := range []string{"replay   " + id, "== Violation", "problem:  acknowledged operations lost", "== Trace up to the crash point", "== Recovery on the crash image"} {
		if !strings.Contains(named.errors[0], want) {
			t.Errorf("the replay lacks %q:\n%s", want, named.errors[0])
		}
	}

	// The recovery fixed: the same workload, so the same state, which now
	// recovers correctly. The test passes and logs the replay.
	fixed := tb{name: "TestUserFixed"}
	Check(&fixed, appendLog(twoRecords, recoverLog), Options{})
	if len(fixed.errors)+len(fixed.fatals) > 0 || count(fixed.logs, "recovers correctly") != 1 || count(fixed.logs, "verdict  ok") != 1 {
		t.Errorf("fixed recovery: errors %q, logs %q", fixed.errors, fixed.logs)
	}

	// Another scenario: skipped, said in the log.
	other := appendLog(twoRecords, forgetfulLog)
	other.Name = "other-log"
	skipped := tb{name: "TestUser"}
	Check(&skipped, other, Options{})
	if len(skipped.errors)+len(skipped.fatals) > 0 || count(skipped.logs, "skipped: -crashsim.replay replays scenario append-log") != 1 {
		t.Errorf("another scenario: errors %q, logs %q", skipped.errors, skipped.logs)
	}

	// Not the named exploration, in a test that has no Cleanup: fails.
	for what, c := range map[string]struct {
		sc   *Scenario
		opts Options
		why  string
	}{
		"other options":  {found, Options{Fault: ProcessCrash}, "other options"},
		"other seed":     {found, Options{Seed: 1}, "other options"},
		"other workload": {appendLog([][]byte{[]byte("one"), []byte("owt")}, forgetfulLog), Options{}, "another workload"},
		"shorter":        {appendLog([][]byte{[]byte("one")}, forgetfulLog), Options{}, "another workload"},
	} {
		x := tb{name: "TestUser"}
		Check(&x, c.sc, c.opts)
		if len(x.errors) != 1 || !strings.Contains(x.errors[0], "not the exploration -crashsim.replay names") || !strings.Contains(x.errors[0], c.why) {
			t.Errorf("%s: errors %q, want one saying %q", what, x.errors, c.why)
		}
	}

	// A test that loops over workloads, the named one among them: the
	// others are logged, once, and the test passes.
	loop := cleanupTB{tb: tb{name: "TestLoop"}}
	for _, recs := range [][][]byte{{[]byte("one")}, {[]byte("one"), []byte("owt")}, twoRecords, {[]byte("x")}} {
		Check(&loop, appendLog(recs, recoverLog), Options{})
	}
	loop.runCleanups()
	if len(loop.errors)+len(loop.fatals) > 0 || count(loop.logs, "not the exploration") != 1 || count(loop.logs, "recovers correctly") != 1 {
		t.Errorf("loop: errors %q, logs %q", loop.errors, loop.logs)
	}

	// A test none of whose Checks is the named exploration fails at its
	// end, saying why the last was not.
	none := cleanupTB{tb: tb{name: "TestNone"}}
	Check(&none, appendLog([][]byte{[]byte("one")}, recoverLog), Options{})
	Check(&none, found, Options{Fault: ProcessCrash})
	if len(none.errors) > 0 {
		t.Errorf("a mismatch failed a test with Cleanup before its end: %q", none.errors)
	}
	none.runCleanups()
	if len(none.errors) != 1 || !strings.Contains(none.errors[0], "no Check of this test was the exploration") || !strings.Contains(none.errors[0], "other options") {
		t.Errorf("no match: errors %q", none.errors)
	}

	// A malformed id is a usage error of every Check.
	replayFlag = "append-log:meteor"
	bad := tb{name: "TestUser"}
	Check(&bad, found, Options{})
	if len(bad.fatals) != 1 || !strings.Contains(bad.fatals[0], "-crashsim.replay") {
		t.Errorf("malformed id: fatals %q", bad.fatals)
	}
}

// rapidTB is a rapid.TB that records, to run rapid.Check and
// CheckProperty inside a test and look at what they report.
type rapidTB struct {
	tb
	failed bool
}

func (t *rapidTB) Log(args ...any)   { t.logs = append(t.logs, fmt.Sprint(args...)) }
func (t *rapidTB) Error(args ...any) { t.errors = append(t.errors, fmt.Sprint(args...)) }
func (t *rapidTB) Fatal(args ...any) { t.fatals = append(t.fatals, fmt.Sprint(args...)) }
func (t *rapidTB) Skipf(format string, args ...any) {
	panic("rapid skipped: " + fmt.Sprintf(format, args...))
}
func (t *rapidTB) Skip(args ...any) { panic("rapid skipped: " + fmt.Sprint(args...)) }
func (t *rapidTB) SkipNow()         { panic("rapid skipped") }
func (t *rapidTB) FailNow()         { t.failed = true } // rapid calls it last
func (t *rapidTB) Fail()            { t.failed = true }
func (t *rapidTB) Failed() bool     { return t.failed || len(t.errors)+len(t.fatals) > 0 }

// withRapidFlags sets rapid's flags for the rest of the test: rapid has no
// other way to be configured.
func withRapidFlags(t *testing.T, kv ...string) {
	for i := 0; i < len(kv); i += 2 {
		f := flag.Lookup(kv[i])
		old := f.Value.String()
		if err := f.Value.Set(kv[i+1]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Value.Set(old) })
	}
}

// dropLast is a recovery that loses the last record, acknowledged or not:
// any workload with one is a violation, so rapid's first workload fails
// and shrinks to one record of one byte, whatever rapid's seed.
func dropLast(env *Env) (any, error) {
	recs, err := readLog(env.FS, "/log")
	if len(recs) > 0 {
		recs = recs[:len(recs)-1]
	}
	return recs, err
}

// logProperty draws a workload of appendLog with the recovery rec.
func logProperty(rec func(*Env) (any, error)) func(rt *rapid.T) (*Scenario, Options) {
	return func(rt *rapid.T) (*Scenario, Options) {
		records := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 1, 16), 1, 4).Draw(rt, "records")
		return appendLog(records, rec), Options{MaxStates: 16}
	}
}

// replayCommandOf finds the complete replay command of a report.
var replayCommandOf = regexp.MustCompile(`replay:   go test \S+ -run '\^TestProp\$' -v -crashsim.replay='([^']+)' -rapid.failfile='([^']+)'\n`)

// TestCheckProperty: a rapid property that finds a bug prints, with the
// shrunk workload's violation, one complete command: the replay id and
// rapid's fail file of that workload. Replayed with both, the property
// rebuilds exactly that state (the same replay as RunReplay of the shrunk
// workload) and fails; with an id no generated workload has, it fails
// saying so; with another scenario's id it passes.
func TestCheckProperty(t *testing.T) {
	packageDir() // before the test leaves the package's directory
	t.Chdir(t.TempDir())
	withRapidFlags(t, "rapid.checks", "20")

	found := rapidTB{tb: tb{name: "TestProp"}}
	CheckProperty(&found, logProperty(dropLast))
	if !found.failed {
		t.Fatalf("the property passed: %q", found.logs)
	}
	all := strings.Join(append(found.errors, found.logs...), "\n")
	m := replayCommandOf.FindStringSubmatch(all)
	if m == nil {
		t.Fatalf("no complete replay command:\n%s", all)
	}
	id, failfile := m[1], m[2]
	if _, err := os.Stat(failfile); err != nil || !strings.HasPrefix(failfile, "testdata/rapid/TestProp/") {
		t.Fatalf("the command's fail file %q: %v", failfile, err)
	}
	// The shrunk workload: one record of one zero byte.
	pid, err := ParseReplayID(id)
	if err != nil {
		t.Fatal(err)
	}
	want, err := RunReplay(appendLog([][]byte{{0}}, dropLast), pid)
	if err != nil || want.Violation == nil {
		t.Fatalf("replay of the shrunk workload: %v, %+v", err, want)
	}
	var wantText strings.Builder
	want.Format(&wantText, 0, "")

	t.Run("replay", func(t *testing.T) {
		replayingAs(t, id)
		withRapidFlags(t, "rapid.failfile", failfile)
		r := rapidTB{tb: tb{name: "TestProp"}}
		CheckProperty(&r, logProperty(dropLast))
		// The workload's source lines are the first frames outside sim:
		// in this test, rapid's or the testing package's.
		all := withoutSources(strings.Join(append(r.errors, r.logs...), "\n"))
		if !r.Failed() || !strings.Contains(all, "still violates\n"+withoutSources(wantText.String())) {
			t.Errorf("replay: failed %v, output\n%s\nwant the replay\n%s", r.Failed(), all, wantText.String())
		}
	})
	t.Run("fixed", func(t *testing.T) {
		replayingAs(t, id)
		withRapidFlags(t, "rapid.failfile", failfile)
		r := rapidTB{tb: tb{name: "TestProp"}}
		CheckProperty(&r, logProperty(recoverLog))
		if r.Failed() || count(r.logs, "recovers correctly") != 1 || count(r.logs, "not the exploration") > 1 {
			t.Errorf("fixed recovery: failed %v, errors %q, logs %q", r.Failed(), r.errors, r.logs)
		}
	})
	t.Run("no workload matched", func(t *testing.T) {
		other := pid
		other.Workload ^= 1
		replayingAs(t, other.String())
		withRapidFlags(t, "rapid.failfile", failfile)
		r := rapidTB{tb: tb{name: "TestProp"}}
		CheckProperty(&r, logProperty(dropLast))
		if !r.Failed() || count(r.errors, "names a workload rapid did not generate") != 1 || count(r.errors, "another workload") != 1 {
			t.Errorf("no match: failed %v, errors %q", r.Failed(), r.errors)
		}
	})
	t.Run("another scenario", func(t *testing.T) {
		other := pid
		other.Scenario = "other-log"
		replayingAs(t, other.String())
		r := rapidTB{tb: tb{name: "TestProp"}}
		CheckProperty(&r, logProperty(dropLast))
		if r.Failed() || count(r.logs, "skipped: -crashsim.replay replays scenario other-log") != 1 {
			t.Errorf("another scenario's id: failed %v, errors %q, logs %q", r.Failed(), r.errors, r.logs)
		}
	})
	t.Run("plain rapid", func(t *testing.T) {
		// Without CheckProperty, the command says how to add the fail
		// file.
		plain := func(t rapid.TB) {
			rapid.Check(t, func(rt *rapid.T) {
				sc, opts := logProperty(dropLast)(rt)
				Check(rt, sc, opts)
			})
		}
		r := rapidTB{tb: tb{name: "TestPlain"}}
		plain(&r)
		all := strings.Join(append(r.errors, r.logs...), "\n")
		m := regexp.MustCompile(`-crashsim.replay='([^']+)' -rapid.failfile=FILE\n            \(FILE: the fail file in rapid's "To reproduce" line`).FindStringSubmatch(all)
		if !r.Failed() || m == nil {
			t.Fatalf("plain rapid: failed %v, output\n%s", r.Failed(), all)
		}
		// Replayed in the same checkout, rapid generates the workload of
		// the fail file it wrote first, before any other: the named one.
		replayingAs(t, m[1])
		again := rapidTB{tb: tb{name: "TestPlain"}}
		plain(&again)
		all = strings.Join(append(again.errors, again.logs...), "\n")
		if !again.Failed() || !strings.Contains(all, "the replayed state still violates") || strings.Contains(all, "not the exploration") {
			t.Errorf("plain rapid replay: failed %v, output\n%s", again.Failed(), all)
		}
		// A workload rapid does not generate first (here: none), when it
		// has generated none that was: that fails, saying how to fix it.
		other, err := ParseReplayID(m[1])
		if err != nil {
			t.Fatal(err)
		}
		other.Workload ^= 1
		replayingAs(t, other.String())
		elsewhere := rapidTB{tb: tb{name: "TestPlainElsewhere"}}
		plain(&elsewhere)
		all = strings.Join(append(elsewhere.errors, elsewhere.logs...), "\n")
		if !elsewhere.Failed() || !strings.Contains(all, "rapid must generate that workload first: add -rapid.failfile=FILE") {
			t.Errorf("plain rapid replay without the fail file: failed %v, output\n%s", elsewhere.Failed(), all)
		}
	})
}

// withoutSources removes the source locations of a replay's text.
func withoutSources(s string) string {
	return regexp.MustCompile(`(?m)\s+(at )?\S+\.go:\d+$`).ReplaceAllString(s, "")
}
