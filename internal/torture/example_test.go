package torture_test

import (
	"fmt"
	"os"
	"time"

	"github.com/crashsim/crashsim/internal/torture"
)

// ExampleRun is the main of a binary that runs the torture, as crashsim
// torture does with its flags. It has no output to check: run, it would
// torture the machine for ten minutes.
func ExampleRun() {
	torture.ChildMain() // first thing in main
	rep, err := torture.Run(torture.Options{Seed: 1, Time: 10 * time.Minute, Out: "out/torture", Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if rep.Failed() {
		for _, a := range rep.Anomalies {
			fmt.Println(a.Replay)
		}
		os.Exit(1)
	}
}
