package torture

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv carries a child process's job, JSON-encoded. A process started
// with it runs the job (ChildMain) instead of what the binary does.
const childEnv = "CRASHSIM_TORTURE_CHILD"

// The roles a child plays.
const (
	roleWALWork   = "wal-work"   // append and sync until killed or an error
	roleWALCheck  = "wal-check"  // recover the log, judge it, repair it
	rolePoolWork  = "pool-work"  // commit transactions until killed or an error
	rolePoolCheck = "pool-check" // open (recover) the pool, Check it, judge it
	roleSweep     = "sweep"      // give a sweep's damaged inputs to its readers
	roleWALRead   = "wal-read"   // replay the log beside the workload, over and over
	rolePoolRead  = "pool-read"  // read the pool in Views beside the workload, over and over
)

// job is what a child process is asked to do.
type job struct {
	Role   string
	Path   string // the WAL's directory or the pool's file
	Medium string // a Medium's name; "pmem" maps with engine.PMem
	Seed   uint64 // the campaign's seed: what operation k writes
	Cycle  int    // the work's own random choices
	// Work: ZeroFill is the WAL option; PoolSize a new pool's size; Grow
	// makes the workload grow what it writes until the disk is full (the
	// WAL publishes no checkpoint, the pool puts a new key in each
	// transaction, and the pool's check judges it so).
	ZeroFill bool
	PoolSize int64
	Grow     bool `json:",omitempty"`
	// Checks: every operation through Acked was acknowledged, Published
	// is the last entry of the latest checkpoint acknowledged (WAL), and
	// at most Pending operations after Acked may have been under way.
	Acked, Published, Pending uint64
	// NoSpace: the check runs on a full file system, where a repair may
	// fail with ENOSPC (then it is skipped, not an anomaly).
	NoSpace bool
	// Sweeps: the target, its mode, and the input and reader to start at.
	Target           string `json:",omitempty"`
	Short            bool   `json:",omitempty"`
	From, FromReader int    `json:",omitempty"`
}

// Messages from a child, one per line on its file descriptor 3, each
// written only after the engine call it reports returned.
const (
	msgAck       = "ack"       // ack <k>: operations 1..k are durable
	msgPublished = "published" // published <k>: a checkpoint through entry k is durable
	msgError     = "error"     // error <nospace|other> <text>: the work stopped on an error
	msgVerdict   = "verdict"   // verdict <json>: a check's judgement
	msgRead      = "read"      // read <k>: a reader beside the workload saw a state through operation k
	msgReadError = "readerror" // readerror <text>: what it saw instead
)

// childAddressSpace bounds a child's address space (when not under the
// race detector): far more than any job needs, far less than a machine
// that runs the torture has.
const childAddressSpace = 4 << 30

// Exit codes of a child.
const (
	exitWorkError = 3 // the work stopped on an error (reported first)
	exitBadJob    = 4
)

// ChildMain runs this process's job and exits, if the process is a child
// of the torture (its environment says so); otherwise it returns at once.
// Call it first in main, or in TestMain, of any binary that runs Run: the
// torture re-executes its own binary for every workload and check.
func ChildMain() {
	s := os.Getenv(childEnv)
	if s == "" {
		return
	}
	var j job
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		fmt.Fprintf(os.Stderr, "torture child: %v\n", err)
		os.Exit(exitBadJob)
	}
	// A damaged length can make the engine allocate gigabytes: the
	// allocation is to fail in this process (the Go runtime's fatal "out
	// of memory"), which a limit on its address space does, but for the
	// race detector's terabytes of shadow; and if the machine runs out of
	// memory all the same, the kernel is to kill this process before any
	// other.
	if !raceEnabled {
		unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: childAddressSpace, Max: childAddressSpace})
	}
	os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0)
	out := os.NewFile(3, "torture-messages")
	if out == nil {
		fmt.Fprintln(os.Stderr, "torture child: no message pipe on descriptor 3")
		os.Exit(exitBadJob)
	}
	os.Exit(runJob(j, out))
}

// runJob runs j, writing its messages to out, and returns the exit code.
func runJob(j job, out io.Writer) int {
	say := func(format string, args ...any) {
		if _, err := fmt.Fprintf(out, format+"\n", args...); err != nil {
			os.Exit(exitBadJob) // the parent is gone
		}
	}
	switch j.Role {
	case roleWALWork:
		return walWork(j, say)
	case rolePoolWork:
		return poolWork(j, say)
	case roleSweep:
		return sweepWorker(j, say)
	case roleWALRead:
		return walRead(j, say)
	case rolePoolRead:
		return poolRead(j, say)
	case roleWALCheck, rolePoolCheck:
		v := check(j)
		b, _ := json.Marshal(v)
		say("%s %s", msgVerdict, b)
		return 0
	}
	fmt.Fprintf(os.Stderr, "torture child: unknown role %q\n", j.Role)
	return exitBadJob
}

