package bench

// The peers the side-by-side benchmarks of this module compare with, kept
// here so that the module's requirements name them even before every
// benchmark that uses them exists. (etcd's WAL and tidwall/wal are used by
// wal_test.go.)
import (
	_ "go.etcd.io/bbolt"
)
