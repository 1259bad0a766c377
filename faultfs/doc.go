// Package faultfs is the simulated file system of the crash laboratory: an
// in-memory engine.FS that knows, at every instant, what a power failure or
// a process crash would leave behind (DESIGN.md section 4, F1 and F2), that
// builds any of those crash states as a new, independent file system, and
// that injects media and I/O faults (F3).
//
// It fails the way Linux and package os fail: every error is the
// *fs.PathError (an *os.LinkError for Rename) that os would return, with
// the same Op and the same errno underneath, so that engine code sees the
// same errors on both backends. A differential test checks that, operation
// for operation, against engine.OSFS.
//
// # Usage
//
//	log := new(faultfs.Log)
//	fsys := faultfs.New(faultfs.Options{Observe: log.Observe})
//	f, _ := engine.Create(fsys, "/wal/000001.log")
//	f.WriteAt(record, 0)
//	f.Sync()                // data and size durable
//	fsys.SyncDir("/wal")    // the name durable
//
//	// One crash state:
//	img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.AllSubsets, Seed: 7})
//	runRecovery(img)
//
//	// Every crash state the rules allow, at most 10 000 of them:
//	p := fsys.Pending(engine.SectorSize)
//	for c := range p.Choices(faultfs.AllSubsets, 10_000, seed) {
//		runRecovery(p.Clone(c, faultfs.Tail{}))
//	}
//
//	// Media faults: the third write to a log fails with ENOSPC.
//	rules := faultfs.NewRules(faultfs.Rule{
//		When:  faultfs.And(faultfs.PathGlob("/wal/*.log"), faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(2)),
//		Fault: faultfs.Error(syscall.ENOSPC),
//	})
//	fsys.SetInjector(rules)
//	...
//	if len(rules.Unfired()) > 0 { t.Fatal("the fault was never injected") }
//
// A simulated process gets a view whose locks carry its id, so that killing
// it can release them (F1):
//
//	p1 := fsys.WithLockOwner(1)
//	l, err := p1.Lock("/db/LOCK", engine.Exclusive)
//	...
//	fsys.ReleaseLocks(1) // process 1 was killed
//
// # Implementation notes
//
// Paths are cleaned with path.Clean; absolute and relative paths name one
// tree rooted at "/", which always exists. Because of that, a trailing
// slash or a "." or ".." component means what path.Clean makes of it,
// where Linux would sometimes fail (ENOTDIR for "file/"). Permissions are
// masked with a 022 umask and never checked (the simulated process is
// root); ModTime is always zero; a directory's size is 0.
//
// What differs from Linux, on purpose: a region access past the end of its
// file (cut below the mapping) fails with engine.ErrOutOfRange where the OS
// raises SIGBUS; Region.View returns a copy (only the OS backend can give a
// view without copying); writes and truncates past 2^60 bytes fail with
// EFBIG. What matches Linux and package os, down to details the
// differential test found: os.Rename never replaces a directory (EEXIST,
// even an empty one, even itself); an empty ReadAt or WriteAt succeeds even
// on a closed file; WriteAt on an O_APPEND file fails with os's own error;
// O_TRUNC truncates even with O_RDONLY; SyncDir of a file fsyncs the file;
// Region.Len is 0 after Close; a misaligned atomic is ErrMisaligned before
// any end-of-file check. Package faultfs/fuzz holds that differential
// driver, shared by the rapid test, the native fuzz target and go-fuzz.
//
// One mutex serializes every operation of an FS and of its files, locks
// and regions. The order in which operations take it is the order of the
// op log (Op.Index) and the order of the crash rules: an operation's
// sequence number is its Index + 1, and 0 stands for "before every pending
// operation". Observe and the Injector run under that mutex.
//
// Crash rules. Each FS keeps, besides what reads see, what would survive a
// power failure, and the history in between. These are the rules it
// implements; code and tests cite them by number.
//
//  1. Two states (F2). Every file has volatile content, the page cache,
//     which reads, writes and mappings see, and durable content; the
//     namespace has a volatile tree and a durable tree. A crash state is
//     the durable state plus one choice among what is pending (rules 2 to
//     9); nothing else survives a power failure.
//
//  2. Data history (F2 "mapped file", "file written with write()"). Between
//     durable points, every 4 KiB block keeps the ordered list of its
//     changes since it was last durable: (sequence number, offset in the
//     block, bytes). A unit is g bytes of a block, g = 4096 by default, 512
//     for torn sectors ("a torn block holds old and new sectors"), or a
//     smaller power of two down to 8; its changes are those of its block
//     that overlap it. Version 0 of a unit is its durable content, version
//     j its content after the j-th change touching it. A crash state picks
//     one version for each unit, independently ("a dirty page may be
//     written back at any moment with its content at that moment"; "unsynced
//     writes may survive in any subset"). A version equal to the one before
//     it is the same version, where rule 5 cannot tell them apart. Aligned
//     4- and 8-byte atomic stores never straddle a unit, so they are
//     failure-atomic.
//
//  3. File.Sync (F2 "data is durable only after Sync of the file") makes
//     every block with pending changes durable with its current content,
//     and the size. It promotes only those blocks, never "durable :=
//     volatile", so its cost is that of the changes. It does not make the
//     file's name durable.
//
//  4. Size history (F2 "a file's size may reflect an extend whose data was
//     lost"). Every size change (an extending write, Truncate, O_TRUNC, an
//     extension by Map or Grow) appends a size version; version 0 is the
//     durable size. A crash state picks a size version independently of the
//     data. A shrinking truncate records, on every block past the new end
//     that holds data (volatile or durable), a zero change from the new end
//     to the end of the block: the page cache zeroes the tail of the cut page
//     and drops the pages past it, and a crash may catch that write-back
//     before the size. Truncate is durable with File.Sync, as
//     engine.File.Truncate says (DESIGN.md F2 lists truncates with the
//     namespace changes; here only the name of a file belongs to its
//     directory).
//
//  5. Tail (F2 "zero-filled or garbage tail, per option"). In a crash state
//     with size version i, byte o of a file is stale if the change it comes
//     from is older than the file's last cut at or below o: the latest of
//     the durable size and size versions 1..i that was <= o. Durable content
//     dates from when the size was last made durable, or from the Drain that
//     made its block durable if that came later. A stale byte reads as zero,
//     or with Tail.Garbage as garbage where a change of its unit that the
//     state did not keep would have put data. So a crash never resurrects
//     bytes that a truncate cut, unless it also picks a size from before the
//     cut; an extension whose data was lost reads as the tail; bytes below
//     the smallest size in the history are never stale.
//
//  6. Mappings (F2 "mapped file"). A Region is a view of the page cache: its
//     stores are file writes (rule 2) and file writes show through it.
//     Flush remembers the pages of a range; Drain makes the remembered pages
//     that have pending changes durable with their current content, as
//     msync(MS_SYNC) does, and does not make the size durable: a Grow is
//     durable only after File.Sync.
//
//  7. fsync failure (F3 "fsync failure with Linux semantics"). An injected
//     SyncFailure on File.Sync (or Region.Drain) drops the pending changes
//     of the blocks it would have made durable, without making them
//     durable; the page cache keeps the new bytes. The next Sync reports
//     success and does not make them durable; the next change to such a
//     block records the whole block as one change, as Linux writes back a
//     whole page. The size history is kept: the size is inode metadata,
//     which the next Sync commits.
//
//  8. Namespace history (F2 "creates, renames, removes ... are durable only
//     after SyncDir of the parent"). Every create (OpenFile with O_CREATE,
//     Lock of a missing file), mkdir, remove and rename is a namespace
//     change with a sequence number, recorded with the inodes it links and
//     unlinks. The durable tree is the namespace after every change up to
//     the first one that is not durable. A crash state keeps every durable
//     change plus a prefix, in sequence order, of the others, and replays
//     them in sequence order on the durable tree: journaling file systems
//     commit metadata in order. A rename is one change, so a crash shows the
//     old name or the new one, never both or neither.
//
//  9. Dropped changes. A change whose parent directory does not exist in
//     the state being built is dropped, and so is the link of a directory
//     that does not exist in it (as on Linux when the parent was never
//     synced); the state is what is reachable from the root. A file's data
//     do not depend on its names: a file whose create was lost but whose
//     rename was kept appears, with its durable content, under the new
//     name.
//
//  10. SyncDir(d) makes durable every pending change that touched d; a
//     rename touches both parents, so SyncDir of either makes it durable.
//     SyncDir makes no data durable, and File.Sync no name.
//
//  11. Process crash (F1). CrashClone with KeepAll copies the page cache and
//     the volatile namespace whole; locks are never part of a clone, and
//     ReleaseLocks releases those of a killed process in the live FS.
//
// Building a crash state. Pending takes a snapshot of the durable state and
// the pending history (O(names + history)), which stays valid however the
// file system changes afterwards; Choices enumerates choices among
// it (lose-all, keep-all, every in-order prefix, all subsets) and Clone
// builds the file system a Choice picks. A clone shares the durable data
// with its parent: file content lives in copy-on-write 4 KiB blocks indexed
// by a persistent radix tree of 64-way nodes, and every node and block
// carries the ownership epoch of the file system that may change it in
// place; sharing is a new epoch, and the first write to a shared path copies
// it. Sync and Drain cost the blocks they promote, and a clone costs its
// names plus the blocks its choice rebuilds, never the size of the data.
//
// A lazy strategy, which decides a unit only when recovery first reads it
// (Jaaru, ASPLOS'21), fits this shape without a change to it: units are
// independent, each file's size is one more unit, and Clone already builds
// each file as its durable tree plus the blocks the choice rebuilds. A lazy
// clone would put, in place of each block with undecided units, a
// placeholder that holds the Pending's history for that block; the first
// read of it would call back to the explorer for the versions of its units
// (and of the file's size first, since rule 5 needs it), which then forks
// the exploration there, and build the block as Clone does now.
//
// Locks are flock locks kept in a table in memory: each Lock call is a
// handle of its own, and handles conflict even within one process. Each
// handle carries an owner (WithLockOwner) so that ReleaseLocks can do what
// the kernel does when a process dies.
//
// Fault injection follows Pebble's errorfs: a one-method Injector is asked
// about every operation before it takes effect; Rules built from composable
// predicates (OnIndex, OpKinds, PathGlob, And, Or, Not) is the usual one. An
// injected error wraps both ErrInjected and the errno.
package faultfs
