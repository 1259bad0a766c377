package reports

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

func TestHTML(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.HasSuffix(strings.TrimSpace(out), "</html>") {
		t.Errorf("not one HTML document: starts %q", out[:min(40, len(out))])
	}
	checkBalanced(t, out, "html", "head", "body", "section", "details", "table", "script", "style", "ul")
	// html/template writes ZgotmplZ where it refused a value as unsafe in
	// its context (a style or URL built wrongly): the page would be broken.
	if strings.Contains(out, "ZgotmplZ") {
		t.Error("html/template rejected a value: ZgotmplZ in the page")
	}
	// Self-contained: nothing is fetched.
	for _, bad := range []string{"http://", "https://", "<link", "src="} {
		if strings.Contains(out, bad) {
			t.Errorf("page references something outside itself: %q", bad)
		}
	}
	for _, want := range []string{
		`id="r2"`, // a section per result
		`<span class="verdict good">caught</span>`, // verdicts
		`<span class="verdict good">not seen</span>`,
		`<span class="verdict bad">FAIL</span>`,
		`<span class="verdict error">ERROR</span>`,
		`256/≥1.1e12`, // saturated count
		`Stopped early (state budget)`,
		`append: no space left`,
		`href="#r2-v0"`, // the red mark links to the violation
		`<details class="violation" id="r2-v0" open>`,
		`acknowledged operation 3 lost`,
		`<pre>[a b c]</pre>`,
		`<tr class="barrier crash ">`, // the sync is a barrier and the crash point
		`crash point 2, before #41 p1 sync /db/wal/000001.log — acknowledged`,
		`<tr class="lost">`, // the write whose data was lost
		`<tr class="kept ">`,
		`crashsim replay wal-bug-no-sync:power:subsets:7:0:zero:2:0/0/1`,
		`at wal/segment.go:120`,
		`power (posix) / subsets`,
		`<p class="profiles">breaks on posix, ext4-writeback and xfs; not on ext4-ordered or btrfs</p>`,
		`<tr><td>wal-bug-no-sync</td><td class="breaks">breaks</td><td class="breaks">breaks</td><td class="breaks">breaks</td><td class="holds">-</td><td class="holds">-</td></tr>`,
		`title="crash point 2, before #30 p1 drain: 4/4 states explored, 1 violation"`,
		// Scenarios are judged as a whole: a bug variant caught by one run
		// of two is caught; an error spoils a scenario.
		`Correct scenarios: 1 of 3 passed every run — <b class="note">failed: vec, shm</b>.`,
		`Bug variants (<span class="tag">-bug-</span> in the name): 1 of 1 caught by at least one run;`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// The place of a crash is said once: At already names the operation.
	for _, doubled := range []string{"#41 before #41", "before before", "#30 before #30", "at #30 before"} {
		if strings.Contains(out, doubled) {
			t.Errorf("page says %q", doubled)
		}
	}
	if n := strings.Count(out, `class="mark`); n != 4*5 {
		t.Errorf("%d timeline marks, want 20 (4 results with 5 points)", n)
	}
}

// TestHTMLEscapes puts markup in every string a result carries: none of it
// may come out as markup.
func TestHTMLEscapes(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	r := fixture()[2]
	r.Scenario = evil
	r.RunError = ""
	r.Violations[0].Problem = evil
	r.Violations[0].Observed = evil
	r.Violations[0].ReplayID = `x"><img onerror=alert(1)>`
	r.Violations[0].Excerpt[0].Path = evil
	r.Points[0].At = `"><b>`
	var b bytes.Buffer
	if err := HTML(&b, []*sim.Result{r}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, "<script>"); n != 1 { // ours only
		t.Errorf("%d <script> tags, want 1 (the page's own): input came out as markup", n)
	}
	for _, bad := range []string{"<img", `"><b>`} {
		if strings.Contains(out, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("scenario name not escaped as text")
	}
}

// TestHTMLCrashOutsideExcerpt: a power failure strikes before a barrier
// the excerpt may end short of; the crash point must still be marked.
func TestHTMLCrashOutsideExcerpt(t *testing.T) {
	r := fixture()[2]
	r.Violations = r.Violations[:1]
	r.Violations[0].Excerpt = r.Violations[0].Excerpt[:3]
	var b bytes.Buffer
	if err := HTML(&b, []*sim.Result{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `<tr class="crash "><td class="gutter">crash →</td><td>crash before #41 p1 sync /db/wal/000001.log</td></tr>`) {
		t.Errorf("crash point not marked after the excerpt:\n%s", b.String())
	}
}

// TestHTMLShardNotSeen: a page of one shard of a run, in which a bug
// variant caught nothing, does not call it missed in the summary: the
// table says "not seen", and the other shards judged the rest of its
// states.
func TestHTMLShardNotSeen(t *testing.T) {
	r := fixture()[3] // wal-bug-no-sync power/keep-all: no violation
	r.Shard = "1/4"
	var page, table bytes.Buffer
	if err := HTML(&page, []*sim.Result{r}); err != nil {
		t.Fatal(err)
	}
	if err := Table(&table, []*sim.Result{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), VerdictNotSeen) {
		t.Errorf("the table does not say %q:\n%s", VerdictNotSeen, table.String())
	}
	out := page.String()
	if strings.Contains(out, "missed") || strings.Contains(out, VerdictMissed) {
		t.Errorf("the page of a shard calls the variant missed")
	}
	if want := "0 of 1 caught by at least one run — not seen: wal-bug-no-sync (these runs are shards: the other shards judged the rest of the states)"; !strings.Contains(out, want) {
		t.Errorf("page lacks %q", want)
	}
	// The whole run that caught nothing missed it.
	r.Shard = "all"
	page.Reset()
	if err := HTML(&page, []*sim.Result{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), `missed: wal-bug-no-sync`) {
		t.Errorf("the page of a whole run does not call the variant missed")
	}
}

func TestHTMLManyPoints(t *testing.T) {
	r := fixture()[0]
	r.Points = nil
	for i := range 10_000 {
		p := sim.Point{Index: i, Trace: uint64(i), States: 1, StatesExact: true, Explored: 1}
		if i == 7777 {
			p.Violations = 1
		}
		r.Points = append(r.Points, p)
	}
	var b bytes.Buffer
	if err := HTML(&b, []*sim.Result{r}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, `class="mark`); n > maxMarks {
		t.Errorf("%d marks for 10000 points, want at most %d", n, maxMarks)
	}
	if !strings.Contains(out, "25 per mark") || strings.Count(out, `class="mark bad"`) != 1 {
		t.Errorf("bucketed timeline lost the failing point or its legend")
	}
	if !strings.Contains(out, "crash points 7775–7799") {
		t.Error("bucket tooltip missing")
	}
}

// checkBalanced counts opening and closing tags: enough to catch a
// template edit that leaves an element open, without an HTML parser.
func checkBalanced(t *testing.T, page string, tags ...string) {
	t.Helper()
	for _, tag := range tags {
		open := strings.Count(page, "<"+tag+">") + strings.Count(page, "<"+tag+" ")
		closed := strings.Count(page, "</"+tag+">")
		if open != closed || open == 0 {
			t.Errorf("<%s>: %d opened, %d closed", tag, open, closed)
		}
	}
}

func ExampleVerdict() {
	for _, r := range fixture() {
		fmt.Println(r.Scenario, r.FaultName, r.StrategyName, Verdict(r))
	}
	// Output:
	// wal process keep-all pass
	// wal power subsets pass
	// wal-bug-no-sync power subsets caught
	// wal-bug-no-sync power keep-all not seen
	// vec power drop-all FAIL
	// shm process keep-all ERROR
}
