package storagetest

import (
	"bytes"
	"encoding/binary"
	"io/fs"
	"math"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

var regionChecks = []check{
	{"Map/Extends", testMapExtends},
	{"Map/LongerFile", testMapLongerFile},
	{"Map/NotReadWrite", testMapNotReadWrite},
	{"Map/ForeignFile", testMapForeignFile},
	{"Map/ClosedFile", testMapClosedFile},
	{"Region/Coherence", testRegionCoherence},
	{"Region/Grow", testRegionGrow},
	{"Region/OutOfRange", testRegionOutOfRange},
	{"Region/Misaligned", testRegionMisaligned},
	{"Region/Closed", testRegionClosed},
	{"Region/Persist", testRegionPersist},
	{"Region/Batch", testRegionBatch},
	{"Region/Atomics", testRegionAtomics},
	{"Region/ConcurrentAtomics", testRegionConcurrentAtomics},
	{"Region/ConcurrentGrow", testRegionConcurrentGrow},
}

const page = engine.PageSize

// mapNew creates name and maps size bytes of it; both are closed when the
// test ends.
func mapNew(t *testing.T, fsys engine.FS, name string, size int64) (engine.File, engine.Region) {
	t.Helper()
	f := openFile(t, fsys, name, rw|os.O_CREATE|os.O_TRUNC)
	r, err := fsys.Map(f, size)
	if err != nil {
		t.Fatalf("Map %s, %d bytes: %v", name, size, err)
	}
	t.Cleanup(func() { r.Close() })
	return f, r
}

// wantFileSize reports unless f is size bytes long.
func wantFileSize(t *testing.T, f engine.File, size int64, what string) {
	t.Helper()
	if fi, err := f.Stat(); err != nil || fi.Size() != size {
		t.Errorf("%s: Stat = %v, %v; want size %d", what, fi, err, size)
	}
}

// wantRegion reports unless r holds want at off, through ReadAt and View.
func wantRegion(t *testing.T, r engine.Region, off int64, want []byte, what string) {
	t.Helper()
	got := make([]byte, len(want))
	if n, err := r.ReadAt(got, off); err != nil || n != len(want) || !bytes.Equal(got, want) {
		t.Errorf("%s: Region.ReadAt(%d bytes, %d) = %d, %v, %q; want %q", what, len(want), off, n, err, got, want)
	}
	if v, err := r.View(off, int64(len(want))); err != nil || !bytes.Equal(v, want) {
		t.Errorf("%s: Region.View(%d, %d) = %q, %v; want %q", what, off, len(want), v, err, want)
	}
}

// wantFile reports unless f holds want at off.
func wantFile(t *testing.T, f engine.File, off int64, want []byte, what string) {
	t.Helper()
	got := make([]byte, len(want))
	if n, err := f.ReadAt(got, off); err != nil || n != len(want) || !bytes.Equal(got, want) {
		t.Errorf("%s: File.ReadAt(%d bytes, %d) = %d, %v, %q; want %q", what, len(want), off, n, err, got, want)
	}
}

func testMapExtends(t *testing.T, fsys engine.FS, dir string) {
	f := openFile(t, fsys, join(dir, "pool"), rw|os.O_CREATE)
	f.WriteAt([]byte("abc"), 0)
	r, err := fsys.Map(f, 2*page)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	defer r.Close()
	if r.Len() != 2*page {
		t.Errorf("Len = %d, want %d", r.Len(), 2*page)
	}
	switch m := r.Medium(); m {
	case engine.PMem, engine.MappedFile, engine.SharedMemory:
	default:
		t.Errorf("Medium = %v, want one of PMem, MappedFile, SharedMemory", m)
	}
	wantFileSize(t, f, 2*page, "after Map of a 3-byte file")
	want := make([]byte, 2*page)
	copy(want, "abc")
	wantRegion(t, r, 0, want, "after Map")
	wantFile(t, f, 0, want, "after Map")
}

func testMapLongerFile(t *testing.T, fsys engine.FS, dir string) {
	f := openFile(t, fsys, join(dir, "pool"), rw|os.O_CREATE)
	f.WriteAt([]byte("end"), 3*page-3)
	r, err := fsys.Map(f, page)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	defer r.Close()
	if r.Len() != page {
		t.Errorf("Len = %d, want %d", r.Len(), page)
	}
	wantFileSize(t, f, 3*page, "Map of a prefix")
	wantFile(t, f, 3*page-3, []byte("end"), "Map of a prefix")
}

func testMapNotReadWrite(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "pool")
	writeFile(t, fsys, name, make([]byte, page))
	for _, flag := range []int{os.O_RDONLY, os.O_WRONLY} {
		f := openFile(t, fsys, name, flag)
		r, err := fsys.Map(f, page)
		wantErr(t, "Map of a file not opened O_RDWR", err, engine.ErrNotSupported)
		if err == nil {
			r.Close()
		}
	}
}

