package faultfs

import (
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/crashsim/crashsim/engine"
	"pgregory.net/rapid"
)

// This file holds a naive reference of the crash rules (doc.go), written
// directly from them with whole byte arrays and no history compaction, and
// a driver that runs random operations on an FS and on the reference. The
// crash tests compare what the FS enumerates with what the reference does by
// brute force.

const refCap = 4 * BlockSize // every test file stays below this size

type refDelta struct {
	seq  int64
	off  int // in the block
	data []byte
	zero bool
}

type refFile struct {
	id       uint64
	medium   engine.Medium
	vol      [refCap]byte
	size     int64
	dur      [refCap]byte
	durSize  int64
	durSeq   int64
	volAlloc map[int64]bool
	durAlloc map[int64]bool
	allocs   map[int64]bool // blocks allocate gave since the last sync (rule 16)
	hist     map[int64][]refDelta
	sizes    []sizeVersion
	stale    map[int64]bool
	drained  map[int64]int64 // block -> when a Drain made it durable
	lineDone map[int64]int64 // PMem line -> when a Drain made it durable
}

type refOp struct {
	seq              int64
	kind             MetaKind
	dir, newDir      uint64
	name, newName    string
	node             uint64
	nodeDir, durable bool
}

// refFS is the reference: a volatile namespace of ids, every namespace
// change since the start, and the files.
type refFS struct {
	ids    uint64
	dirs   map[uint64]map[string]uint64 // volatile
	files  map[uint64]*refFile
	ops    []*refOp
	mounts []Mount
}

// newRefFS returns the reference of New(Options{Mounts: mounts}) for
// mounts on distinct directories right under the root: they are there,
// durable, from the start (rule 12).
func newRefFS(mounts ...Mount) *refFS {
	r := &refFS{ids: 1, dirs: map[uint64]map[string]uint64{1: {}}, files: map[uint64]*refFile{}, mounts: mounts}
	for _, m := range mounts {
		r.mkdir(m.Dir, 0)
		r.ops[len(r.ops)-1].durable = true
	}
	return r
}

// mediumOf returns the medium of a file created at p: that of the longest
// mount whose directory contains p (rule 12).
func (r *refFS) mediumOf(p string) engine.Medium {
	medium, best := engine.MappedFile, ""
	for _, m := range r.mounts {
		if strings.HasPrefix(p, m.Dir+"/") && len(m.Dir) > len(best) {
			medium, best = m.Medium, m.Dir
		}
	}
	return medium
}

// shmDirs returns the ids of the shared-memory mount points.
func (r *refFS) shmDirs() []uint64 {
	var out []uint64
	for _, m := range r.mounts {
		if m.Medium == engine.SharedMemory {
			_, _, id, _ := r.lookup(m.Dir)
			out = append(out, id)
		}
	}
	return out
}

// lookup resolves a clean path: parent id, last name, id (0 if missing).
func (r *refFS) lookup(p string) (parent uint64, name string, id uint64, ok bool) {
	if p == "/" {
		return 0, "/", 1, true
	}
	parts := strings.Split(p[1:], "/")
	dir := uint64(1)
	for _, part := range parts[:len(parts)-1] {
		next, found := r.dirs[dir][part]
		if !found || r.dirs[next] == nil {
			return 0, "", 0, false
		}
		dir = next
	}
	last := parts[len(parts)-1]
	return dir, last, r.dirs[dir][last], true
}

func (r *refFS) record(op *refOp) { r.ops = append(r.ops, op) }

func (r *refFS) create(p string, seq int64) {
	parent, name, id, ok := r.lookup(p)
	if !ok || id != 0 {
		return
	}
	r.ids++
	f := &refFile{id: r.ids, medium: r.mediumOf(p), durSeq: seq, volAlloc: map[int64]bool{}, durAlloc: map[int64]bool{}, allocs: map[int64]bool{},
		hist: map[int64][]refDelta{}, stale: map[int64]bool{}, drained: map[int64]int64{}, lineDone: map[int64]int64{}}
	r.files[f.id] = f
	r.dirs[parent][name] = f.id
	r.record(&refOp{seq: seq, kind: MetaCreate, dir: parent, name: name, node: f.id})
}

func (r *refFS) mkdir(p string, seq int64) {
	parent, name, id, ok := r.lookup(p)
	if !ok || id != 0 {
		return
	}
	r.ids++
	r.dirs[r.ids] = map[string]uint64{}
	r.dirs[parent][name] = r.ids
	r.record(&refOp{seq: seq, kind: MetaMkdir, dir: parent, name: name, node: r.ids, nodeDir: true})
}

