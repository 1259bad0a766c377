// Package engine is the storage layer of crashsim: the FS, File and Region
// interfaces through which every engine package persists data, and the OS
// backend that implements them on real files, DAX persistent memory and
// shared memory.
//
// Nothing in the engine packages calls os, syscall or mmap directly except the
// OS backend in this package. The crash laboratory (packages faultfs and sim)
// implements the same interfaces, so the same engine code runs on real
// storage in production and on a simulated machine under test.
//
// # Usage
//
//	fsys := engine.OSFS{}
//	f, err := engine.Create(fsys, filepath.Join(dir, "pool"))
//	...
//	err = engine.Allocate(f, 0, 1<<20)    // blocks for 1 MiB, or ENOSPC now
//	r, err := fsys.Map(f, 1<<20)          // (Map alone would extend it with a hole)
//	r.WriteAt([]byte("hello"), 4096)
//	r.Store64(0, 1)                       // failure-atomic 8-byte store
//	err = engine.Persist(r, 0, 4096+5)    // Flush + Drain: now durable
//
//	l, err := fsys.Lock(filepath.Join(dir, "pool.lock"), engine.Exclusive)
//	if errors.Is(err, engine.ErrLocked) { ... another writer ... }
//	defer l.Close()
//
// A sequence of stores and flushes can be made in one call, as a Batch
// (engine.Apply): the same effect as its steps made one by one, for the
// price of one call on the OS backend (one acquisition of the mapping's
// lock); engine/tx writes its log and its data so.
//
// The other calls of storage code are optional powers with helpers, in the
// pattern of io/fs, which every backend of this module has: Datasync
// (fdatasync, else File.Sync), Append (write(2) on a file opened with
// O_APPEND), Link (link(2)); RemoveAll is built on Stat, ReadDir and Remove.
// OpenFile takes O_SYNC and O_DSYNC, whose writes are durable when they
// return, and refuses every flag it does not know (CheckOpenFlags), where
// open(2) would ignore it:
//
//	log1, err := fsys.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND|engine.O_DSYNC, 0o644)
//	_, err = engine.Append(log1, record) // at the end; durable when it returns
//	err = engine.Link(fsys, filepath.Join(dir, "log"), filepath.Join(dir, "published"))
//	if errors.Is(err, fs.ErrExist) { ... } // Link never replaces a name
//	err = engine.RemoveAll(fsys, filepath.Join(dir, "tmp")) // nil: nothing there
//
// What is durable when each method returns is stated on the method. In short:
// file data and size after File.Sync or Datasync, or when a write to a file
// opened with O_SYNC or O_DSYNC returns; names, hard links included, after
// FS.SyncDir of their directory; mapped stores after Region.Flush followed by
// Region.Drain.
//
// A mapping never fails a store: where the page under it has no block and
// the file system cannot allocate one (a full disk), the kernel kills the
// process with SIGBUS. Map and Region.Grow extend a file with a hole, so
// code that maps a file it grows allocates each range first with Allocate
// (fallocate), which fails early with ENOSPC instead; engine/tx does, for
// its pools. A hole made later in an allocated range — a hole punched, a
// copy that made the file sparse — brings the SIGBUS back until the range
// is allocated again.
//
// Every backend is checked by one conformance suite, package
// engine/storagetest.
//
// # Implementation notes
//
// The OS backend picks the medium of a mapping when it is made (see Medium):
//
//   - a file on tmpfs (such as /dev/shm) is SharedMemory: Flush and Drain do
//     nothing, since tmpfs never survives a power failure;
//   - a file on a DAX file system is mapped MAP_SHARED_VALIDATE|MAP_SYNC and
//     is PMem: Flush writes back cache lines with CLWB (else CLFLUSHOPT, else
//     CLFLUSH, picked once by CPUID) and Drain is SFENCE; if the kernel or the
//     file refuses MAP_SYNC the mapping falls back to MappedFile, unless
//     OSFS.RequireDAX asks for an error (it refuses tmpfs too);
//   - any other file is MappedFile: Flush remembers the dirty page range and
//     Drain calls msync(MS_SYNC) on the remembered ranges;
//   - OSFS.Medium forces one medium's rules on every file, tmpfs included,
//     for benchmarks against libpmem: PMem is PMDK's PMEM_IS_PMEM_FORCE=1
//     (which in the environment forces PMem too), MappedFile is libpmem's
//     pmem_msync path.
//
// The cache-line flushes are Go assembly for amd64 only. On other
// architectures a PMem mapping is flushed as a MappedFile is (msync), and
// outside Linux there is no tmpfs or DAX detection: every file is a
// MappedFile unless forced.
//
// Allocate is fallocate(2) in mode 0 on an OS file (the File is an
// Allocator), retried when a signal interrupts it. Where the file system
// does not support it (EOPNOTSUPP), and for a File that is no Allocator, it
// writes a zero byte in each 4 KiB block of the range whose byte there
// reads as zero, as glibc's posix_fallocate does.
//
// Datasync is fdatasync(2) on Linux and fsync(2) elsewhere, retried when a
// signal interrupts it; Append is os.File.Write on a file opened with
// O_APPEND, which the kernel writes at the end; Link is os.Link.
//
// A Region keeps a descriptor of its own, so the File may be closed after
// Map; Grow extends the file and moves the mapping with mremap, which keeps
// its flags and so its medium. Every Region method holds a read lock on the
// mapping and Grow and Close a write lock, so a use racing with Close gets
// ErrClosed and never touches memory that is no longer the mapping (this
// costs about 6 ns of the ~170 ns of a 64-byte store and persist, and two
// atomic operations, 13 ns on a 2-core Xeon, per call: a Batch takes the
// lock once for all its steps, ApplyBatch). Drain on
// PMem takes no lock: SFENCE touches no memory. It orders the flushes of the
// calling goroutine and of any Flush that happens before it, since a Go
// happens-before edge is a locked instruction on amd64, which orders CLWB
// as a fence does.
//
// Locks are flock(2) locks taken through github.com/gofrs/flock on a handle
// of their own, so they conflict between handles of one process as they do
// between processes, and the kernel releases them when a process dies.
package engine
