package faultfs

import (
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// Tests of rule 18, the file-system profiles.

// TestProfileEnumerationMatchesReference checks AllSubsets under profiles
// against the brute-force reference: the set of images equals the one the
// reference builds with the profile's unit on a disk, its tails (18b) and
// its ordered sizes (18c), each choice yielded once, Count right, and
// every choice kept to the rules. Rule 18d (renames) is checked below.
func TestProfileEnumerationMatchesReference(t *testing.T) {
	profiles := []Profile{
		POSIX,
		{Name: "ordered-512", Sector: 512, OrderedSize: true},
		{Name: "ordered-4k", Sector: 4096, OrderedSize: true},
		{Name: "ordered-garbage", Sector: 512, OrderedSize: true, Garbage: true},
	}
	rapid.Check(t, func(t *rapid.T) {
		prof := rapid.SampledFrom(profiles).Draw(t, "profile")
		tail := Tail{Seed: 7}
		d := newDriver(t)
		d.setup()
		for range rapid.IntRange(1, 10).Draw(t, "steps") {
			d.step(0)
		}
		p := d.fs.PendingUnder(prof, 0)
		want, ok := d.ref.imagesUnder(0, prof, tail, 2000)
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
			if !p.Allows(c) {
				t.Fatalf("choice %s yielded, which the profile does not allow", c.Key())
			}
			got[image(t, p.Clone(c, tail))] = true
		}
		if uint64(len(keys)) != n {
			t.Fatalf("Count = %d, Choices yielded %d", n, len(keys))
		}
		for img := range want {
			if !got[img] {
				t.Fatalf("state of %s never enumerated:\n%s\n(pending %+v %+v)", prof.Name, img, p.Sizes, p.Data)
			}
		}
		for img := range got {
			if !want[img] {
				t.Fatalf("state enumerated that %s does not allow:\n%s\n(pending %+v %+v)", prof.Name, img, p.Sizes, p.Data)
			}
		}
	})
}

// TestNearest checks, on random histories under every profile, that
// Nearest moves any state of the rules to one the profile allows, keeping
// at least everything it kept, and leaves an allowed state alone; and
// that the states a profile enumerates are exactly the allowed states of
// the rules.
func TestNearest(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		prof := rapid.SampledFrom(Profiles).Draw(t, "profile")
		d := newDriver(t)
		d.setup()
		for range rapid.IntRange(1, 10).Draw(t, "steps") {
			d.step(0)
		}
		p := d.fs.PendingUnder(prof, 0)
		all := p.Under(Profile{Name: "rules", Sector: prof.Sector, Garbage: prof.Garbage})
		if n, exact := all.Count(AllSubsets); !exact || n > 5000 {
			return
		}
		allowed := map[string]bool{}
		for c := range all.Choices(AllSubsets, 0, 0) {
			near := p.Nearest(c)
			if !p.Allows(near) {
				t.Fatalf("Nearest(%s) = %s, which %s does not allow", c.Key(), near.Key(), prof.Name)
			}
			if near.Prefix != c.Prefix || near.Garbage != c.Garbage {
				t.Fatalf("Nearest(%s) = %s changed the namespace or the tail", c.Key(), near.Key())
			}
			for k := range c.Sizes {
				if near.Sizes[k] < c.Sizes[k] {
					t.Fatalf("Nearest(%s) = %s lost a size", c.Key(), near.Key())
				}
			}
			for u := range c.Data {
				if near.Data[u] < c.Data[u] {
					t.Fatalf("Nearest(%s) = %s lost data", c.Key(), near.Key())
				}
			}
			if p.Allows(c) {
				if near.Key() != c.Key() {
					t.Fatalf("Nearest moved %s, which %s allows, to %s", c.Key(), prof.Name, near.Key())
				}
				allowed[c.Key()] = true
			}
		}
		got := map[string]bool{}
		for c := range p.Choices(AllSubsets, 0, 0) {
			got[c.Key()] = true
		}
		if !mapsEqual(got, allowed) {
			t.Fatalf("%s enumerates %d states, the rules have %d it allows", prof.Name, len(got), len(allowed))
		}
		// The other strategies keep to the profile too, each state once.
		for _, s := range []Strategy{InOrderPrefixes, LoseAll, KeepAll} {
			keys := map[string]bool{}
			for c := range p.Choices(s, 0, 0) {
				if !p.Allows(c) || keys[c.Key()] {
					t.Fatalf("%v yields %s, which %s does not allow or was yielded before", s, c.Key(), prof.Name)
				}
				keys[c.Key()] = true
			}
			if n, _ := p.Count(s); n != uint64(len(keys)) {
				t.Fatalf("%v: Count = %d, Choices yielded %d", s, n, len(keys))
			}
		}
	})
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// contentsUnder returns every content file name has in a state that prof
// allows at this instant, with its namespace as the state has it: the
// states of every strategy, which must all keep to the profile.
func contentsUnder(t *testing.T, fsys *FS, prof Profile, name string) map[string]bool {
	t.Helper()
	p := fsys.PendingUnder(prof, 0)
	out := map[string]bool{}
	for _, s := range []Strategy{AllSubsets, InOrderPrefixes, LoseAll, KeepAll} {
		for c := range p.Choices(s, 0, 0) {
			out[fileText(t, p.Clone(c, Tail{Seed: 3}), name)] = true
		}
	}
	return out
}

