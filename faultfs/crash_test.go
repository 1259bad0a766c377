package faultfs

import (
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"pgregory.net/rapid"
)

// TestEnumerationMatchesReference checks that AllSubsets yields exactly the
// crash states of the rules: the set of images equals the one the naive
// reference builds by brute force, and no choice comes twice.
func TestEnumerationMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := rapid.SampledFrom([]int{0, 0, 4096, 512, 64, 8}).Draw(t, "granularity")
		tail := Tail{Garbage: rapid.Bool().Draw(t, "garbage"), Seed: 7}
		d := newDriver(t)
		d.setup()
		for range rapid.IntRange(1, 12).Draw(t, "steps") {
			d.step(g)
		}
		p := d.fs.Pending(g)
		checkNoShm(t, p)
		want, ok := d.ref.images(g, tail, 2000)
		if !ok {
			return // too many states to compare
		}
		n, exact := p.Count(AllSubsets)
		if !exact || n > 20000 {
			return
		}
		got := map[string]bool{}
		keys := map[string]bool{}
		for c := range p.Choices(AllSubsets, 0, 0) {
			if keys[c.Key()] {
				t.Fatalf("choice %s yielded twice", c.Key())
			}
			keys[c.Key()] = true
			got[image(t, p.Clone(c, tail))] = true
		}
		if uint64(len(keys)) != n {
			t.Fatalf("Count = %d, Choices yielded %d", n, len(keys))
		}
		for img := range want {
			if !got[img] {
				t.Fatalf("state of the rules never enumerated:\n%s\n(pending %+v %+v)", img, p.Sizes, p.Data)
			}
		}
		for img := range got {
			if !want[img] {
				t.Fatalf("state enumerated that the rules do not allow:\n%s\n(pending %+v %+v)", img, p.Sizes, p.Data)
			}
		}
	})
}

// TestRule7CutOfDroppedBlock: after a failed Sync dropped a block's
// changes, a truncate that cuts the block whole (or finds no page there)
// records a cut, not a page written back: a crash state that loses the cut
// reads the block's stale bytes as zeros even with a garbage tail, since no
// lost change would have put data there (rule 5), and keeps what the
// states before the truncate had. A truncate inside a page the page cache
// holds re-dirties that page whole (rule 7), a write of its data, whose
// loss may leave garbage. The first case is the draw of rapid seed
// 421748145219224607 of TestEnumerationMatchesReference, where the
// reference took the whole-block cut for a write; each case checks the
// enumeration against the reference as well as the bytes.
func TestRule7CutOfDroppedBlock(t *testing.T) {
	fill := []byte(strings.Repeat("0123456789", 500)) // durable size 5000
	for _, tc := range []struct {
		name    string
		file    string
		cut     int64 // the truncate after the failed Sync
		garbage bool  // whether a state of size 9034 reads garbage in [5000, 9034) with a garbage tail
	}{
		{"pmem, blocks 1 and 2 cut whole", "/pm/a", 100, false},
		{"disk, blocks 1 and 2 cut whole", "/d/a", 100, false},
		{"pmem, block 1 cut inside its page", "/pm/a", 6000, true},
		{"disk, block 1 cut inside its page", "/d/a", 6000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &driver{ref: newRefFS(driverMounts...), log: new(Log), inject: new(failNextSync)}
			d.fs = New(Options{Observe: d.log.Observe, Injector: d.inject, Mounts: driverMounts})
			dir := path.Dir(tc.file)
			if dir != "/pm" {
				ok(t, d.fs.MkdirAll(dir, 0o755))
				d.ref.mkdir(dir, d.seq())
			}
			f := create(t, d.fs, tc.file)
			defer f.Close()
			d.ref.create(tc.file, d.seq())
			rf := d.ref.file(tc.file)
			writeAt(t, f, string(fill), 0)
			rf.write(fill, 0, d.seq())
			ok(t, f.Sync())
			rf.sync(d.seq())
			for _, dir := range []string{dir, "/"} {
				ok(t, d.fs.SyncDir(dir))
				d.ref.syncDir(dir)
			}

			// Map extends the file to 5008 (size 1) for a store at 5000.
			r, err := d.fs.Map(f, 5008)
			ok(t, err)
			defer r.Close()
			rf.truncate(5008, d.seq())
			store := func(off int64, p string) {
				t.Helper()
				if len(p) == 8 {
					ok(t, r.Store64(off, uint64(p[0])*0x0101010101010101))
				} else {
					_, err := r.WriteAt([]byte(p), off)
					ok(t, err)
				}
				rf.store([]byte(p), off, d.seq())
			}
			store(5000, "hhhhhhhh")
			writeAt(t, f, strings.Repeat("T", 34), 9000) // size 2: 9034
			rf.write([]byte(strings.Repeat("T", 34)), 9000, d.seq())
			d.inject.armed = true
			if err := f.Sync(); err == nil {
				t.Fatal("Sync did not fail")
			}
			rf.failSync() // blocks 1 and 2 dropped; the sizes stay pending
			ok(t, r.Flush(5007, 1))
			ok(t, r.Drain())
			if r.Medium() == engine.PMem {
				rf.drainLines(map[int64]bool{5007 / 64: true}, d.seq())
			} else {
				rf.drain(map[int64]bool{1: true}, d.seq())
			}
			store(0, "aaaaaaaa")
			store(512, "ssssss")
			ok(t, f.Truncate(tc.cut)) // size 3
			rf.truncate(tc.cut, d.seq())

			p := d.fs.Pending(BlockSize)
			for _, tail := range []Tail{{Seed: 7}, {Garbage: true, Seed: 7}} {
				want, fits := d.ref.images(BlockSize, tail, 2000)
				if !fits {
					t.Fatal("the reference has too many states")
				}
				got, keys := map[string]bool{}, map[string]bool{}
				sized, garbage := false, false
				for c := range p.Choices(AllSubsets, 0, 0) {
					if keys[c.Key()] {
						t.Fatalf("choice %s yielded twice", c.Key())
					}
					keys[c.Key()] = true
					img := p.Clone(c, tail)
					got[image(t, img)] = true
					text := fileText(t, img, tc.file)
					if len(text) != 9034 {
						continue
					}
					sized = true
					// Neither zeros nor the bytes written there, which a
					// page written back whole may hold.
					if strings.Trim(text[5000:], "\x00hT") != "" {
						garbage = true
					}
				}
				if n, _ := p.Count(AllSubsets); n != uint64(len(keys)) {
					t.Errorf("Count = %d, Choices yielded %d", n, len(keys))
				}
				for img := range want {
					if !got[img] {
						t.Errorf("tail %+v: state of the rules never enumerated:\n%s", tail, img)
					}
				}
				for img := range got {
					if !want[img] {
						t.Errorf("tail %+v: state enumerated that the rules do not allow:\n%s", tail, img)
					}
				}
				if !sized {
					t.Fatalf("tail %+v: no state of size 9034", tail)
				}
				if garbage != (tc.garbage && tail.Garbage) {
					t.Errorf("tail %+v: garbage in [5000, 9034) of a state of size 9034 = %v, want %v", tail, garbage, tc.garbage && tail.Garbage)
				}
			}
		})
	}
}

