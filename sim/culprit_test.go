package sim_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
	. "github.com/crashsim/crashsim/sim"
	"github.com/crashsim/crashsim/sim/internal/adaptertest"
)

// linesOf returns the file (as sources name it) and the lines [first,
// next) of function fn, whose next function in the same file is next.
func linesOf(t *testing.T, fn, next any) (file string, first, end int) {
	t.Helper()
	at := func(f any) (string, int) {
		pc := reflect.ValueOf(f).Pointer()
		file, line := runtime.FuncForPC(pc).FileLine(pc)
		return lastTwo(file), line
	}
	file, first = at(fn)
	nextFile, end := at(next)
	if nextFile != file || end <= first {
		t.Fatalf("%s:%d is not followed by %s:%d", file, first, nextFile, end)
	}
	return file, first, end
}

// lastTwo keeps the last two elements of a path, as sources name files.
func lastTwo(path string) string {
	parts := strings.Split(path, "/")
	return strings.Join(parts[max(0, len(parts)-2):], "/")
}

// inLines reports whether source, a file:line, is in file at a line in
// [first, end).
func inLines(source, file string, first, end int) bool {
	f, l, ok := strings.Cut(source, ":")
	n, err := strconv.Atoi(l)
	return ok && err == nil && f == file && n >= first && n < end
}

// movingLog is a recovery that is not idempotent (sim's TestRecoveryCrashes
// has its twin inside the package, where every line is the laboratory's):
// it moves the log to a new file by removing the old one first, so a
// crash inside it loses the log.
func movingLog(env *Env) (any, error) {
	recs, err := readRecords(env.FS, "/log")
	if err != nil {
		return nil, err
	}
	if _, err := env.FS.Stat("/log"); err == nil {
		if err := env.FS.Remove("/log"); err != nil {
			return nil, err
		}
		if err := env.FS.SyncDir("/"); err != nil {
			return nil, err
		}
	}
	if len(recs) == 0 {
		return readRecords(env.FS, "/log.moved") // already moved by an earlier recovery
	}
	f, err := engine.Create(env.FS, "/log.moved")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteAt(frames(recs), 0); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	return recs, env.FS.SyncDir("/")
}

// culpritLog is a file log of length-prefixed records, each fsynced and
// acknowledged, recovered by recover.
func culpritLog(recover func(*Env) (any, error)) *Scenario {
	return &Scenario{
		Name:  "culprit-log",
		Model: models.Log(),
		Run: func(env *Env) error {
			f, err := env.FS.OpenFile("/log", os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			end := int64(0)
			for _, r := range []string{"one", "two"} {
				env.Invoke(models.LogAppend{Record: []byte(r)})
				b := frames([][]byte{[]byte(r)})
				if _, err := f.WriteAt(b, end); err != nil {
					return err
				}
				end += int64(len(b))
				if err := f.Sync(); err != nil {
					return err
				}
				env.DurableAll()
			}
			return nil
		},
		Recover: recover,
	}
}

// frames encodes records as length-prefixed frames.
func frames(recs [][]byte) []byte {
	var b []byte
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
		b = append(b, r...)
	}
	return b
}

// readRecords reads the records of a file of frames up to the first
// incomplete one; a missing file has none.
func readRecords(fsys engine.FS, name string) ([][]byte, error) {
	b, err := engine.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var recs [][]byte
	for off := 0; off+4 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n == 0 || off+4+n > len(b) {
			break
		}
		recs = append(recs, b[off+4:off+4+n])
		off += 4 + n
	}
	return recs, err
}

