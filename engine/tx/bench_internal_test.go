package tx

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
)

// The benchmarks of this file separate a transaction's CPU cost from its
// persistence cost; bench/ compares the whole with PMDK.

type benchTag struct{}
type benchObj struct{ Data [64]byte }
type benchRoot struct{ Objs [1024]Box[benchTag, benchObj] }

// benchDir is a fresh directory on /dev/shm, removed after the benchmark.
func benchDir(b *testing.B) string {
	dir, err := os.MkdirTemp("/dev/shm", "txb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// benchPool creates a pool of 1,024 zeroed 64-byte objects on medium m,
// closed when the benchmark ends, and returns it with their pointers.
func benchPool(b *testing.B, m engine.Medium, path string, o *Options) (*Pool[benchTag, benchRoot], []Ptr[benchTag, benchObj]) {
	p, err := Create[benchTag, benchRoot](engine.OSFS{Medium: m}, path, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	var ptrs []Ptr[benchTag, benchObj]
	root := p.Root()
	if err := p.Update(func(t *Tx[benchTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		for i := range r.Objs {
			if r.Objs[i], err = NewBox(t, benchObj{}); err != nil {
				return err
			}
			ptrs = append(ptrs, r.Objs[i].Ptr())
		}
		return root.Set(t, r)
	}); err != nil {
		b.Fatal(err)
	}
	return p, ptrs
}

// BenchmarkUpdateCPU is bench's BenchmarkTxUpdate64 on shared memory,
// where Flush and Drain do nothing (the CPU cost of a transaction), and
// on forced persistent memory (the same plus two CLWB+SFENCE drains).
func BenchmarkUpdateCPU(b *testing.B) {
	for _, m := range []engine.Medium{engine.SharedMemory, engine.PMem} {
		b.Run(m.String(), func(b *testing.B) {
			p, ptrs := benchPool(b, m, filepath.Join(benchDir(b), "p"), &Options{Size: 8 << 20})
			var obj benchObj
			var ptr Ptr[benchTag, benchObj]
			update := func(t *Tx[benchTag]) error { return ptr.Set(t, obj) }
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ptr = ptrs[(i*7919)&1023]
				for w := 0; w < 64; w += 8 {
					binary.LittleEndian.PutUint64(obj.Data[w:], uint64(i))
				}
				if err := p.Update(update); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFloor is the persistence a logged transaction of one 64-byte
// object cannot avoid, on forced persistent memory, without the
// transaction: the undo protocol's two drains (a log of three lines, 192
// bytes: its header line, then one entry's header and the 64 old bytes
// in two more lines, log.go; then the 64 new bytes), the redo protocol's
// one (the same three lines with the new bytes, into one of two slots in
// turn, drained; then the 64 new bytes written and flushed, drained by
// the next one, redo.go), and one drain of one or three lines alone.
func BenchmarkFloor(b *testing.B) {
	fsys := engine.OSFS{Medium: engine.PMem}
	f, err := engine.Create(fsys, filepath.Join(benchDir(b), "p"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := fsys.Map(f, 8<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for off := int64(0); off < 8<<20; off += 4096 {
		if err := r.Store64(off, 0); err != nil { // fault every page in
			b.Fatal(err)
		}
	}
	log := make([]byte, 192)
	data := make([]byte, 64)
	old := make([]byte, 64)
	offs := func(i int) int64 { return 1<<20 + int64((i*7919)&1023)*64 }
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("undo-2-drains", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			off := offs(i)
			_, err := r.ReadAt(old, off)
			must(err)
			_, err = r.WriteAt(log, 4096)
			must(err)
			must(engine.Persist(r, 4096, 192))
			must(r.Store64(144, uint64(i)))
			_, err = r.WriteAt(data, off)
			must(err)
			must(engine.Persist(r, off, 64))
			must(r.Store64(144, uint64(i)))
		}
	})
	b.Run("redo-1-drain", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			off, slot := offs(i), 4096+int64(i&1)*4096
			_, err := r.WriteAt(log, slot)
			must(err)
			must(engine.Persist(r, slot, 192))
			must(r.Store64(144, uint64(i)))
			_, err = r.WriteAt(data, off)
			must(err)
			must(r.Flush(off, 64))
			must(r.Store64(144, uint64(i)))
		}
	})
	b.Run("persist-data-line", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			off := offs(i)
			_, err := r.WriteAt(data, off)
			must(err)
			must(engine.Persist(r, off, 64))
		}
	})
	b.Run("persist-log-3-lines", func(b *testing.B) {
		for b.Loop() {
			_, err := r.WriteAt(log, 4096)
			must(err)
			must(engine.Persist(r, 4096, 192))
		}
	})
	b.Run("persist-log-1-line", func(b *testing.B) {
		for b.Loop() {
			_, err := r.WriteAt(log[:64], 4096)
			must(err)
			must(engine.Persist(r, 4096, 64))
		}
	})
}

// BenchmarkCreate is Create (and Close) of a 64 MiB pool on the disk (the
// temporary directory, ext4 here) and on /dev/shm: since issue 16 Create
// allocates every block of the file (fallocate) before it maps it.
func BenchmarkCreate(b *testing.B) {
	for _, where := range []string{"disk", "shm"} {
		b.Run(where, func(b *testing.B) {
			dir := b.TempDir()
			if where == "shm" {
				dir = benchDir(b)
			}
			name := filepath.Join(dir, "p")
			for b.Loop() {
				p, err := Create[benchTag, benchRoot](engine.OSFS{}, name, &Options{Size: 64 << 20})
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
				if err := os.Remove(name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen is a writer's Open (and Close) of a 64 MiB pool on the
// disk and on /dev/shm: since issue 16 Open allocates the file's blocks,
// which are all allocated already, before it maps it.
func BenchmarkOpen(b *testing.B) {
	for _, where := range []string{"disk", "shm"} {
		b.Run(where, func(b *testing.B) {
			dir := b.TempDir()
			if where == "shm" {
				dir = benchDir(b)
			}
			name := filepath.Join(dir, "p")
			p, err := Create[benchTag, benchRoot](engine.OSFS{}, name, &Options{Size: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Close(); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				p, err := Open[benchTag, benchRoot](engine.OSFS{}, name, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// growObj is the object BenchmarkGrow allocates, 64 KiB.
type growObj struct{ Data [64 << 10]byte }

// BenchmarkGrow grows a pool created at 1 MiB to 64 MiB, on the disk and
// on /dev/shm, one 64 KiB object per transaction (1,000 of them, each one
// op): the heap doubles its arena when it grows, so the cost of growing,
// allocation of the new blocks included, stays amortized per object.
func BenchmarkGrow(b *testing.B) {
	for _, where := range []string{"disk", "shm"} {
		b.Run(where, func(b *testing.B) {
			dir := b.TempDir()
			if where == "shm" {
				dir = benchDir(b)
			}
			name := filepath.Join(dir, "p")
			const objects = 1000
			b.ReportAllocs()
			for b.Loop() {
				p, err := Create[benchTag, benchRoot](engine.OSFS{}, name, &Options{Size: 1 << 20})
				if err != nil {
					b.Fatal(err)
				}
				for range objects {
					if err := p.Update(func(t *Tx[benchTag]) error {
						_, err := NewBox[benchTag](t, growObj{})
						return err
					}); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
				if err := os.Remove(name); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*objects), "ns/object")
		})
	}
}

type benchRootOf[T any] struct{ Objs [256]Box[benchTag, T] }

func BenchmarkChecked(b *testing.B) {
	for _, m := range []engine.Medium{engine.SharedMemory, engine.PMem} {
		b.Run(m.String(), func(b *testing.B) {
			benchObject(b, m, "64B", func(i int) (v [64]byte) { fill(v[:], i); return v })
			benchObject(b, m, "64B-checked", func(i int) (v Checked[[64]byte]) { fill(v.v[:], i); return v })
			benchObject(b, m, "4KiB", func(i int) (v [4096]byte) { fill(v[:], i); return v })
			benchObject(b, m, "4KiB-checked", func(i int) (v Checked[[4096]byte]) { fill(v.v[:], i); return v })
		})
	}
}

func benchObject[T any](b *testing.B, m engine.Medium, name string, value func(i int) T) {
	p, err := Create[benchTag, benchRootOf[T]](engine.OSFS{Medium: m}, filepath.Join(benchDir(b), "p"), &Options{Size: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var ptrs []Ptr[benchTag, T]
	root := p.Root()
	if err := p.Update(func(t *Tx[benchTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		for i := range r.Objs {
			if r.Objs[i], err = NewBox(t, value(i)); err != nil {
				return err
			}
			ptrs = append(ptrs, r.Objs[i].Ptr())
		}
		return root.Set(t, r)
	}); err != nil {
		b.Fatal(err)
	}
	// Two values that differ in every byte, made before the clock runs.
	values := [2]T{value(1), value(2)}
	var obj T
	var ptr Ptr[benchTag, T]
	b.Run("update/"+name, func(b *testing.B) {
		update := func(t *Tx[benchTag]) error { return ptr.Set(t, obj) }
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			// Object (i*7919)&255 is updated every 256 iterations, and
			// gets the other value each time.
			ptr, obj = ptrs[(i*7919)&255], values[(i>>8)&1]
			if err := p.Update(update); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read/"+name, func(b *testing.B) {
		read := func(t *Tx[benchTag]) (err error) { obj, err = ptr.Get(t); return err }
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ptr = ptrs[(i*7919)&255]
			if err := p.View(read); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func fill(b []byte, i int) {
	for j := range b {
		b[j] = byte(1 + (i+j)%2)
	}
}

type mapRoot struct{ M Map[benchTag] }

// BenchmarkMapSums is the cost of the checksums of format 4's maps: a Put
// that changes a value in place and a Get, in a map of 4,096 keys, in a
// pool of format 4 and in one of format 3 (no checksums), on shared
// memory.
func BenchmarkMapSums(b *testing.B) {
	for _, format := range []uint32{formatMarked, formatNoRootSum} {
		b.Run(fmt.Sprintf("format-%d", format), func(b *testing.B) {
			p, err := Create[benchTag, mapRoot](engine.OSFS{Medium: engine.SharedMemory}, filepath.Join(benchDir(b), "p"), &Options{Size: 16 << 20, format: format})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			const n = 4096
			key := func(i int) []byte { return binary.LittleEndian.AppendUint64([]byte("key-"), uint64(i*0x9e3779b1)) }
			var m Map[benchTag]
			if err := p.Update(func(t *Tx[benchTag]) error {
				var err error
				if m, err = NewMap(t); err != nil {
					return err
				}
				for i := range n {
					if err := m.Put(t, key(i), make([]byte, 32)); err != nil {
						return err
					}
				}
				return p.Root().Set(t, mapRoot{M: m})
			}); err != nil {
				b.Fatal(err)
			}
			val := make([]byte, 32)
			b.Run("put", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					val[0] = byte(i / n) // another value each time the key comes back
					if err := p.Update(func(t *Tx[benchTag]) error { return m.Put(t, key(i%n), val) }); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("get", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if err := p.View(func(t *Tx[benchTag]) error { _, _, err := m.Get(t, key(i%n)); return err }); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkUpdateProtocols is BenchmarkUpdateCPU's transaction in a pool
// of format 5 (the undo log, two drains) and one of format 6 (the redo
// log, one), on each durable medium, and bench's allocation and free of
// 64 bytes outside a transaction (two Updates) on persistent memory, in
// turns of 256 operations in one
// loop, so that both meet the same load: each side's time per
// transaction, and redo/undo, the median over pairs of turns of the
// ratio of their times (the median is what bursts of other work on the
// machine disturb least).
func BenchmarkUpdateProtocols(b *testing.B) {
	for _, c := range []struct {
		op string
		m  engine.Medium
	}{{"update", engine.PMem}, {"update", engine.MappedFile}, {"alloc-free", engine.PMem}} {
		op, m := c.op, c.m
		b.Run(op+"/"+m.String(), func(b *testing.B) {
			dir := benchDir(b)
			var updates [2]func(i int)
			for side, format := range []uint32{5, Version} {
				p, ptrs := benchPool(b, m, filepath.Join(dir, fmt.Sprint(format)), &Options{Size: 8 << 20, format: format})
				var obj benchObj
				var ptr Ptr[benchTag, benchObj]
				update := func(t *Tx[benchTag]) error { return ptr.Set(t, obj) }
				var box Box[benchTag, benchObj]
				alloc := func(t *Tx[benchTag]) (err error) {
					box, err = NewBox(t, benchObj{})
					return err
				}
				free := func(t *Tx[benchTag]) error { return box.Free(t) }
				updates[side] = func(i int) {
					ptr = ptrs[(i*7919)&1023]
					binary.LittleEndian.PutUint64(obj.Data[:], uint64(i))
					var err error
					if op == "update" {
						err = p.Update(update)
					} else if err = p.Update(alloc); err == nil {
						err = p.Update(free)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			const turn = 256
			var spent, inTurn [2]time.Duration
			var count [2]int
			var ratios []float64
			for i := 0; b.Loop(); i++ {
				side := (i / turn) % 2
				start := time.Now()
				updates[side](i)
				d := time.Since(start)
				spent[side] += d
				inTurn[side] += d
				count[side]++
				if side == 1 && i%turn == turn-1 {
					ratios = append(ratios, float64(inTurn[1])/float64(inTurn[0]))
					inTurn = [2]time.Duration{}
				}
			}
			if len(ratios) == 0 {
				return
			}
			slices.Sort(ratios)
			undo := float64(spent[0].Nanoseconds()) / float64(count[0])
			redo := float64(spent[1].Nanoseconds()) / float64(count[1])
			b.ReportMetric(undo, "undo-ns/op")
			b.ReportMetric(redo, "redo-ns/op")
			b.ReportMetric(ratios[len(ratios)/2], "redo/undo")
		})
	}
}
