package faultfs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

func TestRegion(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	r, err := fsys.Map(f, 8192)
	ok(t, err)
	if r.Medium() != engine.MappedFile || r.Len() != 8192 {
		t.Fatalf("medium %v len %d", r.Medium(), r.Len())
	}
	if fi, _ := f.Stat(); fi.Size() != 8192 {
		t.Fatalf("Map did not extend the file: %d", fi.Size())
	}
	// Coherent with file I/O, both ways.
	writeAt(t, f, "file", 100)
	v, err := r.View(100, 4)
	ok(t, err)
	if string(v) != "file" {
		t.Fatalf("View = %q", v)
	}
	v[0] = 'X' // a copy: changing it changes nothing
	if _, err := r.WriteAt([]byte("region"), 4094); err != nil {
		t.Fatal(err)
	}
	if got := fileText(t, fsys, "/f"); got[100:104] != "file" || got[4094:4100] != "region" {
		t.Fatal("region stores are not file writes")
	}
	// Atomics.
	ok(t, r.Store32(8, 7))
	if v, _ := r.Load32(8); v != 7 {
		t.Fatalf("Load32 = %d", v)
	}
	if v, _ := r.Add64(16, 5); v != 5 {
		t.Fatalf("Add64 = %d", v)
	}
	if v, _ := r.Add32(24, 3); v != 3 {
		t.Fatalf("Add32 = %d", v)
	}
	if swapped, _ := r.CompareAndSwap64(16, 4, 9); swapped {
		t.Fatal("CAS64 swapped on a wrong old value")
	}
	if swapped, _ := r.CompareAndSwap64(16, 5, 9); !swapped {
		t.Fatal("CAS64 did not swap")
	}
	if swapped, _ := r.CompareAndSwap32(24, 3, 1); !swapped {
		t.Fatal("CAS32 did not swap")
	}
	if v, _ := r.Load64(16); v != 9 {
		t.Fatalf("Load64 = %d", v)
	}
	// Errors.
	if _, err := r.Load64(4); !errors.Is(err, engine.ErrMisaligned) {
		t.Fatalf("misaligned: %v", err)
	}
	if err := r.Store32(8190, 1); !errors.Is(err, engine.ErrOutOfRange) {
		t.Fatalf("out of range: %v", err)
	}
	if _, err := r.ReadAt(make([]byte, 2), 8191); !errors.Is(err, engine.ErrOutOfRange) {
		t.Fatalf("out of range: %v", err)
	}
	// Valid after its file is closed and removed.
	ok(t, f.Close())
	ok(t, fsys.Remove("/f"))
	ok(t, r.Store64(0, 42))
	ok(t, r.Grow(16384))
	if r.Len() != 16384 {
		t.Fatal("Grow")
	}
	if v, _ := r.Load64(0); v != 42 {
		t.Fatal("region of a removed file")
	}
	ok(t, r.Close())
	if _, err := r.Load64(0); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := r.Close(); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestMapRefuses(t *testing.T) {
	fsys := New(Options{})
	create(t, fsys, "/f")
	ro, err := fsys.OpenFile("/f", os.O_RDONLY, 0)
	ok(t, err)
	if _, err := fsys.Map(ro, 4096); !errors.Is(err, engine.ErrNotSupported) {
		t.Fatalf("read-only: %v", err)
	}
	other := New(Options{})
	g := create(t, other, "/g")
	if _, err := fsys.Map(g, 4096); !errors.Is(err, engine.ErrNotSupported) {
		t.Fatalf("another FS's file: %v", err)
	}
	rw, err := fsys.OpenFile("/f", os.O_RDWR, 0)
	ok(t, err)
	if _, err := fsys.Map(rw, 0); !errors.Is(err, engine.ErrOutOfRange) {
		t.Fatalf("length 0: %v", err)
	}
	r, err := fsys.Map(rw, 4096)
	ok(t, err)
	ok(t, rw.Truncate(10))
	if _, err := r.Load64(4088); !errors.Is(err, engine.ErrOutOfRange) {
		t.Fatalf("past the end of the file: %v", err)
	}
}

// TestConcurrentUse is for the race detector: files, regions and crash
// clones from many goroutines.
func TestConcurrentUse(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/counter")
	r, err := fsys.Map(f, 4096)
	ok(t, err)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "/f" + string(rune('0'+g))
			h, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range 200 {
				h.WriteAt([]byte{byte(i)}, int64(i*100))
				r.Add64(0, 1)
				if i%50 == 0 {
					h.Sync()
					fsys.View(g).SyncDir("/")
					fsys.Mark(g, "sync")
					c := fsys.CrashClone(CrashOptions{Mode: AllSubsets, Seed: int64(i)})
					c.Stat(name)
					c.Fingerprint()
					fsys.Fingerprint()
				}
			}
			h.Close()
		}()
	}
	wg.Wait()
	if v, _ := r.Load64(0); v != 800 {
		t.Fatalf("counter = %d, want 800", v)
	}
	b := make([]byte, 1)
	if _, err := r.ReadAt(b, 9); err != nil || !bytes.Equal(b, []byte{0}) {
		t.Fatal(err)
	}
}

// TestClonesShareNothingMutable is for the race detector: a file system and
// its clones, which share blocks and tree nodes, used at once.
func TestClonesShareNothingMutable(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	for b := range 64 {
		writeAt(t, f, "durable", int64(b)*4096)
	}
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	for b := range 32 {
		writeAt(t, f, "pending", int64(b)*8192)
	}
	p := fsys.Pending(512)
	clones := []*FS{
		fsys.CrashClone(CrashOptions{Mode: KeepAll}),
		fsys.CrashClone(CrashOptions{Mode: AllSubsets, Seed: 1}),
		p.Clone(p.keepAll(), Tail{}),
		fsys, // the live one too
	}
	var wg sync.WaitGroup
	for i, c := range clones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := c.OpenFile("/f", os.O_RDWR, 0)
			if err != nil {
				t.Error(err)
				return
			}
			r, err := c.Map(h, 64*4096)
			if err != nil {
				t.Error(err)
				return
			}
			for j := range 64 {
				h.WriteAt([]byte{byte(i)}, int64(j)*4096+100)
				r.Store64(int64(j)*4096+200, uint64(i))
				if j%8 == 0 {
					engine.Persist(r, 0, 64*4096)
					h.Sync()
					h.Truncate(int64(64-j) * 4096)
					r.Grow(64 * 4096)
					p.Clone(p.random(rand.New(rand.NewPCG(uint64(i), uint64(j)))), Tail{Garbage: true}).Fingerprint()
					c.Fingerprint() // shared blocks and nodes cache their hashes
				}
			}
		}()
	}
	wg.Wait()
}
