package models

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// KV inputs.
type (
	// KVPut sets Key to Value.
	KVPut struct{ Key, Value string }
	// KVDelete removes Key; its output reports whether it was present.
	KVDelete struct{ Key string }
	// KVGet returns Key's value and whether it is present, as a KVValue.
	KVGet struct{ Key string }
)

// KVValue is the output of KVGet.
type KVValue struct {
	Value string
	OK    bool
}

// KV models a map from string keys to string values. Its state is a
// map[string]string that Apply copies before changing.
func KV() Model {
	return Model{
		Name: "kv",
		Init: func() any { return map[string]string{} },
		Apply: func(state, input any) (any, any) {
			s := state.(map[string]string)
			switch in := input.(type) {
			case KVPut:
				next := maps.Clone(s)
				next[in.Key] = in.Value
				return next, nil
			case KVDelete:
				_, ok := s[in.Key]
				if !ok {
					return s, false
				}
				next := maps.Clone(s)
				delete(next, in.Key)
				return next, true
			case KVGet:
				v, ok := s[in.Key]
				return s, KVValue{v, ok}
			}
			panic(fmt.Sprintf("models: kv: unknown input %T", input))
		},
		Equal: func(a, b any) bool { return maps.Equal(a.(map[string]string), b.(map[string]string)) },
		Diff: func(want, got any) string {
			w, g := want.(map[string]string), got.(map[string]string)
			var diffs []string
			for _, k := range slices.Sorted(maps.Keys(w)) {
				gv, ok := g[k]
				switch {
				case !ok:
					diffs = append(diffs, fmt.Sprintf("%q missing", k))
				case gv != w[k]:
					diffs = append(diffs, fmt.Sprintf("%q differs: %s", k, diffBytes([]byte(w[k]), []byte(gv))))
				}
			}
			for _, k := range slices.Sorted(maps.Keys(g)) {
				if _, ok := w[k]; !ok {
					diffs = append(diffs, fmt.Sprintf("%q unexpected", k))
				}
			}
			return strings.Join(diffs, "; ")
		},
		DescribeInput: func(input any) string {
			switch in := input.(type) {
			case KVPut:
				return fmt.Sprintf("put(%q, %s)", in.Key, short([]byte(in.Value)))
			case KVDelete:
				return fmt.Sprintf("delete(%q)", in.Key)
			case KVGet:
				return fmt.Sprintf("get(%q)", in.Key)
			}
			return fmt.Sprintf("%v", input)
		},
		DescribeState: func(state any) string {
			s := state.(map[string]string)
			keys := slices.Sorted(maps.Keys(s))
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = fmt.Sprintf("%q:%s", k, short([]byte(s[k])))
			}
			return fmt.Sprintf("{%s}", strings.Join(parts, " "))
		},
	}
}
