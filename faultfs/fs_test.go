package faultfs

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
)

// Helpers for the unit tests.

func create(t *testing.T, fsys *FS, name string) engine.File {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeAt(t *testing.T, f engine.File, s string, off int64) {
	t.Helper()
	if _, err := f.WriteAt([]byte(s), off); err != nil {
		t.Fatal(err)
	}
}

// fileText returns the file's bytes, or "<missing>".
func fileText(t *testing.T, fsys engine.FS, name string) string {
	t.Helper()
	b, err := engine.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "<missing>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lostAll(fsys *FS) *FS { return fsys.CrashClone(CrashOptions{Mode: LoseAll}) }

func wantErrno(t *testing.T, err error, op string, errno syscall.Errno) {
	t.Helper()
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != op || !errors.Is(err, errno) {
		t.Fatalf("got %v, want PathError{%s} wrapping %v", err, op, errno)
	}
}

func TestPaths(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "a")
	writeAt(t, f, "x", 0)
	if got := fileText(t, fsys, "/a"); got != "x" {
		t.Fatalf("relative and absolute names differ: %q", got)
	}
	if got := fileText(t, fsys, "/./b/../a"); got != "x" {
		t.Fatalf("names are not cleaned: %q", got)
	}
	fi, err := fsys.Stat("/")
	ok(t, err)
	if !fi.IsDir() || fi.Name() != "/" {
		t.Fatalf("root: %v %q", fi.IsDir(), fi.Name())
	}
	wantErrno(t, fsys.Remove("/"), "remove", syscall.EBUSY)
	_, err = fsys.Stat("")
	wantErrno(t, err, "stat", syscall.ENOENT)
}

func TestStatAndReadDir(t *testing.T) {
	fsys := New(Options{})
	ok(t, fsys.MkdirAll("/d/e", 0o777))
	f, err := fsys.OpenFile("/d/f", os.O_RDWR|os.O_CREATE, 0o666)
	ok(t, err)
	writeAt(t, f, "hello", 0)
	fi, err := f.Stat()
	ok(t, err)
	if fi.Name() != "f" || fi.Size() != 5 || fi.Mode() != 0o644 || !fi.ModTime().Equal(time.Time{}) || fi.IsDir() {
		t.Fatalf("file: %s %d %v %v", fi.Name(), fi.Size(), fi.Mode(), fi.ModTime())
	}
	fi, err = fsys.Stat("/d/e")
	ok(t, err)
	if fi.Mode() != fs.ModeDir|0o755 || !fi.IsDir() {
		t.Fatalf("dir mode %v", fi.Mode())
	}
	entries, err := fsys.ReadDir("/d")
	ok(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"e", "f"}) || !entries[0].IsDir() || entries[1].Type() != 0 {
		t.Fatalf("ReadDir: %v", names)
	}
	_, err = fsys.ReadDir("/d/f")
	wantErrno(t, err, "open", syscall.ENOTDIR)
	_, err = fsys.ReadDir("/nope")
	wantErrno(t, err, "open", syscall.ENOENT)
	wantErrno(t, fsys.MkdirAll("/d/f/g", 0o755), "mkdir", syscall.ENOTDIR)
}

func wantPathErr(t *testing.T, err error, op string, target error) {
	t.Helper()
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != op || !errors.Is(err, target) {
		t.Fatalf("got %v, want PathError{%s} wrapping %v", err, op, target)
	}
}