// quoted shows a content in a failure: garbage and zeros are bytes nobody
// wrote, and read as such.
func quoted(set map[string]bool) string {
	var out []string
	for s := range set {
		out = append(out, strings.NewReplacer("\x00", "0").Replace(s))
	}
	slices.Sort(out)
	return strings.Join(out, " | ")
}

// TestRule18bTails: under posix a size that outlives its data reads as
// zeros in one state and garbage in another; under a profile without
// Garbage, zeros only. The unit on a disk is the profile's sector.
func TestRule18bTails(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	writeAt(t, f, strings.Repeat("d", 1024), 0)

	p := fsys.PendingUnder(POSIX, 0)
	if len(p.Data) != 2 || p.Data[0].Len != 512 || p.Tails != 2 {
		t.Fatalf("posix: %d units of %d bytes, %d tails; want 2 of 512, 2 tails", len(p.Data), p.Data[0].Len, p.Tails)
	}
	var zeros, garbage bool
	for c := range p.Choices(AllSubsets, 0, 0) {
		got := fileText(t, p.Clone(c, Tail{Seed: 3}), "/f")
		if len(got) == 1024 && c.Data[0] == 0 {
			zeros = zeros || got[:512] == strings.Repeat("\x00", 512)
			garbage = garbage || c.Garbage && strings.Trim(got[:512], "\x00") != ""
		}
	}
	if !zeros || !garbage {
		t.Fatalf("posix: a lost sector under the size read as zeros: %v, as garbage: %v; want both", zeros, garbage)
	}
	for _, prof := range []Profile{Ext4Ordered, XFS, Btrfs, POSIX4K, {}} {
		if q := fsys.PendingUnder(prof, 0); q.Tails != 1 {
			t.Errorf("%s: %d tails, want 1 (no garbage)", prof.Name, q.Tails)
		}
	}
	if q := fsys.PendingUnder(Btrfs, 0); len(q.Data) != 1 || q.Data[0].Len != 4096 {
		t.Fatalf("btrfs: units %+v, want one of 4096 bytes", q.Data)
	}
}

