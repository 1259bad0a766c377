package tx_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/internal/testproc"
)

// fullDiskEnv tells the helper process of TestFullDisk what to do:
// "phase:dir".
const fullDiskEnv = "CRASHSIM_TX_FULL_DISK"

// The phases of TestFullDisk, each in a process of its own, in order: a
// phase that dies leaves its pool to the next, as a crashed program leaves
// it to the next one.
var fullDiskPhases = []string{"grow", "open", "open-sparse"}

// TestFullDisk (issue 16): a pool on a full file system — a small tmpfs,
// and a small ext4 on a loop device — never kills its process with
// SIGBUS. The pool file is mapped; before the engine allocated its blocks,
// a store to a page with no block faulted when the disk was full (on
// tmpfs a load did too), and so did opening the pool to recover it.
//
//   - grow: Create of a pool that fits succeeds; once the disk is full,
//     Create of another fails with ErrNoSpace wrapping ENOSPC and leaves
//     nothing, an Update that must grow the pool fails the same way, and
//     the pool stays usable: a small Update commits and Check passes.
//   - open: the pool opens on the full disk, as a writer and as a reader,
//     with the small Update's value.
//   - open-sparse: a pool made sparse behind the engine's back (a hole
//     punched in it, as a copy with cp --sparse or fallocate -p would)
//     fails to open on the full disk with ErrNoSpace, as a writer and as a
//     reader that would recover it.
//
// Each phase runs in a helper process (TestFullDiskProcess), so that a
// fault is reported as this test's failure rather than killing it. It
// needs root to mount; it skips without, but not under CI=true.
func TestFullDisk(t *testing.T) {
	for _, kind := range []string{"tmpfs", "ext4"} {
		t.Run(kind, func(t *testing.T) {
			dir := mountSmall(t, kind)
			for _, phase := range fullDiskPhases {
				out, err := testproc.Run(t, "TestFullDiskProcess", fullDiskEnv+"="+phase+":"+dir)
				if sig := testproc.Fault(out, err); sig != "" {
					t.Errorf("phase %s: the process was killed by %s:\n%s", phase, sig, firstLines(out, 12))
				} else if err != nil || !strings.Contains(out, "--- PASS: TestFullDiskProcess") {
					t.Errorf("phase %s: %v\n%s", phase, err, out)
				}
			}
		})
	}
}

// firstLines returns the first n lines of s: a fault's report, without the
// stacks of every goroutine.
func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[:min(n, len(lines))], "")
}

