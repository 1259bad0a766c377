package faultfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

func TestLockTable(t *testing.T) {
	fsys := New(Options{})
	ex, err := fsys.Lock("/lock", engine.Exclusive)
	ok(t, err)
	if fi, err := fsys.Stat("/lock"); err != nil || fi.Mode() != 0o600 {
		t.Fatalf("lock file: %v", err)
	}
	if p := fsys.Pending(0); len(p.Meta) != 1 || p.Meta[0].Kind != MetaCreate {
		t.Fatalf("the lock file's create is not a namespace change: %+v", p.Meta)
	}
	_, err = fsys.Lock("/lock", engine.Exclusive)
	wantPathErr(t, err, "lock", engine.ErrLocked)
	_, err = fsys.Lock("/lock", engine.Shared)
	wantPathErr(t, err, "lock", engine.ErrLocked)
	ok(t, ex.Close())
	wantPathErr(t, ex.Close(), "unlock", engine.ErrClosed)
	s1, err := fsys.Lock("/lock", engine.Shared)
	ok(t, err)
	s2, err := fsys.Lock("/lock", engine.Shared)
	ok(t, err)
	_, err = fsys.Lock("/lock", engine.Exclusive)
	wantPathErr(t, err, "lock", engine.ErrLocked)
	ok(t, s1.Close())
	ok(t, s2.Close())
	_, err = fsys.Lock("/", engine.Shared)
	wantErrno(t, err, "open", syscall.EISDIR)
	_, err = fsys.Lock("/nope/lock", engine.Shared)
	wantErrno(t, err, "open", syscall.ENOENT)
	_, err = fsys.Lock("/lock", engine.LockMode(9))
	wantPathErr(t, err, "lock", fs.ErrInvalid)

	// A killed process's locks.
	p1, p2 := fsys.View(1), fsys.View(2)
	l1, err := p1.Lock("/lock", engine.Exclusive)
	ok(t, err)
	_, err = p2.Lock("/lock", engine.Exclusive)
	wantPathErr(t, err, "lock", engine.ErrLocked)
	if n := fsys.ReleaseLocks(1); n != 1 {
		t.Fatalf("released %d", n)
	}
	l2, err := p2.Lock("/lock", engine.Exclusive)
	ok(t, err)
	wantPathErr(t, l1.Close(), "unlock", engine.ErrClosed)
	ok(t, l2.Close())
	// The view is the same file system.
	f, err := p1.OpenFile("/x", os.O_RDWR|os.O_CREATE, 0o644)
	ok(t, err)
	if _, err := p1.Map(f, 10); err != nil {
		t.Fatalf("Map through a view: %v", err)
	}
}

func TestOpLog(t *testing.T) {
	log := new(Log)
	fsys := New(Options{Observe: log.Observe})
	f := create(t, fsys, "d/../f")
	writeAt(t, f, "abc", 7)
	ok(t, fsys.Rename("/f", "/g"))
	r, err := fsys.Map(f, 4096)
	ok(t, err)
	ok(t, r.Store64(8, 1))
	ok(t, engine.Persist(r, 8, 8))
	ok(t, f.Close())
	var got []string
	for i, op := range log.Ops() {
		if op.Index != uint64(i) {
			t.Fatalf("op %d has Index %d", i, op.Index)
		}
		got = append(got, op.String())
	}
	want := []string{
		"#0 open /f",
		"#1 write /f [7,10)",
		"#2 rename /f -> /g",
		"#3 map /f 4096",
		"#4 region-atomic /f [8,16)",
		"#5 flush /f [8,16)",
		"#6 drain /f",
		"#7 close /f",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if OpKind(200).String() != "OpKind(200)" || OpUnmap.String() != "unmap" {
		t.Fatal("OpKind.String")
	}
}

func TestInjectError(t *testing.T) {
	rules := NewRules(Rule{
		When:  And(PathGlob("/wal/*.log"), OpKinds(OpWrite), OnIndex(1)),
		Fault: Error(syscall.ENOSPC),
	})
	fsys := New(Options{Injector: rules})
	ok(t, fsys.MkdirAll("/wal", 0o755))
	f := create(t, fsys, "/wal/1.log")
	other := create(t, fsys, "/other")
	writeAt(t, other, "x", 0)
	writeAt(t, f, "first", 0)
	if len(rules.Unfired()) != 1 {
		t.Fatal("fired too early")
	}
	_, err := f.WriteAt([]byte("second"), 5)
	wantPathErr(t, err, "write", ErrInjected)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("errno lost: %v", err)
	}
	if got := fileText(t, fsys, "/wal/1.log"); got != "first" {
		t.Fatalf("a failed write took effect: %q", got)
	}
	writeAt(t, f, "third", 5) // fires once
	if len(rules.Unfired()) != 0 || rules.Fired()[0] != 1 {
		t.Fatal("Unfired/Fired")
	}

	// Rename fails with a LinkError; Close closes anyway.
	fsys.SetInjector(NewRules(
		Rule{When: OpKinds(OpRename), Fault: Error(syscall.EIO)},
		Rule{When: OpKinds(OpClose), Fault: Error(syscall.EIO)},
	))
	err = fsys.Rename("/other", "/o")
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(err, ErrInjected) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("rename: %v", err)
	}
	wantPathErr(t, other.Close(), "close", ErrInjected)
	wantPathErr(t, other.Close(), "close", fs.ErrClosed)
}

