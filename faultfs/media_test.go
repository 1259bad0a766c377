package faultfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// Unit tests of the media rules of doc.go: mounts (12), persistent memory
// (13), shared memory (14) and units (15).

var testMounts = []Mount{
	{Dir: "/mnt/pmem", Medium: engine.PMem},
	{Dir: "/dev/shm", Medium: engine.SharedMemory},
	{Dir: "/mnt/pmem/disk", Medium: engine.MappedFile},
}

func newMounted(t *testing.T) *FS {
	t.Helper()
	return New(Options{Mounts: testMounts})
}

// mapped creates name with size bytes, durable with its name, and maps it.
func mapped(t *testing.T, fsys *FS, name string, size int64) (engine.File, engine.Region) {
	t.Helper()
	f := create(t, fsys, name)
	ok(t, f.Truncate(size))
	ok(t, f.Sync())
	ok(t, fsys.SyncDir(name[:strings.LastIndexByte(name, '/')+1]))
	r, err := fsys.Map(f, size)
	ok(t, err)
	return f, r
}

func TestRule12Mounts(t *testing.T) {
	fsys := newMounted(t)
	for _, dir := range []string{"/mnt", "/mnt/pmem", "/dev/shm", "/mnt/pmem/disk"} {
		if fi, err := fsys.Stat(dir); err != nil || !fi.IsDir() {
			t.Fatalf("mount point %s: %v", dir, err)
		}
	}
	if got := image(t, lostAll(fsys)); got != image(t, fsys) {
		t.Fatalf("mount points are not durable:\n%s", got)
	}
	for name, want := range map[string]engine.Medium{
		"/f": engine.MappedFile, "/mnt/pmem/f": engine.PMem, "/dev/shm/f": engine.SharedMemory,
		"/mnt/pmem/disk/f": engine.MappedFile, "/mnt/pmem/sub/f": engine.PMem, "/mnt/f": engine.MappedFile,
	} {
		if dir := name[:strings.LastIndexByte(name, '/')]; dir != "" {
			ok(t, fsys.MkdirAll(dir, 0o755))
		}
		f := create(t, fsys, name)
		r, err := fsys.Map(f, 4096)
		ok(t, err)
		if r.Medium() != want {
			t.Errorf("%s: medium %v, want %v", name, r.Medium(), want)
		}
	}

	// Rename between mounts: EXDEV, as os.Rename returns it.
	err := fsys.Rename("/f", "/mnt/pmem/g")
	var le *os.LinkError
	if !errors.As(err, &le) || le.Op != "rename" || !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename across mounts: %v", err)
	}
	if err := fsys.Rename("/mnt/pmem/f", "/mnt/pmem/disk/f"); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename into a nested mount: %v", err)
	}
	ok(t, fsys.Rename("/mnt/pmem/f", "/mnt/pmem/sub/g")) // one mount
	// Mount points and their parents stay where they are.
	wantErrno(t, fsys.Remove("/dev/shm"), "remove", syscall.EBUSY)
	wantErrno(t, fsys.Remove("/mnt"), "remove", syscall.ENOTEMPTY)
	for _, old := range []string{"/dev/shm", "/mnt", "/mnt/pmem"} {
		if err := fsys.Rename(old, "/x"); !errors.Is(err, syscall.EBUSY) {
			t.Fatalf("rename of %s: %v", old, err)
		}
	}
	ok(t, fsys.MkdirAll("/dev/shm", 0o755)) // exists: no error

	// A clone keeps the mounts: a new file there has the medium.
	for _, c := range []*FS{lostAll(fsys), fsys.CrashClone(CrashOptions{Mode: KeepAll})} {
		f := create(t, c, "/mnt/pmem/new")
		r, err := c.Map(f, 64)
		ok(t, err)
		if r.Medium() != engine.PMem {
			t.Fatalf("clone: medium %v", r.Medium())
		}
		if err := c.Rename("/mnt/pmem/new", "/new"); !errors.Is(err, syscall.EXDEV) {
			t.Fatalf("clone: rename across mounts: %v", err)
		}
	}
}

