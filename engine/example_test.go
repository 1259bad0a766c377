package engine_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"syscall"

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

// The package doc's example of the calls of storage code beyond reads and
// writes at offsets: a log opened to append with O_DSYNC, a file published
// under a name only where there was none, and a tree removed.
func ExampleAppend() {
	dir, err := os.MkdirTemp("", "engine-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fsys := engine.OSFS{}
	record := []byte("record\n")

	log1, err := fsys.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND|engine.O_DSYNC, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer log1.Close()
	_, err = engine.Append(log1, record) // at the end; durable when it returns
	if err != nil {
		log.Fatal(err)
	}
	err = engine.Link(fsys, filepath.Join(dir, "log"), filepath.Join(dir, "published"))
	if errors.Is(err, fs.ErrExist) { // Link never replaces a name
		log.Fatal("published already")
	}
	err = engine.RemoveAll(fsys, filepath.Join(dir, "tmp")) // nil: nothing there
	fmt.Println(err)
	_, err = fsys.OpenFile(filepath.Join(dir, "direct"), os.O_RDWR|os.O_CREATE|syscall.O_NONBLOCK, 0o644)
	fmt.Println(errors.Is(err, engine.ErrNotSupported)) // never ignored
	b, _ := engine.ReadFile(fsys, filepath.Join(dir, "published"))
	fmt.Printf("%q\n", b)
	// Output:
	// <nil>
	// true
	// "record\n"
}