// TestRule18cOrderedSize: an append without fsync. Under posix and
// ext4-writeback the new size may outlive the data (zeros, garbage, torn
// sectors); under ext4-ordered, xfs and btrfs the size follows the data:
// the file is empty or holds the whole append, and torn sectors show only
// below a size that covers them.
func TestRule18cOrderedSize(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, "head", 0)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	data := strings.Repeat("a", 600)
	writeAt(t, f, data, 4)

	for _, prof := range []Profile{POSIX, Ext4Writeback} {
		got := contentsUnder(t, fsys, prof, "/f")
		if !got["head"+strings.Repeat("\x00", 600)] {
			t.Errorf("%s: no state with the size and none of the append; states: %s", prof.Name, quoted(got))
		}
	}
	for _, prof := range []Profile{Ext4Ordered, XFS, Btrfs} {
		got := contentsUnder(t, fsys, prof, "/f")
		if len(got) != 2 || !got["head"] || !got["head"+data] {
			t.Errorf("%s: states %s; want head, or head and the whole append", prof.Name, quoted(got))
		}
	}

	// A truncate cuts the append back: the size that covers it needs only
	// the bytes below the cut.
	ok(t, f.Truncate(100))
	got := contentsUnder(t, fsys, Ext4Ordered, "/f")
	for s := range got {
		if len(s) == 100 && s != "head"+data[:96] {
			t.Errorf("ext4-ordered: size 100 reads %q", s)
		}
	}
}

// TestRule18cShrinkNeedsNoData: a shrinking truncate exposes no byte, so
// under ordered sizes the size it sets needs no data of its own: a state
// may keep it with the data of the extending write before it and without
// a later overwrite or the truncate's cut. The draw of rapid seed
// 11800394086421442133 of TestProfileEnumerationMatchesReference, where
// the reference asked a shrink for every change of the units across it;
// the enumeration must equal the reference's.
func TestRule18cShrinkNeedsNoData(t *testing.T) {
	prof := Profile{Name: "ordered-garbage", Sector: 512, OrderedSize: true, Garbage: true}
	d := &driver{ref: newRefFS(driverMounts...), log: new(Log), inject: new(failNextSync)}
	d.fs = New(Options{Observe: d.log.Observe, Injector: d.inject, Mounts: driverMounts})
	f := create(t, d.fs, "/b")
	defer f.Close()
	d.ref.create("/b", d.seq())
	ok(t, d.fs.SyncDir("/"))
	d.ref.syncDir("/")
	rf := d.ref.file("/b")
	for _, w := range []string{"OOOOOOOOOOO", "LLLLLL"} { // size 11, then an overwrite
		writeAt(t, f, w, 0)
		rf.write([]byte(w), 0, d.seq())
	}
	ok(t, f.Truncate(8))
	rf.truncate(8, d.seq())

	p := d.fs.PendingUnder(prof, 0)
	tail := Tail{Seed: 7}
	want, fits := d.ref.imagesUnder(0, prof, tail, 2000)
	if !fits {
		t.Fatal("the reference has too many states")
	}
	got, texts := map[string]bool{}, map[string]bool{}
	for c := range p.Choices(AllSubsets, 0, 0) {
		img := p.Clone(c, tail)
		got[image(t, img)] = true
		texts[fileText(t, img, "/b")] = true
	}
	for _, s := range []string{"OOOOOOOO", "LLLLLLOO"} {
		if !texts[s] {
			t.Errorf("no state of size 8 reads %q; states: %s", s, quoted(texts))
		}
	}
	if texts["\x00\x00\x00\x00\x00\x00\x00\x00"] {
		t.Error("a state of size 8 without the extending write's data")
	}
	for img := range want {
		if !got[img] {
			t.Errorf("state of %s never enumerated:\n%s", prof.Name, img)
		}
	}
	for img := range got {
		if !want[img] {
			t.Errorf("state enumerated that %s does not allow:\n%s", prof.Name, img)
		}
	}
}

