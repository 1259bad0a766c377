package fuzz

import (
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crashsim/crashsim/engine"
)

// MemFS is a small in-memory engine.FS for the fuzz targets: files and
// directories and nothing of durability (every operation takes effect at
// once, Sync and SyncDir do nothing), with the errors of package os for
// what the log uses. It is much cheaper than the laboratory's faultfs,
// which a fuzzer runs millions of times; the crash behaviour is the
// scenarios' business, not the fuzzers'.
type MemFS struct {
	mu    sync.Mutex
	files map[string]*memData // by clean path
	dirs  map[string]bool
	locks map[string]bool
}

type memData struct{ b []byte }

var _ engine.FS = (*MemFS)(nil)

// NewMemFS returns an empty file system with its root directory.
func NewMemFS() *MemFS {
	return &MemFS{files: map[string]*memData{}, dirs: map[string]bool{"/": true}, locks: map[string]bool{}}
}

func clean(name string) string { return path.Clean("/" + name) }

func perr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// WriteFile creates or replaces name (and its parent directories) with data.
func (m *MemFS) WriteFile(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	m.mkdirs(path.Dir(p))
	m.files[p] = &memData{b: append([]byte(nil), data...)}
}

// ReadFile returns a copy of name's content, or nil.
func (m *MemFS) ReadFile(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.files[clean(name)]; ok {
		return append([]byte(nil), d.b...)
	}
	return nil
}

// Clone returns a copy of the file system.
func (m *MemFS) Clone() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMemFS()
	for p, d := range m.files {
		c.files[p] = &memData{b: append([]byte(nil), d.b...)}
	}
	for p := range m.dirs {
		c.dirs[p] = true
	}
	return c
}

// Snapshot returns every file's content by path, to compare states.
func (m *MemFS) Snapshot() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for p, d := range m.files {
		out[p] = string(d.b)
	}
	return out
}

func (m *MemFS) mkdirs(p string) {
	for ; !m.dirs[p]; p = path.Dir(p) {
		m.dirs[p] = true
	}
}

func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (engine.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	d, ok := m.files[p]
	switch {
	case m.dirs[p] && flag&(os.O_WRONLY|os.O_RDWR) != 0:
		return nil, perr("open", name, syscall.EISDIR)
	case m.dirs[p]:
		return &memFile{m: m, name: name, dir: true}, nil
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, perr("open", name, fs.ErrExist)
	case !ok && flag&os.O_CREATE == 0:
		return nil, perr("open", name, fs.ErrNotExist)
	case !ok && !m.dirs[path.Dir(p)]:
		return nil, perr("open", name, fs.ErrNotExist)
	case !ok:
		d = &memData{}
		m.files[p] = d
	}
	if flag&os.O_TRUNC != 0 {
		d.b = d.b[:0]
	}
	return &memFile{m: m, name: name, d: d, write: flag&(os.O_WRONLY|os.O_RDWR) != 0}, nil
}

func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	if _, ok := m.files[p]; ok {
		delete(m.files, p)
		return nil
	}
	if !m.dirs[p] {
		return perr("remove", name, fs.ErrNotExist)
	}
	for q := range m.files {
		if strings.HasPrefix(q, p+"/") {
			return perr("remove", name, syscall.ENOTEMPTY)
		}
	}
	delete(m.dirs, p)
	return nil
}

func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, n := clean(oldname), clean(newname)
	d, ok := m.files[o]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	if m.dirs[n] || !m.dirs[path.Dir(n)] {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.EEXIST}
	}
	delete(m.files, o)
	m.files[n] = d
	return nil
}

func (m *MemFS) MkdirAll(name string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	for q := p; q != "/"; q = path.Dir(q) {
		if _, ok := m.files[q]; ok {
			return perr("mkdir", name, syscall.ENOTDIR)
		}
	}
	m.mkdirs(p)
	return nil
}

