package shm_test

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
	"github.com/crashsim/crashsim/internal/testproc"
	"github.com/crashsim/crashsim/models"
	"github.com/zeebo/xxh3"
)

// linearEnv tells the helper process of TestLinearizable what to do:
// "dir:name:process:ops".
const linearEnv = "CRASHSIM_SHM_LINEAR"

// The mailbox: a shared-memory object beside the namespace through which
// the clients of every process tell each other the handles their appends
// returned, and the logical clock that orders every call and return. A
// handle is two words in a slot, the second (never zero: its offset is
// past a chunk's header) stored last.
const (
	mailClock = 0
	mailCount = 64
	mailSlots = 128
	mailCap   = 4096
	mailSize  = mailSlots + 16*mailCap
)

// linearClients is the number of goroutines, each a client, in a process.
const linearClients = 2

// TestLinearProcess is not a test: it is a process of TestLinearizable.
// It attaches, says "locked", waits for a line on stdin, then runs its
// clients, each doing ops random operations — appends, resolves of
// handles from the mailbox (and of handles next to them, which name
// nothing), acknowledgements — and prints every operation with the
// logical times of its call and return.
func TestLinearProcess(t *testing.T) {
	arg := os.Getenv(linearEnv)
	if arg == "" {
		t.Skip("the helper process of TestLinearizable")
	}
	parts := strings.Split(arg, ":")
	dir, name := parts[0], parts[1]
	proc, _ := strconv.Atoi(parts[2])
	ops, _ := strconv.Atoi(parts[3])
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	s, err := shm.Attach(name, &shm.Options{Dir: dir})
	if err != nil {
		fail(err)
	}
	f, err := engine.OSFS{}.OpenFile(path.Join(dir, name+"-mailbox"), os.O_RDWR, 0)
	if err != nil {
		fail(err)
	}
	mail, err := engine.OSFS{}.Map(f, mailSize)
	if err != nil {
		fail(err)
	}
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n')
	var wg sync.WaitGroup
	logs := make([][]string, linearClients)
	errs := make([]error, linearClients)
	for c := range linearClients {
		wg.Go(func() {
			logs[c], errs[c] = linearClient(s, mail, proc*linearClients+c, ops)
		})
	}
	wg.Wait()
	for c := range linearClients {
		if errs[c] != nil {
			fail(errs[c])
		}
		for _, l := range logs[c] {
			fmt.Println(l)
		}
	}
	os.Exit(0)
}

// linearClient runs one client's operations and returns their lines:
// "op client call return kind handle blob output".
func linearClient(s *shm.Store, mail engine.Region, client, ops int) ([]string, error) {
	rng := rand.New(rand.NewPCG(uint64(client), 7))
	tick := func() uint64 { t, _ := mail.Add64(mailClock, 1); return t }
	var lines []string
	for i := range ops {
		kind := rng.IntN(10)
		var h shm.Handle
		if kind >= 5 {
			n, _ := mail.Load64(mailCount)
			if n == 0 {
				kind = 0
			} else {
				k := int64(rng.Uint64N(min(n, mailCap)))
				w2, _ := mail.Load64(mailSlots + 16*k + 8)
				w1, _ := mail.Load64(mailSlots + 16*k)
				if w2 == 0 {
					kind = 0
				}
				h = shm.Handle{Chunk: uint32(w1 >> 32), Gen: uint32(w1), Offset: uint32(w2 >> 32), Size: uint32(w2)}
				if rng.IntN(8) == 0 {
					h.Offset += 8 // names no blob
				}
			}
		}
		switch {
		case kind < 5:
			b := linearBlob(client, i, rng.IntN(3000))
			call := tick()
			h, err := s.Append(b)
			ret := tick()
			if err != nil {
				return nil, err
			}
			k, _ := mail.Add64(mailCount, 1)
			if k <= mailCap {
				mail.Store64(mailSlots+16*int64(k-1), uint64(h.Chunk)<<32|uint64(h.Gen))
				mail.Store64(mailSlots+16*int64(k-1)+8, uint64(h.Offset)<<32|uint64(h.Size))
			}
			lines = append(lines, fmt.Sprintf("op %d %d %d append %s %s -", client, call, ret, hexHandle(h), digest(b)))
		case kind < 8:
			call := tick()
			b, err := s.Resolve(h)
			ret := tick()
			out := digest(b)
			switch {
			case errors.Is(err, shm.ErrNotFound), errors.Is(err, shm.ErrHandle):
				out = "missing"
			case err != nil:
				return nil, fmt.Errorf("Resolve(%v): %w", h, err)
			}
			lines = append(lines, fmt.Sprintf("op %d %d %d resolve %s - %s", client, call, ret, hexHandle(h), out))
		default:
			call := tick()
			err := s.Acknowledge(h)
			ret := tick()
			out := "true"
			switch {
			case errors.Is(err, shm.ErrNotFound), errors.Is(err, shm.ErrHandle):
				out = "false"
			case err != nil:
				return nil, fmt.Errorf("Acknowledge(%v): %w", h, err)
			}
			lines = append(lines, fmt.Sprintf("op %d %d %d ack %s - %s", client, call, ret, hexHandle(h), out))
		}
	}
	return lines, nil
}

