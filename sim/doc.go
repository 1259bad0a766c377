// Package sim is the crash laboratory's simulated machine and explorer. It
// runs a scenario's workload — engine code or a user's own — on a machine
// whose storage (package faultfs) knows at every instant what a crash would
// leave; at every crash point it builds the crash images the fault model
// allows, runs the scenario's recovery on each distinct one, and judges the
// recovered state against the scenario's reference model (package models).
//
// # Usage
//
// A Scenario pairs a workload with its recovery and a model:
//
//	sc := &sim.Scenario{
//		Name:  "my-log",
//		Model: models.Log(),
//		Run: func(env *sim.Env) error {
//			w, err := mylog.Open(env.FS, "/data/log")       // engine.FS of the simulated process
//			...
//			env.Invoke(models.LogAppend{Record: rec})       // what the workload is about to do
//			err = w.Append(rec)
//			env.Return(nil)
//			err = w.Sync()
//			env.DurableAll()                                // what the system promised
//			...
//		},
//		Recover: func(env *sim.Env) (any, error) {
//			return mylog.ReadAll(env.FS, "/data/log")       // the state, in the model's form
//		},
//	}
//
// A scenario may also say how the program goes on after its recovery, so
// that the explorer crashes it again (docs/DESIGN.md F4): Continue runs on
// the machine the recovery left, in a new process, opens the stored state
// again and runs more operations, marked as Run marks its own:
//
//	sc.Continue = func(env *sim.Env) error { // after a recovery, the program goes on
//		w, err := mylog.Open(env.FS, "/data/log") // appends go after the last intact record
//		...
//		env.Invoke(models.LogAppend{Record: rec}) // after the operations the recovery returned
//		err = w.AppendAndSync(rec)
//		...
//		env.DurableAll()
//		return w.Close()
//	}
//
// A scenario with a Continue is crashed twice by default
// (Options.CrashDepth): the explorer continues a seeded sample of the
// crash states that recovered correctly, crashes each continuation at its
// own crash points, and judges what recovery returns there against one
// history — the operations the first recovery returned, all of them
// durable, then the continuation's — so that an operation acknowledged in
// any epoch must survive every later crash, and one lost at a crash may
// not come back after the next. This is where cross-failure bugs show: a
// recovery that returns the right state but leaves one that is wrong to go
// on from (a torn tail the next appends follow, a lock nobody can take
// again). A Continue that fails is a violation too — a store that recovered
// must take writes — unless Scenario.MayRefuse accepts its error. Such a
// violation names every crash, and so does its replay id:
//
//	crash point 1, before #10 p1 sync /data/log
//	  then:     epoch 2 (the program went on after its recovery): crash point 2, before #17 p2 sync /data/log
//	  problem:  acknowledged operations lost: recovered the state after 0 operations, but 1 were acknowledged durable (lost: #1 append("delta"))
//	  …
//	replay:   go test ./mylog -run '^TestMyLog$' -v -crashsim.replay='my-log@9f2c41d07a5be318:power:posix:subsets:0:0:zero:1+2:0/1/0,0+0/1/1,1,1'
//
// From a test, Check fails the test with a report of every violation:
//
//	func TestMyLog(t *testing.T) {
//		sim.Check(t, sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets})
//	}
//
// Each violation's report ends with the one command that replays exactly
// that state in that test, to run from the module's root:
//
//	replay:   go test ./mylog -run '^TestMyLog$' -v -crashsim.replay='my-log@9f2c41d07a5be318:power:posix:subsets:0:0:zero:3:0/1/0'
//
// Under -crashsim.replay (a test flag this package registers, as rapid
// registers -rapid.seed), Check explores nothing: the Check of the
// exploration the id names reruns the workload to that crash point,
// rebuilds that one state, recovers it, and prints what `crashsim replay`
// prints — the verdict, the kept and lost units, the whole trace up to the
// crash point with the source line of each storage operation, and the
// recovery's trace (with the recovery code's lines; for a crash during
// recovery, the crashed recovery's trace too, whose lines the units of
// that crash state name). The test fails while the state still violates and
// passes once the recovery handles it. Checks of other scenarios are
// skipped (one log line each); a Check of the same scenario with other
// options or another workload is not the one named, and a test none of
// whose Checks was fails: a replay never passes without replaying.
//
// A source line is the innermost caller outside the laboratory (sim,
// faultfs and engine itself; engine's subpackages are code under test).
// When the program reaches its storage through an adapter of its own — a
// package that wraps engine.FS in the program's file interface — every
// line would be the adapter's; Scenario.Adapters names such packages (a
// path ending in "/..." names a tree), whose frames are passed over too,
// so that the line is the call into the adapter:
//
//	sc.Adapters = []string{"github.com/crashsim/crashsim/internal/mylog"} // the program's wrapper of engine.FS
//
// Check composes with rapid: draw the workload's operations inside
// rapid.Check and build the scenario from them; rapid shrinks a failing
// sequence. CheckProperty does that for you and completes each replay
// command with the fail file rapid wrote the shrunk workload to, which it
// generates again from under -crashsim.replay:
//
//	func TestMyLogAnyWorkload(t *testing.T) {
//		sim.CheckProperty(t, func(rt *rapid.T) (*sim.Scenario, sim.Options) {
//			records := rapid.SliceOf(rapid.SliceOfN(rapid.Byte(), 1, 100)).Draw(rt, "records")
//			return myLog(records), sim.Options{Fault: sim.PowerFailure}
//		})
//	}
//
//	replay:   go test ./mylog -run '^TestMyLogAnyWorkload$' -v -crashsim.replay='my-log@…' -rapid.failfile='testdata/rapid/TestMyLogAnyWorkload/TestMyLogAnyWorkload-….fail'
//
// With a plain rapid.Check, Check cannot know that file: its command says
// to add the one rapid names in its "To reproduce" line (in the same
// checkout rapid also replays its fail files by itself, first).
//
// A power failure leaves the files on a disk as a file system's profile
// allows (faultfs rule 18, docs/DESIGN.md F2): posix by default, the
// weakest guarantees anyone may deploy on (torn 512-byte sectors, sizes
// that outlive their data as zeros or garbage, no ordering of data with
// metadata), so that nothing any file system can leave is missed;
// Options.Profile explores another (ext4-ordered, ext4-writeback, xfs,
// btrfs). Each violation says on which of them it reproduces:
//
//	profiles: breaks on posix, ext4-writeback and xfs; not on ext4-ordered or btrfs
//
// Explore returns the Result instead of failing a test; RunReplay rebuilds
// one crash state from a violation's ReplayID, and Replay.Format prints it.
// The crashsim command wraps all three for the built-in scenarios
// (package scenarios): `crashsim replay <id>` is their replay command, and
// what the CLI, its demo and package reports print.
//
// A scenario's name is made of letters, digits and - _ . / (Explore and
// RunReplay refuse others), so that a replay id needs no quoting.
//
// A replay runs the workload again up to the crash point, which rebuilds
// the state of a deterministic workload. A real process (a program on a
// FUSE mount, package mount) or a workload that draws random data is not
// one: run it with Options.SaveExecution and each violation's recorded
// execution is saved with the results (Result.Execution; WriteExecution
// writes it to a file, ReadExecution reads it back), and RunSavedReplay
// rebuilds the state from it without running the workload. Under go test,
// -crashsim.save=DIR saves each Check's execution in DIR and adds
// -crashsim.execution=FILE to its replay commands:
//
//	replay:   go test ./mylog -run '^TestMyLog$' -v -crashsim.replay='my-log@…' -crashsim.execution='/tmp/x/TestMyLog.my-log.1.crashexec'
//
// and the replay prints "from     a saved execution: …". The CLI's run
// --save DIR and replay --execution FILE do the same.
//
// One exploration can be spread over several machines: run it on each with
// Options.Shard set to that machine's part (ShardFromEnv reads it from a
// Kubernetes Indexed Job's or a CI matrix's environment), and Merge the
// parts' results into the whole run's; MergeRuns does it for the results of
// many runs at once, as `crashsim report shard-*.json` does.
//
// Paths under /pmem are persistent memory (a DAX file system: Map gives PMem
// regions, whose cache lines persist as prefixes of their 8-byte stores),
// under /dev/shm shared memory (lost on power failure), and everything else
// is on a disk (page cache, fsync).
//
// A workload can fill a disk: env.Machine().Disk().SetCapacity("/data", n)
// gives the file system holding /data room for n bytes of blocks, for the
// rest of the run and in every crash image (faultfs rule 17). Writes and
// engine.Allocate then fail with ENOSPC, and a load or store through a
// mapping to a page that has no block and cannot get one kills the process
// with SIGBUS, as the kernel does: a violation, reported at the crash point
// right after it (Process.Death).
//
// A workload injects media and I/O faults (docs/DESIGN.md F3) with
// Env.Inject: faultfs rules, which count afresh in every exploration and
// every replay though built once, outside Run; a rule that has not fired
// when the workload returns fails the run (Result.RunError):
//
//	rule := faultfs.Rule{
//		When:  faultfs.And(faultfs.PathGlob("/data/log"), faultfs.OpKinds(faultfs.OpSync), faultfs.OnIndex(1)),
//		Fault: faultfs.SyncFailure,
//	}
//	...
//	env.Inject(rules...) // fresh counts each run; one that never fires fails the run
//
// Every error a storage call returns, injected or not, is in the trace, on
// the event of its operation, as strace shows it: "#19 p1 sync /data/log =
// EIO (injected sync failure)", "#7 p1 read /data/log [16,24) = EOF"
// (Event.Err).
//
// # Threads and the scheduler
//
// A workload may run several threads: env.Go(f) starts f in a new thread
// of the caller's process, Process.Go in another process of the machine
// (Machine.Start), and Thread.Wait waits for one. The machine's scheduler
// runs them one at a time. A thread gives the turn up only at a
// scheduling point — every storage call of its process (each file call,
// store, load, atomic, Flush, Drain), every marker (Invoke, Return,
// Durable, Logf), Env.Yield, and the calls below that wait — and which
// thread runs next is drawn from the seed: a run, interleavings included,
// is a pure function of (scenario, options, seed), and a replay id (whose
// seed field names the scheduler and the schedule, "7+pct2+s12") rebuilds
// the interleaving as well as the crash state.
//
//	var mu sim.Mutex
//	t := env.Go(func(env *sim.Env) error {
//		mu.Lock()
//		defer mu.Unlock()
//		return appendOne(env, w)
//	})
//	...
//	err := t.Wait()
//
// Options.Schedules runs the workload under that many schedules, each an
// exploration of its own crash points (a workload of one thread runs
// once); when it is 0, Scenario.Schedules says how many, 1 if unset — a
// concurrent scenario whose bug shows in some interleavings only sets
// enough for a run with default options to find it (wal-group and
// wal-bug-group-early-ack: 4). Options.Scheduler is RandomScheduler (a uniform draw at each
// point) or PCTScheduler (Burckhardt et al., ASPLOS 2010: random
// priorities and Options.Depth-1 change points, which catches a bug of
// depth d with probability at least 1/(n·k^(d-1)) per schedule,
// Result.PCTChance); Options.Switches bounds the preemptions of a
// schedule. The Result reports the schedules, the distinct interleavings
// among them, the threads and the steps.
//
// Time is simulated: Env.Now starts at ClockOrigin and moves only when every
// thread waits and some sleep (Env.Sleep, Env.After, Env.AfterFunc), to
// the earliest wake time, so timeouts and TTLs replay; a run takes no
// real time for its sleeps.
//
// Processes share the machine's files, mappings and shared memory.
// Process.Kill kills one (F1) while the others go on: its flocks are
// released, its stores to shared mappings kept, its threads find every
// call failing with ErrKilled and end; a process started afterwards
// recovers beside the survivors.
//
// # Many clients: linearizability
//
// The prefix property (the default, Scenario.Check = PrefixCheck) judges
// one client: operations numbered in the order they are invoked, their
// durability acknowledged by markers, their outputs not judged. A
// scenario of concurrent clients opts into porcupine's judgement with one
// field:
//
//	sc := &sim.Scenario{
//		Model: models.Counter(),
//		Check: sim.DurableLinearizability, // or BufferedDurableLinearizability
//		Run: func(env *sim.Env) error {
//			t := env.Go(func(env *sim.Env) error {
//				env.Invoke(models.CounterRead{}) // this thread's client
//				v, err := r.Load64(0)
//				...
//				env.Return(v)                    // the output is judged
//				return err
//			})
//			...
//		},
//		Recover: ..., // returns the state in the model's form, as always
//	}
//
// Each thread is a client, numbered by its thread number (Env.Client; the
// workload's first thread is 0). Its Invoke and Return make one operation
// of a models.History, call and return in the order the scheduler ran
// them, with the output Return gave; a thread invokes one operation at a
// time (an Invoke before the last returned ends that one with its output
// unjudged). An operation whose input is known only when it returns — a
// blob store's append and the handle it chose (models.BlobAppend) — ends
// with Env.ReturnWith(input, output), which amends it. Then:
//
//   - The run's history must be linearizable: what Return gave must be
//     what some order of the operations, consistent with real time, gives.
//     A read that returns a torn or impossible value is a violation with
//     no crash at all; it is reported at every crash point after the read,
//     "not linearizable, crash or not".
//   - At a crash point the recovered state is judged by durable
//     linearizability (models.CheckDurable): the history up to the crash,
//     plus the recovered state as a final observation, is linearizable;
//     an operation that returned must survive, one pending may or may not.
//   - BufferedDurableLinearizability, for APIs that make writes durable in
//     batches: a thread marks the call of its sync barrier with
//     Env.Syncing and its completion with the function Syncing returned;
//     operations that returned after the call of the last completed sync
//     may be lost, but only as a suffix of a linearization.
//
// Durable and DurableAll only mark the trace in such a scenario (what
// returned is durable by definition), and Invoke returns nil. A violation
// of linearizability carries porcupine's HTML page of the history
// (Violation.Linearization), which reports.HTMLFile writes beside the
// report. A scenario so judged has no Continue yet: crashes after the
// first are judged by the prefix property only.
//
// The judgement is porcupine's, with no time limit, so that the verdict
// does not depend on the machine's speed: keep such workloads to tens of
// operations (porcupine's search is exponential in the concurrency of
// the history, not its length, in the worst case).
// # Killing one process
//
// Under the fault model ProcessKill ("kill"), the explorer itself kills
// one process of several: a scenario that lists it in Scenario.Faults
// starts processes of its own (Machine.Start, Process.Go) from its
// workload, and the explorer kills any one of them — never the
// workload's own process, which stands for the shell or supervisor that
// started them — just after any of its operations, or inside its copies
// (the crash points of ProcessCrash that are that process's, but of a
// copy split into more than four pieces only the first, one drawn from
// the seed, the one before the last and the last: each kill costs a run
// of the workload), while the others go on to the end of the workload:
//
//	sc := &sim.Scenario{
//		Name:   "two-writers",
//		Faults: []sim.Fault{sim.ProcessKill},
//		Run: func(env *sim.Env) error {
//			m := env.Machine()
//			a := m.Start("writer-a").Go(writer("a"))
//			b := m.Start("writer-b").Go(writer("b"))
//			for _, t := range []*sim.Thread{a, b} {
//				if err := t.Wait(); err != nil && !errors.Is(err, sim.ErrKilled) {
//					return err // a survivor failed: a violation of the kill
//				}
//			}
//			return nil
//		},
//		...
//	}
//
// For each schedule (Options.Schedules) one run finds the places — every
// operation of every process but the first — and then one run per place,
// on a fresh machine under the same schedule, kills that process there:
// its flocks are released, what it stored in the page cache and in
// shared memory stays, its threads find every later call failing with
// ErrKilled, and Thread.Wait of one of them returns an error wrapping
// ErrKilled whatever its function made of that. Its markers after the
// kill are void (a process killed with kill -9 runs no more code): the
// operation it was inside stays open. The survivors run to the end of
// the workload, scheduled as the seed says: they see the dead process's
// leftovers — a lock released, a half-made reservation, a chunk half
// freed — and go on past them. An error the workload returns then (a
// survivor that failed, a reader that saw a torn blob, a deadlock on the
// dead process) is a violation of that kill, not an error of the run.
//
// The recovery runs after the run: at the end of the workload, on the
// machine the survivors left (a process crash's image: every process
// gone, the page cache and shared memory whole), in a new process, as
// under ProcessCrash. The run's end is the kill's one crash point,
// judged against the history of every process: an operation left open
// by the kill — or by any thread still inside one at the end — may or
// may not have taken effect, at its place in the history (durable
// linearizability's rule for pending operations), so the recovered state
// passes if it is the state after the history with or without each of
// them. A scenario judged by linearizability (Scenario.Check) gets that
// from porcupine, for which such an operation is pending; what the
// killed process marks after the kill — the Return of the operation it
// was inside, any later Invoke, the completion of a sync (Env.Syncing) —
// is void and never enters the clients' history. A process that recovers while the survivors still run is the
// workload's own to start: Thread.Wait tells it that a process was
// killed, and a new Machine.Start beside the survivors goes on from
// there (sim/scenarios' shm-procs starts a replacement cleaner so).
//
// A violation names the kill: its crash point reads "p3 killed after #51
// p3 region-write /dev/shm/… [80,88); the others went on to the end of
// the workload (#210)", and its replay id has the fault "kill", the
// place as its crash point (the schedule's F1 crash point, counted over
// every process as ProcessCrash counts them) and the process killed as
// its choice, "p3" where a process crash has "keep":
//
//	two-writers-bug@c159f7263e40933f:kill:posix:keep-all:0:0:zero:4:p3
//
// A replay runs that one kill; a place that is not an operation of the
// process the id names is ErrDiverged. Ids of the other fault models are
// unchanged. The cost is one run of the workload per place and
// schedule: keep such workloads small (Budget.States bounds the kills).
// One kill per run: a process started after the kill (a replacement) is
// not killed in turn, and no continuation (Scenario.Continue) follows
// the recovery.
//
// Recovery and a continuation (Scenario.Continue, crash depth 2 and more)
// run as one thread on a machine without a scheduler: only the
// workload's run is explored under Options.Schedules. One that starts a
// thread (Env.Go) makes a scheduler there, of the random scheduler and a
// seed of its own, whose thread 0 is the caller; its threads end when it
// returns, and the next epoch on that machine starts without one again.
// A continuation's threads share its checker, as the workload's share
// theirs, and its crash points snapshot that checker and the disk as one.
// A replay id's schedule fields name the workload's schedule only.
//
// What is scheduled deterministically, and what is not:
//
//   - Deterministic: threads that synchronise through storage, Env.Yield,
//     sim.Mutex, sim.Cond, Thread.Wait and the simulated clock — the
//     scheduler sees every one of those waits. Goroutines a thread starts
//     with a go statement become threads too, and so does the engine's
//     own background work, unchanged; the scheduler numbers them when it
//     first sees them, which it does at the starting thread's next
//     scheduling point at the latest.
//   - Deterministic only with care: a thread that starts several
//     goroutines with go statements between two of its scheduling points.
//     Go gives no account of the order in which goroutines started; the
//     scheduler numbers those it finds together by goroutine id, which the
//     runtime hands out from per-processor batches, so two goroutines
//     started by a thread that moved to another processor in between may
//     be numbered the other way round, and the run go another way. A
//     scheduling point after each go statement (Env.Yield), or Env.Go,
//     makes the numbering the start order.
//   - Deterministic: Go's own primitives (sync.Mutex, sync.RWMutex,
//     sync.Cond, sync.WaitGroup, channels, select) as long as at most one
//     thread at a time is blocked on them. The scheduler learns from the
//     runtime (a traceback of every goroutine) that the thread holding the
//     turn blocked, and hands the turn on; a thread a Go primitive wakes
//     runs until its next scheduling point, where it parks, and the
//     scheduler decides nothing until it has. While a thread is blocked
//     on a Go primitive, threads inside a storage operation go first (a
//     group commit's followers wait for the leader's fsync, which must
//     finish before others start new operations to wait on). The WAL's
//     group commit (scenario wal-group) is in this class.
//   - Not deterministic: two or more threads blocked on Go primitives at
//     once, when one wake-up frees several (a sync.Cond Broadcast, a
//     closed channel, an Unlock with several waiters): which runs first
//     is the Go runtime's choice. The run says so in
//     Result.Nondeterministic, and the same words every time; use
//     sim.Mutex and sim.Cond there.
//   - Cost: a switch at a scheduling point costs about a microsecond; one
//     through a Go primitive costs a traceback of every goroutine, which
//     stops the world, and the watchdog's wait to notice the block —
//     milliseconds on a loaded machine (docs/BENCHMARKS.md, "Threads under
//     the scheduler"). Threads that wait for each other often are faster
//     on sim.Mutex and sim.Cond.
//   - Not scheduled: a thread that waits by spinning without a scheduling
//     point holds the turn (yield in the loop); real time (time.Sleep,
//     time.After) passes as real time.
//   - No threads: a goroutine that no thread started (the test's own, or
//     one started before the scheduler), the goroutine of
//     sim.Unscheduled(f) — even when a thread calls it — and every
//     goroutine these start. Their storage operations and markers run at
//     once, on behalf of the thread that holds the turn: no scheduling
//     point, no wait for a turn, and the scheduler never waits for them
//     to settle. They are servers that answer a thread blocked in a real
//     system call, which keeps its turn while it waits there: the FUSE
//     mount's goroutines (package mount, which serves from Unscheduled)
//     carry out the workload's os.* calls on the mount and its child
//     processes' while the thread waits in the call, or in exec and wait;
//     taking them for threads would deadlock — a turn the holder never
//     gives up. A goroutine that no thread waits for in this way races
//     the threads for the disk, and the run may not replay.
//
// A run that cannot go on — every thread waits, none sleeps — ends with a
// deadlock as its Result.RunError, naming each thread and what it waits
// on; a thread's panic, or an error no thread waited for, fails the run
// likewise. Nothing a workload's threads do takes the laboratory down.
//
// # Implementation notes
//
// Crash points (docs/DESIGN.md section 5). For a power failure (F2), just before
// every persistence barrier of any process — Region.Drain, File.Sync,
// engine.Datasync, FS.SyncDir, and the sync that ends a write to a file
// opened with O_DSYNC or O_SYNC, after its bytes reached the page cache
// (faultfs rule 20, through faultfs's BeforeWriteSync), so that such a
// write may tear — and at the end of the workload: a crash between two barriers
// leaves a subset of the states possible at the next one, so nothing is
// lost by not crashing there. For a process crash (F1), just after every
// operation that changes the state, and inside copies: Region.WriteAt is
// split at the boundaries of 8-byte words (or of Options.Granularity
// bytes), File.WriteAt and engine.Append at page boundaries, with a crash
// point between pieces — a copy of any length that straddles a boundary,
// since write(2) copies a page at a time. An append's pieces go where the
// file's end was when it started, which a Stat of the file, in the trace,
// finds.
//
// Crash states. At a crash point the explorer takes a faultfs.Pending — a
// snapshot of the durable state and of the pending units — and the
// strategy's choices among them: lose-all, keep-all, every in-order prefix,
// or all subsets (the full product up to Options.MaxStates per point, then
// that many seeded samples). Each choice is built as a new, independent
// file system (faultfs.Pending.Clone, copy-on-write over the durable
// state), fingerprinted, and recovered only if no earlier image had the same
// fingerprint. A process crash has one state per point: the whole page cache
// and shared memory (faultfs KeepAll).
//
// Determinism and parallelism. The workload runs in the goroutine that
// called Explore. At a crash point it only takes the snapshots and the list
// of choices, and goes on: workers build and fingerprint the images (most of
// the explorer's own cost), and a sequencer takes the crash points in order,
// waits for their images, deduplicates them in enumeration order and hands
// the distinct ones to the workers to recover and judge. So which images
// exist and which are recovered depend only on (scenario, options, seed),
// and the state budget stops at the same state whatever the workers. Each
// crash point reports its first failing state (in the order of its
// enumeration), so results do not depend on which worker finished first.
// Recovery of a state is seeded from the state itself. Only a time budget
// makes a run depend on the machine's speed. At most eight crash points are
// between the workload and the sequencer, which bounds the images alive at
// once.
//
// A plain recovery runs on a machine that keeps no trace; a recovery whose
// own crash points are explored, or that is replayed, keeps one. A traced
// machine sets faultfs's Options.Failed, which gives the event of an
// operation that fails its Err, in the window of the trace and, when
// replaying, in the whole of it.
//
// Injection (Env.Inject). Each call makes a faultfs.Rules of its own from
// the rules, which copies their counting predicates, so that a rule built
// once counts from 0 in each exploration and replay and parallel
// explorations share nothing; the machine's disk tries every Rules
// injected, in order. When the workload returns, the explorer asks them
// for the rules that never fired; a replay stops the workload at its crash
// point, before that, and does not ask. A plain
// recovery's image is untracked first (faultfs FS.Untrack: its writes keep
// no history), and an image judged good, or a duplicate, is released
// (FS.Release): its blocks and nodes build the next images, so that two
// workers do not spend their time in Go's allocator and collector. The
// distinct images of a crash point go to the workers as one batch they
// claim from, not one channel send per image.
//
// Shards. A run spread over N machines (Options.Shard) cannot shard its
// crash points: the deduplication spans the whole run, so a machine that
// skipped the crash points of others would judge — and report — images
// that one machine skips as seen before. So every shard runs the whole
// workload and builds and fingerprints every image, deduplicates exactly
// as one machine does, and recovers only the distinct images that are its
// own (the u-th of the run belongs to shard u mod N: round robin, which
// spreads each crash point's images, and their cost, evenly). Everything
// the sequencer computes is then the same in every shard — the crash
// points, their states, explored and unique counts, the state budget's cut
// — and only the judgements are split: each failing state is found by
// exactly one shard, which keeps per crash point its lowest (Violation.
// State), shrinks it and reports it; Merge checks that the shards agree
// on everything else and keeps, per crash point, the violation of the
// lowest state, which is the one the whole run reports. Recoveries spent
// shrinking are not counted, so that the shards' Recoveries add up to the
// whole run's. A time budget stops each shard at a point of its own: its
// shards do not merge.
//
// The trade-off: a shard saves the recoveries of the others' images, not
// the building of them, which is a fifth to a third of a run of the pool
// scenarios; four shards of pool-map and of pool-alloc each take 0.42 and
// 0.51 of the whole run's time, a speed-up of 2.4× and 1.95×
// (docs/BENCHMARKS.md, "Sharded runs"). The
// alternative — shard by history (the durable and invoked counts of the
// deduplication key, which never repeat once left, so that no duplicate
// crosses two shards) and build only one's own images — divides the
// building too, but not evenly: a shard gets whole histories, and one
// history can hold most of a run (a pool's creation, a long unacknowledged
// batch), which no number of shards then speeds up. The built-in scenarios
// have 4 to 12 histories; dealt round robin to four shards, the busiest
// would get 1.04 to 1.57 times its share of the distinct images on the
// pool scenarios — on pool-alloc about 0.31 of the run where this design
// takes 0.51, on pool-map about 0.39 against 0.42 (estimates, not
// measured) — and 1.4 to 2.95 times on the WAL scenarios. This design was
// kept for its bound: never worse than building plus a quarter of the
// recoveries, whatever the workload's histories.
//
// Memory. Nothing of the workload's past is kept but a window of the trace
// (for excerpts), the keys of the judgements made, and the model states from
// a little below the durable mark (models.Prefix): exploration is online,
// while the workload runs.
//
// Replay ids (ReplayID) name a state by the options, the crash point and
// the choice of pending units, and name the workload by a digest of its
// run up to that point: an xxh3 hash of every operation and marker of the
// trace (kind, process, path, offset, length, note) and of the bytes and
// values it stored, which the trace itself does not hold. It is taken on
// the workload's machine only, where each operation is observed anyway,
// and costs one hash update per operation. A rapid property explores many
// workloads under one scenario name, each with its own crash point 3: the
// digest says which of them an id names, and a replay checks it at the
// crash point (ErrOtherWorkload when it differs, or when the workload ends
// before).
// It also catches a workload that changed since the id was printed. Its
// limit is the explorer's own: a workload whose goroutines race for the
// disk traces in another order on another run, and no longer replays.
//
// The go test command of a violation is built where Check runs: the
// package is the test binary's working directory (go test runs it in the
// package's directory) relative to the nearest go.mod above, and -run
// anchors each level of the test's name, its regexp metacharacters quoted.
// CheckProperty hands rapid a wrapper of the test that reads the fail file
// from rapid's failure report ("To reproduce, specify … -rapid.failfile=…"),
// which rapid makes before it runs the shrunk workload once more with its
// output shown: that last run prints the whole command. Under
// -crashsim.replay, rapid generates every workload of the property as
// usual (its fail files first); each that is not the named one runs only
// up to the crash point, and CheckProperty, which knows when rapid is
// done, fails the test if none was.
//
// Profiles. The explorer takes each crash point's pending units described
// under Options.Profile (faultfs PendingUnder), whose choices are exactly
// the profile's states. A violation is judged on every profile of
// faultfs.Profiles when the run reports it, by the shard that found it:
// on the run's own, and where the profile allows its shrunk state, with no
// recovery; elsewhere by recovering P's states of that crash point, the
// shrunk state as P would leave it first (faultfs Translate), until one
// fails — at most MaxStates of them per profile, so a bug that reproduces
// nowhere else costs four crash points' worth of recoveries. They are not
// counted in Result.Recoveries, as shrinking's are not. Posix with 512-byte
// units and twin garbage tails has more states per crash point than the
// rules before profiles (posix-4k): docs/BENCHMARKS.md.
//
// Violations. A crash point's first failing power-failure state is shrunk
// (shrink.go): every pending unit is kept, one at a time, while the state
// still fails, so that the units left lost are the ones the failure needs;
// then each kept unit is lost in turn to find the ones it needs kept. Each
// state tried is moved to its Nearest under the run's profile, so the
// explanation is a state that profile allows; a garbage tail stays only if
// the state passes with zeros. The
// replay id names the shrunk state. Source lines of the stores involved
// cost a stack walk per storage operation, so a run records none while it
// explores: once it has violations, it runs the workload once more,
// recording, for the lines of the workload's units (culprit.go), and a
// replay (RunReplay) records every machine it runs, recoveries and
// continuations too. Each violation blames one unit, its Culprit: the
// earliest change lost, else the latest kept. A crash point reports each
// distinct cause of its failing states: every failing power-failure state
// of the workload that loses at most one pending unit is a cause (kept
// without its image), shrunk — cheaply: it is nearly its own explanation,
// and the states its shrinks try are judged once per point (shrinkMemo) —
// and reported unless its shrunk units are those of a lower state's; a
// point with no such state reports its first failing state, as before.
// Whether a state is a cause depends on the state alone, never on which
// other states a shard judged, so Merge of the shards, which keeps one
// violation per crash point and cause, gives the whole run's.
//
// Barriers misused (barrier.go). The workload's machine records each Sync,
// Datasync or SyncDir that fails (faultfs's Failed callback) and watches
// what follows: the same Sync succeeding with nothing written to the file
// since is a "sync-retried" warning (fsyncgate), an Env.Durable before the
// path's barrier succeeded again an "error-ignored" one. A warning is not a
// verdict: it is in Result.Warnings, the reports and Check's log.
//
// Deaths (docs/DESIGN.md F2, "mapped pages on a full disk"). faultfs fails
// a load or store that the kernel would answer with SIGBUS with
// faultfs.ErrSIGBUS; the process's Region turns it into the process's
// death: a Kill, in the trace as a kill whose note names the signal and
// the access, and Process.Death. Under a process crash the operation's
// crash point comes right after the kill, so its image is the F1 crash
// there; under a power failure the next crash point is the next barrier of
// another process, or the end. A correct program never dies of its
// storage, so every state of the first crash point after a death is a
// violation ("the workload crashed: …"), whatever its recovery returns:
// the death is part of the key that deduplicates judgements, no unit
// explains it (it is not shrunk), and a replay judges it the same way. A
// recovery that dies fails with the death as its error.
//
// Crashes during recovery (Options.RecoveryCrashes): the recovery of each
// image is itself run on a traced machine with crash points, and each of its
// crash states (at most 32 per point) is recovered again and judged against
// the same history: recovery must be idempotent when interrupted. At crash
// depth 2 and more (below), every recovery of a chain is crashed so too,
// and a replay id's rpoint and rchoice crash the recovery of its last
// crash.
//
// Crashes after the first (Options.CrashDepth; chain.go). The history. A
// state whose recovery returned the state after operations 1..k (the
// Verdict's Prefix) is continued with the checker models.Prefix.Restart(k):
// operations 1..k, all durable — the recovery read them from the crash
// image, which is the disk, so no later crash may take them back, and k is
// where the program goes on from whatever was acknowledged — then the
// continuation's operations; operations k+1.. of the epoch before are out
// of the history, so one that comes back is a violation ("matches no
// prefix"). Env.Durable counts the continuation's own operations.
//
// The continuation. The state is recovered again on a machine that keeps
// its trace and what is durable (not untracked: what the recovery wrote
// and did not make durable is pending, and the continuation's crash states
// lose or keep it), then every process of it exits (Process.Kill: locks
// released, the page cache kept) and Continue runs in a new one, with a
// random source that is the same for every continuation of an epoch, so
// that two chains from the same image do the same. A recovery that leaves
// a handle open and a lock taken therefore does not block the
// continuation; one that leaves the store refusing writes does.
//
// Which states go on, and the cost. The sequencer offers it each distinct
// image of the workload's crash points (not those after a death), once per
// fingerprint — the same image recovers and goes on the same way wherever
// it was found — and keeps a seeded sample of at most MaxChains (Algorithm
// R over the run, so that late crash points are as likely as early ones).
// When the workload is done, it sends the chains to the workers of the
// shard whose image it is (the u-th distinct image's shard, as for the
// judgement): under a state budget only as many as what the workload's
// crash points left pays for, min(MaxStates, ChainStates) each, the choice
// seeded; after a time budget none. A continuation's crash points are
// those of the fault model; at each, the strategy's states (at most 16) are
// offered to a seeded sample of at most min(MaxStates, ChainStates) of the
// continuation (a Pending is a snapshot, so a power failure's state is
// built when it is judged; a process crash's image is taken at its point),
// which is judged in the order of the run, deduplicated by image and
// history within the chain, and stops at the first failure. At a depth
// beyond 2, the first state that recovers correctly goes on in its turn.
// So a chain costs a second recovery of its state, the continuation, and
// at most min(MaxStates, 64) recoveries per epoch; docs/BENCHMARKS.md
// ("Crash depth") has the figures. Everything is decided by the run, never
// by the workers, and the shards' Result.Continuations and
// ContinuationStates add up to the whole run's.
//
// Seeds. The states of crash point k of a continuation, and their
// recoveries, are seeded from the recovery seed of the state the
// continuation went on from (job.base), so that a replay, which knows the
// chain, rebuilds them.
//
// Violations of a chain. The failing state of its last crash is shrunk as
// any other, against that crash's history; a continuation that failed is
// not (each try would run it again). Profiles: the violation reproduces on
// P when P allows each earlier crash's state as it was (the same units, and
// the state its own under P) and some state P allows at the last crash
// fails, found as for one crash; a continuation that failed needs P to
// allow every crash's state. So "not on P" says that this chain does not
// happen under P, not that no chain does.
//
// Saved executions (execution.go, savedstate.go, savedreplay.go). What a
// violation's state depends on is the crash image the workload's crash
// left (of the first crash, for a chain) and the history it is judged
// against: the model's inputs invoked up to the crash and how many were
// acknowledged. Both are saved, not the operation log that made the
// image: the image is exact by construction (faultfs.Image, rebuilt by
// faultfs.FromImage with the same fingerprint, checked when the file is
// read), needs no re-execution of every kind of storage operation, and
// is smaller — a run's images share most of their blocks, which the file
// stores once (4 KiB blocks by content; blocks of zeros and holes cost a
// few bytes), and the body is DEFLATE-compressed. The 1,398
// violations of the built-in bug variants fit in 497 KiB, 82 files of a
// median 3.9 KiB (docs/BENCHMARKS.md). A power
// failure's image is built again, when the run ends, from the violation's
// shrunk choice; a process crash's is a copy made before its recovery
// (only with SaveExecution). What is not saved: the trace before the
// crash point, beyond the violation's excerpt, and the source lines of its
// operations, which only a run of the workload records; the crash
// point's pending units, so a saved replay reports the Kept, Lost,
// BreaksOn and NotOn the run found and judges everything else again. The
// recovery, the continuations of a chain and a crashed recovery are code
// and run again: a continuation that is not deterministic may diverge
// (ErrDiverged).
// The history is gob-encoded; models' inputs are registered here, the
// built-in scenarios' by package scenarios, and a program's own input
// types need gob.Register in the process that replays (the saving one
// registers them itself). Each shard of a sharded run saves its own
// violations' states, in its own file; Merge's result names none.
//
// Replay of a chain. RunReplay runs the workload to the first crash point,
// builds its state, recovers it, runs the continuation to the crash point
// the id names next (counting its crash points as the explorer does) and
// builds that state, and so on; a continuation that failed is run to its
// end. Replay.Epochs holds the trace of each later epoch with its source
// lines. The continuation is not digested: the workload's digest names the
// run, and a continuation that changed replays its own run (ErrDiverged
// if it no longer reaches the crash point, or fits the choice).
//
// The scheduler (sched.go). Each thread is a goroutine; the one holding
// the turn runs, every other is parked on its own channel, waits in the
// scheduler (sim.Mutex, sim.Cond, Thread.Wait, Sleep), or is blocked on a
// Go primitive. Threads are told apart at a scheduling point by the
// address of the runtime's goroutine descriptor (getg, one instruction
// on amd64 and arm64): with one thread and no goroutine started since
// (runtime/metrics' count of created goroutines), a scheduling point costs
// an atomic add, two loads and a read of that metric: a single-threaded
// exploration runs within noise of its speed before the scheduler. Only when a thread may be running outside
// its turn does the scheduler read the runtime's goroutine states
// (runtime.Stack of all goroutines, which stops the world); a watchdog
// notices a turn that makes no progress and looks whether its holder is
// blocked on a Go primitive. Timing decides only when the scheduler looks,
// never what it decides: it decides once every thread is parked, waiting
// or blocked, from the seed.
//
// Crash points under threads. A crash point takes the checker's state and
// the machine's in one step (explorer.snapshot, under the checker's lock,
// while the other threads are parked), so no operation falls between the
// history and the image. The judged key includes a digest of the
// invocations and their clients (and, for a scenario judged by
// linearizability, of the returns with their outputs and the syncs): the
// same counts of operations in two schedules are different histories.
// The clients' history (checker.lin) is cloned at each crash point under
// that lock, as the prefix checker is snapshot: its cost is one copy of
// the operations so far per crash point, paid only by scenarios that opt
// in. Crash points are numbered through
// every schedule (Point.Schedule); a replay id names the schedule and the
// point's place in that schedule's run.
//
// Limits. A recovery that never returns blocks its worker: there is no way
// to stop a goroutine. Processes are goroutines of this one. F1 at a crash
// point of ProcessCrash kills the whole machine (every process); killing
// one process at any of its operations while the others go on is
// ProcessKill (kill.go), which reruns the workload once per place, and
// explores no continuation (Scenario.Continue) after it.
package sim
