package faultfs

import (
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// TestViewOwner: every operation through a view, and through what it
// opens, carries its owner; the plain FS is owner 0.
func TestViewOwner(t *testing.T) {
	log := new(Log)
	fsys := New(Options{Observe: log.Observe})
	p2 := fsys.View(2)
	ok(t, p2.MkdirAll("/d", 0o755))
	f, err := p2.OpenFile("/d/f", os.O_RDWR|os.O_CREATE, 0o644)
	ok(t, err)
	writeAt(t, f, "x", 0)
	ok(t, f.Sync())
	r, err := p2.Map(f, 64)
	ok(t, err)
	ok(t, r.Store64(0, 1))
	ok(t, engine.Persist(r, 0, 8))
	ok(t, r.Grow(128))
	ok(t, r.Close())
	l, err := p2.Lock("/d/lock", engine.Exclusive)
	ok(t, err)
	ok(t, l.Close())
	ok(t, p2.Rename("/d/f", "/d/g"))
	_, err = p2.ReadDir("/d")
	ok(t, err)
	_, err = p2.Stat("/d/g")
	ok(t, err)
	ok(t, p2.SyncDir("/d"))
	ok(t, p2.Remove("/d/g"))
	ok(t, f.Close())
	n := len(log.Ops())
	for _, op := range log.Ops() {
		if op.Owner != 2 {
			t.Fatalf("op through view 2 has owner %d: %v", op.Owner, op)
		}
	}
	// A file opened by owner 0 and mapped through view 2: the region is
	// view 2's, the file stays owner 0's.
	g := create(t, fsys, "/h")
	r, err = p2.Map(g, 8)
	ok(t, err)
	ok(t, r.Store64(0, 1))
	writeAt(t, g, "y", 0)
	var owners []int
	for _, op := range log.Ops()[n:] {
		owners = append(owners, op.Owner)
	}
	if want := []int{0, 2, 2, 0}; !slices.Equal(owners, want) {
		t.Fatalf("owners %v, want %v", owners, want)
	}
	if s := log.Ops()[n+1].String(); s != "#19 p2 map /h 8" {
		t.Fatalf("String of an owned op: %q", s)
	}
}

// TestMark: marks take the next Index, are observed and shown to the
// injector, change nothing, and cannot fail.
func TestMark(t *testing.T) {
	log := new(Log)
	var asked []OpKind
	rules := NewRules(
		Rule{When: OnIndex(0), Fault: Error(syscall.EIO)}, // the first op it applies to
	)
	fsys := New(Options{Observe: log.Observe, Injector: injectorFunc(func(op Op) Fault {
		asked = append(asked, op.Kind)
		return rules.MaybeInject(op)
	})})
	if i := fsys.Mark(1, "invoke put k"); i != 0 {
		t.Fatalf("first mark has Index %d", i)
	}
	// The rule did not count the mark: the stat fails.
	if _, err := fsys.Stat("/"); !errors.Is(err, ErrInjected) {
		t.Fatalf("stat after a mark: %v", err)
	}
	fsys.SetInjector(injectorFunc(func(Op) Fault { return Error(syscall.EIO) }))
	if i := fsys.Mark(1, "return ok"); i != 2 {
		t.Fatalf("second mark has Index %d", i)
	}
	ops := log.Ops()
	if len(ops) != 3 || ops[0].Kind != OpMark || ops[0].Note != "invoke put k" || ops[0].Owner != 1 {
		t.Fatalf("log: %v", ops)
	}
	if len(asked) != 2 || asked[0] != OpMark {
		t.Fatalf("the injector was asked about %v", asked)
	}
	if s := ops[2].String(); s != `#2 p1 mark "return ok"` {
		t.Fatalf("String: %q", s)
	}
	if len(fsys.Pending(0).Meta) != 0 {
		t.Fatal("a mark changed the namespace")
	}
}

type injectorFunc func(Op) Fault

func (f injectorFunc) MaybeInject(op Op) Fault { return f(op) }

func TestParseChoice(t *testing.T) {
	for _, c := range []Choice{
		{},
		{Prefix: 3},
		{Prefix: 1, Sizes: []int{0, 2}, Data: []int{1}},
		{Sizes: []int{7}},
		{Data: []int{0, 0, 5, -1}},
	} {
		got, err := ParseChoice(c.Key())
		ok(t, err)
		if got.Key() != c.Key() {
			t.Fatalf("ParseChoice(%q).Key() = %q", c.Key(), got.Key())
		}
	}
	c, err := ParseChoice("2/1,0/")
	if err != nil || c.Prefix != 2 || !slices.Equal(c.Sizes, []int{1, 0}) || c.Data != nil {
		t.Fatalf("ParseChoice: %+v %v", c, err)
	}
	for _, bad := range []string{"", "1", "1/2", "1/2/3/4", "x//", "/1/", "1/,/", "1/1,/", "01//", "+1//",
		"1/ 2/", "-0//", "99999999999999999999//", "1//2,,3"} {
		if _, err := ParseChoice(bad); !errors.Is(err, ErrBadChoice) {
			t.Errorf("ParseChoice(%q): %v", bad, err)
		}
	}
	// Every choice a Pending yields comes back.
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, strings.Repeat("x", 5000), 0)
	p := fsys.Pending(512)
	for c := range p.Choices(AllSubsets, 50, 1) {
		got, err := ParseChoice(c.Key())
		if err != nil || got.Key() != c.Key() {
			t.Fatalf("%q: %v", c.Key(), err)
		}
	}
}

// FuzzParseChoice: ParseChoice never panics, and what it accepts is
// exactly what Key writes.
func FuzzParseChoice(f *testing.F) {
	for _, s := range []string{"0//", "3/1,0/2,2,1", "1/2/3/4", "-1/-2/", "01//", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		c, err := ParseChoice(key)
		if err != nil {
			if !errors.Is(err, ErrBadChoice) {
				t.Fatalf("error does not wrap ErrBadChoice: %v", err)
			}
			return
		}
		if c.Key() != key {
			t.Fatalf("ParseChoice(%q).Key() = %q", key, c.Key())
		}
	})
}