func (r *refFS) remove(p string, seq int64) {
	parent, name, id, _ := r.lookup(p)
	delete(r.dirs[parent], name)
	r.record(&refOp{seq: seq, kind: MetaRemove, dir: parent, name: name, node: id, nodeDir: r.dirs[id] != nil})
}

// rename renames oldp to newp; where both are names of one file it does
// nothing and records no change, as rename(2) and faultfs do.
func (r *refFS) rename(oldp, newp string, seq int64) {
	od, on, id, _ := r.lookup(oldp)
	nd, nn, old, _ := r.lookup(newp)
	if old == id {
		return
	}
	delete(r.dirs[od], on)
	r.dirs[nd][nn] = id
	r.record(&refOp{seq: seq, kind: MetaRename, dir: od, name: on, newDir: nd, newName: nn, node: id, nodeDir: r.dirs[id] != nil})
}

func (r *refFS) link(oldp, newp string, seq int64) {
	_, _, id, _ := r.lookup(oldp)
	nd, nn, _, _ := r.lookup(newp)
	r.dirs[nd][nn] = id
	r.record(&refOp{seq: seq, kind: MetaLink, dir: nd, name: nn, node: id})
}

func (r *refFS) syncDir(p string) {
	_, _, id, _ := r.lookup(p)
	for _, op := range r.ops {
		if op.dir == id || (op.kind == MetaRename && op.newDir == id) {
			op.durable = true
		}
	}
}

func (r *refFS) file(p string) *refFile {
	_, _, id, _ := r.lookup(p)
	return r.files[id]
}

// Data rules.

// addDelta records d in block b's history. The first change to a block
// whose changes a failed Sync dropped records the whole block as the page
// cache then holds it (rule 7): a page written back whole, which puts data
// there, or, when the page cache holds no page there (a truncate cut it, or
// it is a hole), a cut of the whole block, which puts none (rule 5: a lost
// cut never reads as garbage).
func (f *refFile) addDelta(b int64, d refDelta) {
	if f.stale[b] && len(f.hist[b]) == 0 {
		delete(f.stale, b)
		d = refDelta{seq: d.seq, data: slices.Clone(f.vol[b*BlockSize : (b+1)*BlockSize]), zero: !f.volAlloc[b]}
	}
	f.hist[b] = append(f.hist[b], d)
}

func (f *refFile) write(p []byte, off int64, seq int64) {
	copy(f.vol[off:], p)
	for o := off; o < off+int64(len(p)); {
		b := o / BlockSize
		end := min((b+1)*BlockSize, off+int64(len(p)))
		f.volAlloc[b] = true
		f.addDelta(b, refDelta{seq: seq, off: int(o - b*BlockSize), data: slices.Clone(p[o-off : end-off])})
		o = end
	}
	if end := off + int64(len(p)); end > f.size {
		f.size = end
		f.sizes = append(f.sizes, sizeVersion{seq, end})
	}
}

func (f *refFile) truncate(size int64, seq int64) {
	switch {
	case size == f.size:
		return
	case size < f.size:
		for b := size / BlockSize; b <= (f.size-1)/BlockSize; b++ {
			if !f.volAlloc[b] && !f.durAlloc[b] {
				continue
			}
			from := int64(0)
			if b == size/BlockSize {
				from = size % BlockSize
			}
			clear(f.vol[b*BlockSize+from : (b+1)*BlockSize])
			if from == 0 {
				f.volAlloc[b] = false
				delete(f.allocs, b) // freed: a later write's block is the write's
			}
			f.addDelta(b, refDelta{seq: seq, off: int(from), data: make([]byte, BlockSize-from), zero: true})
		}
		clear(f.vol[size:])
	}
	f.size = size
	f.sizes = append(f.sizes, sizeVersion{seq, size})
}

// allocate gives every hole of [off, end) a block, which changes no byte,
// and grows the file to end (rule 16).
func (f *refFile) allocate(off, end int64, seq int64) {
	for b := off / BlockSize; b*BlockSize < end; b++ {
		if !f.volAlloc[b] {
			f.volAlloc[b], f.allocs[b] = true, true
		}
	}
	if end > f.size {
		f.size = end
		f.sizes = append(f.sizes, sizeVersion{seq, end})
	}
}

func (f *refFile) promote(b int64) {
	copy(f.dur[b*BlockSize:(b+1)*BlockSize], f.vol[b*BlockSize:(b+1)*BlockSize])
	f.durAlloc[b] = f.volAlloc[b]
	delete(f.hist, b)
}

