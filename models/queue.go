package models

import (
	"fmt"
	"slices"
	"strings"
)

// Queue inputs.
type (
	// QueueEnqueue adds Value at the tail. Its output is nil.
	QueueEnqueue struct{ Value string }
	// QueueDequeue removes the head; its output is a QueueValue.
	QueueDequeue struct{}
)

// QueueValue is the output of QueueDequeue: the head removed, and whether
// the queue had one (an empty queue's dequeue returns OK false).
type QueueValue struct {
	Value string
	OK    bool
}

// Queue models a FIFO queue of strings, initially empty. Its state is a
// []string, head first, that Apply never modifies in place.
func Queue() Model {
	return Model{
		Name: "queue",
		Init: func() any { return []string(nil) },
		Apply: func(state, input any) (any, any) {
			s := state.([]string)
			switch in := input.(type) {
			case QueueEnqueue:
				next := make([]string, len(s), len(s)+1)
				copy(next, s)
				return append(next, in.Value), nil
			case QueueDequeue:
				if len(s) == 0 {
					return s, QueueValue{}
				}
				return s[1:], QueueValue{Value: s[0], OK: true}
			}
			panic(fmt.Sprintf("models: queue: unknown input %T", input))
		},
		Equal: func(a, b any) bool { return slices.Equal(a.([]string), b.([]string)) },
		Diff: func(want, got any) string {
			return fmt.Sprintf("queue [%s], want [%s]", strings.Join(got.([]string), " "), strings.Join(want.([]string), " "))
		},
		DescribeInput: func(input any) string {
			if e, ok := input.(QueueEnqueue); ok {
				return fmt.Sprintf("enqueue(%s)", e.Value)
			}
			return "dequeue()"
		},
		DescribeState: func(state any) string { return "[" + strings.Join(state.([]string), " ") + "]" },
	}
}
