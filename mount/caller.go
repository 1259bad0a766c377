package mount

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// tgid returns the process (thread group) of thread tid: the kernel puts
// the calling thread's id in a FUSE request, and a process has many. A
// thread that is gone by now, or a request with no caller (tid 0), gives
// tid itself.
func (m *Mount) tgid(tid int) int {
	if tid == 0 {
		return 0
	}
	if g, ok := m.tgids.Load(tid); ok {
		return g.(int)
	}
	g, ok := readTgid(tid)
	if ok {
		m.tgids.Store(tid, g)
	}
	return g
}

// readTgid reads the Tgid line of /proc/<tid>/status, which exists for
// every thread though /proc lists processes only.
func readTgid(tid int) (int, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return tid, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Tgid:"); ok {
			if g, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return g, true
			}
		}
	}
	return tid, false
}
