package faultfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// A stress test of Release and Untrack: random file systems, crash images
// built from them, written, cloned, untracked and released in random
// order, while every image still alive must read exactly as it did, and an
// image must read as its twin (the same choice, the same operations, never
// released next to anything). It catches a release that ignores sharing, a
// recycled block not cleared, and a node recycled twice.

var stressFiles = []string{"/a", "/b", "/d/c", "/mnt/pmem/p", "/mnt/pmem/q"}

// stressSnap is everything reads see: names, sizes and content hashes.
func stressSnap(t testing.TB, fsys *FS) string {
	var out []string
	var walk func(dir string)
	walk = func(dir string) {
		es, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatalf("readdir %s: %v", dir, err)
		}
		for _, e := range es {
			p := strings.TrimSuffix(dir, "/") + "/" + e.Name()
			if e.IsDir() {
				out = append(out, p+"/")
				walk(p)
				continue
			}
			b, err := engine.ReadFile(fsys, p)
			if err != nil {
				t.Fatalf("read %s: %v", p, err)
			}
			out = append(out, fmt.Sprintf("%s=%d:%x", p, len(b), sum(b)))
		}
	}
	walk("/")
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// stressOp does one random operation. Errors are expected (a file that is
// not there, a region past the end of a cut file) and ignored: what is
// checked is that images agree, whatever the operations did.
func stressOp(fsys *FS, rng *rand.Rand) {
	name := stressFiles[rng.IntN(len(stressFiles))]
	offs := []int64{0, 7, 4090, 4096, 64 * 4096, 64*4096 - 3, 64 * 4096 * 3, 1 << 21}
	switch k := rng.IntN(12); {
	case k < 6:
		f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return
		}
		defer f.Close()
		p := make([]byte, 1+rng.IntN(9000))
		for i := range p {
			p[i] = byte(rng.IntN(255) + 1)
		}
		f.WriteAt(p, offs[rng.IntN(len(offs))]+int64(rng.IntN(100)))
	case k < 8:
		f, err := fsys.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return
		}
		defer f.Close()
		f.Truncate(offs[rng.IntN(len(offs))] + int64(rng.IntN(5000)))
	case k < 9:
		f, err := fsys.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return
		}
		defer f.Close()
		f.Sync()
	case k < 10:
		fsys.SyncDir("/")
		fsys.SyncDir("/d")
		fsys.SyncDir("/mnt/pmem")
	case k < 11:
		if strings.HasPrefix(name, "/mnt") {
			f, err := fsys.OpenFile(name, os.O_RDWR, 0)
			if err != nil {
				return
			}
			defer f.Close()
			st, _ := f.Stat()
			if st.Size() < 8 {
				return
			}
			r, err := fsys.Map(f, st.Size())
			if err != nil {
				return
			}
			defer r.Close()
			off := int64(rng.IntN(int(st.Size()/8))) * 8
			r.Store64(off, rng.Uint64())
			r.Flush(off, 8)
			if rng.IntN(2) == 0 {
				r.Drain()
			}
			if rng.IntN(3) == 0 {
				r.Grow(st.Size() + 5000)
			}
		}
	default:
		other := stressFiles[rng.IntN(len(stressFiles))]
		if rng.IntN(2) == 0 {
			fsys.Rename(name, other)
		} else {
			fsys.Remove(name)
		}
	}
}

type stressImg struct {
	fs   *FS
	want string
}

func stressRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	src := New(Options{Mounts: testMounts})
	src.MkdirAll("/d", 0o755)
	for range 40 {
		stressOp(src, rng)
	}
	var live []stressImg
	add := func(f *FS) { live = append(live, stressImg{f, stressSnap(t, f)}) }
	add(src)
	var twins [][2]*FS
	for round := range 6 {
		parent := live[rng.IntN(len(live))].fs
		p := parent.Pending(0)
		for c := range p.Choices(AllSubsets, 12, int64(seed)+int64(round)) {
			img := p.Clone(c, Tail{Garbage: true, Seed: 3})
			img.Fingerprint()
			if rng.IntN(3) == 0 {
				add(img.CrashClone(CrashOptions{Mode: KeepAll}))
			}
			twin := p.Clone(c, Tail{Garbage: true, Seed: 3})
			if rng.IntN(2) == 0 {
				img.Untrack()
			}
			s1 := rng.Uint64()
			nops := rng.IntN(15)
			r1, r2 := rand.New(rand.NewPCG(s1, 5)), rand.New(rand.NewPCG(s1, 5))
			for range nops {
				stressOp(img, r1)
				stressOp(twin, r2)
			}
			add(img)
			twins = append(twins, [2]*FS{img, twin})
		}
		for range 20 {
			stressOp(src, rng)
		}
		live[0].want = stressSnap(t, src)
		// release about half (never the source)
		var kept []stressImg
		for i, im := range live {
			if i > 0 && rng.IntN(2) == 0 {
				im.fs.Release()
				continue
			}
			kept = append(kept, im)
		}
		live = kept
		// churn: more images built and written, then released
		for c := range p.Choices(AllSubsets, 12, int64(seed)+100) {
			img := p.Clone(c, Tail{})
			img.Untrack()
			for range 10 {
				stressOp(img, rng)
			}
			img.Release()
		}
		for i, im := range live {
			if got := stressSnap(t, im.fs); got != im.want {
				t.Fatalf("seed %d round %d: image %d changed after releases\nwant %.300s\ngot  %.300s", seed, round, i, im.want, got)
			}
		}
		for _, tw := range twins {
			if tw[0].released {
				continue
			}
			if a, b := stressSnap(t, tw[0]), stressSnap(t, tw[1]); a != b {
				t.Fatalf("seed %d round %d: image and its twin differ\n%.400s\n--\n%.400s", seed, round, a, b)
			}
		}
	}
}

func TestReleaseStress(t *testing.T) {
	seeds := uint64(8)
	if os.Getenv("CRASHSIM_HEAVY") == "1" { // make test-heavy
		seeds = 100
	}
	for seed := range seeds {
		stressRun(t, seed)
	}
}

// TestReleaseParallel: goroutines clone from one Pending, fingerprint,
// write and release at once, as the explorer's workers do; every clone
// reads as the first one of its choice, and the race detector watches.
func TestReleaseParallel(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	src := New(Options{Mounts: testMounts})
	src.MkdirAll("/d", 0o755)
	for range 60 {
		stressOp(src, rng)
	}
	p := src.Pending(0)
	var choices []Choice
	for c := range p.Choices(AllSubsets, 64, 1) {
		choices = append(choices, c)
	}
	want := make([]string, len(choices))
	fps := make([]Fingerprint, len(choices))
	for i, c := range choices {
		img := p.Clone(c, Tail{})
		want[i], fps[i] = stressSnap(t, img), img.Fingerprint()
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for range 200 {
				i := rng.IntN(len(choices))
				img := p.Clone(choices[i], Tail{})
				if img.Fingerprint() != fps[i] {
					t.Errorf("fingerprint of choice %d differs", i)
				}
				if got := stressSnap(t, img); got != want[i] {
					t.Errorf("choice %d reads differently", i)
				}
				img.Untrack()
				for range 5 {
					stressOp(img, rng)
				}
				img.Fingerprint()
				img.Release()
			}
		}()
	}
	wg.Wait()
}
