package faultfs

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

const blk = BlockSize

// wantSpace fails unless the file system holding dir uses used blocks of
// a capacity of capacity blocks.
func wantSpace(t *testing.T, fsys *FS, dir string, used, capacity int64, what string) {
	t.Helper()
	u, c := fsys.Space(dir)
	if u != used*blk || c != capacity*blk {
		t.Errorf("%s: Space = %d blocks used of %d, want %d of %d", what, u/blk, c/blk, used, capacity)
	}
}

// syncedFile creates name, durable with its name, and returns it open.
func syncedFile(t *testing.T, fsys *FS, name string) engine.File {
	t.Helper()
	f := create(t, fsys, name)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	return f
}

// TestAllocate (rule 16): Allocate gives holes blocks of zeros, keeps the
// data, grows the file, and is durable after Sync, not before.
func TestAllocate(t *testing.T) {
	fsys := New(Options{Mounts: []Mount{{Dir: "/", Capacity: 100 * blk}}})
	f := syncedFile(t, fsys, "/f")
	writeAt(t, f, "data", blk+10)
	wantSpace(t, fsys, "/", 1, 100, "after a write in block 1")
	ok(t, engine.Allocate(f, 0, 4*blk+1))
	wantSpace(t, fsys, "/", 5, 100, "after Allocate of blocks 0 to 4")
	if fi, _ := f.Stat(); fi.Size() != 4*blk+1 {
		t.Errorf("size after Allocate = %d, want %d", fi.Size(), 4*blk+1)
	}
	want := make([]byte, 4*blk+1)
	copy(want[blk+10:], "data")
	if got := fileText(t, fsys, "/f"); got != string(want) {
		t.Errorf("Allocate changed the data")
	}
	ok(t, engine.Allocate(f, 2, 3))
	wantSpace(t, fsys, "/", 5, 100, "after Allocate of allocated blocks")

	lost := fsys.CrashClone(CrashOptions{Mode: LoseAll})
	wantSpace(t, lost, "/", 0, 100, "a power failure before Sync")
	ok(t, f.Sync())
	kept := fsys.CrashClone(CrashOptions{Mode: LoseAll})
	wantSpace(t, kept, "/", 5, 100, "a power failure after Sync")
	if fi, err := kept.Stat("/f"); err != nil || fi.Size() != 4*blk+1 {
		t.Errorf("after Sync the size is durable: %v, %v", fi, err)
	}
	proc := fsys.CrashClone(CrashOptions{Mode: KeepAll})
	wantSpace(t, proc, "/", 5, 100, "a process crash")
}

// TestCapacity (rule 17): writes, Allocate, truncates and removes on a
// file system with a capacity.
func TestCapacity(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	fsys.SetCapacity("/", 4*blk)
	wantSpace(t, fsys, "/", 0, 4, "empty")

	// A write past the room: the blocks that fit, then ENOSPC.
	n, err := f.WriteAt(bytes.Repeat([]byte{1}, 3*blk), blk)
	if n != 3*blk || err != nil {
		t.Fatalf("a write that fits: %d, %v", n, err)
	}
	n, err = f.WriteAt(bytes.Repeat([]byte{2}, 2*blk), 5*blk-100)
	wantErrno(t, err, "write", syscall.ENOSPC)
	if n != 100 {
		t.Errorf("a write past the room wrote %d bytes, want the 100 of the block it has room for", n)
	}
	if errors.Is(err, ErrInjected) {
		t.Errorf("a full disk's ENOSPC is not injected: %v", err)
	}
	wantSpace(t, fsys, "/", 4, 4, "full")
	// Rewriting held blocks needs no room.
	writeAt(t, f, "again", blk)

	// Allocate on a full disk: nothing to allocate is fine, a hole fails.
	ok(t, engine.Allocate(f, blk, 100))
	err = engine.Allocate(f, 0, blk)
	wantErrno(t, err, "fallocate", syscall.ENOSPC)

	// Truncate frees the blocks it cuts; Allocate then takes what it can,
	// in order, grows the file over it, and fails (as ext4 does).
	ok(t, f.Truncate(2*blk))
	wantSpace(t, fsys, "/", 1, 4, "after a truncate to 2 blocks") // block 0 is a hole
	err = engine.Allocate(f, 0, 8*blk)
	wantErrno(t, err, "fallocate", syscall.ENOSPC)
	wantSpace(t, fsys, "/", 4, 4, "after a partial Allocate")
	if fi, _ := f.Stat(); fi.Size() != 4*blk {
		t.Errorf("size after a partial Allocate = %d, want %d (block 0, then blocks 2 and 3)", fi.Size(), 4*blk)
	}

	// Removing a file frees its blocks.
	g := create(t, fsys, "/g")
	_, err = g.WriteAt([]byte("x"), 0)
	wantErrno(t, err, "write", syscall.ENOSPC)
	ok(t, fsys.Remove("/f"))
	wantSpace(t, fsys, "/", 0, 4, "after the file is removed")
	writeAt(t, g, "x", 0)
	wantSpace(t, fsys, "/", 1, 4, "after a write to another file")

	// An injected ENOSPC fails Allocate whatever the room.
	fsys.SetInjector(NewRules(Rule{When: OpKinds(OpAllocate), Fault: Error(syscall.ENOSPC)}))
	err = engine.Allocate(g, 0, blk)
	wantErrno(t, err, "fallocate", syscall.ENOSPC)
	if !errors.Is(err, ErrInjected) {
		t.Errorf("injected: %v", err)
	}
	fsys.SetInjector(nil)

	// No limit: the room is endless again.
	fsys.SetCapacity("/", 0)
	ok(t, engine.Allocate(g, 0, 64*blk))
	wantSpace(t, fsys, "/", 64, 0, "without a limit")
}

