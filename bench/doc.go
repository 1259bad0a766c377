// Package bench holds the side-by-side benchmarks of crashsim against its
// peers (PMDK's libpmem and libpmemobj through cgo, etcd's WAL, tidwall/wal,
// bbolt). It is a module of its own so that the main module's dependency list
// stays short. Run it with `make bench-peers`; the figures are recorded in
// docs/BENCHMARKS.md.
package bench
