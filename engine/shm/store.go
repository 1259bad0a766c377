package shm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/internal/shmbug"
)

// Store is a process's view of a namespace: the control object and the
// chunks it has mapped. Every method is safe for concurrent use, by any
// number of goroutines, beside any number of other processes attached to
// the same namespace.
type Store struct {
	fsys  engine.FS
	dir   string
	name  string
	hdr   NamespaceHeader
	ctl   engine.Region
	clock Clock
	mode  PrefetchMode
	bug   shmbug.Bug
	hook  func(step string) // a test's hook between two steps of a protocol

	maxBlob     uint32
	prefetchEnd uint32 // the used end past which the next chunk is prefetched

	// chunks are this process's mappings, by slot; a mapping whose slot
	// was freed and reused is replaced when the new generation is asked
	// for, or unmapped by Cleanup. cur is the chunk this process appends
	// to: the head when it last looked.
	chunks []atomic.Pointer[chunk]
	cur    atomic.Pointer[chunk]

	mu       sync.Mutex // serializes mapping and unmapping chunks, and Close
	closed   atomic.Bool
	slotHint atomic.Uint32 // where the next search for a free slot starts

	prefetchReq chan struct{}
	prefetchMu  sync.Mutex
	inFlight    chan struct{} // closed when the prefetch in flight ends; nil when none
	done        chan struct{}
	wg          sync.WaitGroup

	freedMu sync.Mutex
	freed   chan struct{} // closed when this process frees a chunk, then replaced

	local localStats
}

// chunk is a chunk this process has mapped.
type chunk struct {
	slot, gen uint32
	ref       uint64
	created   int64 // from its header, Unix ns
	r         engine.Region

	// published is the end of an entry this process published, the last
	// one it stored: the entry ending there has its word, and needs no
	// help from the next writer.
	published atomic.Uint32
	// lastUsed is the used word of the reservation of that entry (0:
	// none yet): an append tries it first, with no load of the word.
	lastUsed atomic.Uint64

	// pins counts the Views whose function holds a slice of the mapping;
	// an unmap asked for meanwhile (dying) is done by the last of them.
	pinMu    sync.Mutex
	pins     int
	dying    bool
	unmapped bool
}

// localStats are what this process did.
type localStats struct {
	prefetched    atomic.Uint64
	createdInline atomic.Uint64
	cleanupErrors atomic.Uint64
}

// checkName reports a namespace name that is not a plain file name.
func checkName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return fmt.Errorf("%w: %q", ErrName, name)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q: %q is not allowed", ErrName, name, c)
		}
	}
	return nil
}

func ctlName(name string) string { return name + "_ctrl" }

func chunkName(name string, gen uint32) string { return fmt.Sprintf("%s_data_%08x", name, gen) }

// isChunkName reports whether file is the name of a chunk of namespace
// name: <name>_data_ and 8 lower-case hex digits, nothing else.
func isChunkName(name, file string) bool {
	rest, ok := strings.CutPrefix(file, name+"_data_")
	if !ok || len(rest) != 8 {
		return false
	}
	for _, c := range []byte(rest) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Create creates the namespace name — its control object and first chunk
// — and attaches to it. It fails with an error wrapping fs.ErrExist if
// the namespace exists (Attach to it, or remove what a dead creator left
// with CleanupNamespace), ErrName, ErrOptions, and ErrNoSpace when shared
// memory is full (nothing is left then).
//
// Another process that attaches while Create runs gets ErrNotReady until
// the control object is whole: its magic number is stored last.
func Create(name string, o *Options) (*Store, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	c := o.withDefaults()
	hdr, err := c.namespaceHeader(name, c.Clock.Now())
	if err != nil {
		return nil, err
	}
	p := path.Join(c.Dir, ctlName(name))
	f, err := c.FS.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Store, error) {
		f.Close()
		c.FS.Remove(p)
		return nil, err
	}
	size := ctlSize(hdr.MaxChunks)
	if err := engine.Allocate(f, 0, size); err != nil {
		return fail(noSpace(err))
	}
	r, err := c.FS.Map(f, size)
	if err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		r.Close()
		c.FS.Remove(p)
		return nil, err
	}
	b := make([]byte, ctlIdentLen)
	hdr.Encode(b)
	err = r.Store32(ctlGenOff, firstGen(hdr.Nonce))
	if err == nil {
		_, err = r.WriteAt(b[8:], 8)
	}
	if err == nil {
		// The magic number last: until it is there, Attach says
		// ErrNotReady rather than read a half-written identity.
		err = r.Store64(0, binary.NativeEndian.Uint64(b))
	}
	if err != nil {
		r.Close()
		c.FS.Remove(p)
		return nil, err
	}
	s := newStore(name, &c, hdr, r)
	s.step("created")
	if err := s.advance(0, false); err != nil {
		s.Close()
		CleanupNamespace(name, &c)
		return nil, err
	}
	s.start()
	return s, nil
}

