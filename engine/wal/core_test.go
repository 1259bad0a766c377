package wal

import (
	"errors"
	"syscall"
	"testing"
)

// coreWith returns a core at the start of segment seg, with frames of n
// bytes each appended.
func coreWith(segSize int64, frames ...int) *core {
	c := &core{segSize: segSize, spareCap: 1 << 20, seg: 1, off: HeaderSize}
	for _, n := range frames {
		payload := make([]byte, n-FrameHeaderSize)
		c.appended(appendFrame(c.buf, KindEntry, c.last+1, payload), c.last+1)
	}
	return c
}

func TestCoreRoundTakesTheBuffer(t *testing.T) {
	c := coreWith(4096, 100, 100)
	r := c.next(true, false)
	if r.seg != 1 || r.off != HeaderSize || len(r.data) != 200 || r.last != 2 || !r.sync || r.seal {
		t.Fatalf("round %+v", r)
	}
	if !c.busy || len(c.buf) != 0 || c.off != HeaderSize+200 {
		t.Fatalf("after next: busy %v, buffered %d, off %d", c.busy, len(c.buf), c.off)
	}
	// Appends during the round go after its data, into another buffer.
	c.appended(appendFrame(c.buf, KindEntry, 3, make([]byte, 80)), 3)
	if &c.buf[0] == &r.data[0] {
		t.Fatal("the round's data and the new appends share a buffer")
	}
	c.done(r, nil)
	if c.busy || c.written != 2 || c.durable != 2 || c.last != 3 {
		t.Fatalf("after done: %+v", c)
	}
	r = c.next(false, false)
	if r.off != HeaderSize+200 || r.last != 3 || r.sync {
		t.Fatalf("second round %+v", r)
	}
	c.done(r, nil)
	if c.written != 3 || c.durable != 2 {
		t.Fatalf("a flush round made entries durable: written %d durable %d", c.written, c.durable)
	}
}

func TestCoreSealRound(t *testing.T) {
	c := coreWith(512, 200, 200)
	if c.fits(200) {
		t.Fatal("a third 200-byte frame fits in 512 bytes with the header and a seal")
	}
	if !c.fits(512 - HeaderSize - 400 - sealSize) {
		t.Fatal("a frame that leaves exactly room for the seal does not fit")
	}
	r := c.next(false, true)
	if !r.seal || !r.sync || r.create != 3 || len(r.data) != 400+sealSize {
		t.Fatalf("seal round %+v", r)
	}
	f, n, err := decodeFrame(r.data[400:])
	if err != nil || n != sealSize || f.kind != KindSeal || f.id != 2 {
		t.Fatalf("seal frame %+v %d %v", f, n, err)
	}
	if !c.sealing {
		t.Fatal("appends are not held back during a seal round")
	}
	c.done(r, nil)
	if !c.busy {
		t.Fatal("the seal round ended before the segment ahead was created")
	}
	if c.sealing || c.seg != 2 || c.off != HeaderSize || c.frames != 0 || c.durable != 2 {
		t.Fatalf("after the seal: %+v", c)
	}
	if len(c.sealed) != 1 || c.sealed[0] != (sealedSegment{1, 2}) {
		t.Fatalf("sealed %+v", c.sealed)
	}
	c.created(nil)
	if c.busy || c.broken != nil {
		t.Fatalf("after create: busy %v broken %v", c.busy, c.broken)
	}
	// An empty segment takes any frame, however large.
	if !c.fits(1 << 20) {
		t.Fatal("an empty segment refuses an oversize frame")
	}
}

func TestCoreFailureIsFatal(t *testing.T) {
	c := coreWith(4096, 100)
	r := c.next(true, false)
	cause := syscall.EIO
	c.done(r, cause)
	if c.busy || c.durable != 0 || c.written != 0 {
		t.Fatalf("a failed round counted: %+v", c)
	}
	if !errors.Is(c.broken, ErrBroken) || !errors.Is(c.broken, syscall.EIO) {
		t.Fatalf("broken = %v", c.broken)
	}
	first := c.broken
	c.fail(syscall.ENOSPC)
	if c.broken != first {
		t.Fatal("a second failure replaced the first")
	}
	// A failed create after a seal breaks the log too.
	c = coreWith(512, 200, 200)
	c.done(c.next(false, true), nil)
	c.created(syscall.ENOSPC)
	if !errors.Is(c.broken, syscall.ENOSPC) || c.busy {
		t.Fatalf("after a failed create: %v busy %v", c.broken, c.busy)
	}
}

func TestCoreRefusesTwoRounds(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a second round started while one was in flight")
		}
	}()
	c := coreWith(4096, 100)
	c.next(false, false)
	c.next(false, false)
}
