// Package torture puts the engine through what an operations team would:
// kill -9 of the WAL's and the pools' writers on every medium, every bit
// of every file format damaged, and full disks — on the real machine,
// not the simulated one — and reports every anomaly with what reproduces
// it (issue 16, section 3). `make torture` runs it for a time; CI runs
// its short version as a test of this package.
//
// # Usage
//
// A binary that runs the torture must call ChildMain first thing (in
// main, or TestMain for a test binary): the torture re-executes its own
// binary for every workload, check and sweep worker (ExampleRun).
//
//	torture.ChildMain() // first thing in main
//	rep, err := torture.Run(torture.Options{Seed: 1, Time: 10 * time.Minute, Out: "out/torture", Log: os.Stderr})
//	...
//	if rep.Failed() { ... rep.Anomalies, each with its Replay command ... }
//
// `crashsim torture` is that binary (cmd/crashsim); `crashsim torture
// replay DIR` reproduces one saved anomaly (Replay). Run writes
// report.json, report.md (the tables of docs/RELIABILITY.md) and
// anomalies/NNN-.../{anomaly.json,image/} to Options.Out.
//
// # The three phases
//
// Kill cycles (kill.go). A workload child appends to a WAL (batches of
// 1–8 entries, FlushAndSync, now and then Publish; half the cycles with
// ZeroFill) or commits transactions to a pool (one key of a hash map put
// or deleted, and the root's counters, in one Update). After each call
// that made something durable returns — and only then — it writes an
// acknowledgement to a pipe the parent reads. The parent kills it with
// SIGKILL a seeded moment after a seeded number of acknowledgements (one
// cycle in eight without waiting for any, so that the kill may land in
// the workload's own Resume or Open), keeps a copy of what it left, and
// runs a check child: best-effort recovery must hold every entry and
// checkpoint acknowledged in any cycle so far and nothing the workload
// did not write (every operation's bytes are a function of the seed and
// its number, so a garbled, invented or half-applied one shows);
// Resume must succeed, leave no stale temporary and a log that Strict
// recovery reads with the same entries; a pool must open, pass Check and
// hold the model's map after exactly the transactions its counter says,
// between the last acknowledged and the one under way. The log or pool
// lives on from cycle to cycle, so an operation acknowledged in any
// earlier life must survive every later crash (DESIGN.md F4). Media: a
// directory on the disk of Options.Work, /dev/shm (tmpfs, which the OS
// backend maps as shared memory), and for pools a disk file mapped with
// the PMem rules forced (engine.OSFS.Medium).
//
// Corruption sweeps (sweep.go, sweep_wal.go, sweep_pool.go). A small file
// of each format — WAL segments (a sealed one, the last holding data, the
// one created ahead), a checkpoint, a record log, a closed pool, and a
// pool killed in the middle of writing a transaction in place (its undo
// log and live line damaged) — is damaged in every way of the run's mode
// and given to each of the format's readers on the simulated file system
// (faultfs). A full run flips every bit and cuts at every length (every
// 64 bytes of a pool); a short run flips every bit of the headers, inverts
// every other byte, and cuts every few bytes. Each outcome is a Class:
// typed error (errors.Is a sentinel the package documents for damage),
// correct (what was written), documented prefix (a best-effort reader,
// where its package says it may), or an anomaly: wrong error (untyped, or
// ErrVersion/ErrLayout for bytes a checksum covers), silent wrong (no
// error and data that is not an allowed answer — also a repair that
// succeeds on a log that then fails Strict), panic, hang. A pool's user
// data (values, the root's counters) has no checksum, as in PMDK and
// bbolt: those bytes are left out and counted (they are found by building
// the pool twice with different user data).
//
// Full disk (fulldisk.go). As root, a 4 MiB tmpfs is mounted, filled but
// for a seeded amount of free space, and a workload runs on it until the
// engine refuses: it must refuse with a typed error that says no space,
// never die of SIGBUS; recovery must hold every acknowledgement on the
// full file system and again after space is freed. Without root, or if
// mount fails, the phase is skipped with the reason in the report.
//
// # Implementation notes
//
// Every workload, check and sweep runs in a child process: a recovery
// that faults (SIGBUS on a full tmpfs), a panic in an engine goroutine, an
// allocation of gigabytes from a damaged length or a loop cannot take the
// torture down. A Go program turns a fault into "fatal error" and exit
// code 2; the parent reads the signal from its stderr and reports it as
// class signal. A sweep worker reports one line per outcome; one that
// dies or is silent for inputLimit is charged with its input (panic, with
// how it died, or hang with the stacks SIGQUIT makes it print) and a new
// worker goes on after it. A damaged length can make the engine allocate
// gigabytes: children limit their address space to 4 GiB, so that such an
// allocation fails in them (the runtime's fatal "out of memory"), except
// under the race detector, whose shadow memory needs terabytes of it; and
// they set their oom_score_adj to 1000, so that if the machine runs out of
// memory all the same the kernel's OOM killer takes a child, not a
// neighbour. Children get GORACE=atexit_sleep_ms=0: under the race
// detector every exit would otherwise sleep a second.
//
// What is deterministic: every choice is a function of Options.Seed and
// the cycle — kill moments, batch sizes, the workloads' data, the sweeps'
// files and damage — and every judgement is a function of the
// acknowledgements received and the bytes recovered. What is not: where
// exactly a SIGKILL lands (the child runs on while the parent reads its
// acknowledgements), so a kill anomaly is reproduced from the image saved
// with it (Replay), and the campaign from the seed (Anomaly.Rerun). The
// limits on time (progressLimit, checkLimit, inputLimit) only turn a stuck
// process into an anomaly; no verdict depends on speed.
//
// Litter: after Resume a WAL directory must hold no temporary file, and
// no more set-aside tails than the WAL's documented retention keeps
// (wal.DefaultTornRetention, plus those the Resume itself set aside).
// A reader beside the workload may end with wal.ErrTruncated after a
// Publish removed segments it had not reached: documented, its entries
// were a prefix, and it counts as a read.
package torture
