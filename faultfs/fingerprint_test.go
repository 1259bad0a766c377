package faultfs

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"pgregory.net/rapid"
)

// fpState is a target state for the fingerprint properties: directories,
// and files with their content.
type fpState struct {
	dirs  []string
	files map[string][]byte
}

var (
	fpDirs  = []string{"/d", "/d/e", "/x"}
	fpFiles = []string{"/a", "/b", "/d/a", "/d/e/f", "/x/y"}
)

func fpStateGen() *rapid.Generator[fpState] {
	return rapid.Custom(func(t *rapid.T) fpState {
		s := fpState{files: map[string][]byte{}}
		for _, d := range fpDirs {
			if rapid.Bool().Draw(t, "dir "+d) {
				if p := path.Dir(d); p != "/" && !slices.Contains(s.dirs, p) {
					s.dirs = append(s.dirs, p)
				}
				s.dirs = append(s.dirs, d)
			}
		}
		for _, f := range fpFiles {
			if dir := path.Dir(f); dir != "/" && !slices.Contains(s.dirs, dir) {
				continue
			}
			if !rapid.Bool().Draw(t, "file "+f) {
				continue
			}
			size := rapid.SampledFrom([]int{0, 1, 100, 4096, 4097, 9000, 70000}).Draw(t, "size "+f)
			data := make([]byte, size)
			// Sparse content: a few runs, the rest zeros.
			for range rapid.IntRange(0, 3).Draw(t, "runs "+f) {
				if size == 0 {
					break
				}
				off := rapid.IntRange(0, size-1).Draw(t, "run off")
				n := rapid.IntRange(1, min(size-off, 5000)).Draw(t, "run len")
				copy(data[off:], strings.Repeat(string(rune('a'+rapid.IntRange(0, 25).Draw(t, "run fill"))), n))
			}
			s.files[f] = data
		}
		return s
	})
}

// buildPlain makes the state the short way.
func buildPlain(t fataler, s fpState) *FS {
	fsys := New(Options{})
	for _, d := range s.dirs {
		mustOK(t, fsys.MkdirAll(d, 0o755))
	}
	for name, data := range s.files {
		f, err := engine.Create(fsys, name)
		mustOK(t, err)
		if len(data) > 0 {
			_, err = f.WriteAt(data, 0)
			mustOK(t, err)
		}
	}
	return fsys
}

// buildNoisy makes the same state the long way: through mounts, temporary
// names, garbage overwritten, explicit zeros where holes were, a tree grown
// tall and cut back, regions, syncs, crash clones.
func buildNoisy(t *rapid.T, s fpState) *FS {
	fsys := New(Options{Mounts: []Mount{{Dir: "/x", Medium: engine.PMem}, {Dir: "/d/e", Medium: engine.SharedMemory}}})
	for _, d := range s.dirs {
		mustOK(t, fsys.MkdirAll(d, 0o755))
	}
	// Mount points not in the state go again.
	for _, d := range []string{"/d/e", "/d", "/x"} {
		if !slices.Contains(s.dirs, d) {
			fsys = rebuildWithout(t, fsys, d)
		}
	}
	names := slices.Sorted(mapsKeys(s.files))
	for i, name := range names {
		data := s.files[name]
		tmp := fmt.Sprintf("%s.tmp%d", name, i)
		f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o600)
		mustOK(t, err)
		// Garbage first, and a tall tree.
		_, err = f.WriteAt([]byte("garbage"), int64(len(data)))
		mustOK(t, err)
		if rapid.Bool().Draw(t, "tall "+name) {
			_, err = f.WriteAt([]byte("far"), 300<<20)
			mustOK(t, err)
		}
		mustOK(t, f.Truncate(int64(len(data))))
		// The content in chunks, in a random order, zeros written out
		// where the plain build has holes.
		chunks := (len(data) + 999) / 1000
		order := rapid.Permutation(seq(chunks)).Draw(t, "order "+name)
		viaRegion := len(data) > 0 && rapid.Bool().Draw(t, "region "+name)
		var r engine.Region
		if viaRegion {
			r, err = fsys.Map(f, int64(len(data)))
			mustOK(t, err)
		}
		for _, c := range order {
			lo, hi := c*1000, min(len(data), (c+1)*1000)
			if viaRegion {
				_, err = r.WriteAt(data[lo:hi], int64(lo))
			} else {
				_, err = f.WriteAt(data[lo:hi], int64(lo))
			}
			mustOK(t, err)
		}
		if rapid.Bool().Draw(t, "sync "+name) {
			mustOK(t, f.Sync())
		}
		mustOK(t, fsys.Rename(tmp, name))
		mustOK(t, f.Close())
		if rapid.Bool().Draw(t, "clone after "+name) {
			fsys = fsys.CrashClone(CrashOptions{Mode: KeepAll})
		}
	}
	extra, err := engine.Create(fsys, "/extra")
	mustOK(t, err)
	mustOK(t, extra.Close())
	mustOK(t, fsys.Remove("/extra"))
	return fsys
}

