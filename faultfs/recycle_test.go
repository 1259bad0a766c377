package faultfs

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// TestReleaseRecyclesWithoutAliasing builds crash images from one pending
// state, writes into each, releases some and builds more: every image
// still reads its own bytes, whatever the recycled memory held, and the
// source file system is untouched.
func TestReleaseRecyclesWithoutAliasing(t *testing.T) {
	fsys := newMounted(t)
	_, r := mapped(t, fsys, "/mnt/pmem/r", 3*BlockSize)
	f := create(t, fsys, "/d")
	writeAt(t, f, "durable", 0)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	for i := range 3 {
		ok(t, r.Store64(int64(i)*BlockSize, uint64(i+1)))
		ok(t, r.Flush(int64(i)*BlockSize, 8))
	}
	writeAt(t, f, "pending", BlockSize)
	p := fsys.Pending(0)
	var choices []Choice
	for c := range p.Choices(AllSubsets, 0, 0) {
		choices = append(choices, c)
	}
	if len(choices) < 4 {
		t.Fatalf("only %d crash states", len(choices))
	}

	// want is what image i reads before anything is released.
	type image struct {
		fs   *FS
		want []uint64
		text string
	}
	read := func(img *FS) ([]uint64, string) {
		rf, err := img.OpenFile("/mnt/pmem/r", os.O_RDWR, 0)
		ok(t, err)
		rr, err := img.Map(rf, 3*BlockSize)
		ok(t, err)
		var v []uint64
		for i := range 3 {
			x, err := rr.Load64(int64(i) * BlockSize)
			ok(t, err)
			v = append(v, x)
		}
		return v, fileText(t, img, "/d")
	}
	var live []image
	for round := range 4 {
		for _, c := range choices {
			img := p.Clone(c, Tail{})
			v, text := read(img)
			// A recovery's write, which copies the block it changes.
			img.Untrack()
			rf, err := img.OpenFile("/mnt/pmem/r", os.O_RDWR, 0)
			ok(t, err)
			rr, err := img.Map(rf, 3*BlockSize)
			ok(t, err)
			ok(t, rr.Store64(8, 0xdead))
			live = append(live, image{img, v, text})
		}
		// Release every other image; the others must not change.
		var kept []image
		for i, im := range live {
			if (i+round)%2 == 0 {
				im.fs.Release()
				continue
			}
			kept = append(kept, im)
		}
		live = kept
		for _, im := range live {
			if v, text := read(im.fs); !slices.Equal(v, im.want) || text != im.text {
				t.Fatalf("round %d: image reads %v %q, built as %v %q", round, v, text, im.want, im.text)
			}
		}
	}
	if got := fileText(t, fsys, "/d"); got != "durable\x00"+string(make([]byte, BlockSize-8))+"pending" {
		t.Errorf("the source file system changed: %d bytes", len(got))
	}
	if v, err := r.Load64(2 * BlockSize); err != nil || v != 3 {
		t.Errorf("the source region changed: %d, %v", v, err)
	}
}

// TestReleaseCloses: after Release every operation fails with ErrClosed
// and closes succeed.
func TestReleaseCloses(t *testing.T) {
	fsys := newMounted(t)
	f, r := mapped(t, fsys, "/mnt/pmem/r", BlockSize)
	fsys.Release()
	fsys.Release() // a second Release does nothing

	if _, err := r.Load64(0); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Load64 after Release: %v", err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("WriteAt after Release: %v", err)
	}
	if _, err := fsys.OpenFile("/x", os.O_CREATE|os.O_RDWR, 0o644); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("OpenFile after Release: %v", err)
	}
	if err := fsys.Rename("/mnt/pmem/r", "/y"); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Rename after Release: %v", err)
	}
	ok(t, r.Close())
	ok(t, f.Close())

	// Its state is gone, and says so: no fingerprint, and what a crash of
	// it leaves is released too.
	if fp := fsys.Fingerprint(); fp != (Fingerprint{}) {
		t.Errorf("Fingerprint after Release: %v, want zero", fp)
	}
	p := fsys.Pending(0)
	if n, exact := p.Count(AllSubsets); n != 1 || !exact {
		t.Errorf("Pending of a released FS counts %d states (exact %v), want 1", n, exact)
	}
	for name, img := range map[string]*FS{
		"CrashClone(KeepAll)": fsys.CrashClone(CrashOptions{Mode: KeepAll}),
		"CrashClone(LoseAll)": fsys.CrashClone(CrashOptions{Mode: LoseAll}),
		"Pending.Clone":       p.Clone(Choice{}, Tail{}),
	} {
		if _, err := img.OpenFile("/mnt/pmem/r", os.O_RDWR, 0); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("%s of a released FS: OpenFile gives %v, want ErrClosed", name, err)
		}
		if fp := img.Fingerprint(); fp != (Fingerprint{}) {
			t.Errorf("%s of a released FS: Fingerprint %v, want zero", name, fp)
		}
	}
}

// TestReleaseOfClonedKeepsShared: an image that was cloned shares its
// trees with the clone, so Release does not recycle them: building and
// writing other images afterwards leaves what the clone reads alone.
func TestReleaseOfClonedKeepsShared(t *testing.T) {
	fsys := newMounted(t)
	_, r := mapped(t, fsys, "/mnt/pmem/r", BlockSize)
	ok(t, r.Store64(0, 7))
	ok(t, r.Flush(0, 8))
	p := fsys.Pending(0)
	img := p.Clone(Choice{Data: []int{1}}, Tail{}) // the store kept
	clone := img.CrashClone(CrashOptions{Mode: KeepAll})
	img.Release()
	for range 100 {
		other := p.Clone(Choice{}, Tail{}) // the store lost
		of, err := other.OpenFile("/mnt/pmem/r", os.O_RDWR, 0)
		ok(t, err)
		or, err := other.Map(of, BlockSize)
		ok(t, err)
		ok(t, or.Store64(0, 99))
		other.Release()
	}
	rf, err := clone.OpenFile("/mnt/pmem/r", os.O_RDWR, 0)
	ok(t, err)
	rr, err := clone.Map(rf, BlockSize)
	ok(t, err)
	if v, err := rr.Load64(0); err != nil || v != 7 {
		t.Errorf("clone of a released image reads %d, %v; want 7", v, err)
	}
}
