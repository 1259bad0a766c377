package faultfs

import (
	"bytes"
	"cmp"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"

	"github.com/crashsim/crashsim/engine"
)

// Tail says what the bytes of a file between its surviving data and its
// size read as in a crash state (rule 5): zeros, or with Garbage, bytes of
// a hash of Seed, the file and the offset, where a write that was lost
// would have put data.
type Tail struct {
	Garbage bool
	Seed    uint64
}

// CrashOptions choose the crash state CrashClone builds.
type CrashOptions struct {
	// Mode is the strategy: LoseAll (the zero value means LoseAll too)
	// keeps only what is durable; KeepAll keeps the whole page cache and
	// namespace, a process crash (F1); InOrderPrefixes keeps everything up
	// to a random global cut; AllSubsets lets every pending unit and size
	// pick a random version and keeps a random prefix of the pending
	// namespace changes.
	Mode Strategy
	// Granularity is the unit of data in bytes for every file: 4096, 512
	// for torn sectors, or a smaller power of two down to 8. 0 gives each
	// file its medium's unit: 64 on persistent memory, 4096 elsewhere
	// (rule 15).
	Granularity int
	// Seed drives the random choices.
	Seed int64
	// Tail is what a file's tail past its surviving data reads as.
	Tail Tail
}

// CrashClone returns a new, independent file system holding the state a
// crash would leave now (docs/DESIGN.md F1, F2): the durable state plus the
// choice among pending units that opts make. The clone has no locks, no
// open files and no pending history: its page cache and its durable state
// are both the chosen state, and its op log starts at Index 0. The live
// file system is not changed. The clone has the mounts of its parent, but
// no Observe and no Injector; set them with SetObserver and SetInjector.
// Every mode but KeepAll is a power failure, which empties shared memory
// (rule 14).
//
// It costs O(names + pending history): the file data are shared, copy on
// write.
func (fsys *FS) CrashClone(opts CrashOptions) *FS {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if fsys.released {
		return releasedFS(fsys.mounts)
	}
	if opts.Mode == KeepAll {
		return fsys.volatileClone()
	}
	mode := opts.Mode
	if mode != InOrderPrefixes && mode != AllSubsets {
		mode = LoseAll
	}
	p := fsys.pending(opts.Granularity, Profile{}, mode != LoseAll)
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x6661756c74667321))
	var c Choice
	switch mode {
	case InOrderPrefixes:
		cuts := p.cuts()
		c = p.cut(cuts[rng.IntN(len(cuts))])
	case AllSubsets:
		c = p.random(rng)
	}
	return p.Clone(c, opts.Tail)
}

// Pending describes what is not yet durable at the instant it was taken:
// the namespace changes, the sizes and the data units that a crash may keep
// or lose, each with its versions (see the crash rules in the package doc).
// A Pending is a snapshot: it stays valid, and its clones stay the same,
// however the file system changes afterwards. Its fields are read-only.
type Pending struct {
	// Granularity is the size of a data unit in bytes, the same for every
	// file, or 0 when each file has its medium's unit (rule 15); each
	// DataUnit has its Len.
	Granularity int
	// Profile is the file system whose crash states the choices are
	// (rule 18): its unit of data on a disk, its tails and its ordering
	// rules. The zero Profile is rules 1 to 17 alone.
	Profile Profile
	// Tails is the number of tails a choice picks from (Choice.Garbage):
	// 2 when the profile lets a stale byte read as garbage and some file
	// on a disk has bytes that a state can make stale (rule 18b), else 1.
	Tails int
	// Meta lists the namespace changes that are not durable, in order. A
	// crash keeps a prefix of them (rule 8).
	Meta []MetaOp
	// Sizes lists the files whose size is not durable.
	Sizes []SizeUnit
	// Data lists the units of file data that have more than one version.
	Data []DataUnit

	root     *inode
	ids      uint64
	mounts   []mountPoint
	base     dirTable
	ops      []metaOp // every change since base, durable or not
	files    map[*inode]*fileSnap
	sizes    []*inode // the inode of each Sizes entry
	units    []unit   // the internals of each Data entry
	paths    map[*inode]string
	order    *ordering // the profile's ordering rules on this snapshot, nil if it has none
	released bool      // taken of a released file system
	// names are the sorted entries of each directory of base, for the
	// fingerprints of clones that keep base as it is (no ops): sorted once
	// here rather than once per clone.
	names map[*inode][]string
}