// TestMountTable: odd mounts do not panic and mean what the doc says.
func TestMountTable(t *testing.T) {
	fsys := New(Options{Mounts: []Mount{
		{Dir: "a/../p/", Medium: engine.PMem},
		{Dir: "/p", Medium: engine.SharedMemory}, // the last one wins
		{Dir: "/q", Medium: engine.Medium(42)},   // a disk
	}})
	f := create(t, fsys, "/p/f")
	r, err := fsys.Map(f, 8)
	ok(t, err)
	if r.Medium() != engine.SharedMemory {
		t.Fatalf("/p: %v", r.Medium())
	}
	g := create(t, fsys, "/q/g")
	if r, err := fsys.Map(g, 8); err != nil || r.Medium() != engine.MappedFile {
		t.Fatalf("/q: %v %v", r, err)
	}
	root := New(Options{Mounts: []Mount{{Dir: "", Medium: engine.SharedMemory}}})
	h := create(t, root, "/h")
	writeAt(t, h, "x", 0)
	ok(t, h.Sync())
	ok(t, root.SyncDir("/"))
	if got := image(t, lostAll(root)); got != "" {
		t.Fatalf("shared memory on the root survived a power failure:\n%s", got)
	}
}

// TestRule13LinePrefix: the stores to one line survive as a prefix, in
// program order; lines are independent; a word is never torn.
func TestRule13LinePrefix(t *testing.T) {
	fsys := newMounted(t)
	_, r := mapped(t, fsys, "/mnt/pmem/pool", 4096)
	// A 24-byte copy at 8 is three word stores to line 0; a 10-byte copy
	// at 60 is a 4-byte store to line 0 and a 6-byte one to line 1.
	_, err := r.WriteAt(bytes.Repeat([]byte{'a'}, 24), 8)
	ok(t, err)
	_, err = r.WriteAt(bytes.Repeat([]byte{'b'}, 10), 60)
	ok(t, err)
	ok(t, r.Store64(128, 0x0807060504030201))
	p := fsys.Pending(0)
	if p.Granularity != 0 || len(p.Data) != 3 {
		t.Fatalf("pending %d units, granularity %d: %+v", len(p.Data), p.Granularity, p.Data)
	}
	for i, want := range []int{5, 2, 2} { // line 0: 0..4 stores; line 1: 0..1; line 2: 0..1
		if u := p.Data[i]; u.Versions() != want || u.Len != 64 || u.Medium != engine.PMem || u.Off != int64(64*i) {
			t.Fatalf("unit %d: %+v", i, u)
		}
	}
	line0 := map[string]bool{}
	for c := range p.Choices(AllSubsets, 0, 0) {
		b := []byte(fileText(t, p.Clone(c, Tail{}), "/mnt/pmem/pool"))
		line0[string(b[8:64])] = true
		if w := b[128:136]; !bytes.Equal(w, make([]byte, 8)) && binary.NativeEndian.Uint64(w) != 0x0807060504030201 {
			t.Fatalf("torn word %x", w)
		}
		if (b[64] == 'b') != (c.Data[1] == 1) {
			t.Fatal("line 1 is not its own unit")
		}
	}
	a := func(n int) string { return strings.Repeat("a", n) }
	z := func(n int) string { return strings.Repeat("\x00", n) }
	want := []string{
		z(56), a(8) + z(48), a(16) + z(40), a(24) + z(32), a(24) + z(28) + "bbbb",
	}
	if len(line0) != len(want) {
		t.Fatalf("line 0 has %d states, want the %d prefixes", len(line0), len(want))
	}
	for _, w := range want {
		if !line0[w] {
			t.Fatalf("line 0 never holds the prefix %q", w)
		}
	}
}