func (m *MemFS) ReadDir(name string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	if !m.dirs[p] {
		return nil, perr("open", name, fs.ErrNotExist)
	}
	var out []fs.DirEntry
	add := func(q string, dir bool, size int) {
		if path.Dir(q) == p && q != p {
			out = append(out, memInfo{name: path.Base(q), dir: dir, size: int64(size)})
		}
	}
	for q, d := range m.files {
		add(q, false, len(d.b))
	}
	for q := range m.dirs {
		add(q, true, 0)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	if d, ok := m.files[p]; ok {
		return memInfo{name: path.Base(p), size: int64(len(d.b))}, nil
	}
	if m.dirs[p] {
		return memInfo{name: path.Base(p), dir: true}, nil
	}
	return nil, perr("stat", name, fs.ErrNotExist)
}

func (m *MemFS) SyncDir(name string) error {
	if _, err := m.Stat(name); err != nil {
		return err
	}
	return nil
}

func (m *MemFS) Lock(name string, mode engine.LockMode) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := clean(name)
	if m.locks[p] {
		return nil, perr("lock", name, engine.ErrLocked)
	}
	if _, ok := m.files[p]; !ok {
		if !m.dirs[path.Dir(p)] {
			return nil, perr("open", name, fs.ErrNotExist)
		}
		m.files[p] = &memData{}
	}
	m.locks[p] = true
	return memLock{m, p}, nil
}

type memLock struct {
	m *MemFS
	p string
}

func (l memLock) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	delete(l.m.locks, l.p)
	return nil
}

func (m *MemFS) Map(engine.File, int64) (engine.Region, error) {
	return nil, engine.ErrNotSupported
}

type memFile struct {
	m      *MemFS
	name   string
	d      *memData
	dir    bool
	write  bool
	closed bool
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	switch {
	case f.closed:
		return 0, perr("read", f.name, fs.ErrClosed)
	case f.dir:
		return 0, perr("read", f.name, syscall.EISDIR)
	case off < 0:
		return 0, perr("read", f.name, fs.ErrInvalid)
	case off >= int64(len(f.d.b)):
		return 0, io.EOF
	}
	n := copy(p, f.d.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	switch {
	case f.closed:
		return 0, perr("write", f.name, fs.ErrClosed)
	case !f.write:
		return 0, perr("write", f.name, syscall.EBADF)
	case off < 0 || off > 1<<32:
		return 0, perr("write", f.name, fs.ErrInvalid)
	}
	if end := int(off) + len(p); end > len(f.d.b) {
		f.d.b = append(f.d.b, make([]byte, end-len(f.d.b))...)
	}
	return copy(f.d.b[off:], p), nil
}

func (f *memFile) Sync() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return perr("sync", f.name, fs.ErrClosed)
	}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	switch {
	case f.closed:
		return perr("truncate", f.name, fs.ErrClosed)
	case !f.write || size < 0 || size > 1<<32:
		return perr("truncate", f.name, syscall.EINVAL)
	case size <= int64(len(f.d.b)):
		f.d.b = f.d.b[:size]
	default:
		f.d.b = append(f.d.b, make([]byte, int(size)-len(f.d.b))...)
	}
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return nil, perr("stat", f.name, fs.ErrClosed)
	}
	if f.dir {
		return memInfo{name: path.Base(f.name), dir: true}, nil
	}
	return memInfo{name: path.Base(f.name), size: int64(len(f.d.b))}, nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return perr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

// memInfo is both the fs.FileInfo and the fs.DirEntry of a MemFS file.
type memInfo struct {
	name string
	dir  bool
	size int64
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time         { return time.Time{} }
func (i memInfo) IsDir() bool                { return i.dir }
func (i memInfo) Sys() any                   { return nil }
func (i memInfo) Type() fs.FileMode          { return i.Mode().Type() }
func (i memInfo) Info() (fs.FileInfo, error) { return i, nil }
