// Package faultfs is the simulated file system of the crash laboratory: an
// in-memory engine.FS that knows, at every instant, what a power failure or
// a process crash would leave behind (docs/DESIGN.md section 4, F1 and F2), that
// builds any of those crash states as a new, independent file system, and
// that injects media and I/O faults (F3).
//
// It fails the way Linux and package os fail: every error is the
// *fs.PathError (an *os.LinkError for Rename) that os would return, with
// the same Op and the same errno underneath, so that engine code sees the
// same errors on both backends. A differential test checks that, operation
// for operation, against engine.OSFS. It takes the open flags every backend
// takes and refuses the others, where open(2) would ignore them
// (engine.CheckOpenFlags); it has the optional powers of the storage layer:
// Allocate, Datasync and Append on its files, Link on the file system.
//
// # Usage
//
//	ops := new(faultfs.Log)
//	fsys := faultfs.New(faultfs.Options{Observe: ops.Observe})
//	engine.MkdirAllDurable(fsys, "/wal", 0o755)
//	f, _ := engine.Create(fsys, "/wal/000001.log")
//	f.WriteAt(record, 0)
//	f.Sync()                // data and size durable
//	fsys.SyncDir("/wal")    // the name durable
//	f.WriteAt(record, 4096) // pending: a crash may keep it or lose it
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
//	// Those ext4 mounted data=ordered can leave (rule 18): a size never
//	// outlives the data it covers.
//	e := fsys.PendingUnder(faultfs.Ext4Ordered, 0)
//	for c := range e.Choices(faultfs.AllSubsets, 0, seed) {
//		runRecovery(e.Clone(c, faultfs.Tail{}))
//	}
//
//	// Media faults: the third write to a log fails with ENOSPC.
//	rules := faultfs.NewRules(faultfs.Rule{
//		When:  faultfs.And(faultfs.PathGlob("/wal/*.log"), faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(2)),
//		Fault: faultfs.Error(syscall.ENOSPC),
//	})
//	fsys.SetInjector(rules)
//	...
//	if len(rules.Unfired()) > 0 {
//		log.Fatal("the fault was never injected")
//	}
//
// A crash image as plain data, and back (package sim saves it so that a
// replay needs no rerun of the workload): the same names, inode ids,
// sizes, blocks and bytes, every one durable, and the same Fingerprint.
//
//	saved := img.Image()
//	again, err := faultfs.FromImage(saved) // ErrImage for one no file system holds
//
// The same injection wraps any engine.FS, real files included (Wrap):
//
//	fsys := faultfs.Wrap(engine.OSFS{}, faultfs.NewRules(faultfs.Rule{
//		When:  faultfs.And(faultfs.PathGlob(filepath.Join(dir, "*.wal")), faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(2)),
//		Fault: faultfs.Error(syscall.EIO),
//	}))
//
// Media: persistent memory on /mnt/pmem (a DAX file system), shared memory
// on /dev/shm, a disk everywhere else (rules 12 to 15):
//
//	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{
//		{Dir: "/mnt/pmem", Medium: engine.PMem},
//		{Dir: "/dev/shm", Medium: engine.SharedMemory},
//	}})
//	f, _ := engine.Create(fsys, "/mnt/pmem/pool")
//	r, _ := fsys.Map(f, 1<<20)      // r.Medium() == engine.PMem
//	r.Store64(0, 42)
//	engine.Persist(r, 0, 8)         // this line durable, no other
//	p := fsys.Pending(0)            // 64-byte lines on pmem, 4 KiB pages elsewhere
//
// A full disk: a capacity per file system, Allocate (fallocate), and a
// load or store through a mapping to a page that has no block and cannot
// get one, which the kernel answers with SIGBUS (rules 16, 17):
//
//	fsys.SetCapacity("/data", 1<<20)    // the disk holding /data: 1 MiB of blocks
//	err := engine.Allocate(f, 0, 4<<20) // ENOSPC: f has what fitted, in order
//	r, _ := fsys.Map(f, 8<<20)          // the extension is a hole
//	_, err = r.WriteAt(b, 6<<20)        // errors.Is(err, faultfs.ErrSIGBUS)
//
// The other calls of storage code: fdatasync, writes that are durable when
// they return, appends, hard links (rules 19 to 22):
//
//	engine.Datasync(f) // as Sync: data and size
//	w, _ := fsys.OpenFile("/wal/log", os.O_WRONLY|os.O_CREATE|os.O_APPEND|engine.O_DSYNC, 0o644)
//	fsys.SyncDir("/wal")
//	engine.Append(w, record)                          // at the end, durable when it returns
//	fsys.Link("/db/checkpoint.tmp", "/db/checkpoint") // EEXIST if it exists
//	fsys.SyncDir("/db")                               // the new name durable
//
// A simulated process gets a view of its own: every operation through it,
// and through the files, regions and locks it opens, carries its id
// (Op.Owner), so that a trace tells the processes apart and killing one can
// release its locks (F1). Markers of the workload share the op log's total
// order, and a fingerprint deduplicates crash images:
//
//	p1 := fsys.View(1)
//	l, err := p1.Lock("/db/LOCK", engine.Exclusive)
//	rl := p1.(faultfs.RecordLocker) // fcntl's byte-range locks, for the mount
//	err = rl.RecordLock("/db/LOCK", faultfs.RecordLock{Owner: 1, Pid: 1, End: faultfs.RecordEOF, Exclusive: true})
//	fsys.Mark(1, "invoke put k1")   // an Op of kind OpMark, with its Index
//	...
//	fsys.ReleaseLocks(1)            // process 1 was killed
//	seen[img.Fingerprint()] = true  // the same crash image twice is checked once
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
// raises SIGBUS; one to a page the file system cannot back fails with
// ErrSIGBUS (rule 17), since a file system cannot kill its caller; Region.View returns a copy (only the OS backend can give a
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
// operation". Observe, the Injector and Failed run under that mutex;
// BeforeWriteSync runs without it.
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
//     block, bytes). A unit is g bytes of a block (rule 15): 4096 on a disk,
//     512 for torn sectors ("a torn block holds old and new sectors"), 64
//     on persistent memory, or another power of two down to 8; its changes
//     are those of its block that overlap it. Version 0 of a unit is its durable content, version
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
//     engine.File.Truncate says (docs/DESIGN.md F2 lists truncates with the
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
//     whole page: the page as it is after the change, data that a crash
//     losing it may leave as garbage past a size (rule 5). Where the page
//     cache then holds no page, because a truncate cut the whole block or
//     the block is a hole, there is nothing to write back: the change is a
//     cut of the whole block, which puts no data there, so a crash that
//     loses it reads as one from before it. The size history is kept: the
//     size is inode metadata, which the next Sync commits, and so are the
//     blocks Allocate gave (rule 16), as blocks of zeros: a block Allocate
//     gave and a write then filled is durable after the next Sync without
//     the data the failed Sync dropped: the allocation is metadata, the
//     page the data; a block the page cache held before Allocate is not
//     Allocate's, and stays a hole.
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
//     the volatile namespace whole, shared memory included; locks are never
//     part of a clone, and ReleaseLocks releases those of a killed process
//     in the live FS.
//
//  12. Media (F2 "per medium"). Options.Mounts puts a medium on a directory:
//     engine.PMem (a DAX file system), engine.SharedMemory (tmpfs) or
//     engine.MappedFile (one more disk). A file's medium is fixed when its
//     inode is created, from the longest mount whose directory contains its
//     path; without one it is on a disk, and Map gives a MappedFile region.
//     The mount points and their parents exist, durable, from New on, in
//     every crash state, and in every clone (with the mounts): as on Linux a
//     mount point cannot be removed (EBUSY), and a rename from one mount to
//     another fails with EXDEV (an *os.LinkError wrapping syscall.EXDEV).
//     Where Linux would move the mount with a renamed parent directory of a
//     mount point, the rename fails with EBUSY: mounts are fixed paths. The
//     namespace of a persistent-memory mount follows rules 8 to 10, as a
//     DAX file system's metadata does.
//
//  13. Persistent memory (F2 "persistent memory"). A Region of a file on a
//     PMem mount has Medium engine.PMem. Its stores (WriteAt and the
//     atomics) are recorded as changes split at aligned 8-byte word
//     boundaries, in address order, as memcpy stores them: with the default
//     64-byte unit, version j of a line (rule 2) is the line after the first
//     j stores made to it since it was last durable, so that a crash leaves
//     each line holding a prefix of its stores in program order ("stores to
//     one 64-byte line reach media in program order"), lines independent,
//     and a word never torn (the failure-atomic unit). An unflushed line
//     may be written back at any moment: any version may survive. Flush
//     remembers the 64-byte lines of a range and when it was called; Drain
//     makes each remembered line durable with the content it had when it was
//     last flushed ("a line is durable once a Flush covering it is followed
//     by a Drain"): the changes made before that Flush are promoted, those
//     made after it stay pending, as on x86, where CLWB writes back the line
//     as it is when it runs and SFENCE waits only for that. Only those 64
//     bytes are promoted: the other lines of the block keep their history.
//     A promoted line is dated by its Flush for rule 5.
//     Drain does not make the size durable (rule 6), and an injected
//     SyncFailure on it drops the whole 4 KiB blocks of those lines, as
//     rule 7 says for pages. File I/O on a PMem file (WriteAt, Truncate,
//     Sync) keeps the rules of a file written with write(): a write is one
//     change per block, durable after File.Sync. This is conservative: a DAX
//     write() copies to the media with non-temporal stores and is durable
//     soon after it returns, but no engine should count on it, and the
//     file's size, like any inode metadata, needs fsync anyway.
//
//  14. Shared memory (F2 "shared memory: lost entirely", F1). Files and
//     directories under a SharedMemory mount have no durable state and no
//     history: nothing there is a namespace change, a size version or a
//     data unit of Pending, and Sync, SyncDir, Flush and Drain there make
//     nothing durable. Every power-failure crash state (Pending's clones;
//     CrashClone with LoseAll, InOrderPrefixes or AllSubsets) has the mount
//     point present and empty, but for the mount points of other mounts
//     below it. A process crash (KeepAll, rule 11) keeps it whole. Map gives
//     a Region of Medium engine.SharedMemory.
//
//  15. Units. Pending(g) and CrashOptions.Granularity with g = 0 give each
//     file its medium's unit: 64 bytes (a cache line) on persistent memory,
//     4096 (a page) on a disk, or under a profile its Sector (rule 18a);
//     Pending.Granularity is then 0, and each
//     DataUnit has its Len and Medium. Any g > 0 is the unit of every file,
//     rounded down to a power of two in [8, 4096]: the simulator's tearing
//     granularity (8, 64, 512, 4096). Aligned atomics are never torn at any
//     unit, because a unit is never smaller than a word.
//
//  16. Allocate (fallocate in mode 0; DESIGN.md F2, "mapped pages on a
//     full disk"). A block of a file is allocated when the page cache
//     holds it: a write or a store through a mapping gave it one, or
//     File.Allocate did. Truncate and the extension by Map and Grow leave
//     holes; a shrinking truncate frees the blocks it cuts. Allocate gives
//     each hole of its range a block of zeros, which changes no data and is
//     not a change of rule 2, and grows the file to the range's end (a size
//     change of rule 4). The blocks it gave are durable with the size,
//     after File.Sync: a power failure before it finds the holes again
//     (blocks that data made durable meanwhile excepted), a process crash
//     keeps them (rule 11). They are durable as Allocate gave them, zeros,
//     where no data made them durable: the allocation is metadata, the data
//     written into them since are not. So a block whose data a failed Sync
//     dropped (rule 7) reads as zeros after the next Sync, and the sync of
//     an O_DSYNC write to another block (rule 20) leaves a write to an
//     allocated block pending. Only the holes Allocate filled are its
//     blocks: one of its range that the page cache held already (a write
//     or a store gave it) is durable with its data, and one a truncate
//     then cut whole is freed, Allocate's no more.
//
//  17. Capacity (DESIGN.md F2 "mapped pages on a full disk", F3 ENOSPC).
//     Mount.Capacity, or FS.SetCapacity, limits a file system (a mount, or
//     the root disk) to a number of 4 KiB blocks; by default there is no
//     limit. The blocks of its named files count against it; a file's are
//     free once its last name is removed (Linux waits for the last close
//     too). With no free block left: a File.WriteAt writes the blocks it
//     has or can get, in order, and fails with ENOSPC, as os.File.WriteAt
//     does after a short write(2); Allocate allocates holes in order while
//     blocks last, grows the file over those, as ext4 does (tmpfs would
//     allocate nothing), and fails with ENOSPC; a store through a Region
//     stores the pages before the first that has no block and cannot get
//     one and fails there with ErrSIGBUS, as do an atomic and a load (a
//     read fault allocates a page on tmpfs; here a load allocates nothing,
//     as on ext4, but faults on a full disk as on tmpfs: the weaker of
//     each). The kernel kills the process there; package sim turns
//     ErrSIGBUS into that death, an F1 crash at that point. Read(2) of a
//     hole never fails. Crash states and clones keep the capacity and
//     count the blocks they hold; on a file system with a capacity a
//     file's fingerprint covers which blocks it holds, since a hole and a
//     block of zeros read the same but a store to the hole may fault. An
//     injected Error(ENOSPC) fails any operation as rule 7's faults do,
//     Allocate included.
//
//  18. Profiles (DESIGN.md F2 "file-system profiles"). A Profile is what
//     one file system leaves of the files on a disk after a power failure:
//     of the states rules 2 to 10 allow, the ones it can produce.
//     PendingUnder describes a snapshot under one, and its choices are
//     exactly the profile's states; Pending is the zero Profile, the rules
//     alone. Files on persistent memory and shared memory follow their
//     medium's rules (13, 14) under every profile. A profile is made of:
//
//     a. Unit: a file on a disk has the profile's Sector as its unit of
//     rule 15: 512 where a page written back may tear at its sectors,
//     4096 where a block reaches the disk whole.
//
//     b. Tails (Garbage): each state in which a stale byte (rule 5) of a
//     file on a disk reads as zero has a twin, Choice.Garbage, in which the
//     stale bytes of every such file read as garbage where a lost change
//     would have put data, as Tail.Garbage makes them. A Pending has the
//     twins (Tails 2) only where some file on a disk has a pending size
//     and a data unit at or past the least of its sizes: nowhere else can
//     a twin differ.
//
//     c. Ordered size (OrderedSize): a state that keeps size version v of a
//     file on a disk keeps the data of every extending write among
//     versions 1 to v: each data unit holding a byte that the write exposed
//     (at or past the size before it) and that no later size up to v cut
//     is at least at its version as of the write. Data reach the disk
//     before the size that exposes them; data without the size still may.
//
//     d. Rename flush (RenameFlush): a rename that gives a file the name of
//     another file is durable only after the file's size as of the rename
//     and the data then in its fresh blocks (those with no durable block,
//     which a write allocates): a state that keeps the rename keeps those
//     versions, and once the rename is durable (SyncDir) every state does,
//     until File.Sync makes them durable anyway.
//
//     The profiles (profile.go; their sources in docs/DESIGN.md F2): posix
//     and ext4-writeback (512, garbage), xfs (512, c), ext4-ordered (512,
//     c, d), btrfs (4096, c, d), and posix-4k (4096, the rules before
//     profiles). Count and Choices(AllSubsets) count and yield exactly a
//     profile's states: under ordering rules, by namespace prefix and sizes
//     first, then the data from the least versions those need. A sample
//     draws states of the rules and moves each to its Nearest, the state
//     of the profile that keeps everything it keeps and as little more as
//     c and d need; a cut of InOrderPrefixes keeps every change before it,
//     so it keeps to c and to d for the renames it keeps, and is moved to
//     its Nearest for those already durable. Translate maps a state of one
//     description of a snapshot to another's: the same state where the
//     units are finer or the same, the one that loses a coarser unit whole
//     where any part of it was lost.
//
//  19. Datasync (fdatasync(2); DESIGN.md F2, "file written with write()").
//     File.Datasync makes durable what File.Sync does (rule 3): the data,
//     the size and the blocks Allocate gave, the metadata needed to read the
//     data back. What fdatasync may leave behind, a modification time or a
//     mode, is not state here: ModTime is always zero and a mode is set by
//     its create. Like Sync it makes no name durable, and a SyncFailure on
//     it drops the pages (rule 7).
//
//  20. Synchronized writes (open(2) O_DSYNC and O_SYNC: POSIX synchronized
//     I/O data and file integrity completion). A write (WriteAt, Append)
//     through a file opened with O_DSYNC or O_SYNC is two operations: the
//     write into the page cache (rules 2, 4), then the sync of the range
//     written, an OpWriteSync, as Linux's generic_write_sync calls
//     vfs_fsync_range over it. That sync makes durable the blocks of the
//     range with their current content, and the file's metadata: its size,
//     the blocks Allocate gave (rule 16), and every cut of its size history
//     (rule 4) — each cut is applied to the durable block and what earlier
//     writes put where it cut is dropped, so that a crash never shows bytes
//     a truncate removed once a later size is durable. The other blocks
//     keep their pending writes; a write of theirs lost below the durable
//     size reads as zeros, since rule 5's tail is about bytes past a
//     durable size. O_SYNC differs from O_DSYNC only by metadata this file
//     system does not have (rule 19). Options.BeforeWriteSync is called
//     between the two, without the lock, so that a simulator may crash
//     there and keep any part of the write. A sync that fails (SyncFailure,
//     rule 7, or an injected Error) fails the write with nothing written,
//     as write(2) returns it, though the bytes are in the page cache; a
//     short write is synced up to where it stopped.
//
//  21. Appends (write(2) on a file opened with O_APPEND). File.Append finds
//     the end of the file and writes there in one operation, an OpAppend
//     whose Off is that end, so that appends through several handles never
//     overwrite each other; for the other rules it is a write (rules 2, 4,
//     17, 20). WriteAt on such a file fails as os.File.WriteAt does, and
//     Append on a file opened without O_APPEND with engine.ErrNotSupported.
//
//  22. Hard links (link(2); ALICE, Pillai et al., OSDI'14, treats a link as
//     a create). FS.Link gives a file a new name: a namespace change of the
//     new name's directory (rule 8), durable after SyncDir of it (rule 10),
//     which a crash state replays as a create of the existing inode. A crash
//     state that keeps two names of a file has one file under both: a clone
//     makes one inode of an inode it reaches twice. The file's blocks count
//     until its last name is removed (rule 17), and a fingerprint tells one
//     file under two names from two files that hold the same bytes.
//
//  23. RemoveAll (engine.RemoveAll, as os.RemoveAll and rm -r do it: one
//     unlink or rmdir per name). It is no operation of its own: a Remove per
//     name, the entries of a directory in name order before the directory,
//     each a change of rule 8, so that a crash keeps a prefix of them — a
//     directory partly emptied, never a directory gone while a name in it
//     is left.
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
// An image that is recovered once and then dropped — the simulator's use —
// need not keep either. Untrack stops the history: from then on a write
// copies its block at most once and nothing becomes durable, which halves
// the copying of a recovery that writes and drains. Release ends a file
// system and hands the nodes and blocks it owns exclusively (those of its
// own epochs, where it was never cloned) to pools the next clones draw
// from; its operations fail with engine.ErrClosed from then on, so that
// nothing left running of a recovery can read memory given to another.
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
// handle carries the owner of the View it was taken through, so that
// ReleaseLocks can do what the kernel does when a process dies. A View is a
// small value holding the FS and an owner; files, regions and locks keep
// the owner they were opened with, and every Op they log carries it.
// Beside them, each inode keeps fcntl's POSIX record locks
// (recordlock.go, RecordLocker, which *FS and its Views implement apart
// from engine.FS): a list of (owner, pid, range, type) and the simulated
// process that set each. Setting a range removes the owner's locks over it
// (splitting those that stick out) and adds the new one merged with the
// owner's touching locks of the same type; an owner never conflicts with
// itself; two owners conflict where they overlap and one lock is
// exclusive. Sets and unlocks are operations of the trace (OpRecordLock
// "setlk", OpRecordUnlock "unlk", with the range and type); a test of a
// range (F_GETLK) changes nothing and is not logged. ReleaseLocks drops a
// process's record locks too; a crash clone has none.
// Marks (FS.Mark) are operations that change nothing: they take an Index
// so that the simulator's markers and the storage operations share one
// order, and a fault injected on them is ignored.
//
// Persistent memory, in the block history. A region store on PMem is a
// change per aligned word; Flush keeps byte ranges (a Flush of a whole
// 1 GiB region is one range, not 2^24 lines), and Drain walks the dirty
// blocks those ranges touch, or the ranges' blocks, whichever are fewer,
// then for each block ANDs the flushed lines with the lines its changes
// touch, copies those lines into the durable block and cuts them out of
// the history. When no change is left, the durable block becomes the page
// cache's, shared, as Sync does. A Drain costs the changes it makes
// durable, and history never outlives the Drain of its line, so a long
// workload of stores and Persists holds only what is not yet durable. The
// dates rule 5 needs are kept per line, and only where a size the file had
// since its last Sync lies at or below the line: elsewhere no size version
// could make a byte of the line stale, whatever the date (on a pool whose
// size is durable, that is every line).
//
// Fingerprints. A block's hash is XXH3-128 of its bytes
// and cached in the block; a node of a block tree caches the hash of its
// 64 children (a hole hashes as zeros), and a write clears the caches
// along the path it copies or changes, which is the path it owns; a file
// hashes its size and its tree at the fewest levels that span the size, so
// that trees of different heights but equal content agree; a directory
// hashes its sorted entries and caches the result. Caches are set
// atomically: shared blocks and nodes may be hashed by several file
// systems at once, and are immutable.
//
// Fault injection follows Pebble's errorfs: a one-method Injector is asked
// about every operation before it takes effect; Rules built from composable
// predicates (OnIndex, OpKinds, PathGlob, And, Or, Not) is the usual one. An
// injected error wraps both ErrInjected and the errno. A Rule is a
// description; each Rules made of it counts from 0, with copies of its own
// of the predicates that count (Counter), so that one Rule serves every
// run of a test that runs its workload many times. Options.Failed sees how
// every operation that fails, or that had a fault injected, returns.
//
// Wrap puts the same injection on any engine.FS, the OS backend included,
// as errorfs wraps any vfs.FS: each call through it is an Op, asked about
// before it reaches the FS underneath. It can only fail or change calls,
// never change what the storage underneath keeps: a SyncFailure through
// it fails the call, and the pages stay dirty.
package faultfs
