package wal_test

import (
	"io/fs"

	"github.com/crashsim/crashsim/engine"
)

// stepFS is an engine.FS that lets a test act at an exact point of the
// calls made through it: before an OpenFile or a File.Sync, and on what a
// ReadDir returns. A test runs another party's step there (a writer's
// appends, a Publish) on the file system underneath, in the same
// goroutine, so that the interleaving it checks is the only one possible,
// whatever the scheduler does.
type stepFS struct {
	engine.FS
	// onOpen, if set, is called before each OpenFile with its name.
	onOpen func(name string)
	// onSync, if set, is called before each File.Sync with the file's name.
	onSync func(name string)
	// listing, if set, is given each ReadDir's result and returns the one
	// to report.
	listing func(dir string, des []fs.DirEntry) []fs.DirEntry
}

func (s *stepFS) OpenFile(name string, flag int, perm fs.FileMode) (engine.File, error) {
	if s.onOpen != nil {
		s.onOpen(name)
	}
	f, err := s.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &stepFile{File: f, fs: s}, nil
}

func (s *stepFS) ReadDir(name string) ([]fs.DirEntry, error) {
	des, err := s.FS.ReadDir(name)
	if err == nil && s.listing != nil {
		des = s.listing(name, des)
	}
	return des, err
}

func (s *stepFS) Map(f engine.File, length int64) (engine.Region, error) {
	if sf, ok := f.(*stepFile); ok {
		f = sf.File
	}
	return s.FS.Map(f, length)
}

type stepFile struct {
	engine.File
	fs *stepFS
}

func (f *stepFile) Sync() error {
	if f.fs.onSync != nil {
		f.fs.onSync(f.Name())
	}
	return f.File.Sync()
}

// once returns a function that calls step the first time it is called
// with a name that want accepts, and does nothing otherwise.
func once(want func(name string) bool, step func()) func(string) {
	done := false
	return func(name string) {
		if !done && want(name) {
			done = true
			step()
		}
	}
}