func (f *refFile) sync(seq int64) {
	for b := range f.hist {
		f.promote(b)
	}
	f.syncAllocs()
	f.durSize, f.durSeq, f.sizes = f.size, seq, nil
	clear(f.drained)
	clear(f.lineDone)
}

// syncRange is the sync that ends a write to an O_DSYNC or O_SYNC file
// (rule 20): the blocks of [off, end) are durable as by sync, and so is
// the metadata — the size, the allocations, and every cut of the other
// blocks: a byte a cut covered is durable as the cut left it, and no
// write made before that cut may bring back what it wrote there; the
// writes left stay pending.
func (f *refFile) syncRange(off, end int64, seq int64) {
	for b, h := range f.hist {
		if b >= off/BlockSize && b*BlockSize < end {
			f.promote(b)
			continue
		}
		// The last cut that covers each byte of the block, or -1.
		var last [BlockSize]int
		for i := range last {
			last[i] = -1
		}
		for j, d := range h {
			if d.zero {
				for k := range d.data {
					last[d.off+k] = j
				}
			}
		}
		var rest []refDelta
		for j, d := range h {
			if d.zero {
				continue
			}
			for k := 0; k < len(d.data); {
				if last[d.off+k] > j {
					k++
					continue
				}
				e := k
				for e < len(d.data) && last[d.off+e] < j {
					e++
				}
				rest = append(rest, refDelta{seq: d.seq, off: d.off + k, data: d.data[k:e]})
				k = e
			}
		}
		for i, j := range last {
			if j >= 0 {
				f.dur[b*BlockSize+int64(i)] = 0
			}
		}
		if len(rest) == 0 {
			f.promote(b)
		} else {
			f.hist[b] = rest
		}
	}
	f.syncAllocs()
	f.durSize, f.durSeq, f.sizes = f.size, seq, nil
	clear(f.drained)
	clear(f.lineDone)
}

// syncAllocs makes the blocks allocate gave durable as it gave them,
// blocks of zeros, where no data made them durable: a block whose data a
// failed Sync dropped (rule 7), or whose writes are still pending after
// the sync of another range (rule 20), keeps the allocation without the
// data (rule 16).
func (f *refFile) syncAllocs() {
	for b := range f.allocs {
		if f.volAlloc[b] && !f.durAlloc[b] {
			f.durAlloc[b] = true
			clear(f.dur[b*BlockSize : (b+1)*BlockSize])
		}
	}
	clear(f.allocs)
}

func (f *refFile) failSync() {
	for b := range f.hist {
		f.stale[b] = true
	}
	clear(f.hist)
}

func (f *refFile) drain(blocks map[int64]bool, seq int64) {
	for b := range blocks {
		if len(f.hist[b]) > 0 {
			f.promote(b)
			f.drained[b] = seq
		}
	}
}

// store is a store through a mapping: on persistent memory, one aligned
// 8-byte word at a time, in address order, as memcpy does (rule 13); else a
// file write. It never extends the file.
func (f *refFile) store(p []byte, off int64, seq int64) {
	if f.medium != engine.PMem {
		f.write(p, off, seq)
		return
	}
	for o := off; o < off+int64(len(p)); {
		end := min((o/8+1)*8, off+int64(len(p)))
		b := o / BlockSize
		copy(f.vol[o:end], p[o-off:end-off])
		f.volAlloc[b] = true
		f.addDelta(b, refDelta{seq: seq, off: int(o - b*BlockSize), data: slices.Clone(p[o-off : end-off])})
		o = end
	}
}

// drainLines is the Drain of a mapping on persistent memory after Flushes
// of the given 64-byte lines: each of them that has a change since it was
// last durable becomes durable with its current content, and only it
// (rule 13).
func (f *refFile) drainLines(lines map[int64]bool, seq int64) {
	for l := range lines {
		b, lo := l*64/BlockSize, int(l*64%BlockSize)
		changed := false
		var rest []refDelta
		for _, d := range f.hist[b] {
			a, z := d.off, d.off+len(d.data)
			if a >= lo+64 || z <= lo {
				rest = append(rest, d)
				continue
			}
			changed = true
			if a < lo {
				rest = append(rest, refDelta{seq: d.seq, off: a, data: d.data[:lo-a], zero: d.zero})
			}
			if z > lo+64 {
				rest = append(rest, refDelta{seq: d.seq, off: lo + 64, data: d.data[lo+64-a:], zero: d.zero})
			}
		}
		if !changed {
			continue
		}
		copy(f.dur[l*64:(l+1)*64], f.vol[l*64:(l+1)*64])
		f.lineDone[l] = seq
		if len(rest) == 0 {
			// The block is durable whole now; it is stored as the page
			// cache's block is (see durAlloc's use in truncate).
			delete(f.hist, b)
			f.durAlloc[b] = f.volAlloc[b]
		} else {
			f.hist[b] = rest
			f.durAlloc[b] = f.durAlloc[b] || f.volAlloc[b]
		}
	}
}