// Attach attaches to the namespace name, which another process (or this
// one) created. It fails with an error wrapping fs.ErrNotExist if there is
// no such namespace, ErrNotReady while its creator is still at work (or if
// it died then), ErrVersion for a namespace of another format, and
// ErrCorrupt for a control object this package did not write.
//
// The namespace's layout and lifecycle (chunk size, MaxChunks, prefetch
// threshold, decay, TTL) are those Create recorded; o gives this
// process's file system, directory, clock and prefetch mode.
func Attach(name string, o *Options) (*Store, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	c := o.withDefaults()
	p := path.Join(c.Dir, ctlName(name))
	f, err := c.FS.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < engine.PageSize {
		return nil, fmt.Errorf("%w: %s: control object of %d bytes", ErrNotReady, p, fi.Size())
	}
	b := make([]byte, ctlIdentLen)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	hdr, err := DecodeNamespace(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if want := ctlSize(hdr.MaxChunks); fi.Size() != want {
		return nil, fmt.Errorf("%w: %s: control object of %d bytes, want %d for %d chunks", ErrCorrupt, p, fi.Size(), want, hdr.MaxChunks)
	}
	r, err := c.FS.Map(f, fi.Size())
	if err != nil {
		return nil, err
	}
	s := newStore(name, &c, hdr, r)
	s.start()
	return s, nil
}

func newStore(name string, o *Options, hdr NamespaceHeader, ctl engine.Region) *Store {
	s := &Store{
		fsys:        o.FS,
		dir:         o.Dir,
		name:        name,
		hdr:         hdr,
		ctl:         ctl,
		clock:       o.Clock,
		mode:        o.Prefetch,
		bug:         o.bug,
		hook:        o.hook,
		maxBlob:     uint32(hdr.ChunkSize - dataStart - entryWordLen),
		prefetchEnd: uint32(dataStart + (hdr.ChunkSize-dataStart)*uint64(hdr.PrefetchMille)/maxPrefetchMille),
		chunks:      make([]atomic.Pointer[chunk], hdr.MaxChunks),
		done:        make(chan struct{}),
		freed:       make(chan struct{}),
	}
	return s
}

// start starts the prefetcher, if the Store has one.
func (s *Store) start() {
	if s.mode != PrefetchBackground {
		return
	}
	s.prefetchReq = make(chan struct{}, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-s.done:
				return
			case <-s.prefetchReq:
				if s.closed.Load() {
					return // a request that raced Close's
				}
				s.prefetch()
			}
		}
	}()
}

// Close detaches from the namespace: it stops the prefetcher and unmaps
// what this process mapped. The namespace stays for the other processes
// (CleanupNamespace removes it). Blobs this process appended stay too.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return fmt.Errorf("%w: namespace %s", ErrClosed, s.name)
	}
	close(s.done)
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for i := range s.chunks {
		if c := s.chunks[i].Swap(nil); c != nil {
			errs = append(errs, c.unmap())
		}
	}
	errs = append(errs, s.ctl.Close())
	return errors.Join(errs...)
}

// Name returns the namespace's name.
func (s *Store) Name() string { return s.name }

// Header returns the namespace's identity: its layout and lifecycle.
func (s *Store) Header() NamespaceHeader { return s.hdr }

// MaxBlob returns the size of the largest blob an Append takes: a chunk
// less its header and the blob's entry word.
func (s *Store) MaxBlob() int { return int(s.maxBlob) }