// rebuildWithout returns a copy of fsys, without mounts, without the
// directory dir (a mount point cannot be removed).
func rebuildWithout(t fataler, fsys *FS, dir string) *FS {
	out := New(Options{})
	named := map[*inode]string{} // the first name of each file, for its links
	var walk func(p string)
	walk = func(p string) {
		entries, err := fsys.ReadDir(p)
		mustOK(t, err)
		for _, e := range entries {
			q := path.Join(p, e.Name())
			if q == dir || strings.HasPrefix(q, dir+"/") {
				continue
			}
			if e.IsDir() {
				mustOK(t, out.MkdirAll(q, 0o755))
				walk(q)
				continue
			}
			_, _, node, _ := fsys.resolve(q)
			if first, ok := named[node]; ok {
				mustOK(t, out.Link(first, q))
				continue
			}
			named[node] = q
			data, err := engine.ReadFile(fsys, q)
			mustOK(t, err)
			f, err := engine.Create(out, q)
			mustOK(t, err)
			_, err = f.WriteAt(data, 0)
			if len(data) > 0 {
				mustOK(t, err)
			}
		}
	}
	walk("/")
	return out
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func mustOK(t fataler, err error) {
	if err != nil {
		t.Helper()
		t.Fatalf("%v", err)
	}
}

// TestFingerprintOfState: two file systems that reach one state by
// different operations have one fingerprint, and any difference of one
// byte, one size or one name changes it.
func TestFingerprintOfState(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := fpStateGen().Draw(t, "state")
		plain := buildPlain(t, s)
		noisy := buildNoisy(t, s)
		if image(t, plain) != image(t, noisy) {
			t.Fatalf("the builds differ:\n%s\n--\n%s", image(t, plain), image(t, noisy))
		}
		want := plain.Fingerprint()
		if got := noisy.Fingerprint(); got != want {
			t.Fatalf("fingerprints %v and %v of one state:\n%s", want, got, image(t, plain))
		}
		if got := noisy.Fingerprint(); got != want {
			t.Fatal("a second Fingerprint differs")
		}

		// One difference.
		names := slices.Sorted(mapsKeys(s.files))
		kind := rapid.IntRange(0, 3).Draw(t, "change")
		if len(names) == 0 {
			kind = 3
		}
		var name string
		if len(names) > 0 {
			name = rapid.SampledFrom(names).Draw(t, "changed file")
		}
		data := s.files[name]
		switch kind {
		case 0: // one byte
			if len(data) == 0 {
				return
			}
			off := rapid.IntRange(0, len(data)-1).Draw(t, "byte")
			f, err := noisy.OpenFile(name, os.O_RDWR, 0)
			mustOK(t, err)
			_, err = f.WriteAt([]byte{data[off] ^ byte(rapid.IntRange(1, 255).Draw(t, "xor"))}, int64(off))
			mustOK(t, err)
		case 1: // the size
			f, err := noisy.OpenFile(name, os.O_RDWR, 0)
			mustOK(t, err)
			size := int64(len(data)) + 1
			if len(data) > 0 && data[len(data)-1] == 0 && rapid.Bool().Draw(t, "shrink") {
				size = int64(len(data)) - 1 // a zero byte less
			}
			mustOK(t, f.Truncate(size))
		case 2: // a name
			mustOK(t, noisy.Rename(name, name+"2"))
		case 3: // an empty directory more, or a kind
			if name != "" && len(data) == 0 {
				mustOK(t, noisy.Remove(name))
				mustOK(t, noisy.MkdirAll(name, 0o755))
			} else {
				mustOK(t, noisy.MkdirAll("/new", 0o755))
			}
		}
		if got := noisy.Fingerprint(); got == want {
			t.Fatalf("change %d to %s left the fingerprint %v", kind, name, got)
		}
	})
}

// TestFingerprintOfClones: every crash image has the fingerprint of a new
// file system built with its files, and a KeepAll clone that of its parent.
func TestFingerprintOfClones(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := newDriver(t)
		d.setup()
		for range rapid.IntRange(1, 20).Draw(t, "steps") {
			d.step(4096)
		}
		if a, b := d.fs.Fingerprint(), d.fs.CrashClone(CrashOptions{Mode: KeepAll}).Fingerprint(); a != b {
			t.Fatalf("KeepAll clone %v, live %v", b, a)
		}
		p := d.fs.Pending(rapid.SampledFrom([]int{0, 512}).Draw(t, "granularity"))
		seen := map[Fingerprint]string{}
		for c := range p.Choices(AllSubsets, 30, 1) {
			img := p.Clone(c, Tail{Garbage: true})
			got := img.Fingerprint()
			if want := rebuildWithout(t, img, "/nothing").Fingerprint(); got != want {
				t.Fatalf("choice %s: clone %v, rebuilt %v", c.Key(), got, want)
			}
			text := image(t, img)
			if prev, ok := seen[got]; ok && prev != text {
				t.Fatalf("one fingerprint for two images:\n%s\n--\n%s", prev, text)
			}
			seen[got] = text
		}
	})
}

// TestFingerprintZeroIsHole: a block of zeros written out and a hole are
// one state; trees of different heights with one content too.
func TestFingerprintZeroIsHole(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	fa, fb := create(t, a, "/f"), create(t, b, "/f")
	ok(t, fa.Truncate(3*4096))
	writeAt(t, fb, string(make([]byte, 3*4096)), 0)
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("hole and zeros differ")
	}
	writeAt(t, fb, "x", 1<<40) // a tall tree
	ok(t, fb.Truncate(3*4096))
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("tall and short trees differ")
	}
	writeAt(t, fa, "x", 5)
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("a write did not change the fingerprint")
	}
	if s := a.Fingerprint().String(); len(s) != 32 {
		t.Fatalf("String: %q", s)
	}
	// Deterministic across processes: a fixed state has a fixed print.
	e := New(Options{})
	if got := e.Fingerprint().String(); got != emptyFingerprint {
		t.Fatalf("empty file system: %s, want %s", got, emptyFingerprint)
	}
}

// emptyFingerprint is the fingerprint of New(Options{}), pinned so that a
// change of the hash (which would split sharded runs) is seen.
const emptyFingerprint = "0592ccc0598a66e9cbcb1bf38c89196e"
