package storagetest

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// The calls storage libraries make besides reads, writes and syncs at
// offsets: open flags, fdatasync, appends, hard links, removal of a tree
// (docs/DESIGN.md section 3).
var callChecks = []check{
	{"OpenFile/UnsupportedFlags", testUnsupportedFlags},
	{"OpenFile/SyncWrites", testSyncWrites},
	{"File/Datasync", testDatasync},
	{"File/Append", testAppend},
	{"File/AppendErrors", testAppendErrors},
	{"Link", testLink},
	{"RemoveAll", testRemoveAll},
}

// testUnsupportedFlags: a flag outside the set FS.OpenFile takes is an
// error wrapping engine.ErrNotSupported, and opens nothing — never ignored,
// as open(2) ignores the flags it does not know.
func testUnsupportedFlags(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	for _, flag := range []int{
		rw | os.O_CREATE | syscall.O_NONBLOCK,
		rw | os.O_CREATE | syscall.O_NOCTTY,
		rw | os.O_CREATE | 1<<29,
		os.O_WRONLY | os.O_RDWR | os.O_CREATE, // access mode 3
	} {
		f, err := fsys.OpenFile(name, flag, 0o644)
		wantPathErr(t, "open with flag "+itoa(int64(flag)), err, "open", engine.ErrNotSupported)
		if f != nil {
			t.Errorf("open with flag %#x: got a non-nil File", flag)
			f.Close()
		}
	}
	wantMissing(t, fsys, name)
}

// testSyncWrites: a file opened with O_SYNC or O_DSYNC reads and writes as
// any other; what it makes durable is for the crash tests of each backend.
func testSyncWrites(t *testing.T, fsys engine.FS, dir string) {
	for _, c := range []struct {
		name string
		flag int
	}{{"sync", os.O_SYNC}, {"dsync", engine.O_DSYNC}, {"sync-dsync", os.O_SYNC | engine.O_DSYNC}} {
		if !engine.SyncWrites(c.flag) {
			t.Errorf("SyncWrites(%s) = false", c.name)
		}
		name := join(dir, c.name)
		f := openFile(t, fsys, name, rw|os.O_CREATE|c.flag)
		if n, err := f.WriteAt([]byte("hello"), 0); n != 5 || err != nil {
			t.Errorf("%s: WriteAt = %d, %v", c.name, n, err)
		}
		if n, err := f.WriteAt([]byte("world"), page-2); n != 5 || err != nil {
			t.Errorf("%s: WriteAt across a page = %d, %v", c.name, n, err)
		}
		want := make([]byte, page+3)
		copy(want, "hello")
		copy(want[page-2:], "world")
		wantFile(t, f, 0, want, c.name+": after two writes")
		wantFileSize(t, f, page+3, c.name+": after two writes")
		f.Close()
	}
	if engine.SyncWrites(rw | os.O_CREATE | os.O_APPEND) {
		t.Errorf("SyncWrites of a flag without O_SYNC or O_DSYNC = true")
	}
	f := openFile(t, fsys, join(dir, "append"), rw|os.O_CREATE|os.O_APPEND|engine.O_DSYNC)
	for _, s := range []string{"one", "two"} {
		if n, err := engine.Append(f, []byte(s)); n != 3 || err != nil {
			t.Errorf("Append(%q) to an O_DSYNC file = %d, %v", s, n, err)
		}
	}
	wantFile(t, f, 0, []byte("onetwo"), "O_APPEND|O_DSYNC after two appends")
}

// testDatasync: the backend's File does fdatasync itself (an
// engine.Datasyncer), on any file it opened, and fails after Close.
func testDatasync(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	f := openFile(t, fsys, name, rw|os.O_CREATE)
	if _, ok := f.(engine.Datasyncer); !ok {
		t.Errorf("the File is a %T, not an engine.Datasyncer: engine.Datasync would fsync instead", f)
	}
	f.WriteAt([]byte("data"), 0)
	for i := range 2 {
		if err := engine.Datasync(f); err != nil {
			t.Errorf("Datasync #%d: %v", i+1, err)
		}
	}
	ro := openFile(t, fsys, name, os.O_RDONLY)
	if err := engine.Datasync(ro); err != nil {
		t.Errorf("Datasync of an O_RDONLY file: %v", err)
	}
	d := openFile(t, fsys, dir, os.O_RDONLY)
	if err := engine.Datasync(d); err != nil {
		t.Errorf("Datasync of a directory: %v", err)
	}
	f.Close()
	wantPathErr(t, "Datasync after Close", engine.Datasync(f), "fdatasync", fs.ErrClosed)
	wantContent(t, fsys, name, []byte("data"))
}

// testAppend: appends land at the end, whatever handle makes them and
// whatever changed the size since; WriteAt is refused, as package os
// refuses it on an O_APPEND file.
func testAppend(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "log")
	a := openFile(t, fsys, name, rw|os.O_CREATE|os.O_APPEND)
	if _, ok := a.(engine.Appender); !ok {
		t.Fatalf("the File is a %T, not an engine.Appender", a)
	}
	b := openFile(t, fsys, name, os.O_WRONLY|os.O_APPEND)
	for _, s := range []struct {
		f    engine.File
		data string
	}{{a, "ab"}, {b, "cd"}, {a, "e"}} {
		if n, err := engine.Append(s.f, []byte(s.data)); n != len(s.data) || err != nil {
			t.Errorf("Append(%q) = %d, %v", s.data, n, err)
		}
	}
	if n, err := engine.Append(a, nil); n != 0 || err != nil {
		t.Errorf("Append of nothing = %d, %v", n, err)
	}
	wantContent(t, fsys, name, []byte("abcde"))
	if n, err := a.WriteAt([]byte("X"), 0); n != 0 || err == nil {
		t.Errorf("WriteAt on an O_APPEND file = %d, %v; want an error", n, err)
	}
	// Another handle's write and a truncate move the end.
	plain := openFile(t, fsys, name, rw)
	plain.WriteAt([]byte("fgh"), 5)
	engine.Append(b, []byte("i"))
	if err := plain.Truncate(page + 1); err != nil {
		t.Fatalf("Truncate: %v", err)
	}
	engine.Append(a, []byte("j"))
	want := make([]byte, page+2)
	copy(want, "abcdefghi")
	want[page+1] = 'j'
	wantContent(t, fsys, name, want)
	wantFileSize(t, a, page+2, "after appends, a write and a truncate")
}