// refUnit is a unit with its raw versions: 0..len(deltas).
type refUnit struct {
	block  int64
	lo, hi int
	deltas []refDelta // the changes touching it, clipped to it
}

func (f *refFile) units(g, sector int) []refUnit {
	if g == 0 { // each medium its unit (rule 15), a profile's on a disk
		g = 4096
		if sector > 0 {
			g = sector
		}
		if f.medium == engine.PMem {
			g = 64
		}
	}
	var out []refUnit
	for _, b := range slices.Sorted(mapsKeys(f.hist)) {
		for lo := 0; lo < BlockSize; lo += g {
			u := refUnit{block: b, lo: lo, hi: lo + g}
			for _, d := range f.hist[b] {
				a, z := max(d.off, lo), min(d.off+len(d.data), lo+g)
				if a < z {
					u.deltas = append(u.deltas, refDelta{seq: d.seq, off: a, data: d.data[a-d.off : z-d.off], zero: d.zero})
				}
			}
			if len(u.deltas) > 0 {
				out = append(out, u)
			}
		}
	}
	return out
}

// content builds the file in a crash state: size version sv, raw version
// versions[i] of units[i] (rules 2, 4, 5).
func (f *refFile) content(sv int, units []refUnit, versions []int, tail Tail) string {
	buf := f.dur
	var writer [refCap]int64
	var later [refCap]bool
	for o := range writer {
		writer[o] = f.durSeq - 1
		if d, ok := f.drained[int64(o/BlockSize)]; ok {
			writer[o] = d
		}
		if d, ok := f.lineDone[int64(o/64)]; ok && d > writer[o] {
			writer[o] = d
		}
	}
	for i, u := range units {
		base := int(u.block) * BlockSize
		for j, d := range u.deltas {
			for k, c := range d.data {
				o := base + d.off + k
				if j < versions[i] {
					buf[o], writer[o] = c, d.seq
				} else if !d.zero {
					later[o] = true
				}
			}
		}
	}
	cuts := []sizeVersion{{f.durSeq, f.durSize}}
	cuts = append(cuts, f.sizes[:sv]...)
	size := cuts[len(cuts)-1].size
	for o := int64(0); o < size; o++ {
		cut := int64(-1 << 62)
		for _, c := range cuts {
			if c.size <= o {
				cut = max(cut, c.seq)
			}
		}
		if writer[o] < cut {
			buf[o] = 0
			if tail.Garbage && later[o] {
				buf[o] = byte(mix64(tail.Seed^mix64(f.id)^uint64(o>>3)) >> (8 * (o & 7)))
			}
		}
	}
	return string(buf[:size])
}

// allows says whether the crash state with size version sv and raw
// versions of units keeps to rule 18c: every extending write a kept size
// covers is kept in each unit that holds bytes it exposed and no later
// size cut.
func (f *refFile) allows(sv int, units []refUnit, versions []int) bool {
	sizes := append([]sizeVersion{{f.durSeq, f.durSize}}, f.sizes[:sv]...)
	for j := 1; j < len(sizes); j++ {
		from, end := sizes[j-1].size, sizes[j].size
		for _, s := range sizes[j+1:] {
			end = min(end, s.size)
		}
		if from >= end {
			continue // a shrink, or an extension cut back: it exposed nothing kept
		}
		for i, u := range units {
			lo, hi := u.block*BlockSize+int64(u.lo), u.block*BlockSize+int64(u.hi)
			if hi <= from || lo >= end {
				continue
			}
			need := 0
			for _, d := range u.deltas {
				if d.seq <= sizes[j].seq {
					need++
				}
			}
			if versions[i] < need {
				return false
			}
		}
	}
	return true
}