// foreignFile is a File of no backend.
type foreignFile struct{}

func (foreignFile) Name() string                       { return "foreign" }
func (foreignFile) ReadAt([]byte, int64) (int, error)  { return 0, fs.ErrInvalid }
func (foreignFile) WriteAt([]byte, int64) (int, error) { return 0, fs.ErrInvalid }
func (foreignFile) Sync() error                        { return nil }
func (foreignFile) Truncate(int64) error               { return nil }
func (foreignFile) Stat() (fs.FileInfo, error)         { return nil, fs.ErrInvalid }
func (foreignFile) Close() error                       { return nil }

func testMapForeignFile(t *testing.T, fsys engine.FS, dir string) {
	r, err := fsys.Map(foreignFile{}, page)
	wantErr(t, "Map of a File of another backend", err, engine.ErrNotSupported)
	if err == nil {
		r.Close()
	}
}

func testMapClosedFile(t *testing.T, fsys engine.FS, dir string) {
	f := openFile(t, fsys, join(dir, "pool"), rw|os.O_CREATE)
	f.Close()
	r, err := fsys.Map(f, page)
	wantErr(t, "Map of a closed file", err, engine.ErrClosed)
	if err == nil {
		r.Close()
	}
}

func testRegionCoherence(t *testing.T, fsys engine.FS, dir string) {
	f, r := mapNew(t, fsys, join(dir, "pool"), 2*page)
	f.WriteAt([]byte("through the file"), 100)
	wantRegion(t, r, 100, []byte("through the file"), "File.WriteAt seen by the Region")
	if n, err := r.WriteAt([]byte("through the region"), page-4); err != nil || n != 18 {
		t.Errorf("Region.WriteAt = %d, %v", n, err)
	}
	wantFile(t, f, page-4, []byte("through the region"), "Region.WriteAt seen by the File")
	if err := r.Store64(2*page-8, 0x0102030405060708); err != nil {
		t.Errorf("Store64: %v", err)
	}
	var w [8]byte
	binary.NativeEndian.PutUint64(w[:], 0x0102030405060708)
	wantFile(t, f, 2*page-8, w[:], "Store64 seen by the File")
	binary.NativeEndian.PutUint32(w[:4], 0xcafe)
	f.WriteAt(w[:4], 64)
	if v, err := r.Load32(64); err != nil || v != 0xcafe {
		t.Errorf("Load32 after File.WriteAt = %#x, %v; want 0xcafe", v, err)
	}
}

func testRegionGrow(t *testing.T, fsys engine.FS, dir string) {
	f, r := mapNew(t, fsys, join(dir, "pool"), page)
	medium := r.Medium()
	r.WriteAt([]byte("head"), 0)
	r.WriteAt([]byte("tail"), page-4)
	if err := r.Grow(3 * page); err != nil {
		t.Fatalf("Grow: %v", err)
	}
	if r.Len() != 3*page {
		t.Errorf("Len after Grow = %d, want %d", r.Len(), 3*page)
	}
	if r.Medium() != medium {
		t.Errorf("Medium after Grow = %v, want %v", r.Medium(), medium)
	}
	wantFileSize(t, f, 3*page, "after Grow")
	wantRegion(t, r, 0, []byte("head"), "after Grow")
	wantRegion(t, r, page-4, []byte("tail"), "after Grow")
	wantRegion(t, r, page, make([]byte, 2*page), "grown part")
	if _, err := r.WriteAt([]byte("new end"), 3*page-7); err != nil {
		t.Errorf("WriteAt in the grown part: %v", err)
	}
	wantFile(t, f, 3*page-7, []byte("new end"), "store in the grown part")
	if _, err := r.Add64(3*page-16, 5); err != nil {
		t.Errorf("Add64 in the grown part: %v", err)
	}
	if err := engine.Persist(r, 0, 3*page); err != nil {
		t.Errorf("Persist after Grow: %v", err)
	}
	for _, size := range []int64{3 * page, page, 0, -1} {
		if err := r.Grow(size); err != nil {
			t.Errorf("Grow(%d), not above Len: %v, want a no-op", size, err)
		}
	}
	if r.Len() != 3*page {
		t.Errorf("Len after Grow to a smaller size = %d, want %d", r.Len(), 3*page)
	}
	wantFileSize(t, f, 3*page, "after Grow to a smaller size")
}

