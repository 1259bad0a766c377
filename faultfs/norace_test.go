//go:build !race

package faultfs

const raceEnabled = false
