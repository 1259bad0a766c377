package sim

import (
	"bytes"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
)

// The scheduler sees what Go's runtime says of its goroutines: whether
// one that holds no turn still runs or waits for another goroutine, and
// which goroutines the program started. The runtime says it in a
// traceback of every goroutine (runtime.Stack), the one account of
// goroutine states Go gives a program; it costs tens of microseconds and
// stops the world, so the scheduler asks only when a goroutine may run
// outside its turn (see sched.settle).

// goroutine is one goroutine of a traceback.
type goroutine struct {
	id    int64
	state string // the runtime's wait reason, or "running", "runnable", "syscall"
	// top is the innermost frame outside the runtime and package sync:
	// where the goroutine's own code is.
	top frame
	// viaSync says that a frame of package sync (or internal/sync) is
	// between the wait and the top frame: a semaphore of the program's
	// (a WaitGroup), not one of the runtime's (the garbage collector's,
	// which a goroutine that allocates may wait on for a moment).
	viaSync bool
	// creator is the goroutine that started it (0 for the runtime's own),
	// and createdBy the function that did.
	creator   int64
	createdBy string
}

type frame struct{ fn, file string }

// goroutines returns every goroutine of the process.
func goroutines() []goroutine {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return parseGoroutines(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// parseGoroutines parses a traceback of runtime.Stack(buf, true):
//
//	goroutine 18 [sync.Cond.Wait, 2 minutes]:
//	sync.runtime_notifyListWait(0xc000120050, 0x0)
//		/usr/local/go/src/runtime/sema.go:606 +0x159
//	...
//	created by main.main in goroutine 1
//		/src/main.go:12 +0x5e
func parseGoroutines(b []byte) []goroutine {
	var out []goroutine
	for _, block := range bytes.Split(b, []byte("\n\n")) {
		lines := strings.Split(strings.TrimSpace(string(block)), "\n")
		head, ok := strings.CutPrefix(lines[0], "goroutine ")
		if !ok {
			continue
		}
		idText, rest, _ := strings.Cut(head, " ")
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			continue
		}
		g := goroutine{id: id}
		if _, st, ok := strings.Cut(rest, "["); ok {
			st, _, _ = strings.Cut(st, "]")
			g.state, _, _ = strings.Cut(st, ",")
		}
		for i := 1; i < len(lines); i++ {
			l := lines[i]
			if strings.HasPrefix(l, "\t") {
				continue
			}
			if by, ok := strings.CutPrefix(l, "created by "); ok {
				fn, in, _ := strings.Cut(by, " in goroutine ")
				g.createdBy = fn
				g.creator, _ = strconv.ParseInt(strings.TrimSpace(in), 10, 64)
				break
			}
			fn := l
			if j := strings.LastIndexByte(fn, '('); j > 0 {
				fn = fn[:j]
			}
			if g.top.fn != "" {
				continue
			}
			if runtimeFrame(fn) {
				g.viaSync = g.viaSync || strings.HasPrefix(fn, "sync.") || strings.HasPrefix(fn, "internal/sync.")
				continue
			}
			g.top.fn = fn
			if i+1 < len(lines) {
				file := strings.TrimSpace(lines[i+1])
				if j := strings.LastIndexByte(file, ':'); j > 0 {
					file = file[:j]
				}
				g.top.file = file
			}
		}
		out = append(out, g)
	}
	return out
}

// runtimeFrame reports whether fn is the runtime's or a synchronization
// primitive's, below the code that called it.
func runtimeFrame(fn string) bool {
	for _, p := range []string{"runtime.", "sync.", "internal/", "iter.", "time.Sleep"} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// waitsForGoroutine reports whether the goroutine waits for another
// goroutine of the program to act: on a channel, a select, a mutex, a
// condition variable, a wait group, a semaphore, or a coroutine switch
// (iter.Pull) — not on time, I/O, a system call or the runtime's work,
// which end by themselves.
func (g goroutine) waitsForGoroutine() bool {
	switch g.state {
	case "chan receive", "chan send", "chan receive (nil chan)", "chan send (nil chan)",
		"select", "select (no cases)", "sync.Cond.Wait", "sync.Mutex.Lock",
		"sync.RWMutex.RLock", "sync.RWMutex.Lock", "sync.WaitGroup.Wait", "coroutine":
		return true
	case "semacquire":
		return g.viaSync
	}
	return false
}

// inLaboratory reports whether the goroutine's own code is the
// laboratory's (packages sim and faultfs, not their tests): a thread
// arriving at a scheduling point, or in a crash point, is busy there.
func (g goroutine) inLaboratory() bool { return labFile(g.top.file) }

// labDirs are the directories of the laboratory's sources.
var labDirs = sync.OnceValue(func() []string {
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Dir(self)
	return []string{dir, filepath.Join(filepath.Dir(dir), "faultfs")}
})

func labFile(file string) bool {
	if file == "" || strings.HasSuffix(file, "_test.go") {
		return false
	}
	dir := filepath.Dir(file)
	for _, d := range labDirs() {
		if dir == d {
			return true
		}
	}
	return false
}

// goid returns the calling goroutine's id, from the first line of its
// traceback.
func goid() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, _ = bytes.CutPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseInt(string(b), 10, 64)
	return id
}

// goroutinesCreated returns how many goroutines the process has started:
// while it stays the same, no thread can have started one.
func goroutinesCreated() uint64 {
	s := [1]metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s[:])
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// selfCreator returns the calling goroutine's id and the id of the
// goroutine that started it (0 for the runtime's), from its own
// traceback.
func selfCreator() (id, creator int64) {
	buf := make([]byte, 8<<10)
	for {
		n := runtime.Stack(buf, false)
		if n < len(buf) {
			gs := parseGoroutines(buf[:n])
			if len(gs) == 0 {
				return goid(), 0
			}
			return gs[0].id, gs[0].creator
		}
		buf = make([]byte, 2*len(buf))
	}
}