// contents returns every content the file can have after a crash, under a
// profile's unit on a disk and its rule 18c.
func (f *refFile) contents(g int, prof Profile, tail Tail, limit int) (map[string]bool, bool) {
	units := f.units(g, prof.Sector)
	n := len(f.sizes) + 1
	for _, u := range units {
		n *= len(u.deltas) + 1
		if n > limit {
			return nil, false
		}
	}
	out := map[string]bool{}
	v := make([]int, len(units))
	for {
		for sv := 0; sv <= len(f.sizes); sv++ {
			if !prof.OrderedSize || f.medium == engine.PMem || f.allows(sv, units, v) {
				out[f.content(sv, units, v, tail)] = true
			}
		}
		i := 0
		for ; i < len(v); i++ {
			v[i]++
			if v[i] <= len(units[i].deltas) {
				break
			}
			v[i] = 0
		}
		if i == len(v) {
			return out, true
		}
	}
}

// namespaces returns the namespace of every crash state: every durable
// change plus each prefix of the others, replayed from the empty root
// (rules 8, 9, 10).
func (r *refFS) namespaces() []map[uint64]map[string]uint64 {
	var nondurable int
	for _, op := range r.ops {
		if !op.durable {
			nondurable++
		}
	}
	var out []map[uint64]map[string]uint64
	for k := 0; k <= nondurable; k++ {
		t := map[uint64]map[string]uint64{1: {}}
		kept := 0
		for _, op := range r.ops {
			if !op.durable {
				if kept >= k {
					continue
				}
				kept++
			}
			switch op.kind {
			case MetaCreate, MetaLink:
				if e := t[op.dir]; e != nil {
					e[op.name] = op.node
				}
			case MetaMkdir:
				if e := t[op.dir]; e != nil {
					e[op.name] = op.node
					t[op.node] = map[string]uint64{}
				}
			case MetaRemove:
				if e := t[op.dir]; e != nil {
					delete(e, op.name)
				}
				if op.nodeDir {
					delete(t, op.node)
				}
			case MetaRename:
				if e := t[op.dir]; e != nil {
					delete(e, op.name)
				}
				if e := t[op.newDir]; e != nil && (!op.nodeDir || t[op.node] != nil) {
					e[op.newName] = op.node
				}
			}
		}
		out = append(out, t)
	}
	return out
}

// images returns every crash image, as canonical strings, or false if
// there are more than limit.
func (r *refFS) images(g int, tail Tail, limit int) (map[string]bool, bool) {
	return r.imagesUnder(g, Profile{}, tail, limit)
}

// imagesUnder returns every crash image under a profile's unit on a disk,
// its rule 18c and its tails: with Garbage, the images whose files on a
// disk all read stale bytes as garbage besides those that read zeros
// (rule 18b).
func (r *refFS) imagesUnder(g int, prof Profile, tail Tail, limit int) (map[string]bool, bool) {
	out, ok := r.imagesTail(g, prof, tail, false, limit)
	if !ok || !prof.Garbage {
		return out, ok
	}
	more, ok := r.imagesTail(g, prof, tail, true, limit)
	if !ok {
		return nil, false
	}
	for img := range more {
		out[img] = true
	}
	return out, len(out) <= limit
}

func (r *refFS) imagesTail(g int, prof Profile, tail Tail, garbage bool, limit int) (map[string]bool, bool) {
	contents := map[uint64][]string{}
	total := 0
	for id, f := range r.files {
		if f.medium == engine.SharedMemory {
			continue // never reached: see below
		}
		t := tail
		if garbage && f.medium != engine.PMem {
			t.Garbage = true
		}
		set, ok := f.contents(g, prof, t, limit)
		if !ok {
			return nil, false
		}
		contents[id] = slices.Sorted(mapsKeys(set))
		total += len(set)
	}
	out := map[string]bool{}
	for _, t := range r.namespaces() {
		// A power failure loses shared memory whole (rule 14).
		for _, id := range r.shmDirs() {
			if t[id] != nil {
				t[id] = map[string]uint64{}
			}
		}
		// Walk the tree: the names, and the files reached.
		var names []string
		var files []uint64
		var paths []string
		var walk func(dir uint64, prefix string)
		walk = func(dir uint64, prefix string) {
			for _, name := range slices.Sorted(mapsKeys(t[dir])) {
				id := t[dir][name]
				p := prefix + name
				if t[id] != nil {
					names = append(names, p+"/")
					walk(id, p+"/")
				} else if r.files[id] != nil {
					files = append(files, id)
					paths = append(paths, p)
				}
			}
		}
		walk(1, "/")
		// Every combination of the contents of the files reached; a file
		// reached twice has one content.
		uniq := slices.Compact(slices.Sorted(slices.Values(files)))
		idx := make([]int, len(uniq))
		n := 1
		for _, id := range uniq {
			n *= len(contents[id])
			if n*len(out) > 50*limit {
				return nil, false
			}
		}
		for {
			chosen := map[uint64]string{}
			for i, id := range uniq {
				chosen[id] = contents[id][idx[i]]
			}
			var img []string
			img = append(img, names...)
			for i, id := range files {
				img = append(img, paths[i]+"="+digest(chosen[id]))
			}
			sort.Strings(img)
			out[strings.Join(img, "\n")] = true
			if len(out) > limit {
				return nil, false
			}
			i := 0
			for ; i < len(idx); i++ {
				idx[i]++
				if idx[i] < len(contents[uniq[i]]) {
					break
				}
				idx[i] = 0
			}
			if i == len(idx) {
				break
			}
		}
	}
	_ = total
	return out, true
}