// TestCulpritInRecovery: a violation found by crashing the recovery names
// the recovery's source lines for the units of that crash, and the replay
// keeps the trace of the recovery that crashed, with its lines; the
// recovery of a plain state has its lines too.
func TestCulpritInRecovery(t *testing.T) {
	sc := culpritLog(movingLog)
	file, first, end := linesOf(t, movingLog, culpritLog)
	res, err := Explore(sc, Options{Fault: PowerFailure, RecoveryCrashes: true})
	if err != nil || len(res.Violations) == 0 {
		t.Fatalf("the moving recovery was not caught: %v", err)
	}
	v := res.Violations[0]
	id, err := ParseReplayID(v.ReplayID)
	if err != nil || id.RecoveryPoint < 0 {
		t.Fatalf("replay id %q: %v", v.ReplayID, err)
	}
	rp, err := RunReplay(sc, id)
	if err != nil || rp.Violation == nil {
		t.Fatalf("replay %s: %v %+v", v.ReplayID, err, rp)
	}
	units := append(append([]Unit(nil), rp.Violation.Lost...), rp.Violation.Kept...)
	if len(units) == 0 {
		t.Fatalf("replay %s: no units:\n%s", v.ReplayID, rp.Violation)
	}
	for _, u := range units {
		if !inLines(u.Source, file, first, end) {
			t.Errorf("unit %s: source %q, want a line of movingLog (%s:%d-%d)", u, u.Source, file, first, end-1)
		}
	}
	c := rp.Crashed
	if c == nil || len(c.Trace) == 0 || c.At == "" {
		t.Fatalf("replay %s keeps no trace of the recovery that crashed: %+v", v.ReplayID, c)
	}
	if len(c.Sources) == 0 || len(rp.RecoverySources) == 0 {
		t.Errorf("recoveries without source lines: crashed %v, last %v", c.Sources, rp.RecoverySources)
	}
	_, wFirst, wEnd := linesOf(t, culpritLog, frames)
	for _, src := range c.Sources {
		if inLines(src, file, wFirst, wEnd) || !strings.HasPrefix(src, file+":") {
			t.Errorf("crashed recovery's source %q is not the recovery's", src)
		}
	}
	var text strings.Builder
	if err := rp.Format(&text, 0, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "== The recovery that crashed") || !strings.Contains(text.String(), units[0].Source) {
		t.Errorf("the replay does not show the recovery that crashed with its lines:\n%s", text.String())
	}
}

