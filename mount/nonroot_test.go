package mount_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

// nobody is the unprivileged user (Debian's nobody:nogroup) as which
// TestUnprivilegedMount runs the mount's non-root path.
const nobody = 65534

// TestUnprivilegedMount runs the mount as a user who is not root, through
// fusermount3, as every user but root mounts: the test binary, copied
// where nobody can run it, runs as nobody the child program "nonroot"
// (unprivileged), in a directory of its own. Run as root, as the
// project's machines and CI run the tests, nothing else would exercise
// that path. In CI a machine that cannot run it (no /dev/fuse open to
// everyone, no fusermount3 setuid root: make fuse3, which make test runs
// when CI=true, sees to both) fails the test; elsewhere it skips with the
// reason.
func TestUnprivilegedMount(t *testing.T) {
	if os.Geteuid() != 0 {
		// Every test of the package already mounts through fusermount3.
		if err := unprivileged(); err != nil {
			mount.Require(t, err)
		}
		return
	}
	bin, err := exec.LookPath("fusermount3")
	if err != nil {
		mount.Require(t, fmt.Errorf("%w: no fusermount3 on PATH for user nobody: %w", mount.ErrNoFusermount, err))
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&os.ModeSetuid == 0 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		mount.Require(t, fmt.Errorf("%w: %s is not setuid root (%v), so nobody cannot mount with it", mount.ErrMount, bin, err))
	}
	// fusermount3 opens /dev/fuse as the user, before it mounts as root:
	// Debian's udev rule makes it 0666, a bare /dev (a container's, a
	// devtmpfs without udev) may leave it 0600.
	if fi, err := os.Stat("/dev/fuse"); err != nil || fi.Mode().Perm()&0o006 != 0o006 {
		mount.Require(t, fmt.Errorf("%w: /dev/fuse is not readable and writable by nobody (%v, error %v): make fuse3 makes it 0666", mount.ErrMount, fi.Mode(), err))
	}

	// A directory nobody owns, for the binary and as its TMPDIR; go
	// test's own directories are root's alone (0700).
	dir, err := os.MkdirTemp("", "crashsim-nonroot-")
	must(t, err)
	t.Cleanup(func() {
		// A child that failed may have left its mounts (the test fails
		// on them first): detach them, so that the directory goes.
		for _, line := range mountsUnder(t, dir) {
			syscall.Unmount(strings.Fields(line)[4], syscall.MNT_DETACH)
		}
		os.RemoveAll(dir)
	})
	must(t, os.Chmod(dir, 0o755))
	must(t, os.Chown(dir, nobody, nobody))
	prog := filepath.Join(dir, "mount.test")
	must(t, copyFile(prog, os.Args[0]))

	cmd := exec.Command(prog)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"TMPDIR=" + dir,
		"HOME=" + dir,
		childEnv + "=nonroot",
		"GORACE=atexit_sleep_ms=0",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}},
	}
	out, err := cmd.CombinedOutput()
	t.Logf("as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("the mount's non-root path, run as nobody: %v", err)
	}
	if left := mountsUnder(t, dir); len(left) > 0 {
		t.Fatalf("mounts left under %s: %q", dir, left)
	}
}

