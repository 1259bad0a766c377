package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
	"github.com/crashsim/crashsim/internal/shmbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// The shared-memory blob store of engine/shm (issue 12), one writer in one
// process, on the simulated machine's /dev/shm: appends of blobs of random
// sizes through 4 KiB chunks (so that chunks are prefetched, the head
// moves and chunks are sealed), acknowledgements of some, and cleanup
// passes that free the chunks whose blobs are all acknowledged. The store
// runs with no goroutine of its own (inline prefetch) and a manual clock,
// so that a run is a function of its seed.
//
//   - shm-append (process crash, F1): the writer is killed after every
//     operation and inside every copy; an append or acknowledgement that
//     returned survives (shared memory outlives the process). Recovery
//     attaches as another process would, runs Check, walks Entries and
//     resolves every blob found; the state is the blobs not acknowledged,
//     in append order (shmPending). It then appends on, past whatever the
//     dead writer reserved.
//   - shm-append-power (power failure, F2): shared memory is lost; the
//     writer also kept each handle its appends returned in a file on the
//     disk, synced. Recovery is cleanup and a fresh namespace: the state
//     is empty, and each handle kept on the disk — from before the power
//     failure — must not resolve in the new namespace, even where it holds
//     a blob of the same size at the same place (nothing stale attached).
//
// The bug variants are hidden options of the real protocol
// (internal/shmbug), explored under process crash:
//
//   - shm-bug-publish-before-data: an append publishes its entry word
//     before it copies the blob: a writer killed in between leaves a torn
//     blob that readers take for whole;
//   - shm-bug-split-publish: an append publishes its entry word as two
//     32-bit stores: a writer killed in between leaves a published entry
//     of the wrong size, which no reader can account for;
//   - shm-bug-free-unacked: the cleaner frees sealed chunks after their
//     decay whether or not their blobs were acknowledged;
//   - shm-bug-view-no-gen-check, explored under power failure like
//     shm-append-power: the recovery's View reads the chunk a stale
//     handle's slot holds now, in the fresh namespace, and takes the
//     entry there — published, of the handle's size — for the handle's
//     (ABA). engine/shm's TestViewStaleHandle and TestViewFreesItsChunk
//     catch the same bug after a slot is recycled and after a free while
//     a view is in use.
//
// Several writers, readers and cleaners in several processes, one of
// them killed while the others go on, are shm-procs (shm_procs.go).
const (
	shmDir       = "/dev/shm"
	shmName      = "scn"
	shmHandles   = "/data/handles"
	shmAppends   = 12
	shmMinBlob   = 200
	shmMaxBlob   = 700
	shmChunkSize = 4096
)

// shmProbe is the blob a recovery appends to show the namespace goes on.
const shmProbe = "after the crash"

// shmEpoch is the manual clock's start in the workload; a recovery runs
// later, with a clock of its own.
var shmEpoch = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func init() {
	register(
		func() *sim.Scenario {
			return shmAppend("shm-append", "a blob store in shared memory (engine/shm): appends, acknowledgements and cleanup through 4 KiB chunks; a killed writer leaves whole blobs or none", shmbug.None)
		},
		func() *sim.Scenario {
			return shmPower("shm-append-power", "a blob store in shared memory (engine/shm), handles kept in a file: after a power failure, cleanup and a fresh namespace where no old handle resolves", shmbug.None)
		},
		func() *sim.Scenario {
			return shmAppend("shm-bug-publish-before-data", "BUG: a blob store's append publishes its entry before it copies the blob", shmbug.PublishBeforeData)
		},
		func() *sim.Scenario {
			return shmAppend("shm-bug-split-publish", "BUG: a blob store's append publishes its entry word as two 32-bit stores, state first, size second", shmbug.SplitPublish)
		},
		func() *sim.Scenario {
			return shmAppend("shm-bug-free-unacked", "BUG: a blob store's cleaner frees chunks whose blobs were not all acknowledged, before their TTL", shmbug.FreeUnacked)
		},
		func() *sim.Scenario {
			return shmPower("shm-bug-view-no-gen-check", "BUG: a blob store's zero-copy View reads the chunk a handle's slot holds now, without the generation check", shmbug.ViewNoGenCheck)
		},
	)
}

