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
func inChild(b *testing.B, env ...string) bool {
	if os.Getenv(childEnv) != "" {
		return false
	}
	b.StopTimer()
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
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				b.ReportMetric(v, f[i+1])
			}
		}
		return true
	}
	b.Fatalf("child benchmark printed no result:\n%s", out)
	return true
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

// BenchmarkTxUpdate64 is a transaction that overwrites one 64-byte object
// chosen at random among 1,024, with crashsim's engine/tx and with PMDK's
// libpmemobj, in forced persistent-memory mode and in msync mode.
func BenchmarkTxUpdate64(b *testing.B) {
	var obj benchObject
	for _, mode := range poolModes {
		b.Run(mode.name+"/crashsim", func(b *testing.B) {
			p, ptrs := createBenchPool(b, mode.medium)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				ptr := ptrs[benchIndexes[i&(len(benchIndexes)-1)]]
				fill(&obj, i)
				if err := p.Update(func(t *tx.Tx[benchTag]) error { return ptr.Set(t, obj) }); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode.name+"/libpmemobj", func(b *testing.B) {
			if mode.force && inChild(b, "PMEM_IS_PMEM_FORCE=1") {
				return
			}
			p := createPMDKPool(b, mode.force)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				fill(&obj, i)
				if err := p.Update(benchIndexes[i&(len(benchIndexes)-1)], obj.Data[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAllocFree64 allocates 64 bytes and frees them: outside a
// transaction (each its own atomic operation, the handle kept in volatile
// memory on both sides: crashsim's two one-operation transactions) and
// inside one transaction, in forced persistent-memory mode.
func BenchmarkAllocFree64(b *testing.B) {
	b.Run("outside-tx/crashsim", func(b *testing.B) {
		p, _ := createBenchPool(b, engine.PMem)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			var box tx.Box[benchTag, benchObject]
			if err := p.Update(func(t *tx.Tx[benchTag]) (err error) {
				box, err = tx.NewBox(t, benchObject{})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			if err := p.Update(func(t *tx.Tx[benchTag]) error { return box.Free(t) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("outside-tx/libpmemobj", func(b *testing.B) {
		if inChild(b, "PMEM_IS_PMEM_FORCE=1") {
			return
		}
		p := createPMDKPool(b, true)
		b.ResetTimer()
		for b.Loop() {
			if err := p.AllocFree(64); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("inside-tx/crashsim", func(b *testing.B) {
		p, _ := createBenchPool(b, engine.PMem)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := p.Update(func(t *tx.Tx[benchTag]) error {
				box, err := tx.NewBox(t, benchObject{})
				if err != nil {
					return err
				}
				return box.Free(t)
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("inside-tx/libpmemobj", func(b *testing.B) {
		if inChild(b, "PMEM_IS_PMEM_FORCE=1") {
			return
		}
		p := createPMDKPool(b, true)
		b.ResetTimer()
		for b.Loop() {
			if err := p.TxAllocFree(64); err != nil {
				b.Fatal(err)
			}
		}
	})
}
