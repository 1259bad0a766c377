package tx

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// The live line damaged at rest (header.go): a writer's Open finds it.

type lroot struct {
	Mu Mutex
	N  int64
}

func lockOf(p *Pool[mtag, lroot]) Ptr[mtag, Mutex] {
	return Field(p.Root(), func(r *lroot) *Mutex { return &r.Mu })
}

// crashedHoldingLock returns the image of a pool whose third writer's
// open (epoch 3) took its Mutex and crashed holding it.
func crashedHoldingLock(t *testing.T) *faultfs.FS {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Create[mtag, lroot](fsys, cpool, &Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if p, err = Open[mtag, lroot](fsys, cpool, nil); err != nil {
			t.Fatal(err)
		}
	}
	if p.Info().Epoch != 3 {
		t.Fatalf("epoch %d", p.Info().Epoch)
	}
	err = p.Update(func(t *Tx[mtag]) error {
		ok, err := TryLock(t, lockOf(p))
		if err == nil && !ok {
			err = errors.New("the lock is held")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	img := copyFS(fsys) // the process dies holding the lock
	p.Close()
	return img
}

// TestDamagedEpoch: a writer's Open after a crash frees the persistent
// locks of the crashed open, whose epoch is over — unless the epoch word
// is damaged into an earlier epoch, which the open then takes again: a
// flipped bit made the lock that the crashed open held look held still
// (and would have reused that open's sequence numbers). The epoch word
// now holds a check of the epoch, and every flip of one of its bits is
// ErrCorrupt; a word without a check (its high half 0, as an older
// release wrote it) is taken as it is.
func TestDamagedEpoch(t *testing.T) {
	base := crashedHoldingLock(t)
	p, err := Open[mtag, lroot](copyFS(base), cpool, nil)
	if err != nil {
		t.Fatal(err)
	}
	var held bool
	err = p.View(func(t *Tx[mtag]) error {
		held, err = IsLocked(t, lockOf(p))
		return err
	})
	p.Close()
	if err != nil || held {
		t.Fatalf("after the crash, the lock: held %v, %v", held, err)
	}
	good := readFile(t, base, epochOff, 8)
	for bit := range 64 {
		fsys := copyFS(base)
		writeFile(t, fsys, epochOff+int64(bit/8), []byte{good[bit/8] ^ 1<<(bit%8)})
		p, err := Open[mtag, lroot](fsys, cpool, nil)
		if err == nil {
			var held bool
			verr := p.View(func(t *Tx[mtag]) error {
				held, err = IsLocked(t, lockOf(p))
				return err
			})
			t.Errorf("bit %d of the epoch word flipped: Open succeeds, at epoch %d (the lock held: %v, %v)", bit, p.Info().Epoch, held, verr)
			p.Close()
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("bit %d of the epoch word flipped: Open = %v, want ErrCorrupt", bit, err)
		}
	}
	// A word without a check: its epoch is taken.
	fsys := copyFS(base)
	writeFile(t, fsys, epochOff, binary.NativeEndian.AppendUint64(nil, 7))
	p, err = Open[mtag, lroot](fsys, cpool, nil)
	if err != nil {
		t.Fatalf("an epoch word without a check: %v", err)
	}
	if p.Info().Epoch != 8 {
		t.Errorf("after an epoch word of 7 without a check: epoch %d, want 8", p.Info().Epoch)
	}
	p.Close()
}

// TestDamagedLiveLine: an unclean flag other than 0 or 1, and a damaged
// byte of the live line's reserved bytes, are ErrCorrupt at a writer's
// Open; they were taken as they were (an unclean flag of 2 reported the
// pool unclean).
func TestDamagedLiveLine(t *testing.T) {
	base := crashedHoldingLock(t)
	for _, c := range []struct {
		name string
		off  int64
	}{
		{"bit 1 of the unclean flag", uncleanOff},
		{"the first reserved byte", versionOff + 8},
		{"the last reserved byte", heapHeaderOff - 1},
	} {
		fsys := copyFS(base)
		b := readFile(t, fsys, c.off, 1)
		writeFile(t, fsys, c.off, []byte{b[0] ^ 2})
		p, err := Open[mtag, lroot](fsys, cpool, nil)
		if err == nil {
			p.Close()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s flipped: Open = %v, want ErrCorrupt", c.name, err)
		}
	}
}

// TestIsLockedReadOnly: a View of a read-only pool sees the persistent
// locks of the writer that has the pool open. It compared the lock's
// epoch with its own, 0, and found every lock free.
func TestIsLockedReadOnly(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{{Dir: "/pmem", Medium: engine.PMem}}})
	if err := fsys.MkdirAll("/pmem", 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := Create[mtag, lroot](fsys, cpool, &Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open[mtag, lroot](fsys, cpool, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	held := func(when string, want bool) {
		t.Helper()
		var got bool
		err := r.View(func(t *Tx[mtag]) (err error) {
			got, err = IsLocked(t, lockOf(r))
			return err
		})
		if err != nil || got != want {
			t.Errorf("%s: IsLocked in a read-only pool = %v, %v; want %v", when, got, err, want)
		}
	}
	lock := func(take bool) {
		t.Helper()
		err := w.Update(func(t *Tx[mtag]) error {
			if !take {
				return Unlock(t, lockOf(w))
			}
			ok, err := TryLock(t, lockOf(w))
			if err == nil && !ok {
				err = errors.New("the lock is held")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	held("free", false)
	lock(true)
	held("taken by the writer", true)
	lock(false)
	held("released", false)
	lock(true)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	held("held when its writer closed the pool", false)
}
