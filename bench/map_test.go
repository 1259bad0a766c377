package bench

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
)

// The map benchmarks: a million keys of 16 bytes with values of 32,
// inserted in random order in transactions of a thousand, then read one
// at a time, with engine/tx's persistent hash map and with bbolt.
const (
	mapKeys     = 1 << 20
	mapBatch    = 1000
	mapKeyLen   = 16
	mapValueLen = 32
	mapPoolSize = 256 << 20
)

// mapKeyAt returns key i: 16 bytes of a 64-bit mix of i, so that the
// keys come in no order (bbolt's B+tree is fastest with sorted inserts),
// and i itself, so that no two are equal.
func mapKeyAt(i int) []byte {
	k := make([]byte, mapKeyLen)
	x := uint64(i) + 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	binary.BigEndian.PutUint64(k, x^x>>31)
	binary.BigEndian.PutUint64(k[8:], uint64(i))
	return k
}

var mapKeys1M = sync.OnceValue(func() [][]byte {
	keys := make([][]byte, mapKeys)
	for i := range keys {
		keys[i] = mapKeyAt(i)
	}
	return keys
})

// mapGetOrder are the keys the get benchmark reads, drawn once so that
// every engine reads the same ones in the same order.
var mapGetOrder = func() []int {
	rng := rand.New(rand.NewPCG(5, 6))
	idx := make([]int, 1<<16)
	for i := range idx {
		idx[i] = rng.IntN(mapKeys)
	}
	return idx
}()

// mapValue is the value of key i: its index in every word.
func mapValue(v []byte, i int) []byte {
	v = v[:mapValueLen]
	for w := 0; w < mapValueLen; w += 8 {
		binary.LittleEndian.PutUint64(v[w:], uint64(i))
	}
	return v
}

// mapStore is one engine under the map benchmarks.
type mapStore interface {
	// insert puts keys[lo:hi] in one transaction.
	insert(keys [][]byte, lo, hi int) error
	// get reads one key in a read-only transaction.
	get(k []byte) (bool, error)
	close() error
}

// The configurations, all on /dev/shm: crashsim with each medium (shared
// memory, whose Flush and Drain do nothing, is the equivalent of bbolt's
// NoSync; persistent memory and msync make every commit durable), bbolt
// with NoSync and with an fdatasync per commit.
var mapEngines = []struct {
	name string
	open func(b *testing.B, dir string) mapStore
}{
	{"crashsim-shm-nosync", func(b *testing.B, dir string) mapStore { return openPoolMap(b, dir, engine.SharedMemory) }},
	{"crashsim-pmem-forced", func(b *testing.B, dir string) mapStore { return openPoolMap(b, dir, engine.PMem) }},
	{"crashsim-msync", func(b *testing.B, dir string) mapStore { return openPoolMap(b, dir, engine.MappedFile) }},
	{"bbolt-nosync", func(b *testing.B, dir string) mapStore { return openBolt(b, dir, true) }},
	{"bbolt-sync", func(b *testing.B, dir string) mapStore { return openBolt(b, dir, false) }},
}

type mapTag struct{}

type mapRoot struct{ M tx.Map[mapTag] }

type poolMap struct {
	p   *tx.Pool[mapTag, mapRoot]
	m   tx.Map[mapTag]
	val []byte
}

func openPoolMap(b *testing.B, dir string, medium engine.Medium) *poolMap {
	p, err := tx.Create[mapTag, mapRoot](engine.OSFS{Medium: medium}, filepath.Join(dir, "pool"), &tx.Options{Size: mapPoolSize})
	if err != nil {
		b.Fatal(err)
	}
	if got := p.Info().Medium; got != medium {
		b.Fatalf("medium %v, want %v", got, medium)
	}
	s := &poolMap{p: p, val: make([]byte, mapValueLen)}
	root := p.Root()
	err = p.Update(func(t *tx.Tx[mapTag]) error {
		if s.m, err = tx.NewMap(t); err != nil {
			return err
		}
		return root.Set(t, mapRoot{M: s.m})
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func (s *poolMap) insert(keys [][]byte, lo, hi int) error {
	return s.p.Update(func(t *tx.Tx[mapTag]) error {
		for i := lo; i < hi; i++ {
			if err := s.m.Put(t, keys[i], mapValue(s.val, i)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *poolMap) get(k []byte) (found bool, err error) {
	err = s.p.View(func(t *tx.Tx[mapTag]) error {
		_, found, err = s.m.Get(t, k)
		return err
	})
	return found, err
}

func (s *poolMap) close() error { return s.p.Close() }

type boltMap struct {
	db  *bolt.DB
	val []byte
	out []byte
}

var boltBucket = []byte("m")

func openBolt(b *testing.B, dir string, noSync bool) *boltMap {
	db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, &bolt.Options{NoSync: noSync, InitialMmapSize: mapPoolSize})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Update(func(t *bolt.Tx) error {
		_, err := t.CreateBucket(boltBucket)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return &boltMap{db: db, val: make([]byte, mapValueLen), out: make([]byte, 0, mapValueLen)}
}

func (s *boltMap) insert(keys [][]byte, lo, hi int) error {
	return s.db.Update(func(t *bolt.Tx) error {
		bk := t.Bucket(boltBucket)
		for i := lo; i < hi; i++ {
			if err := bk.Put(keys[i], mapValue(s.val, i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// get copies the value out, as crashsim's Map.Get does: bbolt's slice is
// valid only inside the transaction.
func (s *boltMap) get(k []byte) (found bool, err error) {
	err = s.db.View(func(t *bolt.Tx) error {
		v := t.Bucket(boltBucket).Get(k)
		found = v != nil
		s.out = append(s.out[:0], v...)
		return nil
	})
	return found, err
}

func (s *boltMap) close() error { return s.db.Close() }

// fillMap inserts every key of keys in transactions of mapBatch.
func fillMap(s mapStore, keys [][]byte) error {
	for lo := 0; lo < len(keys); lo += mapBatch {
		if err := s.insert(keys, lo, min(lo+mapBatch, len(keys))); err != nil {
			return fmt.Errorf("keys [%d,%d): %w", lo, lo+mapBatch, err)
		}
	}
	return nil
}

// BenchmarkMapInsert1M inserts 2^20 keys into an empty store, in
// transactions of 1,000; one iteration is the whole million, and ns/insert
// is its time per key.
func BenchmarkMapInsert1M(b *testing.B) {
	keys := mapKeys1M()
	for _, e := range mapEngines {
		b.Run(e.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				s := e.open(b, shmDir(b))
				b.StartTimer()
				if err := fillMap(s, keys); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/mapKeys, "ns/insert")
		})
	}
}

// BenchmarkMapGet1M reads one key at random among the 2^20 of a filled
// store, in a read-only transaction of its own.
func BenchmarkMapGet1M(b *testing.B) {
	keys := mapKeys1M()
	for _, e := range mapEngines {
		b.Run(e.name, func(b *testing.B) {
			s := e.open(b, shmDir(b))
			defer s.close()
			if err := fillMap(s, keys); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				found, err := s.get(keys[mapGetOrder[i&(len(mapGetOrder)-1)]])
				if err != nil || !found {
					b.Fatalf("get: found %v, %v", found, err)
				}
			}
		})
	}
}