// TestRule18dRenameFlush: a new version written to a temporary file and
// renamed over the old one, with no fsync of the data, then the directory
// fsynced. Under ext4-ordered and btrfs the new name holds the new data
// whole; under xfs it may hold an empty file (the size follows the data,
// but the rename does not wait for it); under posix zeros or garbage too.
// A rename to a new name is not flushed on ext4 either.
func TestRule18dRenameFlush(t *testing.T) {
	fsys := New(Options{})
	ok(t, fsys.MkdirAll("/d", 0o755))
	ok(t, fsys.SyncDir("/"))
	old := create(t, fsys, "/d/config")
	writeAt(t, old, "old", 0)
	ok(t, old.Sync())
	ok(t, fsys.SyncDir("/d"))
	tmp := create(t, fsys, "/d/config.tmp")
	data := strings.Repeat("n", 700)
	writeAt(t, tmp, data, 0)
	ok(t, fsys.Rename("/d/config.tmp", "/d/config"))
	ok(t, fsys.SyncDir("/d"))

	for _, prof := range []Profile{Ext4Ordered, Btrfs} {
		if got := contentsUnder(t, fsys, prof, "/d/config"); len(got) != 1 || !got[data] {
			t.Errorf("%s: the renamed file reads %s; want only the new data", prof.Name, quoted(got))
		}
	}
	if got := contentsUnder(t, fsys, XFS, "/d/config"); len(got) != 2 || !got[""] || !got[data] {
		t.Errorf("xfs: the renamed file reads %s; want empty or the new data", quoted(got))
	}
	if got := contentsUnder(t, fsys, POSIX, "/d/config"); !got[""] || !got[strings.Repeat("\x00", 700)] || len(got) < 4 {
		t.Errorf("posix: the renamed file reads %s; want empty, zeros, garbage and torn sectors too", quoted(got))
	}

	// No file of that name before: no flush, on ext4 too.
	other := create(t, fsys, "/d/fresh.tmp")
	writeAt(t, other, data, 0)
	ok(t, fsys.Rename("/d/fresh.tmp", "/d/fresh"))
	ok(t, fsys.SyncDir("/d"))
	if got := contentsUnder(t, fsys, Ext4Ordered, "/d/fresh"); !got[""] {
		t.Errorf("ext4-ordered: a rename to a new name was flushed: %s", quoted(got))
	}
}

// TestTranslate: a state of posix that tears a block maps to the btrfs
// state that loses the block whole, and a state of btrfs maps to the same
// image under posix.
func TestTranslate(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/f")
	writeAt(t, f, strings.Repeat("o", 4096), 0)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	writeAt(t, f, strings.Repeat("n", 4096), 0)

	posix := fsys.PendingUnder(POSIX, 0)
	btrfs := posix.Under(Btrfs)
	torn := posix.Nearest(Choice{Data: []int{1, 1, 1, 0, 1, 1, 1, 1}}) // sector 3 lost
	if got := btrfs.Translate(torn, posix); got.Data[0] != 0 {
		t.Fatalf("the torn block maps to btrfs version %d, want 0 (lost whole)", got.Data[0])
	}
	for c := range btrfs.Choices(AllSubsets, 0, 0) {
		back := posix.Translate(c, btrfs)
		if a, b := btrfs.Clone(c, Tail{}).Fingerprint(), posix.Clone(back, Tail{}).Fingerprint(); a != b {
			t.Fatalf("btrfs state %s maps to posix %s, another image", c.Key(), back.Key())
		}
	}
}

func TestChoiceKeyGarbage(t *testing.T) {
	c := Choice{Prefix: 1, Sizes: []int{2}, Data: []int{0, 3}, Garbage: true}
	if c.Key() != "1/2/0,3/g" {
		t.Fatalf("key %q", c.Key())
	}
	back, err := ParseChoice(c.Key())
	if err != nil || back.Key() != c.Key() {
		t.Fatalf("ParseChoice(%q) = %+v, %v", c.Key(), back, err)
	}
	if old, err := ParseChoice("1/2/0,3"); err != nil || old.Garbage {
		t.Fatalf("a key without a tail: %+v, %v", old, err)
	}
	for _, bad := range []string{"1/2/0,3/x", "1/2/0,3/g/g", "1/2/0,3/"} {
		if _, err := ParseChoice(bad); err == nil {
			t.Errorf("ParseChoice(%q) took it", bad)
		}
	}
}

func TestProfileNamed(t *testing.T) {
	for _, p := range append(slices.Clone(Profiles), POSIX4K) {
		if got, ok := ProfileNamed(p.Name); !ok || got.Name != p.Name {
			t.Errorf("ProfileNamed(%q) = %v, %v", p.Name, got.Name, ok)
		}
		if p.Source == "" {
			t.Errorf("profile %s cites no source", p.Name)
		}
	}
	if _, ok := ProfileNamed("ext3"); ok {
		t.Error("ProfileNamed knows ext3")
	}
}
