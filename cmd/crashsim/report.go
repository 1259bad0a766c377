package main

import (
	"fmt"
	"io"
	"os"

	"github.com/crashsim/crashsim/reports"
	"github.com/crashsim/crashsim/sim"
)

const reportAbout = `Renders results saved by 'crashsim run --out FILE' (or --json) again: the
table and violation details on stdout, and an HTML page with --html. FILE
"-" reads standard input.

Exit code: 0 when the results hold no violation and no failed run, 1 when
they do (as 'run' would have exited), 2 on a usage error — including a file
that cannot be read or is not crashsim results JSON.`

func reportCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report", "FILE.json [--html OUT] [--violations N]", reportAbout, stderr)
	html := fs.String("html", "", "write an HTML report with a timeline of each run to this `file`")
	violations := fs.Int("violations", 3, "violations shown in detail per run (-1: all)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(rest) != 1 {
		return usageError(stderr, "report", fmt.Errorf("%w: want one results file, got %d arguments", sim.ErrUsage, len(rest)))
	}
	results, err := readResults(rest[0], os.Stdin)
	if err != nil {
		// A file that is missing or not results JSON is a bad argument:
		// exit 2, so a CI step that gates on 1 ("violations") is never
		// fooled by a broken artifact.
		return usageError(stderr, "report", err)
	}
	_, htmlFile, err := createOutputs("", *html)
	if err != nil {
		return usageError(stderr, "report", err)
	}
	err = printResults(stdout, results, *violations)
	if err == nil {
		err = writeOutputs(nil, htmlFile, results)
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
			return nil, fmt.Errorf("%w: %v", sim.ErrUsage, err)
		}
		defer f.Close()
		r = f
	}
	results, err := reports.ReadJSON(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", sim.ErrUsage, name, err)
	}
	return results, nil
}
