package models

import (
	"fmt"
	"reflect"
)

// Model is a sequential specification: what a storage API does when its
// operations run one at a time. It has the shape of porcupine.Model so that
// one model serves both checks of this package.
//
// Every function must be pure: Apply must not modify the state it is given
// but return a new one, because the checkers keep the states of several
// prefixes at once.
type Model struct {
	// Name names the model in reports.
	Name string
	// Init returns the state before any operation.
	Init func() any
	// Apply runs input on state and returns the next state and the output
	// the specification gives.
	Apply func(state, input any) (next, output any)
	// Equal reports whether two states are equal. Nil means
	// reflect.DeepEqual.
	Equal func(a, b any) bool
	// EqualOutput reports whether two outputs are equal. Nil means
	// reflect.DeepEqual.
	EqualOutput func(a, b any) bool
	// Diff, if set, says in one line where state got differs from state
	// want, for a report whose descriptions are cut short.
	Diff func(want, got any) string
	// DescribeInput and DescribeState render an input and a state for a
	// report. Nil means fmt's %v.
	DescribeInput func(input any) string
	DescribeState func(state any) string
}

func (m Model) equal(a, b any) bool {
	if m.Equal != nil {
		return m.Equal(a, b)
	}
	return reflect.DeepEqual(a, b)
}

func (m Model) equalOutput(a, b any) bool {
	if m.EqualOutput != nil {
		return m.EqualOutput(a, b)
	}
	return reflect.DeepEqual(a, b)
}

func (m Model) describeInput(in any) string {
	if m.DescribeInput != nil {
		return m.DescribeInput(in)
	}
	return fmt.Sprintf("%v", in)
}

func (m Model) describeState(s any) string {
	if m.DescribeState != nil {
		return m.DescribeState(s)
	}
	return fmt.Sprintf("%v", s)
}

// Run applies inputs in order from the initial state and returns the final
// state and every output.
func (m Model) Run(inputs ...any) (state any, outputs []any) {
	state = m.Init()
	for _, in := range inputs {
		var out any
		state, out = m.Apply(state, in)
		outputs = append(outputs, out)
	}
	return state, outputs
}
