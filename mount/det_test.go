package mount_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/mount"
)

// TestTraceIsAFunctionOfTheProgram runs the same sequential program on
// the mount again and again: the simulated disk must see the same
// operations in the same order every time, or a replay, which reruns the
// workload up to its crash point, would find another workload there. (The
// kernel's release of a closed file comes asynchronously; Mount defers
// the simulated close to its own Close for that reason.) Stats are left
// out: the kernel looks names up or not as its caches decide, and the
// workload's digest leaves a real process's stats out for that reason.
func TestTraceIsAFunctionOfTheProgram(t *testing.T) {
	var first string
	for i := range 30 {
		ops := new(faultfs.Log)
		fsys := faultfs.New(faultfs.Options{Observe: ops.Observe})
		mnt, err := mount.Serve(func(int) engine.FS { return fsys }, mount.Options{})
		mount.Require(t, err)
		var recs [][]byte
		for j := 1; j <= 3; j++ {
			recs = append(recs, fmt.Appendf(nil, "r%d", j))
			must(t, writeLog(mnt.Dir(), recs, correct))
		}
		must(t, mnt.Close())
		var b strings.Builder
		for _, op := range ops.Ops() {
			if op.Kind != faultfs.OpStat {
				op.Index = 0
				fmt.Fprintln(&b, op)
			}
		}
		if i == 0 {
			first = b.String()
		} else if b.String() != first {
			t.Fatalf("run %d traced:\n%s\nrun 0 traced:\n%s", i, b.String(), first)
		}
	}
}
