package faultfs

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/crashsim/crashsim/engine"
)

// ErrInjected is returned (wrapped, together with an errno) when an
// operation fails because an Injector said so (docs/DESIGN.md F3), never because
// of anything the simulated storage did by itself. Both errors.Is(err,
// ErrInjected) and errors.Is(err, syscall.EIO) (or the injected errno) hold.
var ErrInjected = errors.New("faultfs: injected fault")

// injected wraps errno for an injected failure.
func injected(errno syscall.Errno) error {
	return fmt.Errorf("%w: %w", ErrInjected, errno)
}

// Injector decides, before each operation, whether it fails and how. It is
// called with the file system locked and must not call back into it.
type Injector interface {
	MaybeInject(op Op) Fault
}

// Fault is what an Injector makes of an operation: no fault (the zero
// value), an error, a short write, a bit flip or a failed sync. A fault
// that does not apply to the operation's kind (see each one) is ignored, and
// so is every fault on a Mark.
type Fault struct {
	kind  faultKind
	errno syscall.Errno
	seed  uint64
}

type faultKind uint8

const (
	noFault faultKind = iota
	errorFault
	shortWrite
	bitFlip
	syncFailure
	released // not injected: the file system was released (FS.Release)
)

// Error is a fault that makes any operation fail with errno before it takes
// effect: an *fs.PathError (an *os.LinkError for Rename) whose Err wraps
// both ErrInjected and errno. A Close, unlock or unmap still releases its
// handle, as close(2) does.
func Error(errno syscall.Errno) Fault {
	return Fault{kind: errorFault, errno: errno}
}

// ShortWrite makes a File.WriteAt or Append write only the first half of
// its bytes (they reach the page cache) and return n < len(p) with an
// error wrapping ErrInjected and ENOSPC.
var ShortWrite = Fault{kind: shortWrite}

// SyncFailure makes a File.Sync, File.Datasync or Region.Drain, or the
// sync that ends a write to a file opened with O_DSYNC or O_SYNC (an
// OpWriteSync, whose write then fails), fail with EIO with Linux semantics
// (rule 7): the dirty blocks are dropped without becoming durable and stay
// in the page cache, and the next Sync reports success without making them
// durable.
var SyncFailure = Fault{kind: syncFailure}

// BitFlip makes a File.ReadAt or a region read (ReadAt, View, Load32,
// Load64) succeed with one bit of the returned data flipped, picked by seed.
// Nothing stored changes.
func BitFlip(seed uint64) Fault {
	return Fault{kind: bitFlip, seed: seed}
}

// IsNone reports whether f is no fault.
func (f Fault) IsNone() bool { return f.kind == noFault }

// String describes the fault, as in reports.
func (f Fault) String() string {
	switch f.kind {
	case noFault:
		return "none"
	case errorFault:
		return "error " + f.errno.Error()
	case shortWrite:
		return "short write"
	case bitFlip:
		return fmt.Sprintf("bit flip (seed %d)", f.seed)
	case syncFailure:
		return "sync failure"
	case released:
		return "released"
	}
	return "Fault(?)"
}

// appliesTo reports whether f means anything for an operation of kind k.
func (f Fault) appliesTo(k OpKind) bool {
	if k == OpMark {
		return false // a mark changes nothing, so nothing can fail
	}
	switch f.kind {
	case errorFault:
		return true
	case shortWrite:
		return k == OpWrite || k == OpAppend
	case bitFlip:
		return k == OpRead || k == OpRegionRead
	case syncFailure:
		return k == OpSync || k == OpDatasync || k == OpWriteSync || k == OpDrain
	}
	return false
}

// err returns the error of an error fault, as op on name, or nil.
func (f Fault) err(op, name string) error {
	switch f.kind {
	case errorFault:
		return pathError(op, name, injected(f.errno))
	case released:
		return releasedErr(op, name)
	}
	return nil
}

// wrapped returns the wrapped errno of an error fault, or nil.
func (f Fault) wrapped() error {
	switch f.kind {
	case errorFault:
		return injected(f.errno)
	case released:
		return fmt.Errorf("%w: the file system was released", engine.ErrClosed)
	}
	return nil
}

// flip flips one bit of p for a bit-flip fault.
func (f Fault) flip(p []byte) {
	if f.kind != bitFlip || len(p) == 0 {
		return
	}
	bit := mix64(f.seed) % uint64(len(p)*8)
	p[bit/8] ^= 1 << (bit % 8)
}

// mix64 is splitmix64's finalizer: a cheap, good hash of a 64-bit value.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Predicate selects operations. A predicate may keep state, as OnIndex
// counts the operations it sees: such a predicate is a Counter, and each
// Rules has fresh copies of its own (NewRules), so that predicates and
// rules may be built once and used in many Rules, one after another or at
// once. Predicates are not safe for concurrent use on their own.
type Predicate interface {
	Match(op Op) bool
	String() string
}

// Counter is a Predicate that keeps state, such as OnIndex, or one made of
// predicates, some of which may (And, Or, Not). A predicate of your own
// that counts must be a Counter too, or every Rules made with it will
// share, and race on, its counts.
type Counter interface {
	Predicate
	// Fresh returns a copy of the predicate that has counted nothing.
	Fresh() Predicate
}

// fresh returns p with nothing counted: a fresh copy of a Counter, p
// itself otherwise.
func fresh(p Predicate) Predicate {
	if c, ok := p.(Counter); ok {
		return c.Fresh()
	}
	return p
}