// regionOp is one Region method applied at an offset: a 2-byte range for
// the byte methods, a word for the atomics.
type regionOp struct {
	name  string
	width int64 // 0: byte method; 4 or 8: atomic of that width
	do    func(r engine.Region, off int64) error
}

var regionOps = []regionOp{
	{"ReadAt", 0, func(r engine.Region, off int64) error { _, err := r.ReadAt(make([]byte, 2), off); return err }},
	{"View", 0, func(r engine.Region, off int64) error { _, err := r.View(off, 2); return err }},
	{"WriteAt", 0, func(r engine.Region, off int64) error { _, err := r.WriteAt([]byte("XY"), off); return err }},
	{"Flush", 0, func(r engine.Region, off int64) error { return r.Flush(off, 2) }},
	{"Load32", 4, func(r engine.Region, off int64) error { _, err := r.Load32(off); return err }},
	{"Store32", 4, func(r engine.Region, off int64) error { return r.Store32(off, 0xffffffff) }},
	{"Add32", 4, func(r engine.Region, off int64) error { _, err := r.Add32(off, 1); return err }},
	{"CompareAndSwap32", 4, func(r engine.Region, off int64) error {
		_, err := r.CompareAndSwap32(off, 0, 0xffffffff)
		return err
	}},
	{"Load64", 8, func(r engine.Region, off int64) error { _, err := r.Load64(off); return err }},
	{"Store64", 8, func(r engine.Region, off int64) error { return r.Store64(off, math.MaxUint64) }},
	{"Add64", 8, func(r engine.Region, off int64) error { _, err := r.Add64(off, 1); return err }},
	{"CompareAndSwap64", 8, func(r engine.Region, off int64) error {
		_, err := r.CompareAndSwap64(off, 0, math.MaxUint64)
		return err
	}},
}

// wantZero reports unless the whole of r is still zero.
func wantZero(t *testing.T, r engine.Region, what string) {
	t.Helper()
	got := make([]byte, r.Len())
	if _, err := r.ReadAt(got, 0); err != nil {
		t.Errorf("%s: ReadAt: %v", what, err)
	} else if i := bytes.IndexFunc(got, func(c rune) bool { return c != 0 }); i >= 0 {
		t.Errorf("%s: byte %d changed to %#x", what, i, got[i])
	}
}

func testRegionOutOfRange(t *testing.T, fsys engine.FS, dir string) {
	_, r := mapNew(t, fsys, join(dir, "pool"), page)
	n := r.Len()
	for _, op := range regionOps {
		offs := []int64{n - 1, n, -1, math.MaxInt64} // a 2-byte range straddling the end, ...
		if op.width > 0 {
			offs = []int64{n, -op.width, math.MaxInt64 - op.width + 1}
		}
		for _, off := range offs {
			wantErr(t, op.name+" at "+itoa(off), op.do(r, off), engine.ErrOutOfRange)
		}
	}
	// Negative lengths.
	_, err := r.View(0, -1)
	wantErr(t, "View of -1 bytes", err, engine.ErrOutOfRange)
	wantErr(t, "Flush of -1 bytes", r.Flush(0, -1), engine.ErrOutOfRange)
	// All or nothing: nothing was stored by a refused WriteAt or atomic.
	wantZero(t, r, "after out-of-range stores")
	// The edges themselves are in range.
	for _, op := range regionOps {
		off := n - 2
		if op.width > 0 {
			off = n - op.width
		}
		if err := op.do(r, off); err != nil {
			t.Errorf("%s at %d, the last in range: %v", op.name, off, err)
		}
	}
	if err := r.Flush(0, n); err != nil {
		t.Errorf("Flush of the whole region: %v", err)
	}
	if v, err := r.View(n, 0); err != nil || len(v) != 0 {
		t.Errorf("View of 0 bytes at Len = %q, %v; want empty, nil", v, err)
	}
}

