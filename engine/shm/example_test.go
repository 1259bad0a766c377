package shm_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/crashsim/crashsim/engine/shm"
)

// exampleDir returns a directory of its own under /dev/shm, so that the
// examples leave nothing behind.
func exampleDir() string {
	dir, err := os.MkdirTemp("/dev/shm", "shm-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

// Example: a creator appends, resolves and acknowledges; another process
// (here another Store) attaches and reads in place.
func Example() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	o := &shm.Options{Dir: dir} // Dir: /dev/shm by default

	// Creator process: <dir>/myapp_ctrl, <dir>/myapp_data_<generation>, …
	store, err := shm.Create("myapp", o)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go store.RunCleanup(ctx, 100*time.Millisecond) // frees acknowledged and expired chunks

	h, err := store.Append([]byte("hello world")) // a 16-byte handle, not a pointer
	if err != nil {
		log.Fatal(err)
	}
	data, err := store.Resolve(h) // a copy of its own, whatever the cleaner does
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", data)

	// Attacher process, any number of them: the handle travels by value.
	other, err := shm.Attach("myapp", o)
	if err != nil {
		log.Fatal(err)
	}
	defer other.Close()
	err = other.View(h, func(b []byte) { fmt.Printf("%d bytes in place\n", len(b)) }) // no copy
	if errors.Is(err, shm.ErrGone) {
		// freed while fn ran: what it saw is void
	}
	err = other.Acknowledge(h) // consumed: once its chunk's blobs all are, the chunk goes
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// hello world
	// 11 bytes in place
}

// ExampleCleanupNamespace: at startup, remove what an earlier run that was
// killed left behind, then create the namespace afresh.
func ExampleCleanupNamespace() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	o := &shm.Options{Dir: dir}
	crashed, err := shm.Create("myapp", o)
	if err != nil {
		log.Fatal(err)
	}
	crashed.Close() // as if killed: its objects stay

	_, err = shm.Create("myapp", o)
	fmt.Println(errors.Is(err, os.ErrExist))
	n, err := shm.CleanupNamespace("myapp", o) // safe when there is nothing
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "objects removed")
	store, err := shm.Create("myapp", o)
	if err != nil {
		log.Fatal(err)
	}
	store.Close()
	// Output:
	// true
	// 2 objects removed
}

// ExampleStore_AppendWait: a producer that outruns its consumer meets
// MaxChunks: Append says ErrFull, AppendWait waits for the cleaner.
func ExampleStore_AppendWait() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	clock := shm.NewManualClock(time.Now())
	o := &shm.Options{Dir: dir, ChunkSize: 64 << 10, MaxChunks: 2, Clock: clock, Prefetch: shm.PrefetchOff}
	store, err := shm.Create("bounded", o)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	var first shm.Handle
	for i := 0; ; i++ {
		h, err := store.Append(make([]byte, 4096))
		if errors.Is(err, shm.ErrFull) {
			fmt.Println("full after", i, "blobs")
			break
		}
		if i == 0 {
			first = h
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = store.AppendWait(ctx, make([]byte, 4096))
	fmt.Println(errors.Is(err, shm.ErrFull), errors.Is(err, context.DeadlineExceeded))

	// The consumer died: the first chunk goes when its TTL has passed.
	clock.Advance(shm.DefaultTTL + time.Second)
	store.Cleanup()
	_, err = store.AppendWait(context.Background(), make([]byte, 4096))
	fmt.Println(err)
	_, err = store.Resolve(first)
	fmt.Println(errors.Is(err, shm.ErrGone))
	st, err := store.Stats()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.FreedExpired, "chunk expired")
	// Output:
	// full after 30 blobs
	// true true
	// <nil>
	// true
	// 1 chunk expired
}

// ExampleStore_Entries: a consumer that restarts after a crash finds the
// work left: every blob not acknowledged, whose handles it lost.
func ExampleStore_Entries() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	o := &shm.Options{Dir: dir}
	store, err := shm.Create("queue", o)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	for _, s := range []string{"a", "b", "c"} {
		h, err := store.Append([]byte(s))
		if err != nil {
			log.Fatal(err)
		}
		if s == "b" {
			store.Acknowledge(h)
		}
	}
	for e, err := range store.Entries() {
		if err != nil {
			log.Fatal(err) // ErrCorrupt: shared memory damaged
		}
		if !e.Acked {
			b, err := store.Resolve(e.Handle)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%s ", b)
		}
	}
	fmt.Println()
	// Output:
	// a c
}