func TestInjectShortWriteBitFlipSyncFailure(t *testing.T) {
	rules := NewRules(
		Rule{When: OnIndex(0), Fault: ShortWrite}, // counts writes only
		Rule{When: PathGlob("/f"), Fault: BitFlip(3), Repeat: true},
	)
	fsys := New(Options{Injector: rules})
	f := create(t, fsys, "/f")
	n, err := f.WriteAt([]byte("abcdef"), 0)
	if n != 3 || !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrInjected) {
		t.Fatalf("short write: %d %v", n, err)
	}
	b := make([]byte, 3)
	_, err = f.ReadAt(b, 0)
	ok(t, err)
	if string(b) == "abc" || bitsDiffer(b, []byte("abc")) != 1 {
		t.Fatalf("bit flip: %q", b)
	}
	_, err = f.ReadAt(b, 0) // repeating
	ok(t, err)
	if bitsDiffer(b, []byte("abc")) != 1 {
		t.Fatal("repeating rule did not repeat")
	}
	r, err := fsys.Map(f, 8)
	ok(t, err)
	v, err := r.View(0, 3)
	ok(t, err)
	if bitsDiffer(v, []byte("abc")) != 1 {
		t.Fatalf("region read: %q", v)
	}
	fsys.SetInjector(nil)
	if got := fileText(t, fsys, "/f"); got[:3] != "abc" {
		t.Fatal("a bit flip changed what is stored")
	}

	// SyncFailure on Drain.
	fsys.SetInjector(NewRules(Rule{Fault: SyncFailure}))
	ok(t, r.Store64(0, 7))
	ok(t, r.Flush(0, 8))
	if err := r.Drain(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Drain: %v", err)
	}
	if v, _ := r.Load64(0); v != 7 {
		t.Fatal("the page cache lost a store")
	}
}