// checkNoShm checks that nothing on shared memory is pending (rule 14),
// and that each data unit has its medium's length (rule 15).
func checkNoShm(t fataler, p *Pending) {
	t.Helper()
	for _, m := range p.Meta {
		if strings.HasPrefix(m.Path, "/s/") || strings.HasPrefix(m.NewPath, "/s/") {
			t.Fatalf("pending change on shared memory: %+v", m)
		}
	}
	for _, u := range p.Sizes {
		if strings.HasPrefix(u.Path, "/s/") {
			t.Fatalf("pending size on shared memory: %+v", u)
		}
	}
	for _, u := range p.Data {
		want := p.Granularity
		if want == 0 {
			want = map[engine.Medium]int{engine.PMem: 64, engine.MappedFile: 4096}[u.Medium]
		}
		onPMem := strings.HasPrefix(u.Path, "/pm/") // a file without a name has Path ""
		if strings.HasPrefix(u.Path, "/s/") || u.Len != want || (u.Path != "" && (u.Medium == engine.PMem) != onPMem) {
			t.Fatalf("pending unit %+v (granularity %d)", u, p.Granularity)
		}
	}
}

// withoutShm returns an image with the content of /s taken out, as a power
// failure leaves it.
func withoutShm(img string) string {
	var out []string
	for _, l := range strings.Split(img, "\n") {
		if !strings.HasPrefix(l, "/s/") || l == "/s/" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// imageSet returns the images of every choice of s.
func imageSet(t fataler, p *Pending, s Strategy, tail Tail) []string {
	var out []string
	for c := range p.Choices(s, 0, 0) {
		out = append(out, image(t, p.Clone(c, tail)))
	}
	return out
}

// TestKeepAllIsVolatile checks that a KeepAll clone is the live state
// (F1), and that without a failed Sync the enumeration's keep-all is too.
func TestKeepAllIsVolatile(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := newDriver(t)
		d.setup()
		for range rapid.IntRange(1, 30).Draw(t, "steps") {
			d.step(4096)
		}
		live := image(t, d.fs)
		if got := image(t, d.fs.CrashClone(CrashOptions{Mode: KeepAll})); got != live {
			t.Fatalf("KeepAll clone:\n%s\nlive:\n%s", got, live)
		}
		failed := false
		for _, f := range d.ref.files {
			failed = failed || len(f.stale) > 0
		}
		p := d.fs.Pending(rapid.SampledFrom([]int{0, 4096, 512, 8}).Draw(t, "granularity"))
		if got := imageSet(t, p, KeepAll, Tail{Garbage: true}); !failed && got[0] != withoutShm(live) {
			t.Fatalf("keep-all choice:\n%s\nlive:\n%s", got[0], live)
		}
	})
}

