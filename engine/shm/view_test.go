package shm_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
	"github.com/crashsim/crashsim/internal/shmbug"
)

// viewFreeingItsChunk views the oldest blob of a full chunk and, inside
// the view's function, acknowledges the chunk's blobs and runs a cleanup
// pass that frees the chunk: the view must see its blob whole, the pass
// must free the chunk (not wait for the view, which would never end), and
// View must then return ErrGone — the generation check after use. It
// returns the first way in which that is not so.
func viewFreeingItsChunk(t *testing.T, fsys engine.FS, dir, name string, bug shmbug.Bug) error {
	clock := shm.NewManualClock(epoch)
	o := small(fsys, dir, clock)
	o.Decay = -1 // freed at the first pass that sees it acknowledged
	shmbug.Set(o, bug)
	s := mustCreate(t, name, o)
	chunks := fill(t, s, 1, 500)
	h := chunks[0][0]
	want := blob(0, 500)
	var seen []byte
	var freed int
	var cleanErr error
	err := s.View(h, func(b []byte) {
		seen = append(seen, b...)
		for _, a := range chunks[0] {
			if err := s.Acknowledge(a); err != nil {
				cleanErr = err
				return
			}
		}
		freed, cleanErr = s.Cleanup()
	})
	switch {
	case !bytes.Equal(seen, want):
		return fmt.Errorf("the view saw %q, want %q", abbrev(seen), abbrev(want))
	case cleanErr != nil:
		return fmt.Errorf("inside the view: %w", cleanErr)
	case freed != 1:
		return fmt.Errorf("the pass inside the view freed %d chunks, want 1", freed)
	case !errors.Is(err, shm.ErrGone):
		return fmt.Errorf("View of a blob whose chunk was freed while the view was in use: %v, want ErrGone", err)
	}
	if err := s.View(h, func([]byte) {}); !errors.Is(err, shm.ErrGone) {
		return fmt.Errorf("a second View: %v, want ErrGone", err)
	}
	if _, err := s.Resolve(h); !errors.Is(err, shm.ErrGone) {
		return fmt.Errorf("Resolve after the free: %v, want ErrGone", err)
	}
	wantBlob(t, s, chunks[1][0], blob(len(chunks[0]), 500))
	return nil
}

// TestViewFreesItsChunk: a View's function may call the Store's methods,
// Cleanup included, even when the pass frees the chunk being viewed — the
// last View to end unmaps it (before, the pass waited for the view to end,
// and the view for the pass: the test hung). And View's generation check
// after use reports the free; the bug variant without it does not.
func TestViewFreesItsChunk(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		if err := viewFreeingItsChunk(t, fsys, dir, "viewfree", shmbug.None); err != nil {
			t.Error(err)
		}
		if err := viewFreeingItsChunk(t, fsys, dir, "viewfreebug", shmbug.ViewNoGenCheck); err == nil {
			t.Errorf("%v: not caught", shmbug.ViewNoGenCheck)
		}
	})
}

// staleView frees the chunk of a handle, has its slot recycled for a new
// chunk holding a blob of the same size at the same offset, and returns
// the first way in which a View of the stale handle is not ErrGone (with
// fn not called). Resolve of the stale handle must be ErrGone too.
func staleView(t *testing.T, fsys engine.FS, dir, name string, bug shmbug.Bug) error {
	clock := shm.NewManualClock(epoch)
	o := small(fsys, dir, clock)
	o.MaxChunks = 2 // the third chunk reuses the first one's slot
	o.Decay = -1
	shmbug.Set(o, bug)
	s := mustCreate(t, name, o)
	chunks := fill(t, s, 1, 500)
	old := chunks[0][0]
	for _, h := range chunks[0] {
		if err := s.Acknowledge(h); err != nil {
			t.Fatal(err)
		}
	}
	if n := cleanup(t, s); n != 1 {
		t.Fatalf("%d chunks freed, want the first", n)
	}
	// Fill the second chunk: the third is created in the first's slot.
	var h shm.Handle
	for i := 0; ; i++ {
		h = mustAppend(t, s, bytes.Repeat([]byte{'n'}, 500))
		if h.Chunk != chunks[1][0].Chunk {
			break
		}
		if i > 100 {
			t.Fatal("the second chunk never filled")
		}
	}
	if h.Chunk != old.Chunk || h.Offset != old.Offset || h.Size != old.Size || h.Gen == old.Gen {
		t.Fatalf("the new blob %v is not where the stale handle %v points", h, old)
	}
	if _, err := s.Resolve(old); !errors.Is(err, shm.ErrGone) {
		t.Errorf("Resolve of the stale handle %v: %v, want ErrGone", old, err)
	}
	var seen []byte
	err := s.View(old, func(b []byte) { seen = append(seen, b...) })
	switch {
	case seen != nil:
		return fmt.Errorf("View of the stale handle %v saw %q (err %v), the blob of another append", old, abbrev(seen), err)
	case !errors.Is(err, shm.ErrGone):
		return fmt.Errorf("View of the stale handle %v: %v, want ErrGone", old, err)
	}
	return nil
}