func bitsDiffer(a, b []byte) int {
	n := 0
	for i := range a {
		x := a[i] ^ b[i]
		for ; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

func TestPredicates(t *testing.T) {
	op := Op{Kind: OpRename, Path: "/a/x", NewPath: "/b/y"}
	for _, c := range []struct {
		p    Predicate
		want bool
	}{
		{Always, true},
		{OpKinds(OpRename, OpSync), true},
		{OpKinds(OpSync), false},
		{PathGlob("/b/*"), true},
		{PathGlob("/a/*"), true},
		{PathGlob("/c/*"), false},
		{PathGlob("[malformed"), false},
		{Not(Always), false},
		{Or(Not(Always), PathGlob("/a/x")), true},
		{And(Always, Not(Always)), false},
	} {
		if got := c.p.Match(op); got != c.want {
			t.Errorf("%s: %v", c.p, got)
		}
	}
	// OnIndex inside And counts only what passed before it.
	p := And(OpKinds(OpSync), OnIndex(1))
	var fired []int
	for i, k := range []OpKind{OpWrite, OpSync, OpWrite, OpSync, OpSync} {
		if p.Match(Op{Kind: k}) {
			fired = append(fired, i)
		}
	}
	if len(fired) != 1 || fired[0] != 3 {
		t.Fatalf("fired on %v, want [3]", fired)
	}
	if s := p.String(); s != "and(kind sync, index 1)" {
		t.Fatalf("String = %q", s)
	}
	if s := (Rule{Fault: Error(syscall.EIO), Repeat: true}).String(); !strings.Contains(s, "input/output error on always") {
		t.Fatalf("Rule.String = %q", s)
	}
	if !(Fault{}).IsNone() || ShortWrite.IsNone() {
		t.Fatal("IsNone")
	}
}

// TestFailedSeesEveryOutcome: Options.Failed is called with every
// operation that returns an error, injected or not, and every one a fault
// was injected into, with what it returns; never for one that succeeds by
// itself.
func TestFailedSeesEveryOutcome(t *testing.T) {
	type outcome struct {
		op    string
		fault string
		err   error
	}
	var seen []outcome
	fsys := New(Options{Failed: func(op Op, fault Fault, err error) {
		seen = append(seen, outcome{op.String(), fault.String(), err})
	}})
	f := create(t, fsys, "/f")
	writeAt(t, f, "abc", 0)
	b := make([]byte, 8)
	f.ReadAt(b, 0)                          // EOF
	fsys.OpenFile("/missing", os.O_RDWR, 0) // ENOENT
	fsys.SetInjector(NewRules(
		Rule{When: OpKinds(OpSync), Fault: SyncFailure},
		Rule{When: OpKinds(OpRead), Fault: BitFlip(1)},
	))
	f.Sync()
	f.ReadAt(b[:3], 0) // a bit flip: no error
	ok(t, f.Close())
	want := []struct {
		op, fault string
		errno     error
	}{
		{"#2 read /f [0,8)", "none", io.EOF},
		{"#3 open /missing", "none", syscall.ENOENT},
		{"#4 sync /f", "sync failure", syscall.EIO},
		{"#5 read /f [0,3)", "bit flip (seed 1)", nil},
	}
	if len(seen) != len(want) {
		t.Fatalf("Failed saw %v, want %v", seen, want)
	}
	for i, w := range want {
		if seen[i].op != w.op || seen[i].fault != w.fault || !errors.Is(seen[i].err, w.errno) || (w.errno == nil) != (seen[i].err == nil) {
			t.Errorf("outcome %d: %+v, want %+v", i, seen[i], w)
		}
	}
}

// TestRulesCountOnTheirOwn: one Rule, with an OnIndex inside And and Not,
// serves many Rules, each counting from 0, one after another or at once:
// each fires on its own third write.
func TestRulesCountOnTheirOwn(t *testing.T) {
	rule := Rule{
		When:  And(Not(PathGlob("/other")), OpKinds(OpWrite), OnIndex(2)),
		Fault: Error(syscall.EIO),
	}
	run := func() (failed []int, unfired int) {
		rules := NewRules(rule)
		fsys := New(Options{Injector: rules})
		f := create(t, fsys, "/f")
		for i := range 5 {
			if _, err := f.WriteAt([]byte("x"), int64(i)); err != nil {
				failed = append(failed, i)
			}
		}
		return failed, len(rules.Unfired())
	}
	for i := range 3 {
		if failed, unfired := run(); len(failed) != 1 || failed[0] != 2 || unfired != 0 {
			t.Fatalf("run %d: writes %v failed, %d rules unfired; want the third write", i, failed, unfired)
		}
	}
	done := make(chan []int)
	for range 4 {
		go func() {
			failed, _ := run()
			done <- failed
		}()
	}
	for range 4 {
		if failed := <-done; len(failed) != 1 || failed[0] != 2 {
			t.Fatalf("concurrent run: writes %v failed, want the third", failed)
		}
	}
}
