module github.com/crashsim/crashsim/bench/boltcrash/old

go 1.26.0

require (
	github.com/crashsim/crashsim v0.0.0
	github.com/crashsim/crashsim/bench v0.0.0
)

require (
	github.com/anishathalye/porcupine v1.3.1 // indirect
	github.com/boltdb/bolt v1.3.1 // indirect; only for the tests of the replacement, never built
	github.com/edsrzf/mmap-go v1.2.0 // indirect
	github.com/gofrs/flock v0.13.1 // indirect
	github.com/hanwen/go-fuse/v2 v2.12.1 // indirect
	github.com/klauspost/cpuid/v2 v2.2.10 // indirect
	github.com/zeebo/xxh3 v1.1.0 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	pgregory.net/rapid v1.3.0 // indirect
)

replace (
	github.com/crashsim/crashsim => ../../..
	github.com/crashsim/crashsim/bench => ../..
	// boltdb/bolt v1.2.0, bbolt's own history before the fix of boltdb/bolt
	// issue 548, in place of every version of go.etcd.io/bbolt: package
	// boltcrash's bbolt programs are built against it (doc.go).
	go.etcd.io/bbolt => github.com/boltdb/bolt v1.2.0
)
