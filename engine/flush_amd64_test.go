package engine

import (
	"os"
	"strings"
	"testing"
	"unsafe"
)

// TestFlushPick cross-checks the CPUID decoding with the kernel's view of
// the CPU.
func TestFlushPick(t *testing.T) {
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatalf("cannot cross-check CPUID: %v", err)
	}
	var flags map[string]bool
	for line := range strings.Lines(string(cpuinfo)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			flags = map[string]bool{}
			for _, f := range strings.Fields(v) {
				flags[f] = true
			}
			break
		}
	}
	want := "msync"
	for _, insn := range []string{"clwb", "clflushopt", "clflush"} {
		if flags[insn] {
			want = insn
			break
		}
	}
	if flushName != want {
		t.Errorf("flush picked %s, /proc/cpuinfo says %s", flushName, want)
	}
}

// TestFlushLines runs the flush loop over ranges of every alignment,
// including ones that end exactly on a line and ones one byte long.
func TestFlushLines(t *testing.T) {
	if !cacheFlush {
		t.Fatal("no cache flush instruction on an amd64 CPU")
	}
	buf := make([]byte, 4*CacheLineSize)
	for off := range 2 * CacheLineSize {
		for _, n := range []int{1, 2, 63, 64, 65, CacheLineSize*2 - off} {
			flushLines(unsafe.Pointer(&buf[off]), uintptr(n))
		}
	}
	sfence()
}
