package boltcrash

import (
	"testing"

	"github.com/crashsim/crashsim/sim"
)

// BenchmarkExplore times one exploration of bbolt through the mount, the
// configurations of TestBolt whose database exists before the first
// acknowledged transaction (issue 14 section 4), and reports the crash
// states judged per second (judged/s): the recovery runs that judged a
// state (Result.Recoveries; a state built twice is judged once), each a
// child process on a fresh mount of its crash image, over the wall time
// of the explorations, the workload's run included. explored/op is the
// states built (Result.Explored).
func BenchmarkExplore(b *testing.B) {
	RequireMountable(b)
	for _, c := range []struct {
		name  string
		fault sim.Fault
	}{
		{"power-failure", sim.PowerFailure},
		{"process-crash", sim.ProcessCrash},
	} {
		b.Run(c.name, func(b *testing.B) {
			explored, judged := 0, 0
			for b.Loop() {
				res, err := sim.Explore(Scenario("bolt-put", 2, true), sim.Options{Fault: c.fault, MaxStates: 16})
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
