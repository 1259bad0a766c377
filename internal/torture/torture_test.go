package torture

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	ChildMain() // the torture re-executes this binary for its children
	os.Exit(m.Run())
}

// Environment of TestShort: where it writes its report and anomalies
// (default: a temporary directory, removed), and its seed (default 1).
const (
	outEnv  = "CRASHSIM_TORTURE_OUT"
	seedEnv = "CRASHSIM_TORTURE_SEED"
)

// TestShort is the torture's short version, the one CI runs: 24 kill -9
// cycles of each workload on each medium, the short sweep of each file
// format, and (as root) one full-disk run of each workload. Every anomaly
// fails it, with the command that reproduces it.
func TestShort(t *testing.T) {
	out := os.Getenv(outEnv)
	if out == "" {
		out = t.TempDir()
	}
	seed := uint64(1)
	if s := os.Getenv(seedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", seedEnv, s, err)
		}
	}
	rep, err := Run(Options{Seed: seed, Short: true, Out: out, Command: "go test ./internal/torture -run TestShort", Log: logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range rep.Kill {
		if k.Cycles != 24 || k.Acked == 0 || k.Reads+k.ReadErrors == 0 {
			t.Errorf("kill %s: %d cycles, %d operations acknowledged, %d reads beside: the torture did not run", k.Case, k.Cycles, k.Acked, k.Reads+k.ReadErrors)
		}
	}
	if len(rep.Kill) < 3 {
		t.Errorf("kill cycles on %d cases, want at least the WAL and pools on the disk and pools with PMem forced", len(rep.Kill))
	}
	if len(rep.Sweeps) != len(targets()) {
		t.Errorf("%d sweeps, want %d", len(rep.Sweeps), len(targets()))
	}
	for _, s := range rep.Sweeps {
		if s.Inputs == 0 || s.Total.Total() != s.Inputs*len(s.Readers) {
			t.Errorf("sweep %s: %d inputs, %d outcomes of %d readers", s.Target, s.Inputs, s.Total.Total(), len(s.Readers))
		}
	}
	for _, a := range rep.Anomalies {
		first, _, _ := strings.Cut(a.Detail, "\n")
		t.Errorf("#%d %s %s: %s: %s\n\treproduce: %s\n\trerun: %s", a.ID, a.Phase, a.Case, a.Class, first, a.Replay, a.Rerun)
	}
	for _, kind := range sortedKeys(rep.More) {
		t.Errorf("%d more anomalies of %s (counted, not saved)", rep.More[kind], kind)
	}
	if t.Failed() && os.Getenv(outEnv) == "" {
		t.Logf("set %s to keep the report and the anomalies' files", outEnv)
	}
}

// logWriter writes each line to the test's log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
