package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/crashsim/crashsim/sim"
)

//go:embed report.html.tmpl
var pageSource string

// page is parsed once: the template is part of the program, and a mistake
// in it must fail every test, not one report at run time.
var page = template.Must(template.New("report").Parse(pageSource))

// maxMarks bounds the marks of one timeline. A long workload has tens of
// thousands of crash points; past this many, consecutive points share a
// mark (red if any of them failed), so the page stays small and a
// failing point stays visible.
const maxMarks = 400

// HTML writes one self-contained page (inline CSS and script, nothing
// fetched) with a summary of every result, a timeline of each result's
// crash points coloured by outcome, and each violation's problem, expected
// and observed state, kept and lost units, trace excerpt and replay command.
// Everything taken from the results is escaped by html/template.
func HTML(w io.Writer, results []*sim.Result) error {
	return html(w, results, nil)
}

// HTMLFile writes HTML's page to the file path and, for each violation
// of linearizability (sim.Violation.Linearization), porcupine's page of
// its history to a file beside it — path without ".html", then
// "-r<run>-v<violation>.porcupine.html" — which the violation on the
// page links by that relative name. It returns the files it wrote beside
// the page.
func HTMLFile(path string, results []*sim.Result) (written []string, err error) {
	base := strings.TrimSuffix(path, ".html")
	links := map[*sim.Violation]string{}
	for ri, r := range results {
		if r == nil {
			continue
		}
		for vi := range r.Violations {
			v := &r.Violations[vi]
			if v.Linearization == "" || vi >= maxViolationsShown {
				continue
			}
			name := fmt.Sprintf("%s-r%d-v%d.porcupine.html", base, ri, vi+1)
			if err := os.WriteFile(name, []byte(v.Linearization), 0o644); err != nil {
				return written, fmt.Errorf("reports: html: %w", err)
			}
			written = append(written, name)
			links[v] = filepath.Base(name)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return written, fmt.Errorf("reports: html: %w", err)
	}
	if err := html(f, results, links); err != nil {
		f.Close()
		return written, err
	}
	if err := f.Close(); err != nil {
		return written, fmt.Errorf("reports: html: %w", err)
	}
	return written, nil
}

// html writes the page; links names the file of each violation's
// porcupine page, if it has one.
func html(w io.Writer, results []*sim.Result, links map[*sim.Violation]string) error {
	var p pageView
	p.Correct, p.Bugs = tally(results)
	verdictOf := verdicts(results)
	for i, r := range results {
		if r == nil {
			continue
		}
		p.Results = append(p.Results, resultOf(r, verdictOf[i], fmt.Sprintf("r%d", len(p.Results)), links))
		p.Violations += len(r.Violations)
	}
	p.Counts = fmt.Sprintf("%d %s, %d %s", len(p.Results), plural(len(p.Results), "run", "runs"), p.Violations, plural(p.Violations, "violation", "violations"))
	for _, r := range ProfileRows(results) {
		p.Profiles = append(p.Profiles, profileRowView{Scenario: r.Scenario, Cells: r.Cells()})
	}
	if len(p.Profiles) > 0 {
		p.ProfileHeader = ProfileHeader()[1:]
	}
	if err := page.Execute(w, &p); err != nil {
		return fmt.Errorf("reports: html: %w", err)
	}
	return nil
}

// The views hold what the template shows, computed here so that the
// template has no logic beyond loops and conditions.
type pageView struct {
	Results    []resultView
	Violations int
	// Counts says how many runs and violations, in words.
	Counts string
	// Correct and Bugs judge scenarios, not runs: a correct scenario must
	// pass every run, a bug variant be caught by at least one (a missing
	// fsync is invisible to a process crash, so some of its runs pass).
	Correct, Bugs *scenarioTally
	// Profiles are the rows of the profile table (ProfileRows), under
	// ProfileHeader's profiles.
	Profiles      []profileRowView
	ProfileHeader []string
}

type profileRowView struct {
	Scenario string
	Cells    []string
}

// scenarioTally counts the scenarios of one kind and names those that did
// not do what their kind expects, and the bug variants only not seen by
// the shards on the page (Outcome.NotSeen), which the table does not call
// missed either. A nil tally is a kind with no scenario.
type scenarioTally struct {
	All, Good    int
	Bad, NotSeen []string
}

func tally(results []*sim.Result) (correct, bugs *scenarioTally) {
	for _, o := range Outcomes(results) {
		t := &correct
		if o.Buggy {
			t = &bugs
		}
		if *t == nil {
			*t = &scenarioTally{}
		}
		(*t).All++
		switch {
		case o.Good:
			(*t).Good++
		case o.NotSeen:
			(*t).NotSeen = append((*t).NotSeen, o.Scenario)
		default:
			(*t).Bad = append((*t).Bad, o.Scenario)
		}
	}
	return correct, bugs
}

type resultView struct {
	ID                     string
	Scenario, Fault, Strat string
	Shard                  string
	Seed                   uint64
	Granularity            int
	Buggy                  bool
	// Quiet is a pass: the runs a reader hunting problems may hide.
	Quiet                 bool
	Verdict, VerdictClass string
	CrashPoints           int
	States                string
	Unique, Recoveries    int
	// CrashDepth, Continuations and ContinuationStates say how far the
	// run went after its recoveries (docs/DESIGN.md F4).
	CrashDepth              int
	Continuations           int
	ContinuationStates      int
	Elapsed                 string
	Stopped, RunError       string
	Marks                   []markView
	PointsPerMark           int
	Violations              []violationView
	ViolationCount, Unshown int
	// Warnings are the barriers the workload misused (sim.Warning).
	Warnings []string
}

type markView struct {
	Bad bool
	// Deep says that the violation it links to needed more than one
	// crash: the program went on after a recovery.
	Deep   bool
	Height int
	Title  string
	// Target is the id of the first violation the mark covers, or empty.
	Target string
}

type violationView struct {
	ID                              string
	N                               int
	Point                           int
	Trace                           uint64
	At, Problem, Expected, Observed string
	Diff                            string
	Panic, RecoveryCrash, Replay    string
	Profiles                        string // on which profiles it reproduces
	Culprit                         string // the unit it blames, with its line
	Kept, Lost                      []string
	Excerpt                         []eventView
	HasExpectation                  bool
	// Linearization is the relative name of the file holding porcupine's
	// page of a violation of linearizability, if written (HTMLFile).
	Linearization string
	// Epochs are the program's lives the violation spans, when more than
	// one: each with where it ended — a crash, or a continuation that
	// could not go on — and, after the first, its trace excerpt.
	Epochs []epochView
}

// epochView is one life of the program in a violation's chain.
type epochView struct {
	N        int
	What     string // "the workload" or "the continuation after its recovery"
	End      string // how it ended: the crash point, or the continuation's failure
	Refused  bool   // it ended in a failure, not a crash
	Excerpt  []eventView
	Recovery string // what the recovery after it found: "" (went on), or the problem
}

type eventView struct {
	Text               string
	Barrier, Crash     bool
	KeptHere, LostHere bool
}

// maxViolationsShown bounds the violations written out per result: a
// broken variant can fail at every state, and the first ones show the
// cause as well as all of them.
const maxViolationsShown = 50

func resultOf(r *sim.Result, v, id string, links map[*sim.Violation]string) resultView {
	class := "good"
	switch {
	case v == VerdictError:
		class = "error"
	case !Good(v):
		class = "bad"
	}
	rv := resultView{
		ID: id, Scenario: r.Scenario, Fault: faultCell(r), Strat: strategyName(r),
		Shard: r.Shard, Seed: r.Seed, Granularity: r.Granularity, Buggy: r.Buggy,
		Verdict: v, VerdictClass: class, Quiet: v == VerdictPass,
		CrashPoints: r.CrashPoints, States: states(r.Explored, r.States, r.StatesExact),
		Unique: r.Unique, Recoveries: r.Recoveries, Elapsed: duration(r.Elapsed),
		CrashDepth: r.CrashDepth, Continuations: r.Continuations, ContinuationStates: r.ContinuationStates,
		Stopped: r.Stopped, RunError: r.RunError, ViolationCount: len(r.Violations),
	}
	for _, w := range r.Warnings {
		rv.Warnings = append(rv.Warnings, w.String())
	}
	// The first violation at each crash point is where its mark links.
	firstAt := map[int]string{}
	deepAt := map[int]bool{}
	for i := range r.Violations {
		viol := &r.Violations[i]
		vid := fmt.Sprintf("%s-v%d", id, i)
		deepAt[viol.Point] = deepAt[viol.Point] || viol.Epochs() > 1
		if i < maxViolationsShown {
			if _, ok := firstAt[viol.Point]; !ok {
				firstAt[viol.Point] = vid
			}
			vv := violationOf(viol, vid, i+1, r.ReplayCommand(viol))
			vv.Linearization = links[viol]
			rv.Violations = append(rv.Violations, vv)
		}
	}
	rv.Unshown = len(r.Violations) - len(rv.Violations)
	rv.Marks, rv.PointsPerMark = marksOf(r.Points, firstAt, deepAt)
	return rv
}

// marksOf groups the crash points into at most maxMarks marks; deepAt
// says at which points the violation needed more than one crash.
func marksOf(points []sim.Point, firstAt map[int]string, deepAt map[int]bool) ([]markView, int) {
	per := (len(points) + maxMarks - 1) / maxMarks
	if per < 1 {
		per = 1
	}
	marks := make([]markView, 0, (len(points)+per-1)/per)
	for start := 0; start < len(points); start += per {
		group := points[start:min(start+per, len(points))]
		var m markView
		var explored, viols int
		var total uint64
		exact := true
		for _, p := range group {
			explored += p.Explored
			total += p.States
			exact = exact && p.StatesExact
			viols += p.Violations
			if m.Target == "" {
				m.Target = firstAt[p.Index]
			}
			m.Deep = m.Deep || deepAt[p.Index]
		}
		m.Bad = viols > 0
		// A log scale: states per point range over orders of magnitude,
		// and a point with one state must still be visible.
		m.Height = min(10+int(6*math.Log2(1+float64(explored))), 44)
		first, last := group[0], group[len(group)-1]
		if len(group) == 1 {
			// At says where the crash strikes: "before #30 p1 drain".
			m.Title = fmt.Sprintf("crash point %d, %s: %s states explored, %d %s", first.Index, first.At, states(explored, total, exact), viols, plural(viols, "violation", "violations"))
		} else {
			m.Title = fmt.Sprintf("crash points %d–%d (#%d–#%d): %s states explored, %d %s", first.Index, last.Index, first.Trace, last.Trace, states(explored, total, exact), viols, plural(viols, "violation", "violations"))
		}
		if m.Deep {
			m.Title += ", shown after the program went on from its recovery and crashed again"
		}
		marks = append(marks, m)
	}
	return marks, per
}

// violationOf builds a violation's view. v.At says where the crash
// strikes — "after #12 …" for a process crash, "before #74 …" for a power
// failure, which strikes just before a barrier the excerpt then lacks.
func violationOf(v *sim.Violation, id string, n int, replay string) violationView {
	vv := violationView{
		ID: id, N: n, Point: v.Point, Trace: v.Trace, At: v.At,
		Problem: v.Problem, Expected: v.Expected, Observed: v.Observed, Diff: v.Diff,
		Panic: v.Panic, RecoveryCrash: v.RecoveryCrash, Profiles: v.ProfilesText(), Culprit: v.CulpritText(),
		Replay:         replay,
		HasExpectation: v.Expected != "" || v.Observed != "",
	}
	// A unit of a recovery that crashed indexes that recovery's trace,
	// which no excerpt shows: it marks no event.
	kept := map[uint64]bool{}
	lost := map[uint64]bool{}
	for _, u := range v.Kept {
		vv.Kept = append(vv.Kept, u.String())
		kept[u.Trace] = kept[u.Trace] || !u.Recovery
	}
	for _, u := range v.Lost {
		vv.Lost = append(vv.Lost, u.String())
		lost[u.Trace] = lost[u.Trace] || !u.Recovery
	}
	// The units are the last crash's: of the workload's trace only when
	// it is the only one.
	first := len(v.Chain) == 0
	crashShown := false
	for _, e := range v.Excerpt {
		vv.Excerpt = append(vv.Excerpt, eventView{
			Text: e.String(), Barrier: e.IsBarrier(), Crash: e.Index == v.Trace,
			KeptHere: first && kept[e.Index], LostHere: first && lost[e.Index],
		})
		crashShown = crashShown || e.Index == v.Trace
	}
	if len(vv.Excerpt) > 0 && !crashShown {
		vv.Excerpt = append(vv.Excerpt, eventView{Text: "crash " + v.At, Crash: true})
	}
	if v.Epochs() > 1 {
		vv.Epochs = epochsOf(v, kept, lost)
	}
	return vv
}

// epochsOf lays out the lives of the program a violation spans: the
// workload, up to its crash; each continuation after a recovery, up to
// its crash or its failure. The kept and lost units are the last crash's.
func epochsOf(v *sim.Violation, kept, lost map[uint64]bool) []epochView {
	eps := []epochView{{N: 1, What: "the workload", End: fmt.Sprintf("crash point %d, %s", v.Point, v.At)}}
	for i, c := range v.Chain {
		ep := epochView{N: c.Epoch, What: "the continuation after its recovery", End: fmt.Sprintf("crash point %d, %s", c.Point, c.At)}
		last := i == len(v.Chain)-1 && !v.Liveness
		crashShown := false
		for _, e := range c.Excerpt {
			ev := eventView{Text: e.String(), Barrier: e.IsBarrier(), Crash: e.Index == c.Trace}
			if last {
				ev.KeptHere, ev.LostHere = kept[e.Index], lost[e.Index]
			}
			ep.Excerpt = append(ep.Excerpt, ev)
			crashShown = crashShown || e.Index == c.Trace
		}
		if len(ep.Excerpt) > 0 && !crashShown {
			ep.Excerpt = append(ep.Excerpt, eventView{Text: "crash " + c.At, Crash: true})
		}
		eps = append(eps, ep)
	}
	if v.Liveness {
		eps = append(eps, epochView{N: v.Epochs(), What: "the continuation after its recovery", End: v.Problem, Refused: true})
	} else {
		eps[len(eps)-1].Recovery = v.Problem
	}
	return eps
}
