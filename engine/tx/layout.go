package tx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/internal/txbug"
)

// An Upgrade takes a pool from one version of its layout to the next. It
// is made by UpgradeRoot and listed in Options.Upgrades.
type Upgrade struct {
	from     uint32
	tag      reflect.Type
	old, new reflect.Type
	// run calls the program's function in the transaction gen of c and
	// returns the bytes of the new root.
	run func(c *pool, gen uint64) ([]byte, error)
}

// UpgradeRoot returns the upgrade of a pool from version from of its
// layout to version from+1, in which the root changes from an Old to a
// New (they may be the same type). Open runs fn in a transaction of its
// own with a copy of the root, stores what fn returns as the new root —
// in the root's block if it fits, else in a new block, freeing the old
// one — and records the new version, all in that transaction: a crash
// leaves the pool at version from, intact, or at version from+1,
// complete; an error or a panic from fn aborts it and is returned by
// Open.
//
// fn may change anything in the pool through tx: allocate the objects of
// new fields, rewrite the objects of changed types (a step changes the
// structure of every type the root reaches), free what Old owned and New
// does not. What the root owns is carried over by copying its pointers
// into New. Only the root is changed for fn: every other object is fn's
// to rewrite.
//
// Open checks before it runs fn that the pool's layout at version from is
// Old's: with from > 0, Options.Layout, from and the structure of Old;
// with from == 0, the default layout of Old — its Go name and shape, and
// the same Options.Layout or none, the default — so that a pool created
// without a version is adopted into versioned layouts. (A pool created
// with a Layout string is adopted only under that name: the string told it
// from other pools of the same root type. One created without was told
// from none.)
func UpgradeRoot[Tag, Old, New any](from uint32, fn func(tx *Tx[Tag], old Old) (New, error)) Upgrade {
	return Upgrade{
		from: from,
		tag:  reflect.TypeFor[Tag](),
		old:  reflect.TypeFor[Old](),
		new:  reflect.TypeFor[New](),
		run: func(c *pool, gen uint64) ([]byte, error) {
			tx := &Tx[Tag]{t: c.wtx, gen: gen}
			old, err := Ptr[Tag, Old]{v: c.ptr(c.root)}.Get(tx)
			if err != nil {
				return nil, err
			}
			v, err := fn(tx, old)
			if err != nil {
				return nil, err
			}
			return c.sealed(reflect.TypeFor[New](), valueBytes(&v)), nil
		},
	}
}

// layoutOfType is the layout of a pool whose root is a t, at version: the
// default layout for version 0, else the layout named name.
func layoutOfType(t reflect.Type, name string, version uint32) layoutID {
	if version == 0 {
		full := t.String() + "/" + name
		return layoutID{name: cutLayout(full), hash: shapeHash(t) ^ xxhString(full)}
	}
	return layoutID{name: cutLayout(name), version: version, hash: structureHash(t) ^ xxhString(name)}
}

// layoutSpec is what a program asks of a pool's layout: the layout it
// opens, the size of its root, and the upgrades it knows.
type layoutSpec struct {
	want     layoutID
	rootSize int64
	steps    map[uint32]*step // by the version they upgrade from
}

// step is an Upgrade with the layouts it goes from and to; an upgrade from
// version 0 also goes from the default layout without a Layout string,
// unnamed.
type step struct {
	Upgrade
	from, unnamed, to layoutID
	oldSize           int64
}

