package mount_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

// logBug is a bug planted in writeLog.
type logBug int

const (
	correct   logBug = iota
	noFsync          // the new file is renamed over the log before fsync
	noDirSync        // the rename is never made durable by an fsync of the directory
)

// writeLog is a small program that knows nothing of crashsim: it keeps a
// log of records, one a line, and replaces it whole with package os —
// write a temporary file, fsync it, rename it over the log, fsync the
// directory — unless bug leaves a step out.
func writeLog(dir string, records [][]byte, bug logBug) error {
	tmp := filepath.Join(dir, "log.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, r := range records {
		b.Write(r)
		b.WriteByte('\n')
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return err
	}
	if bug != noFsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "log")); err != nil {
		return err
	}
	if bug == noDirSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// renameLine is the line of writeLog's os.Rename.
var renameLine = func() string {
	b, _ := os.ReadFile("scenario_test.go")
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "os.Rename(tmp") {
			return strconv.Itoa(i + 1)
		}
	}
	return "?"
}()

// errTorn is readLog's error for a log that no complete write left.
var errTorn = errors.New("torn log")

// readLog reads the log writeLog keeps: no log is an empty one; a log
// that does not end a line, or holds a zero byte, is torn.
func readLog(dir string) ([][]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, "log"))
	if errors.Is(err, fs.ErrNotExist) {
		return [][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) > 0 && b[len(b)-1] != '\n' || bytes.IndexByte(b, 0) >= 0 {
		return nil, fmt.Errorf("%w: %q", errTorn, b)
	}
	records := [][]byte{}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if len(line) > 0 {
			records = append(records, line)
		}
	}
	return records, nil
}

// osLog is the scenario of writeLog: three records, each acknowledged
// once writeLog returns.
func osLog(name string, bug logBug) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			mnt, err := mount.Env(env, mount.Options{})
			if err != nil {
				return err
			}
			defer mnt.Close()
			var records [][]byte
			for i := 1; i <= 3; i++ {
				rec := fmt.Appendf(nil, "record %d", i)
				env.Invoke(models.LogAppend{Record: rec})
				records = append(records, rec)
				err := writeLog(mnt.Dir(), records, bug)
				env.Return(err)
				if err != nil {
					return err
				}
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			mnt, err := mount.Env(env, mount.Options{})
			if err != nil {
				return nil, err
			}
			defer mnt.Close()
			return readLog(mnt.Dir())
		},
	}
}

// requireMountable fails or skips (mount.Require) before an exploration,
// whose workload would otherwise report the mount's error as its own.
func requireMountable(t *testing.T) {
	t.Helper()
	serve(t)
}

// TestOSLog explores the program under power failures and process
// crashes: the correct version passes, and each planted bug is caught
// with a violation whose crash point names the system call, the path and
// the pid of the test process, which made the calls.
func TestOSLog(t *testing.T) {
	requireMountable(t)
	pid := fmt.Sprintf("pid %d", os.Getpid())
	for _, fault := range []sim.Fault{sim.PowerFailure, sim.ProcessCrash} {
		res, err := sim.Explore(osLog("os-log", correct), sim.Options{Fault: fault, MaxStates: 64})
		if err != nil {
			t.Fatal(err)
		}
		if res.RunError != "" || len(res.Violations) > 0 || res.CrashPoints == 0 {
			t.Fatalf("os-log under %v: run error %q, %d violations, %d crash points; want none, none, some:\n%s",
				fault, res.RunError, len(res.Violations), res.CrashPoints, describe(res))
		}
	}
	for _, c := range []struct {
		name   string
		bug    logBug
		at     string // the crash point of the first violation
		reason string // what its recovery saw
	}{
		// The renamed file's data may be lost once the rename is durable.
		{"os-log-bug-no-fsync", noFsync, "syncdir /", "torn log"},
		// The next record's fsync: the first rename is still pending.
		{"os-log-bug-no-dirsync", noDirSync, "sync /log.tmp", "acknowledged operations lost"},
	} {
		res, err := sim.Explore(osLog(c.name, c.bug), sim.Options{Fault: sim.PowerFailure, MaxStates: 64})
		if err != nil {
			t.Fatal(err)
		}
		if res.RunError != "" || len(res.Violations) == 0 {
			t.Fatalf("%s: run error %q, no violation:\n%s", c.name, res.RunError, describe(res))
		}
		v := res.Violations[0]
		if !strings.Contains(v.At, pid) || !strings.Contains(v.At, c.at) {
			t.Errorf("%s: first violation at %q, want the crash point %q of %s", c.name, v.At, c.at, pid)
		}
		if !strings.Contains(v.Problem+v.Observed, c.reason) {
			t.Errorf("%s: first violation %q (observed %q), want %q", c.name, v.Problem, v.Observed, c.reason)
		}
		t.Logf("%s: %d violations; first at %s: %s", c.name, len(res.Violations), v.At, v.Problem)

		// Replay reruns the program up to the crash point and rebuilds
		// the state: the same violation, the trace with the pid.
		id, err := sim.ParseReplayID(v.ReplayID)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := sim.RunReplay(osLog(c.name, c.bug), id)
		if err != nil {
			t.Fatalf("%s: replay %s: %v", c.name, v.ReplayID, err)
		}
		if rep.Violation == nil || rep.Violation.Problem != v.Problem {
			t.Fatalf("%s: replay %s: verdict %q, want %q", c.name, v.ReplayID, rep.Verdict, v.Problem)
		}
		var text strings.Builder
		if err := rep.Format(&text, 0, ""); err != nil {
			t.Fatal(err)
		}
		// The rename, by the test's pid, at writeLog's line of os.Rename.
		if !regexp.MustCompile(pid + ` rename /log.tmp -> /log +mount/scenario_test.go:` + renameLine + `\n`).MatchString(text.String()) {
			t.Errorf("%s: replay's trace has no rename by %s at scenario_test.go:%s:\n%s", c.name, pid, renameLine, text.String())
		}
	}
}

func describe(res *sim.Result) string {
	var b strings.Builder
	for _, v := range res.Violations {
		fmt.Fprintf(&b, "at %s: %s (observed %s)\n", v.At, v.Problem, v.Observed)
		for _, e := range v.Excerpt {
			fmt.Fprintf(&b, "    %s\n", e)
		}
	}
	return b.String()
}
