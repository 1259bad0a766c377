package storagetest

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

var fileChecks = []check{
	{"OpenFile/Missing", testOpenMissing},
	{"OpenFile/Create", testOpenCreate},
	{"OpenFile/Excl", testOpenExcl},
	{"OpenFile/Trunc", testOpenTrunc},
	{"OpenFile/ReadOnly", testOpenReadOnly},
	{"OpenFile/WriteOnly", testOpenWriteOnly},
	{"File/ReadAt", testReadAt},
	{"File/WriteAtHole", testWriteAtHole},
	{"File/Truncate", testTruncate},
	{"File/Stat", testFileStat},
	{"File/Sync", testSync},
	{"File/Allocate", testAllocate},
	{"File/AllocateErrors", testAllocateErrors},
	{"File/Closed", testFileClosed},
}

func testOpenMissing(t *testing.T, fsys engine.FS, dir string) {
	for _, flag := range []int{os.O_RDONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC} {
		f, err := fsys.OpenFile(join(dir, "missing"), flag, 0o644)
		wantPathErr(t, "open missing", err, "open", fs.ErrNotExist)
		if f != nil {
			t.Errorf("open missing with flag %#x: got a non-nil File", flag)
			f.Close()
		}
	}
	_, err := fsys.OpenFile(join(dir, "nodir/f"), rw|os.O_CREATE, 0o644)
	wantPathErr(t, "create in missing directory", err, "open", fs.ErrNotExist)
}

func testOpenCreate(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	f := openFile(t, fsys, name, rw|os.O_CREATE)
	if f.Name() != name {
		t.Errorf("Name() = %q, want %q", f.Name(), name)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 0 {
		t.Errorf("new file: Stat = %v, %v; want size 0", fi, err)
	}
	if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatalf("write: %v", err)
	}
	f.Close()
	// O_CREATE without O_EXCL or O_TRUNC opens the file as it is.
	f = openFile(t, fsys, name, rw|os.O_CREATE)
	f.Close()
	wantContent(t, fsys, name, []byte("hello"))
}

func testOpenExcl(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	f := openFile(t, fsys, name, rw|os.O_CREATE|os.O_EXCL)
	f.WriteAt([]byte("first"), 0)
	f.Close()
	g, err := fsys.OpenFile(name, rw|os.O_CREATE|os.O_EXCL, 0o644)
	wantPathErr(t, "O_EXCL on an existing file", err, "open", fs.ErrExist)
	if g != nil {
		g.Close()
	}
	wantContent(t, fsys, name, []byte("first"))
}

func testOpenTrunc(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("some content"))
	f := openFile(t, fsys, name, rw|os.O_TRUNC)
	if fi, err := f.Stat(); err != nil || fi.Size() != 0 {
		t.Errorf("after O_TRUNC: Stat = %v, %v; want size 0", fi, err)
	}
	f.Close()
	wantContent(t, fsys, name, []byte{})
}

func testOpenReadOnly(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("data"))
	f := openFile(t, fsys, name, os.O_RDONLY)
	n, err := f.WriteAt([]byte("X"), 0)
	wantPathErr(t, "write to O_RDONLY file", err, "write", nil)
	if n != 0 {
		t.Errorf("write to O_RDONLY file wrote %d bytes", n)
	}
	if err := f.Truncate(0); err == nil {
		t.Errorf("truncate of O_RDONLY file: no error")
	}
	buf := make([]byte, 4)
	if n, err := f.ReadAt(buf, 0); err != nil || string(buf[:n]) != "data" {
		t.Errorf("read of O_RDONLY file: %q, %v", buf[:n], err)
	}
	f.Close()
	wantContent(t, fsys, name, []byte("data"))
}

func testOpenWriteOnly(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("data"))
	f := openFile(t, fsys, name, os.O_WRONLY)
	_, err := f.ReadAt(make([]byte, 4), 0)
	wantPathErr(t, "read of O_WRONLY file", err, "read", nil)
	if _, err := f.WriteAt([]byte("D"), 0); err != nil {
		t.Errorf("write to O_WRONLY file: %v", err)
	}
	f.Close()
	wantContent(t, fsys, name, []byte("Data"))
}

