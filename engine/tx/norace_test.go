//go:build !race

package tx

const raceEnabled = false