// MetaOp is a namespace change that is not durable.
type MetaOp struct {
	// Seq is the sequence number of the change: the Index of the
	// operation that made it, plus one.
	Seq     uint64
	Kind    MetaKind
	Path    string
	NewPath string // rename
}

// SizeUnit is the pending size history of one file. Version 0 is the
// durable size; version k is the size after the k-th size change since.
type SizeUnit struct {
	Inode uint64
	Path  string   // the file's name in the page cache's namespace, "" if it has none
	Sizes []int64  // the size of each version
	Seqs  []uint64 // the sequence number of each version; Seqs[0] is 0
	// Medium is the file's medium, as in DataUnit.
	Medium engine.Medium
}

// Versions returns the number of versions a crash may pick from.
func (u SizeUnit) Versions() int { return len(u.Sizes) }

// DataUnit is Len bytes at Off of one file whose content is not durable.
// Version 0 is the durable content; each later version is the content
// after a change to the unit, and differs from the version before it. On
// persistent memory, with 64-byte units, version j is the line after the
// first j of the stores made to it since it was last durable (rule 13).
type DataUnit struct {
	Inode uint64
	Path  string // the file's name in the page cache's namespace, "" if it has none
	Off   int64
	Len   int
	// Medium is the file's medium: engine.PMem, or engine.MappedFile for a
	// disk file (shared memory has no pending units).
	Medium engine.Medium
	// Seqs is the sequence number (Op.Index + 1) of the change that made
	// each version; Seqs[0] is 0.
	Seqs []uint64
}

// Versions returns the number of distinct versions a crash may pick from.
func (u DataUnit) Versions() int { return len(u.Seqs) }

// unit is the internal side of a DataUnit.
type unit struct {
	file  *inode
	block int64
	index int   // unit index in the block
	raw   []int // per version, how many of the block's deltas that touch the unit it applies
	fresh bool  // its block has no durable block: a write there allocates one (rule 18d)
}

// normGranularity rounds g to a power of two in [8, BlockSize]; 0 means
// BlockSize. Pending and CrashClone give 0 its own meaning first (rule 15).
func normGranularity(g int) int {
	if g <= 0 || g >= BlockSize {
		return BlockSize
	}
	n := 8
	for n*2 <= g {
		n *= 2
	}
	return n
}

// Pending returns what is not durable now, with data units of granularity
// bytes for every file (a power of two from 8 to 4096; other positive
// values are rounded down into that range), or with 0 (or less), each
// file's medium's unit: 64 bytes on persistent memory, 4096 elsewhere
// (rule 15). Its states are those of rules 1 to 17 alone: PendingUnder
// with the zero Profile.
func (fsys *FS) Pending(granularity int) *Pending {
	return fsys.PendingUnder(Profile{}, granularity)
}

// PendingUnder returns what is not durable now, described under the
// profile of a file system (rule 18): with granularity 0, the unit of a
// file on a disk is the profile's Sector; its choices pick the profile's
// tails and keep to its ordering rules. A granularity > 0 is the unit of
// every file, as in Pending.
func (fsys *FS) PendingUnder(prof Profile, granularity int) *Pending {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if fsys.released {
		return &Pending{Profile: prof, Tails: 1, mounts: fsys.mounts, released: true} // nothing pending; Clone gives a released FS
	}
	return fsys.pending(granularity, prof, true)
}

// Under returns the same snapshot described under another profile: its
// units, tails and ordering rules are prof's, its namespace changes and
// histories are p's. A Choice of p is a choice of the result only if both
// have the same units (Translate maps one to the other).
func (p *Pending) Under(prof Profile) *Pending {
	if p.released {
		q := *p
		q.Profile = prof
		return &q
	}
	q := &Pending{
		Granularity: p.Granularity, Profile: prof, Meta: p.Meta,
		root: p.root, ids: p.ids, mounts: p.mounts, base: p.base, ops: p.ops,
		files: make(map[*inode]*fileSnap, len(p.files)), paths: p.paths, names: p.names,
	}
	for n, s := range p.files {
		c := *s
		c.g = unitOf(p.Granularity, c.medium, prof.Sector)
		q.files[n] = &c
	}
	q.describe(p.paths)
	return q
}

