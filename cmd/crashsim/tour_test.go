package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestTour(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"tour"}, &out, &errb); code != exitOK {
		t.Fatalf("crashsim tour: exit %d\n%s%s", code, out.String(), errb.String())
	}
	got := out.String()
	for _, want := range []string{"mapped-file", "refused: ErrLocked", "ok, data kept"} {
		if !strings.Contains(got, want) {
			t.Errorf("tour output lacks %q:\n%s", want, got)
		}
	}
}

// TestGoldenTour pins the tour's help and mistakes; its output depends on
// the machine's media and speed, so TestTour checks it by its words.
func TestGoldenTour(t *testing.T) {
	goldenHelp(t, "tour")
	goldenErrors(t, "tour",
		[]string{"tour", "extra"},
		[]string{"tour", "--bogus"},
	)
}

// TestReplaceStates pins what the simulated file system says about the three
// ways of updating a file: the right one survives every crash, each wrong
// one has states that lose or break the update.
func TestReplaceStates(t *testing.T) {
	for _, c := range []struct {
		syncTemp, syncDir  bool
		wantV1, wantBroken bool
	}{
		{true, true, false, false},
		{false, true, false, true},
		{true, false, true, false},
	} {
		counts, total, err := replaceStates(c.syncTemp, c.syncDir)
		if err != nil {
			t.Fatal(err)
		}
		if counts["v2"] == 0 || total != counts["v1"]+counts["v2"]+counts["broken"] {
			t.Errorf("sync temp %v, sync dir %v: counts %v of %d", c.syncTemp, c.syncDir, counts, total)
		}
		if (counts["v1"] > 0) != c.wantV1 || (counts["broken"] > 0) != c.wantBroken {
			t.Errorf("sync temp %v, sync dir %v: counts %v, want old %v broken %v", c.syncTemp, c.syncDir, counts, c.wantV1, c.wantBroken)
		}
	}
}
