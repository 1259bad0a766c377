//go:build !race

package torture

// raceEnabled says whether this binary runs under the race detector, whose
// shadow memory takes terabytes of address space.
const raceEnabled = false
