package torture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"syscall"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/faultfs"
)

// The sweeps of engine/tx's pool file: a clean pool (header, undo log,
// the allocator's zones and runs, the hash map's directory, buckets and
// entries), and a pool that crashed in the middle of a commit, whose undo
// log recovery must read.

const (
	sweepPoolFile = "/pmem/pool"
	sweepPoolSize = 96 << 10 // grown by the workload's large values
	sweepPoolTxs  = 40
	// The pool header, live line, heap header and root line: every bit of
	// them is swept.
	poolHeadersEnd = 320
	logHeaderSize  = 40
)

var sweepMounts = []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}

// buildPool creates the sweep's pool on persistent memory and commits
// transactions 1..n of the flavor fl, leaving it open.
func buildPool(seed, n uint64, fl poolFlavor) (*faultfs.FS, *tx.Pool[poolTag, poolRoot], error) {
	fsys := faultfs.New(faultfs.Options{Mounts: sweepMounts})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		return nil, nil, err
	}
	p, err := tx.Create[poolTag, poolRoot](fsys, sweepPoolFile, poolOptions(sweepPoolSize, seeded(seed)))
	if err != nil {
		return nil, nil, err
	}
	for k := uint64(1); k <= n; k++ {
		if err := commitPoolOp(p, seed, k, fl); err != nil {
			return nil, nil, err
		}
	}
	return fsys, p, nil
}

// closedPool is buildPool's pool, closed, as an image.
func closedPool(seed, n uint64, fl poolFlavor) (*image, error) {
	fsys, p, err := buildPool(seed, n, fl)
	if err != nil {
		return nil, err
	}
	if err := p.Close(); err != nil {
		return nil, err
	}
	return snapshot(fsys, sweepMounts, "/pmem")
}

// poolReader opens the pool (as its writer, which recovers it and then
// runs Check, or read-only), reads the workload's state, and finds it
// correct if it is one of allowed.
func poolReader(name string, readOnly bool, seed uint64, allowed ...poolSnapshot) reader {
	return reader{name, func(fsys engine.FS, m mutation) (Class, string) {
		o := poolOptions(0, nil)
		o.ReadOnly = readOnly
		p, err := tx.Open[poolTag, poolRoot](fsys, sweepPoolFile, o)
		if err != nil {
			return classifyError(err, poolTyped)
		}
		defer p.Close()
		if !readOnly {
			if err := p.Check(); err != nil {
				return classifyError(err, poolTyped)
			}
		}
		got, err := readPool(p, poolFlavor{})
		if err != nil {
			return classifyError(err, poolTyped)
		}
		for _, a := range allowed {
			if sameSnapshot(got, a) {
				return Correct, ""
			}
		}
		if err := judgePool(seed, got); err != nil {
			return SilentWrong, fmt.Sprintf("a state no sequence of transactions leaves, and no error: %v", err)
		}
		var seqs []uint64
		for _, a := range allowed {
			seqs = append(seqs, a.Seq)
		}
		return SilentWrong, fmt.Sprintf("the state after transaction %d, and no error (allowed: after %v)", got.Seq, seqs)
	}}
}

func sameSnapshot(a, b poolSnapshot) bool {
	return a.Seq == b.Seq && a.Sum == b.Sum && a.Len == b.Len && len(a.Misses) == 0 && len(b.Misses) == 0 &&
		maps.EqualFunc(a.Map, b.Map, bytes.Equal)
}

// intactSnapshot opens the image undamaged and reads it.
func intactSnapshot(im *image) (poolSnapshot, error) {
	fsys, err := im.fs(mutation{})
	if err != nil {
		return poolSnapshot{}, err
	}
	p, err := tx.Open[poolTag, poolRoot](fsys, sweepPoolFile, poolOptions(0, nil))
	if err != nil {
		return poolSnapshot{}, err
	}
	defer p.Close()
	if err := p.Check(); err != nil {
		return poolSnapshot{}, err
	}
	return readPool(p, poolFlavor{})
}

// zoneHeaders returns the offsets of the heap's zone headers, read from
// the heap header (engine/alloc's format: zones at +8, first at +16; a
// zone's size at +16 of its header).
func zoneHeaders(b []byte) []int64 {
	const heapHeaderOff = 192
	le := binary.LittleEndian
	zones, off := le.Uint64(b[heapHeaderOff+8:]), int64(le.Uint64(b[heapHeaderOff+16:]))
	var offs []int64
	for range min(zones, 48) {
		if off <= 0 || off+64 > int64(len(b)) {
			break
		}
		offs = append(offs, off)
		off += int64(le.Uint64(b[off+16:]))
	}
	return offs
}

