package shm_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
	"github.com/crashsim/crashsim/internal/testproc"
)

// shmProcessEnv tells the helper process what to do:
//
//	append:dir:name:round   attach, say "locked", append round's blobs 0, 1, …
//	                        saying "h <handle> <i>" after each, until killed
//	stepkill:dir:name:k     run victimWork on a new namespace, saying what it
//	                        did, and kill itself (SIGKILL) after its k-th step
const shmProcessEnv = "CRASHSIM_SHM_PROCESS"

// TestShmProcess is not a test: it is the other process of the tests in
// this file, run by re-executing the test binary.
func TestShmProcess(t *testing.T) {
	arg := os.Getenv(shmProcessEnv)
	if arg == "" {
		t.Skip("the helper process of the cross-process tests")
	}
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	parts := strings.Split(arg, ":")
	dir, name := parts[1], parts[2]
	n, _ := strconv.Atoi(parts[3])
	o := &shm.Options{Dir: dir}
	switch parts[0] {
	case "append":
		s, err := shm.Attach(name, o)
		if err != nil {
			fail(err)
		}
		fmt.Println("locked")
		for i := 0; ; i++ {
			h, err := s.Append(roundBlob(n, i))
			if err != nil {
				fail(err)
			}
			fmt.Printf("h %s %d\n", hexHandle(h), i)
		}
	case "stepkill":
		clock := shm.NewManualClock(epoch)
		o := small(engine.OSFS{}, dir, clock)
		seen := 0
		shm.SetHook(o, func(step string) {
			if seen == n {
				fmt.Println("step", step)
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
			seen++
		})
		s, err := shm.Create(name, o)
		if err != nil {
			fail(err)
		}
		if err := victimWork(s, clock, &victimLog{acked: map[shm.Handle]bool{}}, printStep); err != nil {
			fail(err)
		}
		fmt.Println("done")
	}
	os.Exit(0)
}

// printStep tells the parent what the victim did, a line at a time.
func printStep(what string, i int, h shm.Handle) { fmt.Printf("%s %d %s\n", what, i, hexHandle(h)) }

func hexHandle(h shm.Handle) string {
	b, _ := h.MarshalBinary()
	return hex.EncodeToString(b)
}

func parseHandle(t testing.TB, s string) shm.Handle {
	t.Helper()
	b, err := hex.DecodeString(s)
	var h shm.Handle
	if err == nil {
		err = h.UnmarshalBinary(b)
	}
	if err != nil {
		t.Fatalf("handle %q: %v", s, err)
	}
	return h
}

// roundBlob is blob i of a writer of round r: it says r and i, and its
// size and the rest of its bytes follow from them, so that a reader can
// tell a whole blob from a torn or foreign one. Sizes run from 0 to
// 192 KiB, so that a kill often lands in the middle of a copy.
func roundBlob(r, i int) []byte {
	head := fmt.Sprintf("r%d-i%d|", r, i)
	size := len(head) + (i*7919+r*104729)%(192<<10)
	if i%5 == 0 {
		size = len(head) + i%100
	}
	b := make([]byte, size)
	copy(b, head)
	x := uint64(r)<<32 | uint64(i)
	for k := len(head); k < size; k++ {
		x = x*6364136223846793005 + 1442695040888963407
		b[k] = byte(x >> 56)
	}
	return b
}

// whichBlob returns the round and index a blob says it is, and whether it
// is exactly that blob.
func whichBlob(b []byte) (r, i int, ok bool) {
	head, _, found := bytes.Cut(b, []byte("|"))
	if !found {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(string(head), "r%d-i%d", &r, &i); err != nil {
		return 0, 0, false
	}
	return r, i, bytes.Equal(b, roundBlob(r, i))
}

// TestKillWriter: a writer in another process, appending blobs of up to
// 192 KiB as fast as it can, is killed (SIGKILL) at whatever instruction
// it is at, round after round; each round a new writer attaches and goes
// on after the dead one's reservation. After each kill: the namespace
// passes Check; every blob Entries finds is whole and one the writer
// appended; every handle the writer printed resolves to its blob; at most
// the two appends after the last printed one (one that returned before
// its line was written, one in progress) add a blob. Then this process
// appends, acknowledges everything and, its clock past the TTL, frees
// every chunk but the head and next.
func TestKillWriter(t *testing.T) {
	fsys, dir := osShm(t)
	clock := shm.NewManualClock(time.Now())
	o := &shm.Options{FS: fsys, Dir: dir, ChunkSize: 1 << 20, MaxChunks: 64, Decay: -1, TTL: time.Minute, Clock: clock, Prefetch: shm.PrefetchInline}
	s := mustCreate(t, "kill", o)
	rng := rand.New(rand.NewPCG(1, 2))
	rounds := 12
	for r := range rounds {
		cmd, stdin, out := testproc.Start(t, "TestShmProcess", fmt.Sprintf("%s=append:%s:kill:%d", shmProcessEnv, dir, r))
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			for {
				l, err := out.ReadString('\n')
				if err != nil {
					return
				}
				lines <- strings.TrimSuffix(l, "\n")
			}
		}()
		printed := map[shm.Handle]int{}
		last := -1
		read := func(l string) {
			f := strings.Fields(l)
			if len(f) != 3 || f[0] != "h" {
				t.Fatalf("round %d: the writer says %q", r, l)
			}
			i, _ := strconv.Atoi(f[2])
			printed[parseHandle(t, f[1])] = i
			last = i
		}
		// Kill it after a number of appends drawn from the seed: where
		// the kill lands in its code is the machine's choice, and every
		// check below holds wherever it lands.
		for want := rng.IntN(400); len(printed) < want; {
			l, ok := <-lines
			if !ok {
				t.Fatalf("round %d: the writer stopped by itself", r)
			}
			read(l)
		}
		cmd.Process.Kill()
		cmd.Wait()
		stdin.Close()
		for l := range lines {
			read(l)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("round %d: Check after the kill: %v", r, err)
		}
		found := map[shm.Handle]bool{}
		extra := 0
		for _, e := range entries(t, s) {
			if e.Acked {
				continue // an earlier round's, acknowledged
			}
			b, err := s.Resolve(e.Handle)
			if err != nil {
				t.Fatalf("round %d: Resolve(%v) of an entry: %v", r, e.Handle, err)
			}
			br, bi, ok := whichBlob(b)
			if !ok || br != r {
				t.Fatalf("round %d: %v holds %q, not a whole blob of this round", r, e.Handle, abbrev(b))
			}
			if i, ok := printed[e.Handle]; ok {
				if i != bi {
					t.Fatalf("round %d: %v, printed for blob %d, holds blob %d", r, e.Handle, i, bi)
				}
			} else {
				if bi != last+1 && bi != last+2 {
					t.Errorf("round %d: blob %d found, never printed, the last printed %d", r, bi, last)
				}
				extra++
			}
			found[e.Handle] = true
		}
		for h, i := range printed {
			if !found[h] {
				t.Errorf("round %d: blob %d, printed as %v, is not among the entries", r, i, h)
			}
		}
		if extra > 2 {
			t.Errorf("round %d: %d blobs beyond the last printed", r, extra)
		}
		for i := range 5 {
			h := mustAppend(t, s, roundBlob(1000+r, i))
			wantBlob(t, s, h, roundBlob(1000+r, i))
		}
		for _, e := range entries(t, s) {
			if err := s.Acknowledge(e.Handle); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(2 * time.Minute)
		for range 2 {
			if _, err := s.Cleanup(); err != nil {
				t.Fatalf("round %d: Cleanup: %v", r, err)
			}
		}
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Chunks > 2 {
			t.Errorf("round %d: %d chunks after a cleanup past the TTL", r, st.Chunks)
		}
	}
}

// TestKillAtEveryStep is TestStopBetweenSteps with real processes: the
// victim kills itself with SIGKILL after its k-th step, for every k, and
// this process checks what it left.
func TestKillAtEveryStep(t *testing.T) {
	fsys, dir := osShm(t)
	steps := map[string]int{}
	for k := 0; ; k++ {
		name := "kill" + strconv.Itoa(k)
		out, err := testproc.Run(t, "TestShmProcess", fmt.Sprintf("%s=stepkill:%s:%s:%d", shmProcessEnv, dir, name, k))
		if err == nil {
			if !strings.Contains(out, "done") {
				t.Fatalf("the victim: %s", out)
			}
			if k < 100 {
				t.Fatalf("the victim ran only %d steps", k)
			}
			break
		}
		if sig := testproc.Fault(out, err); sig != "SIGKILL" {
			t.Fatalf("step %d: the victim ended with %v (%s):\n%s", k, err, sig, out)
		}
		log := &victimLog{acked: map[shm.Handle]bool{}, invoked: -1}
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) != 3 || !strings.Contains("invoke appended acking acked", f[0]) {
				continue
			}
			i, _ := strconv.Atoi(f[1])
			h := parseHandle(t, f[2])
			switch f[0] {
			case "invoke":
				log.invoked = i
			case "appended":
				log.appended = append(log.appended, h)
				log.invoked = -1
			case "acking":
				log.acking = h
			case "acked":
				log.acked[h] = true
				log.acking = shm.Handle{}
			}
		}
		// The victim's clock: its appends' times are epoch's.
		clock := shm.NewManualClock(epoch)
		s, err := shm.Attach(name, small(fsys, dir, clock))
		if err != nil {
			if k == 0 {
				continue // killed in Create, before its first step
			}
			t.Fatalf("step %d: Attach: %v", k, err)
		}
		steps[lastStep(out)]++
		if err := checkSurvivor(s, fsys, dir, clock, log); err != nil {
			t.Errorf("killed after step %d: %v\n%s", k, err, out)
		}
		s.Close()
	}
	if len(steps) < 15 {
		t.Errorf("killed after only these steps: %v", steps)
	}
	t.Logf("killed after each of %d steps: %v", total(steps), steps)
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// lastStep returns the step the victim announced last.
func lastStep(out string) string {
	step := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "step "); ok {
			step = s
		}
	}
	return step
}
