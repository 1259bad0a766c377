package scenarios

import (
	"encoding/binary"
	"fmt"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// The persistent-memory append log: a published count at offset 0, then
// fixed-size records from offset 64 (the next cache line).
//
//	0        8                        64        64+R      64+2R
//	+--------+------------------------+---------+---------+--
//	| count  |        unused          | record0 | record1 | ...
//	+--------+------------------------+---------+---------+--
//
// A record is durable before the count that covers it is stored: that order
// is the whole protocol. Records are 40 bytes, so some straddle two lines.
const (
	pmemLogFile    = "/pmem/log"
	pmemLogSize    = 4096
	pmemLogRecords = 64
	pmemLogRecLen  = 40
	pmemLogAppends = 4
)

// pmemLogOrder is how a variant orders the steps of an append.
type pmemLogOrder int

const (
	logCorrect    pmemLogOrder = iota // record, persist; count, persist
	logCountFirst                     // count, persist; record, persist
	logNoFlush                        // record, drain (no flush); count, persist
	logNoDrainGap                     // record, flush; count, flush; one drain
)

func init() {
	register(
		func() *sim.Scenario {
			return pmemLog("pmem-log", "append to a persistent-memory log: record, persist; count, persist", logCorrect)
		},
		func() *sim.Scenario {
			return pmemLog("pmem-log-bug-count-first", "BUG: publishes the count before the record is durable", logCountFirst)
		},
		func() *sim.Scenario {
			return pmemLog("pmem-log-bug-no-flush", "BUG: drains without flushing the record's cache lines", logNoFlush)
		},
		func() *sim.Scenario {
			return pmemLog("pmem-log-bug-no-drain", "BUG: no drain between the record's flush and the count's store", logNoDrainGap)
		},
	)
}

func pmemLog(name, doc string, order pmemLogOrder) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			r, err := mapPMem(env.FS, pmemLogFile, pmemLogSize, true)
			if err != nil {
				return err
			}
			defer r.Close()
			for i := range pmemLogAppends {
				rec := make([]byte, pmemLogRecLen)
				for j := range rec {
					rec[j] = byte('a' + env.Rand.IntN(26))
				}
				env.Invoke(models.LogAppend{Record: rec})
				if err := pmemLogAppend(r, uint64(i), rec, order); err != nil {
					return err
				}
				env.Return(i)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			r, ok, err := openPMem(env.FS, pmemLogFile, pmemLogSize)
			if err != nil || !ok {
				return [][]byte(nil), err
			}
			defer r.Close()
			n, err := r.Load64(0)
			if err != nil {
				return nil, err
			}
			if n > pmemLogRecords {
				return nil, fmt.Errorf("pmem log: count %d beyond capacity %d", n, pmemLogRecords)
			}
			var recs [][]byte
			for i := range n {
				rec := make([]byte, pmemLogRecLen)
				if _, err := r.ReadAt(rec, 64+int64(i)*pmemLogRecLen); err != nil {
					return nil, err
				}
				recs = append(recs, rec)
			}
			return recs, nil
		},
	}
}

// pmemLogAppend appends record i in the order the variant uses.
func pmemLogAppend(r engine.Region, i uint64, rec []byte, order pmemLogOrder) error {
	off := 64 + int64(i)*pmemLogRecLen
	store := func() error { _, err := r.WriteAt(rec, off); return err }
	publish := func() error { return r.Store64(0, i+1) }
	var steps []func() error
	switch order {
	case logCorrect:
		steps = []func() error{store, persist(r, off, pmemLogRecLen), publish, persist(r, 0, 8)}
	case logCountFirst:
		steps = []func() error{publish, persist(r, 0, 8), store, persist(r, off, pmemLogRecLen)}
	case logNoFlush:
		steps = []func() error{store, r.Drain, publish, persist(r, 0, 8)}
	case logNoDrainGap:
		steps = []func() error{store, flush(r, off, pmemLogRecLen), publish, flush(r, 0, 8), r.Drain}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func persist(r engine.Region, off, n int64) func() error {
	return func() error { return engine.Persist(r, off, n) }
}

func flush(r engine.Region, off, n int64) func() error {
	return func() error { return r.Flush(off, n) }
}

// le64 and putLE64 are the little-endian words of the formats here.
func le64(b []byte) uint64       { return binary.LittleEndian.Uint64(b) }
func putLE64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }
