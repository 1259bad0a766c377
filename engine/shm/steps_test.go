package shm_test

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
	"github.com/crashsim/crashsim/internal/shmbug"
)

// victimWork is what a victim does, in the tests that stop it between two
// steps of a protocol: appends of blobs 0, 1, … of 700 bytes through three
// chunks (chunk creations, prefetches, head moves), acknowledgements of
// the first chunk's blobs, and cleanup passes that free it. done records
// the appends that returned and the acknowledgements that returned.
func victimWork(s *shm.Store, clock *shm.ManualClock, done *victimLog, report func(what string, i int, h shm.Handle)) error {
	if report == nil {
		report = func(string, int, shm.Handle) {}
	}
	var first []shm.Handle
	for i := 0; ; i++ {
		done.invoked = i
		report("invoke", i, shm.Handle{})
		h, err := s.Append(blob(i, 700))
		if err != nil {
			return err
		}
		done.appended = append(done.appended, h)
		report("appended", i, h)
		if h.Chunk == done.appended[0].Chunk {
			first = append(first, h)
		}
		if len(done.appended) > 2*len(first)+2 {
			break
		}
	}
	done.invoked = -1
	for _, h := range first {
		done.acking = h
		report("acking", 0, h)
		if err := s.Acknowledge(h); err != nil {
			return err
		}
		done.acked[h] = true
		report("acked", 0, h)
	}
	done.acking = shm.Handle{}
	for range 3 {
		if _, err := s.Cleanup(); err != nil {
			return err
		}
		clock.Advance(time.Second)
	}
	return nil
}

// victimLog is what the victim completed before it was stopped.
type victimLog struct {
	appended []shm.Handle
	invoked  int // the blob of the append in progress, or -1
	acked    map[shm.Handle]bool
	acking   shm.Handle
}

// TestStopBetweenSteps stops a victim — as if its process were killed —
// after each step of every protocol it runs, in turn: the k-th step of a
// run for k = 0, 1, 2, … until a run completes; the victim's goroutine
// ends there (runtime.Goexit) and leaves shared memory as it was. Then
// another Store, as another process would, finds what checkSurvivor says.
func TestStopBetweenSteps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
		steps := map[string]int{}
		stopEverywhere(t, fsys, dir, shmbug.None, func(k int, step string, err error) {
			steps[step]++
			if err != nil {
				t.Errorf("stopped after step %d, %s: %v", k, step, err)
			}
		})
		for _, step := range []string{"created", "slot-claimed", "file-created", "chunk-initialized", "chunk-live",
			"next-installed", "head-moved", "reserved", "first-write", "copied", "published", "sealed",
			"ack-marked", "ack-counted", "counted", "acked-since", "freeing", "unlinked", "freed"} {
			if steps[step] == 0 {
				t.Errorf("never stopped after step %q (stopped after: %v)", step, steps)
			}
		}
	})
}

// TestStopBetweenStepsBugs: the same stops catch the bug variants of the
// append protocol — a blob published before its bytes, a word published
// in two halves — each at the step between the two.
func TestStopBetweenStepsBugs(t *testing.T) {
	for _, c := range []struct {
		bug  shmbug.Bug
		step string
	}{
		{shmbug.PublishBeforeData, "published"},
		{shmbug.SplitPublish, "published-half"},
	} {
		forEachBackend(t, func(t *testing.T, fsys engine.FS, dir string) {
			caught := map[string]int{}
			stopEverywhere(t, fsys, dir, c.bug, func(k int, step string, err error) {
				if err != nil {
					caught[step]++
				}
			})
			if caught[c.step] == 0 {
				t.Errorf("%v: not caught after step %s (caught after %v)", c.bug, c.step, caught)
			}
		})
	}
}