// adapterLog is a workload whose storage calls all go through
// adaptertest, a user's adapter whose Create never syncs the directory.
func adapterLog(adapters ...string) *Scenario {
	return &Scenario{
		Name:     "adapter-log",
		Model:    models.Log(),
		Adapters: adapters,
		Run: func(env *Env) error {
			l, err := adaptertest.Create(env.FS, "/log")
			if err != nil {
				return err
			}
			defer l.Close()
			for _, r := range []string{"one", "two"} {
				env.Invoke(models.LogAppend{Record: []byte(r)})
				if err := l.Append([]byte(r)); err != nil {
					return err
				}
				if err := l.Sync(); err != nil {
					return err
				}
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *Env) (any, error) { return readRecords(env.FS, "/log") },
	}
}

// TestCulpritBehindAdapter: a replay names the adapter's lines by
// default, and the workload's lines that called into it when
// Scenario.Adapters names the adapter's package (or a tree above it).
func TestCulpritBehindAdapter(t *testing.T) {
	file, first, end := linesOf(t, adapterLog, TestCulpritBehindAdapter)
	sources := func(sc *Scenario) []string {
		t.Helper()
		res, err := Explore(sc, Options{Fault: PowerFailure, Strategy: Subsets})
		if err != nil || len(res.Violations) == 0 {
			t.Fatalf("%s not caught: %v", sc.Name, err)
		}
		id, err := ParseReplayID(res.Violations[0].ReplayID)
		if err != nil {
			t.Fatal(err)
		}
		rp, err := RunReplay(sc, id)
		if err != nil || rp.Violation == nil {
			t.Fatalf("replay %s: %v", id, err)
		}
		var out []string
		for _, u := range append(rp.Violation.Lost, rp.Violation.Kept...) {
			out = append(out, u.Source)
		}
		if len(out) == 0 {
			t.Fatalf("replay %s: no units", id)
		}
		return out
	}
	for _, src := range sources(adapterLog()) {
		if !strings.HasPrefix(src, "adaptertest/adaptertest.go:") {
			t.Errorf("without Adapters: source %q, want the adapter's line", src)
		}
	}
	for _, adapters := range [][]string{{"github.com/crashsim/crashsim/sim/internal/adaptertest"}, {"github.com/crashsim/crashsim/sim/internal/..."}} {
		for _, src := range sources(adapterLog(adapters...)) {
			if !inLines(src, file, first, end) {
				t.Errorf("Adapters %q: source %q, want the workload's call of the adapter (%s:%d-%d)", adapters, src, file, first, end-1)
			}
		}
	}
}

// markerThenLog creates a marker file, then the log, and syncs the
// directory of neither: recovery refuses a marker without its log. The
// failing state keeps the marker and loses the log.
func markerThenLog() *Scenario {
	return &Scenario{
		Name:  "marker-then-log",
		Model: models.Log(),
		Run: func(env *Env) error {
			m, err := env.FS.OpenFile("/marker", os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			m.Close()
			f, err := env.FS.OpenFile("/log", os.O_RDWR|os.O_CREATE, 0o644) // the culprit: its entry is never synced
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Sync()
		},
		Recover: func(env *Env) (any, error) {
			_, marker := env.FS.Stat("/marker")
			_, log := env.FS.Stat("/log")
			if marker == nil && log != nil {
				return nil, errors.New("a marker without its log")
			}
			return [][]byte(nil), nil
		},
	}
}

// TestCulpritNamespace: a violation that keeps one namespace change and
// loses a later one blames the earliest change lost, with the workload's
// line that made it, not the last one kept.
func TestCulpritNamespace(t *testing.T) {
	res, err := Explore(markerThenLog(), Options{Fault: PowerFailure, Strategy: Subsets})
	if err != nil || len(res.Violations) != 1 {
		t.Fatalf("want one violation: %v %+v", err, res)
	}
	v := res.Violations[0]
	if len(v.Kept) == 0 || v.Kept[0].Kind != "meta" || !strings.Contains(v.Kept[0].What, "/marker") {
		t.Fatalf("the state does not keep the marker:\n%s", v.String())
	}
	c := v.Culprit
	if c == nil || !c.Lost || c.Kind != "meta" || !strings.Contains(c.What, "/log") {
		t.Fatalf("culprit %+v, want the lost create of /log:\n%s", c, v.String())
	}
	file, first, end := linesOf(t, markerThenLog, TestCulpritNamespace)
	if !inLines(c.Source, file, first, end) {
		t.Errorf("culprit's source %q, want the workload's create of /log", c.Source)
	}
	if !strings.Contains(v.String(), "culprit:  lost create /log") {
		t.Errorf("the report does not name the culprit:\n%s", v.String())
	}
}

// twoFiles writes a record to each of two files and acknowledges it
// without syncing either: losing either file's write loses it, two
// causes at the one crash point after the acknowledgement.
func twoFiles() *Scenario {
	return &Scenario{
		Name:  "two-files",
		Model: models.Log(),
		Run: func(env *Env) error {
			var files []engine.File
			for _, name := range []string{"/a", "/b"} {
				f, err := env.FS.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := f.Sync(); err != nil {
					return err
				}
				files = append(files, f)
			}
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			env.Invoke(models.LogAppend{Record: []byte("r")})
			for _, f := range files {
				if _, err := f.WriteAt([]byte("r"), 0); err != nil {
					return err
				}
			}
			env.DurableAll()
			return nil
		},
		Recover: func(env *Env) (any, error) {
			var recs [][]byte
			a, errA := engine.ReadFile(env.FS, "/a")
			b, errB := engine.ReadFile(env.FS, "/b")
			if err := errors.Join(errA, errB); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			if string(a) == "r" && string(b) == "r" {
				recs = append(recs, a)
			}
			return recs, nil
		},
	}
}

// TestEveryCause: a crash point whose failing states have two causes
// reports both, each shrunk, once each however many states share it; a
// sharded run merges to the same.
func TestEveryCause(t *testing.T) {
	opts := Options{Fault: PowerFailure, Strategy: Subsets}
	res, err := Explore(twoFiles(), opts)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]int{}
	for _, v := range res.Violations {
		if v.Point != res.Violations[0].Point || v.Culprit == nil {
			t.Fatalf("violation at another point or without a culprit:\n%s", v.String())
		}
		paths[v.Culprit.Path]++
	}
	units := map[string]bool{}
	for _, v := range res.Violations {
		k := fmt.Sprint(v.Lost, v.Kept)
		if units[k] {
			t.Errorf("two violations of one cause: %s", k)
		}
		units[k] = true
	}
	if paths["/a"] == 0 || paths["/b"] == 0 {
		for _, v := range res.Violations {
			t.Log(v.String())
		}
		t.Fatalf("%d violations blaming %v, want causes in /a and in /b", len(res.Violations), paths)
	}
	if failing := res.Points[res.Violations[0].Point].Violations; failing <= len(res.Violations) {
		t.Errorf("the point counts %d failing states for %d violations: the test does not show grouping", failing, len(res.Violations))
	}
	var shards []*Result
	for i := range 2 {
		o := opts
		o.Shard = Shard{I: i, N: 2}
		r, err := Explore(twoFiles(), o)
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, r)
	}
	m, err := Merge(shards...)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Violations, res.Violations) {
		t.Errorf("merged shards: %d violations, the whole run %d", len(m.Violations), len(res.Violations))
	}
}

