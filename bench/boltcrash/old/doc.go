// Package old explores boltdb/bolt v1.2.0, the release of bbolt's code
// before the fix of boltdb/bolt issue 548 ("Crashes can cause data
// corruption"; commit ef2f3ab "db: fix recovery from unsynced metadata",
// released in v1.2.1), with the programs and scenarios of package
// boltcrash, and shows crashsim finding that bug (issue 14 section 3;
// docs/MOUNT.md).
//
// # Usage
//
//	cd bench/boltcrash/old && go test .    # as root or with fusermount3
//
// # Implementation notes
//
// One module cannot require two versions of bbolt, so this is a module of
// its own, whose go.mod replaces every version of go.etcd.io/bbolt with
// github.com/boltdb/bolt v1.2.0 (bbolt is the fork of boltdb/bolt, with
// its history, and the same API for what package boltcrash calls): the
// bbolt programs of package boltcrash, which its children run, are built
// against the old release here and against bbolt v1.5.0 in the bench
// module, which runs the same scenario (boltcrash.TestBoltTornMeta).
package old
