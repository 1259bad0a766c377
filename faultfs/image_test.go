package faultfs

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"pgregory.net/rapid"
)

// TestImageRebuildsCrashStates takes the Image of crash states of random
// workloads (power failures of every choice kind, and process crashes,
// with persistent and shared memory mounted) and checks that FromImage
// rebuilds each exactly: the same fingerprint, the same bytes and names,
// the same Image again, and the same crash states of its own.
func TestImageRebuildsCrashStates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := newDriver(t)
		d.setup()
		for range rapid.IntRange(1, 12).Draw(t, "steps") {
			d.step(0)
		}
		var img *FS
		if rapid.Bool().Draw(t, "process crash") {
			img = d.fs.CrashClone(CrashOptions{Mode: KeepAll})
		} else {
			p := d.fs.Pending(0)
			var cs []Choice
			for c := range p.Choices(AllSubsets, 8, 3) {
				cs = append(cs, c)
			}
			c := cs[rapid.IntRange(0, len(cs)-1).Draw(t, "choice")]
			img = p.Clone(c, Tail{Garbage: rapid.Bool().Draw(t, "garbage"), Seed: 7})
		}
		saved := img.Image()
		got, err := FromImage(saved)
		if err != nil {
			t.Fatalf("FromImage: %v", err)
		}
		if got.Fingerprint() != img.Fingerprint() {
			t.Fatalf("fingerprint %s, the image's %s", got.Fingerprint(), img.Fingerprint())
		}
		if a, b := image(t, got), image(t, img); a != b {
			t.Fatalf("rebuilt:\n%s\nimage:\n%s", a, b)
		}
		if again := got.Image(); !reflect.DeepEqual(again, saved) {
			t.Fatalf("Image of the rebuilt file system differs:\n%+v\n%+v", again, saved)
		}
		// A power failure of either leaves the same: what is durable of
		// both is the same (all of it, but shared memory).
		if a, b := got.CrashClone(CrashOptions{Mode: LoseAll}), img.CrashClone(CrashOptions{Mode: LoseAll}); a.Fingerprint() != b.Fingerprint() {
			t.Fatalf("a power failure leaves %s of the rebuilt image, %s of the image", image(t, a), image(t, b))
		}
	})
}

// TestImageLinksHolesAndCapacity covers what the random workloads do not:
// a file with two names, a hole beside an allocated block of zeros on a
// disk with a capacity (rule 17 tells them apart), and a directory tree.
func TestImageLinksHolesAndCapacity(t *testing.T) {
	fsys := New(Options{Mounts: []Mount{{Dir: "/", Capacity: 1 << 20}, {Dir: "/pm", Medium: engine.PMem}}})
	ok(t, fsys.MkdirAll("/d/e", 0o750))
	f := create(t, fsys, "/d/e/f")
	writeAt(t, f, "hello", 3*BlockSize+5)
	ok(t, engine.Allocate(f, 0, BlockSize))
	ok(t, f.Sync())
	ok(t, f.Close())
	ok(t, fsys.Link("/d/e/f", "/g"))
	p := create(t, fsys, "/pm/x")
	writeAt(t, p, "pmem", 0)
	ok(t, p.Sync())
	ok(t, p.Close())
	ok(t, fsys.SyncDir("/"))
	ok(t, fsys.SyncDir("/d"))
	ok(t, fsys.SyncDir("/d/e"))
	img := fsys.CrashClone(CrashOptions{Mode: LoseAll})
	got, err := FromImage(img.Image())
	ok(t, err)
	if got.Fingerprint() != img.Fingerprint() {
		t.Fatalf("fingerprint %s, the image's %s", got.Fingerprint(), img.Fingerprint())
	}
	if a, b := image(t, got), image(t, img); a != b {
		t.Fatalf("rebuilt:\n%s\nimage:\n%s", a, b)
	}
	// The two names are one file in the rebuilt file system too.
	g, err := got.OpenFile("/g", os.O_RDWR, 0)
	ok(t, err)
	writeAt(t, g, "X", 0)
	if s := fileText(t, got, "/d/e/f"); s[0] != 'X' {
		t.Fatalf("a write through /g does not show through /d/e/f: %q, /g %q", s[:8], fileText(t, got, "/g")[:8])
	}
	var blocks []ImageBlock
	for _, n := range img.Image().Nodes {
		if n.Path == "/d/e/f" {
			blocks = n.Blocks
		}
	}
	if len(blocks) != 2 || blocks[0].Index != 0 || blocks[0].Data != nil || blocks[1].Index != 3 {
		t.Fatalf("blocks of /d/e/f: %+v, want the allocated zeros at 0 and the data at 3, a hole between", blocks)
	}
}

// TestFromImageRefusesInvalid: an Image no file system holds is ErrImage,
// never a panic.
func TestFromImageRefusesInvalid(t *testing.T) {
	root := ImageNode{Path: "/", ID: 1, Mode: fs.ModeDir | 0o755}
	file := ImageNode{Path: "/f", ID: 2, Mode: 0o644, Size: 10, Blocks: []ImageBlock{{Index: 0, Data: make([]byte, BlockSize)}}}
	for name, img := range map[string]*Image{
		"no root":        {IDs: 2, Nodes: []ImageNode{file}},
		"path twice":     {IDs: 2, Nodes: []ImageNode{root, file, file}},
		"no parent":      {IDs: 2, Nodes: []ImageNode{root, {Path: "/d/f", ID: 2, Mode: 0o644}}},
		"unclean path":   {IDs: 2, Nodes: []ImageNode{root, {Path: "/f/", ID: 2, Mode: 0o644}}},
		"block past end": {IDs: 2, Nodes: []ImageNode{root, {Path: "/f", ID: 2, Mode: 0o644, Size: 1, Blocks: []ImageBlock{{Index: 1}}}}},
		"short block":    {IDs: 2, Nodes: []ImageNode{root, {Path: "/f", ID: 2, Mode: 0o644, Size: 1, Blocks: []ImageBlock{{Index: 0, Data: []byte{1}}}}}},
		"bytes past end": {IDs: 2, Nodes: []ImageNode{root, {Path: "/f", ID: 2, Mode: 0o644, Size: 1, Blocks: []ImageBlock{{Index: 0, Data: append([]byte{1, 2}, make([]byte, BlockSize-2)...)}}}}},
		"bad mount":      {IDs: 2, Nodes: []ImageNode{root, {Path: "/f", ID: 2, Mode: 0o644, Mnt: 3}}},
		"id past ids":    {IDs: 1, Nodes: []ImageNode{root, file}},
		"dir as link":    {IDs: 2, Nodes: []ImageNode{root, {Path: "/d", ID: 1, Mode: fs.ModeDir | 0o755}}},
		"symlink":        {IDs: 2, Nodes: []ImageNode{root, {Path: "/l", ID: 2, Mode: fs.ModeSymlink}}},
		"negative size":  {IDs: 2, Nodes: []ImageNode{root, {Path: "/f", ID: 2, Mode: 0o644, Size: -1}}},
	} {
		if _, err := FromImage(img); !errors.Is(err, ErrImage) {
			t.Errorf("%s: err = %v, want ErrImage", name, err)
		}
	}
}
