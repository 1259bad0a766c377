package shm_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/crashsim/crashsim/engine/shm"
	"github.com/zeebo/xxh3"
)

// TestCorruptControl: damage to the control object's identity is
// ErrCorrupt; forged with a valid checksum, each field out of range is
// ErrCorrupt, another version ErrVersion, no magic ErrNotReady.
func TestCorruptControl(t *testing.T) {
	ctl := "/dev/shm/fz_ctrl"
	put32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.NativeEndian.PutUint32(b[off:], v) }
	}
	put64 := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.NativeEndian.PutUint64(b[off:], v) }
	}
	for _, c := range []struct {
		name   string
		change func([]byte)
		forge  bool
		want   error
	}{
		{"a flipped bit", func(b []byte) { b[20] ^= 1 }, false, shm.ErrCorrupt},
		{"a bad magic", func(b []byte) { b[0] = 'x' }, false, shm.ErrCorrupt},
		{"no magic", put64(0, 0), false, shm.ErrNotReady},
		{"another version", put32(8, 2), true, shm.ErrVersion},
		{"a reserved word", put32(12, 1), true, shm.ErrCorrupt},
		{"a chunk size of 4097", put64(16, 4097), true, shm.ErrCorrupt},
		{"a chunk size of 2 GiB", put64(16, 2<<30), true, shm.ErrCorrupt},
		{"another chunk size", put64(16, 4096), true, shm.ErrCorrupt}, // the chunks are 8 KiB
		{"MaxChunks 0", put32(24, 0), true, shm.ErrCorrupt},
		{"MaxChunks beyond the object", put32(24, 1000), true, shm.ErrCorrupt},
		{"prefetch 0", put32(28, 0), true, shm.ErrCorrupt},
		{"prefetch 1001‰", put32(28, 1001), true, shm.ErrCorrupt},
		{"a negative decay", put64(32, 1<<63), true, shm.ErrCorrupt},
		{"TTL 0", put64(40, 0), true, shm.ErrCorrupt},
		{"epoch 0", put64(48, 0), true, shm.ErrCorrupt},
		{"nonce 0", put64(56, 0), true, shm.ErrCorrupt},
		{"another nonce", put64(56, 12345), true, shm.ErrCorrupt}, // its chunks are not its own
	} {
		t.Run(c.name, func(t *testing.T) {
			sm := newSample(t)
			b := sm.read(t, ctl, 0, 72)
			c.change(b)
			if c.forge {
				binary.NativeEndian.PutUint64(b[64:], xxh3.Hash(b[:64]))
			}
			sm.overwrite(t, ctl, b, 0)
			s, err := shm.Attach("fz", sm.o)
			if err == nil {
				// Attached: the damage shows where the chunks are used.
				defer s.Close()
				_, err = s.Resolve(sm.handles[0])
			}
			if !errors.Is(err, c.want) {
				t.Errorf("%v, want %v", err, c.want)
			}
		})
	}
}

// TestCorruptChunk: a chunk that is not what this package writes is
// refused where it is used, with ErrCorrupt: its header damaged, another
// namespace's chunk under its name, a short object, a used word no append
// leaves, an entry with no word before the last, counts beyond the
// entries. Handles of the damaged chunk fail; others still resolve.
func TestCorruptChunk(t *testing.T) {
	put64 := func(off int64, v uint64) func(*testing.T, *sample) {
		return func(t *testing.T, sm *sample) {
			b := make([]byte, 8)
			binary.NativeEndian.PutUint64(b, v)
			sm.overwrite(t, sm.chunk, b, off)
		}
	}
	for _, c := range []struct {
		name    string
		change  func(*testing.T, *sample)
		resolve bool // whether the first chunk's blobs still resolve
	}{
		{"a flipped header bit", func(t *testing.T, sm *sample) { sm.overwrite(t, sm.chunk, []byte{'X'}, 30) }, false},
		{"another version", func(t *testing.T, sm *sample) {
			b := sm.read(t, sm.chunk, 0, 64)
			binary.NativeEndian.PutUint32(b[8:], 2)
			binary.NativeEndian.PutUint64(b[56:], xxh3.Hash(b[:56]))
			sm.overwrite(t, sm.chunk, b, 0)
		}, false},
		{"another namespace's chunk", func(t *testing.T, sm *sample) {
			b := sm.read(t, sm.chunk, 0, 64)
			binary.NativeEndian.PutUint64(b[32:], 99) // its nonce
			binary.NativeEndian.PutUint64(b[56:], xxh3.Hash(b[:56]))
			sm.overwrite(t, sm.chunk, b, 0)
		}, false},
		{"another slot's chunk", func(t *testing.T, sm *sample) {
			b := sm.read(t, sm.chunk, 0, 64)
			binary.NativeEndian.PutUint32(b[12:], 3)
			binary.NativeEndian.PutUint64(b[56:], xxh3.Hash(b[:56]))
			sm.overwrite(t, sm.chunk, b, 0)
		}, false},
		{"a short object", func(t *testing.T, sm *sample) {
			f, _ := sm.fsys.OpenFile(sm.chunk, 2, 0)
			f.Truncate(4096)
			f.Close()
		}, false},
		{"used beyond the chunk", put64(int64(shm.ChunkUsed), 9000), true},
		{"used below the data", put64(int64(shm.ChunkUsed), 8), true},
		{"used misaligned", put64(int64(shm.ChunkUsed), 8000+1), true},
		{"a last size that does not fit", put64(int64(shm.ChunkUsed), 1<<32|200|uint64(shm.DataStart)), true},
		{"an entry with no word before the last", put64(int64(shm.DataStart), 0), true},
		{"an entry word of another size", func(t *testing.T, sm *sample) {
			w := binary.NativeEndian.Uint64(sm.read(t, sm.chunk, int64(shm.DataStart), 8))
			put64(int64(shm.DataStart), w+1)(t, sm)
		}, true},
		{"acknowledgements beyond the acknowledged", put64(128, 5), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sm := newSample(t)
			c.change(t, sm)
			s, err := shm.Attach("fz", sm.o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Check(); !errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, shm.ErrVersion) {
				t.Errorf("Check: %v, want ErrCorrupt", err)
			}
			var walkErr error
			for _, err := range s.Entries() {
				if err != nil {
					walkErr = err
				}
			}
			if c.name != "acknowledgements beyond the acknowledged" && !errors.Is(walkErr, shm.ErrCorrupt) && !errors.Is(walkErr, shm.ErrVersion) {
				t.Errorf("Entries: %v, want ErrCorrupt", walkErr)
			}
			for i, h := range sm.handles {
				got, err := s.Resolve(h)
				first := h.Chunk == sm.handles[0].Chunk
				switch {
				case !first || c.resolve:
					if i == 0 && (c.name == "an entry word of another size" || c.name == "an entry with no word before the last") {
						if !errors.Is(err, shm.ErrNotFound) {
							t.Errorf("Resolve(%v) of the entry whose word is gone: %v, want ErrNotFound", h, err)
						}
					} else if err != nil {
						t.Errorf("Resolve(%v): %v", h, err)
					} else if err == nil && string(got) != string(sm.blobs[i]) {
						t.Errorf("Resolve(%v) = %q", h, abbrev(got))
					}
				case err == nil:
					t.Errorf("Resolve(%v) of the damaged chunk: %q", h, abbrev(got))
				case !errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, shm.ErrVersion):
					t.Errorf("Resolve(%v): %v, want ErrCorrupt", h, err)
				}
			}
		})
	}
}
