package models

import "fmt"

// Counter inputs.
type (
	// CounterAdd adds Delta; its output is the value after the addition,
	// as an atomic fetch-and-add returns it (plus Delta).
	CounterAdd struct{ Delta uint64 }
	// CounterRead returns the counter's value.
	CounterRead struct{}
)

// Counter models a 64-bit counter, initially zero, that wraps as Go's
// unsigned arithmetic does. Its state is a uint64.
func Counter() Model {
	return Model{
		Name: "counter",
		Init: func() any { return uint64(0) },
		Apply: func(state, input any) (any, any) {
			v := state.(uint64)
			switch in := input.(type) {
			case CounterAdd:
				return v + in.Delta, v + in.Delta
			case CounterRead:
				return v, v
			}
			panic(fmt.Sprintf("models: counter: unknown input %T", input))
		},
		Equal:       func(a, b any) bool { return a.(uint64) == b.(uint64) },
		EqualOutput: func(a, b any) bool { return a == b },
		Diff:        func(want, got any) string { return fmt.Sprintf("value %d, want %d", got, want) },
		DescribeInput: func(input any) string {
			if a, ok := input.(CounterAdd); ok {
				return fmt.Sprintf("add(%d)", a.Delta)
			}
			return "read()"
		},
	}
}
