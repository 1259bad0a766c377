//go:build race

package faultfs

// raceEnabled is true under the race detector, which makes long tests
// shorten themselves.
const raceEnabled = true
