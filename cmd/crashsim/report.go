package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/crashsim/crashsim/reports"
	"github.com/crashsim/crashsim/sim"
)

const reportAbout = `Renders results saved by 'crashsim run --out FILE' (or --json) again: the
table and violation details on stdout, an HTML page with --html, and the
results as JSON with --out. FILE "-" reads standard input.

Given the files of every shard of a run ('crashsim run --shard i/n' on n
machines), it merges them: each run's shards become the result the whole
run gives on one machine, its time being the longest shard's. It refuses
shards of different runs (scenario, fault model, strategy, seed, other
options or number of shards), a shard missing or given twice, and shards
stopped by a time budget. Results of whole runs are shown as they are.

Exit code: 0 when the results hold no violation and no failed run, 1 when
they do (as 'run' would have exited), 2 on a usage error — including a file
that cannot be read or is not crashsim results JSON, and shards that do
not merge.`

func reportCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report", "FILE.json... [--html OUT] [--out FILE] [--violations N]", reportAbout, stderr)
	html := fs.String("html", "", "write an HTML report with a timeline of each run to this `file`")
	out := fs.String("out", "", "write the results, shards merged, as JSON to this `file`")
	violations := fs.Int("violations", 3, "violations shown in detail per run (-1: all)")
	files, err := parseFlags(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(files) == 0 {
		return usageError(stderr, "report", errors.New("no results file given"))
	}
	var results []*sim.Result
	for _, name := range files {
		rs, err := readResults(name, os.Stdin)
		if err != nil {
			// A file that is missing or not results JSON is a bad argument:
			// exit 2, so a CI step that gates on 1 ("violations") is never
			// fooled by a broken artifact.
			return usageError(stderr, "report", err)
		}
		results = append(results, rs...)
	}
	// Shards that do not make up their run are bad arguments too: a
	// missing artifact must not pass for a run with fewer violations.
	if results, err = sim.MergeRuns(results); err != nil {
		return usageError(stderr, "report", fmt.Errorf("cannot merge the shards of %s", reason(err, sim.ErrMerge)))
	}
	outFile, htmlFile, err := createOutputs(*out, *html)
	if err != nil {
		return usageError(stderr, "report", err)
	}
	err = printResults(stdout, results, *violations)
	if err == nil {
		err = writeOutputs(outFile, htmlFile, results)
	}
	if err != nil {
		fmt.Fprintf(stderr, "crashsim report: %v\n", err)
		return exitProblem
	}
	if !allOK(results) {
		return exitProblem
	}
	return exitOK
}

// readResults reads a results file, "-" being stdin.
func readResults(name string, stdin io.Reader) ([]*sim.Result, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fileError("cannot read", err)
		}
		defer f.Close()
		r = f
	}
	results, err := reports.ReadJSON(r)
	if err != nil {
		if name == "-" {
			name = "standard input"
		}
		return nil, fmt.Errorf("%s is not a crashsim results file: %s", name, reason(err, reports.ErrFormat))
	}
	return results, nil
}
