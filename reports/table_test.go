package reports

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	header := ""
	for _, l := range lines {
		if strings.Contains(l, "scenario") {
			header = l
			break
		}
	}
	for _, col := range tableHeader {
		if !strings.Contains(header, col) {
			t.Errorf("header lacks %q: %q", col, header)
		}
	}
	// One row per result; the row is found by the strategy and verdict it
	// must carry.
	for _, want := range [][]string{
		{"wal ", "process", "keep-all", "5/5", "pass"},
		{"subsets", "256/≥1.1e12", "pass*"},
		{"wal-bug-no-sync", "power (posix)", "subsets", "20/20", " 2 ", "caught"},
		{"keep-all", "not seen"},              // another run caught it: no failure
		{"vec", "power ", "drop-all", "FAIL"}, // no profile: a result written before them
		{"shm", "ERROR"},
	} {
		if !anyLineHasAll(lines, want) {
			t.Errorf("no row with %q in\n%s", want, out)
		}
	}
	for _, want := range []string{
		"* stopped early (state budget: 1 run)",
		"run error: shm (process/keep-all, seed 0): append: no space left",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The scenario is written once per group: "wal" heads one row only.
	if n := countLinesWithPrefix(lines, "│ wal "); n != 1 {
		t.Errorf("scenario wal written on %d rows, want 1:\n%s", n, out)
	}
}

func TestTableShardAndNil(t *testing.T) {
	r := fixture()[0]
	r2 := *r
	r.Shard, r2.Shard = "0/2", "1/2"
	var b bytes.Buffer
	if err := Table(&b, []*sim.Result{r, nil, &r2}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"keep-all [0/2]", "keep-all [1/2]"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestTableEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "verdict") {
		t.Errorf("empty table has no header:\n%s", b.String())
	}
}

func TestViolations(t *testing.T) {
	results := fixture()
	var b bytes.Buffer
	if err := Violations(&b, results, 1); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"== wal-bug-no-sync (power/subsets, posix, seed 7): violation 1 of 2",
		"problem:  acknowledged operation 3 lost",
		"profiles: breaks on posix, ext4-writeback and xfs; not on ext4-ordered or btrfs",
		"expected: [a b c]",
		"lost:     /db/wal/000001.log [4096,8192) (0 of 1 changes kept; first lost by #39) at wal/segment.go:120",
		"replay:   crashsim replay wal-bug-no-sync:power:subsets:7:0:zero:2:0/0/1",
		"… and 1 more violation of wal-bug-no-sync not shown",
		"== vec (power/drop-all, seed 0): violation 1 of 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("violations lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "violation 2 of 2") {
		t.Errorf("max 1 per result, but the second was shown:\n%s", out)
	}

	b.Reset()
	if err := Violations(&b, results, -1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "violation 2 of 2") || strings.Contains(b.String(), "not shown") {
		t.Errorf("max -1 must show all:\n%s", b.String())
	}
	b.Reset()
	if err := Violations(&b, results, 0); err != nil || b.Len() != 0 {
		t.Errorf("max 0 must show none: %v %q", err, b.String())
	}
}

// TestProfiles: one row per scenario whose violations were judged on the
// profiles, saying on which each reproduces; a result written before
// profiles has no row, and no judged violation writes nothing.
func TestProfiles(t *testing.T) {
	results := fixture()
	// A second run of the bug variant whose violation breaks everywhere:
	// then on ext4-ordered and btrfs only one of its three does.
	more := *results[2]
	v := more.Violations[0]
	v.BreaksOn, v.NotOn = []string{"posix", "ext4-writeback", "xfs", "ext4-ordered", "btrfs"}, []string{}
	more.Violations = []sim.Violation{v}
	results = append(results, &more)
	var b bytes.Buffer
	if err := Profiles(&b, results); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	for _, want := range [][]string{
		{"scenario", "posix", "ext4-writeback", "xfs", "ext4-ordered", "btrfs"},
		{"wal-bug-no-sync", "breaks", "breaks", "breaks", "1 of 3", "1 of 3"},
	} {
		if !anyLineHasAll(lines, want) {
			t.Errorf("no line with %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "vec") {
		t.Errorf("a result written before profiles has a row:\n%s", out)
	}
	b.Reset()
	if err := Profiles(&b, fixture()[4:]); err != nil || b.Len() != 0 {
		t.Errorf("no judged violation: %v, %q; want nothing", err, b.String())
	}
	rows := ProfileRows(fixture())
	if len(rows) != 1 || rows[0].Judged != 2 || !slices.Equal(rows[0].Cells(), []string{"breaks", "breaks", "breaks", "-", "-"}) {
		t.Errorf("ProfileRows: %+v", rows)
	}
}

func anyLineHasAll(lines []string, subs []string) bool {
	for _, l := range lines {
		ok := true
		for _, s := range subs {
			if !strings.Contains(l, s) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func countLinesWithPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