func testReadAt(t *testing.T, fsys engine.FS, dir string) {
	f := openFile(t, fsys, join(dir, "f"), rw|os.O_CREATE)
	if n, err := f.WriteAt([]byte("hello world"), 0); err != nil || n != 11 {
		t.Fatalf("write: %d, %v", n, err)
	}
	cases := []struct {
		off     int64
		size    int
		want    string
		wantErr error
	}{
		{0, 5, "hello", nil},
		{6, 5, "world", nil},
		{9, 4, "ld", io.EOF}, // straddles the end
		{11, 4, "", io.EOF},  // at the end
		{100, 4, "", io.EOF}, // beyond the end
		{3, 0, "", nil},      // empty
		{11, 0, "", nil},     // empty, at the end
	}
	for _, c := range cases {
		buf := make([]byte, c.size)
		n, err := f.ReadAt(buf, c.off)
		if string(buf[:n]) != c.want || err != c.wantErr {
			t.Errorf("ReadAt(%d bytes, %d) = %q, %v; want %q, %v", c.size, c.off, buf[:n], err, c.want, c.wantErr)
		}
	}
	if _, err := f.ReadAt(make([]byte, 1), -1); err == nil {
		t.Errorf("ReadAt at -1: no error")
	}
	if _, err := f.WriteAt([]byte("x"), -1); err == nil {
		t.Errorf("WriteAt at -1: no error")
	}
}

