package wal_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
)

// The README's example: append, make durable, and after a restart resume
// and replay.
func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A write-ahead log: append, make durable, replay after a crash.
	w, err := wal.New(engine.OSFS{}, dir, wal.Bytes, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	id, err := w.Append([]byte("put k1 v1"))
	if err != nil {
		log.Fatal(err)
	}
	err = w.FlushAndSync() // concurrent callers share one fsync
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended", id)
	w.Close()

	// After a restart:
	w, err = wal.Resume(engine.OSFS{}, dir, wal.Bytes, wal.Options{}) // repairs a torn tail
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	err = wal.ReplayEach(engine.OSFS{}, dir, wal.Bytes, wal.Strict, func(id uint64, e []byte) error {
		fmt.Printf("replayed %d: %s\n", id, e)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// appended 1
	// replayed 1: put k1 v1
}

// The package doc's first example: appends, a batch, the sync barrier.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	entries := [][]byte{[]byte("put k2 v2"), []byte("del k1")}

	w, err := wal.New(engine.OSFS{}, dir, wal.Bytes, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	id, err := w.Append([]byte("put k1 v1")) // buffered; id 1
	if err != nil {
		log.Fatal(err)
	}
	first, err := w.AppendBatch(entries) // consecutive ids from first
	if err != nil {
		log.Fatal(err)
	}
	err = w.FlushAndSync() // durable: the barrier
	if err != nil {
		log.Fatal(err)
	}
	err = w.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id, first)
	// Output: 1 2
}

// The package doc's second example: Resume after a crash, then replay.
func ExampleResume() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fsys := engine.OSFS{}
	prev, err := wal.New(fsys, dir, wal.Bytes, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	prev.AppendBatch([][]byte{[]byte("put k1 v1"), []byte("put k2 v2")})
	if err := prev.FlushAndSync(); err != nil {
		log.Fatal(err)
	}
	prev.Close()
	apply := func(e []byte) error {
		fmt.Printf("%s\n", e)
		return nil
	}

	w, err := wal.Resume(fsys, dir, wal.Bytes, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	err = wal.ReplayEach(fsys, dir, wal.Bytes, wal.Strict, func(id uint64, e []byte) error {
		return apply(e)
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// put k1 v1
	// put k2 v2
}

// State is what the entries of ExamplePublish build: how many entries were
// applied, and the last one. Its encoding makes it a wal.Binary codec.
type State struct {
	Entries uint64
	Last    string
}

func (s State) AppendBinary(b []byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint64(b, s.Entries)
	return append(b, s.Last...), nil
}

func (s *State) UnmarshalBinary(b []byte) error {
	if len(b) < 8 {
		return errors.New("state: short")
	}
	s.Entries, s.Last = binary.LittleEndian.Uint64(b), string(b[8:])
	return nil
}

// Apply returns the state after entry e.
func (s State) Apply(e []byte) (State, error) {
	return State{Entries: s.Entries + 1, Last: string(e)}, nil
}

// The package doc's third example: a checkpoint bounds the log, and
// recovery starts from it.
func ExamplePublish() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fsys := engine.OSFS{}
	stateCodec := wal.Binary[State]()
	w, err := wal.New(fsys, dir, wal.Bytes, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	var state State
	var lastAppliedID uint64
	for _, e := range []string{"a", "b", "c"} {
		if lastAppliedID, err = w.Append([]byte(e)); err != nil {
			log.Fatal(err)
		}
		state, _ = state.Apply([]byte(e))
	}

	p, err := wal.Publish(w, stateCodec, state, lastAppliedID)
	if err != nil {
		log.Fatal(err)
	}
	w.Append([]byte("d")) // after the checkpoint
	if err := w.FlushAndSync(); err != nil {
		log.Fatal(err)
	}
	rec, err := wal.Recover(fsys, dir, stateCodec, wal.Bytes, wal.Strict,
		func(s State, id uint64, e []byte) (State, error) { return s.Apply(e) })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("checkpoint through", p.Through)
	fmt.Printf("recovered %+v, %d applied after the checkpoint\n", rec.State, rec.Applied)
	// Output:
	// checkpoint through 3
	// recovered {Entries:4 Last:d}, 1 applied after the checkpoint
}
