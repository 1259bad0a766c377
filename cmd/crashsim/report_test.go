package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/reports"
	"github.com/crashsim/crashsim/sim"
)

func TestReport(t *testing.T) {
	dir := t.TempDir()
	saved := filepath.Join(dir, "out.json")
	var out, errb bytes.Buffer
	if code := run([]string{"run", bugScenario, "--fault", "process", "--out", saved}, &out, &errb); code != exitProblem {
		t.Fatalf("run: exit %d\n%s", code, errb.String())
	}
	table := out.String()

	out.Reset()
	page := filepath.Join(dir, "out.html")
	if code := run([]string{"report", saved, "--html", page, "--violations", "3"}, &out, &errb); code != exitProblem {
		t.Fatalf("report: exit %d, want %d (the results hold violations)\n%s", code, exitProblem, errb.String())
	}
	if out.String() != table {
		t.Errorf("report renders differently from run:\n%s\nvs\n%s", out.String(), table)
	}
	if b, err := os.ReadFile(page); err != nil || !strings.Contains(string(b), bugScenario) {
		t.Errorf("no HTML page: %v", err)
	}
}

func TestReportUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"scenario": "x", `), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"report"},
		{"report", filepath.Join(dir, "missing.json"), bad},
		{"report", filepath.Join(dir, "missing.json")},
		{"report", bad},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != exitUsageErr {
			t.Errorf("crashsim %v: exit %d, want %d\n%s", args, code, exitUsageErr, errb.String())
		}
	}
}

func TestReadResultsStdin(t *testing.T) {
	var b bytes.Buffer
	if err := reports.JSON(&b, []*sim.Result{{Scenario: "x", FaultName: "power", StrategyName: "subsets"}}); err != nil {
		t.Fatal(err)
	}
	rs, err := readResults("-", &b)
	if err != nil || len(rs) != 1 || rs[0].Strategy != sim.Subsets {
		t.Errorf("readResults(-) = %v, %v", rs, err)
	}
	_, err = readResults("-", strings.NewReader("nope"))
	if want := "standard input is not a crashsim results file: not JSON"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("malformed stdin: %v, want %q", err, want)
	}
}

// shardedScenarios are the runs TestReportMergesShards spreads over four
// shards: a correct scenario and a bug variant, so that violations of
// several shards are merged.
var shardedScenarios = []string{"pmem-log", "pmem-log-bug-no-drain", "--fault", "power", "--strategy", "subsets"}

// TestReportMergesShards: the runs of two scenarios as four shards, each
// saved by its own 'crashsim run --shard i/4 --out', merge in 'crashsim
// report' to what one machine's run gives — JSON, table and HTML — with
// the files in any order; a missing, repeated or foreign shard is refused.
func TestReportMergesShards(t *testing.T) {
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	// anyVerdict is the exit code of a shard: 1 if its share of the
	// states holds a violation, else 0.
	const anyVerdict = -1
	crashsim := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != want && (want != anyVerdict || code == exitUsageErr) {
			t.Fatalf("crashsim %v: exit %d, want %d\n%s%s", args, code, want, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	crashsim(exitProblem, append([]string{"run", "--out", file("whole.json")}, shardedScenarios...)...)
	var shards []string
	for i := range 4 {
		shards = append(shards, file(fmt.Sprintf("shard-%d.json", i)))
		crashsim(anyVerdict, append([]string{"run", "--shard", fmt.Sprintf("%d/4", i), "--out", shards[i]}, shardedScenarios...)...)
	}

	table := crashsim(exitProblem, "report", shards[2], shards[0], shards[3], shards[1], "--out", file("merged.json"), "--html", file("merged.html"))
	if strings.Contains(table, "/4]") || !strings.Contains(table, "2 runs: 1 with violations") {
		t.Errorf("the merged report shows shards, or not two runs:\n%s", table)
	}
	// Timed apart, the merged runs are the whole runs: the same JSON, and
	// rendered again, the same table and page.
	untimed := func(name string) []*sim.Result {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rs, err := reports.ReadJSON(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			r.Elapsed = 0
		}
		f, err = os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := reports.JSON(f, rs); err != nil {
			t.Fatal(err)
		}
		return rs
	}
	whole, merged := untimed(file("whole.json")), untimed(file("merged.json"))
	if len(whole) != 2 || len(merged) != 2 || whole[1].Violations[0].ReplayID != merged[1].Violations[0].ReplayID {
		t.Fatalf("merged %d results, the whole run %d", len(merged), len(whole))
	}
	for i := range whole {
		if !reflect.DeepEqual(whole[i], merged[i]) {
			t.Errorf("merged %s differs from the whole run:\n%+v\n%+v", whole[i].Scenario, merged[i], whole[i])
		}
	}
	wholeTable := crashsim(exitProblem, "report", file("whole.json"), "--html", file("whole.html"))
	mergedTable := crashsim(exitProblem, "report", file("merged.json"), "--html", file("merged.html"))
	if wholeTable != mergedTable {
		t.Errorf("the merged runs render as\n%s\nthe whole runs as\n%s", mergedTable, wholeTable)
	}
	wholePage, err1 := os.ReadFile(file("whole.html"))
	mergedPage, err2 := os.ReadFile(file("merged.html"))
	if err1 != nil || err2 != nil || !bytes.Equal(wholePage, mergedPage) || !bytes.Contains(mergedPage, []byte("pmem-log-bug-no-drain")) {
		t.Errorf("the merged runs' page differs from the whole runs' (%v, %v)", err1, err2)
	}

	other := file("seed-7.json")
	crashsim(anyVerdict, append([]string{"run", "--shard", "1/4", "--seed", "7", "--out", other}, shardedScenarios...)...)
	for _, c := range []struct {
		files []string
		want  string
	}{
		{[]string{shards[0], shards[1], shards[3]}, "pmem-log power/subsets: shard 2/4 is missing"},
		{[]string{shards[0], shards[1], shards[2], shards[3], shards[1]}, "shard 1/4 is given twice"},
		{[]string{shards[0], other, shards[2], shards[3]}, "differ in seed: 0 and 7"},
		{[]string{file("whole.json"), shards[0], shards[1], shards[2], shards[3]}, ""},
	} {
		args := append([]string{"report"}, c.files...)
		if c.want == "" {
			crashsim(exitProblem, args...) // whole runs pass through beside merged ones
			continue
		}
		if out := crashsim(exitUsageErr, args...); !strings.Contains(out, c.want) {
			t.Errorf("crashsim %v: %q, want it to say %q", args, out, c.want)
		}
	}
}

func TestGoldenReport(t *testing.T) {
	untimedRuns(t)
	t.Chdir(t.TempDir())
	if c := crashsim(append([]string{"run", "pmem-log", "--out", "results.json"}, goldenBug...)...); c.code != exitProblem {
		t.Fatalf("%s", c.transcript())
	}
	golden(t, "report", crashsim("report", "results.json").transcript())
	if c := crashsim("report", "results.json", "--html", "report.html"); c.code != exitProblem {
		t.Fatalf("%s", c.transcript())
	}
	page, err := os.ReadFile("report.html")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.html", string(page))

	for name, text := range map[string]string{
		"truncated.json": `[{"scenario": "x", `,
		"notes.txt":      "results are in results.json\n",
	} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Three shards of a small run, and one of another seed.
	for i := range 3 {
		crashsim("run", "pmem-log", "--fault", "process", "--shard", fmt.Sprintf("%d/3", i), "--out", fmt.Sprintf("shard%d.json", i))
	}
	crashsim("run", "pmem-log", "--fault", "process", "--shard", "1/3", "--seed", "7", "--out", "shard1-seed7.json")

	goldenHelp(t, "report")
	goldenErrors(t, "report",
		[]string{"report"},
		[]string{"report", "missing.json"},
		[]string{"report", "truncated.json"},
		[]string{"report", "notes.txt"},
		[]string{"report", "shard0.json", "shard2.json"},
		[]string{"report", "shard0.json", "shard1.json", "shard2.json", "shard1.json"},
		[]string{"report", "shard0.json", "shard1-seed7.json", "shard2.json"},
		[]string{"report", "results.json", "--out", "no/such/dir/merged.json"},
	)
}
