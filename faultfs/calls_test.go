package faultfs

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// Unit tests of the crash rules of the calls that came after the first
// seventeen rules: fdatasync, O_DSYNC and O_SYNC writes, appends, hard
// links and RemoveAll (rules 19 to 23).

// durableFile returns a file /f holding content, durable with its name.
func durableFile(t *testing.T, fsys *FS, content string) engine.File {
	t.Helper()
	f := create(t, fsys, "/f")
	writeAt(t, f, content, 0)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	return f
}

// TestRule19Datasync: Datasync makes data and size durable, as Sync does,
// and no name, neither a create nor a rename; an injected SyncFailure
// drops the pages (rule 7).
func TestRule19Datasync(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, strings.Repeat("d", 5000), 0)
	ok(t, engine.Datasync(f))
	if got := fileText(t, lostAll(fsys), "/f"); got != "<missing>" {
		t.Fatalf("Datasync made the name durable: %q", got)
	}
	ok(t, fsys.SyncDir("/"))
	if got := fileText(t, lostAll(fsys), "/f"); got != strings.Repeat("d", 5000) {
		t.Fatalf("after Datasync and SyncDir: %d bytes", len(got))
	}
	ok(t, f.Truncate(10))
	ok(t, engine.Datasync(f))
	if got := fileText(t, lostAll(fsys), "/f"); got != strings.Repeat("d", 10) {
		t.Fatalf("Datasync did not make the size durable: %q", got)
	}

	ok(t, fsys.Rename("/f", "/g"))
	ok(t, engine.Datasync(f))
	if img := lostAll(fsys); fileText(t, img, "/g") != "<missing>" || fileText(t, img, "/f") != strings.Repeat("d", 10) {
		t.Fatal("Datasync made a rename durable")
	}
	ok(t, fsys.Rename("/g", "/f"))

	rules := NewRules(Rule{When: OpKinds(OpDatasync), Fault: SyncFailure})
	fsys.SetInjector(rules)
	writeAt(t, f, "X", 0)
	wantErrno(t, engine.Datasync(f), "fdatasync", syscall.EIO)
	ok(t, engine.Datasync(f)) // reports success, as Linux does
	if got := fileText(t, lostAll(fsys), "/f"); got != strings.Repeat("d", 10) {
		t.Fatalf("a failed Datasync's pages became durable: %q", got)
	}
}