// TestLoseAllIsDurable checks that a LoseAll clone holds exactly the
// durable state of the reference: no unsynced byte, size or name.
func TestLoseAllIsDurable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := newDriver(t)
		d.setup()
		for range rapid.IntRange(1, 30).Draw(t, "steps") {
			d.step(4096)
		}
		want, ok := d.ref.lostAll()
		if !ok {
			return
		}
		g := rapid.SampledFrom([]int{0, 4096, 512, 8}).Draw(t, "granularity")
		clone := d.fs.CrashClone(CrashOptions{Mode: LoseAll, Granularity: g, Tail: Tail{Garbage: true}})
		if got := image(t, clone); got != want {
			t.Fatalf("LoseAll clone:\n%s\nwant:\n%s", got, want)
		}
		p := d.fs.Pending(g)
		if got := imageSet(t, p, LoseAll, Tail{Garbage: true}); got[0] != want {
			t.Fatalf("lose-all choice:\n%s\nwant:\n%s", got[0], want)
		}
	})
}

// lostAll returns the image of the lose-all state of the reference.
func (r *refFS) lostAll() (string, bool) {
	saved := r.ops
	var durable []*refOp
	for _, op := range r.ops {
		if op.durable {
			durable = append(durable, op)
		}
	}
	r.ops = durable
	defer func() { r.ops = saved }()
	fake := map[uint64]*refFile{}
	for id, f := range r.files {
		c := *f
		c.hist, c.sizes = nil, nil
		fake[id] = &c
	}
	files := r.files
	r.files = fake
	defer func() { r.files = files }()
	imgs, ok := r.images(4096, Tail{}, 10)
	if !ok || len(imgs) != 1 {
		return "", false
	}
	for img := range imgs {
		return img, true
	}
	return "", false
}

// TestSyncedSurvivesEveryCrash checks that after Sync of a file and SyncDir
// of its parent, every crash state of every strategy, granularity and seed
// holds exactly the synced data under its name, whatever happens elsewhere.
func TestSyncedSurvivesEveryCrash(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := newDriver(t)
		d.setup()
		for range rapid.IntRange(0, 20).Draw(t, "steps") {
			d.step(4096)
		}
		// The driver's steps never touch these names.
		name := rapid.SampledFrom([]string{"/x", "/y/x"}).Draw(t, "name")
		data := rapid.SliceOfN(rapid.Byte(), 0, 10000).Draw(t, "data")
		d.put(name, data)
		for range rapid.IntRange(0, 10).Draw(t, "after") {
			d.step(4096)
		}
		check := func(what string, fsys *FS) {
			got, err := readAll(fsys, name)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if string(got) != string(data) {
				t.Fatalf("%s: %d bytes, want %d", what, len(got), len(data))
			}
		}
		for _, g := range []int{4096, 512, 8} {
			for _, mode := range []Strategy{LoseAll, KeepAll, InOrderPrefixes, AllSubsets} {
				for seed := range int64(3) {
					for _, garbage := range []bool{false, true} {
						opts := CrashOptions{Mode: mode, Granularity: g, Seed: seed, Tail: Tail{Garbage: garbage, Seed: 1}}
						check(fmt.Sprintf("%+v", opts), d.fs.CrashClone(opts))
					}
				}
			}
			p := d.fs.Pending(g)
			for c := range p.Choices(AllSubsets, 100, 1) {
				check("choice "+c.Key(), p.Clone(c, Tail{Garbage: true}))
			}
		}
	})
}

// TestRenameIsAtomic checks that a rename not followed by SyncDir leaves
// the old name or the new one, never both or neither, in every clone and
// every enumerated state.
func TestRenameIsAtomic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := newDriver(t)
		d.setup()
		for range rapid.IntRange(0, 15).Draw(t, "steps") {
			d.step(4096)
		}
		// A durable file in a durable directory.
		d.put("/r/old", []byte("content"))
		newName := rapid.SampledFrom([]string{"/r/new", "/new"}).Draw(t, "new")
		must(t, d.fs.Rename("/r/old", newName))
		d.ref.rename("/r/old", newName, d.seq())
		for range rapid.IntRange(0, 10).Draw(t, "after") {
			d.step(4096)
		}
		check := func(img string) {
			oldThere := has(img, "/r/old")
			newThere := has(img, newName)
			if oldThere == newThere {
				t.Fatalf("after rename to %s: old %v, new %v in\n%s", newName, oldThere, newThere, img)
			}
		}
		p := d.fs.Pending(4096)
		for c := range p.Choices(AllSubsets, 200, 1) {
			check(image(t, p.Clone(c, Tail{})))
		}
		for c := range p.Choices(InOrderPrefixes, 0, 1) {
			check(image(t, p.Clone(c, Tail{})))
		}
		for seed := range int64(5) {
			for _, mode := range []Strategy{LoseAll, KeepAll, InOrderPrefixes, AllSubsets} {
				check(image(t, d.fs.CrashClone(CrashOptions{Mode: mode, Seed: seed})))
			}
		}
	})
}