// TestRule13Drain: Drain makes the flushed lines durable, with what they
// held when flushed, and only them; the other lines of the block keep their
// history.
func TestRule13Drain(t *testing.T) {
	fsys := newMounted(t)
	f, r := mapped(t, fsys, "/mnt/pmem/pool", 8192)
	ok(t, r.Store64(0, 1))
	ok(t, r.Store64(64, 2))
	ok(t, r.Store64(4096, 3))
	ok(t, r.Flush(0, 8))
	ok(t, r.Store64(8, 4)) // after the Flush, before the Drain: not covered by it
	ok(t, r.Drain())
	img := []byte(fileText(t, lostAll(fsys), "/mnt/pmem/pool"))
	if img[0] != 1 || img[8] != 0 || img[64] != 0 || img[4096] != 0 {
		t.Fatalf("durable after Drain: %d %d %d %d, want 1 0 0 0", img[0], img[8], img[64], img[4096])
	}
	p := fsys.Pending(0)
	if len(p.Data) != 3 || p.Data[0].Off != 0 || p.Data[0].Versions() != 2 || p.Data[1].Off != 64 || p.Data[2].Off != 4096 {
		t.Fatalf("pending after Drain: %+v", p.Data)
	}
	ok(t, engine.Persist(r, 8, 8)) // flushing it again covers it
	if img := []byte(fileText(t, lostAll(fsys), "/mnt/pmem/pool")); img[8] != 4 {
		t.Fatalf("a store flushed and drained is not durable: %d", img[8])
	}
	// Persist of the rest; a Drain without a Flush makes nothing durable.
	ok(t, r.Store64(72, 5))
	ok(t, r.Drain())
	if n := len(fsys.Pending(0).Data); n != 2 {
		t.Fatalf("a Drain without a Flush changed the pending units: %d", n)
	}
	ok(t, engine.Persist(r, 0, 8192))
	if n := len(fsys.Pending(0).Data); n != 0 {
		t.Fatalf("%d units pending after Persist of everything", n)
	}
	img = []byte(fileText(t, lostAll(fsys), "/mnt/pmem/pool"))
	if img[64] != 2 || img[72] != 5 || img[4096] != 3 {
		t.Fatal("Persist lost a store")
	}
	// File I/O keeps the rules of write(): one change per block, durable
	// after Sync.
	writeAt(t, f, strings.Repeat("w", 100), 1000) // lines 15 to 17
	p = fsys.Pending(0)
	if len(p.Data) != 3 {
		t.Fatalf("WriteAt on pmem: %+v", p.Data)
	}
	for _, u := range p.Data {
		if u.Versions() != 2 {
			t.Fatalf("WriteAt on pmem is not one change per line: %+v", p.Data)
		}
	}
	ok(t, f.Sync())
	if got := fileText(t, lostAll(fsys), "/mnt/pmem/pool"); got[1000:1100] != strings.Repeat("w", 100) {
		t.Fatal("Sync of a pmem file")
	}
}

// TestRule13DrainFailure: a SyncFailure on a pmem Drain drops the blocks of
// the flushed lines, as rule 7 does.
func TestRule13DrainFailure(t *testing.T) {
	rules := NewRules(Rule{When: OpKinds(OpDrain), Fault: SyncFailure})
	fsys := New(Options{Mounts: testMounts, Injector: rules})
	_, r := mapped(t, fsys, "/mnt/pmem/pool", 8192)
	ok(t, r.Store64(0, 1))
	ok(t, r.Store64(64, 2))
	ok(t, r.Store64(4096, 3))
	ok(t, r.Flush(0, 8))
	if err := r.Drain(); !errors.Is(err, ErrInjected) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("failed Drain: %v", err)
	}
	p := fsys.Pending(0)
	if len(p.Data) != 1 || p.Data[0].Off != 4096 {
		t.Fatalf("after a failed Drain: %+v", p.Data)
	}
	if v, _ := r.Load64(64); v != 2 {
		t.Fatal("a failed Drain changed the mapping")
	}
}

