package torture

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure a run of the torture.
type Options struct {
	// Seed drives every choice: kill moments, workloads' data, sweeps'
	// samples.
	Seed uint64
	// Time bounds a full run: the sweeps get a third of it at most, the
	// full-disk runs a sixth, the kill cycles the rest. A sweep that runs
	// out of its share says where it stopped.
	Time time.Duration
	// Short is the version CI runs: Cycles kill cycles per workload and
	// medium, the small sweep of each format (every bit of the headers,
	// every byte of the rest), one full-disk run of each workload; Time
	// is ignored.
	Short bool
	// Cycles is the number of kill cycles per case of a short run
	// (default 24).
	Cycles int
	// Out is where the run writes report.json, report.md and anomalies/.
	Out string
	// Work is where the disk media keep their files (default Out/work);
	// it is removed at the end.
	Work string
	// Only limits the run to some phases: "kill", "sweep", "full-disk".
	Only []string
	// Command is recorded in the report as what produced it.
	Command string
	// Log, if not nil, receives a line per phase and per anomaly.
	Log io.Writer
}

// Phases of a run.
var Phases = []string{"sweep", "full-disk", "kill"}

// torture is one run.
type torture struct {
	opts  Options
	rep   *Report
	err   error          // the harness's own failure, which ends the run
	saved map[string]int // anomalies by phase, case and class
}

// Run runs the torture and returns its report, written also to
// opts.Out. An error is the harness's own failure (it could not start a
// child process, say), never an anomaly of the engine: those are in the
// report (Report.Failed).
func Run(opts Options) (*Report, error) {
	if opts.Out == "" {
		return nil, errors.New("torture: no output directory")
	}
	if opts.Cycles == 0 {
		opts.Cycles = 24
	}
	for _, p := range opts.Only {
		if !slices.Contains(Phases, p) {
			return nil, fmt.Errorf("torture: unknown phase %q (want one of %s)", p, strings.Join(Phases, ", "))
		}
	}
	if !opts.Short && opts.Time <= 0 {
		return nil, errors.New("torture: a full run needs a time budget")
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, fmt.Errorf("torture: %w", err)
	}
	if opts.Work == "" {
		opts.Work = filepath.Join(opts.Out, "work")
	}
	if err := os.RemoveAll(filepath.Join(opts.Out, "anomalies")); err != nil {
		return nil, fmt.Errorf("torture: %w", err)
	}
	t := &torture{opts: opts, saved: map[string]int{}, rep: &Report{Command: opts.Command, Seed: opts.Seed, Short: opts.Short, Machine: machine()}}
	if !opts.Short {
		t.rep.Time = opts.Time
	}
	start := time.Now()
	deadline := start.Add(opts.Time)
	defer os.RemoveAll(opts.Work)
	if t.runs("sweep") {
		t.sweeps(start, opts.Time/3)
	}
	if t.runs("full-disk") && t.err == nil {
		t.fullDisk(time.Now().Add(opts.Time / 6))
	}
	if t.runs("kill") && t.err == nil {
		t.kills(deadline)
	}
	t.rep.Elapsed = time.Since(start).Round(time.Millisecond)
	if err := t.write(); err != nil && t.err == nil {
		t.err = err
	}
	return t.rep, t.err
}

func (t *torture) runs(phase string) bool {
	return len(t.opts.Only) == 0 || slices.Contains(t.opts.Only, phase)
}

