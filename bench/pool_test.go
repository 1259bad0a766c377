package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crashsim/crashsim/bench/libpmemobj"
	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
)

// The pools of the transaction benchmarks: 1,024 objects of 64 bytes.
const (
	benchObjects  = 1024
	benchPoolSize = 64 << 20
)

type benchTag struct{}

type benchObject struct{ Data [64]byte }

type benchRoot struct {
	Objects [benchObjects]tx.Box[benchTag, benchObject]
}

// benchIndexes are the objects the update benchmarks change, drawn once so
// that both sides change the same objects in the same order.
var benchIndexes = func() []int {
	rng := rand.New(rand.NewPCG(3, 4))
	idx := make([]int, 1<<14)
	for i := range idx {
		idx[i] = rng.IntN(benchObjects)
	}
	return idx
}()

// poolModes are the two ways both engines make a mapping durable on
// /dev/shm: as forced persistent memory (cache-line flushes and a fence:
// PMEM_IS_PMEM_FORCE=1, OSFS{Medium: PMem}) and with msync.
var poolModes = []struct {
	name   string
	medium engine.Medium
	force  bool
}{{"pmem-forced", engine.PMem, true}, {"msync", engine.MappedFile, false}}

// childEnv marks the child process a benchmark re-runs itself in.
const childEnv = "CRASHSIM_BENCH_CHILD"

// inChild runs the current benchmark in a child process of this test
// binary with env added, and reports the child's ns/op as this one's; it
// returns false in the child, which runs the benchmark itself. PMDK reads
// PMEM_IS_PMEM_FORCE once, when libpmem initializes, so the forced and
// the msync runs of libpmemobj cannot share a process.
//
// The testing package calls a benchmark function again with a larger b.N
// until the timer shows -benchtime spent, which never happens here (the
// parent's timer stays stopped): the child runs once per *testing.B and
// the later calls report its figures again. The parent's iteration count
// (1e9) means nothing; the child's is printed in the "child-iters" column.
func inChild(b *testing.B, env ...string) bool {
	if os.Getenv(childEnv) != "" {
		return false
	}
	b.StopTimer()
	res, ok := childResults[b]
	if !ok {
		res = runChild(b, env)
		childResults[b] = res
	}
	for _, m := range res {
		b.ReportMetric(m.value, m.unit)
	}
	return true
}

type childMetric struct {
	value float64
	unit  string
}

// childResults are the figures of the children already run, by benchmark.
// Benchmarks run one at a time, so no lock.
var childResults = map[*testing.B][]childMetric{}

// runChild runs b in a child process and returns the figures it printed.
func runChild(b *testing.B, env []string) []childMetric {
	levels := strings.Split(b.Name(), "/")
	for i, l := range levels {
		levels[i] = "^" + regexp.QuoteMeta(l) + "$"
	}
	args := []string{"-test.run=^$", "-test.bench=" + strings.Join(levels, "/"), "-test.count=1"}
	if f := flag.Lookup("test.benchtime"); f != nil {
		args = append(args, "-test.benchtime="+f.Value.String())
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child benchmark: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], b.Name()) {
			continue
		}
		var res []childMetric
		if n, err := strconv.ParseFloat(f[1], 64); err == nil {
			res = append(res, childMetric{n, "child-iters"})
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				res = append(res, childMetric{v, f[i+1]})
			}
		}
		return res
	}
	b.Fatalf("child benchmark printed no result:\n%s", out)
	return nil
}