// newLayoutSpec checks the options' layout and upgrades against the root
// type of the program and the tag of probe's pool. Upgrades that do not
// meet — one's new layout is not the next one's old layout, or the last
// one's is not the program's — are refused here, before any pool is
// touched.
func newLayoutSpec(probe *pool, root reflect.Type, o Options) (*layoutSpec, error) {
	spec := &layoutSpec{want: layoutOfType(root, o.Layout, o.Version), rootSize: int64(root.Size()), steps: map[uint32]*step{}}
	if len(o.Upgrades) > 0 && o.Version == 0 {
		return nil, fmt.Errorf("%w: Options.Upgrades without Options.Version", ErrLayout)
	}
	for _, u := range o.Upgrades {
		switch {
		case u.run == nil:
			return nil, fmt.Errorf("%w: an Upgrade not made by UpgradeRoot", ErrLayout)
		case u.tag != probe.tag:
			return nil, fmt.Errorf("%w: the upgrade from version %d is of a pool of %v, not %v", ErrType, u.from, u.tag, probe.tag)
		case u.from >= o.Version:
			return nil, fmt.Errorf("%w: an upgrade from version %d, and Options.Version is %d", ErrLayout, u.from, o.Version)
		case spec.steps[u.from] != nil:
			return nil, fmt.Errorf("%w: two upgrades from version %d", ErrLayout, u.from)
		}
		for _, t := range []reflect.Type{u.old, u.new} {
			if _, err := probe.layoutOf(t); err != nil {
				return nil, err
			}
		}
		s := &step{Upgrade: u, from: layoutOfType(u.old, o.Layout, u.from),
			to: layoutOfType(u.new, o.Layout, u.from+1), oldSize: int64(u.old.Size())}
		s.unnamed = s.from
		if u.from == 0 {
			s.unnamed = layoutOfType(u.old, "", 0)
		}
		spec.steps[u.from] = s
	}
	for _, v := range slices.Sorted(maps.Keys(spec.steps)) {
		next, what := spec.want, fmt.Sprintf("the program's root %v", root)
		if v+1 < o.Version {
			n := spec.steps[v+1]
			if n == nil {
				continue
			}
			next, what = n.from, fmt.Sprintf("the next upgrade's old root %v", n.old)
		}
		if spec.steps[v].to != next {
			return nil, fmt.Errorf("%w: the upgrade from version %d makes a root %v, of layout %v, but %s has layout %v",
				ErrLayout, v, spec.steps[v].new, spec.steps[v].to, what, next)
		}
	}
	return spec, nil
}

// currentLayout reads the pool's layout: its layout record, or in format 1
// its header.
func (p *pool) currentLayout() (layoutID, error) {
	if p.hdr.Version == formatNoRecord {
		return layoutID{name: p.hdr.Layout, hash: p.hdr.LayoutHash}, nil
	}
	b := make([]byte, layoutRecordSize)
	if _, err := p.r.ReadAt(b, layoutRecordOff); err != nil {
		return layoutID{}, err
	}
	l, err := decodeLayoutRecord(b)
	if err != nil {
		return layoutID{}, fmt.Errorf("%s: %w", p.name, err)
	}
	return l, nil
}

