package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// allocatedBytes returns how many bytes of name's file the file system
// has allocated blocks for (st_blocks), a hole being none.
func allocatedBytes(t *testing.T, name string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// sparseFile creates a file of size bytes that is a hole but for the
// bytes of data at each offset of at.
func sparseFile(t *testing.T, size int64, data []byte, at ...int64) (*osFile, string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "f")
	f, err := OSFS{}.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, off := range at {
		if _, err := f.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
	}
	return f.(*osFile), name
}

// TestAllocateWithoutFallocate: where the file system refuses fallocate
// (EOPNOTSUPP), Allocate writes, as posix_fallocate does: every block of
// the range gets allocated, the file grows to the range's end, and no
// byte of data changes — neither a block whose probed (last) byte is not
// zero nor one whose probed byte is zero among data.
func TestAllocateWithoutFallocate(t *testing.T) {
	defer func(f func(uintptr, int64, int64) error) { fallocate = f }(fallocate)
	calls := 0
	fallocate = func(uintptr, int64, int64) error { calls++; return errNoFallocate }

	const size = 64 * PageSize
	data := bytes.Repeat([]byte{0xAB}, 100)
	// One block whose last byte is data, one whose last byte is zero.
	f, name := sparseFile(t, size, data, 3*PageSize-100, 7*PageSize+5)
	want := make([]byte, size+PageSize/2)
	copy(want[3*PageSize-100:], data)
	copy(want[7*PageSize+5:], data)
	if got := allocatedBytes(t, name); got >= size {
		t.Fatalf("the test file is not sparse: %d bytes allocated", got)
	}
	if err := f.Allocate(0, size+PageSize/2); err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if calls != 1 {
		t.Errorf("fallocate called %d times, want 1 (then the fallback)", calls)
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Allocate by writing changed the data or the size: %d bytes, want %d", len(got), len(want))
	}
	if a := allocatedBytes(t, name); a < int64(len(want)) {
		t.Errorf("after Allocate by writing, %d bytes are allocated, want at least %d: holes are left", a, len(want))
	}
}

// TestAllocateFallocate: with fallocate, Allocate of a hole allocates it.
func TestAllocateFallocate(t *testing.T) {
	const size = 64 * PageSize
	f, name := sparseFile(t, size, []byte("x"), 0)
	if err := f.Allocate(0, size); err != nil {
		t.Fatalf("Allocate on %s: %v", filepath.Dir(name), err)
	}
	if a := allocatedBytes(t, name); a < size {
		t.Errorf("after Allocate, %d bytes are allocated, want at least %d", a, size)
	}
}