func testWriteAtHole(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	f := openFile(t, fsys, name, rw|os.O_CREATE)
	f.WriteAt([]byte("ab"), 0)
	if n, err := f.WriteAt([]byte("Z"), 10000); err != nil || n != 1 {
		t.Fatalf("write beyond the end: %d, %v", n, err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 10001 {
		t.Errorf("after write at 10000: Stat = %v, %v; want size 10001", fi, err)
	}
	f.Close()
	want := make([]byte, 10001)
	copy(want, "ab")
	want[10000] = 'Z'
	got, err := engine.ReadFile(fsys, name)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("file with a hole: %d bytes, %v; want ab, zeros, Z at 10000", len(got), err)
	}
}

func testTruncate(t *testing.T, fsys engine.FS, dir string) {
	f := openFile(t, fsys, join(dir, "f"), rw|os.O_CREATE)
	f.WriteAt([]byte("0123456789"), 0)
	wantSize := func(what string, size int64) {
		t.Helper()
		if fi, err := f.Stat(); err != nil || fi.Size() != size {
			t.Errorf("%s: Stat = %v, %v; want size %d", what, fi, err, size)
		}
	}
	if err := f.Truncate(4); err != nil {
		t.Errorf("shrink: %v", err)
	}
	wantSize("after shrink to 4", 4)
	buf := make([]byte, 10)
	n, err := f.ReadAt(buf, 0)
	if string(buf[:n]) != "0123" || err != io.EOF {
		t.Errorf("after shrink: ReadAt = %q, %v; want \"0123\", EOF", buf[:n], err)
	}
	if err := f.Truncate(10); err != nil {
		t.Errorf("grow: %v", err)
	}
	wantSize("after grow to 10", 10)
	n, err = f.ReadAt(buf, 0)
	if want := "0123\x00\x00\x00\x00\x00\x00"; string(buf[:n]) != want || err != nil {
		t.Errorf("after grow: ReadAt = %q, %v; want %q (zero-filled, the old bytes gone)", buf[:n], err, want)
	}
	if err := f.Truncate(0); err != nil {
		t.Errorf("truncate to 0: %v", err)
	}
	wantSize("after truncate to 0", 0)
}

func testFileStat(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	f := openFile(t, fsys, name, rw|os.O_CREATE)
	f.WriteAt([]byte("12345"), 0)
	fromFile, err := f.Stat()
	if err != nil {
		t.Fatalf("File.Stat: %v", err)
	}
	fromFS, err := fsys.Stat(name)
	if err != nil {
		t.Fatalf("FS.Stat: %v", err)
	}
	for what, fi := range map[string]fs.FileInfo{"File.Stat": fromFile, "FS.Stat": fromFS} {
		if fi.Name() != "f" || fi.Size() != 5 || fi.IsDir() || !fi.Mode().IsRegular() {
			t.Errorf("%s = name %q size %d dir %v mode %v; want f, 5, false, regular", what, fi.Name(), fi.Size(), fi.IsDir(), fi.Mode())
		}
	}
}

func testSync(t *testing.T, fsys engine.FS, dir string) {
	f := openFile(t, fsys, join(dir, "f"), rw|os.O_CREATE)
	f.WriteAt([]byte("durable"), 0)
	if err := f.Sync(); err != nil {
		t.Errorf("Sync: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Errorf("second Sync: %v", err)
	}
}

func testFileClosed(t *testing.T, fsys engine.FS, dir string) {
	f := openFile(t, fsys, join(dir, "f"), rw|os.O_CREATE)
	f.WriteAt([]byte("x"), 0)
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := f.ReadAt(make([]byte, 1), 0)
	wantPathErr(t, "ReadAt after Close", err, "read", fs.ErrClosed)
	_, err = f.WriteAt([]byte("y"), 0)
	wantPathErr(t, "WriteAt after Close", err, "write", fs.ErrClosed)
	wantPathErr(t, "Sync after Close", f.Sync(), "sync", fs.ErrClosed)
	wantPathErr(t, "Truncate after Close", f.Truncate(0), "truncate", fs.ErrClosed)
	_, err = f.Stat()
	wantPathErr(t, "Stat after Close", err, "stat", fs.ErrClosed)
	wantPathErr(t, "second Close", f.Close(), "close", fs.ErrClosed)
	wantErr(t, "second Close", f.Close(), engine.ErrClosed)
}

// testAllocate: engine.Allocate keeps the data of the range, extends the
// file with zeros past its end, and a mapping of what it allocated works;
// the backend's File does it itself (an engine.Allocator), so that a full
// disk fails it early rather than a write of the fallback.
func testAllocate(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	f := openFile(t, fsys, name, rw|os.O_CREATE)
	if _, ok := f.(engine.Allocator); !ok {
		t.Errorf("the File is a %T, not an engine.Allocator: engine.Allocate would write zeros instead", f)
	}
	f.WriteAt([]byte("hello"), 0)
	if err := engine.Allocate(f, 0, 3*page+10); err != nil {
		t.Fatalf("Allocate(0, 3 pages + 10): %v", err)
	}
	wantFileSize(t, f, 3*page+10, "after Allocate past the end")
	want := make([]byte, 3*page+10)
	copy(want, "hello")
	wantFile(t, f, 0, want, "after Allocate past the end")
	if err := engine.Allocate(f, 1, 2); err != nil {
		t.Errorf("Allocate(1, 2) of allocated data: %v", err)
	}
	wantFileSize(t, f, 3*page+10, "after Allocate inside the file")
	wantFile(t, f, 0, want, "after Allocate inside the file")
	if err := engine.Allocate(f, 5*page, page); err != nil {
		t.Fatalf("Allocate(5 pages, 1 page) beyond a gap: %v", err)
	}
	wantFileSize(t, f, 6*page, "after Allocate beyond a gap")
	want = append(want, make([]byte, 6*page-len(want))...)
	wantFile(t, f, 0, want, "after Allocate beyond a gap")
	if err := f.Sync(); err != nil {
		t.Errorf("Sync after Allocate: %v", err)
	}
	r, err := fsys.Map(f, 6*page)
	if err != nil {
		t.Fatalf("Map of the allocated file: %v", err)
	}
	defer r.Close()
	if _, err := r.WriteAt([]byte("mapped"), 5*page+1); err != nil {
		t.Errorf("store to an allocated page: %v", err)
	}
	wantFile(t, f, 5*page+1, []byte("mapped"), "a store to an allocated page")
}

// testAllocateErrors: fallocate(2)'s errors, in its order: a bad range
// (EINVAL) before a file not open for writing (EBADF); fs.ErrClosed after
// Close. Nothing changes.
func testAllocateErrors(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("data"))
	f := openFile(t, fsys, name, rw)
	for _, c := range [][2]int64{{-1, 10}, {0, 0}, {0, -5}} {
		err := engine.Allocate(f, c[0], c[1])
		wantPathErr(t, "Allocate("+itoa(c[0])+", "+itoa(c[1])+")", err, "fallocate", syscall.EINVAL)
	}
	ro := openFile(t, fsys, name, os.O_RDONLY)
	wantPathErr(t, "Allocate of an O_RDONLY file", engine.Allocate(ro, 0, 2*page), "fallocate", syscall.EBADF)
	wantPathErr(t, "Allocate(0, 0) of an O_RDONLY file", engine.Allocate(ro, 0, 0), "fallocate", syscall.EINVAL)
	d := openFile(t, fsys, dir, os.O_RDONLY)
	wantPathErr(t, "Allocate of a directory", engine.Allocate(d, 0, page), "fallocate", syscall.EBADF)
	f.Close()
	wantPathErr(t, "Allocate after Close", engine.Allocate(f, 0, page), "fallocate", fs.ErrClosed)
	wantContent(t, fsys, name, []byte("data"))
}
