package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// TestHTMLFileLinksPorcupine: a violation of linearizability gets
// porcupine's page in a file beside the report, which the report links.
func TestHTMLFileLinksPorcupine(t *testing.T) {
	h := models.NewHistory()
	h.Return(h.Call(0, models.RegisterWrite{Value: 5}), nil)
	h.Return(h.Call(1, models.RegisterRead{}), uint64(7))
	lv := models.CheckLinearizable(models.Register(), h, 0)
	var vis bytes.Buffer
	if err := lv.Visualize(&vis); err != nil {
		t.Fatal(err)
	}
	results := fixture()
	r := results[0]
	r.Violations = append(r.Violations, sim.Violation{
		ReplayID: "pair-bug-torn-read@1:power:posix:drop-all:1+s3:0:zero:2:0//", Point: 1, At: "at the end of the workload",
		Problem: "not linearizable, crash or not", Linearization: vis.String(),
	})
	n := len(r.Violations)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	written, err := HTMLFile(page, results)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "report-r0-v"+strconv.Itoa(n)+".porcupine.html")
	if len(written) != 1 || written[0] != want {
		t.Fatalf("wrote %v beside the page, want [%s]", written, want)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, vis.Bytes()) || !strings.Contains(string(b), "write(5)") {
		t.Errorf("porcupine's page not written as given")
	}
	out, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if link := `href="report-r0-v` + strconv.Itoa(n) + `.porcupine.html"`; !strings.Contains(string(out), link) {
		t.Errorf("report lacks the link %s", link)
	}
	// The page alone (HTML) has no file to link.
	var alone bytes.Buffer
	if err := HTML(&alone, results); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(alone.String(), "porcupine.html") {
		t.Errorf("HTML links a page it did not write")
	}
}
