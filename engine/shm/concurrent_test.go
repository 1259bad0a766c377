package shm_test

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
)

// TestConcurrent: writers in several goroutines of three Stores (three
// attachments, as three processes would have) append at once through
// small chunks, with the prefetcher at work; readers resolve and view
// every handle as it comes — each must give its own blob's bytes — and
// acknowledge it; a cleaner frees chunks as they are all acknowledged.
// What holds under every interleaving: every blob reads back whole; no two
// handles overlap; after the last acknowledgement and a pass, only live
// chunks' objects remain and Check passes.
func TestConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		o := &shm.Options{FS: fsys, Dir: dir, ChunkSize: 64 << 10, MaxChunks: 256, Decay: -1, TTL: time.Hour}
		stores := []*shm.Store{mustCreate(t, "conc", o), mustAttach(t, "conc", o), mustAttach(t, "conc", o)}
		const writers, perWriter = 6, 300
		type appended struct {
			h shm.Handle
			w int
			i int
		}
		handles := make(chan appended, 64)
		var all []appended
		var mu sync.Mutex
		var writersWG, readersWG sync.WaitGroup
		errs := make(chan error, 100)
		for w := range writers {
			s := stores[w%len(stores)]
			writersWG.Go(func() {
				for i := range perWriter {
					b := blob(w*perWriter+i, (w*37+i*101)%5000)
					h, err := s.Append(b)
					if err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
					handles <- appended{h, w, i}
				}
			})
		}
		for r := range 3 {
			s := stores[(r+1)%len(stores)]
			readersWG.Go(func() {
				for a := range handles {
					want := blob(a.w*perWriter+a.i, (a.w*37+a.i*101)%5000)
					got, err := s.Resolve(a.h)
					if err != nil || !bytes.Equal(got, want) {
						errs <- fmt.Errorf("Resolve(%v) of writer %d's blob %d: %q, %v", a.h, a.w, a.i, abbrev(got), err)
						continue
					}
					if err := s.View(a.h, func(b []byte) {
						if !bytes.Equal(b, want) {
							errs <- fmt.Errorf("View(%v): %q", a.h, abbrev(b))
						}
					}); err != nil {
						errs <- fmt.Errorf("View(%v): %w", a.h, err)
					}
					if err := s.Acknowledge(a.h); err != nil {
						errs <- fmt.Errorf("Acknowledge(%v): %w", a.h, err)
					}
					mu.Lock()
					all = append(all, a)
					mu.Unlock()
				}
			})
		}
		stop := make(chan struct{})
		var cleanerWG sync.WaitGroup
		cleanerWG.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := stores[2].Cleanup(); err != nil {
					errs <- fmt.Errorf("Cleanup: %w", err)
				}
			}
		})
		writersWG.Wait()
		close(handles)
		readersWG.Wait()
		close(stop)
		cleanerWG.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if len(all) != writers*perWriter {
			t.Fatalf("%d blobs read, want %d", len(all), writers*perWriter)
		}
		slices.SortFunc(all, func(a, b appended) int {
			switch {
			case a.h.Chunk != b.h.Chunk:
				return int(a.h.Chunk) - int(b.h.Chunk)
			case a.h.Gen != b.h.Gen:
				return int(a.h.Gen) - int(b.h.Gen)
			}
			return int(a.h.Offset) - int(b.h.Offset)
		})
		for k := 1; k < len(all); k++ {
			a, b := all[k-1].h, all[k].h
			if a.Chunk == b.Chunk && a.Gen == b.Gen && a.Offset+a.Size > b.Offset-8 {
				t.Errorf("handles %v and %v overlap", a, b)
			}
		}
		for _, s := range stores {
			if _, err := s.Cleanup(); err != nil {
				t.Fatal(err)
			}
		}
		st, err := stores[0].Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Live > 3 {
			t.Errorf("%d chunks live after every blob was acknowledged and freed: %+v", st.Live, st)
		}
		for _, e := range entries(t, stores[1]) {
			if !e.Acked {
				t.Errorf("%v not acknowledged", e.Handle)
			}
		}
	})
}
