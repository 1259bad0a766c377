package vec_test

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/vec"
	"github.com/zeebo/xxh3"
)

// FuzzHeader puts the fuzzer's bytes over the header area of a sample
// vector file — with the slots' checksums made right when forge is set,
// so that the fields themselves reach Validate and Open — cuts the file to
// cut bytes if cut is not zero, and opens it as a writer and as a reader.
// The property: no panic; DecodeHeader of a slot that decodes encodes back
// to the same bytes; every failure is ErrCorrupt, ErrVersion or ErrLayout;
// a vector that opens has its length within its capacity, reads whole, and
// takes an append that a reopening sees.
func FuzzHeader(f *testing.F) {
	_, b := sample(f)
	f.Add(b[:1024], false, uint16(0))
	f.Add(b[:1024], true, uint16(0))
	f.Add(b[:136], false, uint16(0))
	f.Add(b[512:1024], false, uint16(0))
	f.Add(b[:1024], false, uint16(4096+16*3))
	f.Add([]byte("crshVECT"), true, uint16(0))
	f.Add(make([]byte, 1024), true, uint16(1000))
	f.Fuzz(func(t *testing.T, header []byte, forge bool, cut uint16) {
		file := slices.Clone(b)
		copy(file, header[:min(len(header), 1024)])
		if forge {
			for _, s := range []int{0, 512} {
				binary.LittleEndian.PutUint64(file[s+128:], xxh3.Hash(file[s:s+128]))
			}
		}
		if cut != 0 && int(cut) < len(file) {
			file = file[:cut]
		}
		for _, s := range []int{0, 512} {
			if s+136 > len(file) {
				continue
			}
			if h, err := vec.DecodeHeader(file[s:]); err == nil {
				enc := make([]byte, 136)
				h.Encode(enc)
				if !slices.Equal(enc, file[s:s+136]) {
					t.Fatalf("slot at %d decodes to %+v, which encodes to other bytes", s, h)
				}
			} else if !typed(err) {
				t.Fatalf("DecodeHeader: untyped error %v", err)
			}
		}
		for _, ro := range []bool{false, true} {
			fsys := simFS(t)
			w, err := engine.Create(fsys, "/data/v.vec")
			if err != nil {
				t.Fatal(err)
			}
			w.WriteAt(file, 0)
			w.Close()
			v, err := vec.Open[rec](fsys, "/data/v.vec", &vec.Options{ReadOnly: ro})
			if err != nil {
				if !typed(err) {
					t.Fatalf("Open (read-only %v): untyped error %v", ro, err)
				}
				continue
			}
			if v.Len() > v.Cap() {
				t.Fatalf("length %d beyond capacity %d", v.Len(), v.Cap())
			}
			n := len(contents(t, v))
			if !ro {
				if err := v.Push(mkrec(99)); err != nil {
					t.Fatal(err)
				}
			}
			if err := v.Close(); err != nil {
				t.Fatal(err)
			}
			if ro {
				continue
			}
			v, err = vec.Open[rec](fsys, "/data/v.vec", nil)
			if err != nil {
				t.Fatalf("Open after a writer's Close: %v", err)
			}
			if got := contents(t, v); len(got) != n+1 || got[n] != mkrec(99) {
				t.Fatalf("after a Push to %d elements and a Close: %d elements", n, len(got))
			}
			v.Close()
		}
	})
}
