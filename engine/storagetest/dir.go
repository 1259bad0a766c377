package storagetest

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

var dirChecks = []check{
	{"Remove", testRemove},
	{"Rename", testRename},
	{"MkdirAll", testMkdirAll},
	{"ReadDir", testReadDir},
	{"Stat/Dir", testStatDir},
	{"SyncDir", testSyncDir},
}

func testRemove(t *testing.T, fsys engine.FS, dir string) {
	file := join(dir, "f")
	writeFile(t, fsys, file, []byte("x"))
	if err := fsys.Remove(file); err != nil {
		t.Errorf("remove file: %v", err)
	}
	wantMissing(t, fsys, file)
	wantPathErr(t, "remove of a missing file", fsys.Remove(file), "remove", fs.ErrNotExist)

	empty := join(dir, "empty")
	if err := fsys.MkdirAll(empty, 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	if err := fsys.Remove(empty); err != nil {
		t.Errorf("remove empty directory: %v", err)
	}
	wantMissing(t, fsys, empty)

	full := join(dir, "full")
	if err := fsys.MkdirAll(full, 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	writeFile(t, fsys, join(full, "child"), []byte("y"))
	wantPathErr(t, "remove of a non-empty directory", fsys.Remove(full), "remove", nil)
	wantContent(t, fsys, join(full, "child"), []byte("y"))
}

func testRename(t *testing.T, fsys engine.FS, dir string) {
	oldname, newname := join(dir, "old"), join(dir, "new")
	writeFile(t, fsys, oldname, []byte("old content"))
	writeFile(t, fsys, newname, []byte("replaced"))
	// A handle open across the rename keeps reading the same file.
	f := openFile(t, fsys, oldname, os.O_RDONLY)
	if err := fsys.Rename(oldname, newname); err != nil {
		t.Fatalf("rename over a file: %v", err)
	}
	wantContent(t, fsys, newname, []byte("old content"))
	wantMissing(t, fsys, oldname)
	wantNames(t, fsys, dir, "new")
	buf := make([]byte, 11)
	if n, err := f.ReadAt(buf, 0); err != nil || string(buf[:n]) != "old content" {
		t.Errorf("read through a handle opened before the rename: %q, %v", buf[:n], err)
	}

	sub := join(dir, "sub")
	if err := fsys.MkdirAll(sub, 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	moved := join(sub, "moved")
	if err := fsys.Rename(newname, moved); err != nil {
		t.Errorf("rename into a subdirectory: %v", err)
	}
	wantContent(t, fsys, moved, []byte("old content"))
	wantNames(t, fsys, dir, "sub")

	err := fsys.Rename(join(dir, "missing"), join(dir, "other"))
	var le *os.LinkError
	if !errors.As(err, &le) || le.Op != "rename" {
		t.Errorf("rename of a missing file: error %v (%T), want *os.LinkError with Op rename", err, err)
	}
	wantErr(t, "rename of a missing file", err, fs.ErrNotExist)
	wantMissing(t, fsys, join(dir, "other"))
}

func testMkdirAll(t *testing.T, fsys engine.FS, dir string) {
	nested := join(dir, "a/b/c")
	for i := range 2 { // the second call finds everything in place
		if err := fsys.MkdirAll(nested, 0o755); err != nil {
			t.Errorf("MkdirAll #%d: %v", i+1, err)
		}
	}
	for _, name := range []string{"a", "a/b", "a/b/c"} {
		if fi, err := fsys.Stat(join(dir, name)); err != nil || !fi.IsDir() {
			t.Errorf("Stat %s after MkdirAll: %v, %v; want a directory", name, fi, err)
		}
	}
	writeFile(t, fsys, join(nested, "f"), []byte("in c"))
	wantContent(t, fsys, join(nested, "f"), []byte("in c"))

	file := join(dir, "file")
	writeFile(t, fsys, file, nil)
	wantPathErr(t, "MkdirAll of a file", fsys.MkdirAll(file, 0o755), "mkdir", nil)
	wantPathErr(t, "MkdirAll under a file", fsys.MkdirAll(join(file, "d"), 0o755), "mkdir", nil)
}

// wantNames reports unless dir lists exactly names, in that order.
func wantNames(t *testing.T, fsys engine.FS, dir string, names ...string) {
	t.Helper()
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		t.Errorf("ReadDir %s: %v", dir, err)
		return
	}
	got := make([]string, len(ents))
	for i, e := range ents {
		got[i] = e.Name()
	}
	if len(got) != len(names) {
		t.Errorf("ReadDir %s = %q, want %q", dir, got, names)
		return
	}
	for i := range got {
		if got[i] != names[i] {
			t.Errorf("ReadDir %s = %q, want %q", dir, got, names)
			return
		}
	}
}

func testReadDir(t *testing.T, fsys engine.FS, dir string) {
	wantNames(t, fsys, dir)
	// Created out of order: ReadDir sorts.
	for _, name := range []string{"b", "c", "a"} {
		writeFile(t, fsys, join(dir, name), []byte(name+name))
	}
	if err := fsys.MkdirAll(join(dir, "d"), 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	wantNames(t, fsys, dir, "a", "b", "c", "d")
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	for _, e := range ents {
		isDir := e.Name() == "d"
		if e.IsDir() != isDir || e.Type().IsDir() != isDir || (!isDir && !e.Type().IsRegular()) {
			t.Errorf("entry %s: IsDir %v, Type %v; want a %s", e.Name(), e.IsDir(), e.Type(), map[bool]string{true: "directory", false: "regular file"}[isDir])
		}
		fi, err := e.Info()
		if err != nil {
			t.Errorf("entry %s: Info: %v", e.Name(), err)
			continue
		}
		if fi.Name() != e.Name() || fi.IsDir() != isDir || (!isDir && fi.Size() != 2) {
			t.Errorf("entry %s: Info = name %q dir %v size %d", e.Name(), fi.Name(), fi.IsDir(), fi.Size())
		}
	}
	_, err = fsys.ReadDir(join(dir, "missing"))
	wantPathErr(t, "ReadDir of a missing directory", err, "open", fs.ErrNotExist)
}

func testStatDir(t *testing.T, fsys engine.FS, dir string) {
	fi, err := fsys.Stat(dir)
	if err != nil || !fi.IsDir() || !fi.Mode().IsDir() || fi.Name() != path.Base(dir) {
		t.Errorf("Stat of the directory = %v, %v; want a directory named %q", fi, err, path.Base(dir))
	}
	wantMissing(t, fsys, join(dir, "missing"))
	wantMissing(t, fsys, join(dir, "missing/deeper"))
}

func testSyncDir(t *testing.T, fsys engine.FS, dir string) {
	writeFile(t, fsys, join(dir, "f"), []byte("x"))
	if err := fsys.SyncDir(dir); err != nil {
		t.Errorf("SyncDir: %v", err)
	}
	wantPathErr(t, "SyncDir of a missing directory", fsys.SyncDir(join(dir, "missing")), "", fs.ErrNotExist)
}
