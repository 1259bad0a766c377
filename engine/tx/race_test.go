//go:build race

package tx

// raceEnabled is true under the race detector, ten times slower: the
// sweeps of damaged bytes flip two patterns of each byte instead of every
// bit of it (flips).
const raceEnabled = true
