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
// From a test, Check fails the test with a report of every violation:
//
//	func TestMyLog(t *testing.T) {
//		sim.Check(t, sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets})
//	}
//
// and composes with rapid: draw the workload's operations inside
// rapid.Check and build the scenario from them; rapid shrinks a failing
// sequence. Explore returns the Result instead; RunReplay rebuilds one crash
// state from a violation's ReplayID with the whole trace and the source line
// of every store. The crashsim command wraps all three.
//
// Paths under /pmem are persistent memory (a DAX file system: Map gives PMem
// regions, whose cache lines persist as prefixes of their 8-byte stores),
// under /dev/shm shared memory (lost on power failure), and everything else
// is on a disk (page cache, fsync).
//
// # Implementation notes
//
// Crash points (docs/DESIGN.md section 5). For a power failure (F2), just before
// every persistence barrier of any process — Region.Drain, File.Sync,
// FS.SyncDir — and at the end of the workload: a crash between two barriers
// leaves a subset of the states possible at the next one, so nothing is
// lost by not crashing there. For a process crash (F1), just after every
// operation that changes the state, and inside copies: Region.WriteAt is
// split into 8-byte words (or Options.Granularity bytes) and File.WriteAt
// into pages, with a crash point between pieces.
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
// own crash points are explored, or that is replayed, keeps one. A plain
// recovery's image is untracked first (faultfs FS.Untrack: its writes keep
// no history), and an image judged good, or a duplicate, is released
// (FS.Release): its blocks and nodes build the next images, so that two
// workers do not spend their time in Go's allocator and collector. The
// distinct images of a crash point go to the workers as one batch they
// claim from, not one channel send per image.
//
// Memory. Nothing of the workload's past is kept but a window of the trace
// (for excerpts), the keys of the judgements made, and the model states from
// a little below the durable mark (models.Prefix): exploration is online,
// while the workload runs.
//
// Violations. A crash point's first failing power-failure state is shrunk
// (shrink.go): every pending unit is kept, one at a time, while the state
// still fails, so that the units left lost are the ones the failure needs;
// then each kept unit is lost in turn to find the ones it needs kept. The
// replay id names the shrunk state. Source lines of the stores involved are
// found by replaying it (RunReplay): recording the caller of every storage
// operation costs a stack walk each, so a normal run does not.
//
// Crashes during recovery (Options.RecoveryCrashes): the recovery of each
// image is itself run on a traced machine with crash points, and each of its
// crash states (at most 32 per point) is recovered again and judged against
// the same history: recovery must be idempotent when interrupted.
//
// Limits. A recovery that never returns blocks its worker: there is no way
// to stop a goroutine. Processes are goroutines of this one; a workload
// that starts goroutines of its own (a group-commit flusher, say) runs them
// unscheduled, and crash points reached from them are explored like the
// others.
package sim