// stopEverywhere runs victimWork with bug, stopped after its k-th step for
// k = 0, 1, … until a run completes, and calls found with what
// checkSurvivor says of each stop.
func stopEverywhere(t *testing.T, fsys engine.FS, dir string, bug shmbug.Bug, found func(k int, step string, err error)) {
	for k := 0; ; k++ {
		name := "stop" + strconv.Itoa(k)
		clock := shm.NewManualClock(epoch)
		o := small(fsys, dir, clock)
		shmbug.Set(o, bug)
		var stoppedAt string
		seen := 0
		shm.SetHook(o, func(step string) {
			if seen == k {
				stoppedAt = step
				runtime.Goexit()
			}
			seen++
		})
		log := &victimLog{acked: map[shm.Handle]bool{}, invoked: -1}
		var err error
		finished := make(chan bool)
		go func() {
			completed := false
			defer func() { finished <- completed }()
			var s *shm.Store
			if s, err = shm.Create(name, o); err != nil {
				completed = true
				return
			}
			err = victimWork(s, clock, log, nil)
			completed = true
		}()
		if <-finished {
			if err != nil {
				t.Fatalf("the victim without a stop: %v", err)
			}
			if k < 10 {
				t.Fatalf("the victim ran only %d steps", k)
			}
			return
		}
		s, err := shm.Attach(name, small(fsys, dir, clock))
		if err != nil {
			found(k, stoppedAt, err)
			continue
		}
		found(k, stoppedAt, checkSurvivor(s, fsys, dir, clock, log))
		s.Close()
	}
}

// checkSurvivor returns the first way in which what another Store finds
// after the victim stopped is wrong. It must find: the namespace passes
// Check; every blob whose append returned and which was not acknowledged
// is there, whole, in append order; the blob of the append in progress is
// there whole or not at all; nothing else is. Appends go on past the dead
// writer's reservation, and the cleaner — once the TTL has passed —
// finishes or reclaims whatever the victim left half-done, until the
// namespace holds at most its head and next chunks and the objects in
// the directory are exactly the live chunks.
func checkSurvivor(s *shm.Store, fsys engine.FS, dir string, clock *shm.ManualClock, log *victimLog) error {
	if err := s.Check(); err != nil {
		return fmt.Errorf("Check: %w", err)
	}
	blobOf := map[shm.Handle]int{}
	for i, h := range log.appended {
		blobOf[h] = i
	}
	found := map[int]bool{}
	last := -1
	for e, err := range s.Entries() {
		if err != nil {
			return fmt.Errorf("Entries: %w", err)
		}
		got, err := s.Resolve(e.Handle)
		if err != nil {
			return fmt.Errorf("Resolve of %v found by Entries: %w", e.Handle, err)
		}
		i, ok := blobOf[e.Handle]
		if !ok {
			i = log.invoked
			if i < 0 {
				return fmt.Errorf("Entries finds %v, which no append made", e.Handle)
			}
		}
		if !bytes.Equal(got, blob(i, 700)) {
			return fmt.Errorf("%v holds %q, want blob %d", e.Handle, abbrev(got), i)
		}
		if i <= last {
			return fmt.Errorf("blob %d after blob %d", i, last)
		}
		last = i
		found[i] = true
		if e.Acked && !log.acked[e.Handle] && e.Handle != log.acking {
			return fmt.Errorf("%v acknowledged, never by the victim", e.Handle)
		}
	}
	for i, h := range log.appended {
		if !found[i] && !log.acked[h] && h != log.acking {
			return fmt.Errorf("blob %d (%v), appended and not acknowledged, is missing", i, h)
		}
	}
	var more []shm.Handle
	for i := range 25 {
		h, err := s.Append(blob(1000+i, 700))
		if err != nil {
			return fmt.Errorf("an append after the victim stopped: %w", err)
		}
		more = append(more, h)
	}
	for i, h := range more {
		got, err := s.Resolve(h)
		if err != nil || !bytes.Equal(got, blob(1000+i, 700)) {
			return fmt.Errorf("an append after the victim stopped: %v resolves to %q, %v", h, abbrev(got), err)
		}
	}
	if err := s.Check(); err != nil {
		return fmt.Errorf("Check after more appends: %w", err)
	}
	for _, h := range more {
		if err := s.Acknowledge(h); err != nil {
			return err
		}
	}
	clock.Advance(2 * time.Minute)
	for range 4 {
		if _, err := s.Cleanup(); err != nil {
			return fmt.Errorf("Cleanup: %w", err)
		}
		clock.Advance(2 * time.Minute)
	}
	st, err := s.Stats()
	if err != nil {
		return err
	}
	if st.Chunks > 2 {
		return fmt.Errorf("%d chunks left after the cleaner ran past every TTL: %+v", st.Chunks, st)
	}
	if err := s.Check(); err != nil {
		return fmt.Errorf("Check after cleanup: %w", err)
	}
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return err
	}
	var files []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), s.Name()+"_data_") {
			files = append(files, e.Name())
		}
	}
	if len(files) != st.Live {
		return fmt.Errorf("%d chunk objects of %s in the directory (%v), %d live chunks", len(files), s.Name(), files, st.Live)
	}
	return nil
}
