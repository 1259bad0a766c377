package sim

// TB is the part of testing.TB that Check uses; *testing.T, *testing.B and
// *rapid.T all have it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Check explores sc under opts from a test and fails the test with a
// readable report of every violation: the go test entry point of the
// laboratory. It composes with rapid: build the scenario's workload from a
// rapid-generated sequence inside rapid.Check, and rapid shrinks a failing
// sequence to a minimal one.
//
//	func TestLogSurvivesPowerFailure(t *testing.T) {
//		sim.Check(t, scenarios.PMemLog(), sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets})
//	}
func Check(t TB, sc *Scenario, opts Options) *Result {
	t.Helper()
	res, err := Explore(sc, opts)
	if err != nil {
		t.Fatalf("sim.Check(%s): %v", sc.Name, err)
		return nil
	}
	if res.RunError != "" {
		t.Errorf("%s: the workload failed: %s", sc.Name, res.RunError)
	}
	for i := range res.Violations {
		v := &res.Violations[i]
		t.Errorf("%s under a %v crash (%v): violation\n%s", sc.Name, res.Fault, res.Strategy, v.WithReplay("crashsim replay "+v.ReplayID))
	}
	return res
}
