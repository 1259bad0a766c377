package shm_test

import (
	"context"
	"errors"
	"path"
	"runtime"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
)

// fill appends blobs of n bytes until the store has moved past k chunks,
// and returns the handles, grouped by chunk.
func fill(t testing.TB, s *shm.Store, chunks, n int) [][]shm.Handle {
	t.Helper()
	var out [][]shm.Handle
	var cur []shm.Handle
	for i := 0; ; i++ {
		h := mustAppend(t, s, blob(i, n))
		if len(cur) > 0 && h.Chunk != cur[0].Chunk {
			out = append(out, cur)
			cur = nil
			if len(out) == chunks {
				return append(out, []shm.Handle{h})
			}
		}
		cur = append(cur, h)
	}
}

// cleanup runs a pass and returns how many chunks it freed.
func cleanup(t testing.TB, s *shm.Store) int {
	t.Helper()
	n, err := s.Cleanup()
	if err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	return n
}

// wantGone reports unless every handle of hs is ErrGone.
func wantGone(t testing.TB, s *shm.Store, hs []shm.Handle, gone bool) {
	t.Helper()
	for _, h := range hs {
		_, err := s.Resolve(h)
		if gone && !errors.Is(err, shm.ErrGone) {
			t.Errorf("Resolve(%v): %v, want ErrGone", h, err)
		}
		if !gone && err != nil {
			t.Errorf("Resolve(%v): %v", h, err)
		}
	}
}

// TestDecay: a chunk whose blobs are all acknowledged is freed once the
// decay period has passed since a cleaner saw it so — not before, and
// never while one blob is not acknowledged; the object is unlinked.
func TestDecay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		clock := shm.NewManualClock(epoch)
		o := small(fsys, dir, clock)
		s := mustCreate(t, "decay", o)
		chunks := fill(t, s, 2, 500)
		first := chunks[0]
		for _, h := range first[1:] {
			if err := s.Acknowledge(h); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(10 * time.Second) // past the decay, within the TTL
		if n := cleanup(t, s); n != 0 {
			t.Errorf("a chunk with an unacknowledged blob: %d freed", n)
		}
		wantGone(t, s, first, false)
		if err := s.Acknowledge(first[0]); err != nil {
			t.Fatal(err)
		}
		if err := s.Acknowledge(first[0]); err != nil {
			t.Errorf("a second Acknowledge: %v", err)
		}
		if n := cleanup(t, s); n != 0 {
			t.Errorf("all acknowledged, no decay yet: %d freed", n)
		}
		clock.Advance(999 * time.Millisecond)
		if n := cleanup(t, s); n != 0 {
			t.Errorf("999 ms into a decay of 1 s: %d freed", n)
		}
		clock.Advance(time.Millisecond)
		if n := cleanup(t, s); n != 1 {
			t.Errorf("after the decay: %d freed, want 1", n)
		}
		wantGone(t, s, first, true)
		wantGone(t, s, chunks[1], false)
		if _, err := fsys.Stat(path.Join(dir, shm.ChunkName("decay", first[0].Gen))); err == nil {
			t.Errorf("the freed chunk is still there")
		}
		st, _ := s.Stats()
		if st.FreedAcked != 1 || st.FreedExpired != 0 {
			t.Errorf("stats: %+v", st)
		}
	})
}

// TestTTL: a chunk whose consumer died — its blobs never acknowledged — is
// freed once its TTL has passed since its first blob; the head chunk is
// moved on first, then freed by a later pass.
func TestTTL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		clock := shm.NewManualClock(epoch)
		o := small(fsys, dir, clock)
		s := mustCreate(t, "ttl", o)
		chunks := fill(t, s, 1, 500) // a full chunk, and the head with one blob
		clock.Advance(59 * time.Second)
		if n := cleanup(t, s); n != 0 {
			t.Errorf("before the TTL: %d freed", n)
		}
		wantGone(t, s, chunks[0], false)
		clock.Advance(time.Second + time.Nanosecond)
		if n := cleanup(t, s); n != 1 {
			t.Errorf("after the TTL: %d freed, want 1 (the full chunk; the head is moved on)", n)
		}
		wantGone(t, s, chunks[0], true)
		wantGone(t, s, chunks[1], false)
		after := mustAppend(t, s, blob(100, 500))
		if after.Chunk == chunks[1][0].Chunk && after.Gen == chunks[1][0].Gen {
			t.Errorf("appended to the expired head %v", after)
		}
		if n := cleanup(t, s); n != 1 {
			t.Errorf("the old head: %d freed, want 1", n)
		}
		wantGone(t, s, chunks[1], true)
		wantBlob(t, s, after, blob(100, 500))
		st, _ := s.Stats()
		if st.FreedExpired != 2 || st.FreedAcked != 0 {
			t.Errorf("stats: %+v", st)
		}
	})
}

// TestCleanupEveryProcess: a chunk freed by another process's cleaner is
// ErrGone here too, and this process's own pass unmaps it.
func TestCleanupEveryProcess(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		clock := shm.NewManualClock(epoch)
		o := small(fsys, dir, clock)
		a := mustCreate(t, "every", o)
		b := mustAttach(t, "every", o)
		chunks := fill(t, a, 1, 2000)
		wantGone(t, b, chunks[0], false) // b maps the chunk
		for _, h := range chunks[0] {
			if err := b.Acknowledge(h); err != nil {
				t.Fatal(err)
			}
		}
		cleanup(t, a)
		clock.Advance(time.Second)
		if n := cleanup(t, a); n != 1 {
			t.Fatalf("freed %d, want 1", n)
		}
		wantGone(t, b, chunks[0], true)
		if n := cleanup(t, b); n != 0 {
			t.Errorf("b's pass freed %d", n)
		}
		wantBlob(t, b, chunks[1][0], blob(len(chunks[0]), 2000))
	})
}

// TestRunCleanup: the loop runs passes until its context ends.
func TestRunCleanup(t *testing.T) {
	fsys, dir := simShm(t)
	clock := shm.NewManualClock(epoch)
	o := small(fsys, dir, clock)
	o.Decay = -1
	s := mustCreate(t, "loop", o)
	chunks := fill(t, s, 1, 2000)
	for _, h := range chunks[0] {
		s.Acknowledge(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunCleanup(ctx, time.Millisecond) }()
	// Wait for a pass to free the chunk: the test asserts that one does,
	// not when.
	for {
		if _, err := s.Resolve(chunks[0][0]); errors.Is(err, shm.ErrGone) {
			break
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("RunCleanup: %v, want context.Canceled", err)
	}
	if err := s.RunCleanup(context.Background(), 0); !errors.Is(err, shm.ErrOptions) {
		t.Errorf("RunCleanup every 0: %v", err)
	}
}
