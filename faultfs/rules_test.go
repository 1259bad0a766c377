package faultfs

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// Unit tests of the crash rules of doc.go, one or more per rule.

// TestRule3SyncMakesDataDurable: Sync makes data and size durable, not the
// name; SyncDir makes the name durable, not the data (rules 3, 10).
func TestRule3SyncMakesDataDurable(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, "data", 0)
	ok(t, f.Sync())
	if got := fileText(t, lostAll(fsys), "/f"); got != "<missing>" {
		t.Fatalf("Sync made the name durable: %q", got)
	}
	ok(t, fsys.SyncDir("/"))
	if got := fileText(t, lostAll(fsys), "/f"); got != "data" {
		t.Fatalf("after Sync and SyncDir: %q", got)
	}

	g := create(t, fsys, "/g")
	writeAt(t, g, "lost", 0)
	ok(t, fsys.SyncDir("/"))
	if got := fileText(t, lostAll(fsys), "/g"); got != "" {
		t.Fatalf("SyncDir made data durable: %q", got)
	}
	writeAt(t, f, "DA", 0)
	if got := fileText(t, lostAll(fsys), "/f"); got != "data" {
		t.Fatalf("unsynced write survived LoseAll: %q", got)
	}
	if got := fileText(t, fsys.CrashClone(CrashOptions{Mode: KeepAll}), "/f"); got != "DAta" {
		t.Fatalf("KeepAll lost the page cache: %q", got)
	}
}

// TestRule2Versions: each unit picks a version among durable and after each
// change; equal consecutive versions collapse.
func TestRule2Versions(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, strings.Repeat("a", 8192), 0)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	writeAt(t, f, "b", 10)
	writeAt(t, f, "c", 10)
	writeAt(t, f, "c", 10)   // same content: no new version
	writeAt(t, f, "d", 4100) // the second block
	p := fsys.Pending(4096)
	if len(p.Data) != 2 || p.Data[0].Versions() != 3 || p.Data[1].Versions() != 2 || len(p.Sizes) != 0 {
		t.Fatalf("pending: %+v %+v", p.Data, p.Sizes)
	}
	got := map[string]bool{}
	for c := range p.Choices(AllSubsets, 0, 0) {
		b := []byte(fileText(t, p.Clone(c, Tail{}), "/f"))
		got[string(b[10])+string(b[4100])] = true
	}
	if len(got) != 6 || !got["aa"] || !got["cd"] || !got["bd"] {
		t.Fatalf("states: %v", got)
	}
}

// TestTornSectors: with 512-byte units a block write survives sector by
// sector (F2 "a torn block holds old and new sectors").
func TestTornSectors(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, strings.Repeat("o", 4096), 0)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	writeAt(t, f, strings.Repeat("n", 4096), 0)
	p := fsys.Pending(512)
	if len(p.Data) != 8 {
		t.Fatalf("%d units, want 8", len(p.Data))
	}
	c := p.loseAll()
	c.Data[1], c.Data[6] = 1, 1
	want := strings.Repeat("o", 512) + strings.Repeat("n", 512) + strings.Repeat("o", 2048) + strings.Repeat("n", 512) + strings.Repeat("o", 512)
	if got := fileText(t, p.Clone(c, Tail{}), "/f"); got != want {
		t.Fatal("torn block does not hold the chosen sectors")
	}
	if n, _ := p.Count(AllSubsets); n != 256 {
		t.Fatalf("Count = %d, want 2^8", n)
	}
}

// TestRule4SizeIndependentOfData and rule 5: an extension whose data is lost
// reads as zeros, or garbage with Tail.Garbage.
func TestRule5Tail(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, "head", 0)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	writeAt(t, f, "tail", 6000)
	p := fsys.Pending(4096)
	c := p.loseAll()
	c.Sizes[0] = 1 // the new size, without the data
	zero := fileText(t, p.Clone(c, Tail{}), "/f")
	if len(zero) != 6004 || zero[:4] != "head" || strings.Trim(zero[4:], "\x00") != "" {
		t.Fatalf("zero tail: %q...", zero[:8])
	}
	garbage := fileText(t, p.Clone(c, Tail{Garbage: true, Seed: 9}), "/f")
	if len(garbage) != 6004 || garbage[:4] != "head" || garbage[6000:] == "\x00\x00\x00\x00" || garbage[6000:] == "tail" {
		t.Fatalf("garbage tail: %q", garbage[6000:])
	}
	if garbage[4:6000] != zero[4:6000] {
		t.Fatal("garbage where no write was lost")
	}
	again := fileText(t, p.Clone(c, Tail{Garbage: true, Seed: 9}), "/f")
	if again != garbage {
		t.Fatal("garbage is not a function of the seed")
	}
}

