package scenarios

import (
	"fmt"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// The persistent-memory record: a 16-byte record updated in place. Its two
// words hold the same value, so a torn record — one word old, one new — is
// visible as two different words. The correct variant keeps two slots and
// commits an update with one 8-byte sequence word, the only failure-atomic
// store:
//
//	0        8                  64               80      128              144
//	+--------+------------------+--------+--------+-------+--------+--------+
//	|  seq   |                  | slot 0: v | v   |       | slot 1: v | v   |
//	+--------+------------------+--------+--------+-------+--------+--------+
//
// The live slot is seq mod 2; an update writes the other slot, persists it,
// then stores seq+1 and persists that.
const (
	pmemRecFile    = "/pmem/record"
	pmemRecSize    = 4096
	pmemRecUpdates = 4
)

func init() {
	register(
		func() *sim.Scenario {
			return pmemRecord("pmem-record", "update a 16-byte record: write the spare slot, persist, commit with an 8-byte sequence word", true)
		},
		func() *sim.Scenario {
			return pmemRecord("pmem-record-bug-no-commit", "BUG: overwrites the 16-byte record in place, with no commit word: a crash can tear it", false)
		},
	)
}

// recordModel is a register of 16-byte records whose two words are equal:
// its states are [2]uint64, initially zero.
func recordModel() models.Model {
	return models.Model{
		Name: "record",
		Init: func() any { return [2]uint64{} },
		Apply: func(state, input any) (any, any) {
			v := input.(models.RegisterWrite).Value
			return [2]uint64{v, v}, nil
		},
		DescribeInput: func(input any) string { return fmt.Sprintf("write(%d)", input.(models.RegisterWrite).Value) },
		DescribeState: func(state any) string {
			s := state.([2]uint64)
			return fmt.Sprintf("record{%d, %d}", s[0], s[1])
		},
	}
}

func pmemRecord(name, doc string, committed bool) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: recordModel(),
		Run: func(env *sim.Env) error {
			r, err := mapPMem(env.FS, pmemRecFile, pmemRecSize, true)
			if err != nil {
				return err
			}
			defer r.Close()
			for i := range pmemRecUpdates {
				v := uint64(1000*(i+1) + env.Rand.IntN(1000))
				env.Invoke(models.RegisterWrite{Value: v})
				if committed {
					err = pmemRecordCommit(r, v)
				} else {
					err = pmemRecordInPlace(r, v)
				}
				if err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			r, ok, err := openPMem(env.FS, pmemRecFile, pmemRecSize)
			if err != nil || !ok {
				return [2]uint64{}, err
			}
			defer r.Close()
			slot := int64(64)
			if committed {
				seq, err := r.Load64(0)
				if err != nil {
					return nil, err
				}
				slot = 64 + int64(seq%2)*64
			}
			var b [16]byte
			if _, err := r.ReadAt(b[:], slot); err != nil {
				return nil, err
			}
			return [2]uint64{le64(b[:8]), le64(b[8:])}, nil
		},
	}
}

// pmemRecordCommit writes v to the spare slot, persists it, and commits it
// with the sequence word.
func pmemRecordCommit(r engine.Region, v uint64) error {
	seq, err := r.Load64(0)
	if err != nil {
		return err
	}
	spare := 64 + int64((seq+1)%2)*64
	var rec [16]byte
	putLE64(rec[:8], v)
	putLE64(rec[8:], v)
	if _, err := r.WriteAt(rec[:], spare); err != nil {
		return err
	}
	if err := engine.Persist(r, spare, 16); err != nil {
		return err
	}
	if err := r.Store64(0, seq+1); err != nil {
		return err
	}
	return engine.Persist(r, 0, 8)
}

// pmemRecordInPlace overwrites the record where it is: the bug.
func pmemRecordInPlace(r engine.Region, v uint64) error {
	var rec [16]byte
	putLE64(rec[:8], v)
	putLE64(rec[8:], v)
	if _, err := r.WriteAt(rec[:], 64); err != nil {
		return err
	}
	return engine.Persist(r, 64, 16)
}