// pending takes the snapshot; withUnits=false leaves out the description
// of sizes and data, which a lose-all clone does not need. fsys.mu must be
// held.
func (fsys *FS) pending(granularity int, prof Profile, withUnits bool) *Pending {
	p := &Pending{
		Profile: prof,
		Tails:   1,
		root:    fsys.root,
		ids:     fsys.ids,
		mounts:  fsys.mounts,
		base:    fsys.durableBase().clone(),
		ops:     make([]metaOp, len(fsys.ops)),
		files:   map[*inode]*fileSnap{},
	}
	if granularity > 0 {
		p.Granularity = normGranularity(granularity)
	}
	for i, m := range fsys.ops {
		p.ops[i] = *m
	}
	capture := func(n *inode) {
		if n != nil && n.data != nil && p.files[n] == nil {
			s := n.data.snapshot()
			s.g = unitOf(granularity, s.medium, prof.Sector)
			p.files[n] = s
		}
	}
	if len(p.ops) == 0 {
		p.names = make(map[*inode][]string, len(p.base))
	}
	for d, entries := range p.base {
		for _, n := range entries {
			capture(n)
		}
		if p.names != nil {
			p.names[d] = slices.Sorted(maps.Keys(entries))
		}
	}
	for _, m := range fsys.ops {
		capture(m.node)
	}
	// The snapshot shares the durable trees: from now on the file system
	// copies them before changing them.
	fsys.owners.dur = newEpoch()
	fsys.shared = true

	for _, m := range p.ops {
		if !m.durable {
			p.Meta = append(p.Meta, MetaOp{Seq: uint64(m.seq), Kind: m.kind, Path: m.path, NewPath: m.newPath})
		}
	}
	if withUnits {
		p.paths = fsys.paths()
		p.describe(p.paths)
	}
	return p
}

// unitOf returns the unit of data of a file on medium when granularity is
// asked for, under a profile whose unit on a disk is sector (rule 15; 0:
// a block).
func unitOf(granularity int, medium engine.Medium, sector int) int {
	switch {
	case granularity > 0:
		return normGranularity(granularity)
	case medium == engine.PMem:
		return lineSize
	case sector > 0:
		return normGranularity(sector)
	}
	return BlockSize
}

// paths returns a name of every inode in the page cache's namespace.
func (fsys *FS) paths() map[*inode]string {
	out := map[*inode]string{fsys.root: "/"}
	var walk func(d *inode, prefix string)
	walk = func(d *inode, prefix string) {
		for name, n := range d.entries {
			if _, seen := out[n]; seen {
				continue
			}
			out[n] = prefix + name
			if n.isDir() {
				walk(n, prefix+name+"/")
			}
		}
	}
	walk(fsys.root, "/")
	return out
}

