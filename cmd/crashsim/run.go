package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/reports"
	"github.com/crashsim/crashsim/sim"
)

const runAbout = `Explores each selected scenario (all without names; a name may be a glob
such as 'pmem-*') under every fault model and strategy that applies, or
those --fault and --strategy pick, prints a table of the runs and the
details of their violations, each with the command that replays it.

Budgets and --max-states bound each run (one scenario, fault and
strategy), not the whole command.

A power failure leaves what --profile's file system can leave: posix by
default, the weakest guarantees anyone may deploy on (512-byte sectors
tear, a size may outlive its data as zeros or garbage, nothing orders data
with metadata), so that nothing is missed. Each violation says on which
profiles it reproduces ("breaks on posix, ext4-writeback and xfs; not on
ext4-ordered or btrfs"), and a table under the violations adds them up.

A scenario that says how the program goes on after its recovery (a
continuation: the WAL, pool and vector scenarios) is crashed twice by
default: a seeded sample of its crash states (--max-chains) is continued
after recovery and crashed again, and every epoch is judged against one
history, so that what any epoch acknowledged survives every later crash.
--crash-depth 1 crashes once; 3 and more go on again.

--shard spreads each run over several machines: every machine runs the
same command with its own shard, and 'crashsim report' merges their --out
files into the whole runs' results. --shard auto takes the shard from the
batch system's environment: CRASHSIM_SHARD=i/n (fill it in from a CI
matrix), a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with --shards or
CRASHSIM_SHARDS giving its completions), GitLab's parallel: (CI_NODE_INDEX,
CI_NODE_TOTAL), CircleCI's and Buildkite's parallelism.

Exit code: 1 if any run found a violation or failed — a bug variant's
violation counts too, so CI can gate on it — 0 otherwise, 2 on a usage
error.`