// image returns the canonical string of fsys's volatile state: the same
// form as refFS.images.
func image(t fataler, fsys engine.FS) string {
	t.Helper()
	var img []string
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatalf("ReadDir(%s): %v", dir, err)
		}
		for _, e := range entries {
			p := path.Join(dir, e.Name())
			if e.IsDir() {
				img = append(img, p+"/")
				walk(p)
				continue
			}
			b, err := engine.ReadFile(fsys, p)
			if err != nil && err != io.EOF {
				t.Fatalf("ReadFile(%s): %v", p, err)
			}
			img = append(img, p+"="+digest(string(b)))
		}
	}
	walk("/")
	sort.Strings(img)
	return strings.Join(img, "\n")
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// failNextSync is an Injector that fails the next Sync with SyncFailure
// when armed.
type failNextSync struct{ armed bool }

func (f *failNextSync) MaybeInject(op Op) Fault {
	if f.armed && op.Kind == OpSync {
		f.armed = false
		return SyncFailure
	}
	return Fault{}
}

// driver runs random operations on an FS and on the reference.
type driver struct {
	t       *rapid.T
	fs      *FS
	ref     *refFS
	log     *Log
	inject  *failNextSync
	regions map[string]engine.Region
	flushed map[string]map[int64]bool
	pmem    bool // most steps are stores, flushes and drains on persistent memory
}

var (
	// driverMounts put persistent memory on /pm and shared memory on /s.
	driverMounts = []Mount{{Dir: "/pm", Medium: engine.PMem}, {Dir: "/s", Medium: engine.SharedMemory}}
	driverFiles  = []string{"/a", "/b", "/d/a", "/d/b", "/pm/a", "/pm/b", "/s/a"}
	driverDirs   = []string{"/", "/d", "/pm", "/s"}
	driverNames  = append(slices.Clone(driverFiles), "/d", "/pm")
)

func newDriver(t *rapid.T) *driver {
	d := &driver{t: t, ref: newRefFS(driverMounts...), log: new(Log), inject: new(failNextSync),
		regions: map[string]engine.Region{}, flushed: map[string]map[int64]bool{}}
	d.fs = New(Options{Observe: d.log.Observe, Injector: d.inject, Mounts: driverMounts})
	d.pmem = rapid.IntRange(0, 2).Draw(t, "pmem focus") == 0
	return d
}

// seq returns the sequence number of the last operation.
func (d *driver) seq() int64 {
	ops := d.log.Ops()
	return int64(ops[len(ops)-1].Index) + 1
}

// open opens name O_RDWR, or returns nil.
func (d *driver) open(name string) engine.File {
	f, err := d.fs.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	return f
}

var offsets = []int64{0, 5, 8, 100, 511, 512, 4000, 4090, 4096, 5000, 8192, 9000}