// barrierMisuse appends a record to /log after a barrier fails, as
// misuse says: "retry" syncs the file again at once, "rewrite" writes
// the record again first, "ignore" goes on as if the SyncDir of / had
// succeeded. Each acknowledges the record.
func barrierMisuse(misuse string) *Scenario {
	return &Scenario{
		Name:  "barrier-" + misuse,
		Model: models.Log(),
		Run: func(env *Env) error {
			rule := faultfs.Rule{When: faultfs.And(faultfs.OpKinds(faultfs.OpSync), faultfs.OnIndex(0)), Fault: faultfs.SyncFailure}
			if misuse == "ignore" {
				rule = faultfs.Rule{When: faultfs.And(faultfs.OpKinds(faultfs.OpSyncDir), faultfs.OnIndex(0)), Fault: faultfs.Error(syscall.EIO)}
			}
			env.Inject(rule)
			f, err := env.FS.OpenFile("/log", os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			_ = env.FS.SyncDir("/") // ignored when it fails: the misuse "ignore"
			env.Invoke(models.LogAppend{Record: []byte("r")})
			rec := frames([][]byte{[]byte("r")})
			if _, err := f.WriteAt(rec, 0); err != nil {
				return err
			}
			if err := f.Sync(); err != nil {
				if misuse == "rewrite" {
					if _, err := f.WriteAt(rec, 0); err != nil {
						return err
					}
				}
				if err := f.Sync(); err != nil { // the retry
					return err
				}
			}
			env.DurableAll() // the acknowledgement
			return nil
		},
		Recover: func(env *Env) (any, error) { return readRecords(env.FS, "/log") },
	}
}

// TestBarrierWarnings: a Sync retried after it failed and a barrier
// whose error was ignored are warned of, each naming the line that
// misused it; a Sync retried after the data was written again is not.
func TestBarrierWarnings(t *testing.T) {
	file, first, end := linesOf(t, barrierMisuse, TestBarrierWarnings)
	for _, c := range []struct{ misuse, kind string }{{"retry", "sync-retried"}, {"ignore", "error-ignored"}, {"rewrite", ""}} {
		res, err := Explore(barrierMisuse(c.misuse), Options{Fault: PowerFailure})
		if err != nil || res.RunError != "" {
			t.Fatalf("%s: %v %s", c.misuse, err, res.RunError)
		}
		if c.kind == "" {
			if len(res.Warnings) != 0 {
				t.Errorf("%s: warnings %v, want none", c.misuse, res.Warnings)
			}
			continue
		}
		if len(res.Warnings) != 1 || res.Warnings[0].Kind != c.kind {
			t.Errorf("%s: warnings %v, want one %s", c.misuse, res.Warnings, c.kind)
			continue
		}
		w := res.Warnings[0]
		if !inLines(w.FailedSource, file, first, end) || !inLines(w.ThenSource, file, first, end) || w.Then <= w.Failed {
			t.Errorf("%s: %s: want the workload's lines of the failed barrier and of what followed", c.misuse, w)
		}
	}
}
