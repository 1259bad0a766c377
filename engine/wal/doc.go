// Package wal is crashsim's write-ahead log: a segmented log of typed
// entries with writer-assigned ids, CRC32C framing, group commit, strict
// and best-effort replay, repair of a torn tail, checkpoints, and recovery
// from the latest checkpoint — on engine.FS, so that the same code runs on
// real files and on the crash laboratory's simulated machine, whose
// scenarios (sim/scenarios, wal-*) show it crash-consistent.
//
// # Usage
//
// A WAL of raw byte entries (any type works with a Codec; Binary adapts a
// type that implements encoding.BinaryAppender and BinaryUnmarshaler):
//
//	w, err := wal.New(engine.OSFS{}, dir, wal.Bytes, wal.Options{})
//	id, err := w.Append([]byte("put k1 v1"))      // buffered; id 1
//	first, err := w.AppendBatch(entries)          // consecutive ids from first
//	err = w.FlushAndSync()                        // durable: the barrier
//	err = w.Close()
//
// After a restart or a crash, Resume repairs what the crash left and goes
// on; ReplayEach streams the entries (Replay collects them):
//
//	w, err := wal.Resume(fsys, dir, wal.Bytes, wal.Options{})
//	err = wal.ReplayEach(fsys, dir, wal.Bytes, wal.Strict, func(id uint64, e []byte) error {
//		return apply(e)
//	})
//
// Concurrent writers each Append then FlushAndSync; those that ask at the
// same time share one fsync (group commit). A callback that parses or
// copies each entry at once can replay with BytesView, which decodes
// without copying.
//
// Checkpoints bound the log: Publish writes a checkpoint of the state,
// marks it in the log and removes the segments it covers; Recover rebuilds
// the state from the latest checkpoint and the entries after it:
//
//	p, err := wal.Publish(w, stateCodec, state, lastAppliedID)
//	rec, err := wal.Recover(fsys, dir, stateCodec, wal.Bytes, wal.Strict,
//		func(s State, id uint64, e []byte) (State, error) { return s.Apply(e) })
//
// A RecordLog is the same framing in one file, for logs never truncated:
// CreateRecordLog, OpenRecordLog, Append, FlushAndSync, ReadRecords. Each
// of its writes ends with a seal, so that a log at rest knows its end and
// Strict reading reports one cut short, even at a record boundary.
//
// Readers take no lock: ReplayEach, Replay and Recover may run beside a
// writer, in this process or another. Beside one, read BestEffort: a
// reader gets a prefix of the log holding every entry the log held when
// it began (flushed, synced or not), perhaps with some written since, and
// never ErrCorrupt on a healthy log; ReplayEach returns ErrTruncated if a
// Publish removes entries it had not passed on yet, and Recover starts
// again from the newer checkpoint. Strict reading is for a log at rest
// (closed, or resumed): beside a writer it may report a write in flight
// as corruption.
//
// Errors wrap, class first, ErrCorrupt (a *CorruptError: file, segment and
// offset), ErrVersion, ErrLocked (a second writer, in this process or
// another), ErrBroken (a failed write or fsync), ErrTruncated (a reader
// beside a Publish), ErrTooLarge, ErrClosed, fs.ErrExist (New on a log)
// and fs.ErrInvalid (bad options).
//
// # Durability contract
//
// What survives what, when each call returns (docs/DESIGN.md section 4: a
// process crash keeps the page cache, a power failure only what was
// synced):
//
//   - Append, AppendBatch: nothing; the entries are in this process's
//     buffer (Options.BufferSize bytes of them at most: beyond, Append
//     writes them to the page cache itself).
//   - Flush: every entry appended before the call survives a process crash.
//   - FlushAndSync: every entry appended before the call, by any goroutine,
//     survives a power failure. It is the only promise of durability.
//   - Close: as FlushAndSync.
//   - New: the empty log survives a power failure (its directory, first
//     segment and the next are durable).
//   - Resume: every entry it found is durable, and the log reads back
//     Strict; it can itself be interrupted by a crash and run again.
//   - WriteCheckpoint, Publish: the checkpoint is durable; when Publish
//     returns the marker is too, and the removal of covered segments is
//     (it may be lost in a crash before, which is harmless).
//   - After a failed write or fsync every call that writes returns
//     ErrBroken: Linux drops the dirty pages of a failed fsync and reports
//     success to a retry, so nothing written since the last good fsync can
//     be promised. Close the log; Resume rewrites what it cannot trust.
//
// A crash may keep any prefix of the entries that were not yet durable (a
// batch is not atomic), never a gap, a reordering or an entry that was not
// appended: replay returns a prefix of the appended entries that holds
// every entry made durable.
//
// # Implementation notes
//
// On-disk formats. Each is drawn where it is written: the file header of
// segments and record logs and the frame in format.go, the record log in
// recordlog.go, the checkpoint file in checkpoint.go, the names of a WAL
// directory in segment.go. In short: a segment is a 40-byte header (magic
// "crashwal", version, flags, sequence number, preallocated size,
// CRC32C) and frames; a frame is a 20-byte header (CRC32C, length, kind,
// id) and a payload, the checksum covering everything after it. Kinds are
// entries, checkpoint markers, seals (the last frame of a full segment,
// and of each write of a record log) and records (of a RecordLog).
// Integers are little-endian; checksums use package hash/crc32's
// Castagnoli table, which runs on the CPU's CRC32 instruction. A reader
// bounds every length by MaxFrameSize and by the file's size before
// reading, and allocates nothing on a bad frame.
//
// What a replay costs. A reader reads a segment in chunks of 1 MiB (one
// pread each), checks each frame's checksum in place and hands the
// payload to the codec; it allocates nothing per frame. With Bytes the
// entries are the only allocations, and ReplayEach copies small ones into
// shared blocks (Bytes has the rule): the cost of an allocation, not of a
// checksum or a decode, is what an entry of 100 bytes pays most
// (docs/BENCHMARKS.md, Replay from the page cache, has the profile).
// Strict reading also reads the zeros after the data of the last segment.
//
// Versions. Segments and checkpoints are at Version 1. Record logs are at
// RecordLogVersion 2, which added the seal at the end of each write; this
// package still reads version 1 and appends to such a log as version 1.
// A version the package does not know is ErrVersion, never ErrCorrupt: a
// file written by a newer release is not damage.
//
// Segments are created ahead of need: when the log moves to segment n+1,
// segment n+2 is created (header written, file extended to
// Options.SegmentSize with Truncate, synced, directory synced), so that
// moving segments costs no create on the path of an append. Preallocation
// keeps the size constant, so a sync has only data to commit; through
// engine.FS it cannot reserve blocks (no fallocate), so ENOSPC may still
// come at a write, where it breaks the log, and each fsync also commits
// the allocation of the blocks it writes. Options.ZeroFill removes that
// cost: each segment is written with zeros before its sync, and the
// segment ahead is then created by a goroutine, off the path of the
// appends; the seal that moves the log into it waits for it first, so a
// segment is still created, synced and named durably before any frame
// goes to it (a crash may now tear the header of segment n+2 while n+1
// holds data, which Resume sets aside as it does any torn header).
// Measured side by side with etcd (docs/BENCHMARKS.md, "Zero-filled
// segments"): 100-byte entries in batches of 1,000 cost 235 ns per entry
// with it, 319 without, 511 with etcd; zero-filling at the seal instead,
// on the path of the appends, was slower than not zero-filling at all
// (330 ns against 303). A frame that does not fit (room for a seal is
// always kept) seals the segment: the buffered frames and a seal frame
// are written and synced before any byte goes to the next segment, so a
// crash never leaves an unsealed segment before one that holds data. An
// entry larger than a segment gets a segment of its own. Each segment's
// header records the size it was created with, which its file never goes
// below: Strict reading reports a segment cut short even between two
// frames.
//
// Reading. The log is the segments in order (a gap in their numbers is
// corruption). Every segment before the last one holding data must be
// sealed and valid; ids run 1, 2, 3... across segments (a log truncated by
// Publish starts later). The last segment holding data may end in a torn
// tail: Strict reading reports it as ErrCorrupt, with segment and offset;
// BestEffort returns the entries before it. Strict also reads the zeros
// after the data to the end of each file (a bit flipped there is
// corruption too), and wants a valid header on every segment after the
// last one holding data, which BestEffort does not (a crash while creating
// one tears its header). In the last segment a corrupt frame cannot be
// told from a torn one: BestEffort stops there. Anywhere else it is an
// error in both modes, with one exception: the slack of a sealed segment.
// A seal says that nothing follows it, so bytes after it that are no
// frame (or a file cut short after it) hold no data: Strict reports them,
// BestEffort ignores them. A valid frame after a seal is data that
// nothing explains: an error in both modes.
//
// A reader beside a writer cannot trust a directory listing: one taken
// while segments are created may miss one that exists (ext4 does), and a
// segment listed may be removed by Publish before it is opened. So a
// reader walks the segments by name: from the first listed (and any
// before it that exists), following the seals, to the last that exists
// when it begins (segments created after are left to the next reader, so
// that one beside a faster writer still finishes); a listing only
// explains a segment that is missing. A segment not sealed, with frames
// in a later one, is corruption at rest, but beside a writer it may have
// been sealed since the reader read it: the writer writes a seal before
// any byte of the next segment, so the reader reads it on from where it
// stopped, and it is corruption only if no seal is there. A segment
// missing while the listing shows the log starting after it was removed
// by Publish: the reader starts again if it has passed no entry on, and
// returns ErrTruncated otherwise (Recover starts again from the latest
// checkpoint, which a Publish writes before it removes anything); one
// missing between two listed segments is a gap, corruption. A checkpoint
// removed between listing and reading makes the reader list again.
//
// Resume reads best-effort, then cuts the torn tail (writing the bytes
// aside first, durably), sets aside segments with torn headers, restores
// the slack of sealed segments, rewrites the data of the segment it goes
// on in and syncs it, and syncs the directory. Damaged slack is repaired,
// not refused, though no crash leaves it (a segment's slack is zeros made
// durable before its first frame; it takes failing media or another
// program): refusing would make a log whose every entry checks unusable
// until someone edits it by hand, over bytes that carry nothing, while
// the repair keeps those bytes aside and reports them in Repairs, so that
// nothing is lost or hidden and the promise holds that a resumed log
// reads back Strict. Damage that may hold data is refused (ErrCorrupt,
// nothing changed): a frame that does not check before the tail, a valid
// frame after a seal, a missing segment.
//
// The rewrite is the answer to Linux's fsync semantics: if the previous
// writer saw an fsync fail, its pages were dropped yet are still in the
// page cache, where Resume reads them; writing them again makes them
// dirty again, so the next fsync makes them durable. Skipping it loses
// acknowledged entries after an EIO (scenario wal-fsync-eio shows both).
// Its cost is one write of a segment's data per Resume.
//
// Files left behind. A crash while a checkpoint or a set-aside tail is
// written (engine.WriteFileAtomic: temporary, fsync, rename) leaves the
// temporary, name.tmp; New and Resume, holding the lock, remove those of
// their directory — only names this package writes. Repairs set bytes
// aside for a look after the fact (name.torn); Resume keeps
// Options.TornRetention of them (DefaultTornRetention, 8), those from the
// latest positions in the log, besides those it sets aside itself.
// Retention is a count, not an age: it needs no clock, so the laboratory
// replays it and it is the same on every machine, and it bounds the
// space to that many tails (a tail is at most a segment). KeepAllTorn
// keeps them all.
//
// Group commit follows etcd raft's Ready: core.go is a deterministic state
// machine that does no I/O but says what the next round of I/O is (write
// these frames at this offset, sync, seal and switch segments, create the
// next) and records its outcome; the WAL's methods are the loop that runs
// rounds, one at a time, with the lock released during the I/O, so that
// appends go on into a second buffer meanwhile. A FlushAndSync whose
// entries an earlier round covered returns without I/O; otherwise, when no
// round is in flight, its caller leads one covering everything appended
// so far. Before leading a sync round while other goroutines are syncing
// too, the leader yields as long as their appends keep arriving (at most
// eight times), so that the goroutines the last round released join this
// one rather than wait a whole fsync for the next (a single writer never
// waits): with eight writers it doubles the entries synced per second.
// There is no background goroutine but ZeroFill's: in the laboratory a
// single-threaded workload is deterministic, and every replay id names
// the state it was printed for, which is why the scenarios run without
// ZeroFill and why it is not the default.
//
// Checkpoints and recovery. A checkpoint file covers the entries through
// an id (its name); Recover starts from the latest one that checks and
// replays the entries after it, and fails with ErrCorrupt if the log no
// longer holds all of them. Publish orders its steps so that a crash
// between any two recovers correctly (see Publish); the marker it appends
// is what allows the covered segments to go. Checkpoint bytes depend only
// on the state's encoding and the id, so a deterministic codec gives
// deterministic files.
//
// Locking. The writer holds an exclusive flock on dir/LOCK (engine.FS.Lock),
// released by Close or by the death of its process; a second New or Resume
// gets ErrLocked, from this process or another. Readers take no lock.
package wal