// plan returns the upgrades that take a pool of layout cur to the
// program's, oldest first, or why the program cannot open it.
func (p *pool) plan(cur layoutID, spec *layoutSpec) ([]*step, error) {
	want := spec.want
	switch {
	case cur.version == want.version:
		if cur != want {
			return nil, fmt.Errorf("%w: %s has layout %v, want %v", ErrLayout, p.name, cur, want)
		}
		return nil, nil
	case cur.version > want.version:
		return nil, fmt.Errorf("%w: %s has layout %v, newer than this program's %v", ErrLayoutVersion, p.name, cur, want)
	case p.readOnly:
		return nil, fmt.Errorf("%w: %s has layout %v, older than this program's %v: a writer with Options.Upgrades upgrades it",
			ErrLayoutVersion, p.name, cur, want)
	}
	var steps []*step
	for v := cur.version; v < want.version; v++ {
		s := spec.steps[v]
		if s == nil {
			return nil, fmt.Errorf("%w: %s has layout %v, and this program (layout %v) has no upgrade from version %d",
				ErrLayoutVersion, p.name, cur, want, v)
		}
		if v == cur.version && s.from != cur && s.unnamed != cur {
			return nil, fmt.Errorf("%w: %s has layout %v, but the upgrade from version %d is of a root %v, of layout %v",
				ErrLayout, p.name, cur, v, s.old, s.from)
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// upgrade runs the steps that take a pool of layout cur to the program's,
// each in a transaction of its own. A pool of format 1 or 2 is converted
// to format 3 first.
func (p *pool) upgrade(cur layoutID, steps []*step) error {
	if len(steps) == 0 {
		return nil
	}
	// Until the first step commits, the root is the first step's Old (for
	// Check, which Options.Strict runs after each transaction).
	l, err := p.layoutOf(steps[0].old)
	if err != nil {
		return err
	}
	p.rootL = l
	if p.hdr.Version < formatMarked {
		if err := p.convert(cur); err != nil {
			return fmt.Errorf("tx: %s: conversion to format %d: %w", p.name, formatMarked, err)
		}
	}
	for _, s := range steps {
		if err := p.runStep(s); err != nil {
			return fmt.Errorf("tx: %s: upgrade of layout %v to version %d: %w", p.name, s.from, s.to.version, err)
		}
		p.setLayoutInfo(s.to)
	}
	return nil
}

// runStep runs one upgrade: the program's function, then the new root in
// place of the old and the new layout record, in one transaction.
func (p *pool) runStep(s *step) error {
	newL, err := p.layoutOf(s.new)
	if err != nil {
		return err
	}
	oldRoot, oldL := p.root, p.rootL
	err = p.update(func(gen uint64) error {
		b, err := s.run(p, gen)
		if err != nil {
			return err
		}
		t := p.wtx
		t.mu.Lock()
		defer t.mu.Unlock()
		root, err := t.replaceRoot(b)
		if err != nil {
			return err
		}
		if p.opts.bug != txbug.UpgradeSplit {
			t.stage(encodeLayoutRecord(s.to), layoutRecordOff, false)
		}
		// Strict mode checks the pool after the commit from the new root.
		p.root, p.rootL = root, newL
		return nil
	})
	if err != nil {
		p.root, p.rootL = oldRoot, oldL
		return err
	}
	if p.opts.bug == txbug.UpgradeSplit {
		return p.writeLayoutRecord(s.to)
	}
	return nil
}

// writeLayoutRecord writes the layout record in a transaction of its own.
func (p *pool) writeLayoutRecord(l layoutID) error {
	return p.update(func(uint64) error {
		t := p.wtx
		t.mu.Lock()
		t.stage(encodeLayoutRecord(l), layoutRecordOff, false)
		t.mu.Unlock()
		return nil
	})
}

// replaceRoot stores b as the root: in the root's block if it fits, else
// in a new block, which the root pointer then points to, the old block
// freed. It returns the root's offset. The caller holds t.mu.
func (t *txn) replaceRoot(b []byte) (int64, error) {
	p := t.p
	n := int64(len(b))
	start, size, err := p.heap.Block(p.root)
	if err != nil || start != p.root {
		return 0, fmt.Errorf("%w: %s: the root at %d is not an object: %v", ErrCorrupt, p.name, p.root, err)
	}
	if n <= size {
		t.stage(b, p.root, t.isFresh(p.root, n))
		return p.root, nil
	}
	off, _, err := t.alloc(n)
	if err != nil {
		return 0, err
	}
	t.stage(b, off, true)
	if err := t.free(p.root); err != nil {
		return 0, err
	}
	var w [8]byte
	binary.NativeEndian.PutUint64(w[:], p.ptr(off))
	t.stage(w[:], rootOff, false)
	return off, nil
}

// convert makes a pool of format 1 or 2 one of format 3 with the same
// layout: a pool of format 1 gets its layout record first, in a
// transaction (format 1 ignores the record, so a crash after it leaves a
// pool of format 1 as it was); then the log's first line is zeroed,
// durably — a retired log in every format, with no marks for format 3 to
// misread; then the header is rewritten. Each step leaves a pool that
// opens with its layout.
func (p *pool) convert(cur layoutID) error {
	if p.hdr.Version == formatNoRecord {
		if err := p.writeLayoutRecord(cur); err != nil {
			return err
		}
	}
	if _, err := p.r.WriteAt(make([]byte, logLine), p.logOff); err != nil {
		return err
	}
	if err := engine.Persist(p.r, p.logOff, logLine); err != nil {
		return err
	}
	p.lastLog, p.logLines = p.lastLog[:0], 0
	h := p.hdr
	h.Version = formatMarked
	return p.rewriteHeader(h)
}

// rewriteHeader replaces the header with h. The header is two cache lines
// and one checksum, so a crash while it is written can leave it torn:
// a copy of h is made durable in the header shadow first, the header
// written and made durable, and the copy retired. A header torn by a
// crash is read from its copy (readHeader), and the writer's next Open
// finishes the rewrite (settleHeader).
func (p *pool) rewriteHeader(h Header) error {
	var b [headerSize]byte
	h.Encode(b[:])
	inPlace := p.opts.bug == txbug.HeaderInPlace
	if !inPlace {
		if _, err := p.r.WriteAt(b[:], headerShadowOff); err != nil {
			return err
		}
		if err := engine.Persist(p.r, headerShadowOff, headerSize); err != nil {
			return err
		}
	}
	if _, err := p.r.WriteAt(b[:], 0); err != nil {
		return err
	}
	if err := engine.Persist(p.r, 0, headerSize); err != nil {
		return err
	}
	p.hdr = h
	p.info.Header = h
	if inPlace {
		return nil
	}
	return p.retireShadow()
}

// retireShadow zeroes the magic number of the header shadow, durably.
func (p *pool) retireShadow() error {
	if err := p.r.Store64(headerShadowOff, 0); err != nil {
		return err
	}
	return engine.Persist(p.r, headerShadowOff, 8)
}

// settleHeader finishes a rewrite of the header that a crash interrupted
// (the writer's Open): a header read from its shadow is written back; a
// shadow beside a whole header — the rewrite had not begun to write the
// header, or had written it — is retired.
func (p *pool) settleHeader(fromShadow bool) error {
	if fromShadow {
		var b [headerSize]byte
		p.hdr.Encode(b[:])
		if _, err := p.r.WriteAt(b[:], 0); err != nil {
			return err
		}
		if err := engine.Persist(p.r, 0, headerSize); err != nil {
			return err
		}
	} else if magic, err := p.r.Load64(headerShadowOff); err != nil || magic == 0 {
		return err
	}
	return p.retireShadow()
}

// readHeader reads the pool header of a file of size bytes, or its shadow
// copy if the header is torn by a crash during rewriteHeader: fromShadow
// says so.
func readHeader(f engine.File, size int64) (h Header, fromShadow bool, err error) {
	var b [headerSize]byte
	for attempt := 0; ; attempt++ {
		if _, err := f.ReadAt(b[:], 0); err != nil {
			return Header{}, false, err
		}
		h, err = DecodeHeader(b[:])
		if err == nil || !errors.Is(err, ErrCorrupt) || size < logAreaOff {
			return h, false, err
		}
		var sb [headerSize]byte
		if _, serr := f.ReadAt(sb[:], headerShadowOff); serr != nil {
			return Header{}, false, serr
		}
		if sh, serr := DecodeHeader(sb[:]); serr == nil {
			return sh, true, nil
		}
		// A reader may have read the header while a writer rewrote it,
		// and the copy after the writer retired it: read it once more.
		if attempt == 1 {
			return h, false, err
		}
	}
}

// setLayoutInfo records the pool's layout in its Info.
func (p *pool) setLayoutInfo(l layoutID) {
	p.info.Layout, p.info.LayoutVersion, p.info.LayoutHash = l.name, l.version, l.hash
}

// checkLayoutWord reports whether the layout version is still the one a
// read-only pool was opened with: a writer of another process may have
// upgraded it, and the root type of this program no longer describes it.
func (p *pool) checkLayoutWord() error {
	w, err := p.r.Load64(layoutRecordOff)
	if err != nil || w == p.layoutWord {
		return err
	}
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], w)
	return fmt.Errorf("%w: %s: a writer upgraded the pool to layout version %d since it was opened: open it again",
		ErrLayoutVersion, p.name, binary.LittleEndian.Uint64(b[:]))
}