// buildPoolSweep: a pool after 40 transactions, closed. Every byte of it
// but user data is damaged (in a short run, every bit of the headers'
// non-zero bytes and every other byte inverted; in a full run every bit
// of each non-zero byte and of the headers, every byte of each page that
// holds data): user data (the values and the root's
// counters) carries no checksum, as in PMDK and bbolt, and no reader can
// tell a flipped bit there (issue 16 asks for an opt-in checksum; until
// it exists such bytes are left out, and counted). They are found by
// building the pool a second time with every byte of user data
// different: the bytes that differ, outside the undo log, are user data.
func buildPoolSweep(seed uint64, short bool) (*subject, error) {
	im, err := closedPool(seed, sweepPoolTxs, poolFlavor{})
	if err != nil {
		return nil, err
	}
	other, err := closedPool(seed, sweepPoolTxs, poolFlavor{mask: 0xa5a5_a5a5_a5a5_a5a5, valueXor: 0x5a})
	if err != nil {
		return nil, err
	}
	b, ob := im.files[sweepPoolFile], other.files[sweepPoolFile]
	if len(b) != len(ob) {
		return nil, fmt.Errorf("torture: the two builds of the sweep's pool differ in size: %d and %d", len(b), len(ob))
	}
	hdr, err := tx.DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	want, err := intactSnapshot(im)
	if err != nil {
		return nil, err
	}
	bits := make([]bool, len(b)) // every bit swept
	for off := range poolHeadersEnd {
		bits[off] = true
	}
	for off := hdr.LogOff; off < hdr.LogOff+logHeaderSize; off++ {
		bits[off] = true
	}
	for _, z := range zoneHeaders(b) {
		for off := z; off < z+64; off++ {
			bits[off] = true
		}
	}
	written := make([]bool, (len(b)+4095)/4096) // pages with data
	for off, c := range b {
		if c != 0 {
			written[off/4096] = true
		}
	}
	user := 0
	var inputs []mutation
	for off := range b {
		inLog := int64(off) >= hdr.LogOff && int64(off) < hdr.LogOff+hdr.LogSize
		switch {
		case b[off] != ob[off] && !inLog:
			user++
			continue
		case !short && (bits[off] || b[off] != 0), short && bits[off] && b[off] != 0:
			for bit := range 8 {
				inputs = append(inputs, mutation{File: sweepPoolFile, Kind: "bit", Off: int64(off), Bit: uint8(bit)})
			}
		case bits[off] || b[off] != 0 || !short && written[off/4096]:
			inputs = append(inputs, mutation{File: sweepPoolFile, Kind: "byte", Off: int64(off)})
		}
	}
	step := 4096
	if !short {
		step = 64
	}
	for n := 0; n < len(b); n++ {
		if n < poolHeadersEnd && n%8 == 0 || n%step == 0 {
			inputs = append(inputs, mutation{File: sweepPoolFile, Kind: "cut", Off: int64(n)})
		}
	}
	what := "every bit of their non-zero bytes, every other byte of theirs and each non-zero byte inverted"
	if !short {
		what = "every bit of each non-zero byte, every other byte of each page that holds data inverted"
	}
	return &subject{
		image: im,
		files: fmt.Sprintf("a pool of %d bytes after %d transactions (%d bytes of user data left out; every bit of the headers, %s)",
			len(b), sweepPoolTxs, user, what),
		inputs: inputs,
		readers: []reader{
			poolReader("open-check-read", false, seed, want),
			poolReader("read-only", true, seed, want),
		},
	}, nil
}

// crashAt is an Injector that fails every operation from Index on: the
// process is dead from there, and what the file system holds is the
// image of a crash at that operation.
type crashAt struct{ index uint64 }

func (c crashAt) MaybeInject(op faultfs.Op) faultfs.Fault {
	if op.Index >= c.index {
		return faultfs.Error(syscall.EIO)
	}
	return faultfs.Fault{}
}

