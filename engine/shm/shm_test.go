package shm_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
)

// TestAppendResolve: blobs of every awkward size, the largest included,
// resolve to their bytes by Resolve, View and another Store's Resolve;
// Entries yields them in append order; a handle survives its binary form.
func TestAppendResolve(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		clock := shm.NewManualClock(epoch)
		o := small(fsys, dir, clock)
		s := mustCreate(t, "app", o)
		sizes := []int{0, 1, 7, 8, 9, 100, 1000, s.MaxBlob(), 3, s.MaxBlob() - 1}
		var hs []shm.Handle
		for i, n := range sizes {
			hs = append(hs, mustAppend(t, s, blob(i, n)))
		}
		other := mustAttach(t, "app", o)
		for i, h := range hs {
			wantBlob(t, s, h, blob(i, sizes[i]))
			wantBlob(t, other, h, blob(i, sizes[i]))
			b, err := h.MarshalBinary()
			if err != nil || len(b) != shm.HandleLen {
				t.Fatalf("MarshalBinary: %d bytes, %v", len(b), err)
			}
			var back shm.Handle
			if err := back.UnmarshalBinary(b); err != nil || back != h {
				t.Errorf("handle %v: back from its bytes as %v, %v", h, back, err)
			}
		}
		var got []shm.Handle
		for _, e := range entries(t, other) {
			if e.Acked {
				t.Errorf("%v acknowledged", e.Handle)
			}
			got = append(got, e.Handle)
		}
		if !slices.Equal(got, hs) {
			t.Errorf("Entries: %v, want the appends' handles %v", got, hs)
		}
		buf := []byte("prefix")
		buf, err := s.ResolveAppend(buf, hs[5])
		if err != nil || !bytes.Equal(buf, append([]byte("prefix"), blob(5, 100)...)) {
			t.Errorf("ResolveAppend: %q, %v", abbrev(buf), err)
		}
		if _, err := s.Append(make([]byte, s.MaxBlob()+1)); !errors.Is(err, shm.ErrTooLarge) {
			t.Errorf("Append of MaxBlob+1 bytes: %v, want ErrTooLarge", err)
		}
	})
}

// TestPrefetch: the chunk after the active one is created when an append
// passes the threshold, so that no Append creates one; the chunks are
// used in order.
func TestPrefetch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		o := small(fsys, dir, shm.NewManualClock(epoch))
		s := mustCreate(t, "pf", o)
		var hs []shm.Handle
		for i := range 40 {
			hs = append(hs, mustAppend(t, s, blob(i, 700)))
		}
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.CreatedInline != 0 || st.LocalCreatedInline != 0 {
			t.Errorf("%d chunks created by Append (%d here), want 0: prefetch was late", st.CreatedInline, st.LocalCreatedInline)
		}
		// 40 entries of 712 bytes, 11 to an 8 KiB chunk (8000 bytes of
		// entries), the threshold passed by the 9th: 4 chunks, the 4th
		// with 7 entries, below it.
		if st.Live != 4 || st.Created != 4 {
			t.Errorf("%d live chunks of %d created, want 4 of 4", st.Live, st.Created)
		}
		for i, h := range hs {
			wantBlob(t, s, h, blob(i, 700))
		}
		if got := entries(t, s); len(got) != len(hs) {
			t.Errorf("Entries: %d blobs, want %d", len(got), len(hs))
		}
	})
}

// TestPrefetchBackground: with the default mode a goroutine creates the
// next chunk; whether it is ready in time is the machine's business, so
// this asserts only that every blob resolves and, once the store is
// closed (Close waits for its prefetcher), that no chunk is left over.
func TestPrefetchBackground(t *testing.T) {
	fsys, dir := osShm(t)
	o := small(fsys, dir, shm.NewManualClock(epoch))
	o.Prefetch = shm.PrefetchBackground
	s := mustCreate(t, "bg", o)
	var hs []shm.Handle
	for i := range 30 {
		hs = append(hs, mustAppend(t, s, blob(i, 1000)))
	}
	for i, h := range hs {
		wantBlob(t, s, h, blob(i, 1000))
	}
	// A chunk the prefetcher and an Append both created is freed by the
	// one that could not install it, perhaps after the appends return:
	// count only when the prefetcher has stopped, through another
	// attachment that prefetches nothing of its own.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	o.Prefetch = shm.PrefetchInline
	st, err := mustAttach(t, "bg", o).Stats()
	if err != nil {
		t.Fatal(err)
	}
	// 30 entries of 1008 bytes, 7 to a chunk: 5 chunks, and perhaps the
	// next.
	if st.Live > 6 || st.Chunks != st.Live {
		t.Errorf("%d chunks, %d live: want at most 6, all live %+v", st.Chunks, st.Live, st)
	}
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != st.Chunks+1 {
		t.Errorf("%d objects in the directory, %d chunks and a control object", len(ents), st.Chunks)
	}
}

