package shm_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/zeebo/xxh3"
)

// sample is a namespace on a simulated machine, for the fuzz targets: four
// blobs in its first chunk, the second acknowledged, and one in its second.
type sample struct {
	fsys    *faultfs.FS
	clock   *shm.ManualClock
	o       *shm.Options
	handles []shm.Handle
	blobs   [][]byte
	chunk   string // the first chunk's object
}

func newSample(t testing.TB) *sample {
	t.Helper()
	fsys, dir := simShm(t)
	sm := &sample{fsys: fsys.(*faultfs.FS), clock: shm.NewManualClock(epoch)}
	sm.o = small(fsys, dir, sm.clock)
	sm.o.MaxChunks = 4
	s, err := shm.Create("fz", sm.o)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{10, 300, 0, 7000} {
		b := blob(i, n)
		h, err := s.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		sm.handles, sm.blobs = append(sm.handles, h), append(sm.blobs, b)
	}
	if err := s.Acknowledge(sm.handles[1]); err != nil {
		t.Fatal(err)
	}
	sm.chunk = path.Join(dir, shm.ChunkName("fz", sm.handles[0].Gen))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return sm
}

// overwrite puts b at off of the object name.
func (sm *sample) overwrite(t testing.TB, name string, b []byte, off int64) {
	t.Helper()
	f, err := sm.fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// read returns n bytes at off of the object name.
func (sm *sample) read(t testing.TB, name string, off, n int64) []byte {
	t.Helper()
	f, err := engine.Open(sm.fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// typed reports whether err is one of the errors the package documents.
func typed(err error) bool {
	for _, e := range []error{shm.ErrFull, shm.ErrTooLarge, shm.ErrNotFound, shm.ErrGone, shm.ErrHandle,
		shm.ErrCorrupt, shm.ErrVersion, shm.ErrNotReady, shm.ErrNoSpace, fs.ErrNotExist} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// exercise attaches to the sample's namespace, whatever was done to it,
// and uses every operation: no panic, every error typed, and a blob that
// resolves through a sample handle is the sample's.
func (sm *sample) exercise(t *testing.T) {
	s, err := shm.Attach("fz", sm.o)
	if err != nil {
		if !typed(err) {
			t.Fatalf("Attach: untyped error %v", err)
		}
		return
	}
	defer s.Close()
	check := func(what string, err error) {
		t.Helper()
		if err != nil && !typed(err) {
			t.Fatalf("%s: untyped error %v", what, err)
		}
	}
	check("Check", s.Check())
	_, err = s.Stats()
	check("Stats", err)
	for e, err := range s.Entries() {
		check("Entries", err)
		if err == nil {
			b, err := s.Resolve(e.Handle)
			check("Resolve of an entry", err)
			if err == nil && len(b) != int(e.Handle.Size) {
				t.Fatalf("Resolve(%v): %d bytes", e.Handle, len(b))
			}
		}
	}
	for _, h := range sm.handles {
		b, err := s.Resolve(h)
		check("Resolve", err)
		// The blob's bytes are not checksummed (the fuzzer may have
		// changed them): what Resolve returns must be the bytes the
		// handle names, whatever they are now.
		if want := sm.read(t, path.Join(sm.o.Dir, shm.ChunkName("fz", h.Gen)), int64(h.Offset), int64(h.Size)); err == nil && !bytes.Equal(b, want) {
			t.Fatalf("Resolve(%v) = %q, not the bytes there, %q", h, abbrev(b), abbrev(want))
		}
		check("View", s.View(h, func([]byte) {}))
		check("Acknowledge", s.Acknowledge(h))
	}
	for i := range 3 {
		h, err := s.Append(blob(10+i, 2000))
		check("Append", err)
		if err == nil {
			b, err := s.Resolve(h)
			if err != nil || !bytes.Equal(b, blob(10+i, 2000)) {
				t.Fatalf("Resolve(%v) after Append: %q, %v", h, abbrev(b), err)
			}
		}
	}
	sm.clock.Advance(time.Hour)
	for range 2 {
		_, err := s.Cleanup()
		check("Cleanup", err)
	}
	check("Prefetch", s.Prefetch())
}

// FuzzControl puts the fuzzer's bytes over the control object — its
// identity, the head and next words, the statistics and the slots —
// with the identity's checksum made right when forge is set, so that the
// fields themselves reach Validate, and then uses the namespace.
func FuzzControl(f *testing.F) {
	sm := newSample(f)
	ctl := "/dev/shm/fz_ctrl"
	orig := sm.read(f, ctl, 0, int64(shm.CtlSlotsOff)+32)
	f.Add(orig, false)
	f.Add(orig, true)
	f.Add(orig[:8], false)
	f.Add(make([]byte, 64), false)
	f.Add(orig[128:], false)
	f.Fuzz(func(t *testing.T, b []byte, forge bool) {
		sm := newSample(t)
		b = b[:min(len(b), len(orig))]
		img := bytes.Clone(orig)
		copy(img, b)
		if forge {
			binary.NativeEndian.PutUint64(img[64:], xxh3.Hash(img[:64]))
		}
		sm.overwrite(t, ctl, img, 0)
		sm.exercise(t)
	})
}

// FuzzChunk puts the fuzzer's bytes over the first chunk's first bytes —
// its identity, used word, counters and first entries — with the
// identity's checksum made right when forge is set, and then uses the
// namespace.
func FuzzChunk(f *testing.F) {
	sm := newSample(f)
	orig := sm.read(f, sm.chunk, 0, int64(shm.DataStart)+400)
	f.Add(orig, false)
	f.Add(orig, true)
	f.Add(orig[:64], true)
	f.Add(make([]byte, 72), false)
	f.Fuzz(func(t *testing.T, b []byte, forge bool) {
		sm := newSample(t)
		b = b[:min(len(b), len(orig))]
		img := bytes.Clone(orig)
		copy(img, b)
		if forge {
			binary.NativeEndian.PutUint64(img[56:], xxh3.Hash(img[:56]))
		}
		sm.overwrite(t, sm.chunk, img, 0)
		sm.exercise(t)
	})
}

// FuzzHandle resolves, views and acknowledges the fuzzer's handle in the
// sample namespace: no panic; ErrHandle, ErrNotFound or ErrGone, or the
// handle is one Append returned and gives its blob.
func FuzzHandle(f *testing.F) {
	sm := newSample(f)
	for _, h := range sm.handles {
		f.Add(h.Chunk, h.Gen, h.Offset, h.Size)
		f.Add(h.Chunk, h.Gen, h.Offset+8, h.Size)
	}
	f.Add(uint32(0), uint32(0), uint32(0), uint32(0))
	f.Add(^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0))
	s, err := shm.Attach("fz", sm.o)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, chunk, gen, off, size uint32) {
		h := shm.Handle{Chunk: chunk, Gen: gen, Offset: off, Size: size}
		want := -1
		for i, g := range sm.handles {
			if g == h {
				want = i
			}
		}
		b, err := s.Resolve(h)
		switch {
		case err == nil && want < 0:
			t.Fatalf("Resolve(%v), a handle no Append returned: %q", h, abbrev(b))
		case err == nil && !bytes.Equal(b, sm.blobs[want]):
			t.Fatalf("Resolve(%v) = %q, want blob %d", h, abbrev(b), want)
		case err != nil && want >= 0:
			t.Fatalf("Resolve(%v) of blob %d: %v", h, want, err)
		case err != nil && !errors.Is(err, shm.ErrHandle) && !errors.Is(err, shm.ErrNotFound) && !errors.Is(err, shm.ErrGone):
			t.Fatalf("Resolve(%v): %v", h, err)
		}
		called := false
		if err := s.View(h, func([]byte) { called = true }); (err == nil) != (want >= 0) || called != (want >= 0) {
			t.Fatalf("View(%v): %v, called %v", h, err, called)
		}
		var back shm.Handle
		bin, _ := h.MarshalBinary()
		if err := back.UnmarshalBinary(bin); err != nil || back != h {
			t.Fatalf("%v through its bytes: %v, %v", h, back, err)
		}
	})
}
