// Package txbug breaks engine/tx on purpose, for the crash laboratory's bug
// variants (sim/scenarios, pool-bug-*): each Bug is one wrong step of the
// real commit, upgrade, growth or open protocol, switched on in the real
// code, so that a scenario shows the laboratory catching exactly that
// mistake. It is internal: no user of the engine can set it.
package txbug

// Bug is a deliberate mistake in the commit, upgrade, growth or open
// protocol of engine/tx.
type Bug uint8

const (
	// None is the correct protocol.
	None Bug = iota
	// WriteBeforeLog writes the data in place before the log is durable:
	// the log is flushed but not drained before the writes.
	WriteBeforeLog
	// RetireEarly retires the log (durably) before the data is flushed:
	// the data is left to be written back later.
	RetireEarly
	// PublishUnflushed publishes new objects before their contents are
	// durable: the contents of blocks allocated by the transaction are not
	// flushed at commit.
	PublishUnflushed
	// HeaderInPlace rewrites the pool header in place when a pool of an
	// older format is converted to the current one for a layout upgrade,
	// without the durable copy that a header torn by a crash is read from.
	HeaderInPlace
	// UpgradeSplit records a layout upgrade's new version in a transaction
	// of its own, after the one that changes the root and the objects.
	UpgradeSplit
	// SparseMap maps the pool's file, at Create and when the pool grows,
	// without allocating its blocks first: the mapping has holes, and on a
	// full disk a store to one kills the process with SIGBUS.
	SparseMap
	// RedoOneSlot writes every redo log (pool format 6) into the first of
	// the two slots: over the last transaction's log before its data,
	// written in place and drained only by the next commit, is durable.
	RedoOneSlot
	// RedoUnchecked replays a redo log (pool format 6) whose header checks
	// without checking the marks of its lines or its entries' checksum:
	// a log torn by a crash while it was written is replayed as if whole.
	RedoUnchecked
	// RedoWordAlone replays a word log (pool format 6) that has no older
	// log, like any other whole log: its word is written back over the
	// one-word commits made since the older log was retired, which
	// wrote no log.
	RedoWordAlone
	// EpochReused makes a writer's Open take the epoch of the open before
	// it again instead of the next one: the persistent locks that a
	// process which died held read as held by the new open, and are
	// never free again. A bug of recovery that shows only when the
	// program goes on after it (docs/DESIGN.md F4).
	EpochReused
	// ViewUnlocked runs a View without keeping out of the commits of this
	// process: a reader may see a transaction's writes in place while the
	// commit is still making them, half of a transaction that has not
	// returned. A bug of concurrency, which only a check of what readers
	// return (linearizability) can see.
	ViewUnlocked
)

func (b Bug) String() string {
	switch b {
	case None:
		return "none"
	case WriteBeforeLog:
		return "write-before-log"
	case RetireEarly:
		return "retire-early"
	case PublishUnflushed:
		return "publish-unflushed"
	case HeaderInPlace:
		return "header-in-place"
	case UpgradeSplit:
		return "upgrade-split"
	case SparseMap:
		return "sparse-map"
	case RedoOneSlot:
		return "redo-one-slot"
	case RedoUnchecked:
		return "redo-unchecked"
	case RedoWordAlone:
		return "redo-word-alone"
	case EpochReused:
		return "epoch-reused"
	case ViewUnlocked:
		return "view-unlocked"
	}
	return "Bug(?)"
}

// Set sets the bug in *engine/tx.Options opts. engine/tx installs it when
// it is initialized; it panics on anything but a *tx.Options.
var Set func(opts any, b Bug)

// SetFormat makes Create with *engine/tx.Options opts write a pool of
// format version v, one of an older release, as the laboratory's
// scenarios of upgrades start from; engine/tx installs it. Not a bug: the
// pool is the one that release wrote.
var SetFormat func(opts any, version uint32)