// TestPrefetchRacesClose: a prefetch that Close catches between the
// creation of a chunk and its installation frees the chunk it made: no
// live chunk is left that no head or next refers to, which no cleaner
// would ever free.
func TestPrefetchRacesClose(t *testing.T) {
	fsys, dir := osShm(t)
	o := small(fsys, dir, shm.NewManualClock(epoch))
	o.Prefetch = shm.PrefetchBackground
	// Armed after Create: the prefetcher, once its chunk is initialized,
	// waits until Close has begun (the store refuses a Cleanup, a pass
	// that frees nothing here: nothing is acknowledged, the clock stands).
	var armed atomic.Bool
	reached := make(chan struct{})
	var once sync.Once
	var s *shm.Store
	shm.SetHook(o, func(step string) {
		if step != "chunk-initialized" || !armed.Load() {
			return
		}
		once.Do(func() {
			close(reached)
			for {
				if _, err := s.Cleanup(); errors.Is(err, shm.ErrClosed) {
					return
				}
				runtime.Gosched()
			}
		})
	})
	s = mustCreate(t, "race", o)
	armed.Store(true)
	for i := range 7 { // the seventh passes 80% of the chunk: a prefetch
		mustAppend(t, s, blob(i, 1000))
	}
	<-reached
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	o.Prefetch = shm.PrefetchInline
	shm.SetHook(o, nil)
	st, err := mustAttach(t, "race", o).Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Chunks != 1 || st.Live != 1 {
		t.Errorf("%d chunks, %d live after a prefetch raced Close: want the one chunk appended to", st.Chunks, st.Live)
	}
}

// TestBadHandles: handles out of bounds are ErrHandle, handles of nothing
// published ErrNotFound, of another generation ErrGone; none reads a byte
// of anything.
func TestBadHandles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		o := small(fsys, dir, shm.NewManualClock(epoch))
		s := mustCreate(t, "bad", o)
		h := mustAppend(t, s, blob(1, 100))
		h2 := mustAppend(t, s, blob(2, 50))
		for _, c := range []struct {
			h    shm.Handle
			want error
		}{
			{shm.Handle{Chunk: 8, Gen: h.Gen, Offset: h.Offset, Size: 1}, shm.ErrHandle},
			{shm.Handle{Chunk: h.Chunk, Gen: 0, Offset: h.Offset, Size: 1}, shm.ErrHandle},
			{shm.Handle{Chunk: h.Chunk, Gen: h.Gen, Offset: 0, Size: 1}, shm.ErrHandle},
			{shm.Handle{Chunk: h.Chunk, Gen: h.Gen, Offset: h.Offset + 1, Size: 1}, shm.ErrHandle},
			{shm.Handle{Chunk: h.Chunk, Gen: h.Gen, Offset: h.Offset, Size: 8192}, shm.ErrHandle},
			{shm.Handle{Chunk: h.Chunk, Gen: h.Gen, Offset: 8192 - 8, Size: 16}, shm.ErrHandle},
			{shm.Handle{Chunk: h.Chunk, Gen: h.Gen, Offset: ^uint32(0) - 7, Size: 16}, shm.ErrHandle},
			{shm.Handle{Chunk: h.Chunk, Gen: h.Gen, Offset: h.Offset, Size: 99}, shm.ErrNotFound},
			{shm.Handle{Chunk: h.Chunk, Gen: h.Gen, Offset: h.Offset, Size: 101}, shm.ErrNotFound},
			{shm.Handle{Chunk: h.Chunk, Gen: h.Gen, Offset: h.Offset + 8, Size: 8}, shm.ErrNotFound},
			{shm.Handle{Chunk: h.Chunk, Gen: h.Gen, Offset: h2.Offset + 64, Size: 8}, shm.ErrNotFound},
			{shm.Handle{Chunk: h.Chunk, Gen: h.Gen + 1, Offset: h.Offset, Size: 100}, shm.ErrGone},
			{shm.Handle{Chunk: h.Chunk + 1, Gen: h.Gen, Offset: h.Offset, Size: 100}, shm.ErrGone},
		} {
			_, err := s.Resolve(c.h)
			wantErr(t, "Resolve("+c.h.String()+")", err, c.want)
			called := false
			err = s.View(c.h, func([]byte) { called = true })
			wantErr(t, "View("+c.h.String()+")", err, c.want)
			if called {
				t.Errorf("View(%v) called its function", c.h)
			}
			wantErr(t, "Acknowledge("+c.h.String()+")", s.Acknowledge(c.h), c.want)
		}
		var h3 shm.Handle
		wantErr(t, "UnmarshalBinary of 15 bytes", h3.UnmarshalBinary(make([]byte, 15)), shm.ErrHandle)
		wantBlob(t, s, h, blob(1, 100))
	})
}

