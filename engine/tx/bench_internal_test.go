package tx

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

type benchTag struct{}
type benchObj struct{ Data [64]byte }
type benchRoot struct{ Objs [1024]Box[benchTag, benchObj] }

func BenchmarkUpdateCPU(b *testing.B) {
	for _, m := range []engine.Medium{engine.SharedMemory, engine.PMem} {
		b.Run(m.String(), func(b *testing.B) {
			dir, _ := os.MkdirTemp("/dev/shm", "txb")
			defer os.RemoveAll(dir)
			p, err := Create[benchTag, benchRoot](engine.OSFS{Medium: m}, filepath.Join(dir, "p"), &Options{Size: 8 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			var ptrs []Ptr[benchTag, benchObj]
			root := p.Root()
			p.Update(func(t *Tx[benchTag]) error {
				r, _ := root.Get(t)
				for i := range r.Objs {
					r.Objs[i], _ = NewBox(t, benchObj{})
					ptrs = append(ptrs, r.Objs[i].Ptr())
				}
				return root.Set(t, r)
			})
			var obj benchObj
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ptr := ptrs[(i*7919)&1023]
				for w := 0; w < 64; w += 8 {
					binary.LittleEndian.PutUint64(obj.Data[w:], uint64(i))
				}
				if err := p.Update(func(t *Tx[benchTag]) error { return ptr.Set(t, obj) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFloor(b *testing.B) {
	dir, _ := os.MkdirTemp("/dev/shm", "txb")
	defer os.RemoveAll(dir)
	fsys := engine.OSFS{Medium: engine.PMem}
	f, _ := engine.Create(fsys, filepath.Join(dir, "p"))
	r, _ := fsys.Map(f, 8<<20)
	defer r.Close()
	for off := int64(0); off < 8<<20; off += 4096 {
		r.Store64(off, 0)
	}
	log := make([]byte, 120)
	data := make([]byte, 64)
	old := make([]byte, 64)
	offs := func(i int) int64 { return 1<<20 + int64((i*7919)&1023)*64 }
	b.Run("undo-2-fences", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			off := offs(i)
			r.ReadAt(old, off)
			r.WriteAt(log, 4096)
			engine.Persist(r, 4096, 120)
			r.Store64(144, uint64(i))
			r.WriteAt(data, off)
			engine.Persist(r, off, 64)
			r.Store64(144, uint64(i))
		}
	})
	b.Run("persist-data-line", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			off := offs(i)
			r.WriteAt(data, off)
			engine.Persist(r, off, 64)
		}
	})
	b.Run("persist-log-2-lines", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			r.WriteAt(log, 4096)
			engine.Persist(r, 4096, 120)
		}
	})
	b.Run("persist-log-1-line", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			r.WriteAt(log[:64], 4096)
			engine.Persist(r, 4096, 64)
		}
	})
}