// TestRule5NoResurrection: bytes cut by a truncate never come back with a
// size from after the cut.
func TestRule5NoResurrection(t *testing.T) {
	for _, garbage := range []bool{false, true} {
		fsys := New(Options{})
		f := create(t, fsys, "/f")
		writeAt(t, f, strings.Repeat("s", 10000), 0)
		ok(t, f.Sync())
		ok(t, fsys.SyncDir("/"))
		ok(t, f.Truncate(100))
		ok(t, f.Truncate(10000))
		for _, g := range []int{4096, 512, 8} {
			p := fsys.Pending(g)
			for c := range p.Choices(AllSubsets, 3000, 1) {
				got := fileText(t, p.Clone(c, Tail{Garbage: garbage}), "/f")
				if c.Sizes[0] == 2 && strings.Contains(got[100:], "s") {
					t.Fatalf("g=%d %s: cut bytes resurrected", g, c.Key())
				}
			}
		}
	}
}

// TestRule6Drain: Drain makes exactly the flushed pages durable, with their
// current content, and not the size.
func TestRule6Drain(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	ok(t, f.Truncate(3*4096))
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	r, err := fsys.Map(f, 3*4096)
	ok(t, err)
	ok(t, r.Store64(0, 1))
	ok(t, r.Store64(4096, 2))
	ok(t, r.Store64(8192, 3))
	ok(t, r.Flush(0, 8))
	ok(t, r.Flush(8192, 8))
	ok(t, r.Store64(8192, 4)) // after the Flush: msync writes the current content
	ok(t, r.Drain())
	img := []byte(fileText(t, lostAll(fsys), "/f"))
	if img[0] != 1 || img[4096] != 0 || img[8192] != 4 {
		t.Fatalf("durable after Drain: %d %d %d, want 1 0 4", img[0], img[4096], img[8192])
	}
	ok(t, r.Grow(4*4096))
	ok(t, r.Store64(3*4096, 5))
	ok(t, r.Flush(0, 4*4096))
	ok(t, r.Drain())
	if got := len(fileText(t, lostAll(fsys), "/f")); got != 3*4096 {
		t.Fatalf("Drain made the grown size durable: %d", got)
	}
	ok(t, f.Sync())
	if img := fileText(t, lostAll(fsys), "/f"); len(img) != 4*4096 || img[3*4096] != 5 {
		t.Fatal("Sync after Grow lost the drained page")
	}
}

// TestRule7SyncFailure: Linux fsync-failure semantics.
func TestRule7SyncFailure(t *testing.T) {
	rules := NewRules(Rule{When: OpKinds(OpSync), Fault: SyncFailure})
	fsys := New(Options{Injector: rules})
	f := create(t, fsys, "/f")
	ok(t, fsys.SyncDir("/"))
	writeAt(t, f, "lost", 0)
	err := f.Sync()
	if !errors.Is(err, ErrInjected) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("failed Sync: %v", err)
	}
	if got := fileText(t, fsys, "/f"); got != "lost" {
		t.Fatalf("page cache after a failed Sync: %q", got)
	}
	ok(t, f.Sync()) // the retry "succeeds"
	if got := fileText(t, lostAll(fsys), "/f"); got != "\x00\x00\x00\x00" {
		t.Fatalf("durable after the retry: %q, want the size without the data", got)
	}
	if got := fileText(t, fsys.CrashClone(CrashOptions{Mode: KeepAll}), "/f"); got != "lost" {
		t.Fatalf("a process crash keeps the page cache: %q", got)
	}
	writeAt(t, f, "L", 0) // re-dirties the whole page
	ok(t, f.Sync())
	if got := fileText(t, lostAll(fsys), "/f"); got != "Lost" {
		t.Fatalf("after rewriting the page: %q", got)
	}
	if len(rules.Unfired()) != 0 {
		t.Fatal("rule did not fire")
	}
}

