// Package mount serves a simulated machine's disk at a real directory
// through FUSE (github.com/hanwen/go-fuse/v2), so that code which calls
// package os directly, and programs in any language, run on the crash
// laboratory's disk unchanged (docs/DESIGN.md section 8, issue 14). Every
// call the kernel forwards lands in package faultfs, through the simulated
// process of its caller, with the same crash rules as calls through
// engine.FS, and the trace names the caller's pid.
//
// It belongs to the laboratory: package engine and its subpackages never
// import it.
//
// # Usage
//
// A scenario mounts the disk of its Env in its workload and again in its
// recovery, where the disk is the crash image, and uses the directory as
// any other:
//
//	sc := &sim.Scenario{
//		Name:  "os-log",
//		Model: models.Log(),
//		Run: func(env *sim.Env) error {
//			mnt, err := mount.Env(env, mount.Options{})
//			if err != nil {
//				return err
//			}
//			defer mnt.Close()
//			...
//			env.Invoke(models.LogAppend{Record: rec})
//			err = writeLog(mnt.Dir(), records) // os.Create, Write, Sync, os.Rename, …
//			env.Return(err)
//			...
//			env.DurableAll()
//			...
//		},
//		Recover: func(env *sim.Env) (any, error) {
//			mnt, err := mount.Env(env, mount.Options{})
//			if err != nil {
//				return nil, err
//			}
//			defer mnt.Close()
//			return readLog(mnt.Dir())
//		},
//	}
//	sim.Check(t, sc, sim.Options{Fault: sim.PowerFailure})
//
// A request from the process that mounted (Go code of the scenario) is an
// operation of the Env's own process; a request from another process, a
// child started with exec.Command, is one of a simulated process started
// for it on first sight, named after its program ("#3 p2 pid 4711 start
// sqlite3"). A violation's crash point and excerpt say which:
//
//	#14 p1 pid 80211 sync /log.tmp
//
// Tests that mount call Require with Serve's or Env's error: in CI
// (CI=true) a mount that cannot be made fails the test, elsewhere it skips
// it with the reason.
//
// # Implementation notes
//
// Calls. Lookups, getattr, readdir, open, create, read, write, fsync and
// fdatasync (FUSE's FSYNC with FUSE_FSYNC_FDATASYNC), fsync of a
// directory (FSYNCDIR: engine.FS's SyncDir), rename, unlink, mkdir,
// rmdir, link, truncate and ftruncate (SETATTR with a size),
// posix_fallocate (FALLOCATE in mode 0: engine.Allocate), flock(2)
// (SETLK and SETLKW with FUSE_LK_FLOCK: engine.FS's Lock) and fcntl(2)'s
// record locks (F_SETLK, F_SETLKW, F_GETLK: SETLK, SETLKW and GETLK
// without it; faultfs.RecordLocker, see Locks below) are the simulated
// disk's. A file is opened with the flags engine.FS takes
// (O_APPEND, O_SYNC, O_DSYNC, O_TRUNC, O_EXCL, …); the others are dropped.
// A write to a file opened with O_APPEND is engine.Append, at the end the
// simulated disk knows (faultfs rule 21). Not forwarded: symlinks, mknod,
// xattrs, renameat2's flags (EINVAL), fallocate's other modes
// (EOPNOTSUPP). Chmod, chown and utimes succeed and
// change nothing: the simulated disk keeps no owners or times and a mode
// only from its create.
//
// Caching. Every file is opened with FOPEN_DIRECT_IO, so that every read
// and write reaches the simulated disk and the kernel's page cache hides
// no write from the simulator. Names and attributes, on the contrary, the
// kernel caches for good: every change to them comes through it, which
// updates its caches itself, and each crash image is a new mount. (A zero
// timeout made the kernel look a name up again or not by whether a clock
// tick had passed, so that one program traced differently from run to
// run.) Code that changes the disk both through the mount and through
// Env.FS would find the kernel's cache stale. Inodes have no identity on
// the simulated disk: a lookup returns the inode the kernel already has
// for that name, else a new one, so two names of one hard-linked file are
// two inodes to the kernel.
//
// Closes. The kernel releases an open file (FUSE's RELEASE) after close(2)
// returned, while the caller goes on, so the release falls anywhere in the
// trace. The simulated file is closed when the mount closes, in the order
// the kernel released them; a flock it held is released at once.
//
// Locks. Both FUSE_FLOCK_LOCKS and FUSE_POSIX_LOCKS are negotiated, so
// the kernel keeps no lock of its own. A record lock belongs to the
// kernel's lock owner (one per process's file table) and is set as the
// caller's process, which the trace names (setlk, unlk with the range);
// it carries the pid the kernel gives, which F_GETLK reports to another
// process. F_SETLKW asks faultfs's TestRecordLock, which the trace does
// not show, until the range is free, every millisecond, and then sets the
// lock, so the trace has one setlk however long it waited; an interrupt
// (a signal) ends the wait with EINTR. POSIX releases a process's record
// locks on a file when it closes any descriptor of it, and at its exit;
// the kernel leaves that to the file system and sends FLUSH, so Flush
// unlocks the range [0, EOF] of each lock owner of the calling process
// that set a record lock on the file through the mount since the
// process's last close of it (an unlk in the trace, only for those). The mount finds a file's locks by the name it was
// opened with: a file renamed while locked, or locked through two hard
// links, is not followed. A simulated process's death (sim's Kill)
// releases its record locks with its flocks (faultfs.FS.ReleaseLocks).
//
// Replay. A real process is not deterministic: it may write other data
// (a time, a random id) or race other threads for the disk on another
// run. Explore it with sim.Options.SaveExecution (under go test,
// -crashsim.save=DIR; the CLI's run --save DIR) and the recorded
// execution each violation depends on — the crash image the program left,
// and the history it is judged against — is saved with the results, so
// that sim.RunSavedReplay (-crashsim.execution=FILE, crashsim replay
// --execution FILE) rebuilds the exact image from the file without
// running the program again; the recovery, which is code, runs on a fresh
// mount of it, and the report says the state came from a saved execution
// (TestSavedExecutionReplaysARealProcess: a program writing random
// records). Without it, a replay (sim.RunReplay, -crashsim.replay) reruns
// the workload up to its crash point and checks that it is the same
// workload (the digest of sim.ReplayID), which a sequential program that
// writes the same data each time is. The digest leaves out a real
// process's stats, which the kernel makes or not as its caches decide,
// and its pid (sim.Machine.StartPID), which a rerun changes. Any other
// program may trace otherwise on a rerun: the replay then fails with
// sim.ErrOtherWorkload, never rebuilds another state. While replaying by
// a rerun, the trace gives each call of Go code in the mounting process
// its source line: the innermost frame outside the standard library's I/O
// of the one goroutine in a system call (a stack dump cannot tell which
// thread a goroutine runs on; with more than one such goroutine there is
// no line). A child process's calls have none, and a replay from a saved
// execution has the violation's excerpt of the trace only, without lines:
// the program did not run.
//
// Shared mappings. With direct I/O, mmap(MAP_SHARED) of a file needs
// FUSE_DIRECT_IO_ALLOW_MMAP (Linux 6.6); Serve asks for it and
// DirectIOMmap reports whether the kernel agreed. A mapping then goes
// through the kernel's page cache, which writes dirty pages back as FUSE
// writes (msync, or when the kernel chooses) and msync's fsync is the
// file's. So a store through a mapping reaches the simulated disk only
// when the kernel writes its page back: the disk never sees a store that
// a process crash would keep in the page cache, and a crash point falls
// only where a write-back came. Go code that maps a file of the mount must
// not do it in the process that serves the mount: a page fault is no
// system call, so the Go runtime cannot stop the faulting thread for a
// garbage collection while the server goroutine that would answer the
// fault waits for that collection. Map it from a child process.
//
// Scheduling. The server's goroutines are no threads of a scheduled
// workload, though a thread mounts (Serve mounts from sim.Unscheduled):
// they answer the system calls of a thread that keeps its turn while it
// waits in them, so each request's operations run at once in that
// thread's turn, never waiting for one.
//
// Callers. The kernel puts the calling thread's id in a request; the
// process is the thread group of /proc/<tid>/status. A request through an
// open file (read, write, fsync, ftruncate, fallocate, flock; not an
// fcntl record lock, which is the caller's) goes to the
// file the opening process opened, as the open file description is shared
// with a child that inherits it; a request with no caller (pid 0, the
// kernel writing back a mapping's pages) goes to the mounting process.
//
// Mounting. As root, the server mounts with mount(2) itself (go-fuse's
// DirectMount) and Close unmounts with umount2(2). Any other user mounts
// through fusermount3 (Debian's fuse3; make fuse3), looked for as go-fuse
// does, on PATH, then in /bin (else fusermount, FUSE 2's): none is
// ErrNoFusermount, an ErrMount. fusermount3 mounts as root only when
// setuid root, and opens /dev/fuse as the user, which Debian's udev rule
// lets everyone do (mode 0666) but a /dev without udev may not (0600):
// Serve's error then says which, and make fuse3 sees to both. Close
// unmounts with fusermount3 -u. Either way, a file the workload left open
// makes the unmount lazy (MNT_DETACH, fusermount3 -u -z), where go-fuse's
// own Server.Unmount would retry a busy mount and give up. The tests run
// as root; TestUnprivilegedMount runs the non-root path for real, as
// nobody, from a copy of the test binary.
package mount
