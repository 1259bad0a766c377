package vec_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/vec"
	"github.com/crashsim/crashsim/faultfs"
)

// rec is the element type of most tests: 16 bytes, no Go pointers.
type rec struct {
	N   uint64
	Tag [8]byte
}

func mkrec(n int) rec {
	r := rec{N: uint64(n)}
	copy(r.Tag[:], "rec")
	r.Tag[7] = byte(n)
	return r
}

// backend is a file system and a directory on it for a vector.
type backend struct {
	name  string
	fs    func(t testing.TB) engine.FS
	dir   string
	media engine.Medium
}

// simFS returns a simulated file system with a disk at /data, persistent
// memory at /pmem and shared memory at /dev/shm.
func simFS(t testing.TB) *faultfs.FS {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{
		{Dir: "/pmem", Medium: engine.PMem},
		{Dir: "/dev/shm", Medium: engine.SharedMemory},
	}})
	for _, d := range []string{"/data", "/pmem", "/dev/shm"} {
		if err := fsys.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := fsys.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return fsys
}

// backends are the OS backend in a temporary directory and each medium of
// the simulated file system.
var backends = []backend{
	{"os", func(testing.TB) engine.FS { return engine.OSFS{} }, "", 0},
	{"sim-disk", func(t testing.TB) engine.FS { return simFS(t) }, "/data", engine.MappedFile},
	{"sim-pmem", func(t testing.TB) engine.FS { return simFS(t) }, "/pmem", engine.PMem},
	{"sim-shm", func(t testing.TB) engine.FS { return simFS(t) }, "/dev/shm", engine.SharedMemory},
}

// path returns the name of a vector file on b, for the test t.
func (b backend) path(t testing.TB, name string) string {
	if b.dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	return b.dir + "/" + name
}

// forEachBackend runs f as a subtest on every backend.
func forEachBackend(t *testing.T, f func(t *testing.T, fsys engine.FS, name string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f(t, b.fs(t), b.path(t, "v.vec"))
		})
	}
}

// contents returns a copy of the elements of v, read with At, and checks
// that All and View agree.
func contents[T comparable](t testing.TB, v *vec.Vec[T]) []T {
	t.Helper()
	var got []T
	for i := range v.Len() {
		x, err := v.At(i)
		if err != nil {
			t.Fatalf("At(%d) of %d: %v", i, v.Len(), err)
		}
		got = append(got, x)
	}
	var all []T
	for i, x := range v.All() {
		if i != len(all) {
			t.Fatalf("All yields index %d at step %d", i, len(all))
		}
		all = append(all, x)
	}
	if !slices.Equal(all, got) || !slices.Equal(v.View(), got) {
		t.Fatalf("All %v and View %v differ from At's %v", all, v.View(), got)
	}
	return got
}

// mustCreate creates a vector of rec and closes it when the test ends,
// unless the test did.
func mustCreate(t testing.TB, fsys engine.FS, name string, o *vec.Options) *vec.Vec[rec] {
	t.Helper()
	v, err := vec.Create[rec](fsys, name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// mustOpen opens a vector of rec and closes it when the test ends, unless
// the test did.
func mustOpen(t testing.TB, fsys engine.FS, name string, o *vec.Options) *vec.Vec[rec] {
	t.Helper()
	v, err := vec.Open[rec](fsys, name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// faultfsDropAll is a power failure that keeps only what is durable.
var faultfsDropAll = faultfs.CrashOptions{Mode: faultfs.LoseAll}