// TestRule8And9Namespace: a prefix of the pending changes, replayed on the
// durable tree; changes under a directory that does not exist are dropped.
func TestRule8And9Namespace(t *testing.T) {
	fsys := New(Options{})
	ok(t, fsys.MkdirAll("/d", 0o755))
	create(t, fsys, "/d/f")
	ok(t, fsys.SyncDir("/d")) // /d itself is not durable
	if got := image(t, lostAll(fsys)); got != "" {
		t.Fatalf("a change under a directory that was never synced survived:\n%s", got)
	}
	ok(t, fsys.SyncDir("/"))
	if got := image(t, lostAll(fsys)); !has(got, "/d/f") {
		t.Fatalf("durable changes lost:\n%s", got)
	}

	create(t, fsys, "/a")
	create(t, fsys, "/b")
	ok(t, fsys.Rename("/a", "/d/a"))
	p := fsys.Pending(0)
	if len(p.Meta) != 3 || p.Meta[2].Kind != MetaRename || p.Meta[2].NewPath != "/d/a" {
		t.Fatalf("pending: %+v", p.Meta)
	}
	want := []string{"", "/a", "/a /b", "/b /d/a"}
	for i, c := range slices2(p.Choices(AllSubsets, 0, 0)) {
		img := image(t, p.Clone(c, Tail{}))
		var names []string
		for _, n := range []string{"/a", "/b", "/d/a"} {
			if has(img, n) {
				names = append(names, n)
			}
		}
		if strings.Join(names, " ") != want[i] {
			t.Fatalf("prefix %d: %v, want %q", c.Prefix, names, want[i])
		}
	}
	// SyncDir of the target's parent makes the rename durable, and it
	// alone: the prefix rule still leaves out /a and /b.
	ok(t, fsys.SyncDir("/d"))
	if got := image(t, lostAll(fsys)); !has(got, "/d/a") || has(got, "/b") {
		t.Fatalf("after SyncDir(/d):\n%s", got)
	}
}

// has reports whether an image holds the file name.
func has(img, name string) bool {
	return strings.Contains("\n"+img, "\n"+name+"=")
}

func slices2[T any](seq func(func(T) bool)) []T {
	var out []T
	for v := range seq {
		out = append(out, v)
	}
	return out
}

// TestRule11ProcessCrash: KeepAll is the live state, without locks.
func TestRule11ProcessCrash(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, "x", 0)
	_, err := fsys.Lock("/lock", 2)
	ok(t, err)
	c := fsys.CrashClone(CrashOptions{Mode: KeepAll})
	if image(t, c) != image(t, fsys) {
		t.Fatal("KeepAll is not the live state")
	}
	l, err := c.Lock("/lock", 2)
	ok(t, err)
	ok(t, l.Close())
}

// TestPendingIsASnapshot: a Pending and its clones do not change when the
// file system does.
func TestPendingIsASnapshot(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, strings.Repeat("a", 9000), 0)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	writeAt(t, f, "b", 5000)
	p := fsys.Pending(512)
	var before []string
	for c := range p.Choices(AllSubsets, 0, 0) {
		before = append(before, image(t, p.Clone(c, Tail{})))
	}
	writeAt(t, f, "c", 5000)
	writeAt(t, f, "d", 10)
	ok(t, f.Truncate(3))
	ok(t, f.Sync())
	ok(t, fsys.Rename("/f", "/g"))
	ok(t, fsys.SyncDir("/"))
	i := 0
	for c := range p.Choices(AllSubsets, 0, 0) {
		if got := image(t, p.Clone(c, Tail{})); got != before[i] {
			t.Fatalf("state %d changed with the live FS:\n%s\nwas\n%s", i, got, before[i])
		}
		i++
	}
}

// TestInOrderPrefixes: cuts in order, from lose-all to keep-all, each
// keeping more.
func TestInOrderPrefixes(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, "1", 0)
	writeAt(t, f, "2", 5000)
	create(t, fsys, "/g")
	writeAt(t, f, "3", 0)
	p := fsys.Pending(0)
	n, exact := p.Count(InOrderPrefixes)
	cs := slices2(p.Choices(InOrderPrefixes, 0, 0))
	if !exact || int(n) != len(cs) || n != 6 { // 0, create f, 1, 2, create g, 3
		t.Fatalf("Count %d, %d states", n, len(cs))
	}
	if cs[0].Key() != p.loseAll().Key() || cs[len(cs)-1].Key() != p.keepAll().Key() {
		t.Fatal("cuts do not run from lose-all to keep-all")
	}
	for i := 1; i < len(cs); i++ {
		if cs[i].Prefix < cs[i-1].Prefix {
			t.Fatal("cuts out of order")
		}
	}
	if got := fileText(t, p.Clone(cs[2], Tail{}), "/f"); got != "1" {
		t.Fatalf("cut after the first write: %d bytes", len(got))
	}
	limited := slices2(p.Choices(InOrderPrefixes, 3, 1))
	if len(limited) != 3 || limited[0].Key() != cs[0].Key() || limited[2].Key() != cs[5].Key() {
		t.Fatalf("limited cuts: %d", len(limited))
	}
}

