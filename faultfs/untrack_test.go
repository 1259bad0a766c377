package faultfs

import (
	"os"
	"testing"
)

// TestUntrack: after Untrack, reads see every write, no write, Sync or
// Drain becomes durable, what was pending before stays pending, and the
// namespace still follows its rules.
func TestUntrack(t *testing.T) {
	fsys := newMounted(t)
	f := create(t, fsys, "/a")
	writeAt(t, f, "durable", 0)
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	writeAt(t, f, "PENDING", 0) // before Untrack: a crash may keep it
	_, r := mapped(t, fsys, "/mnt/pmem/r", 4096)
	ok(t, r.Store64(0, 1))
	ok(t, r.Flush(0, 8))
	ok(t, r.Drain())

	fsys.Untrack()
	writeAt(t, f, "later", 0)
	ok(t, f.Sync())
	ok(t, r.Store64(0, 2))
	ok(t, r.Flush(0, 8))
	ok(t, r.Drain())
	g := create(t, fsys, "/b")
	writeAt(t, g, "new", 0)
	ok(t, g.Sync())
	ok(t, fsys.SyncDir("/"))

	if got := fileText(t, fsys, "/a"); got != "laterNG" {
		t.Errorf("read of /a after Untrack: %q", got)
	}
	if v, err := r.Load64(0); err != nil || v != 2 {
		t.Errorf("load after Untrack: %d, %v", v, err)
	}

	// Every power-failure state: /a as durable before, or with the write
	// pending at Untrack; never "later". /b exists (its name is durable)
	// and is empty (its data never became durable). The region holds 1.
	p := fsys.Pending(0)
	seen := map[string]bool{}
	for c := range p.Choices(AllSubsets, 0, 0) {
		img := p.Clone(c, Tail{})
		a, b := fileText(t, img, "/a"), fileText(t, img, "/b")
		seen[a] = true
		if a != "durable" && a != "PENDING" { // one 4 KiB unit: all or nothing
			t.Errorf("crash state of /a: %q", a)
		}
		if b != "" {
			t.Errorf("crash state of /b: %q, want empty", b)
		}
		rf, err := img.OpenFile("/mnt/pmem/r", os.O_RDWR, 0)
		ok(t, err)
		rr, err := img.Map(rf, 4096)
		ok(t, err)
		if v, err := rr.Load64(0); err != nil || v != 1 {
			t.Errorf("crash state of the region: %d, %v; want 1", v, err)
		}
	}
	if !seen["durable"] || !seen["PENDING"] {
		t.Errorf("crash states of /a: %v, want the durable and the pending content", seen)
	}
	if got := fileText(t, lostAll(fsys), "/a"); got != "durable" {
		t.Errorf("LoseAll after Untrack: /a = %q", got)
	}
}

// TestUntrackReachesUnlinkedFiles: a file open but no longer named when
// Untrack is called (removed, or renamed over, neither durable) is
// untracked too: its later writes and Syncs never become durable.
func TestUntrackReachesUnlinkedFiles(t *testing.T) {
	for _, unlink := range []string{"remove", "rename-over"} {
		fsys := New(Options{})
		f := create(t, fsys, "/a")
		writeAt(t, f, "durable", 0)
		ok(t, f.Sync())
		ok(t, fsys.SyncDir("/"))
		if unlink == "remove" {
			ok(t, fsys.Remove("/a"))
		} else {
			g := create(t, fsys, "/b")
			ok(t, g.Close())
			ok(t, fsys.Rename("/b", "/a"))
		}
		fsys.Untrack()
		writeAt(t, f, "LATER!!", 0)
		ok(t, f.Sync())
		if got := fileText(t, lostAll(fsys), "/a"); got != "durable" {
			t.Errorf("%s: /a after a power failure = %q, want %q (durable at Untrack)", unlink, got, "durable")
		}
	}
}

// TestUntrackKeepsPendingOnFailedSync: after Untrack, a failed Sync drops
// nothing of what was pending before, as a failed Drain drops nothing.
func TestUntrackKeepsPendingOnFailedSync(t *testing.T) {
	fsys := New(Options{})
	f := create(t, fsys, "/a")
	ok(t, f.Sync())
	ok(t, fsys.SyncDir("/"))
	writeAt(t, f, "pending", 0)
	before := len(fsys.Pending(0).Data)
	if before == 0 {
		t.Fatal("nothing pending before Untrack")
	}
	fsys.Untrack()
	fsys.SetInjector(NewRules(Rule{When: OpKinds(OpSync), Fault: SyncFailure}))
	if err := f.Sync(); err == nil {
		t.Fatal("the injected Sync failure did not fail Sync")
	}
	if after := len(fsys.Pending(0).Data); after != before {
		t.Errorf("pending data units: %d before Untrack, %d after a failed Sync", before, after)
	}
}
