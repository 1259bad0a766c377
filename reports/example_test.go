package reports_test

import (
	"bytes"
	"fmt"
	"log"
	"strings"

	"github.com/crashsim/crashsim/reports"
	"github.com/crashsim/crashsim/sim"
	"github.com/crashsim/crashsim/sim/scenarios"
)

// The package doc's example: two runs rendered as a table, violation
// details, JSON and HTML; the JSON read back.
func Example() {
	w, f, page := new(bytes.Buffer), new(bytes.Buffer), new(bytes.Buffer) // a terminal, a file, a page

	var results []*sim.Result
	for _, name := range []string{"pmem-log", "pmem-log-bug-count-first"} {
		sc, _ := scenarios.Lookup(name)
		r, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure})
		if err != nil {
			log.Fatal(err)
		}
		results = append(results, r)
	}
	reports.Table(w, results)         // one row per result
	reports.Violations(w, results, 3) // details, 3 per result at most
	reports.Profiles(w, results)      // where the violations reproduce
	reports.JSON(f, results)          // for CI, and for ReadJSON
	reports.HTML(page, results)       // one page, no network

	saved, err := reports.ReadJSON(f)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range saved {
		fmt.Println(r.Scenario, reports.Verdict(r))
	}
	fmt.Println(strings.HasPrefix(page.String(), "<!DOCTYPE html>"))
	// Output:
	// pmem-log pass
	// pmem-log-bug-count-first caught
	// true
}