// TestAllSubsetsSampling: past the limit, seeded distinct samples, lose-all
// and keep-all first.
func TestAllSubsetsSampling(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	for b := range 12 {
		writeAt(t, f, "x", int64(b)*4096)
	}
	p := fsys.Pending(0)
	if n, _ := p.Count(AllSubsets); n != 2*13*4096 {
		t.Fatalf("Count = %d", n)
	}
	a := slices2(p.Choices(AllSubsets, 50, 7))
	b := slices2(p.Choices(AllSubsets, 50, 7))
	seen := map[string]bool{}
	for i, c := range a {
		if seen[c.Key()] || c.Key() != b[i].Key() {
			t.Fatal("samples repeat or depend on more than the seed")
		}
		seen[c.Key()] = true
	}
	if len(a) != 50 || a[0].Key() != p.loseAll().Key() || a[1].Key() != p.keepAll().Key() {
		t.Fatalf("%d samples", len(a))
	}
}

// TestCountSaturates: more states than a uint64 holds.
func TestCountSaturates(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	for b := range 70 {
		writeAt(t, f, "x", int64(b)*4096)
	}
	if n, exact := fsys.Pending(0).Count(AllSubsets); exact || n != ^uint64(0) {
		t.Fatalf("Count = %d, %v", n, exact)
	}
}

// TestAtomicStoreIsFailureAtomic: an aligned 8-byte store is one version of
// one unit at every granularity.
func TestAtomicStoreIsFailureAtomic(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	ok(t, f.Truncate(4096))
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	r, err := fsys.Map(f, 4096)
	ok(t, err)
	ok(t, r.Store64(64, 0x0102030405060708))
	p := fsys.Pending(8)
	if len(p.Data) != 1 || p.Data[0].Off != 64 || p.Data[0].Len != 8 {
		t.Fatalf("units: %+v", p.Data)
	}
	for c := range p.Choices(AllSubsets, 0, 0) {
		b := []byte(fileText(t, p.Clone(c, Tail{}), "/f"))
		if w := b[64:72]; !bytes.Equal(w, make([]byte, 8)) && !bytes.Equal(w, []byte{8, 7, 6, 5, 4, 3, 2, 1}) {
			t.Fatalf("torn word %x", w)
		}
	}
}

func TestGranularity(t *testing.T) {
	for in, want := range map[int]int{0: 4096, -3: 4096, 4096: 4096, 9000: 4096, 512: 512, 1000: 512, 8: 8, 1: 8, 100: 64} {
		if got := normGranularity(in); got != want {
			t.Errorf("normGranularity(%d) = %d, want %d", in, got, want)
		}
	}
}

// TestCloneStartsAfresh: a clone's op log starts at 0 and it has no
// pending history.
func TestCloneStartsAfresh(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, "x", 0)
	c := fsys.CrashClone(CrashOptions{Mode: KeepAll})
	log := new(Log)
	c.SetObserver(log.Observe)
	if _, err := c.Stat("/f"); err != nil {
		t.Fatal(err)
	}
	if ops := log.Ops(); len(ops) != 1 || ops[0].Index != 0 {
		t.Fatalf("clone ops: %v", ops)
	}
	p := c.Pending(0)
	if len(p.Meta)+len(p.Sizes)+len(p.Data) != 0 {
		t.Fatal("a clone has pending history")
	}
	g, err := c.OpenFile("/f", os.O_RDWR, 0)
	ok(t, err)
	ok(t, g.Truncate(0))
	ok(t, g.Truncate(1))
	p = c.Pending(0)
	for ch := range p.Choices(AllSubsets, 0, 0) {
		if got := fileText(t, p.Clone(ch, Tail{}), "/f"); got == "x" && ch.Sizes[0] == 2 {
			t.Fatal("a clone resurrected cut bytes")
		}
	}
}
