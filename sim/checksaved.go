package sim

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
)

// The test flags of saved executions: -crashsim.save=DIR makes every
// Check that finds a violation save its recorded execution in DIR, and
// its replay commands name the file; -crashsim.execution=FILE makes a
// replay (-crashsim.replay) rebuild its state from FILE instead of
// running the workload again.
var (
	saveDirFlag   string
	executionFlag string
)

func init() {
	flag.StringVar(&saveDirFlag, "crashsim.save", "", "crashsim: sim.Check saves the recorded execution of its violations in this `dir`, for -crashsim.execution")
	flag.StringVar(&executionFlag, "crashsim.execution", "", "crashsim: -crashsim.replay rebuilds its state from this saved execution `file`, without running the workload")
}

// savedFiles numbers the files of one test binary's Checks, so that two
// Checks of one test and scenario (a loop, a rapid property) never write
// one file.
var savedFiles = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

// unsafeInName is what a file name made of a test's name leaves out.
var unsafeInName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// saveForCheck writes res's saved execution under -crashsim.save and
// returns the file's absolute name, or "" if there is none to write.
func saveForCheck(t TB, sc *Scenario, res *Result) string {
	t.Helper()
	if saveDirFlag == "" || res.Execution == nil || len(res.Execution.States) == 0 {
		return ""
	}
	for _, why := range res.Execution.Unsaved {
		t.Logf("sim.Check(%s): not saved: %s", sc.Name, why)
	}
	base := unsafeInName.ReplaceAllString(t.Name(), "_") + "." + sc.Name
	savedFiles.Lock()
	savedFiles.n[base]++
	n := savedFiles.n[base]
	savedFiles.Unlock()
	name := filepath.Join(saveDirFlag, fmt.Sprintf("%s.%d%s", base, n, ExecutionExt))
	if abs, err := filepath.Abs(name); err == nil {
		name = abs
	}
	if err := os.MkdirAll(saveDirFlag, 0o755); err != nil {
		t.Errorf("sim.Check(%s): -crashsim.save: %v", sc.Name, err)
		return ""
	}
	if err := WriteExecution(name, res.Execution); err != nil {
		t.Errorf("sim.Check(%s): -crashsim.save: %v", sc.Name, err)
		return ""
	}
	return name
}

// savedReplayCommand is the replay command of violation id with the
// saved execution file, if it holds that state.
func savedReplayCommand(cmd, file, id string, e *Execution) string {
	if file == "" {
		return cmd
	}
	for _, s := range e.States {
		if s.ID == id {
			return cmd + " -crashsim.execution=" + shellQuote(file)
		}
	}
	return cmd
}

// runReplayForCheck is RunReplay, or RunSavedReplay from the file of
// -crashsim.execution.
func runReplayForCheck(sc *Scenario, id ReplayID) (*Replay, error) {
	if executionFlag == "" {
		return RunReplay(sc, id)
	}
	e, err := ReadExecution(executionFlag)
	if err != nil {
		return nil, fmt.Errorf("-crashsim.execution: %w", err)
	}
	rp, err := RunSavedReplay(sc, id, e)
	if errors.Is(err, ErrDiverged) {
		// Not another workload: the saved state does not go on as the id
		// says (its chain or recovery crash). Say it as an error of the
		// replay, not as another exploration's.
		return nil, fmt.Errorf("-crashsim.execution: %v", err)
	}
	return rp, err
}
