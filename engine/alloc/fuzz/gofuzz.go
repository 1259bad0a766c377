//go:build gofuzz

package fuzz

import (
	// The instrumentation go-fuzz-build links in; imported here so that
	// go mod tidy keeps its module, which go-fuzz-build needs.
	_ "github.com/dvyukov/go-fuzz/go-fuzz-dep"
)

// Fuzz is the go-fuzz entry point: the first byte picks a target
// (Metadata), the rest is its input; it panics when a property fails.
func Fuzz(data []byte) int {
	if len(data) == 0 {
		return -1
	}
	if err := Targets[int(data[0])%len(Targets)](data[1:]); err != nil {
		panic(err)
	}
	return 1
}
