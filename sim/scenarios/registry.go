package scenarios

import (
	"sort"

	"github.com/crashsim/crashsim/sim"
)

// registry holds every built-in scenario, correct ones and their bug
// variants side by side.
var registry = map[string]func() *sim.Scenario{}

func register(fns ...func() *sim.Scenario) {
	for _, fn := range fns {
		name := fn().Name
		if _, dup := registry[name]; dup {
			panic("scenarios: duplicate name " + name)
		}
		registry[name] = fn
	}
}

// All returns a fresh copy of every built-in scenario, sorted by name.
func All() []*sim.Scenario {
	out := make([]*sim.Scenario, 0, len(registry))
	for _, fn := range registry {
		out = append(out, fn())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the scenario with the given name.
func Lookup(name string) (*sim.Scenario, bool) {
	fn, ok := registry[name]
	if !ok {
		return nil, false
	}
	return fn(), true
}