// TestRule20SyncWrites: a write to a file opened with O_DSYNC or O_SYNC is
// durable when it returns, with the size; other pending writes of the file
// stay pending; before its sync, the write is pending like any other.
func TestRule20SyncWrites(t *testing.T) {
	for _, flag := range []int{engine.O_DSYNC, os.O_SYNC} {
		fsys := New(Options{})
		plain := durableFile(t, fsys, "base")
		f, err := fsys.OpenFile("/f", os.O_RDWR|flag, 0)
		ok(t, err)
		writeAt(t, plain, "P", 3*BlockSize) // pending, through another handle
		writeAt(t, f, "sync", 2*BlockSize+10)
		img := lostAll(fsys)
		got := fileText(t, img, "/f")
		if len(got) != 3*BlockSize+1 || got[2*BlockSize+10:2*BlockSize+14] != "sync" || got[:4] != "base" {
			t.Fatalf("flag %#x: after the write, LoseAll holds %d bytes %q…", flag, len(got), got[:4])
		}
		if got[3*BlockSize] != 0 {
			t.Fatalf("flag %#x: the write made another block durable", flag)
		}
		p := fsys.Pending(0)
		if len(p.Data) != 1 || p.Data[0].Off != 3*BlockSize || len(p.Sizes) != 0 {
			t.Fatalf("flag %#x: pending after the write: %+v %+v", flag, p.Data, p.Sizes)
		}
	}

	// Between the write and its sync, the write is pending: a crash there
	// may keep any part of it.
	fsys := New(Options{})
	durableFile(t, fsys, "")
	var at []Op
	var pending *Pending
	fsys.SetBeforeWriteSync(func(op Op) {
		at = append(at, op)
		pending = fsys.Pending(0)
	})
	f, err := fsys.OpenFile("/f", os.O_RDWR|engine.O_DSYNC, 0)
	ok(t, err)
	writeAt(t, f, strings.Repeat("w", BlockSize+10), BlockSize-5)
	if len(at) != 1 || at[0].Kind != OpWriteSync || at[0].Off != BlockSize-5 || at[0].Len != BlockSize+10 || at[0].Path != "/f" {
		t.Fatalf("BeforeWriteSync saw %v", at)
	}
	if len(pending.Data) != 3 || len(pending.Sizes) != 1 {
		t.Fatalf("pending at the write's sync: %+v %+v", pending.Data, pending.Sizes)
	}
	states := map[string]bool{}
	for c := range pending.Choices(AllSubsets, 0, 0) {
		states[fileText(t, pending.Clone(c, Tail{}), "/f")] = true
	}
	if len(states) < 8 || !states[""] {
		t.Fatalf("%d states at the write's sync, want every part of the write", len(states))
	}
	if p := fsys.Pending(0); len(p.Data) != 0 || len(p.Sizes) != 0 {
		t.Fatalf("pending after the write: %+v %+v", p.Data, p.Sizes)
	}
	fsys.SetBeforeWriteSync(nil)

	// A failed sync fails the write, with Linux semantics: the page stays
	// in the cache, not durable (rule 7).
	fsys.SetInjector(NewRules(Rule{When: OpKinds(OpWriteSync), Fault: SyncFailure}))
	n, err := f.WriteAt([]byte("lost"), 0)
	if n != 0 || !errors.Is(err, syscall.EIO) || !errors.Is(err, ErrInjected) {
		t.Fatalf("write with a failed sync: %d, %v", n, err)
	}
	wantErrno(t, err, "write", syscall.EIO)
	if got := fileText(t, fsys, "/f"); got[:4] != "lost" {
		t.Fatalf("the page cache lost the write: %q", got[:4])
	}
	if got := fileText(t, lostAll(fsys), "/f"); got[:4] == "lost" {
		t.Fatal("a write whose sync failed is durable")
	}
}

// TestRule20CutsAreMetadata: the sync of an O_DSYNC write makes the size
// durable, and with it the cuts of every block, which a crash may then no
// longer undo: bytes a truncate removed never come back, whatever else of
// the file stays pending.
func TestRule20CutsAreMetadata(t *testing.T) {
	fsys := New(Options{})
	plain := durableFile(t, fsys, strings.Repeat("o", 3*BlockSize))
	writeAt(t, plain, "early", BlockSize+100) // pending, then cut in part
	ok(t, plain.Truncate(BlockSize+102))
	ok(t, plain.Truncate(3*BlockSize))
	writeAt(t, plain, "late", BlockSize+200) // pending, after the cut
	f, err := fsys.OpenFile("/f", os.O_RDWR|engine.O_DSYNC, 0)
	ok(t, err)
	writeAt(t, f, "S", 0)
	p := fsys.Pending(0)
	if len(p.Sizes) != 0 {
		t.Fatalf("the size is still pending: %+v", p.Sizes)
	}
	states := map[string]bool{}
	for c := range p.Choices(AllSubsets, 0, 0) {
		got := fileText(t, p.Clone(c, Tail{Garbage: true, Seed: 3}), "/f")
		if len(got) != 3*BlockSize || got[0] != 'S' {
			t.Fatalf("state %s: %d bytes, first %q", c.Key(), len(got), got[:1])
		}
		block := got[BlockSize : 2*BlockSize]
		if strings.Trim(block[102:200], "\x00") != "" || strings.Trim(block[204:], "\x00") != "" || strings.Trim(got[2*BlockSize:], "\x00") != "" {
			t.Fatalf("state %s: a cut byte came back", c.Key())
		}
		states[block[100:102]+"|"+block[200:204]] = true
	}
	// A page is written back as it was at some instant (rule 2): the late
	// write with the early one, never alone.
	want := []string{"oo|\x00\x00\x00\x00", "ea|\x00\x00\x00\x00", "ea|late"}
	if len(states) != len(want) {
		t.Fatalf("states %v, want %q", states, want)
	}
	for _, w := range want {
		if !states[w] {
			t.Fatalf("states %v, want %q", states, want)
		}
	}
}

