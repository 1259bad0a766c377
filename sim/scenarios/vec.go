package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"unsafe"

	"github.com/crashsim/crashsim/engine/vec"
	"github.com/crashsim/crashsim/internal/vecbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// The mapped vectors of engine/vec (issue 13). Each Sync drains the
// elements stored since the last, then makes a header with the new length
// durable in the slot that does not hold the newest one; recovery opens
// the vector as its next writer does and returns its elements.
//
//   - vec-append (persistent memory) and vec-append-file (a file mapped
//     through the page cache): rounds of a Pop or a Truncate now and then,
//     then appends (Push and Append) that grow the vector from a capacity
//     of 2 past 16, then a Sync. The model is models.Log, with the cuts
//     (vecCut): after a crash the vector is the log after some round's
//     operations, every round up to the last Sync included. The cut
//     followed by appends in one round exercises the vector's rule that a
//     shorter length is made durable before anything is stored past it.
//   - vec-set: a vector of 8-byte counters in a mapped file: rounds of
//     Sets of one slot (a register per slot, models.Register), then a Push,
//     then a Sync.
//
// The bug variants are hidden options of the real protocol
// (internal/vecbug):
//
//   - vec-bug-length-before-data: Sync makes the header, with the new
//     length, durable before the elements it covers (persistent memory);
//   - vec-bug-grow-before-extend: a growth maps the new room at once, over
//     a file extended with a hole whose size is not durable (a file on the
//     disk): a power failure can cut the file below the length a later
//     Sync made durable.
const (
	vecPMemFile   = "/pmem/vec"
	vecDiskDir    = "/data"
	vecDiskFile   = "/data/vec"
	vecSetFile    = "/data/counters"
	vecRounds     = 6
	vecRecordLen  = 24
	vecSetRounds  = 5
	vecSetInitial = 4
)

// vecRecord is an element of the append scenarios: text, so that reports
// read well.
type vecRecord [vecRecordLen]byte

func init() {
	register(
		func() *sim.Scenario {
			return vecAppend("vec-append", "appends, pops and truncates on a mapped vector in persistent memory (engine/vec), growing it, a Sync per round", vecPMemFile, vecbug.None)
		},
		func() *sim.Scenario {
			return vecAppend("vec-append-file", "appends, pops and truncates on a vector in a file mapped through the page cache (msync), growing it, a Sync per round", vecDiskFile, vecbug.None)
		},
		func() *sim.Scenario { return vecSet() },
		func() *sim.Scenario {
			return vecAppend("vec-bug-length-before-data", "BUG: a vector's Sync makes the new length durable before the elements it covers", vecPMemFile, vecbug.LengthBeforeData)
		},
		func() *sim.Scenario {
			return vecAppend("vec-bug-grow-before-extend", "BUG: a vector grows by mapping a file extended with a hole whose new size is not durable", vecDiskFile, vecbug.GrowBeforeExtend)
		},
	)
}

// vecCut truncates the log to Len records: a Pop or a Truncate.
type vecCut struct{ Len int }

// vecLog is models.Log with cuts.
func vecLog() models.Model {
	l := models.Log()
	m := l
	m.Name = "log-with-cuts"
	m.Apply = func(state, input any) (any, any) {
		c, ok := input.(vecCut)
		if !ok {
			return l.Apply(state, input)
		}
		s := state.([][]byte)
		return s[:c.Len:c.Len], nil
	}
	m.DescribeInput = func(input any) string {
		if c, ok := input.(vecCut); ok {
			return fmt.Sprintf("truncate(%d)", c.Len)
		}
		return l.DescribeInput(input)
	}
	return m
}

// vecOptions are the vector's options, with the bug.
func vecOptions(capacity int, bug vecbug.Bug) *vec.Options {
	o := &vec.Options{Capacity: capacity}
	if bug != vecbug.None {
		vecbug.Set(o, bug)
	}
	return o
}

