// Package boltcrash explores bbolt (go.etcd.io/bbolt), unmodified, through
// the crash laboratory's FUSE mount (package mount, issue 14 section 3):
// each transaction is a bbolt program run as a child process on the
// simulated disk, and every crash state of its calls is recovered by
// another child that opens the database and reads it back.
//
// # Usage
//
//	go test ./boltcrash    # from bench/, as root or with fusermount3
//	go test -run '^$' -bench . ./boltcrash    # crash states judged per second
//
// A test binary of another module explores the same scenarios against
// another bbolt (bench/boltcrash/old: boltdb/bolt v1.2.0) with Main as
// its TestMain:
//
//	func TestMain(m *testing.M) { boltcrash.Main(m) }
//
//	res, err := sim.Explore(boltcrash.RenamedScenario("bolt-renamed", 2), opts)
//
// # Implementation notes
//
// bbolt maps its file, so it runs in child processes (the test binary
// run again, Main): a page fault on the mount in the process that serves
// it can deadlock with the Go runtime (package mount's doc). A
// transaction is acknowledged when its child's Update returned and the
// child exited. The programs and scenarios are in a file that is no test,
// so that the module of bench/boltcrash/old builds them against its own
// bbolt: they call only what boltdb/bolt v1.2.0 and bbolt v1.5.0 share.
package boltcrash
