package sim

// WorkloadTrace runs sc's workload under schedule i of opts, unexplored
// but recorded, and returns its whole trace: what tests of determinism
// compare run against run.
func WorkloadTrace(sc *Scenario, opts Options, i int) ([]Event, error) {
	x, err := newExplorer(sc, opts)
	if err != nil {
		return nil, err
	}
	x.replay = &replayTarget{id: ReplayID{Point: -1, Schedule: i}}
	x.run()
	return x.m.full, nil
}

// ExploreTraces is Explore that also returns every schedule's whole
// trace.
func ExploreTraces(sc *Scenario, opts Options) (*Result, [][]Event, error) {
	x, err := newExplorer(sc, opts)
	if err != nil {
		return nil, nil, err
	}
	x.traces = [][]Event{}
	x.run()
	return x.res, x.traces, nil
}
