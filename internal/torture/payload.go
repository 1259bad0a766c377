package torture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
)

// errNotWritten is wrapped by the errors of a check that finds data the
// workload did not write where it should have: a garbled or invented
// entry, or one out of order.
var errNotWritten = errors.New("not what the workload wrote")

// The workloads' data are functions of (seed, k), where k numbers the
// operations of a campaign from 1: any process — the workload, the
// checker, a replay — computes what operation k wrote without being told,
// so a checker can tell a lost, a garbled and an invented operation apart
// from the bytes alone.

// mix is SplitMix64's finalizer of seed and k: the operation's own random
// word.
func mix(seed, k uint64) uint64 {
	z := seed + k*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fill writes the byte stream of (seed, k) into b.
func fill(b []byte, seed, k uint64) {
	r := rand.NewPCG(seed, k)
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
}

// sumThrough is the sum of mix(seed, k) for k in 1..n: the checksum the
// workloads keep of everything they did, in a checkpoint or a pool's root.
func sumThrough(seed, n uint64) uint64 {
	var s uint64
	for k := uint64(1); k <= n; k++ {
		s += mix(seed, k)
	}
	return s
}

// The WAL workload's entry k:
//
//	0         8                                  length
//	+---------+----------------------------------+
//	| k (u64) | stream of (seed, k)              |
//	+---------+----------------------------------+
//
// 16 to 200 bytes, one in 32 of 2 to 8 KiB, so that entries cross
// segments and some get a segment of their own.
func walEntry(seed, k uint64) []byte {
	h := mix(seed, k)
	n := 16 + int(h>>8%185)
	if h%32 == 0 {
		n = 2048 + int(h>>16%6144)
	}
	return entryOf(seed, k, n)
}

// smallEntry is entry k of the sweeps' logs: 16 to 63 bytes.
func smallEntry(seed, k uint64) []byte {
	return entryOf(seed, k, 16+int(mix(seed, k)>>8%48))
}

func entryOf(seed, k uint64, n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, k)
	fill(b[8:], seed, k)
	return b
}

// entryNumber is the k an entry says it is.
func entryNumber(e []byte) (uint64, error) {
	if len(e) < 8 {
		return 0, fmt.Errorf("%w: an entry of %d bytes", errNotWritten, len(e))
	}
	return binary.LittleEndian.Uint64(e), nil
}

// checkEntry says whether e is entry k of the campaign of seed, as entry
// makes them.
func checkEntry(entry func(seed, k uint64) []byte, seed, k uint64, e []byte) error {
	if len(e) < 8 {
		return fmt.Errorf("%w: an entry of %d bytes where entry %d was due", errNotWritten, len(e), k)
	}
	if got := binary.LittleEndian.Uint64(e); got != k {
		return fmt.Errorf("%w: entry %d where entry %d was due", errNotWritten, got, k)
	}
	want := entry(seed, k)
	if string(want) != string(e) {
		return fmt.Errorf("%w: entry %d of %d bytes differs from the %d written", errNotWritten, k, len(e), len(want))
	}
	return nil
}

// walState is the WAL workload's checkpointed state: the last entry
// applied and the sum of mix over every entry applied.
type walState struct {
	K, Sum uint64
}

// walStates is the checkpoint codec of walState: 16 bytes.
type walStates struct{}

func (walStates) Append(dst []byte, s walState) ([]byte, error) {
	dst = binary.LittleEndian.AppendUint64(dst, s.K)
	return binary.LittleEndian.AppendUint64(dst, s.Sum), nil
}

func (walStates) Decode(b []byte) (walState, error) {
	if len(b) != 16 {
		return walState{}, fmt.Errorf("torture: a checkpoint state of %d bytes, want 16", len(b))
	}
	return walState{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}, nil
}

// applyWALEntry is the workload's state machine: entry k must follow
// state.K and be what the workload wrote.
func applyWALEntry(seed uint64) func(s walState, id uint64, e []byte) (walState, error) {
	return applyEntries(walEntry, seed)
}

func applyEntries(entry func(seed, k uint64) []byte, seed uint64) func(s walState, id uint64, e []byte) (walState, error) {
	return func(s walState, id uint64, e []byte) (walState, error) {
		if len(e) < 8 {
			return s, fmt.Errorf("%w: an entry of %d bytes (log id %d)", errNotWritten, len(e), id)
		}
		// The entry's own k, not s.K+1: a log that starts too late is
		// Recover's to report (after the scan), and a gap shows in Sum.
		k, _ := entryNumber(e)
		if err := checkEntry(entry, seed, k, e); err != nil {
			return s, fmt.Errorf("%w (log id %d)", err, id)
		}
		s.K = k
		s.Sum += mix(seed, k)
		return s, nil
	}
}

// The pool workload's transaction k changes one key of a hash map of
// poolKeys keys — a put of a value of 1 to 200 bytes (one in 32 of 2 to
// 8 KiB, which takes whole pages of the heap) or, one in five, a delete —
// and sets the root's Seq to k and adds mix(seed, k) to its Sum, all in
// one transaction: a recovered pool whose map is not the model's after
// Seq transactions shows a transaction half applied.
const poolKeys = 48

type poolOp struct {
	key    string
	delete bool
}

// poolOpOf is transaction k's change to the map. On a full-disk run
// (grow) it puts a key of its own instead, so that the pool grows until
// the file system is full.
func poolOpOf(seed, k uint64, grow bool) poolOp {
	if grow {
		return poolOp{key: fmt.Sprintf("grow-%d", k)}
	}
	h := mix(seed, k)
	return poolOp{key: fmt.Sprintf("key-%02d", h%poolKeys), delete: h>>8%5 == 0}
}

// poolValue is the value transaction k puts.
func poolValue(seed, k uint64) []byte {
	h := mix(seed, k)
	n := 1 + int(h>>16%200)
	if h>>32%32 == 0 {
		n = 2048 + int(h>>40%6144)
	}
	v := make([]byte, n)
	fill(v, seed, k)
	return v
}

// poolModel is the workload's state after transactions 1..seq: each key
// present and the transaction whose value it holds, and the sum of mix.
// Advance moves it on; a reader beside the workload advances one model
// rather than replaying from 1 for every state it sees.
type poolModel struct {
	seed, seq, sum uint64
	grow           bool
	keys           map[string]uint64
}

func newPoolModel(seed uint64, grow bool) *poolModel {
	return &poolModel{seed: seed, grow: grow, keys: make(map[string]uint64, poolKeys)}
}

// at returns the model after transaction n, advancing m or starting it
// again from 0 if n is behind.
func (m *poolModel) at(n uint64) *poolModel {
	if n < m.seq {
		*m = *newPoolModel(m.seed, m.grow)
	}
	for ; m.seq < n; m.seq++ {
		k := m.seq + 1
		op := poolOpOf(m.seed, k, m.grow)
		if op.delete {
			delete(m.keys, op.key)
		} else {
			m.keys[op.key] = k
		}
		m.sum += mix(m.seed, k)
	}
	return m
}