func testRegionMisaligned(t *testing.T, fsys engine.FS, dir string) {
	_, r := mapNew(t, fsys, join(dir, "pool"), page)
	for _, op := range regionOps {
		if op.width == 0 {
			continue
		}
		for _, off := range []int64{1, op.width / 2, op.width + 2, r.Len() - op.width - 1} {
			wantErr(t, op.name+" at "+itoa(off), op.do(r, off), engine.ErrMisaligned)
		}
	}
	wantZero(t, r, "after misaligned stores")
}

func testRegionClosed(t *testing.T, fsys engine.FS, dir string) {
	f, r := mapNew(t, fsys, join(dir, "pool"), page)
	r.WriteAt([]byte("kept"), 0)
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, op := range regionOps {
		wantErr(t, op.name+" after Close", op.do(r, 0), engine.ErrClosed)
	}
	wantErr(t, "Drain after Close", r.Drain(), engine.ErrClosed)
	wantErr(t, "Grow after Close", r.Grow(2*page), engine.ErrClosed)
	wantErr(t, "second Close", r.Close(), engine.ErrClosed)
	// Unmapping neither closes nor changes the file.
	wantFile(t, f, 0, []byte("kept"), "after the Region is closed")
	wantFileSize(t, f, page, "after Grow of a closed Region")
}

func testRegionPersist(t *testing.T, fsys engine.FS, dir string) {
	_, r := mapNew(t, fsys, join(dir, "pool"), 4*page)
	if err := r.Drain(); err != nil {
		t.Errorf("Drain with nothing flushed: %v", err)
	}
	r.WriteAt(bytes.Repeat([]byte{7}, 3*page), 100)
	for _, c := range []struct{ off, n int64 }{
		{0, 4 * page}, {100, 1}, {page - 1, 2}, {2*page + 17, page}, {3 * page, 0}, {63, 65},
	} {
		if err := r.Flush(c.off, c.n); err != nil {
			t.Errorf("Flush(%d, %d): %v", c.off, c.n, err)
		}
	}
	if err := r.Drain(); err != nil {
		t.Errorf("Drain: %v", err)
	}
	if err := r.Drain(); err != nil {
		t.Errorf("second Drain: %v", err)
	}
	r.Store64(8, 42)
	if err := engine.Persist(r, 8, 8); err != nil {
		t.Errorf("Persist: %v", err)
	}
	wantRegion(t, r, 100, bytes.Repeat([]byte{7}, 3*page), "after Persist")
}