// TestCloneIsIndependent checks that writes to a clone never show in the
// live FS, nor writes to the live FS in the clone.
func TestCloneIsIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := newDriver(t)
		d.setup()
		for range rapid.IntRange(0, 20).Draw(t, "steps") {
			d.step(4096)
		}
		mode := rapid.SampledFrom([]Strategy{LoseAll, KeepAll, InOrderPrefixes, AllSubsets}).Draw(t, "mode")
		clone := d.fs.CrashClone(CrashOptions{Mode: mode, Seed: 3})
		cloneBefore := image(t, clone)
		p := d.fs.Pending(4096)
		keep := p.Clone(p.keepAll(), Tail{})
		keepBefore := image(t, keep)

		// Scribble on the live FS, then on the clones.
		for range rapid.IntRange(1, 10).Draw(t, "live") {
			d.step(4096)
		}
		if got := image(t, clone); got != cloneBefore {
			t.Fatalf("a live write showed in the clone:\n%s\nwas:\n%s", got, cloneBefore)
		}
		if got := image(t, keep); got != keepBefore {
			t.Fatalf("a live write showed in a Pending clone")
		}
		liveMid := image(t, d.fs)
		scribble(t, clone)
		scribble(t, keep)
		if got := image(t, d.fs); got != liveMid {
			t.Fatalf("a clone write showed in the live FS:\n%s\nwas:\n%s", got, liveMid)
		}
	})
}

// scribble changes every file of fsys in place, through File and Region,
// and syncs, so that a shared block would show the change elsewhere.
func scribble(t *rapid.T, fsys *FS) {
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := fsys.ReadDir(dir)
		must(t, err)
		for _, e := range entries {
			p := path.Join(dir, e.Name())
			if e.IsDir() {
				walk(p)
				continue
			}
			f, err := fsys.OpenFile(p, os.O_RDWR, 0)
			must(t, err)
			fi, err := f.Stat()
			must(t, err)
			for off := int64(0); off < fi.Size(); off += 1000 {
				_, err := f.WriteAt([]byte("#"), off)
				must(t, err)
			}
			if fi.Size() > 0 {
				r, err := fsys.Map(f, fi.Size())
				must(t, err)
				_, err = r.WriteAt([]byte("$"), fi.Size()-1)
				must(t, err)
				must(t, engine.Persist(r, 0, fi.Size()))
			}
			must(t, f.Sync())
			must(t, f.Truncate(fi.Size()/2))
			must(t, f.Close())
		}
	}
	walk("/")
	must(t, fsys.SyncDir("/"))
	f, err := fsys.OpenFile("/scribble", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	must(t, f.Close())
}

// readAll reads a whole file.
func readAll(fsys engine.FS, name string) ([]byte, error) {
	return engine.ReadFile(fsys, name)
}

func must(t *rapid.T, err error) {
	if err != nil {
		t.Helper()
		t.Fatal(err)
	}
}

// TestPendingCloneConcurrent: the simulator builds the images of one crash
// point in parallel, so Clone and Fingerprint of one Pending must be safe
// from many goroutines at once (run with -race), and give what they give
// one at a time.
func TestPendingCloneConcurrent(t *testing.T) {
	fsys := New(Options{Mounts: []Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	f, err := engine.Create(fsys, "/pmem/p")
	if err != nil {
		t.Fatal(err)
	}
	r, err := fsys.Map(f, 3*BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/pmem"))
	for i := range 12 {
		ok(t, r.Store64(int64(i*520)&^7, uint64(i+1)))
	}
	g, err := engine.Create(fsys, "/file")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt(make([]byte, 9000), 10); err != nil {
		t.Fatal(err)
	}
	p := fsys.Pending(0)
	var choices []Choice
	for c := range p.Choices(AllSubsets, 64, 1) {
		choices = append(choices, c)
	}
	want := make([]Fingerprint, len(choices))
	for i, c := range choices {
		want[i] = p.Clone(c, Tail{}).Fingerprint()
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(choices); i += 4 {
				if got := p.Clone(choices[i], Tail{}).Fingerprint(); got != want[i] {
					t.Errorf("choice %s: concurrent fingerprint %v, sequential %v", choices[i].Key(), got, want[i])
				}
			}
		}()
	}
	wg.Wait()
}