// buildCrashedPoolSweep: the pool of the clean sweep at transaction 39,
// killed in the middle of writing transaction 40 in place — its log whole
// and durable, some ranges new, some old. Recovery must replay it (the
// redo log of pool format 6: the transaction committed when its log was
// durable), or roll it back (the undo log of older formats), or, if every
// byte made it, keep it; with the log damaged it must say ErrCorrupt,
// never open a transaction half applied. Both a writer's Open and a
// read-only one recover it: a reader that finds no writer holding the
// pool's lock recovers the log itself (engine/tx's doc, Readers and the
// writer).
//
// The crash is found without knowing the commit protocol: a first run
// records the operations of the commit, and the crash falls at the middle
// one of the stores after its first drain (the log durable); a second
// run, identical, fails every operation from there.
func buildCrashedPoolSweep(seed uint64, short bool) (*subject, error) {
	const n = sweepPoolTxs
	clean, err := closedPool(seed, n-1, poolFlavor{})
	if err != nil {
		return nil, err
	}
	commit := func(inj faultfs.Injector, observe func(faultfs.Op)) (*faultfs.FS, poolSnapshot, poolSnapshot, error) {
		fsys, err := clean.fs(mutation{})
		if err != nil {
			return nil, poolSnapshot{}, poolSnapshot{}, err
		}
		p, err := tx.Open[poolTag, poolRoot](fsys, sweepPoolFile, poolOptions(0, nil))
		if err != nil {
			return nil, poolSnapshot{}, poolSnapshot{}, err
		}
		before, err := readPool(p, poolFlavor{})
		if err != nil {
			return nil, poolSnapshot{}, poolSnapshot{}, err
		}
		fsys.SetObserver(observe)
		fsys.SetInjector(inj)
		err = commitPoolOp(p, seed, n, poolFlavor{})
		fsys.SetObserver(nil)
		fsys.SetInjector(nil)
		if inj != nil {
			return fsys, before, poolSnapshot{}, nil // the process is dead: nothing more
		}
		if err != nil {
			return nil, poolSnapshot{}, poolSnapshot{}, err
		}
		after, err := readPool(p, poolFlavor{})
		if err == nil {
			err = p.Close()
		}
		return fsys, before, after, err
	}
	var ops []faultfs.Op
	_, before, after, err := commit(nil, func(op faultfs.Op) { ops = append(ops, op) })
	if err != nil {
		return nil, err
	}
	var stores []uint64
	drains := 0
	for _, op := range ops {
		switch op.Kind {
		case faultfs.OpDrain:
			drains++
		case faultfs.OpRegionWrite, faultfs.OpRegionAtomic:
			if drains >= 1 {
				stores = append(stores, op.Index)
			}
		}
	}
	if drains < 1 || len(stores) < 3 {
		return nil, fmt.Errorf("torture: transaction %d made %d drains and %d stores after the first: not the logged commit expected", n, drains, len(stores))
	}
	crashed, _, _, err := commit(crashAt{stores[len(stores)/2]}, nil)
	if err != nil {
		return nil, err
	}
	im, err := snapshot(crashed.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll}), sweepMounts, "/pmem")
	if err != nil {
		return nil, err
	}
	b := im.files[sweepPoolFile]
	hdr, err := tx.DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	logs, err := logExtents(b, hdr)
	if err != nil {
		return nil, err
	}
	inputs := []mutation{{File: sweepPoolFile, Kind: "intact"}}
	for off := int64(128); off < 152; off++ { // the live line: unclean, epoch, version
		for bit := range 8 {
			inputs = append(inputs, mutation{File: sweepPoolFile, Kind: "bit", Off: off, Bit: uint8(bit)})
		}
	}
	used := int64(0)
	for _, l := range logs {
		used += l.end - l.start
		for off := l.start; off < l.end; off++ {
			if short && off >= l.start+logHeaderSize {
				inputs = append(inputs, mutation{File: sweepPoolFile, Kind: "byte", Off: off})
				continue
			}
			for bit := range 8 {
				inputs = append(inputs, mutation{File: sweepPoolFile, Kind: "bit", Off: off, Bit: uint8(bit)})
			}
		}
	}
	return &subject{
		image: im,
		files: fmt.Sprintf("a pool of %d bytes killed in the middle of transaction %d, its logs of %d bytes (and the live line) damaged",
			len(b), n, used),
		inputs:  inputs,
		readers: []reader{poolReader("open-check-read", false, seed, before, after), poolReader("read-only", true, seed, before, after)},
	}, nil
}

// logExtents returns the bytes of the logs in the pool file b: in format
// 6 (engine/tx's redo.go) each of the two slots of the log area, from the
// start of its header line to the end of the lines its header names; in
// formats 3 to 5 (log.go) the one log the same way. A line holds 56 bytes
// of the log and a mark; the header's length field, at +16, counts the
// bytes of the entries.
func logExtents(b []byte, hdr tx.Header) ([]extent, error) {
	slots := int64(1)
	if hdr.Version >= 6 {
		slots = 2
	}
	var out []extent
	for s := range slots {
		start := hdr.LogOff + s*hdr.LogSize/slots
		length := int64(binary.LittleEndian.Uint64(b[start+16:]))
		end := start + 64*(1+(length+55)/56)
		if length < 0 || end > start+hdr.LogSize/slots {
			return nil, errors.New("torture: the crashed pool's log is longer than its area")
		}
		out = append(out, extent{start, end})
	}
	return out, nil
}

// extent is a range of a file's bytes.
type extent struct{ start, end int64 }