// TestRule21Append: an append lands at the end, whatever moved it, and is
// a write like any other: pending until synced.
func TestRule21Append(t *testing.T) {
	fsys := New(Options{})
	durableFile(t, fsys, "abc")
	log := &Log{}
	fsys.SetObserver(log.Observe)
	f, err := fsys.OpenFile("/f", os.O_WRONLY|os.O_APPEND, 0)
	ok(t, err)
	for _, s := range []string{"de", "f"} {
		if n, err := engine.Append(f, []byte(s)); n != len(s) || err != nil {
			t.Fatalf("Append(%q) = %d, %v", s, n, err)
		}
	}
	ops := log.Ops()
	if last := ops[len(ops)-1]; last.Kind != OpAppend || last.Off != 5 || last.Len != 1 || last.String() != "#6 append /f [5,6)" {
		t.Fatalf("the last append's op: %+v (%s)", last, last)
	}
	if got := fileText(t, fsys, "/f"); got != "abcdef" {
		t.Fatalf("after two appends: %q", got)
	}
	if got := fileText(t, lostAll(fsys), "/f"); got != "abc" {
		t.Fatalf("unsynced appends survived LoseAll: %q", got)
	}
	ok(t, f.Sync())
	if got := fileText(t, lostAll(fsys), "/f"); got != "abcdef" {
		t.Fatalf("synced appends lost: %q", got)
	}

	fsys.SetInjector(NewRules(Rule{Fault: ShortWrite}))
	n, err := engine.Append(f, []byte("ghij"))
	if n != 2 || !errors.Is(err, ErrInjected) {
		t.Fatalf("a short append: %d, %v", n, err)
	}
	if got := fileText(t, fsys, "/f"); got != "abcdefgh" {
		t.Fatalf("after a short append: %q", got)
	}
}

// TestRule22Link: a new name is a namespace change of its directory,
// durable after SyncDir of it; in a crash state both names are one file;
// the file's blocks count until its last name goes.
func TestRule22Link(t *testing.T) {
	fsys := New(Options{})
	ok(t, fsys.MkdirAll("/d", 0o755))
	ok(t, fsys.SyncDir("/"))
	f := durableFile(t, fsys, "one")
	ok(t, fsys.Link("/f", "/d/g"))
	p := fsys.Pending(0)
	if len(p.Meta) != 1 || p.Meta[0].Kind != MetaLink || p.Meta[0].Path != "/f" || p.Meta[0].NewPath != "/d/g" {
		t.Fatalf("pending: %+v", p.Meta)
	}
	ok(t, f.Sync())
	ok(t, engine.Datasync(f))
	ok(t, fsys.SyncDir("/")) // not the new name's directory
	if got := fileText(t, lostAll(fsys), "/d/g"); got != "<missing>" {
		t.Fatalf("Sync of the file or SyncDir of the old name's directory made the link durable: %q", got)
	}
	ok(t, fsys.SyncDir("/d"))
	img := lostAll(fsys)
	if got := fileText(t, img, "/d/g"); got != "one" {
		t.Fatalf("after SyncDir of the new name's directory: %q", got)
	}
	g, err := img.OpenFile("/d/g", os.O_RDWR, 0)
	ok(t, err)
	writeAt(t, g, "ONE", 0)
	if got := fileText(t, img, "/f"); got != "ONE" {
		t.Fatalf("in the crash image the names are two files: /f holds %q", got)
	}

	// One file under two names is not two files that hold the same bytes.
	copies := New(Options{})
	ok(t, copies.MkdirAll("/d", 0o755))
	for _, name := range []string{"/f", "/d/g"} {
		c := create(t, copies, name)
		writeAt(t, c, "one", 0)
	}
	linked := fsys.CrashClone(CrashOptions{Mode: KeepAll})
	if copies.Fingerprint() == linked.Fingerprint() {
		t.Fatal("a file with two names has the fingerprint of two files")
	}
	ok(t, copies.Remove("/d/g"))
	ok(t, copies.Link("/f", "/d/g"))
	if copies.Fingerprint() != linked.Fingerprint() {
		t.Fatal("two file systems with the same names and links differ")
	}

	// Removing one name frees nothing (rule 17).
	fsys.SetCapacity("/", 2*BlockSize)
	writeAt(t, f, strings.Repeat("x", BlockSize), BlockSize) // two blocks
	ok(t, fsys.Remove("/f"))
	if used, _ := fsys.Space("/"); used != 2*BlockSize {
		t.Fatalf("after removing one of two names: %d bytes used", used)
	}
	if _, err := engine.Create(fsys, "/h"); err != nil {
		t.Fatal(err)
	}
	h, _ := fsys.OpenFile("/h", os.O_RDWR, 0)
	if _, err := h.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a write on a full disk after removing one name: %v", err)
	}
	ok(t, fsys.Remove("/d/g"))
	if used, _ := fsys.Space("/"); used != 0 {
		t.Fatalf("after removing both names: %d bytes used", used)
	}
}