// step runs one random operation on both.
func (d *driver) step(g int) {
	t := d.t
	files := driverFiles
	if d.pmem {
		files = []string{"/pm/a", "/pm/b", "/pm/a", "/a"}
	}
	name := rapid.SampledFrom(files).Draw(t, "file")
	maxLen := 600
	if g < 64 {
		maxLen = 20
	}
	var op int
	if d.pmem {
		// rapid draws small indices more often: stores, flushes and
		// drains first.
		op = rapid.SampledFrom([]int{10, 11, 12, 10, 11, 2, 0, 5, 4, 8, 9, 6, 3, 7, 1, 13}).Draw(t, "op")
	} else if op = rapid.IntRange(0, 19).Draw(t, "op"); op >= 17 {
		op = 2 // writes are what crash states are made of
	}
	switch op {
	case 0, 1: // create
		f, err := d.fs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err == nil {
			d.ref.create(name, d.seq())
			f.Close()
		}
	case 2, 3: // write
		off := rapid.SampledFrom(offsets).Draw(t, "off")
		n := rapid.IntRange(1, maxLen).Draw(t, "len")
		p := []byte(strings.Repeat(string(rune('A'+rapid.IntRange(0, 25).Draw(t, "fill"))), n))
		if f := d.open(name); f != nil {
			if _, err := f.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
			d.ref.file(name).write(p, off, d.seq())
			f.Close()
		}
	case 14: // a write to an O_DSYNC or O_SYNC file (rule 20)
		off := rapid.SampledFrom(offsets).Draw(t, "off")
		n := rapid.IntRange(1, maxLen).Draw(t, "len")
		p := []byte(strings.Repeat(string(rune('A'+rapid.IntRange(0, 25).Draw(t, "fill"))), n))
		flag := rapid.SampledFrom([]int{engine.O_DSYNC, os.O_SYNC}).Draw(t, "sync flag")
		f, err := d.fs.OpenFile(name, os.O_RDWR|flag, 0)
		if err != nil {
			return
		}
		if _, err := f.WriteAt(p, off); err != nil {
			t.Fatal(err)
		}
		rf := d.ref.file(name)
		rf.write(p, off, d.seq()-1)
		rf.syncRange(off, off+int64(n), d.seq())
		f.Close()
	case 15: // link (rule 22)
		to := rapid.SampledFrom(driverNames).Draw(t, "link to")
		if d.fs.Link(name, to) == nil {
			d.ref.link(name, to, d.seq())
		}
	case 16: // datasync (rule 19)
		if f := d.open(name); f != nil {
			if err := engine.Datasync(f); err != nil {
				t.Fatal(err)
			}
			d.ref.file(name).sync(d.seq())
			f.Close()
		}
	case 13: // allocate
		off := rapid.SampledFrom(offsets).Draw(t, "off")
		n := rapid.Int64Range(1, refCap-off).Draw(t, "len")
		if f := d.open(name); f != nil {
			if err := engine.Allocate(f, off, n); err != nil {
				t.Fatal(err)
			}
			d.ref.file(name).allocate(off, off+n, d.seq())
			f.Close()
		}
	case 4: // truncate
		size := rapid.SampledFrom(offsets).Draw(t, "size")
		if f := d.open(name); f != nil {
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			d.ref.file(name).truncate(size, d.seq())
			f.Close()
		}
	case 5: // sync, sometimes failing
		fail := rapid.IntRange(0, 4).Draw(t, "fail") == 0
		if f := d.open(name); f != nil {
			d.inject.armed = fail
			err := f.Sync()
			if fail {
				if err == nil {
					t.Fatal("SyncFailure: Sync returned nil")
				}
				d.ref.file(name).failSync()
			} else {
				d.ref.file(name).sync(d.seq())
			}
			f.Close()
		}
	case 6: // syncdir
		dir := rapid.SampledFrom(driverDirs).Draw(t, "dir")
		if d.fs.SyncDir(dir) == nil {
			// SyncDir of a name that is now a file fsyncs the file, as
			// the OS does (a rename may have put a file at "/d").
			if f := d.ref.file(dir); f != nil {
				f.sync(d.seq())
			} else {
				d.ref.syncDir(dir)
			}
		}
	case 7: // mkdir
		if _, err := d.fs.Stat("/d"); err != nil && d.fs.MkdirAll("/d", 0o755) == nil {
			d.ref.mkdir("/d", d.seq())
		}
	case 8: // rename
		from := rapid.SampledFrom(driverNames).Draw(t, "from")
		to := rapid.SampledFrom(driverNames).Draw(t, "to")
		if d.fs.Rename(from, to) == nil && from != to {
			d.ref.rename(from, to, d.seq())
		}
	case 9: // remove
		victim := rapid.SampledFrom(driverNames).Draw(t, "victim")
		if d.fs.Remove(victim) == nil {
			d.ref.remove(victim, d.seq())
		}
	case 10, 12: // mapped store, or an atomic one
		off := rapid.SampledFrom(offsets).Draw(t, "off")
		n := rapid.IntRange(1, min(maxLen, 64)).Draw(t, "len")
		if strings.HasPrefix(name, "/pm/") {
			n = min(n, 24) // a line holds n/8 versions per store
		}
		if op == 12 {
			off, n = off&^7, 8
		}
		p := []byte(strings.Repeat(string(rune('a'+rapid.IntRange(0, 25).Draw(t, "fill"))), n))
		f := d.open(name)
		if f == nil {
			return
		}
		defer f.Close()
		r, err := d.fs.Map(f, off+int64(n))
		if err != nil {
			t.Fatal(err)
		}
		rf := d.ref.file(name)
		rf.truncate(max(rf.size, off+int64(n)), d.seq())
		if op == 12 {
			v := uint64(p[0]) * 0x0101010101010101
			if err := r.Store64(off, v); err != nil {
				t.Fatal(err)
			}
		} else if _, err := r.WriteAt(p, off); err != nil {
			t.Fatal(err)
		}
		rf.store(p, off, d.seq())
		if old := d.regions[name]; old != nil {
			old.Close()
		}
		d.regions[name] = r
		d.flushed[name] = map[int64]bool{}
	case 11: // flush and drain
		if len(d.regions) == 0 {
			return
		}
		name = rapid.SampledFrom(slices.Sorted(mapsKeys(d.regions))).Draw(t, "region")
		r := d.regions[name]
		var off, n int64
		switch rapid.IntRange(0, 2).Draw(t, "flush") {
		case 0: // all of it
			off, n = 0, r.Len()
		case 1: // one line where stores go
			off = min(rapid.SampledFrom(offsets).Draw(t, "flushline")&^63, r.Len()-1)
			n = min(64, r.Len()-off)
		default:
			off = rapid.Int64Range(0, r.Len()-1).Draw(t, "flushoff")
			n = rapid.Int64Range(1, r.Len()-off).Draw(t, "flushlen")
		}
		if err := r.Flush(off, n); err != nil {
			return // the region was closed or its file cut
		}
		// Flush units: 64-byte lines on persistent memory, else pages.
		unit := int64(BlockSize)
		if r.Medium() == engine.PMem {
			unit = 64
		}
		for u := off / unit; u <= (off+n-1)/unit; u++ {
			d.flushed[name][u] = true
		}
		if err := r.Drain(); err != nil {
			t.Fatal(err)
		}
		// The region's inode may since have been renamed: drain the file
		// it maps, which the FS knows by the region.
		if rf := d.ref.files[r.(*region).node.id]; rf != nil {
			switch r.Medium() {
			case engine.PMem:
				rf.drainLines(d.flushed[name], d.seq())
			case engine.MappedFile:
				rf.drain(d.flushed[name], d.seq())
			}
		}
		d.flushed[name] = map[int64]bool{}
	}
}