// TestSIGBUS (rule 17): on a full file system a store through a mapping
// to a page with no block stores the pages before it and fails with
// ErrSIGBUS, and so does a load of such a page; pages with a block work.
func TestSIGBUS(t *testing.T) {
	fsys := New(Options{Mounts: []Mount{{Dir: "/dev/shm", Medium: engine.SharedMemory, Capacity: 3 * blk}}})
	f := create(t, fsys, "/dev/shm/f")
	r, err := fsys.Map(f, 8*blk)
	ok(t, err)
	wantSpace(t, fsys, "/dev/shm", 0, 3, "Map leaves holes")
	ok(t, engine.Allocate(f, 0, blk))
	ok(t, r.Store64(8, 1)) // a page with a block
	ok(t, r.Store64(blk, 2))
	wantSpace(t, fsys, "/dev/shm", 2, 3, "a store to a hole takes a block")
	// A load of a hole reads zeros while there is room.
	if v, err := r.Load64(5 * blk); v != 0 || err != nil {
		t.Errorf("a load of a hole with room: %d, %v", v, err)
	}
	// A store across the last free block and a hole: the first is stored.
	n, err := r.WriteAt(bytes.Repeat([]byte{7}, 2*blk), 2*blk)
	if !errors.Is(err, ErrSIGBUS) || n != blk {
		t.Errorf("a store over the last free block and a hole: %d, %v; want %d, ErrSIGBUS", n, err, blk)
	}
	if got := fileText(t, fsys, "/dev/shm/f"); got[2*blk] != 7 || got[3*blk] != 0 {
		t.Errorf("the page before the fault is stored, the one at it not: %d, %d", got[2*blk], got[3*blk])
	}
	// The disk is full: every access to a hole faults, a load too.
	for what, err := range map[string]error{
		"Store64":          r.Store64(4*blk, 1),
		"CompareAndSwap32": func() error { _, err := r.CompareAndSwap32(4*blk, 1, 2); return err }(),
		"Load64":           func() error { _, err := r.Load64(4 * blk); return err }(),
		"ReadAt":           func() error { _, err := r.ReadAt(make([]byte, 2*blk), 3*blk); return err }(),
		"View":             func() error { _, err := r.View(6*blk, 8); return err }(),
	} {
		if !errors.Is(err, ErrSIGBUS) {
			t.Errorf("%s of a hole on a full disk: %v, want ErrSIGBUS", what, err)
		}
	}
	// Pages with a block work on a full disk.
	ok(t, r.Store64(blk+8, 3))
	if _, err := r.ReadAt(make([]byte, 3*blk), 0); err != nil {
		t.Errorf("a load of pages with blocks on a full disk: %v", err)
	}
	// File I/O never faults.
	if _, err := f.ReadAt(make([]byte, 8*blk), 0); err != nil {
		t.Errorf("read(2) of holes on a full disk: %v", err)
	}
}

