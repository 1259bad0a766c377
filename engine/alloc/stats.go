package alloc

import "fmt"

// Stats describes the usage and fragmentation of a heap.
type Stats struct {
	// Arena is the bytes of every zone, metadata included; Zones their number.
	Arena int64
	Zones int
	// Used is the bytes of allocated blocks: a small block counts its
	// class's size, a large one its whole pages. Objects is their number.
	Used    int64
	Objects int64
	// Free is the bytes available to allocations: free pages and the free
	// blocks of runs.
	Free int64
	// FreePages is the pages in free blocks; FreeExtents the number of
	// those blocks (free blocks are always merged, so each is bounded by
	// used memory); LargestFree the bytes of the largest.
	FreePages   int64
	FreeExtents int
	LargestFree int64
	// Fragmentation is 1 - LargestFree / (FreePages * PageSize): 0 when
	// the free pages are one extent, near 1 when they are many small ones.
	Fragmentation float64
	// Runs is the number of runs; RunWaste the bytes of their pages that
	// hold no block (headers, bitmaps, tails).
	Runs     int
	RunWaste int64
	// Classes has one entry per size class that has runs.
	Classes []ClassStats
}

// ClassStats describes the runs of one size class.
type ClassStats struct {
	Size   int64 // bytes per block
	Runs   int
	Blocks int // blocks in its runs
	Used   int // blocks allocated
}

func (s Stats) String() string {
	return fmt.Sprintf("arena %d B in %d zones; used %d B in %d objects; free %d B (%d pages in %d extents, largest %d B, fragmentation %.2f); %d runs",
		s.Arena, s.Zones, s.Used, s.Objects, s.Free, s.FreePages, s.FreeExtents, s.LargestFree, s.Fragmentation, s.Runs)
}

// Stats returns the heap's usage, reading the bitmap of every run not yet
// read. It must not be called during a transaction.
func (h *Heap) Stats() (Stats, error) {
	if err := h.loadAll(); err != nil {
		return Stats{}, err
	}
	var s Stats
	s.Zones = len(h.zones)
	perClass := make([]ClassStats, numClasses)
	for _, z := range h.zones {
		s.Arena += z.size
		for p := uint32(0); p < z.npages; p++ {
			if z.owner[p] == 0 || z.owner[p]-1 != p {
				continue
			}
			r := z.runs[p]
			if r == nil {
				s.Used += int64(z.length[p]) * PageSize
				s.Objects++
				continue
			}
			cs := &perClass[r.class]
			cs.Runs++
			cs.Blocks += geometries[r.class].nblocks
			cs.Used += r.used
		}
	}
	h.free.Ascend(func(k uint64) bool {
		n, _, _ := unpackKey(k)
		s.FreePages += int64(n)
		s.FreeExtents++
		s.LargestFree = max(s.LargestFree, int64(n)*PageSize)
		return true
	})
	s.Free = s.FreePages * PageSize
	if s.FreePages > 0 {
		s.Fragmentation = 1 - float64(s.LargestFree)/float64(s.FreePages*PageSize)
	}
	for c, cs := range perClass {
		if cs.Runs == 0 {
			continue
		}
		g := &geometries[c]
		cs.Size = g.size
		s.Runs += cs.Runs
		s.RunWaste += int64(cs.Runs) * (g.pages*PageSize - int64(g.nblocks)*g.size)
		s.Used += int64(cs.Used) * g.size
		s.Objects += int64(cs.Used)
		s.Free += int64(cs.Blocks-cs.Used) * g.size
		s.Classes = append(s.Classes, cs)
	}
	return s, nil
}
