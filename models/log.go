package models

import (
	"bytes"
	"fmt"
	"strings"
)

// LogAppend appends Record to an append-only log.
type LogAppend struct{ Record []byte }

// Log models an append-only log of records. Its state is a [][]byte that
// Apply never modifies in place (appends copy the outer slice when they would
// share it), so states of different prefixes can be kept side by side.
func Log() Model {
	return Model{
		Name: "log",
		Init: func() any { return [][]byte(nil) },
		Apply: func(state, input any) (any, any) {
			in, ok := input.(LogAppend)
			if !ok {
				panic(fmt.Sprintf("models: log: unknown input %T", input))
			}
			s := state.([][]byte)
			next := make([][]byte, len(s), len(s)+1)
			copy(next, s)
			return append(next, in.Record), uint64(len(s))
		},
		Equal: func(a, b any) bool {
			x, y := a.([][]byte), b.([][]byte)
			if len(x) != len(y) {
				return false
			}
			for i := range x {
				if !bytes.Equal(x[i], y[i]) {
					return false
				}
			}
			return true
		},
		Diff: func(want, got any) string {
			w, g := want.([][]byte), got.([][]byte)
			for i := range min(len(w), len(g)) {
				if !bytes.Equal(w[i], g[i]) {
					return fmt.Sprintf("record %d differs: %s", i+1, diffBytes(w[i], g[i]))
				}
			}
			return fmt.Sprintf("%d records, want %d", len(g), len(w))
		},
		DescribeInput: func(input any) string {
			return fmt.Sprintf("append(%s)", short(input.(LogAppend).Record))
		},
		DescribeState: func(state any) string {
			s := state.([][]byte)
			parts := make([]string, len(s))
			for i, r := range s {
				parts[i] = short(r)
			}
			return fmt.Sprintf("%d records [%s]", len(s), strings.Join(parts, " "))
		},
	}
}

// short renders a record for a report: printable bytes as text, others in
// hex, long ones cut.
func short(b []byte) string {
	const max = 16
	cut := ""
	if len(b) > max {
		b, cut = b[:max], fmt.Sprintf("…+%d", len(b)-max)
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x%s", b, cut)
		}
	}
	return fmt.Sprintf("%q%s", b, cut)
}

// diffBytes says where got first differs from want.
func diffBytes(want, got []byte) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			end := min(i+8, len(want), len(got))
			return fmt.Sprintf("at byte %d of %d: want %x…, got %x…", i, len(want), want[i:end], got[i:end])
		}
	}
	return fmt.Sprintf("length %d, want %d", len(got), len(want))
}
