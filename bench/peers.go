package bench

// The peers the side-by-side benchmarks of this module compare with, kept
// here so that the module's requirements name them even before every
// benchmark that uses them exists.
import (
	_ "github.com/tidwall/wal"
	_ "go.etcd.io/bbolt"
	_ "go.etcd.io/etcd/server/v3/wal"
)
