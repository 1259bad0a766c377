package scenarios_test

import (
	"fmt"
	"log"

	"github.com/crashsim/crashsim/sim"
	"github.com/crashsim/crashsim/sim/scenarios"
)

// The package doc's example: every built-in scenario explored under power
// failure, within a budget; then one scenario by name.
func Example() {
	failed := 0
	for _, sc := range scenarios.All() {
		if !sc.Applies(sim.PowerFailure) {
			continue
		}
		res, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure, Budget: sim.Budget{States: 100}})
		if err != nil {
			log.Fatal(err)
		}
		if !sc.Buggy() && !res.OK() {
			fmt.Println(sc.Name, "failed")
			failed++
		}
	}
	fmt.Println("correct scenarios that failed:", failed)
	sc, ok := scenarios.Lookup("pmem-log")
	fmt.Println(sc.Name, ok, sc.Buggy())
	// Output:
	// correct scenarios that failed: 0
	// pmem-log true false
}
