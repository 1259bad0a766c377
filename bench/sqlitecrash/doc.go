// Package sqlitecrash explores SQLite, through Debian's sqlite3 command,
// on the crash laboratory's FUSE mount (package mount, issue 14 section
// 3): each transaction is one sqlite3 process on the simulated disk, and
// every crash state of its calls is recovered by another that reads the
// table back.
//
// # Usage
//
//	go test ./sqlitecrash    # from bench/, with sqlite3 installed
//	go test -run '^$' -bench . ./sqlitecrash    # crash states judged per second
//
// # Implementation notes
//
// A transaction is acknowledged when its sqlite3 process exited with
// success. SQLite's fcntl locks reach the simulated disk through the
// mount (faultfs's record locks), each in the trace with the sqlite3
// process's pid; they never survive a crash. The -shm file of WAL mode is mapped shared, through the mount's
// direct-I/O mappings.
package sqlitecrash
