package scenarios

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
	"github.com/crashsim/crashsim/internal/shmbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// The blob store of engine/shm used by several processes at once, under
// the deterministic scheduler (issues 11 and 12, section 3): the
// workload's own process creates the namespace and starts
//
//   - writer-a, a process appending shmProcsAppends blobs, and writer-b,
//     a process of two threads appending as many each, all into one
//     namespace, lock-free; each sends the handle its append returned,
//     by value, to the reader (a pipe between processes: a queue under
//     sim.Mutex);
//   - reader, a process that resolves each handle it receives, checks
//     the blob against what its writer appended, and acknowledges it,
//     taking its time: blobs wait in shared memory while it works;
//   - cleaner, a process running Cleanup every 300 ms of simulated time
//     (the machine's clock is the namespace's), which frees the chunks
//     whose blobs are all acknowledged once their decay has passed. If
//     the cleaner dies, the workload starts another cleaner process
//     beside the survivors, which finishes whatever the dead one left.
//
// Blobs are 600 to 900 bytes in 4 KiB chunks, so that the writers fill
// two or three chunks: chunks are prefetched, sealed, and freed behind
// the reader.
//
//   - shm-procs (ProcessKill, F1 of one process): the explorer kills
//     each process — a writer mid-append, the reader mid-resolve or
//     mid-acknowledgement, the cleaner mid-free — at each of its
//     operations while the others go on. A survivor must never be
//     hurt: no writer fails past a dead writer's reservation, and the
//     reader never resolves a torn or foreign blob, nor loses one not
//     acknowledged (it writes each bad read to /data/bad-reads, which the
//     recovery returns, so that it is judged even when it does not
//     show in an output). Recovery attaches as a process would, runs
//     Check, and returns the blobs not acknowledged, each checked
//     against its name (shmProcsModel); a blob appended by an operation
//     the kill left open may be there or not.
//   - shm-procs-power (power failure, F2): the reader keeps each handle
//     it receives in a file on the disk, synced. Shared memory is lost:
//     recovery is cleanup and a fresh namespace, where no handle kept
//     from before resolves or views, even where the new namespace holds
//     a blob of the same size at the same place.
//
// The bug variants are those of shm-append (internal/shmbug) in this
// setting: shm-procs-bug-publish-before-data and
// shm-procs-bug-split-publish (the writers' appends; caught when a
// writer is killed mid-append, and only then), shm-procs-bug-free-unacked
// (the cleaners'; caught at every kill, since it frees blobs the slow
// reader has not acknowledged yet, with no crash at all: the reader
// finds them gone), all under ProcessKill, and
// shm-procs-bug-view-no-gen-check under power failure, as
// shm-bug-view-no-gen-check (the ABA of a recycled slot needs a stale
// handle: one from before a power failure, here of a namespace written by
// several processes).
//
// Each operation is recorded with its input and output (Env.Invoke,
// Env.Return), resolves included, in the terms of models.BlobStore:
// blobs are named by their head (writer, thread, index), handles by
// their text. Each thread is a client, and the history is judged by
// durable linearizability (sim.DurableLinearizability) against
// shmProcsModel: the outputs, crash or not — a resolve that finds a
// blob gone, or another blob, is no output of any order of the
// operations — and the recovered blobs as the history's final
// observation, an operation the kill left open pending (it may or may
// not have taken effect). models.BlobStore itself does not fit: it
// models no freeing, and the cleaner frees acknowledged blobs at a time
// of its own. shm-procs-power is judged by buffered durable
// linearizability: no sync makes a blob in shared memory durable (none
// is marked, Env.Syncing), so a power failure may lose every operation,
// as a suffix of a linearization, and the recovery's fresh namespace
// ([]) is the state before all of them; the reader's outputs are judged
// still. (Plain durable linearizability would demand every returned
// append back from memory that a power failure wipes.)
const (
	shmProcsAppends = 3 // per writer thread
	shmProcsMinBlob = 600
	shmProcsMaxBlob = 900
	shmProcsBad     = "/data/bad-reads"
)

