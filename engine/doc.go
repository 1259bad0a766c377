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
//	f, err := engine.Create(fsys, "/data/pool")
//	...
//	r, err := fsys.Map(f, 1<<20)          // extends the file to 1 MiB
//	r.WriteAt([]byte("hello"), 4096)
//	r.Store64(0, 1)                       // failure-atomic 8-byte store
//	err = engine.Persist(r, 0, 4096+5)    // Flush + Drain: now durable
//
//	l, err := fsys.Lock("/data/pool.lock", engine.Exclusive)
//	if errors.Is(err, engine.ErrLocked) { ... another writer ... }
//	defer l.Close()
//
// What is durable when each method returns is stated on the method. In short:
// file data and size after File.Sync; names after FS.SyncDir of their
// directory; mapped stores after Region.Flush followed by Region.Drain.
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
//     OSFS.RequireDAX asks for an error;
//   - any other file is MappedFile: Flush remembers the dirty page range and
//     Drain calls msync(MS_SYNC) on the remembered ranges;
//   - OSFS.ForcePMem (or PMEM_IS_PMEM_FORCE=1 in the environment, as for
//     PMDK) treats every file as PMem, for benchmarks against libpmem.
//
// Locks are flock(2) locks taken through github.com/gofrs/flock on a handle
// of their own, so they conflict between handles of one process as they do
// between processes, and the kernel releases them when a process dies.
package engine