// Inputs of shmPending.
type (
	// shmPut appends Blob.
	shmPut struct{ Blob string }
	// shmAck acknowledges Blob.
	shmAck struct{ Blob string }
)

// shmPending models the blobs of a store not yet acknowledged, in the
// order they were appended: the work a consumer that restarts finds
// (Entries). Acknowledged blobs are out of it, since the cleaner may free
// them at any time after. Its state is a []string.
func shmPending() models.Model {
	return models.Model{
		Name: "pending-blobs",
		Init: func() any { return []string{} },
		Apply: func(state, input any) (any, any) {
			s := state.([]string)
			switch in := input.(type) {
			case shmPut:
				return append(slices.Clip(s), in.Blob), nil
			case shmAck:
				i := slices.Index(s, in.Blob)
				if i < 0 {
					return s, nil
				}
				return slices.Delete(slices.Clone(s), i, i+1), nil
			}
			panic(fmt.Sprintf("scenarios: pending-blobs: unknown input %T", input))
		},
		Equal: func(a, b any) bool { return slices.Equal(a.([]string), b.([]string)) },
		Diff: func(want, got any) string {
			w, g := want.([]string), got.([]string)
			for i := range min(len(w), len(g)) {
				if w[i] != g[i] {
					return fmt.Sprintf("blob %d is %s, want %s", i, shmShort(g[i]), shmShort(w[i]))
				}
			}
			return fmt.Sprintf("%d blobs, want %d", len(g), len(w))
		},
		DescribeInput: func(input any) string {
			switch in := input.(type) {
			case shmPut:
				return fmt.Sprintf("append(%s)", shmShort(in.Blob))
			case shmAck:
				return fmt.Sprintf("ack(%s)", shmShort(in.Blob))
			}
			return fmt.Sprint(input)
		},
		DescribeState: func(state any) string {
			var b strings.Builder
			for i, s := range state.([]string) {
				if i > 0 {
					b.WriteString(" ")
				}
				b.WriteString(shmShort(s))
			}
			return "[" + b.String() + "]"
		},
	}
}

