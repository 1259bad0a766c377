// Package raftwalcrash explores hashicorp/raft-wal (github.com/hashicorp/
// raft-wal), unmodified, with its own bbolt metadata store, through the
// crash laboratory's FUSE mount (package mount, issue 14 section 3): each
// append is a raft-wal program run as a child process on the simulated
// disk, and every crash state of its calls is recovered by another child
// that opens the log, reads it back and appends once more.
//
// # Usage
//
//	go test ./raftwalcrash    # from bench/, as root or with fusermount3
//
// # Implementation notes
//
// raft-wal keeps its segment list in bbolt, which maps its file, so it
// runs in child processes (the test binary run again, TestMain), as in
// package boltcrash. An append is acknowledged when its child's StoreLog
// returned and the child exited.
//
// raft-wal rotates a full segment in a goroutine of its own after the
// StoreLog that sealed it returned, and a Close that comes first skips the
// rotation. So that the workload makes the same calls on every run (a
// replay reruns it), the child of the append that seals a segment waits
// for the rotation to begin (raft-wal's metrics collector counts
// segment_rotations under its write lock) before it closes, and Close
// waits for the rotation to end. Which append seals is fixed by the
// segment size and the records' size; the workload checks it from the
// segment files it finds at the end.
package raftwalcrash
