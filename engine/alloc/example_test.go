package alloc_test

import (
	"fmt"
	"log"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/alloc"
	"github.com/crashsim/crashsim/faultfs"
)

// writeThrough is a Journal that writes straight to a region: no undo, so
// no crash consistency, which engine/tx's undo log adds. It is enough for
// a heap used outside transactions, as here.
type writeThrough struct{ r engine.Region }

func (j writeThrough) ReadAt(p []byte, off int64) error {
	_, err := j.r.ReadAt(p, off)
	return err
}

func (j writeThrough) WriteAt(p []byte, off int64) error {
	_, err := j.r.WriteAt(p, off)
	return err
}

func (j writeThrough) InitAt(p []byte, off int64) error { return j.WriteAt(p, off) }

func (j writeThrough) Extend(length int64) error {
	if length <= j.r.Len() {
		return nil
	}
	return j.r.Grow(length)
}

// newRegion returns a mapping of n bytes of a file on a simulated disk.
func newRegion(n int64) engine.Region {
	fsys := faultfs.New(faultfs.Options{})
	f, err := engine.Create(fsys, "/heap")
	if err != nil {
		log.Fatal(err)
	}
	r, err := fsys.Map(f, n)
	if err != nil {
		log.Fatal(err)
	}
	return r
}

// leaves is a Walker for objects that hold no pointers.
type leaves struct{}

func (leaves) Walk(alloc.Ref, func(alloc.Ref)) error { return nil }

// The package doc's example: a heap formatted in new memory, opened, one
// block allocated and freed, the statistics and the check.
func Example() {
	region := newRegion(1 << 20)
	j := writeThrough{region}
	base, first, end, limit := int64(64), int64(alloc.PageSize), region.Len(), int64(0)
	var roots []alloc.Ref // nothing is reachable: every block must be free
	walker := leaves{}

	err := alloc.Format(j, base, first, end) // once, in new memory
	if err != nil {
		log.Fatal(err)
	}
	h, err := alloc.Open(region, base, region.Len(), limit)
	if err != nil {
		log.Fatal(err)
	}

	// In a transaction j:
	off, usable, err := h.Alloc(j, 100) // a block of >= 100 bytes
	if err != nil {
		log.Fatal(err)
	}
	err = h.Free(j, off)
	if err != nil {
		log.Fatal(err)
	}
	h.Commit() // or h.Abort() with the journal's abort

	st, err := h.Stats() // usage and fragmentation
	if err != nil {
		log.Fatal(err)
	}
	err = h.Check(roots, walker) // reachability: leaks, double allocations, bad pointers
	fmt.Println("usable:", usable, "objects:", st.Objects, "zones:", st.Zones, "check:", err)
	// Output: usable: 112 objects: 0 zones: 1 check: <nil>
}