// testAppendErrors: Append needs O_APPEND (else engine.ErrNotSupported),
// fails as write(2) does on a file not open for writing (EBADF, even for
// nothing), and after Close.
func testAppendErrors(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("data"))
	f := openFile(t, fsys, name, rw)
	_, err := engine.Append(f, []byte("x"))
	wantPathErr(t, "Append to a file opened without O_APPEND", err, "write", engine.ErrNotSupported)
	ro := openFile(t, fsys, name, os.O_RDONLY|os.O_APPEND)
	for _, p := range [][]byte{[]byte("x"), nil} {
		n, err := engine.Append(ro, p)
		wantPathErr(t, "Append to an O_RDONLY file", err, "write", syscall.EBADF)
		if n != 0 {
			t.Errorf("Append to an O_RDONLY file wrote %d bytes", n)
		}
	}
	a := openFile(t, fsys, name, rw|os.O_APPEND)
	a.Close()
	_, err = engine.Append(a, []byte("x"))
	wantPathErr(t, "Append after Close", err, "write", fs.ErrClosed)
	wantContent(t, fsys, name, []byte("data"))
}

// wantLinkErr reports unless err is an *os.LinkError with Op "link"
// wrapping target.
func wantLinkErr(t *testing.T, what string, err, target error) {
	t.Helper()
	var le *os.LinkError
	if !errors.As(err, &le) || le.Op != "link" {
		t.Errorf("%s: error %v (%T), want *os.LinkError with Op link", what, err, err)
	}
	wantErr(t, what, err, target)
}

// testLink: a hard link is a second name of the same file, which outlives
// the first; it never replaces a name.
func testLink(t *testing.T, fsys engine.FS, dir string) {
	if _, ok := fsys.(engine.Linker); !ok {
		t.Fatalf("the FS is a %T, not an engine.Linker", fsys)
	}
	a, b := join(dir, "a"), join(dir, "b")
	writeFile(t, fsys, a, []byte("first"))
	if err := engine.Link(fsys, a, b); err != nil {
		t.Fatalf("Link: %v", err)
	}
	wantNames(t, fsys, dir, "a", "b")
	wantContent(t, fsys, b, []byte("first"))
	f := openFile(t, fsys, b, rw)
	f.WriteAt([]byte("F"), 0)
	wantContent(t, fsys, a, []byte("First"))
	if err := fsys.Remove(a); err != nil {
		t.Fatalf("Remove of the first name: %v", err)
	}
	wantContent(t, fsys, b, []byte("First"))
	f.WriteAt([]byte("!"), 5)
	wantContent(t, fsys, b, []byte("First!"))

	other := join(dir, "other")
	writeFile(t, fsys, other, []byte("other"))
	wantLinkErr(t, "Link over an existing file", engine.Link(fsys, b, other), fs.ErrExist)
	wantLinkErr(t, "Link of a name to itself", engine.Link(fsys, b, b), fs.ErrExist)
	wantContent(t, fsys, other, []byte("other"))
	wantLinkErr(t, "Link of a missing file", engine.Link(fsys, a, join(dir, "c")), fs.ErrNotExist)
	wantLinkErr(t, "Link into a missing directory", engine.Link(fsys, b, join(dir, "nodir/c")), fs.ErrNotExist)
	sub := join(dir, "sub")
	if err := fsys.MkdirAll(sub, 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	wantLinkErr(t, "Link of a directory", engine.Link(fsys, sub, join(dir, "sub2")), syscall.EPERM)
	if err := engine.Link(fsys, b, join(sub, "b")); err != nil {
		t.Errorf("Link into a subdirectory: %v", err)
	}
	wantNames(t, fsys, dir, "b", "other", "sub")
	wantNames(t, fsys, sub, "b")
}

// testRemoveAll: a tree goes, children first; a missing name is no error.
func testRemoveAll(t *testing.T, fsys engine.FS, dir string) {
	tree := join(dir, "tree")
	for _, d := range []string{"a/b", "c"} {
		if err := fsys.MkdirAll(join(tree, d), 0o755); err != nil {
			t.Fatalf("mkdir: %v", err)
		}
	}
	for _, f := range []string{"a/b/f", "a/g", "h"} {
		writeFile(t, fsys, join(tree, f), []byte(f))
	}
	if err := engine.RemoveAll(fsys, tree); err != nil {
		t.Errorf("RemoveAll of a tree: %v", err)
	}
	wantMissing(t, fsys, tree)
	wantNames(t, fsys, dir)
	if err := engine.RemoveAll(fsys, tree); err != nil {
		t.Errorf("RemoveAll of a missing name: %v", err)
	}
	file := join(dir, "f")
	writeFile(t, fsys, file, []byte("x"))
	if err := engine.RemoveAll(fsys, file); err != nil {
		t.Errorf("RemoveAll of a file: %v", err)
	}
	wantMissing(t, fsys, file)
	wantPathErr(t, "RemoveAll of dir/.", engine.RemoveAll(fsys, dir+"/."), "RemoveAll", syscall.EINVAL)
}
