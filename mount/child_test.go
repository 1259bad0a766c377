package mount_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

// childEnv names the program the test binary runs as when it is a child
// of a test (TestMain): another process, which calls the mount as any
// program would.
const childEnv = "CRASHSIM_MOUNT_CHILD"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		if err := child(strings.Fields(args)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child runs one of the child programs:
//
//	log DIR N BUG  writeLog of records 1..N in DIR, with logBug BUG
//	mmap FILE      map FILE shared, store "mapped" at 0, msync, unmap
//	nonroot        the mount as a user who is not root (unprivileged)
//	fcntl FILE     fcntl write lock on FILE's bytes [0,99], "locked" on
//	               stdout, then hold it until stdin ends, and exit
func child(args []string) error {
	switch args[0] {
	case "fcntl":
		f, err := os.OpenFile(args[1], os.O_RDWR, 0)
		if err != nil {
			return err
		}
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 100}
		if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
			return fmt.Errorf("F_SETLK: %w", err)
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin)
		return nil // the exit releases the lock (the kernel's flush)
	case "log":
		n, _ := strconv.Atoi(args[2])
		bug, _ := strconv.Atoi(args[3])
		var records [][]byte
		for i := 1; i <= n; i++ {
			records = append(records, fmt.Appendf(nil, "record %d", i))
		}
		return writeLog(args[1], records, logBug(bug))
	case "nonroot":
		return unprivileged()
	case "mmap":
		f, err := os.OpenFile(args[1], os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := unix.Mmap(int(f.Fd()), 0, engine.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("mmap: %w", err)
		}
		copy(b, "mapped")
		if err := unix.Msync(b, unix.MS_SYNC); err != nil {
			return fmt.Errorf("msync: %w", err)
		}
		return unix.Munmap(b)
	}
	return fmt.Errorf("no child program %q", args[0])
}

// runChild runs the test binary as a child program and returns its pid.
func runChild(args ...string) (int, error) {
	cmd := exec.Command(os.Args[0])
	// A binary built with -race sleeps a second at exit unless told not to.
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, " "), "GORACE=atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("child %v: %w: %s", args, err, out)
	}
	return cmd.Process.Pid, nil
}

// TestChildProcesses explores writeLog run by other processes, one per
// record: the planted bug is caught at the crash point of a call of one
// of them, named by its pid, the replay of its id rebuilds it, and the
// correct version passes.
func TestChildProcesses(t *testing.T) {
	requireMountable(t)
	var pids []int
	sc := func(name string, bug logBug) *sim.Scenario {
		s := osLog(name, bug)
		s.Run = func(env *sim.Env) error {
			mnt, err := mount.Env(env, mount.Options{})
			if err != nil {
				return err
			}
			defer mnt.Close()
			for i := 1; i <= 3; i++ {
				env.Invoke(models.LogAppend{Record: fmt.Appendf(nil, "record %d", i)})
				pid, err := runChild("log", mnt.Dir(), strconv.Itoa(i), strconv.Itoa(int(bug)))
				env.Return(err)
				if err != nil {
					return err
				}
				pids = append(pids, pid)
				env.DurableAll()
			}
			return nil
		}
		return s
	}
	res, err := sim.Explore(sc("os-log-children", correct), sim.Options{Fault: sim.PowerFailure, MaxStates: 64})
	if err != nil {
		t.Fatal(err)
	}
	if res.RunError != "" || len(res.Violations) > 0 {
		t.Fatalf("os-log-children: run error %q, %d violations, want none:\n%s", res.RunError, len(res.Violations), describe(res))
	}
	pids = nil
	res, err = sim.Explore(sc("os-log-children-bug-no-dirsync", noDirSync), sim.Options{Fault: sim.PowerFailure, MaxStates: 64})
	if err != nil {
		t.Fatal(err)
	}
	if res.RunError != "" || len(res.Violations) == 0 {
		t.Fatalf("os-log-children-bug-no-dirsync: run error %q, no violation", res.RunError)
	}
	v := res.Violations[0]
	var pid int
	if _, err := fmt.Sscanf(v.At[strings.Index(v.At, " pid ")+1:], "pid %d", &pid); err != nil || !slices.Contains(pids, pid) {
		t.Fatalf("first violation at %q: want the pid of a child, one of %v", v.At, pids)
	}
	if pid == os.Getpid() {
		t.Fatalf("first violation at %q names the test process", v.At)
	}
	if !strings.Contains(v.At, "sync /log.tmp") {
		t.Fatalf("first violation at %q, want the child's fsync of /log.tmp", v.At)
	}
	t.Logf("first violation at %s: %s", v.At, v.Problem)

	// Each run starts the children with other pids: the replay id's
	// workload digest leaves them out, so the replay, a rerun, is the
	// same workload and rebuilds the state.
	id, err := sim.ParseReplayID(v.ReplayID)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sim.RunReplay(sc("os-log-children-bug-no-dirsync", noDirSync), id)
	if err != nil {
		t.Fatalf("replay %s: %v", v.ReplayID, err)
	}
	if rep.Violation == nil || rep.Violation.Problem != v.Problem {
		t.Fatalf("replay %s: verdict %q, want %q", v.ReplayID, rep.Verdict, v.Problem)
	}
}

// TestSharedMapping maps a file of the mount shared, with direct I/O
// (FUSE_DIRECT_IO_ALLOW_MMAP, Linux 6.6), from a child process (a page
// fault on the mount must not come from the serving process, see the
// package doc): the store reaches the simulated disk when msync writes
// the page back, and msync's fsync makes it durable.
func TestSharedMapping(t *testing.T) {
	m, mnt := serve(t)
	if !mnt.DirectIOMmap() {
		var u unix.Utsname
		unix.Uname(&u)
		t.Skipf("kernel %s does not allow mmap of direct-I/O files on FUSE (FUSE_DIRECT_IO_ALLOW_MMAP needs Linux 6.6)", unix.ByteSliceToString(u.Release[:]))
	}
	f, err := os.Create(mnt.Path("mapped"))
	must(t, err)
	must(t, f.Truncate(engine.PageSize))
	must(t, f.Sync())
	must(t, f.Close())
	d, err := os.Open(mnt.Dir())
	must(t, err)
	must(t, d.Sync())
	must(t, d.Close())
	if _, err := runChild("mmap", mnt.Path("mapped")); err != nil {
		t.Fatal(err)
	}
	b, err := readImage(t, m.Disk().CrashClone(faultfs.CrashOptions{Mode: faultfs.LoseAll}), "/mapped")
	must(t, err)
	if len(b) != engine.PageSize || string(b[:6]) != "mapped" {
		t.Fatalf("after msync, a power failure leaves %d bytes %q…, want the page with the store", len(b), b[:min(len(b), 6)])
	}
}