// TestViewStaleHandle: a handle of a freed chunk whose slot was recycled
// never views the blob of the new chunk at its place; the bug variant
// that views without the generation check (ABA) does.
func TestViewStaleHandle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		if err := staleView(t, fsys, dir, "stale", shmbug.None); err != nil {
			t.Error(err)
		}
		if err := staleView(t, fsys, dir, "stalebug", shmbug.ViewNoGenCheck); err == nil {
			t.Errorf("%v: not caught", shmbug.ViewNoGenCheck)
		}
	})
}

// TestFreshChunkKept: a chunk just created, live but not yet installed as
// the next chunk, is neither sealed nor freed by a cleaner of another
// process that sees it then, even with a negative decay — it would be
// useless to the appends it is for (before, such a pass freed it, and
// every chunk prefetched meanwhile was thrown away). A chunk whose
// creator died there is freed once the grace period of a second since
// its creation has passed.
func TestFreshChunkKept(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		clock := shm.NewManualClock(epoch)
		o := small(fsys, dir, clock)
		o.Decay = -1
		var cleaner *shm.Store
		armed := false
		var freed []int
		shm.SetHook(o, func(step string) {
			if step == "chunk-live" && armed {
				armed = false // once: a pass each time loops for ever without the grace
				n, err := cleaner.Cleanup()
				if err != nil {
					t.Errorf("Cleanup while a chunk is being installed: %v", err)
				}
				freed = append(freed, n)
			}
		})
		s := mustCreate(t, "fresh", o)
		cleaner = mustAttach(t, "fresh", small(fsys, dir, clock))
		armed = true
		if err := s.Prefetch(); err != nil {
			t.Fatal(err)
		}
		// Past the first chunk: into the prefetched one, none created
		// inline.
		chunks := fill(t, s, 1, 500)
		if len(freed) != 1 || freed[0] != 0 {
			t.Errorf("the passes run while the next chunk was live and not installed freed %v, want [0]", freed)
		}
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.CreatedInline != 0 || st.FreedAcked != 0 || st.Created != 2 {
			t.Errorf("stats after the prefetched chunk was used: %+v, want 2 created (the first and the prefetched one), none inline, none freed", st)
		}
		wantBlob(t, s, chunks[1][0], blob(len(chunks[0]), 500))

		// A creator stopped after its chunk went live, before it
		// installed it: the chunk is kept for a second, then freed.
		vo := small(fsys, dir, clock)
		shm.SetHook(vo, func(step string) {
			if step == "chunk-live" {
				runtime.Goexit()
			}
		})
		victim, err := shm.Attach("fresh", vo)
		if err != nil {
			t.Fatal(err)
		}
		stopped := make(chan error)
		go func() {
			defer close(stopped)
			stopped <- victim.Prefetch() // not when stopped: no next chunk yet
		}()
		if err, ok := <-stopped; ok {
			t.Fatalf("the victim's Prefetch returned (%v): it created no chunk", err)
		}
		if n := cleanup(t, cleaner); n != 0 {
			t.Errorf("a chunk created now, not installed: %d freed", n)
		}
		clock.Advance(999 * time.Millisecond)
		if n := cleanup(t, cleaner); n != 0 {
			t.Errorf("999 ms after its creation: %d freed", n)
		}
		clock.Advance(time.Millisecond)
		if n := cleanup(t, cleaner); n != 1 {
			t.Errorf("a second after its creation: %d freed, want 1", n)
		}
		if st, _ := s.Stats(); st.Live != 2 || st.Created != 2 || st.FreedAcked != 1 {
			t.Errorf("stats after the abandoned chunk was freed: %+v, want 2 live, 2 created (the victim died before it counted its chunk), 1 freed", st)
		}
		wantBlob(t, s, chunks[1][0], blob(len(chunks[0]), 500))
	})
}
