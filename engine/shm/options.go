package shm

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/internal/shmbug"
)

// Defaults of Options, those of the seed crate's shared backend.
const (
	DefaultChunkSize  = 32 << 20
	DefaultMaxChunks  = 1024
	DefaultPrefetchAt = 0.8
	DefaultDecay      = 5 * time.Second
	DefaultTTL        = 30 * time.Second
	DefaultDir        = "/dev/shm"
)

// Options configure Create, Attach and CleanupNamespace. Nil, or a zero
// field, means the default. The layout and lifecycle fields are the
// namespace's: Create records them in the control object, and every
// process that attaches applies them, whatever its own Options say. The
// others are each process's own.
type Options struct {
	// FS is the file system shared memory is reached through:
	// engine.OSFS{} by default, a simulated machine's in the laboratory.
	FS engine.FS
	// Dir is the directory of the namespace's objects: /dev/shm (tmpfs)
	// by default. Another directory works, on any medium, but only tmpfs
	// gives memory without write-back.
	Dir string

	// ChunkSize is the size of every chunk, a multiple of 4096 from 4096
	// to 1 GiB (the namespace's; Create). Blobs never span chunks, so the
	// largest is ChunkSize-200 bytes.
	ChunkSize int64
	// MaxChunks bounds the chunks the namespace holds at once, from 1 to
	// 2^20 (the namespace's; Create): shared memory in use stays within
	// MaxChunks × ChunkSize, and an append that needs one more gets
	// ErrFull. The default, 1024, is 32 GiB of 32 MiB chunks: a ceiling,
	// not a reservation.
	MaxChunks int
	// PrefetchAt is the fraction of the active chunk past which the next
	// chunk is created ahead of need, in (0, 1] (the namespace's; Create).
	PrefetchAt float64
	// Decay is how long a chunk whose entries are all acknowledged stays
	// before it is freed (the namespace's; Create). Zero is the default;
	// a negative value frees such a chunk at the first cleanup that sees
	// it.
	Decay time.Duration
	// TTL is how long after its first entry a chunk is freed whatever its
	// acknowledgements (the namespace's; Create): the bound on memory held
	// for a consumer that died.
	TTL time.Duration

	// Prefetch says who creates the next chunk once the active one passes
	// PrefetchAt (this process's): a goroutine of the Store, by default.
	Prefetch PrefetchMode
	// Clock is the time the lifecycle is judged by (this process's): the
	// system's wall clock by default, which every process on the machine
	// shares. Tests inject a ManualClock.
	Clock Clock

	bug  shmbug.Bug        // a deliberate protocol mistake, set only by the laboratory
	hook func(step string) // called after each step of a protocol, set only by tests
}

func init() {
	shmbug.Set = func(opts any, b shmbug.Bug) { opts.(*Options).bug = b }
}

// PrefetchMode says how a Store creates the next chunk ahead of need.
type PrefetchMode int

const (
	// PrefetchBackground creates it in a goroutine of the Store, so that
	// no Append waits for a chunk to be created.
	PrefetchBackground PrefetchMode = iota
	// PrefetchInline creates it in the Append that crossed the threshold:
	// no goroutine, so that a run of the laboratory stays a function of
	// its seed.
	PrefetchInline
	// PrefetchOff never creates a chunk ahead: the Append that finds the
	// active chunk full creates the next one.
	PrefetchOff
)

func (m PrefetchMode) String() string {
	switch m {
	case PrefetchBackground:
		return "background"
	case PrefetchInline:
		return "inline"
	case PrefetchOff:
		return "off"
	}
	return "PrefetchMode(?)"
}

// Presets, as the seed crate's Config::default(), ::performance() and
// ::memory_efficient(). The seed's page size (1 MiB, 2 MiB, 512 KiB) is
// its heap backend's; here its ratios scale the chunk.

// DefaultOptions returns the defaults: 32 MiB chunks, prefetch at 80%,
// decay 5 s, TTL 30 s.
func DefaultOptions() *Options {
	return &Options{ChunkSize: DefaultChunkSize, MaxChunks: DefaultMaxChunks, PrefetchAt: DefaultPrefetchAt, Decay: DefaultDecay, TTL: DefaultTTL}
}

