// Package vecbug breaks engine/vec on purpose, for the crash laboratory's
// bug variants (sim/scenarios, vec-bug-*): each Bug is one wrong step of
// the real Sync or growth protocol, switched on in the real code, so that a
// scenario shows the laboratory catching exactly that mistake. It is
// internal: no user of the engine can set it.
package vecbug

// Bug is a deliberate mistake in the Sync or growth protocol of engine/vec.
type Bug uint8

const (
	// None is the correct protocol.
	None Bug = iota
	// LengthBeforeData makes Sync write the header, with the new length,
	// durable before the elements it covers are flushed and drained.
	LengthBeforeData
	// GrowBeforeExtend makes a growth remap over the new length at once —
	// the file extended with a hole, as Region.Grow does — without
	// allocating the new blocks or making the new size durable (File.Sync)
	// first.
	GrowBeforeExtend
)

func (b Bug) String() string {
	switch b {
	case None:
		return "none"
	case LengthBeforeData:
		return "length-before-data"
	case GrowBeforeExtend:
		return "grow-before-extend"
	}
	return "Bug(?)"
}

// Set sets the bug in *engine/vec.Options opts. engine/vec installs it
// when it is initialized; it panics on anything but a *vec.Options.
var Set func(opts any, b Bug)