// unprivileged is the child program "nonroot": as a user who is not
// root, it explores writeLog through the mount, whose crash points must
// name this process's pid; serves a child of its own, by the child's pid;
// closes a mount with a file still open on it;
// finds no fusermount3 where there is none (ErrNoFusermount); and leaves
// no mount behind.
func unprivileged() error {
	if os.Geteuid() == 0 {
		return errors.New("nonroot: runs as root")
	}
	pid := fmt.Sprintf("pid %d", os.Getpid())
	res, err := sim.Explore(osLog("os-log", correct), sim.Options{Fault: sim.PowerFailure, MaxStates: 64})
	if err != nil {
		return err
	}
	if res.RunError != "" || len(res.Violations) > 0 || res.CrashPoints == 0 {
		return fmt.Errorf("os-log: run error %q, %d violations, %d crash points; want none, none, some:\n%s",
			res.RunError, len(res.Violations), res.CrashPoints, describe(res))
	}
	res, err = sim.Explore(osLog("os-log-bug-no-dirsync", noDirSync), sim.Options{Fault: sim.PowerFailure, MaxStates: 64})
	if err != nil {
		return err
	}
	if res.RunError != "" || len(res.Violations) == 0 {
		return fmt.Errorf("os-log-bug-no-dirsync: run error %q, no violation:\n%s", res.RunError, describe(res))
	}
	v := res.Violations[0]
	if !strings.Contains(v.At, pid+" sync /log.tmp") {
		return fmt.Errorf("os-log-bug-no-dirsync: first violation at %q, want the fsync of /log.tmp by %s", v.At, pid)
	}
	renamed := false
	for _, e := range v.Excerpt {
		renamed = renamed || e.Kind == "rename" && e.Path == "/log.tmp" && e.NewPath == "/log" && e.Pid == os.Getpid()
	}
	if !renamed {
		return fmt.Errorf("os-log-bug-no-dirsync: the violation's trace has no rename of /log.tmp by %s:\n%v", pid, v.Excerpt)
	}
	fmt.Printf("uid %d: %d crash points, first violation at %s: %s\n", os.Geteuid(), res.CrashPoints, v.At, v.Problem)

	// Another process of this user, a child, writes the log through the
	// mount: its requests come with its pid, whose /proc/<pid>/status
	// this user reads.
	m := sim.NewMachine()
	p := m.Start("busy")
	var mu sync.Mutex
	callers := map[int]bool{}
	mnt, err := mount.Serve(func(pid int) engine.FS {
		mu.Lock()
		callers[pid] = true
		mu.Unlock()
		return p.FS()
	}, mount.Options{})
	if err != nil {
		return err
	}
	child, err := runChild("log", mnt.Dir(), "2", "0")
	if err != nil {
		mnt.Close()
		return err
	}
	mu.Lock()
	seen := callers[child]
	mu.Unlock()
	if !seen {
		mnt.Close()
		return fmt.Errorf("no request came with the pid %d of the child that wrote the log (callers %v)", child, callers)
	}

	// A file open on the mount makes fusermount3 -u fail (busy): Close
	// detaches the mount lazily (fusermount3 -u -z) and succeeds.
	f, err := os.Create(mnt.Path("open"))
	if err != nil {
		mnt.Close()
		return err
	}
	if err := mnt.Close(); err != nil {
		f.Close()
		return fmt.Errorf("close with a file open: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close of a file on a detached mount: %w", err)
	}
	if left := mountsUnder(nil, mnt.Dir()); len(left) > 0 {
		return fmt.Errorf("mount left after Close: %q", left)
	}

	// No fusermount3 on PATH nor in go-fuse's fallback directory.
	path := os.Getenv("PATH")
	os.Setenv("PATH", "")
	old := mount.SetFusermountDir("/nonexistent")
	_, err = mount.Serve(func(int) engine.FS { return p.FS() }, mount.Options{})
	mount.SetFusermountDir(old)
	os.Setenv("PATH", path)
	if !errors.Is(err, mount.ErrNoFusermount) || !errors.Is(err, mount.ErrMount) {
		return fmt.Errorf("mount without fusermount3: %v, want ErrNoFusermount (an ErrMount)", err)
	}

	if left := mountsUnder(nil, os.TempDir()); len(left) > 0 {
		return fmt.Errorf("mounts left under %s: %q", os.TempDir(), left)
	}
	return nil
}

// mountsUnder returns the mount points at or under dir that
// /proc/self/mountinfo lists.
func mountsUnder(t *testing.T, dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		if t != nil {
			t.Fatal(err)
		}
		return []string{err.Error()}
	}
	var left []string
	for line := range strings.SplitSeq(string(b), "\n") {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			left = append(left, line)
		}
	}
	return left
}

// copyFile copies the program src to dst, which anyone may run.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