// PerformanceOptions returns larger chunks and a longer decay, for fewer
// chunk creations: 64 MiB chunks, prefetch at 80%, decay 7 s, TTL 30 s.
func PerformanceOptions() *Options {
	return &Options{ChunkSize: 64 << 20, MaxChunks: DefaultMaxChunks, PrefetchAt: 0.8, Decay: 7 * time.Second, TTL: DefaultTTL}
}

// MemoryEfficientOptions returns smaller chunks freed sooner: 16 MiB
// chunks, prefetch at 90%, decay 1 s, TTL 30 s.
func MemoryEfficientOptions() *Options {
	return &Options{ChunkSize: 16 << 20, MaxChunks: DefaultMaxChunks, PrefetchAt: 0.9, Decay: time.Second, TTL: DefaultTTL}
}

// withDefaults returns a copy of o, nil included, with every zero field
// set to its default.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.FS == nil {
		c.FS = engine.OSFS{}
	}
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.MaxChunks == 0 {
		c.MaxChunks = DefaultMaxChunks
	}
	if c.PrefetchAt == 0 {
		c.PrefetchAt = DefaultPrefetchAt
	}
	switch {
	case c.Decay == 0:
		c.Decay = DefaultDecay
	case c.Decay < 0:
		c.Decay = 0
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	return c
}

// namespaceHeader checks the namespace's fields of o (with defaults) and
// returns the identity Create records, as of now.
func (o *Options) namespaceHeader(name string, now time.Time) (NamespaceHeader, error) {
	switch {
	case o.ChunkSize < minChunkSize || o.ChunkSize > maxChunkSize || o.ChunkSize%engine.PageSize != 0:
		return NamespaceHeader{}, fmt.Errorf("%w: ChunkSize %d: want a multiple of %d from %d to %d", ErrOptions, o.ChunkSize, engine.PageSize, minChunkSize, maxChunkSize)
	case o.MaxChunks < 1 || o.MaxChunks > maxMaxChunks:
		return NamespaceHeader{}, fmt.Errorf("%w: MaxChunks %d: want 1 to %d", ErrOptions, o.MaxChunks, maxMaxChunks)
	case !(o.PrefetchAt > 0 && o.PrefetchAt <= 1):
		return NamespaceHeader{}, fmt.Errorf("%w: PrefetchAt %v: want (0, 1]", ErrOptions, o.PrefetchAt)
	case o.TTL < 0:
		return NamespaceHeader{}, fmt.Errorf("%w: TTL %v", ErrOptions, o.TTL)
	case o.Prefetch < PrefetchBackground || o.Prefetch > PrefetchOff:
		return NamespaceHeader{}, fmt.Errorf("%w: Prefetch %v", ErrOptions, o.Prefetch)
	}
	epoch := now.UnixNano()
	if epoch <= 0 {
		return NamespaceHeader{}, fmt.Errorf("%w: the clock says %v, before 1970", ErrOptions, now)
	}
	h := NamespaceHeader{
		Version:       Version,
		ChunkSize:     uint64(o.ChunkSize),
		MaxChunks:     uint32(o.MaxChunks),
		PrefetchMille: uint32(max(1, int(o.PrefetchAt*maxPrefetchMille+0.5))),
		Decay:         o.Decay,
		TTL:           o.TTL,
		Epoch:         epoch,
		Nonce:         namespaceNonce(name, epoch),
	}
	return h, h.Validate()
}

// namespaceNonce derives the nonce of a namespace from its name and
// creation time: two namespaces of one name created at different
// nanoseconds differ (with the odds of a 64-bit hash), and a run of the
// laboratory, whose clock is a ManualClock, stays deterministic.
func namespaceNonce(name string, epoch int64) uint64 {
	n := mix64(uint64(epoch) ^ mix64(uint64(len(name))))
	for _, c := range []byte(name) {
		n = mix64(n ^ uint64(c))
	}
	if n == 0 {
		n = 1
	}
	return n
}

// Clock tells the time the lifecycle is judged by: decay, TTL, the age of
// an abandoned creation. Every process attached to a namespace must share
// it, as the system's wall clock is shared.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock of the machine. A step of the clock
// backwards delays frees; forwards, hastens them.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// ManualClock is a Clock that moves only when told to, for tests: a TTL
// expires when the test says so. It is safe for concurrent use.
type ManualClock struct{ ns atomic.Int64 }

// NewManualClock returns a clock that reads t.
func NewManualClock(t time.Time) *ManualClock {
	c := &ManualClock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock forwards by d.
func (c *ManualClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
