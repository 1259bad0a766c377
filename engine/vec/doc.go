// Package vec is a typed, growable array in a mapped file: a []T whose
// elements live in a file, survive a crash as a prefix of what was
// appended, and are read straight from the mapping, with no lock and no
// system call. It runs on any engine.FS: a file mapped through the page cache, a
// DAX file (persistent memory), shared memory, or the crash laboratory's
// simulated machine, which checks every crash its protocol can meet
// (sim/scenarios, vec-*).
//
// The element type T must be fixed-size and hold no Go pointer (no
// pointer, slice, string, map, interface, channel, func or uintptr): its
// bytes are the whole value, so they mean the same in another process or
// after a restart. Create and Open check it the first time T is used and
// name the offending field (ErrType).
//
// # Usage
//
//	type Point struct {
//		X, Y float64
//		ID   uint32
//	}
//
//	v, err := vec.Create[Point](engine.OSFS{}, name, nil)
//	err = v.Append(Point{1, 2, 7}, Point{3, 4, 8}) // in the mapping, not yet durable
//	err = v.Sync()                                 // the elements, then the length: durable now
//	p, err := v.At(1)
//	for i, p := range v.All() {
//		...
//	}
//	v, err = vec.Open[Point](engine.OSFS{}, name, nil) // after a restart
//	fmt.Println(v.Len(), v.View()[0].ID)              // View: the mapping itself, no copy
//
// One writer, or any number of readers, across processes (flock); a
// file that is not a vector of T on this machine is a typed error:
//
//	_, err = vec.Open[Point](engine.OSFS{}, name, &vec.Options{DataVersion: 1})
//	if errors.Is(err, vec.ErrLocked) {
//		... another writer has it open
//	}
//	_, err = vec.OpenWait[Point](ctx, engine.OSFS{}, name, &vec.Options{ReadOnly: true, DataVersion: 1})
//	_, err = vec.Open[[3]float64](engine.OSFS{}, name, &vec.Options{ReadOnly: true, DataVersion: 1})
//	if errors.Is(err, vec.ErrLayout) {
//		... not a vector of [3]float64
//	}
//
// Push appends one element, Set replaces one, Pop, Truncate and Resize
// change the length, Reserve grows the capacity ahead of time. Every
// change is durable after the next Sync; Close syncs.
//
// # Durability
//
// Sync makes the elements stored since the last Sync durable, waits for
// that, and only then makes a header with the new length durable. So
// after a crash — a process killed, or a power failure where the medium
// survives one:
//
//   - the length is that of the last Sync that returned, or of the Sync
//     that was running;
//   - every element below that length holds what the vector held at that
//     Sync: what was appended is a prefix of the appends, never a length
//     that covers bytes that did not persist; an element Set since the
//     last Sync holds its value at that Sync or any value Set since;
//   - nothing that Sync returned for is lost.
//
// An element is stored with one copy, so a crash can tear an element
// wider than the medium's failure-atomic unit while it is being stored
// or before the Sync that follows: a Set of such an element is not
// failure-atomic, an append is (the length does not cover it until it is
// durable whole). Per medium (engine.Medium, Vec.Medium):
//
//   - MappedFile (a file through the page cache): Sync is msync of the
//     pages stored since the last Sync, then a store and msync of one
//     header page. A power failure keeps any subset of the pages written
//     back early; a disk writes a 512-byte sector atomically, and an
//     element within one sector (one whose size is a power of two up to
//     512) is never torn; the header slots have a sector each. The file's
//     new size after a growth is made durable (fsync) before the mapping
//     covers it.
//   - PMem (a DAX file, MAP_SYNC): Sync is a cache-line write-back (CLWB)
//     of the lines stored and a fence, then the header's lines and a
//     fence. The failure-atomic unit is an aligned 8-byte word: elements
//     of 1, 2, 4 or 8 bytes are never torn, wider ones may be, by a power
//     failure before the Sync after their Set.
//   - SharedMemory (/dev/shm): Sync costs nothing and a power failure
//     loses the file, whatever was synced; a process crash keeps
//     everything that was stored, and the vector opens with the length of
//     the last Sync, as on the other media.
//
// A process crash (kill -9) on any medium keeps every store, so it
// leaves the length of the last Sync over elements that are all whole,
// but for an element whose Set the crash interrupted half-way through its
// copy.
//
// # Caveats
//
// View returns the mapping itself as a []T, as bbolt returns its mapped
// pages: it is valid only until the next growth (an Append, Push, Resize
// or Reserve beyond Cap moves the mapping) or Close, after which touching
// it may read another mapping's memory or fault. It must not be modified:
// a store there bypasses Sync's bookkeeping and the laboratory's trace.
// Copy what must outlive it. At, Pop and All return copies.
//
// A Vec is not safe for concurrent use when any goroutine changes it; its
// reads (Len, At, View, All) take no lock and may run concurrently with
// each other.
//
// A writer excludes every other opener, writer or reader, and readers
// exclude writers, in any process (flock on the file); so a reader never
// sees an append in progress, only what a writer that closed — or died —
// left. A reader maps the file, so it needs the right to write it.
//
// The elements are this machine's memory, as in the seed crate: a file
// is tied to the byte order and word size of the machine that wrote it,
// and another machine refuses it (ErrLayout) rather than misreading it.
// Convert it on the machine that wrote it. The element type's Go name is
// part of what a file records: a program that renames T keeps opening its
// files with Options.TypeName.
//
// The header is checksummed; the elements are not (they are written by
// plain stores, at memory speed): a flipped bit in an element is read as
// it is. Damage to the newer header slot that looks like a header write
// torn by a crash is taken for one: Open then returns the length of the
// Sync before.
//
// # Implementation notes
//
// The file is two header slots and the elements from offset 4096 (the
// byte diagram is in format.go, above Header). Sync writes the header with
// sequence number seq+1 into slot (seq+1)%2, never over the newest one,
// and Open takes the valid slot with the higher number: a torn header
// write fails its checksum and the other slot still holds the previous
// length. That is failure-atomic at any tearing unit, 8-byte words
// included, where an in-place length would have to stay outside the
// checksum to be stored with one 8-byte store.
//
// Stores go through the Region (WriteAt), so the laboratory records each
// and the Region's contract holds (a View's bytes are never written); on
// the OS backend a WriteAt takes the mapping's read lock, two atomic
// operations, which is most of what a Push costs: Append a batch where
// throughput matters (docs/BENCHMARKS.md). Reads do not: At and View read
// the elements from the result of Region.View, and At is small enough to
// be inlined (its error is a value built in place, not a call). On the OS backend that is the mapping itself; on a backend
// whose View copies (faultfs and the simulator), the vector keeps that
// copy and stores into it too, so that it reads what it stored, on every
// backend alike. The vector tells the two apart by asking for the same
// View twice. Push and Set copy the element into a buffer of the vector's
// own first, since a pointer to the argument passed to the Region's
// interface would be moved to the heap on every call.
//
// Sync flushes the byte range stored since the last Sync — one range, kept
// by merging stores less than a page apart; a store farther away starts
// the write-back of the range before it at once (Flush) — and drains it.
//
// A vector grows to twice its capacity, or to the length needed if that
// is more, so appends cost amortized O(1). A growth allocates the new
// blocks (engine.Allocate), makes the new size durable (File.Sync) and
// only then maps them (Region.Grow): a store never meets a hole, which on
// a full disk would kill the process with SIGBUS, and a header written
// later never covers bytes a crash could cut off the file. A full disk is
// ErrNoSpace wrapping ENOSPC, with the vector unchanged.
//
// Pop and Truncate change only the length in memory. Before anything is
// stored past a length that is below the durable one, that shorter length
// is made durable first: otherwise a crash could show the old length over
// elements stored since, a state the vector never had.
//
// A writer's Open allocates the whole file, as engine/tx does for its
// pools, so that a file made sparse since does not fault on a full disk.
// Create builds the file under a temporary name and renames it into place
// once it is durable, as engine/tx does.
package vec
