package engine_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/crashsim/crashsim/engine"
)

// The package doc's example: a file allocated and mapped, a
// failure-atomic store, a persist, and the writer's lock.
func Example() {
	dir, err := os.MkdirTemp("", "engine-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	fsys := engine.OSFS{}
	f, err := engine.Create(fsys, filepath.Join(dir, "pool"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	err = engine.Allocate(f, 0, 1<<20) // blocks for 1 MiB, or ENOSPC now
	if err != nil {
		log.Fatal(err)
	}
	r, err := fsys.Map(f, 1<<20) // (Map alone would extend it with a hole)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	r.WriteAt([]byte("hello"), 4096)
	r.Store64(0, 1)                    // failure-atomic 8-byte store
	err = engine.Persist(r, 0, 4096+5) // Flush + Drain: now durable
	if err != nil {
		log.Fatal(err)
	}

	l, err := fsys.Lock(filepath.Join(dir, "pool.lock"), engine.Exclusive)
	if errors.Is(err, engine.ErrLocked) {
		log.Fatal("another writer holds the lock")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	// A second handle conflicts, even in this process.
	_, err = fsys.Lock(filepath.Join(dir, "pool.lock"), engine.Exclusive)
	fmt.Println(errors.Is(err, engine.ErrLocked))
	word, _ := r.Load64(0)
	fmt.Println(word, r.Len())
	// Output:
	// true
	// 1 1048576
}
