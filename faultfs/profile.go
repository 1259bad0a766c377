package faultfs

import (
	"cmp"
	"maps"
	"math/bits"
	"slices"

	"github.com/crashsim/crashsim/engine"
)

// Profile is what one file system may leave of the files on a disk after a
// power failure (rule 18): of the crash states rules 2 to 10 allow, the
// ones it can produce. The zero Profile is those rules alone, with 4 KiB
// units and zero tails. Files on persistent memory and shared memory
// follow their medium's rules (13, 14) under every profile.
type Profile struct {
	// Name names the profile in options, replay ids and reports.
	Name string
	// Sector is the unit of data of a file on a disk, in bytes (rule 15):
	// 512 where a page written back may tear at its sectors, 4096 where
	// a block reaches the disk whole. 0 means 4096.
	Sector int
	// Garbage lets a stale byte (rule 5) read as garbage, in states of
	// its own beside those where it reads as zero (rule 18b): the file
	// system exposes a block before the data written to it.
	Garbage bool
	// OrderedSize makes a size durable only after the data of the
	// extending writes it covers (rule 18c): data reach the disk before
	// the metadata that exposes them.
	OrderedSize bool
	// RenameFlush makes a rename over an existing file durable only after
	// the size its source had and the data of its new blocks (rule 18d):
	// the replace-via-rename idiom without fsync is safe.
	RenameFlush bool
	// Source says where the rules come from.
	Source string
}

// The profiles of rule 18. The sources: Pillai et al., "All File Systems
// Are Not Created Equal", OSDI 2014 (ALICE), Table 1, the persistence
// properties of Linux file systems; the kernel's documentation; and the
// commits that added the flushes on rename.
var (
	// POSIX is the weakest guarantees anyone may deploy on, ALICE's
	// abstract persistence model: 512-byte sectors tear, a size may
	// expose zeros or garbage, nothing orders data with metadata.
	POSIX = Profile{Name: "posix", Sector: 512, Garbage: true,
		Source: "POSIX (fsync is the only barrier); ALICE's default APM (alicedefaultfs.py: appends leave zeros, then garbage, then data); Table 1: no file system makes a block overwrite atomic, only a sector one"}
	// Ext4Ordered is ext4 mounted with data=ordered, the default: data
	// before the size that exposes it, and auto_da_alloc's flush before a
	// rename over an existing file.
	Ext4Ordered = Profile{Name: "ext4-ordered", Sector: 512, OrderedSize: true, RenameFlush: true,
		Source: "Documentation/admin-guide/ext4.rst (data=ordered: data blocks written before their metadata is committed; auto_da_alloc: replace-via-rename allocates and orders the new file's blocks before the rename commits); ALICE Table 1: appends atomic, append→rename ordered, block overwrites not atomic"}
	// Ext4Writeback is ext4 mounted with data=writeback: metadata
	// journaled, data in no order with it.
	Ext4Writeback = Profile{Name: "ext4-writeback", Sector: 512, Garbage: true,
		Source: "Documentation/admin-guide/ext4.rst (data=writeback: data may reach the disk after the metadata that exposes it, so stale data can appear in files written shortly before the crash; auto_da_alloc's guarantee is for data=ordered); ALICE Table 1: appends may expose garbage, no data ordering"}
	// XFS is xfs: the on-disk size moves at I/O completion, so a size
	// never exposes a block before its data, but a rename does not wait
	// for them.
	XFS = Profile{Name: "xfs", Sector: 512, OrderedSize: true,
		Source: "xfs updates the on-disk size when the data I/O completes and never exposes stale blocks; ALICE Table 1: appends atomic, append→rename not ordered (no flush on rename), block overwrites not atomic"}
	// Btrfs is btrfs with data copy-on-write, the default: a block is
	// written whole to a new place, the size follows the data, and a
	// rename over an existing file flushes the source first.
	Btrfs = Profile{Name: "btrfs", Sector: 4096, OrderedSize: true, RenameFlush: true,
		Source: "copy-on-write data: a block is written elsewhere and referenced only once it is written; the size covers completed data only; kernel commit 5a3f23d515a2 'Btrfs: add extra flushing for renames and truncates' (a rename over an existing file orders the new file's data); ALICE Table 1: append→rename ordered"}
	// POSIX4K is the rules as they were before profiles: posix's ordering,
	// 4 KiB units and zero tails. Replay ids printed then replay under it.
	POSIX4K = Profile{Name: "posix-4k", Sector: 4096,
		Source: "the simulator's default before file-system profiles (issue 10): posix with 4 KiB units and zero tails"}
)

