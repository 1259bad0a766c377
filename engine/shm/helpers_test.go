package shm_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
	"github.com/crashsim/crashsim/faultfs"
)

// epoch is when the tests' manual clocks start.
var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// backend is a file system and a directory of shared memory on it.
type backend struct {
	name string
	dir  func(t testing.TB) (engine.FS, string)
}

// backends are the OS backend, in a directory of its own under /dev/shm,
// and the simulated machine's shared memory.
var backends = []backend{
	{"os", osShm},
	{"sim", simShm},
}

// osShm returns the OS backend and a fresh directory under /dev/shm,
// removed when the test ends.
func osShm(t testing.TB) (engine.FS, string) {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "crashsim-shm-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return engine.OSFS{}, dir
}

// simShm returns a simulated file system with shared memory at /dev/shm.
func simShm(t testing.TB) (engine.FS, string) {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/dev/shm", Medium: engine.SharedMemory}}})
	if err := fsys.MkdirAll("/dev/shm", 0o755); err != nil {
		t.Fatal(err)
	}
	return fsys, "/dev/shm"
}

// forEachBackend runs f as a subtest on every backend.
func forEachBackend(t *testing.T, f func(t *testing.T, fsys engine.FS, dir string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			fsys, dir := b.dir(t)
			f(t, fsys, dir)
		})
	}
}

// small returns options of small chunks on fsys and dir, with a manual
// clock and inline prefetch, so that a test is deterministic.
func small(fsys engine.FS, dir string, clock *shm.ManualClock) *shm.Options {
	return &shm.Options{
		FS:         fsys,
		Dir:        dir,
		ChunkSize:  8192,
		MaxChunks:  8,
		PrefetchAt: 0.8,
		Decay:      time.Second,
		TTL:        time.Minute,
		Prefetch:   shm.PrefetchInline,
		Clock:      clock,
	}
}

// mustCreate creates a namespace and closes it, and checks it, when the
// test ends.
func mustCreate(t testing.TB, name string, o *shm.Options) *shm.Store {
	t.Helper()
	s, err := shm.Create(name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeChecked(t, s) })
	return s
}

// mustAttach attaches to a namespace and closes it when the test ends.
func mustAttach(t testing.TB, name string, o *shm.Options) *shm.Store {
	t.Helper()
	s, err := shm.Attach(name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeChecked(t, s) })
	return s
}

// closeChecked runs the invariant walker, then closes s unless the test
// did.
func closeChecked(t testing.TB, s *shm.Store) {
	t.Helper()
	if err := s.Check(); err != nil && !errors.Is(err, shm.ErrClosed) {
		t.Errorf("Check of %s: %v", s.Name(), err)
	}
	if err := s.Close(); err != nil && !errors.Is(err, shm.ErrClosed) {
		t.Errorf("Close of %s: %v", s.Name(), err)
	}
}

// blob returns the i-th blob of a test: n bytes that say i.
func blob(i, n int) []byte {
	b := bytes.Repeat([]byte{byte('a' + i%26)}, n)
	copy(b, fmt.Sprintf("blob %d.", i))
	return b[:n]
}

// mustAppend appends b and returns its handle.
func mustAppend(t testing.TB, s *shm.Store, b []byte) shm.Handle {
	t.Helper()
	h, err := s.Append(b)
	if err != nil {
		t.Fatalf("Append of %d bytes: %v", len(b), err)
	}
	return h
}

// wantBlob reports unless h resolves to want in s, by Resolve and View.
func wantBlob(t testing.TB, s *shm.Store, h shm.Handle, want []byte) {
	t.Helper()
	got, err := s.Resolve(h)
	if err != nil {
		t.Errorf("Resolve(%v): %v", h, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Resolve(%v) = %q, want %q", h, abbrev(got), abbrev(want))
	}
	var seen []byte
	if err := s.View(h, func(b []byte) { seen = append(seen, b...) }); err != nil {
		t.Errorf("View(%v): %v", h, err)
	} else if !bytes.Equal(seen, want) {
		t.Errorf("View(%v) saw %q, want %q", h, abbrev(seen), abbrev(want))
	}
}

// wantErr reports unless err wraps target.
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: %v, want %v", what, err, target)
	}
}

// entries returns the handles and acknowledgement of every blob Entries
// yields, failing on an error.
func entries(t testing.TB, s *shm.Store) []shm.Entry {
	t.Helper()
	var es []shm.Entry
	for e, err := range s.Entries() {
		if err != nil {
			t.Fatalf("Entries: %v", err)
		}
		es = append(es, e)
	}
	return es
}

func abbrev(b []byte) []byte {
	if len(b) > 40 {
		return append(b[:40:40], "…"...)
	}
	return b
}
