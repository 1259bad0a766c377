// Package shmbug breaks engine/shm on purpose, for the crash laboratory's
// bug variants (sim/scenarios, shm-bug-*): each Bug is one wrong step of
// the real append or cleanup protocol, switched on in the real code, so
// that a scenario shows the laboratory catching exactly that mistake. It
// is internal: no user of the engine can set it.
package shmbug

// Bug is a deliberate mistake in the protocol of engine/shm.
type Bug uint8

const (
	// None is the correct protocol.
	None Bug = iota
	// PublishBeforeData makes an append publish its entry word — the
	// word that says the blob is there, and how long it is — before it
	// copies the blob's bytes: a writer killed in between leaves an entry
	// that readers take for whole over bytes that are not.
	PublishBeforeData
	// SplitPublish makes an append publish its entry word as two 32-bit
	// stores, the state and tag first and the size second, instead of one
	// atomic 64-bit store: a writer killed in between leaves a published
	// entry of the wrong size.
	SplitPublish
	// FreeUnacked makes the cleaner free a sealed chunk once its decay
	// period has passed whether or not its entries were acknowledged, as
	// if every entry were: unacknowledged blobs vanish before their TTL.
	FreeUnacked
	// ViewNoGenCheck makes View trust a handle's slot and offset without
	// its generation: it reads whatever chunk the slot holds now, takes
	// the entry there for the handle's if it is published with the
	// handle's size (the entry's tag, which names the generation, is not
	// compared), and does not look at the slot again after use. Once the
	// handle's chunk is freed and its slot recycled, the handle reads a
	// blob of another append (ABA).
	ViewNoGenCheck
)

func (b Bug) String() string {
	switch b {
	case None:
		return "none"
	case PublishBeforeData:
		return "publish-before-data"
	case SplitPublish:
		return "split-publish"
	case FreeUnacked:
		return "free-unacked"
	case ViewNoGenCheck:
		return "view-no-gen-check"
	}
	return "Bug(?)"
}

// Set sets the bug in *engine/shm.Options opts. engine/shm installs it
// when it is initialized; it panics on anything but a *shm.Options.
var Set func(opts any, b Bug)