// createVec creates the vector name, its directory first if it is on
// the disk.
func createVec[T any](env *sim.Env, name string, o *vec.Options) (*vec.Vec[T], error) {
	if path.Dir(name) == vecDiskDir {
		if err := env.FS.MkdirAll(vecDiskDir, 0o755); err != nil {
			return nil, err
		}
		if err := env.FS.SyncDir("/"); err != nil {
			return nil, err
		}
	}
	return vec.Create[T](env.FS, name, o)
}

// openVec is the recovery's Open, as the vector's next writer: no file
// yet is an empty vector (Create renames a durable file into place).
func openVec[T any](env *sim.Env, name string) (*vec.Vec[T], error) {
	v, err := vec.Open[T](env.FS, name, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if v.Len() > v.Cap() {
		v.Close()
		return nil, fmt.Errorf("length %d beyond capacity %d", v.Len(), v.Cap())
	}
	return v, nil
}

func vecAppend(name, doc, file string, bug vecbug.Bug) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: vecLog(),
		Run: func(env *sim.Env) error {
			v, err := createVec[vecRecord](env, file, vecOptions(2, bug))
			if err != nil {
				return err
			}
			defer v.Close()
			next := 0
			record := func() vecRecord {
				var r vecRecord
				copy(r[:], fmt.Sprintf("record %02d ", next))
				for i := 10; i < len(r); i++ {
					r[i] = byte('a' + env.Rand.IntN(26))
				}
				next++
				return r
			}
			for round := range vecRounds {
				if round > 0 && v.Len() > 0 && env.Rand.IntN(3) == 0 {
					n := env.Rand.IntN(v.Len())
					env.Invoke(vecCut{Len: n})
					if n == v.Len()-1 {
						_, err = v.Pop()
					} else {
						err = v.Truncate(n)
					}
					if err != nil {
						return err
					}
					env.Return(nil)
				}
				for range 1 + env.Rand.IntN(3) {
					if env.Rand.IntN(2) == 0 {
						r := record()
						env.Invoke(models.LogAppend{Record: r[:]})
						err = v.Push(r)
						env.Return(err)
					} else {
						// Append of two is two operations of the log: a
						// crash keeps both or neither, a prefix either way.
						rs := []vecRecord{record(), record()}
						env.Invoke(models.LogAppend{Record: rs[0][:]})
						env.Invoke(models.LogAppend{Record: rs[1][:]})
						err = v.Append(rs...)
						env.Return(err)
					}
					if err != nil {
						return err
					}
				}
				if err := v.Sync(); err != nil {
					return err
				}
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			state := [][]byte{}
			v, err := openVec[vecRecord](env, file)
			if err != nil || v == nil {
				return state, err
			}
			defer v.Close()
			for _, r := range v.All() {
				state = append(state, append([]byte(nil), r[:]...))
			}
			return state, nil
		},
		Continue: func(env *sim.Env) error { return continueVec(env, file, bug) },
	}
}

// continueVec is how a program using the vector goes on after its
// recovery: it opens the vector again (the recovery closed it), or creates
// it if the crash left none, pushes two records and syncs.
func continueVec(env *sim.Env, file string, bug vecbug.Bug) error {
	v, err := vec.Open[vecRecord](env.FS, file, vecOptions(0, bug))
	if errors.Is(err, fs.ErrNotExist) {
		v, err = createVec[vecRecord](env, file, vecOptions(2, bug))
	}
	if err != nil {
		return err
	}
	for i := range 2 {
		var r vecRecord
		copy(r[:], fmt.Sprintf("again %02d ", i))
		for i := 10; i < len(r); i++ {
			r[i] = byte('a' + env.Rand.IntN(26))
		}
		env.Invoke(models.LogAppend{Record: r[:]})
		err := v.Push(r)
		env.Return(err)
		if err != nil {
			v.Close()
			return err
		}
	}
	if err := v.Sync(); err != nil {
		v.Close()
		return err
	}
	env.DurableAll()
	return v.Close()
}

// vecSlot is a Set of slot Slot of the counters: a register write.
type vecSlot struct {
	Slot  int
	Value uint64
}

