package wal_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/faultfs"
)

// kvCodec encodes a map with its keys sorted: a deterministic encoding, as
// a checkpoint's must be.
type kvCodec struct{}

func (kvCodec) Append(b []byte, m map[string]string) ([]byte, error) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(m[k])))
		b = append(b, m[k]...)
	}
	return b, nil
}

func (kvCodec) Decode(b []byte) (map[string]string, error) {
	m := map[string]string{}
	next := func() (string, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return "", errors.New("kv: short")
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, nil
	}
	for len(b) > 0 {
		k, err := next()
		if err != nil {
			return nil, err
		}
		if m[k], err = next(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// apply applies a "k=v" entry to a map state.
func apply(m map[string]string, _ uint64, e []byte) (map[string]string, error) {
	if m == nil {
		m = map[string]string{}
	}
	k, v, ok := strings.Cut(string(e), "=")
	if !ok {
		return nil, errors.New("bad entry")
	}
	m[k] = v
	return m, nil
}

func TestCheckpointBytesAreDeterministic(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	state := map[string]string{}
	for i := range 100 {
		state[string(rune('a'+i%26))+strings.Repeat("x", i)] = strings.Repeat("v", i)
	}
	var files [][]byte
	for _, dir := range []string{"/a", "/b"} {
		fsys.MkdirAll(dir, 0o755)
		name, err := wal.WriteCheckpoint(fsys, dir, kvCodec{}, maps.Clone(state), 42)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := engine.ReadFile(fsys, name)
		files = append(files, b)
		ck, err := wal.ReadCheckpoint(fsys, name, kvCodec{})
		if err != nil || ck.Through != 42 || !maps.Equal(ck.State, state) || ck.Path != name {
			t.Fatalf("read back %s: %+v, %v", name, ck.Through, err)
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("the same state gave two different checkpoint files")
	}
	if _, err := wal.WriteCheckpoint(fsys, "/a", kvCodec{}, state, 0); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("checkpoint through 0: %v", err)
	}
}

func TestCorruptCheckpointIsSkipped(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	fsys.MkdirAll("/d", 0o755)
	wal.WriteCheckpoint(fsys, "/d", wal.Bytes, []byte("old"), 5)
	name, _ := wal.WriteCheckpoint(fsys, "/d", wal.Bytes, []byte("new"), 9)
	b, _ := engine.ReadFile(fsys, name)
	for off := range b {
		c := bytes.Clone(b)
		c[off] ^= 1
		engine.WriteFileAtomic(fsys, name, c, 0o644)
		if _, err := wal.ReadCheckpoint(fsys, name, wal.Bytes); !errors.Is(err, wal.ErrCorrupt) {
			t.Fatalf("flip at byte %d: %v, want ErrCorrupt", off, err)
		}
		ck, ok, err := wal.LatestCheckpoint(fsys, "/d", wal.Bytes)
		if err != nil || !ok || ck.Through != 5 || string(ck.State) != "old" {
			t.Fatalf("flip at byte %d: latest %+v %v %v, want the older checkpoint", off, ck, ok, err)
		}
	}
	engine.WriteFileAtomic(fsys, name, b[:len(b)-1], 0o644)
	if _, err := wal.ReadCheckpoint(fsys, name, wal.Bytes); !errors.Is(err, wal.ErrCorrupt) {
		t.Errorf("truncated checkpoint: %v", err)
	}
}

func TestPublishAndRecover(t *testing.T) {
	fsys, dir := faultfs.New(faultfs.Options{}), "/wal"
	w, err := wal.New(fsys, dir, wal.Bytes, wal.Options{SegmentSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	var last uint64
	put := func(k, v string) {
		last, _ = w.Append([]byte(k + "=" + v))
		state[k] = v
	}
	for i := range 30 {
		put(string(rune('a'+i%5)), strings.Repeat("x", i))
	}
	before := len(segments(t, fsys, dir))
	p, err := wal.Publish(w, kvCodec{}, maps.Clone(state), last)
	if err != nil {
		t.Fatal(err)
	}
	if p.Through != last || p.Marker != last+1 || len(p.Removed) == 0 {
		t.Fatalf("published %+v", p)
	}
	if after := len(segments(t, fsys, dir)); after != before-len(p.Removed) {
		t.Errorf("%d segments after removing %d of %d", after, len(p.Removed), before)
	}
	for i := range 10 {
		put("z", strings.Repeat("y", i))
	}
	// A second publish removes the first checkpoint too.
	p2, err := wal.Publish(w, kvCodec{}, maps.Clone(state), last)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p2.Removed, p.Checkpoint) {
		t.Errorf("the older checkpoint %s was not removed: %v", p.Checkpoint, p2.Removed)
	}
	put("after", "checkpoint")
	w.Close()

	// The directory a WAL was opened in is where it recovers from.
	if w.Dir() != dir {
		t.Errorf("Dir %q, want %q", w.Dir(), dir)
	}
	rec, err := wal.Recover(fsys, w.Dir(), kvCodec{}, wal.Bytes, wal.Strict, apply)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(rec.State, state) || rec.Through != p2.Through || rec.Checkpoint != p2.Checkpoint || rec.Applied != 1 || rec.LastID != last {
		t.Errorf("recovered %+v, want the state with %d keys from %s", rec, len(state), p2.Checkpoint)
	}

	// Without its checkpoint, the log no longer holds what recovery needs.
	fsys.Remove(p2.Checkpoint)
	if _, err := wal.Recover(fsys, dir, kvCodec{}, wal.Bytes, wal.Strict, apply); !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("recover without the checkpoint: %v, want ErrCorrupt (entries missing)", err)
	}
}

func TestPublishRefusesWhatTheLogDoesNotHold(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	w, _ := wal.New(fsys, "/wal", wal.Bytes, wal.Options{})
	defer w.Close()
	w.Append([]byte("a=1"))
	for _, through := range []uint64{0, 2} {
		if _, err := wal.Publish(w, wal.Bytes, nil, through); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("publish through %d with one entry: %v", through, err)
		}
	}
}

func TestRecoverWithoutCheckpoint(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	w, _ := wal.New(fsys, "/wal", wal.Bytes, wal.Options{})
	w.AppendBatch([][]byte{[]byte("a=1"), []byte("b=2"), []byte("a=3")})
	w.Close()
	rec, err := wal.Recover(fsys, "/wal", kvCodec{}, wal.Bytes, wal.Strict, apply)
	if err != nil || rec.Checkpoint != "" || rec.Applied != 3 || !maps.Equal(rec.State, map[string]string{"a": "3", "b": "2"}) {
		t.Fatalf("recovered %+v, %v", rec, err)
	}
	// A checkpoint beyond the end of the log: entries would be reused.
	wal.WriteCheckpoint(fsys, "/wal", kvCodec{}, rec.State, 10)
	if _, err := wal.Recover(fsys, "/wal", kvCodec{}, wal.Bytes, wal.Strict, apply); !errors.Is(err, wal.ErrCorrupt) {
		t.Errorf("recover with a checkpoint beyond the log: %v", err)
	}
}