// runFlags are the flags of `run`; demo shares the exploration ones.
type runFlags struct {
	fault, strategy string
	profile         string
	maxStates       int
	budgetStates    int
	budgetTime      time.Duration
	seed            uint64
	workers         int
	granularity     int
	garbageTail     bool
	shard           string
	shards          int
	recoveryCrashes bool
	schedules       int
	scheduler       string
	depth           int
	switches        int
	crashDepth      int
	maxChains       int
	json            bool
	out, html       string
	violations      int
	save            string
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	var f runFlags
	fs := newFlags("run", "[flags] [scenario...]", runAbout, stderr)
	fs.StringVar(&f.fault, "fault", "all", "fault `model`: process, power, kill (one process of several) or all (every one that applies to each scenario)")
	fs.StringVar(&f.strategy, "strategy", "all", "crash-state `strategy`: drop-all, keep-all, prefixes, subsets or all\n(every one that applies to the fault model)")
	fs.StringVar(&f.profile, "profile", sim.DefaultProfile, "file-system `profile` whose crash states a power failure leaves: "+sim.ProfileNames()+"\n(posix-4k: the rules before profiles, 4 KiB units and zero tails)")
	fs.IntVar(&f.maxStates, "max-states", 0, "states of one crash point enumerated under subsets before sampling (0: the simulator's 256)")
	fs.IntVar(&f.budgetStates, "budget-states", 0, "stop a run after this many crash states (0: no limit)")
	fs.DurationVar(&f.budgetTime, "budget-time", 0, "stop a run after this long (0: no limit; a run stopped by time depends on the machine,\nand the shards of one do not merge)")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of every random choice: a run is a pure function of scenario, options and seed")
	fs.IntVar(&f.workers, "workers", 0, "recoveries run in parallel (0: one per CPU); changes speed, never results")
	fs.IntVar(&f.granularity, "granularity", 0, "unit that tears, in `bytes`: 8, 64, 512 or 4096 (0: each medium's own)")
	fs.BoolVar(&f.garbageTail, "garbage-tail", false, "a file's tail past its surviving data reads as garbage, not zeros (F2)")
	fs.StringVar(&f.shard, "shard", "", "judge only part `i/n` of each run's distinct crash states, to spread it over n machines\n('crashsim report' merges the parts); auto: the batch system's part, from the environment")
	fs.IntVar(&f.shards, "shards", 0, "with --shard auto: the number of shards, where the environment has only an index\n(a Kubernetes Indexed Job's completions; or set CRASHSIM_SHARDS)")
	fs.BoolVar(&f.recoveryCrashes, "recovery-crashes", false, "also crash each recovery at its own crash points and recover again")
	fs.IntVar(&f.schedules, "schedules", 0, "interleavings of a workload's threads to explore: the workload runs once per schedule\n(0: the scenario's default, 1 for most; a workload of one thread runs once)")
	fs.StringVar(&f.scheduler, "scheduler", "random", "which thread runs at each scheduling point: random, or pct (probabilistic concurrency testing)")
	fs.IntVar(&f.depth, "pct-depth", 0, "with --scheduler pct: the depth d of the bugs to find (0: 3)")
	fs.IntVar(&f.switches, "switch-bound", 0, "preemptions per schedule at most (0: no bound)")
	fs.IntVar(&f.crashDepth, "crash-depth", 0, "crashes in one chain: after a recovery the program goes on (a scenario's continuation)\nand crashes again, to this depth (0: 2 for a scenario with a continuation, 1 without)")
	fs.IntVar(&f.maxChains, "max-chains", 0, "crash states continued after their recovery, a seeded sample, at a depth of 2 or more (0: 16)")
	fs.BoolVar(&f.json, "json", false, "write the results as JSON to stdout instead of tables")
	fs.StringVar(&f.out, "out", "", "also write the results as JSON to this `file`")
	fs.StringVar(&f.html, "html", "", "also write an HTML report with a timeline of each run to this `file`")
	fs.IntVar(&f.violations, "violations", 3, "violations shown in detail per run (-1: all)")
	fs.StringVar(&f.save, "save", "", "save the recorded execution of each run with violations in this `dir`\n(<scenario>.<fault>.<strategy>"+sim.ExecutionExt+"), so that 'crashsim replay --execution FILE <id>'\nrebuilds a state from it without running the workload again")
	names, err := parseFlags(fs, args)
	if err != nil {
		return flagsExit(err)
	}

	scs, err := selectScenarios(names)
	if err != nil {
		return sayUsage(stderr, err.Error(), "see 'crashsim list' for the scenarios")
	}
	faults, err := parseFaults(f.fault)
	if err != nil {
		return usageError(stderr, "run", err)
	}
	strategies, err := parseStrategies(f.strategy)
	if err != nil {
		return usageError(stderr, "run", err)
	}
	jobs, err := planJobs(scs, faults, strategies)
	if err != nil {
		return usageError(stderr, "run", err)
	}
	if err := checkRunFlags(&f); err != nil {
		return usageError(stderr, "run", err)
	}
	scheduler, err := sim.ParseScheduler(f.scheduler)
	if err != nil {
		return usageError(stderr, "run", fmt.Errorf("--scheduler: %s", reason(err, sim.ErrUsage)))
	}
	opts := sim.Options{
		Schedules:       f.schedules,
		Scheduler:       scheduler,
		Depth:           f.depth,
		Switches:        f.switches,
		Profile:         f.profile,
		MaxStates:       f.maxStates,
		Budget:          sim.Budget{States: f.budgetStates, Time: f.budgetTime},
		Seed:            f.seed,
		Workers:         f.workers,
		Granularity:     f.granularity,
		Tail:            faultfs.Tail{Garbage: f.garbageTail},
		RecoveryCrashes: f.recoveryCrashes,
		CrashDepth:      f.crashDepth,
		MaxChains:       f.maxChains,
		SaveExecution:   f.save != "",
	}
	switch {
	case f.shard == "auto":
		if opts.Shard, err = sim.ShardFromEnv(os.Getenv, f.shards); err != nil {
			return usageError(stderr, "run", fmt.Errorf("--shard auto: %s", reason(err, sim.ErrUsage)))
		}
	case f.shard != "":
		if opts.Shard, err = sim.ParseShard(f.shard); err != nil {
			return usageError(stderr, "run", fmt.Errorf("invalid --shard %q: want i/n with 0 <= i < n, such as 0/4, or auto", f.shard))
		}
	}
	// The output files are created before exploring: a typo in a path
	// should cost a second, not the whole exploration.
	outFile, htmlFile, err := createOutputs(f.out, f.html)
	if err != nil {
		return usageError(stderr, "run", err)
	}

	bar := newProgress(stderr, len(jobs))
	results, err := exploreJobs(jobs, opts, bar)
	bar.finish()
	if err != nil {
		if errors.Is(err, sim.ErrUsage) {
			// Nothing was explored: leave no empty report behind.
			discardOutputs(outFile, htmlFile)
			return usageError(stderr, "run", err)
		}
		fmt.Fprintf(stderr, "crashsim run: %v\n", err)
		return exitProblem
	}
	if err := saveExecutions(f.save, results); err != nil {
		fmt.Fprintf(stderr, "crashsim run: %v\n", err)
		return exitProblem
	}

	if f.json {
		err = reports.JSON(stdout, results)
	} else {
		err = printResults(stdout, results, f.violations)
	}
	if err == nil {
		err = writeOutputs(outFile, htmlFile, results)
	}
	if err != nil {
		fmt.Fprintf(stderr, "crashsim run: %v\n", err)
		return exitProblem
	}
	if !allOK(results) {
		return exitProblem
	}
	return exitOK
}