// TestNamespaceLifecycle: Create refuses an existing namespace, Attach a
// missing one; objects are mode 0600; CleanupNamespace removes exactly the
// namespace's objects, and a handle of the old namespace never resolves
// in a new one of the same name, even where the new one has a blob at the
// same place.
func TestNamespaceLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		clock := shm.NewManualClock(epoch)
		o := small(fsys, dir, clock)
		if _, err := shm.Attach("life", o); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Attach of no namespace: %v, want fs.ErrNotExist", err)
		}
		s, err := shm.Create("life", o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := shm.Create("life", o); !errors.Is(err, fs.ErrExist) {
			t.Errorf("Create of an existing namespace: %v, want fs.ErrExist", err)
		}
		other := mustCreate(t, "life_data", o) // a name that is a prefix of life's objects
		mustAppend(t, other, blob(0, 10))
		h := mustAppend(t, s, blob(1, 300))
		for i := range 12 {
			mustAppend(t, s, blob(i, 700))
		}
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", e.Name(), fi.Mode())
			}
			names = append(names, e.Name())
		}
		// 312 + 10×712 bytes of entries in the first chunk, the last
		// two in the second, prefetched; the other namespace's one chunk.
		if len(names) != 2+2+1 {
			t.Errorf("objects %v: want two control objects and 3 chunks", names)
		}
		s.Close()
		n, err := shm.CleanupNamespace("life", o)
		if err != nil || n != 3 {
			t.Errorf("CleanupNamespace: removed %d, %v; want 3 (a control object, two chunks)", n, err)
		}
		if n, err := shm.CleanupNamespace("life", o); err != nil || n != 0 {
			t.Errorf("CleanupNamespace again: removed %d, %v; want 0", n, err)
		}
		if _, err := fsys.Stat(path.Join(dir, "life_data_ctrl")); err != nil {
			t.Errorf("the other namespace's control object: %v", err)
		}
		clock.Advance(time.Second)
		s = mustCreate(t, "life", o)
		h2 := mustAppend(t, s, blob(2, 300))
		if h2.Chunk != h.Chunk || h2.Offset != h.Offset || h2.Size != h.Size {
			t.Fatalf("the new namespace's first blob is at %v, the old one's at %v: the test means them to coincide", h2, h)
		}
		for _, stale := range []shm.Handle{h, {Chunk: h.Chunk, Gen: h2.Gen, Offset: h.Offset, Size: h.Size}} {
			if h2 == stale {
				continue
			}
			if b, err := s.Resolve(stale); !errors.Is(err, shm.ErrNotFound) && !errors.Is(err, shm.ErrGone) {
				t.Errorf("Resolve of a handle of the old namespace %v: %q, %v; want ErrNotFound or ErrGone", stale, abbrev(b), err)
			}
		}
		wantBlob(t, s, h2, blob(2, 300))
	})
}

// TestNames: namespace names are plain file names.
func TestNames(t *testing.T) {
	fsys, dir := simShm(t)
	o := small(fsys, dir, shm.NewManualClock(epoch))
	for _, name := range []string{"", ".hidden", "a/b", "a b", "ü", string(make([]byte, 65))} {
		if _, err := shm.Create(name, o); !errors.Is(err, shm.ErrName) {
			t.Errorf("Create(%q): %v, want ErrName", name, err)
		}
		if _, err := shm.Attach(name, o); !errors.Is(err, shm.ErrName) {
			t.Errorf("Attach(%q): %v, want ErrName", name, err)
		}
		if _, err := shm.CleanupNamespace(name, o); !errors.Is(err, shm.ErrName) {
			t.Errorf("CleanupNamespace(%q): %v, want ErrName", name, err)
		}
	}
}

