// Package alloc is a crash-consistent allocator of persistent memory: a
// heap of blocks in an engine.Region (or anything read as an io.ReaderAt),
// whose metadata changes go through the transaction that allocates or
// frees, so that an abort or a crash undoes them with the rest of it.
//
// The heap does not write its storage itself. It changes its metadata
// through a Journal, which engine/tx implements with its undo log; the
// heap keeps only a volatile index (free extents, run bitmaps, which
// pages belong to which block), rebuilt from the persistent metadata by
// Open and kept in step with the transaction by Commit and Abort.
//
// # Usage
//
//	err := alloc.Format(j, base, first, end)       // once, in new memory
//	h, err := alloc.Open(region, base, region.Len(), limit)
//
//	// In a transaction j:
//	off, usable, err := h.Alloc(j, 100)            // a block of >= 100 bytes
//	err = h.Free(j, off)
//	h.Commit()                                     // or h.Abort() with the journal's abort
//
//	st, err := h.Stats()                           // usage and fragmentation
//	err = h.Check(roots, walker)                   // reachability: leaks, double allocations, bad pointers
//
// # Implementation notes
//
// The arena is a sequence of zones (format.go draws the bytes). A zone is a
// header, a page table and pages of PageSize bytes. Blocks of more than
// MaxSmall bytes are whole pages; smaller ones come from runs, blocks of a
// few pages cut into equal blocks of one of 24 size classes (four per
// doubling, so rounding wastes at most a fifth), each with a bitmap.
//
// Large blocks: a free block's page-table entries (at its first and last
// page, a boundary tag) let a freed block find and merge with its free
// neighbours in O(1), so free blocks are always maximal. The volatile index
// of free blocks is a treap keyed by (size, zone, page): the ceiling of
// (n, 0, 0) is the smallest block of at least n pages at the lowest
// address, TMFAlloc's best fit, in O(log n) for n free blocks. A fit is
// split and the rest stays free.
//
// Small blocks: each class keeps the runs that may have a free block; a
// run's bitmap is copied into memory the first time the run is used, so
// Open reads the page tables only — 2 MiB for a 1 GiB heap — and not the
// runs' bitmaps.
//
// Transactions. Alloc takes memory from the volatile index at once, so two
// allocations of one transaction never overlap, and records how to give it
// back; Abort does. Free changes the persistent metadata at once (through
// the journal: a bitmap bit, or page-table entries merged with free
// neighbours) but keeps the block out of the volatile index until Commit,
// so that the transaction cannot reuse memory that an abort would return
// to its old owner. Double frees and frees of anything that is not the
// start of an allocated block are errors, not corruption. Writes to memory
// that is free in the committed state (a new run's header and bitmap, a new
// zone) go through Journal.InitAt, which needs no undo.
//
// Growth. When no free block fits, the heap adds a zone at its end, at
// least as large as the arena (so the arena doubles and the number of
// zones stays logarithmic), after Journal.Extend made the storage that
// long. The zone count in the heap header is the transaction's change; if
// it aborts, the storage stays longer and the next growth reuses it. If
// Extend fails (engine/tx's fails on a full disk, before it maps anything
// it could not allocate), Alloc fails with ErrNoSpace wrapping its error.
//
// Check compares the persistent page tables and bitmaps with the volatile
// index, then walks every pointer reachable from the roots with the help
// of a Walker (engine/tx knows the pointer fields of Go types), and
// reports leaks, double allocations, overlaps, bad reference counts and
// pointers out of range.
//
// A run whose blocks are all freed keeps its pages; empty runs are not yet
// returned to the page allocator.
package alloc
