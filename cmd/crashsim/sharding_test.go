package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// exampleScenarios are added to the commands of the sharding examples,
// which run every scenario: a correct one and a bug variant keep the test
// fast and still merge violations.
var exampleScenarios = []string{"pmem-log", "pmem-log-bug-no-drain", "--fault", "power"}

// TestShardingExamples runs the commands of docs/sharding's GitHub Actions
// workflow and Kubernetes Job as their jobs and pods would — each shard
// with its environment — and merges their files as the docs say, so that
// the examples cannot drift from the CLI.
func TestShardingExamples(t *testing.T) {
	for _, name := range shardVars {
		t.Setenv(name, "")
	}
	workflow := readDoc(t, "sharding/github-actions.yml")
	job := readDoc(t, "sharding/indexed-job.yaml")
	guide := readDoc(t, "SHARDING.md")

	t.Run("github-actions", func(t *testing.T) {
		t.Chdir(t.TempDir())
		shard := match(t, workflow, `CRASHSIM_SHARD: (\$\{\{ matrix.shard \}\}/\d+)`)
		shards := match(t, workflow, `shard: \[([0-9, ]+)\]`)
		explore := match(t, workflow, `run: \./crashsim (run .*) \|\| \[ \$\? -eq 1 \]`)
		for _, i := range strings.Split(shards, ", ") {
			matrix := strings.NewReplacer("${{ matrix.shard }}", i)
			t.Setenv("CRASHSIM_SHARD", matrix.Replace(shard))
			crashsimExample(t, "explore job "+i, append(strings.Fields(matrix.Replace(explore)), exampleScenarios...), exitOK, exitProblem)
		}
		report := match(t, workflow, `run: \./crashsim (report .*)`)
		crashsimExample(t, "report job", strings.Fields(report), exitProblem)
		for _, f := range []string{"crashsim.html", "crashsim.json"} {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("the report job wrote no %s: %v", f, err)
			}
		}
	})

	t.Run("indexed-job", func(t *testing.T) {
		t.Chdir(t.TempDir())
		completions := match(t, job, `completions: (\d+)`)
		if count := match(t, job, `name: CRASHSIM_SHARDS.*\n\s*value: "(\d+)"`); count != completions {
			t.Fatalf("the Job has %s completions but CRASHSIM_SHARDS=%s", completions, count)
		}
		t.Setenv("CRASHSIM_SHARDS", completions)
		explore := match(t, job, `"/opt/crashsim/crashsim (run [^;"]*); test \$\? -le 1"`)
		n, err := strconv.Atoi(completions)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			index := strconv.Itoa(i)
			t.Setenv("JOB_COMPLETION_INDEX", index)
			// The pod's log: what 'kubectl logs' saves as <pod>.json.
			log := crashsimExample(t, "pod "+index, append(strings.Fields(explore), exampleScenarios...), exitOK, exitProblem)
			if err := os.WriteFile("crashsim-"+index+"-x7k2p.json", []byte(log), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		report := match(t, guide, "\ncrashsim (report crashsim-.*)\n")
		crashsimExample(t, "the guide's merge", strings.Fields(report), exitProblem)
	})
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// match returns the first group of pattern in doc.
func match(t *testing.T, doc, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(doc)
	if m == nil {
		t.Fatalf("the example has no %q", pattern)
	}
	return m[1]
}

// crashsimExample runs one command of an example, its globs expanded as a
// shell would, and returns its stdout; its exit code must be one of want.
func crashsimExample(t *testing.T, what string, args []string, want ...int) string {
	t.Helper()
	var expanded []string
	for _, a := range args {
		if !strings.Contains(a, "*") {
			expanded = append(expanded, a)
			continue
		}
		files, err := filepath.Glob(a)
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %s matches no file (%v)", what, a, err)
		}
		expanded = append(expanded, files...)
	}
	var out, errb bytes.Buffer
	code := run(expanded, &out, &errb)
	for _, w := range want {
		if code == w {
			return out.String()
		}
	}
	t.Fatalf("%s: crashsim %s: exit %d, want one of %v\n%s%s", what, strings.Join(expanded, " "), code, want, out.String(), errb.String())
	return ""
}