func freshAll(ps []Predicate) []Predicate {
	out := make([]Predicate, len(ps))
	for i, p := range ps {
		out[i] = fresh(p)
	}
	return out
}

// Always matches every operation.
var Always Predicate = always{}

type always struct{}

func (always) Match(Op) bool  { return true }
func (always) String() string { return "always" }

// OnIndex matches the n-th operation (0-based) that it is asked about, and
// no other. Inside And it counts only the operations that passed the
// predicates before it; inside Rules, only the operations whose kind the
// rule's fault applies to.
func OnIndex(n uint64) Predicate { return &onIndex{n: n} }

type onIndex struct {
	n, seen uint64
}

func (p *onIndex) Match(Op) bool {
	p.seen++
	return p.seen-1 == p.n
}

func (p *onIndex) String() string { return fmt.Sprintf("index %d", p.n) }

func (p *onIndex) Fresh() Predicate { return &onIndex{n: p.n} }

// OpKinds matches operations of the given kinds.
func OpKinds(kinds ...OpKind) Predicate { return opKinds(slices.Clone(kinds)) }

type opKinds []OpKind

func (p opKinds) Match(op Op) bool { return slices.Contains(p, op.Kind) }

func (p opKinds) String() string {
	s := make([]string, len(p))
	for i, k := range p {
		s[i] = k.String()
	}
	return "kind " + strings.Join(s, "|")
}

// PathGlob matches operations whose Path, or NewPath for a rename, matches
// pattern as path.Match understands it (paths are clean and absolute). A
// malformed pattern matches nothing.
func PathGlob(pattern string) Predicate { return pathGlob(pattern) }

type pathGlob string

func (p pathGlob) Match(op Op) bool {
	if ok, _ := path.Match(string(p), op.Path); ok {
		return true
	}
	ok, _ := path.Match(string(p), op.NewPath)
	return op.NewPath != "" && ok
}

func (p pathGlob) String() string { return "path " + string(p) }

// And matches when every predicate matches; it asks them in order and stops
// at the first that does not.
func And(ps ...Predicate) Predicate { return and(slices.Clone(ps)) }

type and []Predicate

func (p and) Match(op Op) bool {
	for _, q := range p {
		if !q.Match(op) {
			return false
		}
	}
	return true
}

func (p and) String() string { return join("and", p) }

func (p and) Fresh() Predicate { return and(freshAll(p)) }

// Or matches when any predicate matches; it asks them in order and stops at
// the first that does.
func Or(ps ...Predicate) Predicate { return or(slices.Clone(ps)) }

type or []Predicate

func (p or) Match(op Op) bool {
	for _, q := range p {
		if q.Match(op) {
			return true
		}
	}
	return false
}

func (p or) String() string { return join("or", p) }

func (p or) Fresh() Predicate { return or(freshAll(p)) }

// Not matches when p does not.
func Not(p Predicate) Predicate { return not{p} }

type not struct{ p Predicate }

func (p not) Match(op Op) bool { return !p.p.Match(op) }
func (p not) String() string   { return "not(" + p.p.String() + ")" }
func (p not) Fresh() Predicate { return not{fresh(p.p)} }

func join(name string, ps []Predicate) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return name + "(" + strings.Join(s, ", ") + ")"
}

// Rule injects Fault into the operations When matches (every operation if
// When is nil). A rule fires at most once unless Repeat is set. A Rule is
// a description: what it has counted and whether it fired belong to the
// Rules made of it, so one Rule may serve many Rules.
type Rule struct {
	When   Predicate
	Fault  Fault
	Repeat bool
}

// String describes the rule, as in a test's failure message.
func (r Rule) String() string {
	when := "always"
	if r.When != nil {
		when = r.When.String()
	}
	s := r.Fault.String() + " on " + when
	if r.Repeat {
		s += " (repeating)"
	}
	return s
}

// Rules is an Injector made of rules, tried in order for each operation: a
// rule is asked only about operations its fault applies to (a ShortWrite
// rule sees only writes), and the first rule that matches fires; the rules
// after it do not see that operation. It counts from its creation, with
// predicates of its own: a test that runs its workload many times — each
// exploration and each replay of package sim — makes one Rules per run
// (sim's Env.Inject does). It is safe for concurrent use.
type Rules struct {
	mu    sync.Mutex
	rules []Rule
	fired []int
}

var _ Injector = (*Rules)(nil)

// NewRules returns an Injector made of rules, with a fresh copy of every
// Counter among their predicates: it counts from now on, whatever other
// Rules made of the same rules counted.
func NewRules(rules ...Rule) *Rules {
	own := slices.Clone(rules)
	for i := range own {
		if own[i].When != nil {
			own[i].When = fresh(own[i].When)
		}
	}
	return &Rules{rules: own, fired: make([]int, len(rules))}
}

// MaybeInject returns the fault of the first rule that matches op.
func (r *Rules) MaybeInject(op Op) Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, rule := range r.rules {
		if (r.fired[i] > 0 && !rule.Repeat) || !rule.Fault.appliesTo(op.Kind) {
			continue
		}
		if rule.When == nil || rule.When.Match(op) {
			r.fired[i]++
			return rule.Fault
		}
	}
	return Fault{}
}

// Unfired returns the rules that never fired, so that a test can tell that
// the fault it meant to exercise was never injected.
func (r *Rules) Unfired() []Rule {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Rule
	for i, rule := range r.rules {
		if r.fired[i] == 0 {
			out = append(out, rule)
		}
	}
	return out
}

// Fired returns how many times each rule fired, in the order given.
func (r *Rules) Fired() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.fired)
}