// mountSmall mounts a small file system of the kind on a new directory,
// unmounted when the test ends: tmpfs of 1 MiB, or ext4 in an image of
// 8 MiB (about 3 MiB free) on a loop device. Without root it skips, but
// not under CI=true (CI runs as root); ext4 also skips without mkfs.ext4,
// and without a loop device but under CI=true: it is the optional case.
func mountSmall(t *testing.T, kind string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a small %s needs root, and CI runs as root", kind)
		}
		t.Skipf("mounting a small %s needs root", kind)
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var args []string
	switch kind {
	case "tmpfs":
		args = []string{"-t", "tmpfs", "-o", "size=1m", "tmpfs", dir}
	case "ext4":
		if _, err := exec.LookPath("mkfs.ext4"); err != nil {
			t.Skip("no mkfs.ext4 (e2fsprogs) to make a small ext4; the tmpfs case covers the defect")
		}
		img := filepath.Join(t.TempDir(), "ext4.img")
		if err := os.WriteFile(img, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, 8<<20); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-b", "4096", img).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v\n%s", err, out)
		}
		args = []string{"-o", "loop", img, dir}
	}
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		if kind == "ext4" && os.Getenv("CI") != "true" {
			// A container may have no loop device; tmpfs needs none.
			t.Skipf("mount %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Fatalf("mount %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// TestFullDiskProcess is not a test: it is the other process of
// TestFullDisk, run by re-executing the test binary, and does one phase.
func TestFullDiskProcess(t *testing.T) {
	arg := os.Getenv(fullDiskEnv)
	if arg == "" {
		t.Skip("the helper process of TestFullDisk")
	}
	phase, dir, _ := strings.Cut(arg, ":")
	name := filepath.Join(dir, "pool")
	switch phase {
	case "grow":
		fullDiskGrow(t, dir, name)
	case "open":
		fullDiskOpen(t, name)
	case "open-sparse":
		fullDiskOpenSparse(t, dir, name)
	default:
		t.Fatalf("unknown phase %q", phase)
	}
}

// wantNoSpace fails unless err is ErrNoSpace wrapping ENOSPC.
func wantNoSpace(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, tx.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("%s on a full disk: %v, want ErrNoSpace wrapping ENOSPC", what, err)
	}
}

// fillDisk writes a file of ones into dir until the file system is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ones := make([]byte, 4096)
	for i := range ones {
		ones[i] = 1
	}
	for {
		_, err := f.Write(ones)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func fullDiskGrow(t *testing.T, dir, name string) {
	p, err := tx.Create[P, Root](engine.OSFS{}, name, &tx.Options{Size: 256 << 10})
	if err != nil {
		t.Fatalf("Create of a pool that fits: %v", err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	fillDisk(t, dir)

	other := filepath.Join(dir, "other")
	_, err = tx.Create[P, Root](engine.OSFS{}, other, &tx.Options{Size: 256 << 10})
	wantNoSpace(t, "Create", err)
	for _, n := range []string{other, other + ".creating"} {
		if _, err := os.Stat(n); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after a failed Create, %s: %v, want it gone", n, err)
		}
	}

	root := p.Root()
	err = p.Update(func(t *tx.Tx[P]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Blob, err = tx.NewBytes[P](t, make([]byte, 512<<10)); err != nil {
			return err
		}
		return root.Set(t, r)
	})
	wantNoSpace(t, "an Update that grows the pool", err)

	count := tx.Field(root, func(r *Root) *int64 { return &r.Count })
	if err := p.Update(func(t *tx.Tx[P]) error { return count.Set(t, 42) }); err != nil {
		t.Errorf("a small Update after the failed one: %v", err)
	}
	if err := p.Check(); err != nil {
		t.Errorf("Check after the failed Update: %v", err)
	}
}

func fullDiskOpen(t *testing.T, name string) {
	for _, ro := range []bool{false, true} {
		p, err := tx.Open[P, Root](engine.OSFS{}, name, &tx.Options{ReadOnly: ro})
		if err != nil {
			t.Errorf("Open (read-only %v) on the full disk: %v", ro, err)
			continue
		}
		count := tx.Field(p.Root(), func(r *Root) *int64 { return &r.Count })
		var got int64
		if err := p.View(func(t *tx.Tx[P]) (err error) { got, err = count.Get(t); return err }); err != nil || got != 42 {
			t.Errorf("Open (read-only %v): Count = %d, %v; want 42", ro, got, err)
		}
		if !ro {
			if err := p.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
		}
		if err := p.Close(); err != nil {
			t.Errorf("Close (read-only %v): %v", ro, err)
		}
	}
}

// fullDiskOpenSparse punches a hole in the pool past its first page, which
// frees blocks, fills the disk again and opens the pool.
func fullDiskOpenSparse(t *testing.T, dir, name string) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 4096, fi.Size()-4096); err != nil {
		t.Fatalf("punching a hole in the pool: %v", err)
	}
	f.Close()
	fillDisk(t, dir)
	for _, ro := range []bool{false, true} {
		p, err := tx.Open[P, Root](engine.OSFS{}, name, &tx.Options{ReadOnly: ro})
		if err == nil {
			p.Close()
		}
		wantNoSpace(t, "Open (read-only "+strconv.FormatBool(ro)+") of a sparse pool", err)
	}
}

// growBlob is an Update that stores a blob of n bytes at the root, which
// makes a pool of 160 KiB grow when n is large.
func growBlob(p *tx.Pool[P, Root], n int) error {
	root := p.Root()
	return p.Update(func(t *tx.Tx[P]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Blob, err = tx.NewBytes[P](t, make([]byte, n)); err != nil {
			return err
		}
		return root.Set(t, r)
	})
}

// TestGrowthOnAFullDisk: on a simulated disk with room for two blocks more
// than the pool, a growth gets those two and fails with ErrNoSpace (the
// file system grows the file over what it allocated, as ext4 does), so the
// file is longer than the pool; the pool stays usable, opens again with
// that tail, and grows into it once the disk has room. Create on the full
// disk fails with ErrNoSpace and leaves nothing.
func TestGrowthOnAFullDisk(t *testing.T) {
	fsys := memFS(t)
	p := newPool(t, fsys, &tx.Options{Size: 160 << 10, LogSize: tx.MinLogSize})
	used, _ := fsys.Space("/pmem")
	fsys.SetCapacity("/pmem", used+2*4096)
	wantNoSpace(t, "an Update that grows the pool", growBlob(p, 200<<10))
	fi, err := fsys.Stat(poolName)
	if err != nil || fi.Size() != 160<<10+2*4096 {
		t.Errorf("after the failed growth the file is %v bytes (%v), want the pool and the two blocks it got", fi.Size(), err)
	}
	count := tx.Field(p.Root(), func(r *Root) *int64 { return &r.Count })
	if err := p.Update(func(t *tx.Tx[P]) error { return count.Set(t, 7) }); err != nil {
		t.Errorf("an Update that fits after the failed one: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = tx.Create[P, Root](fsys, "/pmem/other", &tx.Options{Size: 160 << 10})
	wantNoSpace(t, "Create", err)
	for _, n := range []string{"/pmem/other", "/pmem/other.creating"} {
		if _, err := fsys.Stat(n); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after a failed Create, %s: %v, want it gone", n, err)
		}
	}

	p, err = tx.Open[P, Root](fsys, poolName, &tx.Options{Strict: true})
	if err != nil {
		t.Fatalf("Open of the pool with a tail, on the full disk: %v", err)
	}
	closeAtEnd(t, p)
	var got int64
	if err := p.View(func(t *tx.Tx[P]) (err error) { got, err = count.Get(t); return err }); err != nil || got != 7 {
		t.Errorf("after Open: Count = %d, %v; want 7", got, err)
	}
	fsys.SetCapacity("/pmem", 0)
	if err := growBlob(p, 200<<10); err != nil {
		t.Errorf("the growth once the disk has room: %v", err)
	}
}