// describe fills Sizes and Data, files in inode order, units in offset
// order.
func (p *Pending) describe(paths map[*inode]string) {
	files := slices.SortedFunc(maps.Keys(p.files), func(a, b *inode) int {
		return cmp.Compare(a.id, b.id)
	})
	for _, n := range files {
		s := p.files[n]
		g := s.g
		medium := s.medium
		if medium != engine.PMem {
			medium = engine.MappedFile
		}
		if len(s.sizes) > 0 {
			u := SizeUnit{Inode: n.id, Path: paths[n], Sizes: []int64{s.durSize}, Seqs: []uint64{0}, Medium: medium}
			for _, v := range s.sizes {
				u.Sizes = append(u.Sizes, v.size)
				u.Seqs = append(u.Seqs, uint64(v.seq))
			}
			p.Sizes = append(p.Sizes, u)
			p.sizes = append(p.sizes, n)
		}
		minSize := s.minSize()
		cur := make([]byte, g)
		var zero [BlockSize]byte
		for i, b := range s.blocks {
			durable := &zero
			if blk := s.dur.get(b); blk != nil {
				durable = &blk.data
			}
			deltas := s.dirty[i]
			// Only the units some change touches can have versions.
			var touched [BlockSize / 8 / 64]uint64
			for _, d := range deltas {
				for u := d.off / g; u*g < d.off+d.n; u++ {
					touched[u/64] |= 1 << (u % 64)
				}
			}
			for ui := 0; ui < BlockSize/g; ui++ {
				if touched[ui/64]&(1<<(ui%64)) == 0 {
					continue
				}
				lo, hi := ui*g, (ui+1)*g
				copy(cur, durable[lo:hi])
				du := DataUnit{Inode: n.id, Path: paths[n], Off: b*BlockSize + int64(lo), Len: g, Medium: medium, Seqs: []uint64{0}}
				in := unit{file: n, block: b, index: ui, raw: []int{0}, fresh: s.dur.get(b) == nil}
				touches := 0
				for _, d := range deltas {
					a, z := max(d.off, lo), min(d.off+d.n, hi)
					if a >= z {
						continue
					}
					touches++
					// Equal content is the same version only where no
					// size in the history can make a byte stale.
					var same bool
					if d.data != nil {
						src := d.data[a-d.off : z-d.off]
						same = bytes.Equal(cur[a-lo:z-lo], src)
						copy(cur[a-lo:], src)
					} else {
						same = allZero(cur[a-lo : z-lo])
						clear(cur[a-lo : z-lo])
					}
					if !same || b*BlockSize+int64(z) > minSize {
						du.Seqs = append(du.Seqs, uint64(d.seq))
						in.raw = append(in.raw, touches)
					}
				}
				if len(du.Seqs) > 1 {
					p.Data = append(p.Data, du)
					p.units = append(p.units, in)
				}
			}
		}
	}
	p.Tails = 1
	if p.Profile.Garbage && p.staleable() {
		p.Tails = 2
	}
	p.order = p.ordering()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Clone returns a new, independent file system holding the crash state c
// picks: every durable namespace change plus the first c.Prefix pending
// ones, and for each pending size and data unit the version c picks.
// Entries of c that are missing are 0 (durable); entries out of range are
// clamped to the last version. tail says what a file's tail past its
// surviving data reads as; with c.Garbage, the stale bytes of files on a
// disk read as garbage, seeded by tail.Seed (rule 18b). The clone is as
// described at CrashClone.
func (p *Pending) Clone(c Choice, tail Tail) *FS {
	if p.released {
		return releasedFS(p.mounts)
	}
	// With no namespace change to replay, the durable namespace is read as
	// it is: cloneTree only reads it.
	t := p.base
	if len(p.ops) > 0 {
		t = p.base.clone()
	}
	kept := 0
	for i := range p.ops {
		m := &p.ops[i]
		if !m.durable {
			if kept >= c.Prefix {
				continue
			}
			kept++
		}
		m.apply(t)
	}

	// The raw version each unit of each block keeps.
	want := map[*inode]map[int64][]int{}
	for k, u := range p.units {
		v := pick(c.Data, k, len(u.raw))
		if v == 0 {
			continue
		}
		blocks := want[u.file]
		if blocks == nil {
			blocks = map[int64][]int{}
			want[u.file] = blocks
		}
		if blocks[u.block] == nil {
			blocks[u.block] = make([]int, BlockSize/p.files[u.file].g)
		}
		blocks[u.block][u.index] = u.raw[v]
	}
	sizes := map[*inode]int{}
	for k, n := range p.sizes {
		sizes[n] = pick(c.Sizes, k, len(p.Sizes[k].Sizes))
	}

	build := newEpoch()
	img := cloneTree(p.root, p.ids, p.mounts, func(d *inode) map[string]*inode { return t[d] },
		func(n *inode) *content {
			s := p.files[n]
			t := tail
			if c.Garbage && s.medium != engine.PMem {
				t.Garbage = true
			}
			return s.crashContent(sizes[n], want[n], s.g, t, n.id, build)
		}, p.names)
	img.build = build
	return img
}

// pick returns the version choices[k] picks among n, clamped.
func pick(choices []int, k, n int) int {
	if k >= len(choices) || choices[k] <= 0 {
		return 0
	}
	return min(choices[k], n-1)
}

// cloneTree builds a new file system with the given mounts from the
// namespace reachable from root, where entries gives each directory's
// entries and data each file's content; names, if not nil, has the sorted
// names of each directory's entries, for its fingerprint. Inodes keep their
// ids; an inode reached twice (a crash state can hold two links to one
// file) becomes one inode.
func cloneTree(root *inode, ids uint64, mounts []mountPoint, entries func(*inode) map[string]*inode, data func(*inode) *content, names map[*inode][]string) *FS {
	out := newFS(Options{Mounts: mountsOf(mounts)}, mounts)
	out.ids = ids
	made := map[*inode]*inode{}
	var walk func(old *inode) *inode
	walk = func(old *inode) *inode {
		if n := made[old]; n != nil {
			n.nlink++ // a second name of one file (rule 22)
			out.linked = true
			return n
		}
		n := &inode{id: old.id, mode: old.mode, mnt: old.mnt, pinned: old.pinned, nlink: 1}
		made[old] = n
		if !old.isDir() {
			n.data = data(old)
			n.data.untracked = &out.untracked
			n.data.space = out.space[n.mnt]
			return n
		}
		n.entries = map[string]*inode{}
		for name, child := range entries(old) {
			n.entries[name] = walk(child)
		}
		if sorted, ok := names[old]; ok {
			// Shared by every clone: nodePrint only reads it, and a change
			// of the entries drops the whole cache.
			n.fpc = &dirPrint{names: sorted, kids: make([]Fingerprint, len(sorted))}
		}
		return n
	}
	out.root = walk(root)
	// out.base stays nil: a clone's durable namespace is its namespace,
	// built by durableBase on first need, which most recoveries never have.
	return out
}

// mountsOf returns the Mounts of a mount table, for a clone's Options.
func mountsOf(table []mountPoint) []Mount {
	var out []Mount
	for i, m := range table {
		if i > 0 || m.medium != engine.MappedFile || m.capacity > 0 {
			out = append(out, Mount{Dir: m.dir, Medium: m.medium, Capacity: m.capacity * BlockSize})
		}
	}
	return out
}

// volatileClone is the F1 crash: the page cache and the namespace survive
// whole. fsys.mu must be held.
func (fsys *FS) volatileClone() *FS {
	// The clone shares the page-cache trees: from now on the file system
	// copies them before changing them.
	fsys.owners.vol = newEpoch()
	fsys.shared = true
	return cloneTree(fsys.root, fsys.ids, fsys.mounts, func(d *inode) map[string]*inode { return d.entries },
		func(n *inode) *content {
			c := n.data
			if c.volatile() {
				return &content{medium: c.medium, vol: c.vol, size: c.size, fp: c.fp}
			}
			return &content{medium: c.medium, vol: c.vol, size: c.size, dur: c.vol, durSize: c.size, fp: c.fp}
		}, nil)
}

// sizeCut is a size the file had and when: bytes at or past size were cut
// (or not yet written) at seq.
type sizeCut struct {
	size int64
	seq  int64 // the latest seq of the cuts at or below size
}

// crashContent builds the file's content in a crash state that picks size
// version sv and, per block, the raw versions in want (rules 2 to 5).
func (s *fileSnap) crashContent(sv int, want map[int64][]int, g int, tail Tail, id uint64, epoch uint64) *content {
	size := s.durSize
	cuts := []sizeCut{{s.durSize, s.durSeq}}
	for _, v := range s.sizes[:sv] {
		size = v.size
		cuts = append(cuts, sizeCut{v.size, v.seq})
	}
	sort.SliceStable(cuts, func(i, j int) bool { return cuts[i].size < cuts[j].size })
	for i := 1; i < len(cuts); i++ {
		cuts[i].seq = max(cuts[i].seq, cuts[i-1].seq)
	}
	low := cuts[0].size // bytes in [low, size) may be stale

	rebuild := map[int64]bool{}
	for b := range want {
		rebuild[b] = true
	}
	end := (size + BlockSize - 1) >> blockBits
	if low < size {
		for _, b := range s.blocks {
			if b >= low>>blockBits && b < end {
				rebuild[b] = true
			}
		}
		s.dur.each(low>>blockBits, end, func(b int64, _ *block) { rebuild[b] = true })
	}
	if size&(BlockSize-1) != 0 && s.dur.get(size>>blockBits) != nil {
		rebuild[size>>blockBits] = true
	}

	t := s.dur
	for _, b := range slices.Sorted(maps.Keys(rebuild)) {
		if b < end {
			t.set(b, s.crashBlock(b, want[b], g, size, low, cuts, tail, id, epoch), epoch)
		}
	}
	t.cut(end, epoch)
	return &content{medium: s.medium, vol: t, size: size, dur: t, durSize: size}
}

// crashBlock builds block b: the durable block with, in each unit, the
// first want[unit] deltas that touch it applied; then every byte in
// [low, size) whose last writer is older than the latest cut at or below
// its offset reads as the tail; then zeros past size.
func (s *fileSnap) crashBlock(b int64, want []int, g int, size, low int64, cuts []sizeCut, tail Tail, id uint64, epoch uint64) *block {
	blk := newBlock(epoch)
	if d := s.dur.get(b); d != nil {
		blk.data = d.data
	} else {
		clear(blk.data[:])
	}
	start := b * BlockSize
	staleLo := int(max(low-start, 0))
	staleHi := int(min(size-start, BlockSize))
	checkStale := staleLo < staleHi

	// writer is the seq of the change each byte last came from; later says
	// whether a lost write would have put data there. Only stale checks
	// need them.
	sc := blockScratches.Get().(*blockScratch)
	defer blockScratches.Put(sc)
	var writer []int64
	var later []bool
	if checkStale {
		w := s.durSeq - 1
		if d, ok := s.drained[b]; ok {
			w = d
		}
		writer = sc.writer[:]
		for i := range writer {
			writer[i] = w
		}
		for l := range int64(lineCount) {
			if d, ok := s.lines[b*lineCount+l]; ok && d > w {
				for i := l * lineSize; i < (l+1)*lineSize; i++ {
					writer[i] = d
				}
			}
		}
		later = sc.later[:]
		clear(later)
	}
	count := sc.count[:BlockSize/g]
	clear(count)
	for _, d := range s.history(b) {
		for u := d.off / g; u*g < d.off+d.n; u++ {
			a, z := max(d.off, u*g), min(d.off+d.n, (u+1)*g)
			switch {
			case want != nil && count[u] < want[u]:
				if d.data != nil {
					copy(blk.data[a:z], d.data[a-d.off:z-d.off])
				} else {
					clear(blk.data[a:z])
				}
				for i := a; checkStale && i < z; i++ {
					writer[i] = d.seq
				}
			case d.data != nil:
				for i := a; checkStale && i < z; i++ {
					later[i] = true
				}
			}
			count[u]++
		}
	}
	if checkStale {
		for i := staleLo; i < staleHi; i++ {
			off := start + int64(i)
			if writer[i] >= cutAt(cuts, off) {
				continue
			}
			blk.data[i] = 0
			if tail.Garbage && later[i] {
				blk.data[i] = byte(mix64(tail.Seed^mix64(id)^uint64(off>>3)) >> (8 * (off & 7)))
			}
		}
	}
	if staleHi < BlockSize {
		clear(blk.data[max(staleHi, 0):])
	}
	return blk
}

// blockScratch is crashBlock's working memory, reused: a clone builds
// many blocks, and these would otherwise be most of its garbage.
type blockScratch struct {
	writer [BlockSize]int64
	later  [BlockSize]bool
	count  [BlockSize]int
}

var blockScratches = sync.Pool{New: func() any { return new(blockScratch) }}

// cutAt returns the seq of the latest cut at or below off, or MinInt64.
func cutAt(cuts []sizeCut, off int64) int64 {
	i := sort.Search(len(cuts), func(i int) bool { return cuts[i].size > off })
	if i == 0 {
		return math.MinInt64
	}
	return cuts[i-1].seq
}
