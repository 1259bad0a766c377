package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/crashsim/crashsim/internal/torture"
)

const tortureAbout = `The engine on this machine's real storage, as an operations team would
torture it: kill -9 cycles of the WAL's and the pools' writers on the disk,
on /dev/shm and with the PMem rules forced; every bit of each file format
damaged and given to its readers; as root, workloads on a full 4 MiB tmpfs.
Every choice comes from --seed; the kill cycles run until --time is spent
(the sweeps take a third of it at most, the full-disk runs a sixth).
Writes report.json, report.md and anomalies/ (each with its files and the
command that reproduces it) to --out, and prints the report.

  crashsim torture replay DIR   reproduces the anomaly saved in DIR

Exit code: 0 when nothing went wrong, 1 on any anomaly (or when the
torture itself failed), 2 on a usage error. For replay: 1 if the anomaly
is still there, 0 if not.`

// tortureCmd runs the torture. A process the torture started to run a
// workload, a check or a sweep is this verb too: it runs its job and
// exits before any flag is read.
func tortureCmd(args []string, stdout, stderr io.Writer) int {
	torture.ChildMain()
	if len(args) > 0 && args[0] == "replay" {
		return tortureReplay(args[1:], stdout, stderr)
	}
	fs := newFlags("torture", "[flags] | replay DIR", tortureAbout, stderr)
	seed := fs.Uint64("seed", 1, "seed of every choice")
	budget := fs.Duration("time", 10*time.Minute, "time of a full run")
	short := fs.Bool("short", false, "the CI version: --cycles kill cycles per workload and medium, the short sweeps,\none full-disk run of each workload; --time is ignored")
	cycles := fs.Int("cycles", 24, "kill cycles per workload and medium of a --short run")
	out := fs.String("out", "out/torture", "`directory` of the report and the anomalies")
	work := fs.String("work", "", "`directory` whose file system is the disk medium (default: --out/work)")
	only := fs.String("only", "", "run only these `phases`, comma-separated: "+strings.Join(torture.Phases, ", "))
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(rest) > 0 {
		return usageError(stderr, "torture", fmt.Errorf("unexpected argument %q", rest[0]))
	}
	if *budget <= 0 || *cycles <= 0 {
		return usageError(stderr, "torture", errors.New("--time and --cycles must be positive"))
	}
	var phases []string
	if *only != "" {
		phases = strings.Split(*only, ",")
	}
	command := fmt.Sprintf("crashsim torture --seed %d", *seed)
	if *short {
		command += fmt.Sprintf(" --short --cycles %d", *cycles)
	} else {
		command += " --time " + budget.String()
	}
	if *only != "" {
		command += " --only " + *only
	}
	rep, err := torture.Run(torture.Options{Seed: *seed, Time: *budget, Short: *short, Cycles: *cycles,
		Out: *out, Work: *work, Only: phases, Command: command, Log: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "crashsim torture: %v\n", err)
		if rep == nil {
			return exitUsageErr
		}
		return exitProblem
	}
	fmt.Fprintln(stdout)
	rep.WriteMarkdown(stdout)
	fmt.Fprintf(stdout, "\nThe report is in %s (report.md, report.json).\n", *out)
	if rep.Failed() {
		return exitProblem
	}
	return exitOK
}

func tortureReplay(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("torture replay", "DIR", "Reproduces the anomaly saved in DIR by a run of the torture.", stderr)
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(rest) != 1 {
		return usageError(stderr, "torture replay", fmt.Errorf("want one anomaly directory, got %d arguments", len(rest)))
	}
	if _, err := os.Stat(rest[0]); err != nil {
		return usageError(stderr, "torture replay", err)
	}
	still, err := torture.Replay(rest[0], stdout)
	if err != nil {
		fmt.Fprintf(stderr, "crashsim torture replay: %v\n", err)
		return exitUsageErr
	}
	if still {
		return exitProblem
	}
	return exitOK
}