// TestCapacityClones: crash states keep the capacity, count what they
// hold, and tell a hole from a block of zeros in their fingerprint on a
// file system with a capacity (not without one, where they are the same).
func TestCapacityClones(t *testing.T) {
	for _, limited := range []bool{false, true} {
		fsys := New(Options{})
		if limited {
			fsys.SetCapacity("/", 10*blk)
		}
		f := syncedFile(t, fsys, "/f")
		ok(t, f.Truncate(2*blk))
		ok(t, f.Sync())
		hole := fsys.CrashClone(CrashOptions{Mode: LoseAll})
		ok(t, engine.Allocate(f, 0, 2*blk))
		ok(t, f.Sync())
		allocated := fsys.CrashClone(CrashOptions{Mode: LoseAll})
		if same := hole.Fingerprint() == allocated.Fingerprint(); same == limited {
			t.Errorf("limited %v: a hole and a block of zeros have the same fingerprint: %v", limited, same)
		}
		if limited {
			wantSpace(t, hole, "/", 0, 10, "the clone with a hole")
			wantSpace(t, allocated, "/", 2, 10, "the clone with blocks")
			g, err := allocated.OpenFile("/f", os.O_RDWR, 0)
			ok(t, err)
			ok(t, engine.Allocate(g, 0, 10*blk))
			err = engine.Allocate(g, 0, 11*blk)
			wantErrno(t, err, "fallocate", syscall.ENOSPC)
		}
	}
}

