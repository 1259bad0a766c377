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
// # Implementation notes
//
// bbolt maps its file, so it runs in child processes (the test binary
// run again, TestMain): a page fault on the mount in the process that
// serves it can deadlock with the Go runtime (package mount's doc). A
// transaction is acknowledged when its child's Update returned and the
// child exited.
package boltcrash
