// Package tx is crashsim's persistent object store: a pool file holding a
// root object of a Go type, typed persistent pointers, and logged
// transactions — Corundum's programming model and TMFAlloc's single writer
// and many readers, in Go, on any engine.Region: a DAX file, a file mapped
// through the page cache, shared memory, or the crash laboratory's
// simulated machine, which checks every crash the protocol can meet.
//
// # Usage
//
// A program declares a tag type for each pool, so that the pool is part of
// every pointer's type, and the types it stores:
//
//	type Store struct{}                            // the pool's tag
//
//	type Node struct {
//		Value int64
//		Next  tx.Box[Store, Node]
//	}
//
//	type Root struct {
//		Users tx.Map[Store]                       // a persistent hash map, bytes to bytes
//		Head  tx.Box[Store, Node]                 // an owning pointer
//		Hits  int64
//		Mu    tx.Mutex                            // free again after any restart
//	}
//
//	name := filepath.Join(dir, "store.pool")
//	p, err := tx.Create[Store, Root](engine.OSFS{}, name, &tx.Options{Layout: "store"})
//	...
//	p, err = tx.Open[Store, Root](engine.OSFS{}, name, &tx.Options{Layout: "store"}) // after a restart
//	defer p.Close()
//	root := p.Root()                               // a tx.Ptr[Store, Root]
//
//	err = p.Update(func(t *tx.Tx[Store]) error {
//		r, err := root.Get(t)                     // a copy of the root
//		if err != nil {
//			return err
//		}
//		if r.Users.IsNil() {
//			if r.Users, err = tx.NewMap(t); err != nil {
//				return err
//			}
//		}
//		if err := r.Users.Put(t, []byte("ada"), []byte("lovelace")); err != nil {
//			return err
//		}
//		r.Head, err = tx.NewBox(t, Node{Value: 1, Next: r.Head})
//		if err != nil {
//			return err
//		}
//		r.Hits++
//		return root.Set(t, r)                    // all of it durable when Update returns nil
//	})
//
//	hits := tx.Field(root, func(r *Root) *int64 { return &r.Hits })
//	err = p.View(func(t *tx.Tx[Store]) error {
//		n, err := hits.Get(t)                     // reads one field, in place
//		...
//	})
//
// The family of pointers: Ptr borrows (a whole object or a field: the cell
// through which a transaction changes a value in place, with Get, Set and
// Modify); Box owns one object; Rc and Arc count their owners (Arc in one
// step, for goroutines sharing a transaction); Weak is a volatile handle
// that keeps nothing alive; Vec is a growable array, Bytes and String
// immutable blobs, Map a hash map. Mutex and RWMutex are persistent locks
// (TryLock, Unlock, Lock). Freeing an owner frees what it owns, recursively.
//
// Objects carry no checksum of their own, as in PMDK and bbolt: a damaged
// byte of a value reads as another value. A value wrapped in Checked —
// tx.Checked[int64] as a field, a Box[Tag, tx.Checked[Record]] — is
// stored with a checksum of its bytes and verified at every read, which
// returns ErrCorrupt rather than a wrong value (ExampleChecked).
//
// Check walks everything reachable from the root and reports leaks,
// double allocations, overlaps, bad reference counts, pointers out of
// range or of another pool, and any damage to the package's own
// structures (maps, vectors, blobs, reference-counted objects); Options.
// Strict runs it after every commit.
//
// Layouts. A pool remembers what it holds, its layout, and Open refuses a
// program that would read it as something else (ErrLayout). By default
// the layout is named after the root type — its Go name and Options.Layout
// — and includes the shape of the root type: renaming the root type, or
// moving it to another package, makes the pool unreadable to the renamed
// program. A program that names its layout and gives it a version —
// Options.Layout and Options.Version — owns the name instead, as with
// PMDK's layout strings, and moves from one version to the next with
// Options.Upgrades, as with SQL migrations: UpgradeRoot(1, f) takes a pool
// from version 1 to 2, f building the new root from the old.
// ExampleUpgradeRoot shows a release that creates a pool and the next
// release, whose root has a field more, upgrading it.
//
// A versioned layout's identity is its name, its version and the
// structure of its root type (fields' kinds, sizes and offsets, and those
// of every type its pointers reach), never a Go type name: the types may
// be renamed or moved freely, and a change to any of them without a new
// version is still an ErrLayout. Each upgrade runs in a transaction of its
// own, which changes the root and whatever else it rewrites together with
// the recorded version: a crash leaves the pool at the old version, intact,
// or at the new one, complete, and a failed upgrade aborts and is Open's
// error. A pool of a newer version than the program's, or of an older one
// it has no upgrade from, is refused with ErrLayoutVersion, as is a
// read-only Open of an older one (readers upgrade nothing), and a View of
// a read-only pool whose layout a writer upgraded since it was opened. An
// upgrade from version 0 adopts a pool of the default layout into
// versioned layouts.
//
// # Caveats
//
// A Tx is valid only inside the function it was given to; a Tx kept past
// it fails with ErrClosed. Values are copied in and out of the pool: no Go
// pointer into the mapping ever leaves the package, so a value read in one
// transaction is a snapshot, and writing it back in another overwrites
// whatever changed in between.
//
// Updates run one at a time. Code that takes part in a running
// transaction takes its *Tx as an argument: tx.Update nests a transaction
// in it (flattened: its failure aborts the whole), tx.View reads it
// without writing. The pool's Update called inside an Update's or a View's
// function would wait for itself: do not (as with bbolt). Goroutines started
// by an Update's function may use its Tx, but must be done before the
// function returns.
//
// A View in a pool opened ReadOnly, beside a writer in another process,
// may run its function more than once (see View): its effects must be
// repeatable.
//
// A transaction's changes go through its log, which Options.LogSize
// bounds (ErrTxTooLarge). New objects are not logged, so building large
// structures in one transaction is cheap; overwriting a large existing one
// is not.
//
// Cyclic Rc or Arc references are never freed (Check reports them as
// leaks), as in Corundum.
//
// Full disks. The pool file is mapped, and where a page of a mapping has
// no block and the file system cannot allocate one, a store to it (on
// tmpfs, even a load) kills the process with SIGBUS. So the pool never
// maps a page without a block: Create allocates every block of the file
// (engine.Allocate, fallocate) before it maps it, growth allocates the new
// range before it extends the mapping, and a writer's Open allocates the
// whole file before recovery reads it, as does a reader that recovers a
// pool no writer has open. On a full disk each fails early with ErrNoSpace
// wrapping the file system's ENOSPC: Create leaves no file behind, an
// Update that must grow the pool is aborted and leaves it as it was, usable,
// and Open leaves the pool untouched. The limit: a hole made in the file
// behind the pool's back while it is open — punched (fallocate
// --punch-hole), or the file replaced by a sparse copy (cp
// --sparse=always) — is a page without a block again, and touching it on a
// full disk still kills the process; the next writer's Open allocates it
// again, or fails with ErrNoSpace. A reader that opens the pool beside a
// live writer allocates nothing: the writer did. A file system may
// allocate part of a range before it runs out of space and grow the file
// over that part (ext4 does): the pool ignores a tail past its heap, and
// its next growth uses it.
//
// # Corundum's bug classes
//
// Corundum prevents seven classes of persistent-memory bugs with Rust's
// type system. This package prevents each with Go's types and the shape
// of its API where it can, and detects the rest. Each row names the test
// that tries the bug (engine/tx unless it says otherwise).
//
//	bug                      what goes wrong                           how this package prevents or detects it
//	-----------------------  ----------------------------------------  -----------------------------------------------------
//	inter-pool pointer       a pointer into another pool, which may    Prevented by types: Ptr[Tag, T], Box, Rc... carry the
//	                         not be open                               pool's Tag, so storing one pool's pointer in another's
//	                                                                   object does not compile; a stored type with a field of
//	                                                                   another Tag is refused at first use (ErrType).
//	                                                                   Detected: every pointer holds its pool file's 16-bit
//	                                                                   identity, so one from another file of the same Tag is
//	                                                                   ErrPointer when followed and a Check problem.
//	                                                                   Test: TestBugInterPoolPointer (builds a program that
//	                                                                   must not compile).
//	persistent-to-volatile   a persistent object holding a Go          Prevented at first use: a type is checked by
//	pointer                  pointer, dangling after a restart         reflection, once, and refused (ErrType, naming the
//	                                                                   field) if it holds a Go pointer, slice, map, string,
//	                                                                   interface, channel, func, uintptr or unsafe.Pointer.
//	                                                                   Test: TestBugPersistentToVolatile.
//	volatile-to-persistent   a Go reference keeping a freed object     Prevented by API shape: values are copied out, never
//	pointer                  "alive", or a zero-referenced one         Go pointers into the mapping; a pointer held in Go
//	                         reachable                                 memory is an offset that keeps nothing alive. Weak is
//	                                                                   the volatile reference: it cannot be stored (ErrType)
//	                                                                   and Promote fails once the object is freed. Detected:
//	                                                                   a stale pointer followed in an Update is ErrPointer.
//	                                                                   Test: TestBugVolatileToPersistent.
//	unlogged update          a change a crash can tear or that an      Prevented by API shape: every write takes the Tx of an
//	                         abort cannot undo                         Update; a View's Tx refuses writes (ErrReadOnly), a Tx
//	                                                                   past its function fails (ErrClosed), and no API writes
//	                                                                   the pool outside a transaction. Detected: the crashsim
//	                                                                   scenarios pool-* explore every crash of the commit
//	                                                                   protocol, and catch each deliberate mistake in it.
//	                                                                   Tests: TestBugUnloggedUpdate; sim/scenarios
//	                                                                   TestPoolBugVariantsCaught and TestPoolRecoveryCrashes.
//	data race                two goroutines changing persistent        Prevented: Updates run one at a time (one writer per
//	                         data at once                              pool, flock across processes: ErrLocked); the
//	                                                                   operations of one Tx are serialized; a View reads only
//	                                                                   committed state (a shared lock in this process, a
//	                                                                   version word across processes). Tests: TestBugDataRace
//	                                                                   (under -race), TestWriterAndReadersAcrossProcesses.
//	locked mutex after a     a persistent lock held by a process that  Prevented: the lock word holds the epoch of the open
//	crash                    died, locked forever                      that took it; each writer's open is a new epoch, so
//	                                                                   every older lock is free. Test:
//	                                                                   TestMutexResetsOnRestart.
//	memory leak              an allocation nothing points to           Prevented: allocation only in an Update, undone by an
//	                                                                   abort or a crash (recovery rolls the allocator back
//	                                                                   with the rest); Free frees what an object owns.
//	                                                                   Detected: Check reports every unreachable block
//	                                                                   (Options.Strict after every commit in tests), cycles of
//	                                                                   Rc included. Tests: TestBugLeak,
//	                                                                   TestRecoveryIsIdempotent.
//
// # Implementation notes
//
// The file is drawn in header.go, the log in log.go, the heap in
// engine/alloc. Pointers are offsets with the pool's identity in their top
// 16 bits, so growth, which extends the file and remaps it, changes none.
//
// Transactions. An Update's writes go to a private write set, sorted
// disjoint ranges with their new bytes; its reads see the pool through it.
// Writes to memory the transaction allocated are flagged new: nothing to
// restore. At commit the entries that change nothing are dropped and the
// others trimmed to the words that change; then either
//
//   - in a pool of format 6, which Create writes, a redo log is written —
//     the new bytes of every range, and the new memory in place — and
//     drained: one wait for the media, after which the transaction is
//     committed; then the new bytes are written in place and flushed, and
//     the next commit's drain makes them durable (redo.go has the protocol
//     and recovery); or
//   - in a pool of an older format, the undo log is written (old bytes,
//     and a hash of the new contents) and drained, the new bytes written
//     in place and drained: two waits (log.go); or
//   - when the transaction changes at most one aligned word of committed
//     memory, the word is stored atomically and drained, and no log is
//     written (commitWord in txn.go): one wait. An Update that only
//     allocates, or only frees, is one. Its new memory is left to the
//     next drain, which the next commit makes anyway, and skipped if that
//     commit frees it. In format 6, if a log recovery would replay holds
//     the word, the transaction is a word log (one wait, redo.go), or,
//     right after one, a one-word commit that retires the older log in
//     its one wait; a one-word commit that may publish memory left to the
//     next drain (it allocates nothing, and that memory is not freed) is
//     logged instead, that memory with it as the log's new memory
//     (listUnflushed in txn.go).
//
// Why a redo log, in two slots, with its data drained by the next commit.
// The floor of a transaction is its waits for the media (a CLWB+SFENCE
// drain costs 170–250 ns on the development machines, an msync 390 ns on
// tmpfs and a disk write on a disk; docs/BENCHMARKS.md), and one wait is
// the least a durable commit can have. An undo log cannot get there: the
// old bytes must be durable before the first new byte is in place, and
// the new bytes before Update returns. A redo log can, if recovery can
// tell a committed log from one a crash interrupted without a commit
// record of its own — a record made durable after the log is a second
// wait (PMDK's redo logs for its allocator's metadata: store, drain,
// apply, drain, clear, drain; go-pmem-transaction's redo transactions
// and CapybaraKV's corruption-detecting Boolean, a commit flag flipped
// after the log, likewise). Format 3's marks (issue 16) already tell a
// whole log from a torn one line by line, as Mnemosyne's torn bits do
// word by word, and its checksums a damaged one from both; what they
// cannot tell is a whole log whose drain never returned, written back by
// the media on its own, from a committed one. Its new memory can: the
// drain that makes the log durable makes the transaction's new memory
// durable too, so a whole log whose new memory does not hold what the
// transaction wrote there never committed (committedLog in redo.go).
// And applying the log need not wait either: the new bytes written in
// place are made durable by the next drain, as Mnemosyne truncates its
// log after write-back, without its background thread — so the log of
// transaction k must stay until k+1's drain, and k+1 writes the other of
// two slots (the redo log with several logs of Correia, Ramalhete and
// Felber's durable transactions has the same shape). Kamino-Tx's copy of
// the data, which takes the copy off the critical path, costs the pool
// twice its size; a redo log costs the log area twice a transaction's log.
// What it costs in code: a log holds no range of memory its transaction
// freed (free drops those writes: a later transaction may reuse it before
// a replay), and a one-word commit never writes a range of a log recovery
// would replay: a word in one is logged as a word log, stored in place
// before its drain, and the next such commit retires the older log, which
// leaves no log recovery would replay (redo.go). Pools of formats 1 to 5
// keep their undo logs (header.go).
//
// What one wait buys, measured (docs/BENCHMARKS.md, issue 15): on the
// development machine, a virtual one whose CLWB writes a line back and
// evicts it, nothing — a transaction pays a miss on each line it writes
// again, and both protocols write as many; BenchmarkUpdateProtocols finds
// format 6's update 2–4 % slower than format 5's. An allocation and a
// free alone are one-word commits in both formats once a word log and the
// commit after it have left no log holding the heap's word. Format 6
// flushed an allocation's new memory with its commit at first (1.24–1.27
// times format 5's time), because a log whose drain never returned is
// told from a committed one by its new memory, and memory a later log
// publishes must be durable whenever that log is whole. It now leaves it
// to the next drain, as format 5 does, and a logged commit that keeps it
// lists it as its own new memory, with the allocator's word that
// allocated it, which keeps one-word commits from freeing and allocating
// it again under that log (listUnflushed): format 6 over format 5,
// paired, 0.99–1.07 (1.24–1.37 before, the same day).
//
// The heap's metadata goes through the same write set (the transaction is
// the heap's Journal), so allocation and free commit, abort and recover
// with the rest; a block freed by a transaction is not reused by it.
//
// Storage calls. A commit makes its stores and flushes as an
// engine.Batch, one call of the Region for the log and one for the data
// in place, rather than one call a store: on the OS backend each call
// takes the mapping's lock, two atomic operations.
//
// Damage to the package's structures. In a pool of format 6, which Create
// writes, and of formats 5 and 4, a map's header and entries, a vector's
// header and a blob's header carry checksums, verified by every read of
// them (ErrCorrupt): a damaged count or length is never used. In formats
// 5 and 6 the root line (the root pointer and the next identity) has one too, verified
// by Open, read-only or not, and by Check: a damaged root pointer is never
// taken for the root, even where it points at another object as large. Open
// checks, in every format, that the root pointer is the start of an
// allocated block at least as large as the root, and a writer's Open the
// live line (the unclean flag, and the epoch with its check: a damaged
// epoch taken again would make the persistent locks of an earlier open look
// held). Check verifies, in every format, how the structures fit together:
// every map entry in the bucket of its key's hash, the chains holding as
// many entries as the map counts; a vector's capacity what its buffer
// holds; reference-counted objects' counts and identities (unique, below
// the next one); every borrowed pointer at a value of its type; and the
// heap's reachability. So a damaged byte of the package's metadata is found
// by the next read or by Check — TestDamagedMetadataFound flips every bit
// of it — except a borrowed pointer (a Ptr stored in an object) damaged
// into a pointer at another value of its type, which is a pointer the
// program could have stored. Pools of older formats keep structures without
// checksums (a pool's objects are never rewritten): there a map entry's
// value length, a vector's length and a blob's length are unprotected, and
// in formats before 5 a root pointer damaged into the start of another
// object at least as large as the root is found only by Check (the root's
// objects leak). A View bounds every pointer and length it follows by the
// pool's file (ErrPointer past it), so that no damaged length sizes a
// buffer; TestReadOnlyPastTheFile and TestReadOnlyRootPointerDamage are
// the read-only reader's tests.
//
// Torn and damaged logs. A crash while a log is written leaves it torn,
// and nothing of its transaction is in place: recovery ignores it. A log
// damaged after it was whole may belong to a transaction half in place:
// recovery must not ignore it, nor apply it. Every 64-byte line of the
// log ends with a mark, stored after the rest of the line, which says
// that the line is whole (stores to a line reach the media in order); the
// log's header and entries have checksums. A log that fails its checksums
// with every mark in place was whole, and is damaged: Open returns
// ErrCorrupt — unless its ranges check and hold the transaction's new
// contents, which only its old bytes, damaged, would have undone. log.go
// states the rule for an undo log, redo.go for a redo log (a damaged log
// whose transaction is not wholly in place is ErrCorrupt, never
// replayed); TestDamagedLogMidTransaction flips every bit and byte of the
// logs of a pool that crashed with a transaction half in place, in
// formats 5 and 6. The marks cost no drain: one store per line, and one
// more per line of the log in place that the new one overwrites.
//
// Readers and the writer. Changing data in place is the short last step
// of a commit. In this process it takes applyMu exclusively, and Views
// hold it shared: a View never sees a commit half done, and waits at most
// for one. Across processes there is no shared lock: the writer makes the
// version word odd while it writes in place and even after (a seqlock), and
// a View of a pool opened ReadOnly checks the word after every read, and
// runs again from the start if a writer was at work. A writer that died
// with the word odd leaves it so; once no writer holds the lock, a reader
// that waited recovers the log itself. So no reader, in any process, sees
// an uncommitted or torn state, and none ever blocks the writer.
//
// The writer's lock is an exclusive flock on the pool file, taken by Open
// and held until Close: a second writer gets ErrLocked, in any process.
// Create builds the pool under a temporary name and renames it into place
// when durable.
//
// Layouts and formats. The layout record (header.go) holds the pool's
// layout — version, hash, name — and is written only in transactions, so
// an upgrade's commit makes the new root, the rewritten objects and the new
// version durable together, by the same log as any transaction; it is read
// after the log is recovered. The header is written once, and the format
// version in it says which parts the pool has: format 6, which Create
// writes, a layout record, a redo log in two slots with marks, and
// checksums in the engine's structures and the root line; format 5 the
// same with an undo log with marks; format 4 the same without the root
// line's; format 3 a record and a log with marks, structures without
// checksums; format 2 a record and a log without marks (legacylog.go);
// format 1, of the releases before
// layout versions, neither, and its header holds the layout. A pool of
// format 1 or 2 is opened as it is, and its transactions write the log
// of its format, so that the release that wrote it can open it still,
// until its first layout upgrade: then a pool of format 1 gets its record
// in a transaction (format 1 ignores it), the log is retired in every
// format, and the header is rewritten to say format 3 — through a durable
// copy in the header shadow, since the header is two cache lines and one
// checksum that a crash could tear. An Open that finds a torn header
// reads its copy, and the writer's finishes the rewrite. Older releases
// refuse format 3 with ErrVersion: they would read an upgraded root with
// their old type, and the log with marks as one without; and format 5,
// whose root line they would change without its checksum; and format 6,
// whose redo log they would roll "back" with its new bytes. Pools of
// formats 3 to 5 keep their undo log and its two waits: the release that
// wrote one opens it still. Until that
// upgrade, such a pool keeps the limit of its log: damaged after a crash,
// it can pass for torn (legacylog.go).
// Checksums are checked before the fields they cover are read, so that
// damage is ErrCorrupt, never another version or layout. The crash
// laboratory's scenario pool-upgrade (sim/scenarios) explores every crash
// of the adoption, the conversion and two upgrades, and catches each of
// its bug variants: the header rewritten in place, and an upgrade that
// records its version in a transaction of its own. The other pool
// scenarios explore format 6's commit and recovery, and catch each of
// their bug variants, three of them the redo log's: a log written over the
// last one before that transaction's data is durable (pool-bug-redo-one-
// slot), a recovery that trusts a log's header without checking its
// lines (pool-bug-redo-unchecked), and one that replays a word log with
// no older log, over the one-word commits made since
// (pool-bug-redo-word-alone, a variant of pool-words).
//
// Checked values. Why a wrapper type and not a pool option that
// checksums every object: the unit of a checksum is what is read and
// written whole, and only the type says what that is. Fields are changed
// in place through Ptr cells; a checksum per object would make every such
// write read and hash the whole object (a 4 KiB object for one word), and
// need room in every block. Checked is chosen per value, in the type, so
// only what the program wraps pays; its inner value is unexported, so
// Field cannot reach into it and no write can skip its checksum; and it
// changes no format, so pools of every format hold it. The pool finds
// Checked values in a type once, by reflection, as it finds pointers; it
// seals them (XXH3 of the value's bytes, with that of zero bytes taken
// out so that the zero value is valid) wherever a value is stored — Ptr
// Set and Modify, new objects, vector elements, an upgrade's new root —
// and verifies them wherever one is read, and in Check. The cost is one
// hash of the value per read and per write; docs/BENCHMARKS.md has it,
// for objects of 64 bytes and 4 KiB.
//
// Nesting. A running transaction is passed as an argument, as a *sql.Tx
// is: tx.Update flattens a nested transaction into it (its failure dooms
// the outer one), and tx.View gives a read-only handle on it. The pool's
// own Update, called inside one, would wait for itself.
package tx