// vecPush appends a counter: a new register, written once.
type vecPush struct{ Value uint64 }

// vecRegisters is a register per slot (models.Register), and appends of
// registers; its state is a []uint64.
func vecRegisters() models.Model {
	reg := models.Register()
	return models.Model{
		Name: "register-per-slot",
		Init: func() any { return []uint64{} },
		Apply: func(state, input any) (any, any) {
			s := state.([]uint64)
			next := append([]uint64(nil), s...)
			switch in := input.(type) {
			case vecSlot:
				v, _ := reg.Apply(next[in.Slot], models.RegisterWrite{Value: in.Value})
				next[in.Slot] = v.(uint64)
			case vecPush:
				v, _ := reg.Apply(reg.Init(), models.RegisterWrite{Value: in.Value})
				next = append(next, v.(uint64))
			default:
				panic(fmt.Sprintf("scenarios: register-per-slot: unknown input %T", input))
			}
			return next, nil
		},
		Equal: func(a, b any) bool {
			x, y := a.([]uint64), b.([]uint64)
			if len(x) != len(y) {
				return false
			}
			for i := range x {
				if !reg.Equal(x[i], y[i]) {
					return false
				}
			}
			return true
		},
		Diff: func(want, got any) string {
			w, g := want.([]uint64), got.([]uint64)
			for i := range min(len(w), len(g)) {
				if w[i] != g[i] {
					return fmt.Sprintf("slot %d: %s", i, reg.Diff(w[i], g[i]))
				}
			}
			return fmt.Sprintf("%d slots, want %d", len(g), len(w))
		},
		DescribeInput: func(input any) string {
			switch in := input.(type) {
			case vecSlot:
				return fmt.Sprintf("set(%d, %d)", in.Slot, in.Value)
			case vecPush:
				return fmt.Sprintf("push(%d)", in.Value)
			}
			return fmt.Sprint(input)
		},
	}
}

// vecSet is the scenario of Sets: a vector of counters, each round one
// slot set once or twice, then a push, then a Sync. The Sets of a round
// go to one slot and come before its push so that every state a crash
// may leave is the state after some operation: Sets to two slots, or a
// Set after the push, may survive without the operations before them
// (the contract allows it; the prefix check would not).
func vecSet() *sim.Scenario {
	return &sim.Scenario{
		Name:  "vec-set",
		Doc:   "sets of 8-byte counters in a vector in a file mapped through the page cache, a register per slot, a push and a Sync per round",
		Model: vecRegisters(),
		Run: func(env *sim.Env) error {
			v, err := createVec[uint64](env, vecSetFile, &vec.Options{Capacity: vecSetInitial})
			if err != nil {
				return err
			}
			defer v.Close()
			for i := range vecSetInitial {
				env.Invoke(vecPush{Value: uint64(i)})
				if err := v.Push(uint64(i)); err != nil {
					return err
				}
				env.Return(nil)
			}
			if err := v.Sync(); err != nil {
				return err
			}
			env.DurableAll()
			for round := range vecSetRounds {
				slot := env.Rand.IntN(v.Len())
				for range 1 + env.Rand.IntN(2) {
					x := uint64(1000*(round+1) + env.Rand.IntN(1000))
					env.Invoke(vecSlot{Slot: slot, Value: x})
					if err := v.Set(slot, x); err != nil {
						return err
					}
					env.Return(nil)
				}
				x := uint64(100 + round)
				env.Invoke(vecPush{Value: x})
				if err := v.Push(x); err != nil {
					return err
				}
				env.Return(nil)
				if err := v.Sync(); err != nil {
					return err
				}
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			state := []uint64{}
			v, err := openVec[uint64](env, vecSetFile)
			if err != nil || v == nil {
				return state, err
			}
			defer v.Close()
			return append(state, v.View()...), nil
		},
	}
}

// The records are the vector's elements, byte for byte.
var _ [vecRecordLen]byte = [unsafe.Sizeof(vecRecord{})]byte{}