// CleanupNamespace removes every object of the namespace name from
// o.Dir: its control object and chunks, whatever state they are in. Call
// it when no process uses the namespace — at the start of an application
// whose earlier run may have been killed, or to destroy a namespace for
// good: a process still attached keeps the memory it has mapped, but the
// namespace is gone. It returns how many objects it removed; none is no
// error.
func CleanupNamespace(name string, o *Options) (int, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	c := o.withDefaults()
	entries, err := c.FS.ReadDir(c.Dir)
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if e.Name() != ctlName(name) && !isChunkName(name, e.Name()) {
			continue
		}
		err := c.FS.Remove(path.Join(c.Dir, e.Name()))
		switch {
		case err == nil:
			removed++
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// chunkPath is where the chunk of generation gen lives.
func (s *Store) chunkPath(gen uint32) string { return path.Join(s.dir, chunkName(s.name, gen)) }

// slotOff is the offset of slot i's word in the control object.
func slotOff(i uint32) int64 { return ctlSlotsOff + 8*int64(i) }

// loadSlot returns the word of slot i, which must be below MaxChunks.
func (s *Store) loadSlot(i uint32) (uint64, error) { return s.ctl.Load64(slotOff(i)) }

// refLive reports whether ref names a live chunk.
func (s *Store) refLive(ref uint64) bool {
	if ref == 0 || refSlot(ref) >= s.hdr.MaxChunks {
		return false
	}
	w, err := s.loadSlot(refSlot(ref))
	return err == nil && slotHolds(w, refGen(ref))
}

// chunkFor returns this process's mapping of the chunk of slot and gen,
// mapping it if it has none: ErrGone if the slot holds another
// generation, or none. The slot must be below MaxChunks.
func (s *Store) chunkFor(slot, gen uint32) (*chunk, error) {
	if c := s.chunks[slot].Load(); c != nil && c.gen == gen {
		return c, nil
	}
	return s.mapChunk(slot, gen)
}

func (s *Store) mapChunk(slot, gen uint32) (*chunk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, fmt.Errorf("%w: namespace %s", ErrClosed, s.name)
	}
	if c := s.chunks[slot].Load(); c != nil && c.gen == gen {
		return c, nil
	}
	w, err := s.loadSlot(slot)
	if err != nil {
		return nil, s.regionErr(err)
	}
	if !slotHolds(w, gen) {
		return nil, fmt.Errorf("%w: chunk %d generation %#x (the slot holds %s)", ErrGone, slot, gen, describeSlot(w))
	}
	p := s.chunkPath(gen)
	f, err := s.fsys.OpenFile(p, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: chunk %d generation %#x: %w", ErrGone, slot, gen, err)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if uint64(fi.Size()) != s.hdr.ChunkSize {
		// Map would extend a short file: a chunk of the wrong size is
		// refused before it is mapped.
		return nil, fmt.Errorf("%w: %s: chunk of %d bytes, want %d", ErrCorrupt, p, fi.Size(), s.hdr.ChunkSize)
	}
	b := make([]byte, chunkIdentLen)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	h, err := DecodeChunk(b)
	if err == nil {
		err = h.Validate(&s.hdr, slot, gen)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	r, err := s.fsys.Map(f, int64(s.hdr.ChunkSize))
	if err != nil {
		return nil, err
	}
	// Every page now: this process's appends and resolves there then
	// take no page fault.
	pretouch(r, int64(s.hdr.ChunkSize))
	c := &chunk{slot: slot, gen: gen, ref: chunkRef(slot, gen), created: h.Created, r: r}
	s.install(c)
	return c, nil
}

// install makes c this process's mapping of its slot, unmapping the one
// it replaces. s.mu must be held.
func (s *Store) install(c *chunk) {
	if old := s.chunks[c.slot].Swap(c); old != nil {
		old.unmap()
	}
}

// unmapLocal unmaps this process's mapping of the chunk of slot and gen,
// if it has one.
func (s *Store) unmapLocal(slot, gen uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.chunks[slot].Load(); c != nil && c.gen == gen {
		s.chunks[slot].CompareAndSwap(c, nil)
		s.cur.CompareAndSwap(c, nil)
		c.unmap()
	}
}

// unmap closes the mapping, or has the last View that holds it close it
// when its function returns: a function that frees its own chunk (by
// calling Cleanup, say) does not wait for itself.
func (c *chunk) unmap() error {
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	c.dying = true
	if c.unmapped || c.pins > 0 {
		return nil
	}
	c.unmapped = true
	return c.r.Close()
}

// pin keeps the mapping until unpin; it reports false if it is unmapped,
// or about to be.
func (c *chunk) pin() bool {
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	if c.dying {
		return false
	}
	c.pins++
	return true
}

func (c *chunk) unpin() {
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	c.pins--
	if c.pins == 0 && c.dying && !c.unmapped {
		c.unmapped = true
		c.r.Close()
	}
}

// regionErr turns the error of a Region whose mapping this process closed
// into the Store's: ErrClosed after Close, ErrGone when Cleanup unmapped
// a chunk it freed.
func (s *Store) regionErr(err error) error {
	if errors.Is(err, engine.ErrClosed) {
		if s.closed.Load() {
			return fmt.Errorf("%w: namespace %s", ErrClosed, s.name)
		}
		return fmt.Errorf("%w: %w", ErrGone, err)
	}
	return err
}

// step calls the test's hook, if any, after a step of a protocol.
func (s *Store) step(name string) {
	if s.hook != nil {
		s.hook(name)
	}
}

// noSpace wraps a failure to allocate shared memory.
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// describeSlot says what a slot word holds, for errors.
func describeSlot(w uint64) string {
	switch slotState(w) {
	case slotFree:
		return "nothing"
	case slotCreating:
		return fmt.Sprintf("generation %#x being created", slotGenOf(w))
	case slotLive:
		return fmt.Sprintf("generation %#x", slotGenOf(w))
	}
	return fmt.Sprintf("generation %#x being freed", slotGenOf(w))
}
