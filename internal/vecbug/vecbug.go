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
	// HeaderInPlace makes Sync write the header over the newest one, in
	// its slot, instead of into the other slot: a crash that tears that
	// write leaves no header with the newer length. It is no scenario of
	// the registry; sim/scenarios' tests show which tearing units catch
	// it (words and small sectors, not a whole 512-byte sector).
	HeaderInPlace
)

func (b Bug) String() string {
	switch b {
	case None:
		return "none"
	case LengthBeforeData:
		return "length-before-data"
	case GrowBeforeExtend:
		return "grow-before-extend"
	case HeaderInPlace:
		return "header-in-place"
	}
	return "Bug(?)"
}

// Set sets the bug in *engine/vec.Options opts. engine/vec installs it
// when it is initialized; it panics on anything but a *vec.Options.
var Set func(opts any, b Bug)
