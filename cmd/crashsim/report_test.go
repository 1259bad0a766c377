package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
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
		{"report", "a.json", "b.json"},
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
	if !errors.Is(err, sim.ErrUsage) || !errors.Is(err, reports.ErrFormat) {
		t.Errorf("malformed stdin: %v, want ErrUsage and ErrFormat", err)
	}
}
