package sqlitecrash

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

// BenchmarkExplore times one exploration of SQLite through the mount in
// each journal mode with synchronous=FULL under power failures, as
// TestSQLite explores them (issue 14 section 4), and reports the crash
// states judged per second (judged/s): the recovery runs that judged a
// state (Result.Recoveries; a state built twice is judged once), each by
// sqlite3 processes on a fresh mount of its crash image, over the wall
// time of the explorations, the workload's run included. explored/op is
// the states built (Result.Explored).
func BenchmarkExplore(b *testing.B) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		b.Skip("no sqlite3 command (Debian's sqlite3)")
	}
	disk := faultfs.New(faultfs.Options{})
	mnt, err := mount.Serve(func(int) engine.FS { return disk }, mount.Options{})
	mount.Require(b, err)
	mnt.Close()
	for _, journal := range []string{"WAL", "DELETE"} {
		name := "sqlite-" + strings.ToLower(journal) + "-full"
		b.Run(name, func(b *testing.B) {
			explored, judged := 0, 0
			for b.Loop() {
				res, err := sim.Explore(sqliteScenario(name, journal, "FULL", 2), sim.Options{Fault: sim.PowerFailure, MaxStates: 8})
				if err != nil {
					b.Fatal(err)
				}
				if res.RunError != "" {
					b.Fatal(res.RunError)
				}
				explored += res.Explored
				judged += res.Recoveries
			}
			b.ReportMetric(float64(explored)/float64(b.N), "explored/op")
			b.ReportMetric(float64(judged)/float64(b.N), "judged/op")
			b.ReportMetric(float64(judged)/b.Elapsed().Seconds(), "judged/s")
		})
	}
}
