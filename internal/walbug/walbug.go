// Package walbug breaks engine/wal on purpose, for the crash laboratory's
// bug variants (sim/scenarios, wal-bug-*): each Bug is one wrong step of
// the real group commit, switched on in the real code, so that a scenario
// shows the laboratory catching exactly that mistake. It is internal: no
// user of the engine can set it.
package walbug

// Bug is a deliberate mistake in the protocol of engine/wal.
type Bug uint8

const (
	// None is the correct protocol.
	None Bug = iota
	// JoinSyncInFlight makes a FlushAndSync that finds a sync round in
	// flight wait for that round and return, as if it covered the
	// caller's entries: a round that started before the caller appended
	// covers none of them. The caller acknowledges entries that are
	// still in the log's buffer — reachable only when an append comes
	// between a round's start and its fsync, which only some
	// interleavings of the appenders give.
	JoinSyncInFlight
)

func (b Bug) String() string {
	switch b {
	case None:
		return "none"
	case JoinSyncInFlight:
		return "join-sync-in-flight"
	}
	return "Bug(?)"
}

// Set sets the bug in *engine/wal.Options opts. engine/wal installs it when
// it is initialized; it panics on anything but a *wal.Options.
var Set func(opts any, b Bug)
