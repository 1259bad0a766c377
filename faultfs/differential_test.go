package faultfs_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs/fuzz"
	"pgregory.net/rapid"
)

// stepGen draws one differential step, from the same small sets of names
// and flags as fuzz.Decode but with any offset and length nearby.
func stepGen() *rapid.Generator[fuzz.Step] {
	return rapid.Custom(func(t *rapid.T) fuzz.Step {
		return fuzz.Step{
			Kind:  fuzz.Kind(rapid.IntRange(0, int(fuzz.Kinds)-1).Draw(t, "kind")),
			Name:  rapid.IntRange(0, len(fuzz.Names)-1).Draw(t, "name"),
			Name2: rapid.IntRange(0, len(fuzz.Names)-1).Draw(t, "name2"),
			Slot:  rapid.IntRange(0, fuzz.Slots-1).Draw(t, "slot"),
			Flag:  rapid.IntRange(0, len(fuzz.Flags)-1).Draw(t, "flag"),
			Off: rapid.OneOf(rapid.SampledFrom(fuzz.Offsets),
				rapid.Int64Range(-2, 3*engine.PageSize)).Draw(t, "off"),
			Len: rapid.OneOf(rapid.SampledFrom(fuzz.Lengths),
				rapid.Int64Range(0, 3*engine.PageSize)).Draw(t, "len"),
			Fill: rapid.Byte().Draw(t, "fill"),
			Mode: engine.LockMode(rapid.IntRange(1, 2).Draw(t, "mode")),
		}
	})
}

func tempDir(t testing.TB) string {
	dir, err := os.MkdirTemp(fuzz.TempRoot(), "faultfs-diff-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestDifferential runs random operation sequences on faultfs and on the
// OS backend and compares every result, errno for errno.
func TestDifferential(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	rapid.Check(t, func(rt *rapid.T) {
		steps := rapid.SliceOfN(stepGen(), 20, 150).Draw(rt, "steps")
		if err := fuzz.Compare(steps, tempDir(t)); err != nil {
			rt.Fatal(err)
		}
	})
}

// FuzzDifferential is TestDifferential driven by bytes (fuzz.Decode), the
// same decoding as the go-fuzz harness in package fuzz.
func FuzzDifferential(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 3<<2 | 0, 0, 6, 'a', 1, 0, 0, 4, 6, 'b', 2, 0, 0, 0, 7, 0})
	f.Add([]byte{9, 2, 0, 0, 0, 0, 0, 3, 3<<2 | 1, 6, 6, 1, 15, 3, 1, 6, 6, 1, 16, 0, 1, 0, 3, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := fuzz.Compare(fuzz.Decode(data), tempDir(t)); err != nil {
			t.Fatal(err)
		}
	})
}