// createBenchPool creates a pool of 1,024 boxed 64-byte objects.
func createBenchPool(b *testing.B, medium engine.Medium) (*tx.Pool[benchTag, benchRoot], []tx.Ptr[benchTag, benchObject]) {
	fsys := engine.OSFS{Medium: medium}
	p, err := tx.Create[benchTag, benchRoot](fsys, filepath.Join(shmDir(b), "pool"), &tx.Options{Size: benchPoolSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	if got := p.Info().Medium; got != medium {
		b.Fatalf("medium %v, want %v", got, medium)
	}
	ptrs := make([]tx.Ptr[benchTag, benchObject], benchObjects)
	root := p.Root()
	err = p.Update(func(t *tx.Tx[benchTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		for i := range r.Objects {
			if r.Objects[i], err = tx.NewBox(t, benchObject{}); err != nil {
				return err
			}
			ptrs[i] = r.Objects[i].Ptr()
		}
		return root.Set(t, r)
	})
	if err != nil {
		b.Fatal(err)
	}
	return p, ptrs
}

func createPMDKPool(b *testing.B, force bool) *libpmemobj.Pool {
	p, err := libpmemobj.Create(filepath.Join(shmDir(b), "pool"), "bench", benchPoolSize)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	if err := p.AllocObjects(benchObjects, 64); err != nil {
		b.Fatal(err)
	}
	if p.IsPMem() != force {
		b.Fatalf("libpmem treats the pool as pmem: %v, want %v (PMEM_IS_PMEM_FORCE=%q)", p.IsPMem(), force, os.Getenv("PMEM_IS_PMEM_FORCE"))
	}
	return p
}

// fill sets every word of obj to i, so that an update changes all 64
// bytes (crashsim logs and writes only the words that change).
func fill(obj *benchObject, i int) {
	for w := 0; w < len(obj.Data); w += 8 {
		binary.LittleEndian.PutUint64(obj.Data[w:], uint64(i))
	}
}

// A benchOp is one operation of a benchmark; i numbers the calls.
type benchOp func(i int) error

// crashsimUpdate and pmdkUpdate return the update of one 64-byte object chosen at random,
// with crashsim (medium) and with libpmemobj (in the libpmem mode force
// says). Both change the same objects in the same order.
func crashsimUpdate(b *testing.B, medium engine.Medium) benchOp {
	p, ptrs := createBenchPool(b, medium)
	// One function for every transaction, as a program would write it:
	// a closure made per call would cost an allocation per transaction.
	var ptr tx.Ptr[benchTag, benchObject]
	var obj benchObject
	update := func(t *tx.Tx[benchTag]) error { return ptr.Set(t, obj) }
	return func(i int) error {
		ptr = ptrs[benchIndexes[i&(len(benchIndexes)-1)]]
		fill(&obj, i)
		return p.Update(update)
	}
}

func pmdkUpdate(b *testing.B, force bool) benchOp {
	p := createPMDKPool(b, force)
	var obj benchObject
	return func(i int) error {
		fill(&obj, i)
		return p.Update(benchIndexes[i&(len(benchIndexes)-1)], obj.Data[:])
	}
}

// crashsimAllocFree allocates 64 bytes and frees them, in forced
// persistent-memory mode: in one transaction (inside), or each in a
// transaction of its own, the handle in a Go variable (outside), the
// nearest to pmemobj_alloc and pmemobj_free, which are each atomic and
// durable, publishing the handle to volatile memory.
func crashsimAllocFree(b *testing.B, inside bool) benchOp {
	p, _ := createBenchPool(b, engine.PMem)
	var box tx.Box[benchTag, benchObject]
	alloc := func(t *tx.Tx[benchTag]) (err error) {
		box, err = tx.NewBox(t, benchObject{})
		return err
	}
	free := func(t *tx.Tx[benchTag]) error { return box.Free(t) }
	allocFree := func(t *tx.Tx[benchTag]) error {
		if err := alloc(t); err != nil {
			return err
		}
		return free(t)
	}
	if inside {
		return func(int) error { return p.Update(allocFree) }
	}
	return func(int) error {
		if err := p.Update(alloc); err != nil {
			return err
		}
		return p.Update(free)
	}
}

func pmdkAllocFree(b *testing.B, inside bool) benchOp {
	p := createPMDKPool(b, true)
	if inside {
		return func(int) error { return p.TxAllocFree(64) }
	}
	return func(int) error { return p.AllocFree(64) }
}

// runOp runs op b.N times.
func runOp(b *testing.B, op benchOp) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
}

// runPaired runs crashsim's op and the peer's in alternate batches of
// 256 in one loop, and reports the time per operation of each and their
// ratio: on a machine where other work comes and goes, both sides meet
// the same conditions within milliseconds, which separate runs do not.
// Its own ns/op is the mean of the two sides.
func runPaired(b *testing.B, ours, peer benchOp) {
	const batch = 256
	ops := [2]benchOp{ours, peer}
	var spent [2]time.Duration
	var count [2]int
	side, k := 0, 0
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		// Each side numbers its own calls: the same sequence of objects
		// and values as when it runs alone.
		if err := ops[side](count[side] + k); err != nil {
			b.Fatal(err)
		}
		if k++; k == batch {
			now := time.Now()
			spent[side] += now.Sub(start)
			count[side] += k
			side, k, start = side^1, 0, now
		}
	}
	spent[side] += time.Since(start)
	count[side] += k
	if count[0] == 0 || count[1] == 0 {
		return // b.N too small to time both sides
	}
	o := float64(spent[0].Nanoseconds()) / float64(count[0])
	t := float64(spent[1].Nanoseconds()) / float64(count[1])
	b.ReportMetric(o, "crashsim-ns/op")
	b.ReportMetric(t, "peer-ns/op")
	b.ReportMetric(o/t, "ratio")
}

// BenchmarkTxUpdate64 is a transaction that overwrites one 64-byte object
// chosen at random among 1,024 (PMDK: TX_BEGIN, pmemobj_tx_add_range of
// the 64 bytes, memcpy, TX_END), with crashsim's engine/tx and with PMDK's
// libpmemobj, in forced persistent-memory mode and in msync mode: each
// alone, then both in one loop (paired).
func BenchmarkTxUpdate64(b *testing.B) {
	for _, mode := range poolModes {
		var env []string
		if mode.force {
			env = []string{"PMEM_IS_PMEM_FORCE=1"}
		}
		b.Run(mode.name+"/crashsim", func(b *testing.B) {
			runOp(b, crashsimUpdate(b, mode.medium))
		})
		b.Run(mode.name+"/libpmemobj", func(b *testing.B) {
			if env != nil && inChild(b, env...) {
				return
			}
			runOp(b, pmdkUpdate(b, mode.force))
		})
		b.Run(mode.name+"/paired", func(b *testing.B) {
			if env != nil && inChild(b, env...) {
				return
			}
			runPaired(b, crashsimUpdate(b, mode.medium), pmdkUpdate(b, mode.force))
		})
	}
}

// BenchmarkAllocFree64 allocates 64 bytes and frees them, outside a
// transaction (PMDK: pmemobj_alloc, pmemobj_free; crashsim: an Update
// that allocates, then one that frees) and inside one (PMDK:
// pmemobj_tx_alloc and pmemobj_tx_free in one transaction; crashsim:
// NewBox and Free in one Update), in forced persistent-memory mode. In
// both engines a block freed by the transaction that allocated it is
// never written to the pool.
func BenchmarkAllocFree64(b *testing.B) {
	for _, where := range []string{"outside-tx", "inside-tx"} {
		inside := where == "inside-tx"
		b.Run(where+"/crashsim", func(b *testing.B) {
			runOp(b, crashsimAllocFree(b, inside))
		})
		b.Run(where+"/libpmemobj", func(b *testing.B) {
			if inChild(b, "PMEM_IS_PMEM_FORCE=1") {
				return
			}
			runOp(b, pmdkAllocFree(b, inside))
		})
		b.Run(where+"/paired", func(b *testing.B) {
			if inChild(b, "PMEM_IS_PMEM_FORCE=1") {
				return
			}
			runPaired(b, crashsimAllocFree(b, inside), pmdkAllocFree(b, inside))
		})
	}
}
