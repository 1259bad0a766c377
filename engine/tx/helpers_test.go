package tx_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/internal/txbug"
)

// P is the tag of the tests' pools.
type P struct{}

// Root is the root type of most tests' pools.
type Root struct {
	Count int64
	Map   tx.Map[P]
	List  tx.Box[P, Node]
	Items tx.Vec[P, Item]
	Name  tx.String[P]
	Blob  tx.Bytes[P]
	Rc    tx.Rc[P, Node]
	Arc   tx.Arc[P, Node]
	Mu    tx.Mutex
	RW    tx.RWMutex
	Pair  [2]int64
}

// Node is a list node.
type Node struct {
	Value int64
	Next  tx.Box[P, Node]
}

// Item is an element of Root.Items.
type Item struct {
	ID   int64
	Data tx.Bytes[P]
}

// memFS returns an empty simulated file system whose /pmem is persistent
// memory, the medium the pool is written for.
func memFS(t testing.TB) *faultfs.FS {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	return fsys
}

const poolName = "/pmem/pool"

// newPool creates a strict pool (Check after every commit) on fsys and
// checks it and closes it when the test ends.
func newPool(t testing.TB, fsys engine.FS, o *tx.Options) *tx.Pool[P, Root] {
	t.Helper()
	if o == nil {
		o = &tx.Options{}
	}
	if o.Size == 0 {
		o.Size = 1 << 20
	}
	o.Strict = true
	p, err := tx.Create[P, Root](fsys, poolName, o)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p)
	return p
}

// closeAtEnd checks p and closes it when the test ends, unless the test
// closed it.
func closeAtEnd[R any](t testing.TB, p *tx.Pool[P, R]) {
	t.Cleanup(func() {
		if err := p.Check(); err != nil && !isClosed(err) {
			t.Errorf("Check at the end of the test: %v", err)
		}
		p.Close()
	})
}

func isClosed(err error) bool { return err != nil && errors.Is(err, tx.ErrClosed) }

// reopen closes p and opens the pool again.
func reopen(t testing.TB, fsys engine.FS, p *tx.Pool[P, Root]) *tx.Pool[P, Root] {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	q, err := tx.Open[P, Root](fsys, poolName, &tx.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, q)
	return q
}

// update runs fn in an Update and fails the test on an error.
func update(t testing.TB, p *tx.Pool[P, Root], fn func(t *tx.Tx[P], r *Root) error) {
	t.Helper()
	root := p.Root()
	err := p.Update(func(tt *tx.Tx[P]) error {
		r, err := root.Get(tt)
		if err != nil {
			return err
		}
		if err := fn(tt, &r); err != nil {
			return err
		}
		return root.Set(tt, r)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// view runs fn in a View and fails the test on an error.
func view(t testing.TB, p *tx.Pool[P, Root], fn func(t *tx.Tx[P], r Root) error) {
	t.Helper()
	root := p.Root()
	err := p.View(func(tt *tx.Tx[P]) error {
		r, err := root.Get(tt)
		if err != nil {
			return err
		}
		return fn(tt, r)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// shmDir returns a directory on /dev/shm (or the temp directory) for pools
// on the real OS.
func shmDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "tx-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func osPoolName(t testing.TB) string { return filepath.Join(shmDir(t), "pool") }

// The formats whose commit protocols the tests that count drains try:
// format 5's undo log, two drains per transaction (the data's is the
// second), and format 6's redo log, one (log.go, redo.go).
var protocols = []struct {
	name   string
	format uint32
	// commitDrain is the index, among a logged transaction's drains, of
	// the one before which nothing of it is durable in place: the
	// data's in format 5, the only one in format 6.
	commitDrain uint64
}{{"undo", 5, 1}, {"redo", tx.Version, 0}}

// formatOptions returns options that Create a pool of format v, as the
// release that wrote it did.
func formatOptions(v uint32) *tx.Options {
	o := &tx.Options{}
	if v != tx.Version {
		txbug.SetFormat(o, v)
	}
	return o
}