// testRegionBatch: engine.Apply makes a batch's steps as the separate
// calls would, whether the backend is an engine.Batcher or not: the same
// bytes, in order (a later step over an earlier one wins), and at the
// first step that fails its error, the steps before it made and none
// after.
func testRegionBatch(t *testing.T, fsys engine.FS, dir string) {
	_, r := mapNew(t, fsys, join(dir, "pool"), 2*page)
	var b engine.Batch
	b.Store64(64+56, 0xdead)
	b.WriteAt(bytes.Repeat([]byte{1}, 56), 64)
	b.Store64(64+56, 0xbeef)
	b.WriteAt([]byte("over"), 66)
	b.Flush(64, 64)
	b.WriteAt(bytes.Repeat([]byte{2}, page), page-100)
	b.Flush(page-100, page)
	if b.Len() != 7 {
		t.Errorf("Len = %d, want 7", b.Len())
	}
	if err := engine.Apply(r, &b); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := r.Drain(); err != nil {
		t.Errorf("Drain after Apply: %v", err)
	}
	want := make([]byte, 2*page)
	copy(want[64:], bytes.Repeat([]byte{1}, 56))
	binary.NativeEndian.PutUint64(want[64+56:], 0xbeef)
	copy(want[66:], "over")
	copy(want[page-100:], bytes.Repeat([]byte{2}, page))
	wantRegion(t, r, 0, want, "after Apply")

	// A step out of range, then a misaligned one: the steps before each
	// are made, those after are not.
	for _, c := range []struct {
		name string
		bad  func(b *engine.Batch)
		err  error
	}{
		{"a write past the end", func(b *engine.Batch) { b.WriteAt([]byte("xy"), r.Len()-1) }, engine.ErrOutOfRange},
		{"a flush past the end", func(b *engine.Batch) { b.Flush(0, r.Len()+1) }, engine.ErrOutOfRange},
		{"a misaligned Store64", func(b *engine.Batch) { b.Store64(4, 1) }, engine.ErrMisaligned},
	} {
		b.Reset()
		b.WriteAt([]byte("before"), 0)
		c.bad(&b)
		b.WriteAt([]byte("after"), 16)
		wantErr(t, "Apply of a batch with "+c.name, engine.Apply(r, &b), c.err)
		copy(want[0:], "before")
		wantRegion(t, r, 0, want, "after a batch with "+c.name)
	}
	b.Reset()
	if err := engine.Apply(r, &b); err != nil {
		t.Errorf("Apply of an empty batch: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	b.WriteAt([]byte("closed"), 0)
	wantErr(t, "Apply after Close", engine.Apply(r, &b), engine.ErrClosed)
}

func testRegionAtomics(t *testing.T, fsys engine.FS, dir string) {
	_, r := mapNew(t, fsys, join(dir, "pool"), page)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	want32 := func(off int64, want uint32) {
		t.Helper()
		if v, err := r.Load32(off); err != nil || v != want {
			t.Errorf("Load32(%d) = %#x, %v; want %#x", off, v, err, want)
		}
	}
	want64 := func(off int64, want uint64) {
		t.Helper()
		if v, err := r.Load64(off); err != nil || v != want {
			t.Errorf("Load64(%d) = %#x, %v; want %#x", off, v, err, want)
		}
	}

	must("Store32", r.Store32(4, 0xdeadbeef))
	want32(4, 0xdeadbeef)
	want32(0, 0) // neighbours untouched
	want32(8, 0)
	if v, err := r.Add32(4, 1); err != nil || v != 0xdeadbef0 {
		t.Errorf("Add32 = %#x, %v; want 0xdeadbef0", v, err)
	}
	if v, err := r.Add32(4, ^uint32(0)); err != nil || v != 0xdeadbeef { // -1
		t.Errorf("Add32(-1) = %#x, %v; want 0xdeadbeef", v, err)
	}
	if ok, err := r.CompareAndSwap32(4, 1, 2); err != nil || ok {
		t.Errorf("CompareAndSwap32 with a wrong old value = %v, %v; want false", ok, err)
	}
	want32(4, 0xdeadbeef)
	if ok, err := r.CompareAndSwap32(4, 0xdeadbeef, 7); err != nil || !ok {
		t.Errorf("CompareAndSwap32 = %v, %v; want true", ok, err)
	}
	want32(4, 7)

	must("Store64", r.Store64(64, 0x0123456789abcdef))
	want64(64, 0x0123456789abcdef)
	want64(56, 0)
	want64(72, 0)
	if v, err := r.Add64(64, 0x11); err != nil || v != 0x0123456789abce00 {
		t.Errorf("Add64 = %#x, %v; want 0x0123456789abce00", v, err)
	}
	if v, err := r.Add64(64, math.MaxUint64); err != nil || v != 0x0123456789abcdff { // -1
		t.Errorf("Add64(-1) = %#x, %v; want 0x0123456789abcdff", v, err)
	}
	if ok, err := r.CompareAndSwap64(64, 0, 1); err != nil || ok {
		t.Errorf("CompareAndSwap64 with a wrong old value = %v, %v; want false", ok, err)
	}
	want64(64, 0x0123456789abcdff)
	if ok, err := r.CompareAndSwap64(64, 0x0123456789abcdff, math.MaxUint64); err != nil || !ok {
		t.Errorf("CompareAndSwap64 = %v, %v; want true", ok, err)
	}
	want64(64, math.MaxUint64)

	// A word is its bytes: atomics and byte access see each other.
	var w [8]byte
	binary.NativeEndian.PutUint64(w[:], 0x1122334455667788)
	r.WriteAt(w[:], 128)
	want64(128, 0x1122334455667788)
	want32(128, binary.NativeEndian.Uint32(w[:4]))
	want32(132, binary.NativeEndian.Uint32(w[4:]))
	must("Store32", r.Store32(132, 0))
	binary.NativeEndian.PutUint32(w[4:], 0)
	wantRegion(t, r, 128, w[:], "after Store32 into a word")
}

func testRegionConcurrentAtomics(t *testing.T, fsys engine.FS, dir string) {
	_, r := mapNew(t, fsys, join(dir, "pool"), page)
	const (
		workers = 8
		rounds  = 1000
		counter = 0   // Add64 by every worker
		cas64   = 64  // CompareAndSwap64 loop by every worker
		cas32   = 128 // CompareAndSwap32 loop by every worker
		words   = 256 // worker i adds to the 4-byte word words+4i only
	)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for range rounds {
				if _, err := r.Add64(counter, 1); err != nil {
					t.Errorf("Add64: %v", err)
					return
				}
				if _, err := r.Add32(words+4*int64(i), 1); err != nil {
					t.Errorf("Add32: %v", err)
					return
				}
				for {
					v, err := r.Load64(cas64)
					if err != nil {
						t.Errorf("Load64: %v", err)
						return
					}
					ok, err := r.CompareAndSwap64(cas64, v, v+1)
					if err != nil {
						t.Errorf("CompareAndSwap64: %v", err)
						return
					}
					if ok {
						break
					}
				}
				for {
					v, err := r.Load32(cas32)
					if err != nil {
						t.Errorf("Load32: %v", err)
						return
					}
					ok, err := r.CompareAndSwap32(cas32, v, v+1)
					if err != nil {
						t.Errorf("CompareAndSwap32: %v", err)
						return
					}
					if ok {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if v, err := r.Load64(counter); err != nil || v != workers*rounds {
		t.Errorf("counter after %d×%d Add64 = %d, %v", workers, rounds, v, err)
	}
	if v, err := r.Load64(cas64); err != nil || v != workers*rounds {
		t.Errorf("counter after %d×%d CompareAndSwap64 increments = %d, %v", workers, rounds, v, err)
	}
	if v, err := r.Load32(cas32); err != nil || v != workers*rounds {
		t.Errorf("counter after %d×%d CompareAndSwap32 increments = %d, %v", workers, rounds, v, err)
	}
	for i := range int64(workers) {
		if v, err := r.Load32(words + 4*i); err != nil || v != rounds {
			t.Errorf("word %d after %d Add32 by its own worker = %d, %v", i, rounds, v, err)
		}
	}
}

// testRegionConcurrentGrow grows a Region while other goroutines use it:
// Grow must neither lose their stores nor let them touch a stale mapping.
func testRegionConcurrentGrow(t *testing.T, fsys engine.FS, dir string) {
	f, r := mapNew(t, fsys, join(dir, "pool"), page)
	const (
		workers = 4
		rounds  = 500
	)
	var wg sync.WaitGroup
	for i := range int64(workers) {
		wg.Go(func() {
			mark := []byte{byte('a' + i)}
			for j := range int64(rounds) {
				if _, err := r.Add64(0, 1); err != nil {
					t.Errorf("Add64 during Grow: %v", err)
					return
				}
				// Worker i owns the bytes at 8+workers*j+i.
				off := 8 + workers*j + i
				if _, err := r.WriteAt(mark, off); err != nil {
					t.Errorf("WriteAt during Grow: %v", err)
					return
				}
				if err := r.Flush(off, 1); err != nil {
					t.Errorf("Flush during Grow: %v", err)
					return
				}
			}
		})
	}
	for size := int64(2 * page); size <= 16*page; size += page {
		if err := r.Grow(size); err != nil {
			t.Errorf("Grow(%d): %v", size, err)
		}
	}
	wg.Wait()
	if err := r.Drain(); err != nil {
		t.Errorf("Drain: %v", err)
	}
	if v, err := r.Load64(0); err != nil || v != workers*rounds {
		t.Errorf("counter after %d×%d Add64 during Grow = %d, %v", workers, rounds, v, err)
	}
	want := bytes.Repeat([]byte("abcd"[:workers]), rounds)
	wantRegion(t, r, 8, want, "bytes stored during Grow")
	wantFile(t, f, 8, want, "bytes stored during Grow")
	wantFileSize(t, f, 16*page, "after the Grows")
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
