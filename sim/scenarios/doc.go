// Package scenarios holds crashsim's built-in scenarios: small workloads on
// every medium, each paired with a reference model, and beside each correct
// one its deliberately broken variants (named with "-bug-") that the
// explorer must catch.
//
// # Usage
//
//	for _, sc := range scenarios.All() {
//		res, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure, Budget: sim.Budget{States: 100}})
//		...
//	}
//	sc, ok := scenarios.Lookup("pmem-log")
//
// The scenarios (`crashsim list` gives each one's line and the fault models
// that apply) pass under posix, the weakest file-system profile, whose
// crash states include those of every other:
//
//   - pmem-log: an append-only log in persistent memory: each record is
//     persisted before the count that publishes it. Bugs: the count first;
//     no flush of the record; no drain between the record and the count.
//   - pmem-record: a 16-byte record updated through a spare slot and an
//     8-byte commit word. Bug: an in-place update that a crash can tear.
//   - file-replace: write a temporary file, fsync, rename over, fsync the
//     directory. Bugs: no fsync before the rename; no directory fsync; no
//     fsync before renaming an update over the file, which only the file
//     systems that flush a file renamed over another forgive (caught under
//     posix, xfs and ext4 data=writeback, not ext4 data=ordered or btrfs:
//     faultfs rule 18).
//   - file-log: length+CRC framed records appended and fsynced; recovery
//     stops at a torn tail. Bug: no CRC, so a torn tail reads as a record.
//   - wal-append, wal-batch, wal-sync, wal-resume, wal-checkpoint: the
//     engine's write-ahead log (engine/wal) appending one entry or a batch
//     at a time, syncing only every few entries, resumed by a second
//     process after the first was killed, and publishing checkpoints.
//     Bugs: recovery that never checks a frame's CRC; no directory fsync
//     after creating a segment; a checkpoint renamed into place before it
//     is fsynced; covered segments removed before the checkpoint is
//     durable.
//   - wal-group: four threads appending to one WAL, each entry made
//     durable by FlushAndSync, whose fsyncs the engine's group commit
//     shares, under the deterministic scheduler (4 schedules by default,
//     Scenario.Schedules). Bug (internal/walbug): a FlushAndSync that
//     finds a sync round in flight returns when it ends, though the round
//     started before its caller appended — caught only in the
//     interleavings where an append falls inside another's round.
//   - wal-fsync-eio, wal-enospc, wal-short-write: the log under an injected
//     media fault (docs/DESIGN.md F3): the append reports it, the log
//     refuses to go on, and recovery keeps every acknowledged entry. Bug:
//     an fsync retried after it failed, which Linux reports as a success.
//   - pool-map, pool-map-file, pool-alloc: random transactions on a
//     persistent pool (engine/tx): puts and deletes on its hash map in
//     persistent memory and in a file mapped through the page cache, and
//     allocations, frees and replacements of blobs of random sizes. Bugs
//     (each a wrong step of the real commit protocol, switched on through
//     internal/txbug): data written in place before the undo log is
//     durable; the log retired before the data is flushed; new objects
//     published before their contents are durable.
//   - pool-words, pool-words-file: transactions that change one word of a
//     pool's root, which commit without a log where they can, between
//     transactions that change several, in persistent memory and through
//     the page cache: a scripted sequence that puts the word in the newest
//     log, in the older one and in none, which no random workload of the
//     others reaches (each of their transactions changes several words).
//   - pool-apart, pool-apart-file: objects allocated outside a transaction
//     (an Update that only allocates: a one-word commit) and published
//     later, alone or with others, beside allocations freed alone, an
//     unpublished one freed and allocated again, and one-word changes of
//     objects a transaction just allocated or published. The other pool
//     workloads allocate inside the transactions that publish. Their
//     continuation opens the pool again and allocates and publishes
//     once more, so that crash depth reaches the recovered logs.
//   - pool-enospc, pool-full-disk: a pool on a full disk (issue 16):
//     ENOSPC injected into Create and into a growth inside an Update, and
//     a disk that really fills (a capacity): each failure is ErrNoSpace,
//     never acknowledged, the pool stays usable, and it opens on the full
//     disk. Bug: the pool mapped without its blocks allocated, whose
//     stores, and whose recovery's loads, are killed by SIGBUS once the
//     disk is full.
//   - vec-append, vec-append-file, vec-set: a mapped vector (engine/vec)
//     in persistent memory and in a file mapped through the page cache:
//     appends that grow it, pops and truncates, a Sync per round, against
//     a log; and Sets of 8-byte counters, a register per slot. Bugs (each a
//     wrong step of the real protocol, switched on through internal/vecbug):
//     the length made durable before the elements it covers; a growth that
//     maps the new room before the file's extension is durable.
//   - shm-append, shm-append-power: a blob store in shared memory
//     (engine/shm): appends, acknowledgements and cleanup passes through
//     4 KiB chunks, one writer killed at every operation (process crash
//     only: a returned append survives in shared memory), and after a power
//     failure, which loses shared memory, cleanup and a fresh namespace in
//     which no handle kept on the disk from before resolves. Bugs (internal
//     /shmbug): an entry published before its blob is copied; an entry word
//     published as two 32-bit stores; chunks freed before their blobs are
//     all acknowledged; a zero-copy View without the generation check,
//     which after a power failure views a stale handle's place in the
//     fresh namespace (ABA).
//
// Judged by durable linearizability (sim.Scenario.Check: every thread a
// client, what each operation returned judged by porcupine, and each
// recovered state as the history's final observation):
//
//   - pool-readers: a pool's writer commits transactions of two puts
//     while two readers read the whole map in Views. Bug (internal/txbug
//     ViewUnlocked): a View that does not keep out of the commits of its
//     process, which can return half of a transaction — a history not
//     linearizable whether or not anything crashes.
//   - pmem-counter: a writer's atomic adds to a counter in persistent
//     memory, each persisted before it returns, beside readers that
//     persist what they loaded before they return it. Bug, Durinn-style:
//     readers return the value as loaded, visible before the writer's
//     flush made it durable, so a crash takes back a value a client saw.
//     The prefix property cannot see it (TestDurinnBugMissedByPrefix).
//   - shm-procs, shm-procs-power: the blob store of shm-append shared by
//     two writer processes (three threads), a reader process and a
//     cleaner process under the scheduler; under ProcessKill each is
//     killed at each of its operations while the others go on, the
//     supervisor restarting a dead cleaner. Appends, resolves and
//     acknowledgements are judged against shmProcsModel, models.BlobStore
//     with freeing (a cleaner may free a blob once it is acknowledged, so
//     its state is the blobs not acknowledged, by name); an operation the
//     kill left open is pending. After a power failure, which loses
//     shared memory and which no sync survives, buffered durable
//     linearizability: every blob may be lost, as the whole suffix, while
//     the reader's outputs before it are still judged. The same bugs in
//     that setting (shm-procs-bug-*): the writers' two caught by a kill
//     of a writer only (not durably linearizable, or the chunk corrupt),
//     the cleaner's by the history alone (the slow reader resolves a blob
//     freed under it: not linearizable, crash or not), View's after a
//     power failure.
//
// # Implementation notes
//
// Each on-disk format is drawn where it is written. Workloads are short — a
// handful of operations — because the number of crash states multiplies
// with every unit pending at a barrier; they still reach every ordering the
// protocol depends on. Values come from Env.Rand, so a run is a pure
// function of its seed.
package scenarios