// kills runs the kill cycles of every workload on every medium, round
// robin, until deadline (a full run) or Cycles each (a short one).
func (t *torture) kills(deadline time.Time) {
	ms, skipped, err := media(t.opts.Work)
	if err != nil {
		t.fatal(err)
		return
	}
	t.rep.Skipped = append(t.rep.Skipped, skipped...)
	var cases []*killCase
	for _, m := range ms {
		if m.Name == mediumShm {
			defer os.RemoveAll(m.Dir)
		}
		for _, w := range []string{"wal", "pool"} {
			if w == "wal" && m.Name == mediumPMem {
				continue // the WAL maps nothing
			}
			c := &killCase{workload: w, medium: m, dir: filepath.Join(m.Dir, w)}
			if err := os.MkdirAll(c.dir, 0o755); err != nil {
				t.fatal(err)
				return
			}
			t.rep.Kill = append(t.rep.Kill, KillFigures{Case: c.name(), FSType: m.FSType})
			cases = append(cases, c)
		}
	}
	for i, c := range cases {
		c.fig = &t.rep.Kill[i]
	}
	t.logf("kill -9 cycles: %d cases", len(cases))
	for cycle := 0; t.err == nil; cycle++ {
		if t.opts.Short && cycle >= t.opts.Cycles || !t.opts.Short && cycle > 0 && time.Now().After(deadline) {
			break
		}
		for _, c := range cases {
			t.killCycle(c, cycle)
		}
	}
	for _, k := range t.rep.Kill {
		t.logf("  %s on %s: %d cycles, %d operations acknowledged, %d anomalies", k.Case, k.FSType, k.Cycles, k.Acked, total(k.Anomalies))
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// savedPerClass bounds the anomalies saved, with their files, per kind:
// phase, case, class and the gist of the detail (its first line without
// numbers); the report counts the others (Report.More).
const savedPerClass = 3

// gist is a detail's first line with its numbers (offsets, counts, ids,
// hexadecimal names) made "#", cut to 100 bytes: what tells anomalies of
// a class apart.
func gist(detail string) string {
	first, _, _ := strings.Cut(detail, "\n")
	isHex := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
	var b strings.Builder
	for i := 0; i < len(first); {
		j := i
		digit := false
		for j < len(first) && isHex(first[j]) {
			digit = digit || first[j] <= '9'
			j++
		}
		switch {
		case j > i && digit:
			b.WriteByte('#')
			i = j
		case j > i:
			b.WriteString(first[i:j])
			i = j
		default:
			b.WriteByte(first[i])
			i++
		}
	}
	s := b.String()
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}

// anomaly records a, counting it in fig's Anomalies (kill and full-disk
// figures), and logs it; beyond savedPerClass of its kind it is only
// counted.
func (t *torture) anomaly(fig any, a Anomaly, files func(image string) error) {
	var m *map[string]int
	switch f := fig.(type) {
	case *KillFigures:
		m = &f.Anomalies
	case *FullDiskFigures:
		m = &f.Anomalies
	}
	if m != nil {
		if *m == nil {
			*m = map[string]int{}
		}
		(*m)[a.Class]++
	}
	kind := a.Phase + " " + a.Case + ": " + a.Class + ": " + gist(a.Detail)
	if t.saved[kind]++; t.saved[kind] > savedPerClass {
		if t.rep.More == nil {
			t.rep.More, t.rep.MoreByClass = map[string]int{}, map[string]int{}
		}
		t.rep.More[kind]++
		t.rep.MoreByClass[a.Class]++
		return
	}
	a = t.rep.saveAnomaly(t.opts.Out, a, files)
	first, _, _ := strings.Cut(a.Detail, "\n")
	t.logf("ANOMALY #%d %s %s: %s: %s\n  reproduce: %s", a.ID, a.Phase, a.Case, a.Class, first, a.Replay)
	if t.saved[kind] == savedPerClass {
		t.logf("  (more anomalies of this kind are counted, not saved)")
	}
}

func (t *torture) fatal(err error) {
	if t.err == nil {
		t.err = err
		t.logf("torture: %v", err)
	}
}

func (t *torture) logf(format string, args ...any) {
	if t.opts.Log != nil {
		fmt.Fprintf(t.opts.Log, format+"\n", args...)
	}
}

// write writes report.json and report.md to Out.
func (t *torture) write() error {
	f, err := os.Create(filepath.Join(t.opts.Out, "report.json"))
	if err != nil {
		return err
	}
	err = t.rep.WriteJSON(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	var b strings.Builder
	t.rep.WriteMarkdown(&b)
	return os.WriteFile(filepath.Join(t.opts.Out, "report.md"), []byte(b.String()), 0o644)
}

// machine describes where the run ran.
func machine() string {
	s := fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		s += ", Linux " + unix.ByteSliceToString(u.Release[:])
	}
	return s
}