// shmShort names a blob by its head, which says which blob it is, or
// for a blob that has none (torn, say) by its first bytes, quoted.
func shmShort(s string) string {
	if i := strings.IndexByte(s, '|'); i >= 0 && i < 16 {
		return fmt.Sprintf("%s|…(%d bytes)", s[:i], len(s))
	}
	if len(s) > 12 {
		return fmt.Sprintf("%q…(%d bytes)", s[:12], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// shmOptions are the store's options on the simulated machine.
func shmOptions(env *sim.Env, clock shm.Clock, bug shmbug.Bug) *shm.Options {
	o := &shm.Options{
		FS: env.FS, Dir: shmDir, ChunkSize: shmChunkSize, MaxChunks: 6,
		Decay: time.Second, TTL: time.Hour, Prefetch: shm.PrefetchInline, Clock: clock,
	}
	if bug != shmbug.None {
		shmbug.Set(o, bug)
	}
	return o
}

// shmBlob is the i-th blob of a run: its head says i, its size and the
// rest of its bytes are drawn from the seed.
func shmBlob(env *sim.Env, i int) []byte {
	head := fmt.Sprintf("blob %02d|", i)
	b := make([]byte, len(head)+shmMinBlob+env.Rand.IntN(shmMaxBlob-shmMinBlob))
	copy(b, head)
	for k := len(head); k < len(b); k++ {
		b[k] = byte('a' + env.Rand.IntN(26))
	}
	return b
}

func shmAppend(name, doc string, bug shmbug.Bug) *sim.Scenario {
	return &sim.Scenario{
		Name:   name,
		Doc:    doc,
		Faults: []sim.Fault{sim.ProcessCrash},
		Model:  shmPending(),
		Run: func(env *sim.Env) error {
			clock := shm.NewManualClock(shmEpoch)
			s, err := shm.Create(shmName, shmOptions(env, clock, bug))
			if err != nil {
				return err
			}
			defer s.Close()
			type appended struct {
				h    shm.Handle
				blob string
			}
			var pending []appended
			for i := range shmAppends {
				b := shmBlob(env, i)
				env.Invoke(shmPut{Blob: string(b)})
				h, err := s.Append(b)
				env.Return(err)
				if err != nil {
					return err
				}
				env.DurableAll() // in shared memory, which outlives the process
				pending = append(pending, appended{h, string(b)})
				// A second later the cleaner runs; every third append, a
				// consumer acknowledges two blobs, mostly the oldest: the
				// first chunk is sealed before its blobs are all
				// acknowledged, and freed after.
				clock.Advance(time.Second)
				if _, err := s.Cleanup(); err != nil {
					return err
				}
				if i%3 != 2 {
					continue
				}
				for range 2 {
					k := 0
					if env.Rand.IntN(4) == 0 {
						k = env.Rand.IntN(len(pending))
					}
					a := pending[k]
					env.Invoke(shmAck{Blob: a.blob})
					err := s.Acknowledge(a.h)
					env.Return(err)
					if err != nil && !errors.Is(err, shm.ErrGone) {
						// ErrGone: freed unacknowledged, which the
						// check reports; the workload goes on.
						return err
					}
					env.DurableAll()
					pending = slices.Delete(pending, k, k+1)
				}
			}
			for range 2 {
				clock.Advance(time.Second)
				if _, err := s.Cleanup(); err != nil {
					return err
				}
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			state := []string{}
			clock := shm.NewManualClock(shmEpoch.Add(time.Hour / 2))
			o := shmOptions(env, clock, shmbug.None)
			s, err := shm.Attach(shmName, o)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return state, nil // killed before Create made the control object
			case errors.Is(err, shm.ErrNotReady):
				// Killed inside Create, before any append: start afresh.
				if _, err := shm.CleanupNamespace(shmName, o); err != nil {
					return nil, err
				}
				if s, err = shm.Create(shmName, o); err != nil {
					return nil, err
				}
			case err != nil:
				return nil, err
			}
			defer s.Close()
			if err := s.Check(); err != nil {
				return nil, err
			}
			for e, err := range s.Entries() {
				if err != nil {
					return nil, err
				}
				b, err := s.Resolve(e.Handle)
				if err != nil {
					return nil, fmt.Errorf("Resolve(%v) of an entry: %w", e.Handle, err)
				}
				switch {
				case string(b) == shmProbe:
					// An earlier recovery's, which crashed: not the
					// workload's.
					if err := s.Acknowledge(e.Handle); err != nil {
						return nil, err
					}
				case !e.Acked:
					state = append(state, string(b))
				}
			}
			// The namespace goes on: an append past whatever the dead
			// writer reserved, and a cleanup pass.
			b := []byte(shmProbe)
			h, err := s.Append(b)
			if err != nil {
				return nil, fmt.Errorf("an append after the crash: %w", err)
			}
			if got, err := s.Resolve(h); err != nil || string(got) != string(b) {
				return nil, fmt.Errorf("an append after the crash: %v resolves to %q, %v", h, got, err)
			}
			if err := s.Acknowledge(h); err != nil {
				return nil, err
			}
			if _, err := s.Cleanup(); err != nil {
				return nil, err
			}
			return state, s.Check()
		},
	}
}

func shmPower(name, doc string, bug shmbug.Bug) *sim.Scenario {
	return &sim.Scenario{
		Name:   name,
		Doc:    doc,
		Faults: []sim.Fault{sim.PowerFailure},
		Model:  shmPending(),
		Run: func(env *sim.Env) error {
			if err := engine.MkdirAllDurable(env.FS, "/data", 0o755); err != nil {
				return err
			}
			f, err := env.FS.OpenFile(shmHandles, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := engine.SyncParent(env.FS, shmHandles); err != nil {
				return err
			}
			clock := shm.NewManualClock(shmEpoch)
			s, err := shm.Create(shmName, shmOptions(env, clock, shmbug.None))
			if err != nil {
				return err
			}
			defer s.Close()
			for i := range shmAppends / 2 {
				b := shmBlob(env, i)
				// Nothing is durable: shared memory does not survive a
				// power failure.
				env.Invoke(shmPut{Blob: string(b)})
				h, err := s.Append(b)
				env.Return(err)
				if err != nil {
					return err
				}
				hb, _ := h.MarshalBinary()
				if _, err := f.WriteAt(hb, int64(i*shm.HandleLen)); err != nil {
					return err
				}
				if err := f.Sync(); err != nil {
					return err
				}
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			clock := shm.NewManualClock(shmEpoch.Add(time.Hour))
			o := shmOptions(env, clock, bug) // the bug is the reader's
			if _, err := shm.CleanupNamespace(shmName, o); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			s, err := shm.Create(shmName, o)
			if err != nil {
				return nil, err
			}
			defer s.Close()
			stale, err := shmKeptHandles(env)
			if err != nil {
				return nil, err
			}
			if err := shmStaleHandlesResolveNot(s, stale); err != nil {
				return nil, err
			}
			// The blobs of before are lost with shared memory: none is
			// pending.
			return []string{}, s.Check()
		},
	}
}

// shmKeptHandles reads the handles a workload kept in shmHandles, as a
// power failure left them: none if the file is gone.
func shmKeptHandles(env *sim.Env) ([]shm.Handle, error) {
	var stale []shm.Handle
	b, err := engine.ReadFile(env.FS, shmHandles)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for k := 0; k+shm.HandleLen <= len(b); k += shm.HandleLen {
		var h shm.Handle
		if err := h.UnmarshalBinary(b[k : k+shm.HandleLen]); err != nil {
			return nil, err
		}
		stale = append(stale, h)
	}
	return stale, nil
}

// shmStaleHandlesResolveNot checks that handles from before a power
// failure name nothing in s, a namespace created since, even once it
// holds blobs of the same sizes where the old one did: it appends those
// blobs, in the order of stale, then resolves and views each stale
// handle (nothing stale attached).
func shmStaleHandlesResolveNot(s *shm.Store, stale []shm.Handle) error {
	for _, h := range stale {
		if h.Size > uint32(s.MaxBlob()) {
			continue // garbage where a write did not persist
		}
		if _, err := s.Append(make([]byte, h.Size)); err != nil {
			return err
		}
	}
	for _, h := range stale {
		b, err := s.Resolve(h)
		if err == nil {
			return fmt.Errorf("a handle from before the power failure, %v, resolves in the new namespace to %q", h, shmShort(string(b)))
		}
		if !errors.Is(err, shm.ErrNotFound) && !errors.Is(err, shm.ErrGone) && !errors.Is(err, shm.ErrHandle) {
			return fmt.Errorf("a handle from before the power failure, %v: %w", h, err)
		}
		// And in place: View checks the generation too.
		var seen []byte
		err = s.View(h, func(v []byte) { seen = append(seen, v...) })
		if seen != nil || err == nil {
			return fmt.Errorf("a handle from before the power failure, %v, views in the new namespace %q (%v)", h, shmShort(string(seen)), err)
		}
		if !errors.Is(err, shm.ErrNotFound) && !errors.Is(err, shm.ErrGone) && !errors.Is(err, shm.ErrHandle) {
			return fmt.Errorf("a handle from before the power failure, %v, in View: %w", h, err)
		}
	}
	return nil
}
