//go:build gofuzz

package fuzz

import (
	// The instrumentation go-fuzz-build links in; imported here so that
	// go mod tidy keeps its module, which go-fuzz-build needs.
	_ "github.com/dvyukov/go-fuzz/go-fuzz-dep"

	"github.com/crashsim/crashsim/internal/fuzzinput"
)

// Fuzz is the go-fuzz entry point: the first byte picks a target (Header,
// Log), the rest is its input; it panics when a property fails.
func Fuzz(data []byte) int { return fuzzinput.GoFuzz(Targets, data) }