// fataler is what both *testing.T and *rapid.T are.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// setup creates some files and a directory, some of them durable, so that
// the random steps find something to work on.
func (d *driver) setup() {
	t := d.t
	for _, name := range []string{"/a", "/d", "/d/a", "/b", "/pm/a", "/s/a"} {
		if !rapid.Bool().Draw(t, "make "+name) && !(d.pmem && name == "/pm/a") {
			continue
		}
		if name == "/d" {
			if d.fs.MkdirAll(name, 0o755) == nil {
				d.ref.mkdir(name, d.seq())
			}
			continue
		}
		f, err := d.fs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			continue
		}
		d.ref.create(name, d.seq())
		if rapid.Bool().Draw(t, "fill "+name) {
			p := []byte(strings.Repeat("0123456789", 500))
			f.WriteAt(p, 0)
			d.ref.file(name).write(p, 0, d.seq())
			f.Sync()
			d.ref.file(name).sync(d.seq())
		}
		f.Close()
	}
	if rapid.Bool().Draw(t, "sync names") {
		for _, dir := range []string{"/", "/d"} {
			if d.fs.SyncDir(dir) == nil {
				d.ref.syncDir(dir)
			}
		}
	}
}

// digest names file content in an image: its length, a hash and a short
// sample, so that failures stay readable.
func digest(content string) string {
	h := fnv.New64a()
	h.Write([]byte(content))
	sample := strings.TrimRight(content, "\x00")
	if len(sample) > 24 {
		sample = "..." + sample[len(sample)-24:]
	}
	return fmt.Sprintf("%d:%x:%q", len(content), h.Sum64(), sample)
}

// put makes name hold exactly data, durable with its name: create, cut,
// write, Sync, SyncDir of its parent, on both the FS and the reference.
func (d *driver) put(name string, data []byte) {
	t := d.t
	if err := d.fs.MkdirAll(path.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, id, _ := d.ref.lookup(path.Dir(name)); id == 0 {
		d.ref.mkdir(path.Dir(name), d.seq())
	}
	f, err := d.fs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d.ref.create(name, d.seq())
	rf := d.ref.file(name)
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	rf.truncate(0, d.seq())
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 {
		rf.write(data, 0, d.seq())
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	rf.sync(d.seq())
	for _, dir := range []string{path.Dir(name), "/"} {
		if err := d.fs.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		d.ref.syncDir(dir)
	}
}