// TestOptions: presets are valid and recorded; options out of range are
// ErrOptions; an attacher applies the namespace's lifecycle, not its own.
func TestOptions(t *testing.T) {
	fsys, dir := simShm(t)
	clock := shm.NewManualClock(epoch)
	for i, o := range []*shm.Options{shm.DefaultOptions(), shm.PerformanceOptions(), shm.MemoryEfficientOptions(), nil} {
		if o == nil {
			o = &shm.Options{}
		}
		o.FS, o.Dir, o.Clock, o.Prefetch = fsys, dir, clock, shm.PrefetchOff
		o.MaxChunks = 4
		name := "preset" + string(rune('0'+i))
		s := mustCreate(t, name, o)
		h := s.Header()
		want := o.ChunkSize
		if want == 0 {
			want = shm.DefaultChunkSize
		}
		if h.ChunkSize != uint64(want) || h.MaxChunks != 4 || h.TTL != 30*time.Second {
			t.Errorf("preset %d: recorded %+v", i, h)
		}
		if s.MaxBlob() != int(want)-200 {
			t.Errorf("preset %d: MaxBlob %d, want %d", i, s.MaxBlob(), want-200)
		}
		a := mustAttach(t, name, &shm.Options{FS: fsys, Dir: dir, Clock: clock, Decay: time.Hour, ChunkSize: 4096})
		if a.Header() != h {
			t.Errorf("preset %d: attacher sees %+v, want %+v", i, a.Header(), h)
		}
	}
	for _, o := range []shm.Options{
		{ChunkSize: 4095}, {ChunkSize: 4096 + 1}, {ChunkSize: 2 << 30}, {ChunkSize: 2048},
		{MaxChunks: -1}, {MaxChunks: 1<<20 + 1}, {PrefetchAt: 1.5}, {PrefetchAt: -0.1},
		{TTL: -time.Second}, {Prefetch: shm.PrefetchOff + 1},
	} {
		o.FS, o.Dir, o.Clock = fsys, dir, clock
		if _, err := shm.Create("bad", &o); !errors.Is(err, shm.ErrOptions) {
			t.Errorf("Create with %+v: %v, want ErrOptions", o, err)
		}
	}
}

// TestAttachNotReady: a control object whose creator has not stored the
// magic number yet (or died first) is ErrNotReady; CleanupNamespace
// removes it.
func TestAttachNotReady(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		o := small(fsys, dir, shm.NewManualClock(epoch))
		stop := errors.New("stop")
		for _, step := range []string{"", "allocated"} {
			f, err := engine.Create(fsys, path.Join(dir, "nr_ctrl"))
			if err != nil {
				t.Fatal(err)
			}
			if step == "allocated" {
				if err := engine.Allocate(f, 0, shm.CtlSize(8)); err != nil {
					t.Fatal(err)
				}
			}
			f.Close()
			if _, err := shm.Attach("nr", o); !errors.Is(err, shm.ErrNotReady) {
				t.Errorf("Attach after %q: %v, want ErrNotReady", step, err)
			}
			if n, err := shm.CleanupNamespace("nr", o); n != 1 || err != nil {
				t.Errorf("CleanupNamespace: %d, %v", n, err)
			}
		}
		_ = stop
	})
}

// TestFull: with MaxChunks chunks in use and no room, Append is ErrFull;
// AppendWait waits until a cleaner frees a chunk, or its context ends.
func TestFull(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		clock := shm.NewManualClock(epoch)
		o := small(fsys, dir, clock)
		o.MaxChunks = 3
		o.Prefetch = shm.PrefetchOff
		s := mustCreate(t, "full", o)
		var hs []shm.Handle
		for {
			h, err := s.Append(blob(len(hs), 1000))
			if errors.Is(err, shm.ErrFull) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, h)
		}
		if len(hs) != 3*7 {
			t.Errorf("%d blobs of 1000 bytes before ErrFull, want 21 (7 entries of 1008 bytes to a chunk)", len(hs))
		}
		st, _ := s.Stats()
		if st.Chunks != 3 || st.Memory != 3*8192+shm.CtlSize(3) {
			t.Errorf("full: %d chunks, %d bytes of memory, want 3 and %d", st.Chunks, st.Memory, 3*8192+shm.CtlSize(3))
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.AppendWait(ctx, blob(99, 1000)); !errors.Is(err, shm.ErrFull) || !errors.Is(err, context.Canceled) {
			t.Errorf("AppendWait with a cancelled context: %v, want ErrFull and context.Canceled", err)
		}
		// A waiter, then the first chunk's blobs acknowledged and freed.
		done := make(chan error, 1)
		var got shm.Handle
		go func() {
			var err error
			got, err = s.AppendWait(context.Background(), blob(100, 1000))
			done <- err
		}()
		for _, h := range hs[:7] {
			if err := s.Acknowledge(h); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(2 * time.Second)
		for freed := 0; freed == 0; {
			// The first pass notes when the chunk was seen all
			// acknowledged; the decay counts from then.
			n, err := s.Cleanup()
			if err != nil {
				t.Fatal(err)
			}
			freed += n
			clock.Advance(2 * time.Second)
		}
		if err := <-done; err != nil {
			t.Fatalf("AppendWait: %v", err)
		}
		wantBlob(t, s, got, blob(100, 1000))
		for i, h := range hs[7:] {
			wantBlob(t, s, h, blob(7+i, 1000))
		}
		if _, err := s.Resolve(hs[0]); !errors.Is(err, shm.ErrGone) {
			t.Errorf("Resolve of a freed blob: %v, want ErrGone", err)
		}
	})
}