func init() {
	register(
		func() *sim.Scenario {
			return shmProcs("shm-procs", "a blob store in shared memory (engine/shm) shared by two writer processes (three threads), a reader and a cleaner; any one of them is killed at any of its operations while the others go on", shmbug.None)
		},
		func() *sim.Scenario {
			return shmProcsPower("shm-procs-power", "a blob store in shared memory written by several processes, handles kept in a file: after a power failure, cleanup and a fresh namespace where no old handle resolves", shmbug.None)
		},
		func() *sim.Scenario {
			return shmProcs("shm-procs-bug-publish-before-data", "BUG: with several processes, a blob store's append publishes its entry before it copies the blob", shmbug.PublishBeforeData)
		},
		func() *sim.Scenario {
			return shmProcs("shm-procs-bug-split-publish", "BUG: with several processes, a blob store's append publishes its entry word as two 32-bit stores", shmbug.SplitPublish)
		},
		func() *sim.Scenario {
			return shmProcs("shm-procs-bug-free-unacked", "BUG: with several processes, a blob store's cleaner frees chunks whose blobs were not all acknowledged, before their TTL", shmbug.FreeUnacked)
		},
		func() *sim.Scenario {
			return shmProcsPower("shm-procs-bug-view-no-gen-check", "BUG: with several processes, a blob store's zero-copy View reads the chunk a handle's slot holds now, without the generation check", shmbug.ViewNoGenCheck)
		},
	)
}

// shmProcsModel is models.BlobStore's view of what a consumer that
// restarts finds: the blobs not acknowledged, by name, sorted (the order
// in which concurrent appends reserved their places is theirs). Unlike
// models.BlobStore it allows a cleaner: acknowledged blobs leave the
// state, since they may be freed at any time after. Its inputs are
// models.BlobAppend (Blob: the blob's name; Handle: "", since the store
// picks the handle, which the append returns: any handle is its output,
// shmAnyHandle), and models.BlobResolve and models.BlobAck in
// shmProcsNamed, which says the name of the blob the handle was sent
// with. Outputs are those of models.BlobStore, a blob being its name;
// the workload returns them (Env.Return) as the store gave them, so that
// durable linearizability can judge them as the prefix check does the
// recovered states.
func shmProcsModel() models.Model {
	return models.Model{
		Name: "pending-blob-names",
		Init: func() any { return []string{} },
		Apply: func(state, input any) (any, any) {
			s := state.([]string)
			switch in := input.(type) {
			case models.BlobAppend:
				next := append(slices.Clone(s), in.Blob)
				slices.Sort(next)
				return next, shmAnyHandle{}
			case shmProcsNamed:
				switch op := in.Op.(type) {
				case models.BlobResolve:
					return s, models.BlobValue{Blob: in.Name, OK: slices.Contains(s, in.Name)}
				case models.BlobAck:
					i := slices.Index(s, in.Name)
					if i < 0 {
						return s, false
					}
					return slices.Delete(slices.Clone(s), i, i+1), true
				default:
					panic(fmt.Sprintf("scenarios: pending-blob-names: unknown input %T", op))
				}
			}
			panic(fmt.Sprintf("scenarios: pending-blob-names: unknown input %T", input))
		},
		Equal: func(a, b any) bool { return slices.Equal(a.([]string), b.([]string)) },
		EqualOutput: func(want, got any) bool {
			if _, any := want.(shmAnyHandle); any {
				_, isHandle := got.(string)
				return isHandle
			}
			return reflect.DeepEqual(want, got)
		},
		Diff: func(want, got any) string {
			w, g := want.([]string), got.([]string)
			var d []string
			for _, n := range g {
				if !slices.Contains(w, n) {
					d = append(d, "unexpected "+n)
				}
			}
			for _, n := range w {
				if !slices.Contains(g, n) {
					d = append(d, "missing "+n)
				}
			}
			return strings.Join(d, "; ")
		},
		DescribeInput: func(input any) string {
			switch in := input.(type) {
			case models.BlobAppend:
				return fmt.Sprintf("append(%s)", in.Blob)
			case shmProcsNamed:
				switch op := in.Op.(type) {
				case models.BlobResolve:
					return fmt.Sprintf("resolve(%s) of %s", op.Handle, in.Name)
				case models.BlobAck:
					return fmt.Sprintf("ack(%s) of %s", op.Handle, in.Name)
				}
			}
			return fmt.Sprint(input)
		},
		DescribeState: func(state any) string { return "[" + strings.Join(state.([]string), " ") + "]" },
	}
}

// shmAnyHandle is the model's output of an append: any handle, whose
// text the append returns.
type shmAnyHandle struct{}