// checkRunFlags refuses the values of run's numeric flags that mean
// nothing, naming the flag and what it takes.
func checkRunFlags(f *runFlags) error {
	if err := checkNonNegative(
		nonNegative{"max-states", int64(f.maxStates), "the simulator's 256"},
		nonNegative{"budget-states", int64(f.budgetStates), "no limit"},
		nonNegative{"budget-time", int64(f.budgetTime), "no limit"},
		nonNegative{"workers", int64(f.workers), "one per CPU"},
		nonNegative{"shards", int64(f.shards), "from the environment"},
		nonNegative{"pct-depth", int64(f.depth), "3"},
		nonNegative{"switch-bound", int64(f.switches), "no bound"},
		nonNegative{"schedules", int64(f.schedules), "the scenario's default"},
		nonNegative{"crash-depth", int64(f.crashDepth), "2 for a scenario with a continuation, 1 without"},
		nonNegative{"max-chains", int64(f.maxChains), "16"},
	); err != nil {
		return err
	}
	if f.granularity != 0 && !slices.Contains(sim.Granularities, f.granularity) {
		gs := make([]string, len(sim.Granularities))
		for i, g := range sim.Granularities {
			gs[i] = strconv.Itoa(g)
		}
		return fmt.Errorf("invalid --granularity %d: want %s bytes, or 0 for each medium's own", f.granularity, oneOf(gs))
	}
	if f.depth != 0 && f.scheduler != sim.PCTScheduler.String() {
		return fmt.Errorf("--pct-depth %d needs --scheduler pct", f.depth)
	}
	if _, ok := faultfs.ProfileNamed(f.profile); !ok {
		return fmt.Errorf("invalid --profile %q: want %s", f.profile, sim.ProfileNames())
	}
	if f.shards != 0 && f.shard != "auto" {
		return errors.New("--shards goes only with --shard auto")
	}
	return nil
}

// printResults writes the table, the violation details and a closing count.
func printResults(w io.Writer, results []*sim.Result, maxViolations int) error {
	if err := reports.Table(w, results); err != nil {
		return err
	}
	if err := reports.Violations(w, results, maxViolations); err != nil {
		return err
	}
	if len(reports.ProfileRows(results)) > 0 {
		if _, err := fmt.Fprintf(w, "\n== Where the violations reproduce: file-system profiles (faultfs rule 18)\n"); err != nil {
			return err
		}
		if err := reports.Profiles(w, results); err != nil {
			return err
		}
	}
	var viols, failed, errored int
	for _, r := range results {
		viols += len(r.Violations)
		if len(r.Violations) > 0 {
			failed++
		}
		if r.RunError != "" {
			errored++
		}
	}
	_, err := fmt.Fprintf(w, "\n%s.\n", runsSummary(len(results), failed, viols, errored))
	return err
}

// runsSummary says in one sentence how many runs there were, how many
// found violations and how many failed to run.
func runsSummary(runs, failed, viols, errored int) string {
	s := fmt.Sprintf("%d %s: ", runs, plural(runs, "run", "runs"))
	if failed == 0 {
		s += "no violations"
	} else {
		s += fmt.Sprintf("%d with violations (%d %s in all)", failed, viols, plural(viols, "violation", "violations"))
	}
	if errored > 0 {
		s += fmt.Sprintf(", %d failed to run", errored)
	}
	return s
}

// allOK is the exit status of run and report: any violation or run error
// is a problem, a bug variant's included. Whether a bug variant was
// expected to fail is demo's question, not CI's.
func allOK(results []*sim.Result) bool {
	for _, r := range results {
		if !r.OK() {
			return false
		}
	}
	return true
}

// createOutputs creates the files of --out and --html (either may be
// empty). An error names the flag and the file, and says why.
func createOutputs(out, html string) (outFile, htmlFile *os.File, err error) {
	if out != "" {
		if outFile, err = os.Create(out); err != nil {
			return nil, nil, fileError("cannot create the --out file", err)
		}
	}
	if html != "" {
		if htmlFile, err = os.Create(html); err != nil {
			if outFile != nil {
				discardOutputs(outFile)
			}
			return nil, nil, fileError("cannot create the --html file", err)
		}
	}
	return outFile, htmlFile, nil
}

// fileError says what could not be done with a file, naming it once: an
// *fs.PathError's own message repeats the operation ("open NAME: …").
func fileError(what string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", what, pe.Path, pe.Err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func discardOutputs(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
}

// writeOutputs writes and closes the files createOutputs made (either may
// be nil).
func writeOutputs(outFile, htmlFile *os.File, results []*sim.Result) error {
	var errs []error
	if outFile != nil {
		errs = append(errs, reports.JSON(outFile, results), outFile.Close())
	}
	if htmlFile != nil {
		// Written again by name, with porcupine's pages of violations
		// of linearizability beside it.
		errs = append(errs, htmlFile.Close())
		_, err := reports.HTMLFile(htmlFile.Name(), results)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// saveExecutions writes, in dir, the saved execution of each result that
// has violations, and names the file in the result (its replay commands
// and its JSON say it). Nothing is written without dir.
func saveExecutions(dir string, results []*sim.Result) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, r := range results {
		if r.Execution == nil || len(r.Execution.States) == 0 {
			continue
		}
		name := r.Scenario + "." + r.FaultName + "." + r.StrategyName
		if r.Shard != "" && r.Shard != "all" {
			name += ".shard-" + strings.ReplaceAll(r.Shard, "/", "-of-")
		}
		file := filepath.Join(dir, name+sim.ExecutionExt)
		if err := sim.WriteExecution(file, r.Execution); err != nil {
			return err
		}
		r.ExecutionFile = file
	}
	return nil
}
