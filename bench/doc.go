// Package bench holds the side-by-side benchmarks of crashsim against its
// peers (PMDK's libpmem and libpmemobj through cgo, etcd's WAL, tidwall/wal,
// bbolt), and of the shared-memory blob store against plain copies into a
// mapping, a Unix domain socket and a pipe. It is a module of its own so
// that the main module's dependency list stays short. Run it with `make
// bench-peers`; the figures are recorded in docs/BENCHMARKS.md.
package bench
