// Package scenarios holds crashsim's built-in scenarios: small workloads on
// every medium, each paired with a reference model, and beside each correct
// one its deliberately broken variants (named with "-bug-") that the
// explorer must catch.
//
// # Usage
//
//	for _, sc := range scenarios.All() {
//		res, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure})
//		...
//	}
//	sc, ok := scenarios.Lookup("pmem-log")
//
// The scenarios:
//
//   - pmem-log: an append-only log in persistent memory: each record is
//     persisted before the count that publishes it. Bugs: the count first;
//     no flush of the record; no drain between the record and the count.
//   - pmem-record: a 16-byte record updated through a spare slot and an
//     8-byte commit word. Bug: an in-place update that a crash can tear.
//   - file-replace: write a temporary file, fsync, rename over, fsync the
//     directory. Bugs: no fsync before the rename; no directory fsync.
//   - file-log: length+CRC framed records appended and fsynced; recovery
//     stops at a torn tail. Bug: no CRC, so a torn tail reads as a record.
//
// # Implementation notes
//
// Each on-disk format is drawn where it is written. Workloads are short — a
// handful of operations — because the number of crash states multiplies
// with every unit pending at a barrier; they still reach every ordering the
// protocol depends on. Values come from Env.Rand, so a run is a pure
// function of its seed.
package scenarios
