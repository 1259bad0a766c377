package vec_test

import (
	"errors"
	"io/fs"
	"slices"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine/vec"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/internal/vecbug"
)

// TestFullDisk: on a full disk a growth is ErrNoSpace wrapping ENOSPC,
// never SIGBUS, and leaves the vector as it was and usable; so does one
// that gets a part of its blocks; the vector opens again on the full disk;
// Create fails and leaves nothing. The same growth done the wrong way —
// mapped over a hole (vecbug.GrowBeforeExtend) — dies of SIGBUS, which is
// what the test guards against.
func TestFullDisk(t *testing.T) {
	for _, partial := range []bool{false, true} {
		fsys := simFS(t)
		v := mustCreate(t, fsys, "/data/v.vec", &vec.Options{Capacity: 512}) // two pages of elements
		want := make([]rec, 512)
		for i := range want {
			want[i] = mkrec(i)
		}
		if err := v.Append(want...); err != nil {
			t.Fatal(err)
		}
		if err := v.Sync(); err != nil {
			t.Fatal(err)
		}
		used, _ := fsys.Space("/data")
		if partial {
			used += 4096 // room for one of the growth's two blocks
		}
		fsys.SetCapacity("/data", used)
		err := v.Push(mkrec(512))
		if !errors.Is(err, vec.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("partial %v: a growth on a full disk: %v, want ErrNoSpace wrapping ENOSPC", partial, err)
		}
		if v.Len() != 512 || v.Cap() != 512 {
			t.Errorf("partial %v: after the failed growth: Len %d Cap %d, want 512 and 512", partial, v.Len(), v.Cap())
		}
		if fi, err := fsys.Stat("/data/v.vec"); err != nil || (fi.Size() > 4096+512*16) != partial {
			t.Errorf("partial %v: the file after the failed growth: %v, %v", partial, fi.Size(), err)
		}
		if err := v.Set(3, mkrec(1000)); err != nil {
			t.Fatal(err)
		}
		want[3] = mkrec(1000)
		if err := v.Truncate(511); err != nil {
			t.Fatal(err)
		}
		if err := v.Push(mkrec(511)); err != nil { // fits: no growth
			t.Fatal(err)
		}
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		v = mustOpen(t, fsys, "/data/v.vec", nil)
		if got := contents(t, v); !slices.Equal(got, want) || v.Cap() != 512 {
			t.Errorf("partial %v: reopened on the full disk: %d elements, Cap %d", partial, len(got), v.Cap())
		}
		v.Close()
		if _, err := vec.Create[rec](fsys, "/data/w.vec", nil); !errors.Is(err, vec.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("Create on a full disk: %v, want ErrNoSpace wrapping ENOSPC", err)
		}
		if _, err := fsys.Stat("/data/w.vec.creating"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the failed Create left its temporary file: %v", err)
		}
	}

	fsys := simFS(t)
	o := &vec.Options{Capacity: 256}
	vecbug.Set(o, vecbug.GrowBeforeExtend)
	v := mustCreate(t, fsys, "/data/v.vec", o)
	if err := v.Append(make([]rec, 256)...); err != nil {
		t.Fatal(err)
	}
	used, _ := fsys.Space("/data")
	fsys.SetCapacity("/data", used)
	if err := v.Push(mkrec(256)); !errors.Is(err, faultfs.ErrSIGBUS) {
		t.Errorf("a growth mapped over a hole, on a full disk: %v, want the SIGBUS of a store to a hole", err)
	}
}

// TestSyncFailure: an fsync failure (Linux semantics: the dirty pages are
// dropped) during Sync or a growth is fatal — ErrBroken until the vector
// is opened again — so that no later Sync writes a length over elements
// that never reached the disk; the reopened vector has the length of the
// last Sync that succeeded.
func TestSyncFailure(t *testing.T) {
	for _, c := range []struct {
		name string
		op   faultfs.OpKind
		do   func(v *vec.Vec[rec]) error
	}{
		{"Sync's drain", faultfs.OpDrain, func(v *vec.Vec[rec]) error { v.Push(mkrec(9)); return v.Sync() }},
		{"a growth's fsync", faultfs.OpSync, func(v *vec.Vec[rec]) error { return v.Append(make([]rec, 300)...) }},
	} {
		fsys := simFS(t)
		v := mustCreate(t, fsys, "/data/v.vec", &vec.Options{Capacity: 256})
		v.Append(mkrec(1), mkrec(2))
		if err := v.Sync(); err != nil {
			t.Fatal(err)
		}
		rules := faultfs.NewRules(faultfs.Rule{When: faultfs.OpKinds(c.op), Fault: faultfs.SyncFailure})
		fsys.SetInjector(rules)
		if err := c.do(v); !errors.Is(err, syscall.EIO) {
			t.Errorf("%s failing: %v, want EIO", c.name, err)
		}
		fsys.SetInjector(nil)
		for what, err := range map[string]error{"Push": v.Push(mkrec(3)), "Sync": v.Sync(), "Reserve": v.Reserve(5000)} {
			if !errors.Is(err, vec.ErrBroken) {
				t.Errorf("%s failed, then %s: %v, want ErrBroken", c.name, what, err)
			}
		}
		if err := v.Close(); err != nil {
			t.Errorf("Close of a broken vector: %v", err)
		}
		v = mustOpen(t, fsys, "/data/v.vec", nil)
		if got := contents(t, v); !slices.Equal(got, []rec{mkrec(1), mkrec(2)}) {
			t.Errorf("%s failed: reopened with %v, want the last Sync's 2 elements", c.name, got)
		}
	}
}
