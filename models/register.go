package models

import "fmt"

// Register inputs.
type (
	// RegisterWrite sets the register to Value.
	RegisterWrite struct{ Value uint64 }
	// RegisterRead returns the register's value.
	RegisterRead struct{}
)

// Register models one 64-bit cell, initially zero. Its state is a uint64.
func Register() Model {
	return Model{
		Name: "register",
		Init: func() any { return uint64(0) },
		Apply: func(state, input any) (any, any) {
			switch in := input.(type) {
			case RegisterWrite:
				return in.Value, nil
			case RegisterRead:
				return state, state
			}
			panic(fmt.Sprintf("models: register: unknown input %T", input))
		},
		Equal:       func(a, b any) bool { return a.(uint64) == b.(uint64) },
		EqualOutput: func(a, b any) bool { return a == b },
		Diff:        func(want, got any) string { return fmt.Sprintf("value %d, want %d", got, want) },
		DescribeInput: func(input any) string {
			if w, ok := input.(RegisterWrite); ok {
				return fmt.Sprintf("write(%d)", w.Value)
			}
			return "read()"
		},
	}
}