// child is a running child process, seen from its parent.
type child struct {
	cmd    *exec.Cmd
	lines  chan string // its messages; closed at end of file
	stderr *tail
	exited chan struct{} // closed once the process is reaped
	state  *os.ProcessState
	killed bool // we sent SIGKILL
	mu     sync.Mutex
}

// startChild starts the job in a new process of this binary.
func startChild(j job) (*child, error) {
	spec, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("torture: the binary to re-execute: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c := &child{lines: make(chan string, 1024), stderr: &tail{max: 64 << 10}, exited: make(chan struct{})}
	c.cmd = exec.Command(exe, os.Args[1:]...)
	// The race detector sleeps a second at exit by default: a check would
	// cost a second each.
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(spec), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	c.cmd.ExtraFiles = []*os.File{w}
	c.cmd.Stderr = c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the torture
	if err := c.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("torture: start %s child: %w", j.Role, err)
	}
	w.Close()
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		r.Close()
		close(c.lines)
	}()
	go func() {
		c.cmd.Wait()
		c.mu.Lock()
		c.state = c.cmd.ProcessState
		c.mu.Unlock()
		close(c.exited)
	}()
	return c, nil
}

// kill sends SIGKILL, unless the process has exited.
func (c *child) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		c.killed = true
		c.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// exit describes how a child ended.
type exit struct {
	Killed bool           // by our SIGKILL
	Signal syscall.Signal // 0 if it exited
	Code   int
	Stderr string
}

// wait reaps the child, draining its messages into rest, and says how it
// ended. A child that does not end within limit is killed and reported
// hung.
func (c *child) wait(limit time.Duration, rest func(string)) (exit, bool) {
	hung := false
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for lines := c.lines; lines != nil; {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			rest(l)
		case <-timer.C:
			hung = true
			c.kill()
		}
	}
	select {
	case <-c.exited:
	case <-timer.C:
		hung = true
		c.kill()
		<-c.exited
	}
	e := exit{Killed: c.killed && !hung, Stderr: c.stderr.String()}
	if ws, ok := c.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal()
		if e.Signal != syscall.SIGKILL {
			e.Killed = false
		}
	} else {
		e.Killed = false
		e.Code = c.state.ExitCode()
	}
	return e, hung
}

// anomaly names what is wrong with how a child ended, or "" if nothing:
// killed by us, or exited with code 0 (or exitWorkError, when allowed).
// A Go program turns a fault (SIGBUS, SIGSEGV) into "fatal error" and exit
// code 2: that is a signal too.
func (e exit) anomaly(workErrorOK bool) (class, detail string) {
	switch {
	case e.Killed:
		return "", ""
	case e.Signal == syscall.SIGKILL:
		return "signal", "SIGKILL, not sent by the torture (the kernel's OOM killer, likely: children ask it to pick them first)" + stderrNote(e.Stderr)
	case e.Signal != 0:
		return "signal", fmt.Sprintf("killed by signal %d (%v)", int(e.Signal), e.Signal) + stderrNote(e.Stderr)
	case e.Code == 0, e.Code == exitWorkError && workErrorOK:
		return "", ""
	}
	if i := strings.Index(e.Stderr, "[signal SIG"); i >= 0 {
		sig, _, _ := strings.Cut(e.Stderr[i+len("[signal "):], ":")
		return "signal", fmt.Sprintf("%s (the Go runtime's fatal error, exit code %d)", sig, e.Code) + stderrNote(e.Stderr)
	}
	if strings.Contains(e.Stderr, "panic:") || strings.Contains(e.Stderr, "fatal error:") {
		return "panic", fmt.Sprintf("exit code %d", e.Code) + stderrNote(e.Stderr)
	}
	return "crash", fmt.Sprintf("exit code %d", e.Code) + stderrNote(e.Stderr)
}

// stderrNote is the gist of a child's stderr: its first paragraph (the
// panic or fatal error) and the first goroutine's stack, if any.
func stderrNote(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	parts := strings.SplitN(s, "\n\n", 3)
	gist := parts[0]
	if len(parts) > 1 && strings.HasPrefix(parts[1], "goroutine ") {
		gist += "\n\n" + parts[1]
	}
	if len(gist) > 4000 {
		gist = gist[:4000] + "..."
	}
	return ": " + gist // its first line says what happened
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.b, []byte("?")))
}