// shmProcsNamed is a resolve or an acknowledgement (Op, in
// models.BlobStore's terms) of the handle of blob Name: what the reader
// knows from the message that brought the handle.
type shmProcsNamed struct {
	Op   any
	Name string
}

// shmProcsBlob is the blob named name: its head says the name, its size
// and the rest of its bytes are drawn from the name, so that any process
// can tell a blob from a torn or foreign one.
func shmProcsBlob(name string) []byte {
	h := fnv.New64a()
	h.Write([]byte(name))
	r := rand.New(rand.NewPCG(h.Sum64(), 0x73686d70726f6373))
	head := name + "|"
	b := make([]byte, len(head)+shmProcsMinBlob+r.IntN(shmProcsMaxBlob-shmProcsMinBlob))
	copy(b, head)
	for k := len(head); k < len(b); k++ {
		b[k] = byte('a' + r.IntN(26))
	}
	return b
}

// shmProcsNameOf returns the name a blob's head says, and whether the
// blob is that name's whole.
func shmProcsNameOf(b []byte) (string, bool) {
	name, _, ok := strings.Cut(string(b[:min(len(b), 16)]), "|")
	if !ok {
		return "", false
	}
	return name, string(b) == string(shmProcsBlob(name))
}

// simClock is the simulated machine's clock, which every process of it
// shares, moved on by later: the namespace's lifecycle runs on simulated
// time.
type simClock struct {
	m     *sim.Machine
	later time.Duration
}

func (c simClock) Now() time.Time { return c.m.Now().Add(c.later) }

// shmProcsLater is how much later than the workload's start a recovery
// runs: a recovery's machine is a new one, whose clock starts again at
// sim.ClockOrigin, but the time of the machine recovered has moved on
// past the workload's few simulated seconds (after a power failure, a
// namespace created again at the workload's first instant would have
// the old one's nonce: no real clock does that).
const shmProcsLater = 10 * time.Minute

func shmProcsOptions(env *sim.Env, later time.Duration, bug shmbug.Bug) *shm.Options {
	return shmOptions(env, simClock{env.Machine(), later}, bug)
}

// shmProcsMsg is a handle on its way from a writer to the reader.
type shmProcsMsg struct {
	name string
	h    shm.Handle
}

// shmProcsPipe carries handles from the writers to the reader, and says
// when the writers and the reader are done: a pipe and the supervisor's
// signals, under a sim.Mutex so that the scheduler sees every wait.
type shmProcsPipe struct {
	mu          sim.Mutex
	cond        sim.Cond
	queue       []shmProcsMsg
	writersDone bool
	readerDone  bool
}

func newShmProcsPipe() *shmProcsPipe {
	p := &shmProcsPipe{}
	p.cond.L = &p.mu
	return p
}

func (p *shmProcsPipe) send(m shmProcsMsg) {
	p.mu.Lock()
	p.queue = append(p.queue, m)
	p.mu.Unlock()
	p.cond.Broadcast()
}

// receive returns the next handle, or false once the writers are done
// and none is left.
func (p *shmProcsPipe) receive() (shmProcsMsg, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) == 0 && !p.writersDone {
		p.cond.Wait()
	}
	if len(p.queue) == 0 {
		return shmProcsMsg{}, false
	}
	m := p.queue[0]
	p.queue = p.queue[1:]
	return m, true
}

func (p *shmProcsPipe) set(flag *bool) {
	p.mu.Lock()
	*flag = true
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *shmProcsPipe) isSet(flag *bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return *flag
}

