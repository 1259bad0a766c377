package models

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Set inputs. Each output is a bool.
type (
	// SetAdd adds Member; its output reports whether it was new.
	SetAdd struct{ Member string }
	// SetRemove removes Member; its output reports whether it was there.
	SetRemove struct{ Member string }
	// SetContains reports whether Member is in the set.
	SetContains struct{ Member string }
)

// Set models a set of strings, initially empty. Its state is a
// map[string]bool holding the members, which Apply copies before changing.
func Set() Model {
	return Model{
		Name: "set",
		Init: func() any { return map[string]bool{} },
		Apply: func(state, input any) (any, any) {
			s := state.(map[string]bool)
			switch in := input.(type) {
			case SetAdd:
				if s[in.Member] {
					return s, false
				}
				next := maps.Clone(s)
				next[in.Member] = true
				return next, true
			case SetRemove:
				if !s[in.Member] {
					return s, false
				}
				next := maps.Clone(s)
				delete(next, in.Member)
				return next, true
			case SetContains:
				return s, s[in.Member]
			}
			panic(fmt.Sprintf("models: set: unknown input %T", input))
		},
		Equal:       func(a, b any) bool { return maps.Equal(a.(map[string]bool), b.(map[string]bool)) },
		EqualOutput: func(a, b any) bool { return a == b },
		Diff: func(want, got any) string {
			return fmt.Sprintf("set %s, want %s", describeSet(got), describeSet(want))
		},
		DescribeInput: func(input any) string {
			switch in := input.(type) {
			case SetAdd:
				return fmt.Sprintf("add(%s)", in.Member)
			case SetRemove:
				return fmt.Sprintf("remove(%s)", in.Member)
			case SetContains:
				return fmt.Sprintf("contains(%s)", in.Member)
			}
			return fmt.Sprint(input)
		},
		DescribeState: describeSet,
	}
}

func describeSet(state any) string {
	return "{" + strings.Join(slices.Sorted(maps.Keys(state.(map[string]bool))), " ") + "}"
}
