package shm_test

import (
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
)

// openCounter is a file system that counts the opens of chunk objects:
// each is a Store mapping a chunk.
type openCounter struct {
	engine.FS
	chunks int
}

func (c *openCounter) OpenFile(name string, flag int, perm fs.FileMode) (engine.File, error) {
	if strings.Contains(path.Base(name), "_data_") {
		c.chunks++
	}
	return c.FS.OpenFile(name, flag, perm)
}

// TestPrefetchMapsNext: Prefetch in a process whose namespace already has
// its next chunk, created by another, creates none and maps that one, so
// that the process's first resolve (or append) there maps nothing.
func TestPrefetchMapsNext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		clock := shm.NewManualClock(epoch)
		o := small(fsys, dir, clock)
		o.Prefetch = shm.PrefetchOff
		s := mustCreate(t, "ahead", o)
		if err := s.Prefetch(); err != nil {
			t.Fatal(err)
		}
		counter := &openCounter{FS: fsys}
		ro := small(counter, dir, clock)
		ro.Prefetch = shm.PrefetchOff
		r := mustAttach(t, "ahead", ro)
		for i := range 2 {
			if err := r.Prefetch(); err != nil {
				t.Fatal(err)
			}
			if counter.chunks != 1 {
				t.Fatalf("after Prefetch %d in the attached Store: %d chunks opened, want 1 (the next)", i+1, counter.chunks)
			}
		}
		chunks := fill(t, s, 1, 500)
		h := chunks[1][0]
		wantBlob(t, r, h, blob(len(chunks[0]), 500))
		if counter.chunks != 1 {
			t.Errorf("resolving a blob of the prefetched chunk opened %d chunks, want none beyond the one Prefetch mapped", counter.chunks-1)
		}
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Created != 2 || st.CreatedInline != 0 {
			t.Errorf("stats: %+v, want 2 chunks created, none inline: the attached Store's Prefetch created none", st)
		}
	})
}
