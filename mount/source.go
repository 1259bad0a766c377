package mount

import (
	"bytes"
	"runtime"
	"strings"
)

// callerSource returns the source line ("file:line", the last two
// elements of the path) of the Go code of this process that made the
// system call the server is answering: the innermost frame outside the
// standard library's I/O of the one goroutine in a system call from such
// code. It returns "" when there is none or more than one, since a stack
// dump cannot tell which thread a goroutine runs on, and FUSE names a
// thread. It stops the world for the dump, so only a replay asks
// (sim.Machine.SetSourcer).
func callerSource() string {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	found := ""
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		src, ok := syscallSource(string(g))
		if !ok {
			continue
		}
		if found != "" {
			return ""
		}
		found = src
	}
	return found
}

// stdIO are the packages a system call on a file goes through from the
// code that asked for it.
var stdIO = []string{"runtime.", "syscall.", "internal/", "os.", "os/", "io.", "io/", "bufio.", "path/filepath.", "golang.org/x/sys/"}

// syscallSource returns the source line of the innermost frame outside
// stdIO of a goroutine of a stack dump, if it is in a system call and is
// not the FUSE server's.
func syscallSource(g string) (string, bool) {
	lines := strings.Split(g, "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "[syscall") {
		return "", false
	}
	for i := 1; i+1 < len(lines); i += 2 {
		fn, loc := lines[i], strings.TrimSpace(lines[i+1])
		if strings.HasPrefix(fn, "github.com/hanwen/go-fuse/") || strings.HasPrefix(fn, "github.com/crashsim/crashsim/mount.") {
			return "", false
		}
		std := false
		for _, p := range stdIO {
			if strings.HasPrefix(fn, p) {
				std = true
				break
			}
		}
		if std {
			continue
		}
		if j := strings.LastIndex(loc, " +0x"); j >= 0 {
			loc = loc[:j]
		}
		return shortFile(loc), true
	}
	return "", false
}

// shortFile keeps the last two elements of a source path, as package sim
// shows them.
func shortFile(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i > 0 {
		if j := strings.LastIndexByte(path[:i], '/'); j >= 0 {
			return path[j+1:]
		}
	}
	return path
}