func TestFileErrorsAsOS(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, "abc", 0)
	ok(t, f.Close())
	wantPathErr(t, f.Close(), "close", fs.ErrClosed)
	_, err := f.ReadAt(make([]byte, 1), 0)
	wantPathErr(t, err, "read", fs.ErrClosed)
	_, err = f.WriteAt([]byte("x"), 0)
	wantPathErr(t, err, "write", fs.ErrClosed)
	wantPathErr(t, f.Sync(), "sync", fs.ErrClosed)
	wantPathErr(t, f.Truncate(0), "truncate", fs.ErrClosed)
	_, err = f.Stat()
	wantPathErr(t, err, "stat", fs.ErrClosed)
	if n, err := f.ReadAt(nil, 0); n != 0 || err != nil {
		t.Fatalf("empty read on a closed file: %d %v (os says 0, nil)", n, err)
	}

	r, err := fsys.OpenFile("/f", os.O_RDONLY, 0)
	ok(t, err)
	_, err = r.WriteAt([]byte("x"), 0)
	wantErrno(t, err, "write", syscall.EBADF)
	wantErrno(t, r.Truncate(1), "truncate", syscall.EINVAL)
	w, err := fsys.OpenFile("/f", os.O_WRONLY|os.O_APPEND, 0)
	ok(t, err)
	_, err = w.ReadAt(make([]byte, 1), 0)
	wantErrno(t, err, "read", syscall.EBADF)
	if _, err := w.WriteAt([]byte("x"), 0); err == nil || err.Error() != "os: invalid use of WriteAt on file opened with O_APPEND" {
		t.Fatalf("WriteAt with O_APPEND: %v", err)
	}
	_, err = fsys.OpenFile("/f", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0)
	wantErrno(t, err, "open", syscall.EEXIST)
	_, err = fsys.OpenFile("/f/g", os.O_RDWR|os.O_CREATE, 0)
	wantErrno(t, err, "open", syscall.ENOTDIR)
	_, err = fsys.OpenFile("/", os.O_RDWR, 0)
	wantErrno(t, err, "open", syscall.EISDIR)
	d, err := fsys.OpenFile("/", os.O_RDONLY, 0)
	ok(t, err)
	_, err = d.ReadAt(make([]byte, 1), 0)
	wantErrno(t, err, "read", syscall.EISDIR)
	ok(t, d.Sync())
	buf := make([]byte, 10)
	n, err := r.ReadAt(buf, 1)
	if n != 2 || err == nil || string(buf[:n]) != "bc" {
		t.Fatalf("short read: %d %v", n, err)
	}
}

func TestRenameAsOS(t *testing.T) {
	fsys := New(Options{})
	ok(t, fsys.MkdirAll("/d/e", 0o755))
	ok(t, fsys.MkdirAll("/empty", 0o755))
	writeAt(t, create(t, fsys, "/f"), "f", 0)
	writeAt(t, create(t, fsys, "/g"), "g", 0)
	for _, c := range []struct {
		from, to string
		errno    syscall.Errno
	}{
		{"/f", "/d", syscall.EEXIST},      // os.Rename never replaces a directory
		{"/d", "/empty", syscall.EEXIST},  // not even an empty one
		{"/d", "/f", syscall.ENOTDIR},     // a directory over a file
		{"/d", "/d/e/x", syscall.EINVAL},  // into itself
		{"/nope", "/x", syscall.ENOENT},   // missing source
		{"/f", "/nope/x", syscall.ENOENT}, // missing target directory
		{"/f/x", "/x", syscall.ENOTDIR},   // through a file
		{"/d", "/d", syscall.EEXIST},      // a directory onto itself
		{"/f", "/f", 0},                   // a file onto itself
		{"/f", "/g", 0},                   // a file over a file
	} {
		err := fsys.Rename(c.from, c.to)
		var le *os.LinkError
		switch {
		case c.errno == 0 && err != nil:
			t.Errorf("rename %s %s: %v", c.from, c.to, err)
		case c.errno != 0 && (!errors.As(err, &le) || !errors.Is(err, c.errno)):
			t.Errorf("rename %s %s: %v, want LinkError %v", c.from, c.to, err, c.errno)
		}
	}
	if got := fileText(t, fsys, "/g"); got != "f" {
		t.Fatalf("/g = %q after rename over it", got)
	}
	ok(t, fsys.Rename("/d", "/d2"))
	if _, err := fsys.Stat("/d2/e"); err != nil {
		t.Fatalf("renamed directory lost its entries: %v", err)
	}
}
