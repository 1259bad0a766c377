package faultfs

import (
	"errors"
	"fmt"
	"iter"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Strategy says which crash states to build from a Pending (docs/DESIGN.md
// section 5).
type Strategy uint8

// The strategies.
const (
	// LoseAll keeps only what is durable (LazyFS style): one state.
	LoseAll Strategy = iota + 1
	// KeepAll keeps every pending change: one state. In CrashClone it is
	// the process crash F1, whose page cache survives whole, including the
	// blocks a failed Sync dropped from the history; in Pending.Choices it
	// is the power-failure state in which every pending unit was written
	// back. They differ only after an injected SyncFailure.
	KeepAll
	// InOrderPrefixes keeps everything up to a global cut c: every
	// namespace change, size and data version with sequence number <= c.
	// Pending.Choices yields one state per cut, in order.
	InOrderPrefixes
	// AllSubsets lets every size and data unit pick any of its versions
	// independently and keeps any prefix of the pending namespace changes.
	// Pending.Choices yields every such state in a fixed mixed-radix order
	// while there are at most limit of them, else limit seeded random
	// distinct ones, lose-all and keep-all first.
	AllSubsets
)

// String returns the strategy's name, as in reports.
func (s Strategy) String() string {
	switch s {
	case LoseAll:
		return "lose-all"
	case KeepAll:
		return "keep-all"
	case InOrderPrefixes:
		return "in-order-prefixes"
	case AllSubsets:
		return "all-subsets"
	}
	return "Strategy(?)"
}

// Choice picks a crash state from a Pending: how many of Pending.Meta are
// kept, the version of each of Pending.Sizes and Pending.Data (0 is the
// durable one), and, where Pending.Tails is 2, whether stale bytes read as
// garbage rather than zeros (rule 18b).
//
// A lazy strategy, one that decides a unit only when recovery first reads
// it, needs no change to this shape: a version of -1 would mean "undecided",
// and Clone would leave such units in a block that resolves itself through
// a callback on first read (see the package doc).
type Choice struct {
	Prefix  int
	Sizes   []int
	Data    []int
	Garbage bool
}

// Key returns a string that identifies the choice: two choices of one
// Pending are equal if and only if their keys are. It is
// prefix/sizes/data, with "/g" after it when the choice reads stale bytes
// as garbage: "0/1/0,2", "0/1/0,2/g".
func (c Choice) Key() string {
	b := make([]byte, 0, 8+2*(len(c.Sizes)+len(c.Data)))
	b = strconv.AppendInt(b, int64(c.Prefix), 10)
	b = append(b, '/')
	for i, v := range c.Sizes {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	b = append(b, '/')
	for i, v := range c.Data {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	if c.Garbage {
		b = append(b, "/g"...)
	}
	return string(b)
}

// ErrBadChoice is returned (wrapped) by ParseChoice when a key is not one
// that Choice.Key makes.
var ErrBadChoice = errors.New("faultfs: malformed choice key")

// ParseChoice returns the Choice whose Key is key: the inverse of Key, for
// a key read back from a report or a command line. An empty list is nil. A
// key that Key cannot make (a missing or extra "/", an empty or
// non-canonical number such as "+1" or "01", a number out of range) gives
// an error wrapping ErrBadChoice.
func ParseChoice(key string) (Choice, error) {
	parts := strings.Split(key, "/")
	garbage := len(parts) == 4 && parts[3] == "g"
	if garbage {
		parts = parts[:3]
	}
	if len(parts) != 3 {
		return Choice{}, fmt.Errorf("%w: %q: want prefix/sizes/data or prefix/sizes/data/g", ErrBadChoice, key)
	}
	prefix, err := parseChoiceInt(parts[0])
	if err != nil {
		return Choice{}, fmt.Errorf("%w: %q: prefix: %v", ErrBadChoice, key, err)
	}
	sizes, err := parseChoiceList(parts[1])
	if err != nil {
		return Choice{}, fmt.Errorf("%w: %q: sizes: %v", ErrBadChoice, key, err)
	}
	data, err := parseChoiceList(parts[2])
	if err != nil {
		return Choice{}, fmt.Errorf("%w: %q: data: %v", ErrBadChoice, key, err)
	}
	return Choice{Prefix: prefix, Sizes: sizes, Data: data, Garbage: garbage}, nil
}

func parseChoiceList(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	fields := strings.Split(s, ",")
	out := make([]int, len(fields))
	for i, f := range fields {
		v, err := parseChoiceInt(f)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %v", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// parseChoiceInt parses a number as Key writes it, and only so.
func parseChoiceInt(s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if strconv.Itoa(v) != s {
		return 0, fmt.Errorf("%q is not written as Key writes it", s)
	}
	return v, nil
}

// radices returns the number of options of each digit of a choice: the
// prefix, then every size unit, then every data unit, then the tail when
// there are two.
func (p *Pending) radices() []int {
	r := make([]int, 0, 2+len(p.Sizes)+len(p.Data))
	r = append(r, len(p.Meta)+1)
	for _, u := range p.Sizes {
		r = append(r, u.Versions())
	}
	for _, u := range p.Data {
		r = append(r, u.Versions())
	}
	if p.Tails > 1 {
		r = append(r, p.Tails)
	}
	return r
}

// choice assembles a Choice from its digits.
func (p *Pending) choice(digits []int) Choice {
	end := 1 + len(p.Sizes) + len(p.Data)
	return Choice{
		Prefix:  digits[0],
		Sizes:   slices.Clone(digits[1 : 1+len(p.Sizes)]),
		Data:    slices.Clone(digits[1+len(p.Sizes) : end]),
		Garbage: len(digits) > end && digits[end] == 1,
	}
}

// loseAll keeps nothing pending, or under a profile with ordering rules
// what they need kept whatever the state (the data a durable rename over
// another file took with it, rule 18d).
func (p *Pending) loseAll() Choice {
	return p.Nearest(p.choice(make([]int, 1+len(p.Sizes)+len(p.Data))))
}

// keepAll keeps every change, so no lost change would put garbage
// anywhere: its tail is zeros.
func (p *Pending) keepAll() Choice {
	d := p.radices()
	for i := range d {
		d[i]--
	}
	c := p.choice(d)
	c.Garbage = false
	return c
}

// cuts returns the global cuts that give distinct in-order states: 0, then
// every sequence number at which a pending change, size or version starts.
func (p *Pending) cuts() []uint64 {
	seqs := []uint64{0}
	for _, m := range p.Meta {
		seqs = append(seqs, m.Seq)
	}
	for _, u := range p.Sizes {
		seqs = append(seqs, u.Seqs[1:]...)
	}
	for _, u := range p.Data {
		seqs = append(seqs, u.Seqs[1:]...)
	}
	slices.Sort(seqs)
	return slices.Compact(seqs)
}

// cut returns the in-order state at cut c: everything with seq <= c.
func (p *Pending) cut(c uint64) Choice {
	last := func(seqs []uint64) int {
		i := 0
		for i+1 < len(seqs) && seqs[i+1] <= c {
			i++
		}
		return i
	}
	ch := Choice{Sizes: make([]int, len(p.Sizes)), Data: make([]int, len(p.Data))}
	for _, m := range p.Meta {
		if m.Seq <= c {
			ch.Prefix++
		}
	}
	for i, u := range p.Sizes {
		ch.Sizes[i] = last(u.Seqs)
	}
	for i, u := range p.Data {
		ch.Data[i] = last(u.Seqs)
	}
	return ch
}

// random returns a uniformly random state of AllSubsets.
func (p *Pending) random(rng *rand.Rand) Choice {
	d := p.radices()
	for i, r := range d {
		d[i] = rng.IntN(r)
	}
	return p.choice(d)
}

// Count returns how many states Choices(s, 0, ...) yields, saturating at
// the largest uint64; exact is false if it saturated. Under a profile with
// ordering rules, AllSubsets counts the states those rules allow (see
// allowedCount).
func (p *Pending) Count(s Strategy) (n uint64, exact bool) {
	switch s {
	case InOrderPrefixes:
		if p.order != nil {
			n := uint64(0)
			for range p.Choices(InOrderPrefixes, 0, 0) {
				n++
			}
			return n, true
		}
		return uint64(len(p.cuts()) * p.Tails), true
	case AllSubsets:
		if p.order != nil {
			return p.allowedCount()
		}
		return product(p.radices())
	case LoseAll, KeepAll:
		return 1, true
	}
	return 0, true
}

// product multiplies the radices, saturating at the largest uint64; exact
// is false if it saturated.
func product(radices []int) (n uint64, exact bool) {
	n = 1
	for _, r := range radices {
		hi, lo := bits.Mul64(n, uint64(r))
		if hi != 0 {
			return ^uint64(0), false
		}
		n = lo
	}
	return n, true
}

// Choices yields the crash states strategy s allows, each once. A limit <= 0
// means no limit; otherwise at most limit states are yielded, and when there
// are more, InOrderPrefixes yields a seeded random subset of the cuts (the
// first and last included) in order, and AllSubsets seeded random distinct
// states, lose-all and keep-all first. Where the Pending has two tails,
// InOrderPrefixes yields each cut with zeros, then with garbage. Under a
// profile with ordering rules every state yielded keeps to them (rule
// 18c, 18d): a cut is moved to its Nearest, and yielded once.
func (p *Pending) Choices(s Strategy, limit int, seed int64) iter.Seq[Choice] {
	return func(yield func(Choice) bool) {
		switch s {
		case LoseAll:
			yield(p.loseAll())
		case KeepAll:
			yield(p.keepAll())
		case InOrderPrefixes:
			cuts := p.cuts()
			if limit > 0 && len(cuts)*p.Tails > limit {
				cuts = sampleOrdered(cuts, max(limit/p.Tails, 1), seed)
			}
			seen := map[string]bool{}
			for _, c := range cuts {
				// A cut keeps every change made before it, so it keeps to
				// the ordering rules but for what a durable rename needs
				// kept in every state (rule 18d): Nearest adds that, and
				// may make two cuts one.
				ch := p.cut(c)
				if p.order != nil {
					ch = p.Nearest(ch)
					if seen[ch.Key()] {
						continue
					}
					seen[ch.Key()] = true
				}
				if !yield(ch) {
					return
				}
				if p.Tails > 1 {
					ch.Garbage = true
					if !yield(ch) {
						return
					}
				}
			}
		case AllSubsets:
			n, exact := p.Count(AllSubsets)
			switch {
			case exact && (limit <= 0 || n <= uint64(limit)) && p.order != nil:
				p.allowedProduct(yield)
			case exact && (limit <= 0 || n <= uint64(limit)):
				p.product(yield)
			default:
				p.sample(yield, limit, seed)
			}
		}
	}
}

// product yields every state in mixed-radix order, the prefix the fastest
// digit.
func (p *Pending) product(yield func(Choice) bool) {
	r := p.radices()
	d := make([]int, len(r))
	for {
		if !yield(p.choice(d)) {
			return
		}
		i := 0
		for ; i < len(d); i++ {
			d[i]++
			if d[i] < r[i] {
				break
			}
			d[i] = 0
		}
		if i == len(d) {
			return
		}
	}
}

// sample yields lose-all, keep-all, then seeded random distinct states, up
// to limit in all (no limit if limit <= 0). It is called only when there
// are more states than limit. Under a profile with ordering rules each
// random state is moved to its Nearest, which many share: it gives up after
// drawing limit states in a row that it had yielded already, so that it
// ends even where the count was only a bound.
func (p *Pending) sample(yield func(Choice) bool, limit int, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x616c6c737562736d))
	seen := map[string]bool{}
	misses := 0
	emit := func(c Choice) bool {
		k := c.Key()
		if seen[k] {
			misses++
			return true
		}
		seen[k] = true
		misses = 0
		return yield(c)
	}
	if !emit(p.loseAll()) || (limit > 0 && len(seen) >= limit) {
		return
	}
	if !emit(p.keepAll()) {
		return
	}
	for limit <= 0 || len(seen) < limit {
		c := p.random(rng)
		if p.order != nil {
			if limit > 0 && misses >= limit {
				return
			}
			c = p.Nearest(c)
		}
		if !emit(c) {
			return
		}
	}
}

// sampleOrdered returns limit of the values, the first and the last among
// them, picked by seed, in their original order.
func sampleOrdered(values []uint64, limit int, seed int64) []uint64 {
	if limit < 2 {
		return values[:limit]
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x696e6f7264657221))
	inner := rng.Perm(len(values) - 2)[:limit-2]
	idx := []int{0, len(values) - 1}
	for _, i := range inner {
		idx = append(idx, i+1)
	}
	slices.Sort(idx)
	out := make([]uint64, len(idx))
	for i, j := range idx {
		out[i] = values[j]
	}
	return out
}
