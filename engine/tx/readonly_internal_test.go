package tx

import (
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// A pool opened ReadOnly and read in Views, after one of its bytes was
// damaged at rest (issue 16's torture, sweep pool/read-only): damage reads
// as a typed error, never as data, never as another package's error, and
// never sizes an allocation.

// openReadOnly opens the pool of fsys read-only.
func openReadOnly(fsys engine.FS) (*Pool[mtag, mroot], error) {
	return Open[mtag, mroot](fsys, cpool, &Options{ReadOnly: true})
}

// allocated returns the bytes allocated by the process while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadOnlyPastTheFile: a pointer or a length that leads past the end
// of the pool's file, read in a View of a read-only pool, is ErrPointer
// or ErrCorrupt, and allocates nothing of its size. Such a View maps the
// file again when a range lies past its mapping (a writer of another
// process may have grown the pool), and read what was past the file with
// the engine's untyped "offset out of range" — having first allocated a
// buffer of the damaged length (a map entry's value length, a blob's
// length in a pool without checksums: up to 4 GiB and 1 TiB).
func TestReadOnlyPastTheFile(t *testing.T) {
	base := metaBase(t, formatMarked) // no checksums: the lengths are read as they are
	ranges := map[string]int64{}
	for _, r := range metaRanges(t, base) {
		name, _, _ := strings.Cut(r.name, " in bucket") // the first map entry is "map entry"
		if _, ok := ranges[name]; !ok {
			ranges[name] = r.off
		}
	}
	boxAt := ranges["root.Box"]
	box := binary.NativeEndian.Uint64(readFile(t, base, boxAt, 8))
	const huge = 1 << 28
	for _, c := range []struct {
		name string
		off  int64
		b    []byte
		read func(*Tx[mtag], mroot) error
	}{
		{"a pointer past the file", boxAt, binary.NativeEndian.AppendUint64(nil, box&^offsetMask|1<<40),
			func(t *Tx[mtag], r mroot) error { _, err := r.Box.Get(t); return err }},
		{"a blob's length past the file", ranges["blob blob header"], binary.LittleEndian.AppendUint64(nil, huge),
			func(t *Tx[mtag], r mroot) error { _, err := r.Blob.Get(t); return err }},
		{"a map entry's value length past the file", ranges["map entry"] + entryVlenOff, binary.LittleEndian.AppendUint32(nil, huge),
			func(t *Tx[mtag], r mroot) error {
				return r.Map.Range(t, func(k, v []byte) bool { return true })
			}},
	} {
		if c.off == 0 {
			t.Fatalf("%s: no such range", c.name)
		}
		fsys := copyFS(base)
		writeFile(t, fsys, c.off, c.b)
		p, err := openReadOnly(fsys)
		if err != nil {
			t.Fatalf("%s: Open: %v", c.name, err)
		}
		var verr error
		n := allocated(func() {
			verr = p.View(func(t *Tx[mtag]) error {
				r, err := p.Root().Get(t)
				if err != nil {
					return err
				}
				return c.read(t, r)
			})
		})
		if !errors.Is(verr, ErrPointer) && !errors.Is(verr, ErrCorrupt) {
			t.Errorf("%s: View = %v, want ErrPointer or ErrCorrupt", c.name, verr)
		}
		if n >= huge/4 {
			t.Errorf("%s: the View allocated %d bytes", c.name, n)
		}
		p.Close()
	}
}