// linearBlob is client's i-th blob, of n bytes.
func linearBlob(client, i, n int) []byte {
	b := make([]byte, n)
	x := uint64(client)<<32 | uint64(i) | 1
	for k := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[k] = byte(x)
	}
	return b
}

// digest names a blob's bytes in a history.
func digest(b []byte) string { return fmt.Sprintf("%016x:%d", xxh3.Hash(b), len(b)) }

// TestLinearizable: clients in three processes, two goroutines each,
// append, resolve each other's handles (and handles that name nothing) and
// acknowledge them at once; the history of their calls and returns, in
// the order of a logical clock in shared memory, with the state Entries
// finds at the end as a final observation, is linearizable against
// models.BlobStore (porcupine decides). A torn blob, a blob of another
// append, a handle given twice, a lost acknowledgement would each make it
// illegal (models' tests show that).
func TestLinearizable(t *testing.T) {
	fsys, dir := osShm(t)
	const procs, ops = 3, 150
	s := mustCreate(t, "lin", &shm.Options{FS: fsys, Dir: dir, ChunkSize: 256 << 10, MaxChunks: 64})
	f, err := engine.Create(fsys, path.Join(dir, "lin-mailbox"))
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Allocate(f, 0, mailSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	type child struct {
		wait func() error
		go_  func()
		out  *bufio.Reader
	}
	var children []child
	for p := range procs {
		cmd, stdin, out := testproc.Start(t, "TestLinearProcess", fmt.Sprintf("%s=%s:lin:%d:%d", linearEnv, dir, p, ops))
		children = append(children, child{cmd.Wait, func() { fmt.Fprintln(stdin, "go"); stdin.Close() }, out})
	}
	for _, c := range children {
		c.go_()
	}
	type event struct {
		time  uint64
		call  bool
		op    int
		input any
		out   any
	}
	var events []event
	var clients []int
	for _, c := range children {
		sc := bufio.NewScanner(c.out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 8 || f[0] != "op" {
				t.Fatalf("a client says %q", sc.Text())
			}
			client, _ := strconv.Atoi(f[1])
			call, _ := strconv.ParseUint(f[2], 10, 64)
			ret, _ := strconv.ParseUint(f[3], 10, 64)
			var in, out any
			switch f[4] {
			case "append":
				in, out = models.BlobAppend{Handle: f[5], Blob: f[6]}, nil
			case "resolve":
				in = models.BlobResolve{Handle: f[5]}
				if f[7] == "missing" {
					out = models.BlobValue{}
				} else {
					out = models.BlobValue{Blob: f[7], OK: true}
				}
			case "ack":
				in, out = models.BlobAck{Handle: f[5]}, f[7] == "true"
			}
			id := len(clients)
			clients = append(clients, client)
			events = append(events, event{time: call, call: true, op: id, input: in}, event{time: ret, op: id, out: out})
		}
		if err := c.wait(); err != nil {
			t.Fatalf("a client process: %v", err)
		}
	}
	if len(clients) != procs*linearClients*ops {
		t.Fatalf("%d operations, want %d", len(clients), procs*linearClients*ops)
	}
	slices.SortFunc(events, func(a, b event) int { return int(a.time) - int(b.time) })
	h := models.NewHistory()
	ids := map[int]int{}
	for _, e := range events {
		if e.call {
			ids[e.op] = h.Call(clients[e.op], e.input)
		} else {
			h.Return(ids[e.op], e.out)
		}
	}
	observed := map[string]models.BlobEntry{}
	for _, e := range entries(t, s) {
		b, err := s.Resolve(e.Handle)
		if err != nil {
			t.Fatal(err)
		}
		observed[hexHandle(e.Handle)] = models.BlobEntry{Blob: digest(b), Acked: e.Acked}
	}
	v := models.CheckDurable(models.BlobStore(), h, observed, false, time.Minute)
	if v.Result != porcupine.Ok {
		file := path.Join(t.TempDir(), "history.html")
		porcupine.VisualizePath(v.Model, v.Info, file)
		t.Fatalf("%s (porcupine's picture: %s)", v.Problem, file)
	}
	t.Logf("%d operations of %d clients in %d processes, %d blobs at the end: linearizable", len(clients), procs*linearClients, procs, len(observed))
}