// TestRule22RenameOverOwnLink: a rename from one name of a file to another
// of its names does nothing, as rename(2) does: no namespace change, both
// names in every crash state. The draw of rapid seed 8319171523564893219
// of TestEnumerationMatchesReference, where the reference removed the old
// name; the enumeration must equal the reference's.
func TestRule22RenameOverOwnLink(t *testing.T) {
	d := &driver{ref: newRefFS(driverMounts...), log: new(Log), inject: new(failNextSync)}
	d.fs = New(Options{Observe: d.log.Observe, Injector: d.inject, Mounts: driverMounts})
	f := create(t, d.fs, "/b")
	defer f.Close()
	d.ref.create("/b", d.seq())
	ok(t, d.fs.SyncDir("/"))
	d.ref.syncDir("/")
	ok(t, d.fs.Link("/b", "/a"))
	d.ref.link("/b", "/a", d.seq())
	before := len(d.fs.Pending(0).Meta)
	ok(t, d.fs.Rename("/b", "/a"))
	d.ref.rename("/b", "/a", d.seq())
	p := d.fs.Pending(0)
	if len(p.Meta) != before {
		t.Fatalf("the rename is a namespace change: %+v", p.Meta)
	}
	want, fits := d.ref.images(0, Tail{}, 2000)
	if !fits {
		t.Fatal("the reference has too many states")
	}
	got := map[string]bool{}
	for _, img := range imageSet(t, p, AllSubsets, Tail{}) {
		got[img] = true
		if !strings.Contains(img, "/b=") {
			t.Errorf("a crash state without /b:\n%s", img)
		}
	}
	for img := range want {
		if !got[img] {
			t.Errorf("state of the rules never enumerated:\n%s", img)
		}
	}
	for img := range got {
		if !want[img] {
			t.Errorf("state enumerated that the rules do not allow:\n%s", img)
		}
	}
}

// TestRule23RemoveAll: RemoveAll is one remove per name, children first;
// a crash keeps a prefix of them: a directory partly emptied, never a
// directory gone with a name left in it.
func TestRule23RemoveAll(t *testing.T) {
	fsys := New(Options{})
	ok(t, fsys.MkdirAll("/t/a", 0o755))
	for _, name := range []string{"/t/a/x", "/t/b", "/t/c"} {
		create(t, fsys, name)
	}
	for _, dir := range []string{"/", "/t", "/t/a"} {
		ok(t, fsys.SyncDir(dir))
	}
	ok(t, engine.RemoveAll(fsys, "/t"))
	p := fsys.Pending(0)
	var removed []string
	for _, m := range p.Meta {
		if m.Kind != MetaRemove {
			t.Fatalf("pending: %+v", p.Meta)
		}
		removed = append(removed, m.Path)
	}
	if strings.Join(removed, " ") != "/t/a/x /t/a /t/b /t/c /t" {
		t.Fatalf("removes in the order %v", removed)
	}
	for c := range p.Choices(AllSubsets, 0, 0) {
		img := image(t, p.Clone(c, Tail{}))
		want := []string{"/t/a/x=", "/t/a/", "/t/b=", "/t/c=", "/t/"}[c.Prefix:]
		for _, w := range want {
			if !strings.Contains(img+"\n", w) {
				t.Fatalf("prefix %d: %q missing from\n%s", c.Prefix, w, img)
			}
		}
		if c.Prefix < len(removed) && strings.Count(img, "\n")+1 != len(want) {
			t.Fatalf("prefix %d: image\n%s", c.Prefix, img)
		}
	}
}