// Profiles are the file systems a violation is judged on, weakest first:
// the profiles reports list.
var Profiles = []Profile{POSIX, Ext4Writeback, XFS, Ext4Ordered, Btrfs}

// ProfileNamed returns the profile of that name: one of Profiles, or
// posix-4k.
func ProfileNamed(name string) (Profile, bool) {
	for _, p := range append(slices.Clone(Profiles), POSIX4K) {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// ordering is a profile's ordering rules (18c, 18d) on one Pending: what
// each size version and each kept rename require.
type ordering struct {
	// sized[k][v] are the least data versions size version v of size
	// unit k requires (rule 18c): the data of every extending write it
	// covers.
	sized [][][]need
	// renames are the renames over an existing file among Meta (rule
	// 18d), in order.
	renames []renameNeed
}

// need is a least version of one unit.
type need struct{ unit, version int }

// renameNeed is what keeping the rename Meta[meta] (-1: a durable one)
// requires of its source: the size version size of size unit sizeUnit
// (-1: its size is durable) and the data of its fresh blocks.
type renameNeed struct {
	meta     int
	sizeUnit int
	size     int
	data     []need
}

// staleable reports whether a state can make a byte of a file on a disk
// stale where a lost change would have put data (rule 5): only then can a
// garbage tail differ from a zero one.
func (p *Pending) staleable() bool {
	for _, s := range p.Sizes {
		if s.Medium == engine.PMem {
			continue
		}
		low := slices.Min(s.Sizes)
		for _, d := range p.Data {
			if d.Inode == s.Inode && d.Off+int64(d.Len) > low {
				return true
			}
		}
	}
	return false
}

// ordering returns the ordering rules of p's profile on p, or nil if it
// has none or they require nothing.
func (p *Pending) ordering() *ordering {
	if !p.Profile.OrderedSize && !p.Profile.RenameFlush {
		return nil
	}
	data := map[uint64][2]int{} // a file's data units: a range of p.Data
	for i, d := range p.Data {
		r, ok := data[d.Inode]
		if !ok {
			r[0] = i
		}
		r[1] = i + 1
		data[d.Inode] = r
	}
	o := &ordering{}
	required := false
	if p.Profile.OrderedSize {
		o.sized = make([][][]need, len(p.Sizes))
		for k, s := range p.Sizes {
			if s.Medium == engine.PMem {
				continue
			}
			o.sized[k] = make([][]need, len(s.Sizes))
			for v := 1; v < len(s.Sizes); v++ {
				o.sized[k][v] = p.extensions(s, v, data[s.Inode])
				required = required || len(o.sized[k][v]) > 0
			}
		}
	}
	if p.Profile.RenameFlush {
		sizeOf := map[uint64]int{}
		for k, s := range p.Sizes {
			sizeOf[s.Inode] = k
		}
		metaAt := map[uint64]int{}
		for i, m := range p.Meta {
			metaAt[m.Seq] = i
		}
		files := slices.SortedFunc(maps.Keys(p.files), func(a, b *inode) int { return cmp.Compare(a.id, b.id) })
		for _, n := range files {
			s := p.files[n]
			if s.medium == engine.PMem {
				continue
			}
			for _, seq := range s.replaced {
				r := uint64(seq)
				// A rename made durable (SyncDir) took the data with it:
				// every state keeps them.
				rn := renameNeed{meta: -1, sizeUnit: -1}
				if i, ok := metaAt[r]; ok {
					rn.meta = i
				}
				if k, ok := sizeOf[n.id]; ok {
					rn.sizeUnit, rn.size = k, last(p.Sizes[k].Seqs, r)
				}
				units := data[n.id]
				for u := units[0]; u < units[1]; u++ {
					if v := last(p.Data[u].Seqs, r); v > 0 && p.units[u].fresh {
						rn.data = append(rn.data, need{u, v})
					}
				}
				if rn.size > 0 || len(rn.data) > 0 {
					o.renames = append(o.renames, rn)
					required = true
				}
			}
		}
		// require stops at the first rename the prefix does not keep.
		slices.SortStableFunc(o.renames, func(a, b renameNeed) int { return cmp.Compare(a.meta, b.meta) })
	}
	if !required {
		return nil
	}
	return o
}

// extensions returns what size version v of s requires (rule 18c): for
// each extending write it covers, the version of every data unit of the
// file, in units (a range of p.Data), that holds bytes the write exposed
// and no later size cut — the unit as it was after that write.
func (p *Pending) extensions(s SizeUnit, v int, units [2]int) []need {
	var out []need
	end := s.Sizes[v] // the least of the sizes from version j to v
	for j := v; j >= 1; j-- {
		end = min(end, s.Sizes[j])
		from := s.Sizes[j-1]
		if from >= end {
			continue
		}
		for u := units[0]; u < units[1]; u++ {
			d := p.Data[u]
			if d.Off >= end || d.Off+int64(d.Len) <= from {
				continue
			}
			if w := last(d.Seqs, s.Seqs[j]); w > 0 {
				out = append(out, need{u, w})
			}
		}
	}
	return out
}

// last returns the last version made at or before seq: the largest t with
// seqs[t] <= seq.
func last(seqs []uint64, seq uint64) int {
	t := 0
	for t+1 < len(seqs) && seqs[t+1] <= seq {
		t++
	}
	return t
}

// require returns the least data versions the ordering rules allow a state
// that keeps the first prefix namespace changes and the size versions
// sizes. It raises in place each size a kept rename needs more of, and
// reports whether it did.
func (o *ordering) require(prefix int, sizes []int, units int) (data []int, raised bool) {
	data = make([]int, units)
	for _, rn := range o.renames {
		if rn.meta >= prefix {
			break
		}
		if rn.sizeUnit >= 0 && sizes[rn.sizeUnit] < rn.size {
			sizes[rn.sizeUnit], raised = rn.size, true
		}
		for _, n := range rn.data {
			data[n.unit] = max(data[n.unit], n.version)
		}
	}
	for k, v := range sizes {
		if k < len(o.sized) && v < len(o.sized[k]) {
			for _, n := range o.sized[k][v] {
				data[n.unit] = max(data[n.unit], n.version)
			}
		}
	}
	return data, raised
}

// Allows reports whether c is a state of p's profile: whether it keeps to
// the ordering rules (18c, 18d). Every choice does under a profile
// without them.
func (p *Pending) Allows(c Choice) bool {
	if p.order == nil {
		return true
	}
	n := p.normal(c)
	return p.Nearest(n).Key() == n.Key()
}

// Nearest returns the state of p's profile that keeps everything c keeps
// and as little more as the ordering rules need: c itself when the profile
// allows it; otherwise the sizes a kept rename over an existing file needs
// of its source (rule 18d), then the data that the sizes and the renames
// need (18c, 18d), are raised to the least versions that have them. A
// choice for two tails keeps its tail only where p has two.
func (p *Pending) Nearest(c Choice) Choice {
	out := p.normal(c)
	if p.order == nil {
		return out
	}
	least, _ := p.order.require(out.Prefix, out.Sizes, len(p.Data))
	for u, v := range least {
		out.Data[u] = max(out.Data[u], v)
	}
	return out
}

// normal returns c as Clone reads it: every entry present, in range.
func (p *Pending) normal(c Choice) Choice {
	out := Choice{Prefix: min(max(c.Prefix, 0), len(p.Meta)), Garbage: c.Garbage && p.Tails > 1,
		Sizes: make([]int, len(p.Sizes)), Data: make([]int, len(p.Data))}
	for k := range out.Sizes {
		out.Sizes[k] = pick(c.Sizes, k, p.Sizes[k].Versions())
	}
	for u := range out.Data {
		out.Data[u] = pick(c.Data, u, p.Data[u].Versions())
	}
	return out
}

// allowedCount counts the states of AllSubsets that the ordering rules
// allow: for each prefix and choice of sizes they allow, the product of
// each data unit's versions from the least one they need. It gives up,
// with the count before the rules and exact false, past 2^16 prefixes and
// choices of sizes.
func (p *Pending) allowedCount() (n uint64, exact bool) {
	combos := append([]int{len(p.Meta) + 1}, sizeRadices(p)...)
	if c, ok := product(combos); !ok || c > 1<<16 {
		all, _ := product(p.radices())
		return all, false
	}
	total := uint64(0)
	p.eachCombo(func(prefix int, sizes []int, least []int) bool {
		m := uint64(p.Tails)
		for u, d := range p.Data {
			hi, lo := bits.Mul64(m, uint64(d.Versions()-least[u]))
			if hi != 0 {
				total = ^uint64(0)
				return false
			}
			m = lo
		}
		if total+m < total {
			total = ^uint64(0)
			return false
		}
		total += m
		return true
	})
	return total, total != ^uint64(0)
}

func sizeRadices(p *Pending) []int {
	r := make([]int, len(p.Sizes))
	for k, s := range p.Sizes {
		r[k] = s.Versions()
	}
	return r
}

// eachCombo calls f with each prefix and choice of sizes the ordering
// rules allow, in mixed-radix order (the prefix the fastest digit), and
// the least data versions they need, until f returns false.
func (p *Pending) eachCombo(f func(prefix int, sizes []int, least []int) bool) {
	r := append([]int{len(p.Meta) + 1}, sizeRadices(p)...)
	d := make([]int, len(r))
	for {
		sizes := slices.Clone(d[1:])
		least, raised := p.order.require(d[0], sizes, len(p.Data))
		if !raised && !f(d[0], d[1:], least) {
			return
		}
		i := 0
		for ; i < len(d); i++ {
			d[i]++
			if d[i] < r[i] {
				break
			}
			d[i] = 0
		}
		if i == len(d) {
			return
		}
	}
}

// allowedProduct yields every state of AllSubsets that the ordering rules
// allow, once each: tails outermost, then prefixes and sizes in
// mixed-radix order, then the data units' versions from the least ones
// the rules need, the first unit the fastest digit.
func (p *Pending) allowedProduct(yield func(Choice) bool) {
	for t := range p.Tails {
		stop := false
		p.eachCombo(func(prefix int, sizes []int, least []int) bool {
			data := slices.Clone(least)
			for {
				if !yield(Choice{Prefix: prefix, Sizes: slices.Clone(sizes), Data: slices.Clone(data), Garbage: t == 1}) {
					stop = true
					return false
				}
				i := 0
				for ; i < len(data); i++ {
					data[i]++
					if data[i] < p.Data[i].Versions() {
						break
					}
					data[i] = least[i]
				}
				if i == len(data) {
					return true
				}
			}
		})
		if stop {
			return
		}
	}
}

// Translate maps a choice of from, a Pending of the same snapshot (from
// Under, or p from from.Under), to the state of p that keeps of each
// block the longest run of its first changes that every unit of from
// over it keeps: the same state when p's units are finer or the same, the
// state whose units lose what any part of them lost when they are coarser.
// The prefix, the sizes and the tail carry over; the result is then moved
// to its Nearest under p's profile.
func (p *Pending) Translate(c Choice, from *Pending) Choice {
	out := Choice{Prefix: c.Prefix, Sizes: slices.Clone(c.Sizes), Garbage: c.Garbage, Data: make([]int, len(p.Data))}
	// runs[file, block] is, per word, the length of the run of the
	// block's first changes that the unit of from over it keeps; a word
	// no unit of from describes (no change there made a version) keeps
	// every change.
	type key struct {
		file  *inode
		block int64
	}
	runs := map[key][]int{} // per 8-byte word of the block: no unit is smaller
	for k, u := range from.units {
		s := from.files[u.file]
		hist := s.history(u.block)
		v := pick(c.Data, k, len(u.raw))
		run := prefixRun(hist, u.index*s.g, (u.index+1)*s.g, u.raw[v])
		b := key{u.file, u.block}
		r := runs[b]
		if r == nil {
			r = make([]int, BlockSize/wordSize)
			for i := range r {
				r[i] = len(hist)
			}
			runs[b] = r
		}
		for w := u.index * s.g / wordSize; w < (u.index+1)*s.g/wordSize; w++ {
			r[w] = min(r[w], run)
		}
	}
	for k, u := range p.units {
		s := p.files[u.file]
		hist := s.history(u.block)
		run := len(hist)
		if r := runs[key{u.file, u.block}]; r != nil {
			for w := u.index * s.g / wordSize; w < (u.index+1)*s.g/wordSize; w++ {
				run = min(run, r[w])
			}
		}
		// The raw count of the unit's own changes within the run.
		raw := 0
		for _, d := range hist[:run] {
			if d.off < (u.index+1)*s.g && d.off+d.n > u.index*s.g {
				raw++
			}
		}
		v := 0
		for v+1 < len(u.raw) && u.raw[v+1] <= raw {
			v++
		}
		out.Data[k] = v
	}
	return p.Nearest(out)
}

// prefixRun returns the length of the shortest run of hist's first changes
// that holds the first raw of those touching bytes [lo, hi).
func prefixRun(hist []delta, lo, hi, raw int) int {
	if raw == 0 {
		return 0
	}
	n := 0
	for i, d := range hist {
		if d.off < hi && d.off+d.n > lo {
			n++
			if n == raw {
				return i + 1
			}
		}
	}
	return len(hist)
}