// TestRule16AllocationOfDroppedData: the Sync after a failed one makes
// durable the blocks Allocate gave as Allocate gave them, blocks of zeros,
// never data a failed Sync dropped (rule 7), and only those blocks. A block
// the page cache held before Allocate is not Allocate's: its data were
// dropped, so it is a hole again, as a write's block is until its data are
// durable (the draw of rapid seed 13199422373242645202 of
// TestProfileEnumerationMatchesReference, where faultfs made the dropped
// stores durable). A block Allocate gave and a write then filled keeps the
// allocation without the data. The sync of an O_DSYNC write to another
// block makes the allocation durable and leaves the pending write pending
// (rule 20). Each case checks the bytes and the blocks of every crash
// state, and the states against the reference.
func TestRule16AllocationOfDroppedData(t *testing.T) {
	zeros := func(n int) string { return strings.Repeat("\x00", n) }
	for _, tc := range []struct {
		name     string
		file     string
		steps    func(t *testing.T, d *driver, f engine.File, rf *refFile)
		process  string          // the file after a process crash
		states   map[string]bool // the file in the states of a power failure
		durBlock int64           // blocks every state holds
	}{
		{
			name: "pmem, stores then Allocate then failed Sync", file: "/pm/a",
			steps: func(t *testing.T, d *driver, f engine.File, rf *refFile) {
				r, err := d.fs.Map(f, 4)
				ok(t, err)
				defer r.Close()
				rf.truncate(4, d.seq())
				_, err = r.WriteAt([]byte("aaaa"), 0)
				ok(t, err)
				rf.store([]byte("aaaa"), 0, d.seq())
				stepAllocate(t, d, f, rf, 0, 4097)
				stepFailSync(t, d, f, rf)
				stepSync(t, d, f, rf)
			},
			process:  "aaaa" + zeros(4093),
			states:   map[string]bool{zeros(4097): true},
			durBlock: 1, // block 1; block 0 is the stores', a hole
		},
		{
			name: "disk, write then Allocate then failed Sync", file: "/d/a",
			steps: func(t *testing.T, d *driver, f engine.File, rf *refFile) {
				stepWrite(t, d, f, rf, "aaaa", 0)
				stepAllocate(t, d, f, rf, 0, 4097)
				stepFailSync(t, d, f, rf)
				stepSync(t, d, f, rf)
			},
			process:  "aaaa" + zeros(4093),
			states:   map[string]bool{zeros(4097): true},
			durBlock: 1,
		},
		{
			name: "pmem, Allocate then write then failed Sync", file: "/pm/a",
			steps: func(t *testing.T, d *driver, f engine.File, rf *refFile) {
				stepAllocate(t, d, f, rf, 0, 4097)
				stepWrite(t, d, f, rf, "data", 10)
				stepFailSync(t, d, f, rf)
				stepSync(t, d, f, rf)
			},
			process:  zeros(10) + "data" + zeros(4083),
			states:   map[string]bool{zeros(4097): true},
			durBlock: 2, // both, of zeros
		},
		{
			name: "disk, Allocate then write then failed Sync", file: "/d/a",
			steps: func(t *testing.T, d *driver, f engine.File, rf *refFile) {
				stepAllocate(t, d, f, rf, 0, 4097)
				stepWrite(t, d, f, rf, "data", 10)
				stepFailSync(t, d, f, rf)
				stepSync(t, d, f, rf)
			},
			process:  zeros(10) + "data" + zeros(4083),
			states:   map[string]bool{zeros(4097): true},
			durBlock: 2,
		},
		{
			name: "disk, Allocate then write then Sync", file: "/d/a",
			steps: func(t *testing.T, d *driver, f engine.File, rf *refFile) {
				stepAllocate(t, d, f, rf, 0, 4097)
				stepWrite(t, d, f, rf, "data", 10)
				stepSync(t, d, f, rf)
			},
			process:  zeros(10) + "data" + zeros(4083),
			states:   map[string]bool{zeros(10) + "data" + zeros(4083): true},
			durBlock: 2,
		},
		{
			name: "disk, Allocate then write then O_DSYNC write of another block", file: "/d/a",
			steps: func(t *testing.T, d *driver, f engine.File, rf *refFile) {
				stepAllocate(t, d, f, rf, 0, 2*blk)
				stepWrite(t, d, f, rf, "data", 10)
				g, err := d.fs.OpenFile("/d/a", os.O_RDWR|engine.O_DSYNC, 0)
				ok(t, err)
				defer g.Close()
				writeAt(t, g, "sync", blk)
				rf.write([]byte("sync"), blk, d.seq()-1)
				rf.syncRange(blk, blk+4, d.seq())
			},
			process: zeros(10) + "data" + zeros(4082) + "sync" + zeros(4092),
			states: map[string]bool{
				zeros(4096) + "sync" + zeros(4092):                      true,
				zeros(10) + "data" + zeros(4082) + "sync" + zeros(4092): true,
			},
			durBlock: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &driver{ref: newRefFS(driverMounts...), log: new(Log), inject: new(failNextSync)}
			d.fs = New(Options{Observe: d.log.Observe, Injector: d.inject, Mounts: driverMounts})
			dir := path.Dir(tc.file)
			if dir != "/pm" {
				ok(t, d.fs.MkdirAll(dir, 0o755))
				d.ref.mkdir(dir, d.seq())
			}
			d.fs.SetCapacity(dir, 100*blk) // so that clones count their blocks
			f := create(t, d.fs, tc.file)
			defer f.Close()
			d.ref.create(tc.file, d.seq())
			for _, dir := range []string{dir, "/"} {
				ok(t, d.fs.SyncDir(dir))
				d.ref.syncDir(dir)
			}
			tc.steps(t, d, f, d.ref.file(tc.file))

			if got := fileText(t, d.fs.CrashClone(CrashOptions{Mode: KeepAll}), tc.file); got != tc.process {
				t.Errorf("a process crash: %q, want %q", got, tc.process)
			}
			lost := lostAll(d.fs)
			if got := fileText(t, lost, tc.file); !tc.states[got] {
				t.Errorf("a power failure losing all: %q", got)
			}
			wantSpace(t, lost, dir, tc.durBlock, 100, "a power failure losing all")
			p := d.fs.Pending(0)
			want, fits := d.ref.images(0, Tail{Seed: 7}, 2000)
			if !fits {
				t.Fatal("the reference has too many states")
			}
			got, texts := map[string]bool{}, map[string]bool{}
			for c := range p.Choices(AllSubsets, 0, 0) {
				img := p.Clone(c, Tail{Seed: 7})
				got[image(t, img)] = true
				texts[fileText(t, img, tc.file)] = true
				wantSpace(t, img, dir, tc.durBlock, 100, "state "+c.Key())
			}
			if !maps.Equal(texts, tc.states) {
				t.Errorf("the file in the crash states: %q, want %q", slices.Sorted(maps.Keys(texts)), slices.Sorted(maps.Keys(tc.states)))
			}
			if !maps.Equal(got, want) {
				t.Errorf("crash states %v, the reference's %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			}
		})
	}
}

// The steps of TestRule16AllocationOfDroppedData, on the FS and the
// reference.

func stepAllocate(t *testing.T, d *driver, f engine.File, rf *refFile, off, end int64) {
	t.Helper()
	ok(t, engine.Allocate(f, off, end-off))
	rf.allocate(off, end, d.seq())
}

func stepWrite(t *testing.T, d *driver, f engine.File, rf *refFile, s string, off int64) {
	t.Helper()
	writeAt(t, f, s, off)
	rf.write([]byte(s), off, d.seq())
}

func stepFailSync(t *testing.T, d *driver, f engine.File, rf *refFile) {
	t.Helper()
	d.inject.armed = true
	if f.Sync() == nil {
		t.Fatal("Sync did not fail")
	}
	rf.failSync()
}

func stepSync(t *testing.T, d *driver, f engine.File, rf *refFile) {
	t.Helper()
	ok(t, f.Sync())
	rf.sync(d.seq())
}