// shmProcsRun is the workload of the shm-procs scenarios: the supervisor
// (the workload's own process) creates the namespace and starts the
// writers, the reader and the cleaner. With durable, each append and
// acknowledgement is followed by Env.DurableAll, saying that shared
// memory outlives the process: under durable linearizability it only
// marks the trace (what returned is durable by definition), but it is a
// scheduling point, which the explored schedules keep. keep makes the
// reader keep each handle it receives in shmHandles, synced.
func shmProcsRun(env *sim.Env, bug shmbug.Bug, durable, keep bool) error {
	if err := engine.MkdirAllDurable(env.FS, "/data", 0o755); err != nil {
		return err
	}
	s, err := shm.Create(shmName, shmProcsOptions(env, 0, shmbug.None))
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil { // the namespace stays for the others
		return err
	}
	m := env.Machine()
	pipe := newShmProcsPipe()
	attach := func(env *sim.Env) (*shm.Store, error) { return shm.Attach(shmName, shmProcsOptions(env, 0, bug)) }

	writer := func(who string) func(env *sim.Env) error {
		return func(env *sim.Env) error {
			s, err := attach(env)
			if err != nil {
				return err
			}
			defer s.Close()
			for i := range shmProcsAppends {
				name := fmt.Sprintf("%s%d", who, i)
				b := shmProcsBlob(name)
				env.Invoke(models.BlobAppend{Blob: name})
				h, err := s.Append(b)
				if err != nil {
					env.Return(err)
					return fmt.Errorf("writer %s: append of %s: %w", who, name, err)
				}
				env.Return(h.String())
				if durable {
					env.DurableAll() // in shared memory, which outlives the process
				}
				pipe.send(shmProcsMsg{name, h})
				env.Sleep(100 * time.Millisecond)
			}
			return nil
		}
	}
	reader := func(env *sim.Env) error {
		s, err := attach(env)
		if err != nil {
			return err
		}
		defer s.Close()
		var kept engine.File
		if keep {
			if kept, err = env.FS.OpenFile(shmHandles, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
				return err
			}
			defer kept.Close()
			if err := engine.SyncParent(env.FS, shmHandles); err != nil {
				return err
			}
		}
		for n := 0; ; n++ {
			msg, ok := pipe.receive()
			if !ok {
				return nil
			}
			if keep {
				hb, _ := msg.h.MarshalBinary()
				if _, err := kept.WriteAt(hb, int64(n*shm.HandleLen)); err != nil {
					return err
				}
				if err := kept.Sync(); err != nil {
					return err
				}
			}
			env.Sleep(400 * time.Millisecond) // a slow consumer: blobs wait in shared memory
			hs := msg.h.String()
			env.Invoke(shmProcsNamed{models.BlobResolve{Handle: hs}, msg.name})
			b, err := s.Resolve(msg.h)
			switch name, whole := shmProcsNameOf(b); {
			case err != nil:
				env.Return(models.BlobValue{})
				if errors.Is(err, sim.ErrKilled) {
					return err
				}
				// Never acknowledged, so never freed before its TTL: a
				// correct store always has it.
				if err := shmProcsBadRead(env, fmt.Sprintf("resolve(%s) of %s: %v", hs, msg.name, err)); err != nil {
					return err
				}
				continue
			case name != msg.name || !whole:
				env.Return(models.BlobValue{Blob: shmShort(string(b)), OK: true})
				if err := shmProcsBadRead(env, fmt.Sprintf("resolve(%s) of %s: %s", hs, msg.name, shmShort(string(b)))); err != nil {
					return err
				}
				continue
			}
			env.Return(models.BlobValue{Blob: msg.name, OK: true})
			env.Invoke(shmProcsNamed{models.BlobAck{Handle: hs}, msg.name})
			err = s.Acknowledge(msg.h)
			env.Return(err == nil)
			if err != nil {
				return fmt.Errorf("reader: acknowledge %s of %s: %w", hs, msg.name, err)
			}
			if durable {
				env.DurableAll()
			}
		}
	}
	cleaner := func(env *sim.Env) error {
		s, err := attach(env)
		if err != nil {
			return err
		}
		defer s.Close()
		for !pipe.isSet(&pipe.readerDone) {
			env.Sleep(300 * time.Millisecond)
			if _, err := s.Cleanup(); err != nil {
				return fmt.Errorf("cleaner: %w", err)
			}
		}
		for range 2 { // the decay of the last chunks acknowledged
			env.Sleep(time.Second)
			if _, err := s.Cleanup(); err != nil {
				return fmt.Errorf("cleaner: %w", err)
			}
		}
		return nil
	}

	writers := []*sim.Thread{m.Start("writer-a").Go(writer("a"))}
	writers = append(writers, m.Start("writer-b").Go(func(env *sim.Env) error {
		t := env.Go(writer("c")) // a second thread of writer-b
		return errors.Join(writer("b")(env), t.Wait())
	}))
	tr := m.Start("reader").Go(reader)
	tc := m.Start("cleaner").Go(cleaner)
	// The supervisor restarts a dead cleaner beside the survivors.
	watch := env.Go(func(env *sim.Env) error {
		err := tc.Wait()
		if !errors.Is(err, sim.ErrKilled) {
			return err
		}
		return m.Start("cleaner-2").Go(cleaner).Wait()
	})
	var errs []error
	for _, t := range writers {
		if err := t.Wait(); err != nil && !errors.Is(err, sim.ErrKilled) {
			errs = append(errs, err)
		}
	}
	pipe.set(&pipe.writersDone)
	if err := tr.Wait(); err != nil && !errors.Is(err, sim.ErrKilled) {
		errs = append(errs, err)
	}
	pipe.set(&pipe.readerDone)
	if err := watch.Wait(); err != nil && !errors.Is(err, sim.ErrKilled) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// shmProcsBadRead records what the reader should never have read, for
// the recovery to return.
func shmProcsBadRead(env *sim.Env, what string) error {
	f, err := env.FS.OpenFile(shmProcsBad, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = engine.Append(f, []byte(what+"\n"))
	return err
}

func shmProcs(name, doc string, bug shmbug.Bug) *sim.Scenario {
	return &sim.Scenario{
		Name:   name,
		Doc:    doc,
		Faults: []sim.Fault{sim.ProcessKill},
		Model:  shmProcsModel(),
		// Shared memory outlives a killed process: what returned stays.
		Check: sim.DurableLinearizability,
		Run:   func(env *sim.Env) error { return shmProcsRun(env, bug, true, false) },
		Recover: func(env *sim.Env) (any, error) {
			state := []string{}
			if b, err := engine.ReadFile(env.FS, shmProcsBad); err == nil {
				for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
					state = append(state, "bad read: "+line)
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			o := shmProcsOptions(env, shmProcsLater, shmbug.None)
			s, err := shm.Attach(shmName, o)
			if err != nil {
				return nil, err // the supervisor, never killed, created it
			}
			defer s.Close()
			if err := s.Check(); err != nil {
				return nil, err
			}
			for e, err := range s.Entries() {
				if err != nil {
					return nil, err
				}
				if e.Acked {
					continue
				}
				b, err := s.Resolve(e.Handle)
				if err != nil {
					return nil, fmt.Errorf("Resolve(%v) of an entry: %w", e.Handle, err)
				}
				name, whole := shmProcsNameOf(b)
				if !whole {
					name = "torn " + shmShort(string(b))
				}
				state = append(state, name)
			}
			slices.Sort(state)
			// The namespace goes on: an append past whatever a dead
			// writer reserved, and a cleanup pass.
			b := []byte(shmProbe)
			h, err := s.Append(b)
			if err != nil {
				return nil, fmt.Errorf("an append after the kill: %w", err)
			}
			if got, err := s.Resolve(h); err != nil || string(got) != string(b) {
				return nil, fmt.Errorf("an append after the kill: %v resolves to %q, %v", h, got, err)
			}
			if _, err := s.Cleanup(); err != nil {
				return nil, err
			}
			return state, s.Check()
		},
	}
}

func shmProcsPower(name, doc string, bug shmbug.Bug) *sim.Scenario {
	return &sim.Scenario{
		Name:   name,
		Doc:    doc,
		Faults: []sim.Fault{sim.PowerFailure},
		Model:  shmProcsModel(),
		// Shared memory does not survive a power failure and no sync
		// makes a blob durable (Env.Syncing is never called): any
		// suffix of a linearization may be lost — here all of it, to
		// the empty namespace of the recovery — while the outputs the
		// reader saw before the failure are still judged.
		Check: sim.BufferedDurableLinearizability,
		Run:   func(env *sim.Env) error { return shmProcsRun(env, shmbug.None, false, true) },
		Recover: func(env *sim.Env) (any, error) {
			o := shmProcsOptions(env, shmProcsLater, bug) // the bug is the reader's
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
			// Blobs of the same sizes at the same places: the stale
			// handles in the order the writers reserved them (the reader
			// kept them in the order it received them).
			slices.SortFunc(stale, func(a, b shm.Handle) int {
				return cmp.Or(cmp.Compare(a.Chunk, b.Chunk), cmp.Compare(a.Offset, b.Offset))
			})
			if err := shmStaleHandlesResolveNot(s, stale); err != nil {
				return nil, err
			}
			return []string{}, s.Check()
		},
	}
}