// TestRule13LongWorkloadMemory: pending history does not outlive the Drain
// of its line, so a long workload of stores holds little: 1,000,000
// stores to a 1 MiB pool, a Persist of the whole pool every 1,000.
func TestRule13LongWorkloadMemory(t *testing.T) {
	stores := 1_000_000
	if raceEnabled || testing.Short() {
		stores = 100_000
	}
	inuse, live := longWorkload(t, 1<<20, stores)
	t.Logf("%d stores to 1 MiB: HeapInuse %d KiB, HeapAlloc %d KiB after", stores, inuse>>10, live>>10)
	if inuse > 16<<20 {
		t.Fatalf("HeapInuse %d MiB after the workload", inuse>>20)
	}
}

// longWorkload makes stores random 8-byte stores to a pool of size bytes,
// durable at first, with a Flush of the whole pool and a Drain every 1,000,
// and returns runtime.MemStats.HeapInuse and HeapAlloc after a GC.
func longWorkload(tb testing.TB, size int64, stores int) (inuse, alloc uint64) {
	fsys := New(Options{Mounts: testMounts})
	f, err := engine.Create(fsys, "/mnt/pmem/pool")
	if err == nil {
		err = f.Truncate(size)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		tb.Fatal(err)
	}
	r, err := fsys.Map(f, size)
	if err != nil {
		tb.Fatal(err)
	}
	x := uint64(1)
	for i := range stores {
		x = mix64(x)
		if err := r.Store64(int64(x%uint64(size/8))*8, uint64(i)); err != nil {
			tb.Fatal(err)
		}
		if i%1000 == 999 {
			if err := engine.Persist(r, 0, size); err != nil {
				tb.Fatal(err)
			}
		}
	}
	c := r.(*region).node.data
	if len(c.dirty) != 0 || len(c.lines) != 0 || len(c.drained) != 0 {
		tb.Fatalf("history left: %d blocks, %d line dates", len(c.dirty), len(c.lines))
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(fsys)
	return ms.HeapInuse, ms.HeapAlloc
}

// TestRule14SharedMemory: lost by a power failure, kept by a process
// crash; nothing there is pending.
func TestRule14SharedMemory(t *testing.T) {
	fsys := newMounted(t)
	ok(t, fsys.MkdirAll("/dev/shm/ns/chunks", 0o755))
	f := create(t, fsys, "/dev/shm/ns/chunks/0")
	writeAt(t, f, "blob", 0)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/dev/shm/ns/chunks"))
	ok(t, fsys.SyncDir("/dev/shm/ns"))
	ok(t, fsys.SyncDir("/dev/shm"))
	r, err := fsys.Map(f, 4096)
	ok(t, err)
	ok(t, r.Store64(8, 7))
	ok(t, engine.Persist(r, 0, 4096))
	_, err = fsys.Lock("/dev/shm/ns/lock", engine.Exclusive)
	ok(t, err)
	ok(t, fsys.Rename("/dev/shm/ns/chunks/0", "/dev/shm/ns/chunks/1"))

	if p := fsys.Pending(0); len(p.Meta)+len(p.Sizes)+len(p.Data) != 0 {
		t.Fatalf("pending on shared memory: %+v %+v %+v", p.Meta, p.Sizes, p.Data)
	}
	empty := "/dev/\n/dev/shm/\n/mnt/\n/mnt/pmem/\n/mnt/pmem/disk/"
	for _, mode := range []Strategy{LoseAll, InOrderPrefixes, AllSubsets} {
		if got := image(t, fsys.CrashClone(CrashOptions{Mode: mode})); got != empty {
			t.Fatalf("%v:\n%s", mode, got)
		}
	}
	p := fsys.Pending(0)
	for c := range p.Choices(AllSubsets, 0, 0) {
		if got := image(t, p.Clone(c, Tail{})); got != empty {
			t.Fatalf("choice %s:\n%s", c.Key(), got)
		}
	}
	keep := fsys.CrashClone(CrashOptions{Mode: KeepAll})
	if got := fileText(t, keep, "/dev/shm/ns/chunks/1"); got[:4] != "blob" || got[8] != 7 {
		t.Fatalf("a process crash lost shared memory: %q", got[:9])
	}
	// And the kept copy is still shared memory.
	if got := image(t, lostAll(keep)); got != empty {
		t.Fatalf("a power failure after a process crash:\n%s", got)
	}
	if r.Medium() != engine.SharedMemory {
		t.Fatalf("medium %v", r.Medium())
	}
}

// TestRule15Units: 0 gives each medium its unit; a positive granularity
// is every file's.
func TestRule15Units(t *testing.T) {
	fsys := newMounted(t)
	_, r := mapped(t, fsys, "/mnt/pmem/pool", 4096)
	_, d := mapped(t, fsys, "/disk", 4096)
	ok(t, r.Store64(0, 1))
	ok(t, d.Store64(0, 1))
	for g, want := range map[int][2]int{0: {64, 4096}, -1: {64, 4096}, 512: {512, 512}, 8: {8, 8}, 100: {64, 64}, 1 << 20: {4096, 4096}} {
		p := fsys.Pending(g)
		if len(p.Data) != 2 {
			t.Fatalf("g=%d: %+v", g, p.Data)
		}
		// Inode order: the pool was created first.
		if p.Data[0].Len != want[0] || p.Data[1].Len != want[1] || p.Data[0].Medium != engine.PMem || p.Data[1].Medium != engine.MappedFile {
			t.Fatalf("g=%d: %+v", g, p.Data)
		}
		if wantG := want[1]; (g > 0) != (p.Granularity != 0) || (g > 0 && p.Granularity != wantG) {
			t.Fatalf("g=%d: Granularity %d", g, p.Granularity)
		}
	}
	// CrashOptions.Granularity: every strategy accepts 0 and the rest.
	for _, g := range []int{0, 8, 64, 512, 4096} {
		c := fsys.CrashClone(CrashOptions{Mode: AllSubsets, Granularity: g, Seed: 3})
		if _, err := c.Stat("/mnt/pmem/pool"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRule13AfterFailedSync: the first store of a copy to a block that a
// failed Sync dropped records the whole block as it is after that store
// (rule 7), without the words the copy stores after it.
func TestRule13AfterFailedSync(t *testing.T) {
	rules := NewRules(Rule{When: OpKinds(OpSync), Fault: SyncFailure})
	fsys := New(Options{Mounts: testMounts, Injector: rules})
	f := create(t, fsys, "/mnt/pmem/pool")
	ok(t, f.Truncate(4096))
	ok(t, fsys.SyncDir("/mnt/pmem"))
	r, err := fsys.Map(f, 4096)
	ok(t, err)
	ok(t, r.Store64(0, 1))
	if err := f.Sync(); err == nil { // drops the store and the size
		t.Fatal("Sync did not fail")
	}
	ok(t, f.Sync()) // the size is durable now, the store is not
	_, err = r.WriteAt([]byte("abcdefghijklmnop"), 8)
	ok(t, err)
	// The other lines of the whole-block change equal their durable
	// content: one unit, line 0, with the durable version, the block
	// after the first word, and after the second.
	p := fsys.Pending(0)
	if len(p.Data) != 1 || p.Data[0].Versions() != 3 {
		t.Fatalf("units: %+v", p.Data)
	}
	states := map[string]bool{}
	for c := range p.Choices(AllSubsets, 0, 0) {
		states[fileText(t, p.Clone(c, Tail{}), "/mnt/pmem/pool")[:24]] = true
	}
	for _, want := range []string{
		strings.Repeat("\x00", 24),
		"\x01\x00\x00\x00\x00\x00\x00\x00abcdefgh\x00\x00\x00\x00\x00\x00\x00\x00",
		"\x01\x00\x00\x00\x00\x00\x00\x00abcdefghijklmnop",
	} {
		if !states[want] {
			t.Fatalf("state %q missing from %v", want, states)
		}
	}
}
