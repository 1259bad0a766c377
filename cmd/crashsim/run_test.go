package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/reports"
)

// Each test names a scenario and a fault model: the cmd tests stay fast
// under -race because none explores everything.

func TestRunCorrectScenario(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"run", "pmem-log", "--fault", "power", "--strategy", "subsets"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("run pmem-log: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"pmem-log", "subsets", "pass", "1 run: no violations."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunSchedules: --schedules and --scheduler reach the explorer, and
// the line under the table says what the run explored.
func TestRunSchedules(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"run", "wal-group", "--fault", "process", "--schedules", "4", "--scheduler", "pct", "--pct-depth", "2", "--seed", "1"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	want := "interleavings: wal-group (process/keep-all, seed 1): 4 distinct of 4 schedules (pct d=2), 5 threads,"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
}

// bugScenario is a bug variant every fault model catches.
const bugScenario = "pmem-log-bug-count-first"

var replayCommand = regexp.MustCompile(`crashsim replay (\S+)`)

// TestRunBugVariant checks the CI semantic — a bug variant's violation is
// exit 1 — and that the replay command printed for it rebuilds a state
// that still violates.
func TestRunBugVariant(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"run", bugScenario, "--fault", "process"}, &out, &errb)
	if code != exitProblem {
		t.Fatalf("run %s: exit %d, want %d\n%s%s", bugScenario, code, exitProblem, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "caught") {
		t.Errorf("verdict caught missing:\n%s", out.String())
	}
	m := replayCommand.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no replay command printed:\n%s", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"replay", m[1]}, &out, &errb); code != exitProblem {
		t.Fatalf("replay %s: exit %d, want %d\n%s%s", m[1], code, exitProblem, out.String(), errb.String())
	}
	for _, want := range []string{"== Violation", "problem:", "== Trace up to the crash point", "-> ", "== Recovery on the crash image"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("replay output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunOutputs(t *testing.T) {
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.html")
	var out, errb bytes.Buffer
	// Flags after, before and between names; a glob.
	code := run([]string{"run", "--strategy", "drop-all", "pmem-log*", "--fault", "power", "--out", jsonPath, "--html", htmlPath, "--violations", "1", "--seed", "3", "--workers", "2"}, &out, &errb)
	if code != exitProblem {
		t.Fatalf("exit %d, want %d (the glob takes bug variants in)\n%s", code, exitProblem, errb.String())
	}
	f, err := os.Open(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	results, err := reports.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 2 {
		t.Fatalf("%d results for pmem-log*", len(results))
	}
	for _, r := range results {
		if !strings.HasPrefix(r.Scenario, "pmem-log") || r.FaultName != "power" || r.StrategyName != "drop-all" || r.Seed != 3 {
			t.Errorf("unexpected result %s %s/%s seed %d", r.Scenario, r.FaultName, r.StrategyName, r.Seed)
		}
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil || !strings.Contains(string(page), "crashsim report") {
		t.Errorf("no HTML report: %v", err)
	}
	if strings.Count(out.String(), ": violation 1 of") == 0 || strings.Contains(out.String(), ": violation 2 of") {
		t.Errorf("--violations 1 not honoured:\n%s", out.String())
	}
}

// TestRunProfile: a bug that only the file systems without a flush on
// rename show is caught under posix, the default, and each violation, its
// replay and the table under them say where it reproduces; under
// --profile ext4-ordered the same run passes, and says so in its fault.
func TestRunProfile(t *testing.T) {
	const sc = "file-replace-bug-update-no-fsync"
	const where = "profiles: breaks on posix, ext4-writeback and xfs; not on ext4-ordered or btrfs"
	var out, errb bytes.Buffer
	if code := run([]string{"run", sc, "--fault", "power", "--strategy", "subsets"}, &out, &errb); code != exitProblem {
		t.Fatalf("run %s: exit %d, want %d\n%s%s", sc, code, exitProblem, out.String(), errb.String())
	}
	lines := strings.Split(out.String(), "\n")
	for _, want := range []string{where, "power (posix)", "== Where the violations reproduce"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	found := false
	for _, l := range lines {
		found = found || strings.Contains(l, sc) && strings.Count(l, "breaks") == 3 && strings.Count(l, " - ") == 2
	}
	if !found {
		t.Errorf("no profile table row with 3 breaks and 2 -:\n%s", out.String())
	}
	m := replayCommand.FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(m[1], ":power:posix:subsets:") {
		t.Fatalf("replay command %v: want one naming the profile", m)
	}
	out.Reset()
	if code := run([]string{"replay", m[1]}, &out, &errb); code != exitProblem || !strings.Contains(out.String(), where) {
		t.Errorf("replay %s: exit %d, want %d and %q:\n%s", m[1], code, exitProblem, where, out.String())
	}
	out.Reset()
	if code := run([]string{"run", sc, "--fault", "power", "--strategy", "subsets", "--profile", "ext4-ordered"}, &out, &errb); code != exitOK {
		t.Fatalf("run %s --profile ext4-ordered: exit %d, want %d\n%s%s", sc, code, exitOK, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "power (ext4-ordered)") || !strings.Contains(out.String(), "1 run: no violations.") {
		t.Errorf("output under ext4-ordered:\n%s", out.String())
	}
}

func TestRunJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"run", "pmem-record", "--json", "--fault", "process"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	results, err := reports.ReadJSON(&out)
	if err != nil {
		t.Fatalf("stdout is not results JSON: %v", err)
	}
	if len(results) != 1 || results[0].Scenario != "pmem-record" {
		t.Errorf("results %+v", results)
	}
}

func TestRunUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"run", "no-such-scenario"},
		{"run", "["},
		{"run", "pmem-log", "--fault", "meteor"},
		{"run", "pmem-log", "--strategy", "random"},
		{"run", "pmem-log", "--fault", "process", "--strategy", "subsets"},
		{"run", "pmem-log", "--shard", "2/2"},
		{"run", "pmem-log", "--fault", "process", "--granularity", "3", "--out", filepath.Join(dir, "x.json")},
		{"run", "pmem-log", "--budget-states", "-1"},
		{"run", "pmem-log", "--profile", "ext3"},
		{"run", "pmem-log", "--out", filepath.Join(dir, "no", "such", "dir.json")},
		{"run", "--no-such-flag"},
		{"run", "wal-group", "--scheduler", "fifo"},
		{"run", "wal-group", "--pct-depth", "2"},
		{"run", "wal-group", "--schedules", "-1"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != exitUsageErr {
			t.Errorf("crashsim %v: exit %d, want %d\n%s", args, code, exitUsageErr, errb.String())
		}
		if errb.Len() == 0 {
			t.Errorf("crashsim %v: nothing said on stderr", args)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.json")); !os.IsNotExist(err) {
		t.Errorf("a run refused for its options left its --out file behind: %v", err)
	}
}

// shardVars are every variable --shard auto reads; TestRunShardAuto sets
// each, so that the batch system running the test cannot change it.
var shardVars = []string{"CRASHSIM_SHARD", "CRASHSIM_SHARDS", "JOB_COMPLETION_INDEX", "CI_NODE_INDEX", "CI_NODE_TOTAL",
	"CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT"}

// TestRunShardAuto: --shard auto takes the shard from the environment
// (each batch system's variables are sim.TestShardFromEnv's; this is the
// wiring), --shards gives the count an Indexed Job lacks, and an
// environment without a shard is a usage error.
func TestRunShardAuto(t *testing.T) {
	for _, name := range shardVars {
		t.Setenv(name, "")
	}
	for _, c := range []struct {
		env   map[string]string
		args  []string
		shard string
	}{
		{map[string]string{"CRASHSIM_SHARD": "1/4"}, nil, "1/4"},
		{map[string]string{"JOB_COMPLETION_INDEX": "2"}, []string{"--shards", "3"}, "2/3"},
		{map[string]string{"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "2"}, nil, "1/2"},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		var out, errb bytes.Buffer
		args := append([]string{"run", "pmem-record", "--fault", "process", "--json", "--shard", "auto"}, c.args...)
		if code := run(args, &out, &errb); code != exitOK {
			t.Fatalf("%v with %v: exit %d\n%s", args, c.env, code, errb.String())
		}
		rs, err := reports.ReadJSON(&out)
		if err != nil || len(rs) != 1 || rs[0].Shard != c.shard {
			t.Errorf("%v with %v: %v, %v; want shard %s", args, c.env, rs, err, c.shard)
		}
		for k := range c.env {
			t.Setenv(k, "")
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard", "auto"}, "no shard in the environment"},
		{[]string{"--shards", "4"}, "--shards goes only with --shard auto"},
		{[]string{"--shard", "1/4", "--shards", "4"}, "--shards goes only with --shard auto"},
		{[]string{"--shard", "auto", "--shards", "-1"}, "cannot be negative"},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"run", "pmem-record", "--fault", "process"}, c.args...)
		if code := run(args, &out, &errb); code != exitUsageErr || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, %q; want %d saying %q", args, code, errb.String(), exitUsageErr, c.want)
		}
	}
}

// goldenBug is the bug variant whose run, JSON, replay and report the
// golden files show: small (one violation, a 36-event trace), and under a
// power failure, which strikes before a barrier the trace excerpt lacks.
var goldenBug = []string{"file-log-bug-no-crc", "--fault", "power", "--strategy", "subsets"}

func TestGoldenRun(t *testing.T) {
	untimedRuns(t)
	for _, name := range shardVars {
		t.Setenv(name, "")
	}
	t.Chdir(t.TempDir())

	golden(t, "run-correct", crashsim("run", "pmem-log", "--fault", "power", "--strategy", "subsets").transcript())
	golden(t, "run-bug", crashsim(append([]string{"run"}, goldenBug...)...).transcript())
	golden(t, "run-bug-json", crashsim(append([]string{"run", "--json"}, goldenBug...)...).transcript())

	goldenHelp(t, "run")
	goldenErrors(t, "run",
		[]string{"run", "--bogus"},
		[]string{"run", "no-such-scenario"},
		[]string{"run", "["},
		[]string{"run", "pmem-log", "--fault", "meteor"},
		[]string{"run", "pmem-log", "--strategy", "random"},
		[]string{"run", "pmem-log", "--fault", "process", "--strategy", "subsets"},
		[]string{"run", "pmem-log", "--shard", "2/2"},
		[]string{"run", "pmem-log", "--shard", "1/4x"},
		[]string{"run", "pmem-log", "--shard", "auto"},
		[]string{"run", "pmem-log", "--shards", "3"},
		[]string{"run", "pmem-log", "--granularity", "3"},
		[]string{"run", "pmem-log", "--profile", "ext3"},
		[]string{"run", "pmem-log", "--budget-states", "-1"},
		[]string{"run", "pmem-log", "--budget-time", "soon"},
		[]string{"run", "pmem-log", "--seed", "abc"},
		[]string{"run", "pmem-log", "--seed"},
		[]string{"run", "pmem-log", "--json=maybe"},
		[]string{"run", "---fault", "power"},
		[]string{"run", "pmem-log", "--out", "no/such/dir/results.json"},
		[]string{"run", "pmem-log", "--html", "no/such/dir/report.html"},
	)
}
