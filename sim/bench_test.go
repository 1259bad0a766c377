package sim

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/zeebo/xxh3"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// benchLog is a persistent-memory log whose recovery does the work a real
// one does: it reads every record and checks its CRC. Records are 256
// bytes: a 4-byte CRC, then data; the count of records is at offset 0.
func benchLog(appends int, regionSize int64, digest bool) *Scenario {
	const rec = 256
	model := models.Log()
	if digest {
		model = digestModel()
	}
	return &Scenario{
		Name:  "bench-log",
		Model: model,
		Run: func(env *Env) error {
			r, done, err := durableRegion(env, "/pmem/log", regionSize)
			if err != nil {
				return err
			}
			defer done()
			buf := make([]byte, rec)
			for i := range appends {
				for j := 4; j < rec; j++ {
					buf[j] = byte(i + j)
				}
				binary.LittleEndian.PutUint32(buf, crc32.ChecksumIEEE(buf[4:]))
				if digest {
					env.Invoke(xxh3.Hash128(buf[4:]))
				} else {
					env.Invoke(models.LogAppend{Record: append([]byte(nil), buf[4:]...)})
				}
				off := 64 + int64(i)*rec
				if _, err := r.WriteAt(buf, off); err != nil {
					return err
				}
				if err := engine.Persist(r, off, rec); err != nil {
					return err
				}
				if err := r.Store64(0, uint64(i+1)); err != nil {
					return err
				}
				if err := engine.Persist(r, 0, 8); err != nil {
					return err
				}
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *Env) (any, error) {
			f, err := env.FS.OpenFile("/pmem/log", os.O_RDWR, 0)
			if errors.Is(err, fs.ErrNotExist) {
				if digest {
					return logDigest{}, nil
				}
				return [][]byte(nil), nil
			}
			if err != nil {
				return nil, err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil || fi.Size() < regionSize {
				if digest {
					return logDigest{}, err
				}
				return [][]byte(nil), err
			}
			r, err := env.FS.Map(f, regionSize)
			if err != nil {
				return nil, err
			}
			defer r.Close()
			n, err := r.Load64(0)
			if err != nil {
				return nil, err
			}
			var out [][]byte
			var d logDigest
			buf := make([]byte, rec)
			for i := range int64(n) {
				if _, err := r.ReadAt(buf, 64+i*rec); err != nil {
					return nil, err
				}
				if binary.LittleEndian.Uint32(buf) != crc32.ChecksumIEEE(buf[4:]) {
					return nil, errors.New("bench log: bad record")
				}
				if digest {
					d = d.add(xxh3.Hash128(buf[4:]))
				} else {
					out = append(out, append([]byte(nil), buf[4:]...))
				}
			}
			if digest {
				return d, nil
			}
			return out, nil
		},
	}
}

// logDigest stands for a log by its length and a hash chained over its
// records: a model state of a few words however long the log, so that a
// recovery of a long log allocates nothing per record.
type logDigest struct {
	n    int
	hash xxh3.Uint128
}

func (d logDigest) add(rec xxh3.Uint128) logDigest {
	h, r := d.hash.Bytes(), rec.Bytes()
	return logDigest{d.n + 1, xxh3.Hash128(append(h[:], r[:]...))}
}

// digestModel is models.Log over digests: its inputs are the hashes of the
// records appended.
func digestModel() models.Model {
	return models.Model{
		Name:  "log-digest",
		Init:  func() any { return logDigest{} },
		Apply: func(s, in any) (any, any) { return s.(logDigest).add(in.(xxh3.Uint128)), nil },
		Equal: func(a, b any) bool { return a.(logDigest) == b.(logDigest) },
	}
}

// imagesOf collects the distinct images the explorer would recover for sc
// under opts, by running the workload with a hook that builds them the same
// way and recovers none.
func imagesOf(sc *Scenario, opts Options) []*faultfs.FS {
	x, err := newExplorer(sc, opts)
	if err != nil {
		panic(err)
	}
	c := &collector{x: x, seen: map[faultfs.Fingerprint]bool{}}
	m := NewMachine()
	m.hook = c
	p := m.Start("workload")
	x.m, x.proc = m, p
	if err := sc.Run(&Env{FS: p.FS(), proc: p, ck: &checker{prefix: x.check}}); err != nil {
		panic(err)
	}
	c.before(p, Event{Kind: "end"})
	return c.images
}

type collector struct {
	x      *explorer
	seen   map[faultfs.Fingerprint]bool
	images []*faultfs.FS
}

func (c *collector) options() *Options     { return &c.x.opts }
func (c *collector) after(*Process, Event) {}
func (c *collector) before(p *Process, at Event) {
	pend := p.m.disk.PendingUnder(c.x.prof, c.x.opts.Granularity)
	for ch := range pend.Choices(c.x.opts.Strategy.faultfs(), c.x.opts.MaxStates, 0) {
		img := pend.Clone(ch, c.x.opts.Tail)
		if fp := img.Fingerprint(); !c.seen[fp] {
			c.seen[fp] = true
			c.images = append(c.images, img)
		}
	}
}

// BenchmarkExplore compares the explorer's rate of judged states, with one
// and two workers, against a bare loop that only runs the recovery on the
// same images built beforehand (docs/DESIGN.md section 5: the explorer should
// cost little besides the recoveries). Each iteration is a whole
// exploration, or a whole pass over the images. The explorer's own cost per
// state (building and fingerprinting an image) does not depend on the
// recovery, so the log has two lengths: a recovery of a few microseconds
// (48 records) and one of some tens (480 records), still small beside the
// replay of a real log.
func BenchmarkExplore(b *testing.B) {
	for _, c := range []struct {
		records int
		digest  bool
	}{{48, false}, {480, false}, {480, true}} {
		sc := benchLog(c.records, int64(c.records+1)*256, c.digest)
		opts := Options{Fault: PowerFailure, Strategy: Subsets, MaxStates: 64}
		name := "records=" + strconv.Itoa(c.records)
		if c.digest {
			name += "-digest"
		}
		for _, workers := range []int{1, 2, 0} {
			wname := "workers=" + strconv.Itoa(workers)
			if workers == 0 {
				wname = "workers=per-cpu" // with -cpu 1,2: the scaling of the whole explorer
			}
			b.Run(name+"/explorer/"+wname, func(b *testing.B) {
				o := opts
				o.Workers = workers
				states := 0
				for b.Loop() {
					res, err := Explore(sc, o)
					if err != nil || !res.OK() {
						b.Fatal(err, res.Violations)
					}
					states += res.Unique
				}
				b.ReportMetric(float64(states)/b.Elapsed().Seconds(), "states/s")
			})
		}
		for _, workers := range []int{1, 2} {
			b.Run(name+"/bare-recovery/workers="+strconv.Itoa(workers), func(b *testing.B) {
				images := imagesOf(sc, opts)
				x, _ := newExplorer(sc, opts)
				states := 0
				for b.Loop() {
					var wg sync.WaitGroup
					for w := range workers {
						wg.Go(func() {
							for i := w; i < len(images); i += workers {
								if out := x.recoverMachine(untracedMachineOn(images[i]), 0); out.err != nil || out.panic != "" {
									b.Error(out.err, out.panic)
									return
								}
							}
						})
					}
					wg.Wait()
					states += len(images)
				}
				b.ReportMetric(float64(states)/b.Elapsed().Seconds(), "states/s")
			})
		}
	}
}

// BenchmarkLongWorkload runs a workload of a million 8-byte stores to a
// persistent-memory region, persisted every thousand, under the explorer,
// and reports the peak of the heap in use: exploration is online, so memory
// must not grow with the length of the workload.
func BenchmarkLongWorkload(b *testing.B) {
	const stores, every = 1_000_000, 1000
	sc := &Scenario{
		Name:  "long",
		Model: models.Register(),
		Run: func(env *Env) error {
			f, err := engine.Create(env.FS, "/pmem/long")
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := env.FS.Map(f, 1<<20)
			if err != nil {
				return err
			}
			defer r.Close()
			if err := f.Sync(); err != nil {
				return err
			}
			for i := range stores {
				off := int64(i%(1<<17)) * 8
				if err := r.Store64(off, uint64(i)); err != nil {
					return err
				}
				if i%every == every-1 {
					if err := engine.Persist(r, 0, 1<<20); err != nil {
						return err
					}
				}
			}
			return nil
		},
		Recover: func(env *Env) (any, error) { return uint64(0), nil },
	}
	for _, s := range []Strategy{DropAll, Subsets} {
		b.Run(s.String(), func(b *testing.B) {
			var peak uint64
			var ms runtime.MemStats
			opts := Options{Fault: PowerFailure, Strategy: s, MaxStates: 4, Progress: func(Progress) {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}}
			for b.Loop() {
				res, err := Explore(sc, opts)
				if err != nil || res.RunError != "" {
					b.Fatal(err, res.RunError)
				}
				b.ReportMetric(float64(res.CrashPoints), "crash-points")
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
