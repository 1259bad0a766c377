// Package shm is a blob store in shared memory that many processes use at
// once: one creates a namespace, any number attach to it, and every one
// appends blobs, resolves the handles the appends return — in its own
// process or another — and acknowledges them once consumed. It is the
// stable-fragmented-buffer crate in Go, on the storage layer (engine.FS
// and engine.Region over /dev/shm), so the same code runs on real shared
// memory and on the crash laboratory's simulated machine.
//
// A namespace is a control object and fixed-size chunks (32 MiB by
// default), each an object of its own in /dev/shm created with mode
// 0600. Appends take no lock: a compare-and-swap on the active chunk's
// used word reserves the space, the blob is copied in, and one atomic
// store publishes it. A blob never moves once written, and its chunk is
// chained after the others, never grown, so its handle — chunk, its
// generation, offset, size: 16 bytes, no pointer — stays valid for
// every process until the chunk is freed: when all its blobs are
// acknowledged and a decay period has passed, or when its TTL expires,
// acknowledged or not (a consumer may have died).
//
// # Usage
//
//	o := &shm.Options{Dir: dir} // Dir: /dev/shm by default
//	// Creator process: <dir>/myapp_ctrl, <dir>/myapp_data_<generation>, …
//	store, err := shm.Create("myapp", o)
//	defer store.Close()
//	go store.RunCleanup(ctx, 100*time.Millisecond) // frees acknowledged and expired chunks
//
//	h, err := store.Append([]byte("hello world")) // a 16-byte handle, not a pointer
//	data, err := store.Resolve(h)                 // a copy of its own, whatever the cleaner does
//
//	// Attacher process, any number of them: the handle travels by value.
//	other, err := shm.Attach("myapp", o)
//	err = other.View(h, func(b []byte) { fmt.Printf("%d bytes in place\n", len(b)) }) // no copy
//	if errors.Is(err, shm.ErrGone) {
//		// freed while fn ran: what it saw is void
//	}
//	err = other.Acknowledge(h) // consumed: once its chunk's blobs all are, the chunk goes
//
// At startup, remove what an earlier run that was killed left behind:
//
//	n, err := shm.CleanupNamespace("myapp", o) // safe when there is nothing
//	store, err := shm.Create("myapp", o)
//
// Memory is bounded by MaxChunks × ChunkSize: a producer that outruns its
// consumers gets ErrFull, or waits.
//
//	o := &shm.Options{Dir: dir, ChunkSize: 64 << 10, MaxChunks: 2, Clock: clock, Prefetch: shm.PrefetchOff}
//	h, err := store.Append(make([]byte, 4096))
//	if errors.Is(err, shm.ErrFull) {
//		...
//	}
//	_, err = store.AppendWait(ctx, make([]byte, 4096))
//
// A consumer that restarts finds the blobs whose handles it lost:
//
//	for e, err := range store.Entries() {
//		if !e.Acked {
//			b, err := store.Resolve(e.Handle)
//			...
//		}
//	}
//
// Options has the seed's presets: DefaultOptions (32 MiB chunks, prefetch
// at 80%, decay 5 s, TTL 30 s), PerformanceOptions (64 MiB, 80%, 7 s,
// 30 s) and MemoryEfficientOptions (16 MiB, 90%, 1 s, 30 s). Stats counts
// chunks, bytes in use, acknowledgements, chunks freed by acknowledgement
// and by expiry.
//
// # What a crash leaves
//
// Shared memory survives the death of a process (kill -9, an OOM kill,
// a crash: docs/DESIGN.md F1) and nothing survives a power failure or a
// reboot (F2). The protocols are built so that a process killed at any
// instruction leaves a namespace every other process goes on using:
//
//   - a writer killed inside Append leaves the whole blob or none: no
//     reader — Resolve of the handle it would have returned, View,
//     Entries — sees a torn blob, a blob of another append, or bytes
//     that are not a blob. Its reservation is skipped by every reader and
//     freed with its chunk, at the chunk's TTL (its blob is never
//     acknowledged);
//   - an acknowledger killed inside Acknowledge leaves the blob
//     acknowledged or not; if it was marked but not counted, its chunk is
//     freed at its TTL rather than after its decay;
//   - a process killed while it creates a chunk leaves a slot that any
//     cleaner reclaims once the TTL has passed, object included;
//   - a cleaner killed while it frees a chunk leaves it freed or about to
//     be: the next pass of any cleaner finishes the job.
//
// Nothing else changes shared memory. After a power failure there is no
// namespace; what a crashed creator leaves behind, CleanupNamespace
// removes. Handles kept elsewhere (on a disk) from before never resolve in
// a namespace created since, even one of the same name, where the same
// place holds another blob: they are ErrNotFound or ErrGone.
//
// The crash laboratory checks the append, acknowledgement and cleanup
// protocols at every crash point of a writer (sim/scenarios, shm-*,
// with bug variants it catches) and, with several writer processes, a
// reader and a cleaner sharing a namespace, kills each of them at each
// of its operations while the others go on, judging their appends,
// resolves and acknowledgements by durable linearizability against the
// blob-store model with freeing (shm-procs); this package's
// tests kill writers with
// SIGKILL at every step and at random instructions, and many writers in
// many processes are checked linearizable against models.BlobStore.
//
// # Caveats
//
// A handle is not a capability. Every handle is checked before it is
// used — a chunk beyond MaxChunks, an offset outside a chunk, a chunk
// since freed or of another generation, an entry word that is not the
// one this handle's append published — and never reads outside the blob
// it names; but a process that can write the namespace can write blobs
// that hold entry words, and could then build a handle that resolves into
// the middle of one of its own blobs.
//
// The blobs are not checksummed: they are copied at memory speed, and
// memory damaged by other means reads as it is. Everything a process
// reads to find a blob — the control object, chunk headers, used words,
// entry words — is validated, and damage no crash leaves is ErrCorrupt.
//
// View's slice is the mapping itself, valid only while its function runs,
// and must not be modified. Resolve copies.
//
// Every process should run the cleaner (RunCleanup, or Cleanup now and
// then): a chunk another process freed stays mapped — its memory held —
// in a process until its cleaner or a use of the chunk notices.
//
// The lifecycle runs on the processes' shared clock, the system's wall
// clock by default: a step backwards delays frees, a step forwards hastens
// them. A consumer that holds a blob longer than the TTL finds it
// ErrGone. The decay of a chunk counts from when a cleaner first saw all
// its blobs acknowledged, not from the last acknowledgement.
//
// Words are in the machine's byte order: a namespace is for the processes
// of one machine, as shared memory is.
//
// # Implementation notes
//
// The layouts are drawn in format.go. An append is, on the active chunk:
//
//  1. load the used word: the end of the entries reserved, and the size
//     of the last blob reserved;
//  2. if the last entry has no word yet (its writer is slow, or dead),
//     store a "reserved" word with its size in it (a compare-and-swap from
//     zero): an entry word only ever goes from zero to reserved to
//     published to acknowledged, and so every entry but the last gives the
//     size of the next hop, for any reader, whatever became of its writer;
//  3. compare-and-swap the used word to the new end and this blob's size:
//     the reservation, the only step that can fail (another writer got
//     there first: go back to 1);
//  4. copy the blob after its entry word;
//  5. store the entry word — published, the size, and a 28-bit tag of the
//     namespace's nonce, the chunk, its generation, the offset and the
//     size — with one atomic 64-bit store, after the copy.
//
// A Store remembers, for each chunk, the used word its last published
// append left, and an append first tries step 3 with it: if it succeeds,
// no other writer came in between, steps 1 and 2 have nothing to do (the
// last entry is this process's own, published), and the append is one
// compare-and-swap, the copy and the store. If it fails, steps 1 to 3 as
// above.
//
// A reader of a handle loads the entry word and requires exactly the word
// that handle's append published: a word of another size, offset, chunk,
// generation or namespace has another tag. Until step 5 no reader takes
// the entry for a blob; after it, the bytes are all there (the copy comes
// before the store, and an atomic load orders the reader's copy after
// it). A reader that walks a chunk (Entries, the cleaner) reads the used
// word once and hops from entry to entry up to its end, by the sizes in
// the words and, for the last, in the used word.
//
// The chunks: a slot of the control object holds each (free, creating,
// live, freeing, with the generation and, for a transition in progress,
// when it began), so that MaxChunks bounds them all and every change of a
// chunk's state is one compare-and-swap of its slot word. A chunk is named
// by its generation, which a counter in the control object hands out, so
// that a slot reused holds an object of another name. Creation: claim a
// free slot, create the object (O_EXCL, mode 0600), allocate its memory
// (engine.Allocate: a full tmpfs is ErrNoSpace now, never SIGBUS at a
// store), map it, write its header, make the slot live, install it as
// the next chunk, and only then read a byte of every page (so that this
// process's appends meet no page fault: reading them is most of a
// creation's time, and an append that waits for the chunk waits only for
// the rest). The head
// word names the chunk appends go to and the next word the one prefetched
// to follow: when an append passes the threshold, the Store's prefetcher
// creates the next chunk; an append that finds the head full moves the
// head to it (a compare-and-swap) and seals the old one, and creates a
// chunk itself only if none was prefetched (Stats.CreatedInline).
//
// The cleaner never touches the head or the next chunk, nor an empty
// chunk younger than its decay or a second, whichever is longer: its
// creator is about to install it as the next (a chunk sealed there would
// be useless to the appends it is for; freed, another is created, and a
// cleaner that runs often enough could free each in turn). One whose
// creator died there is freed after that. For another live chunk it seals the used word (no reservation succeeds after that), counts
// the entries once, published or not, and records the count; a chunk whose
// acknowledgements reach its count gets the time a cleaner first saw it
// so, and is freed after the decay; one whose TTL passed since its first
// blob is freed anyway. A head past its TTL is moved on first. To free:
// the slot from live to freeing (one compare-and-swap decides which
// cleaner does it), unlink the object, the slot to free; a cleaner that
// finds a slot in freeing finishes it. An appender that had read the old
// head may still reserve in a chunk until it is sealed, which is why the
// cleaner counts after sealing: no entry is missed, so no chunk with an
// unacknowledged blob is freed before its TTL.
//
// Each process maps the chunks it uses, lazily, and keeps the mappings in
// a table indexed by slot; a mapping of a generation since freed is
// replaced or unmapped. A mapping is read through once, a byte a page,
// when it is made (the creator's too), so that the appends and resolves
// through it take no page fault: without it, a second process's first
// write to each page of a chunk was a fault, and two writers in two
// processes ran at a third to a half of one. Prefetch (and the
// prefetcher) in a process whose namespace already has its next chunk,
// created by another process, maps that chunk, so that the process's
// first use of it does not. View pins the mapping while its function runs;
// a free meanwhile — by a cleaner the function itself calls, say — leaves
// the unmap to the last View that ends, so nothing waits for a function.
//
// Every access to shared memory is a call on an engine.Region: Load64,
// CompareAndSwap64, Store64, WriteAt, ReadAt. On the OS backend each
// takes the mapping's read lock (two atomic additions); an append makes
// three such calls when no other writer came in between, four to seven
// otherwise (the load of the used word, help for the entry before, a
// chunk's first time), a resolve three, an acknowledgement four. Those calls are
// most of an append's or resolve's cost beside the copy: measured, an
// append of 8 bytes takes about 100 ns of CPU, half of it in them
// (docs/BENCHMARKS.md, "Shared-memory blob store").
//
// For the laboratory, whose runs must be functions of their seed, a Store
// can run with no goroutine of its own (Options.Prefetch: PrefetchInline
// or PrefetchOff) and a ManualClock.
//
// Departures from the seed: MaxChunks is bounded (at most 2^20; 1024 by
// default), since the slots are part of the control object; chunks are at
// most 1 GiB; a handle is 16 bytes; the decay counts from when a cleaner
// saw every blob acknowledged; the TTL also retires the head; the lifecycle
// options are the namespace's, recorded by Create; Entries, Check and
// Prefetch are new; chunk objects are named by generation, not by a
// counter of chunks.
package shm
