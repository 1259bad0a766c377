package torture

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/engine/wal"
)

// Tests of the harness itself: that its judges find what they must (a
// lost, an invented, a half-applied operation; a prefix where none is
// allowed) and pass what is right, on states built by hand.

func TestCountsJSON(t *testing.T) {
	var c Counts
	c[Typed], c[SilentWrong], c[Hang] = 3, 1, 2
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"silent wrong":1`) {
		t.Errorf("counts as JSON: %s", b)
	}
	var back Counts
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Errorf("round trip: %v, %v, want %v", back, err, c)
	}
	if c.Total() != 6 || c.Anomalies() != 3 {
		t.Errorf("total %d, anomalies %d", c.Total(), c.Anomalies())
	}
}

func TestMutationApply(t *testing.T) {
	b := []byte{0x00, 0x0f, 0xff}
	for _, c := range []struct {
		m    mutation
		want []byte
	}{
		{mutation{Kind: "bit", Off: 1, Bit: 4}, []byte{0x00, 0x1f, 0xff}},
		{mutation{Kind: "byte", Off: 2}, []byte{0x00, 0x0f, 0x00}},
		{mutation{Kind: "cut", Off: 1}, []byte{0x00}},
		{mutation{Kind: "intact"}, b},
	} {
		if got := c.m.apply(b); !bytes.Equal(got, c.want) {
			t.Errorf("%v: %x, want %x", c.m, got, c.want)
		}
	}
	if !bytes.Equal(b, []byte{0x00, 0x0f, 0xff}) {
		t.Errorf("apply changed its input: %x", b)
	}
	ms := mutations("f", make([]byte, 10), 2, true, 4)
	bits, bytesInverted, cuts := 0, 0, 0
	for _, m := range ms {
		switch m.Kind {
		case "bit":
			bits++
		case "byte":
			bytesInverted++
		case "cut":
			cuts++
		}
	}
	if bits != 16 || bytesInverted != 8 || cuts != 5 { // cuts at 0, 1, 2, 4, 8
		t.Errorf("short mutations of 10 bytes with a 2-byte header: %d bits, %d bytes, %d cuts", bits, bytesInverted, cuts)
	}
}

func TestJudgeEntries(t *testing.T) {
	want := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	for _, c := range []struct {
		got      [][]byte
		prefixOK bool
		class    Class
	}{
		{want, false, Correct},
		{want[:2], true, Prefix},
		{want[:2], false, SilentWrong},
		{[][]byte{[]byte("a"), []byte("x")}, true, SilentWrong},
		{append(want, []byte("d")), true, SilentWrong},
	} {
		if class, detail := judgeEntries(c.got, want, c.prefixOK, "entries"); class != c.class {
			t.Errorf("%q (prefix allowed: %v): %v %s, want %v", c.got, c.prefixOK, class, detail, c.class)
		}
	}
}

func TestClassifyError(t *testing.T) {
	corrupt := fmt.Errorf("read: %w", wal.ErrCorrupt)
	if c, _ := classifyError(corrupt, walTyped); c != Typed {
		t.Errorf("ErrCorrupt: %v", c)
	}
	for _, err := range []error{fmt.Errorf("x: %w", wal.ErrVersion), errors.New("out of range")} {
		if c, _ := classifyError(err, walTyped); c != WrongError {
			t.Errorf("%v: %v, want %v", err, c, WrongError)
		}
	}
	if c, _ := classifyError(fmt.Errorf("open: %w", tx.ErrVersion), poolTyped); c != WrongError {
		t.Errorf("a pool's ErrVersion on damaged bytes: %v", c)
	}
}

func TestExitAnomaly(t *testing.T) {
	for _, c := range []struct {
		e     exit
		class string
	}{
		{exit{Killed: true, Signal: syscall.SIGKILL}, ""},
		{exit{Code: 0}, ""},
		{exit{Code: exitWorkError}, "crash"},
		{exit{Signal: syscall.SIGBUS}, "signal"},
		{exit{Code: 2, Stderr: "unexpected fault address 0x7f\nfatal error: fault\n[signal SIGBUS: bus error code=0x2]\n\ngoroutine 1 [running]:\nf()"}, "signal"},
		{exit{Code: 2, Stderr: "panic: boom\n\ngoroutine 1 [running]:\nf()"}, "panic"},
	} {
		class, detail := c.e.anomaly(false)
		if class != c.class {
			t.Errorf("%+v: %q (%s), want %q", c.e, class, detail, c.class)
		}
		if c.e.Code == 2 && c.class == "signal" && !strings.HasPrefix(detail, "SIGBUS") {
			t.Errorf("a Go fault's detail: %q", detail)
		}
	}
	if class, _ := (exit{Code: exitWorkError}).anomaly(true); class != "" {
		t.Errorf("a work error where one is allowed: %q", class)
	}
}

func TestParseOutcome(t *testing.T) {
	line := fmt.Sprintf("%s 3 1 %d %s", msgOutcome, SilentWrong, `"two\nlines"`)
	i, ri, class, detail, err := parseOutcome(line, 5, 2)
	if err != nil || i != 3 || ri != 1 || class != SilentWrong || detail != "two\nlines" {
		t.Errorf("parseOutcome(%q) = %d %d %v %q %v", line, i, ri, class, detail, err)
	}
	for _, bad := range []string{"outcome 9 0 0", "outcome 1 0 99", "nonsense", "outcome 1 1 1 unquoted"} {
		if _, _, _, _, err := parseOutcome(bad, 5, 2); err == nil {
			t.Errorf("parseOutcome(%q): no error", bad)
		}
	}
}

// walOf writes entries 1..n of the WAL workload (seed 1) to a new log in
// a temporary directory, published through p if p > 0.
func walOf(t *testing.T, n, p uint64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wal")
	w, err := wal.New(engine.OSFS{}, dir, wal.Bytes, wal.Options{SegmentSize: walSegmentSize})
	if err != nil {
		t.Fatal(err)
	}
	var s walState
	for k := uint64(1); k <= n; k++ {
		if _, err := w.Append(walEntry(1, k)); err != nil {
			t.Fatal(err)
		}
		s.K, s.Sum = k, s.Sum+mix(1, k)
		if k == p {
			if _, err := wal.Publish(w, walStates{}, s, w.LastID()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckWAL(t *testing.T) {
	for _, c := range []struct {
		name                      string
		acked, published, pending uint64
		class                     string
	}{
		{"every acknowledged entry", 20, 10, 0, ""},
		{"entries under way", 18, 10, 2, ""},
		{"a lost entry", 21, 10, 8, "lost"},
		{"a lost checkpoint", 20, 15, 0, "lost"},
		{"an invented entry", 10, 0, 8, "invented"},
	} {
		dir := walOf(t, 20, 10)
		v := check(job{Role: roleWALCheck, Path: dir, Medium: mediumDisk, Seed: 1, Acked: c.acked, Published: c.published, Pending: c.pending})
		if v.Class != c.class {
			t.Errorf("%s: %q: %s, want %q", c.name, v.Class, v.Detail, c.class)
		}
	}
	// An entry the workload did not write.
	dir := filepath.Join(t.TempDir(), "wal")
	w, err := wal.New(engine.OSFS{}, dir, wal.Bytes, wal.Options{SegmentSize: walSegmentSize})
	if err != nil {
		t.Fatal(err)
	}
	w.Append(walEntry(1, 1))
	bad := walEntry(1, 2)
	bad[len(bad)-1] ^= 1
	w.Append(bad)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if v := check(job{Role: roleWALCheck, Path: dir, Medium: mediumDisk, Seed: 1, Acked: 1, Pending: 8}); v.Class != "invented" {
		t.Errorf("a garbled entry: %q: %s", v.Class, v.Detail)
	}
}

func TestCheckPool(t *testing.T) {
	name := filepath.Join(t.TempDir(), "pool")
	p, err := openPool(engine.OSFS{}, name, poolSize, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := uint64(1); k <= 30; k++ {
		if err := commitPoolOp(p, 1, k, poolFlavor{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		acked, pending uint64
		class          string
	}{{30, 1, ""}, {29, 1, ""}, {31, 1, "lost"}, {28, 1, "invented"}} {
		v := check(job{Role: rolePoolCheck, Path: name, Medium: mediumDisk, Seed: 1, Acked: c.acked, Pending: c.pending})
		if v.Class != c.class || v.Class == "" && v.Recovered != 30 {
			t.Errorf("acknowledged %d, %d under way: %q (recovered %d): %s, want %q", c.acked, c.pending, v.Class, v.Recovered, v.Detail, c.class)
		}
	}
	// Half a transaction: the counters move, the map does not.
	p, err = openPool(engine.OSFS{}, name, poolSize, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := p.Root()
	err = p.Update(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		r.Seq, r.Sum = 31, r.Sum+mix(1, 31)
		return root.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if poolOpOf(1, 31, false).delete {
		t.Fatal("transaction 31 of seed 1 is a delete: pick another")
	}
	if v := check(job{Role: rolePoolCheck, Path: name, Medium: mediumDisk, Seed: 1, Acked: 31}); v.Class != "invented" {
		t.Errorf("half a transaction: %q: %s", v.Class, v.Detail)
	}
}

func TestPoolModel(t *testing.T) {
	m := newPoolModel(7, false)
	for _, n := range []uint64{5, 50, 20, 20, 0, 80} {
		got := m.at(n)
		want := newPoolModel(7, false).at(n)
		if got.seq != n || got.sum != sumThrough(7, n) || len(got.keys) != len(want.keys) {
			t.Errorf("model at %d after others: seq %d, sum %#x, %d keys; want %#x, %d keys", n, got.seq, got.sum, len(got.keys), sumThrough(7, n), len(want.keys))
		}
	}
}

// TestReplaySweep saves a sweep anomaly as a run does and replays it.
func TestReplaySweep(t *testing.T) {
	r := &Report{Seed: 1, Short: true}
	m := mutation{File: "/log/records", Kind: "cut", Off: 32}
	a := r.saveAnomaly(t.TempDir(), Anomaly{Phase: "sweep", Case: "record-log/strict", Class: SilentWrong.String(), Seed: 1, Damage: &m, Short: true}, nil)
	var out strings.Builder
	if _, err := Replay(a.Dir, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "cut to 32 bytes, read by strict") {
		t.Errorf("replay says:\n%s", out.String())
	}
	if !strings.Contains(a.Replay, a.Dir) || !strings.Contains(a.Rerun, "--seed 1 --only sweep --short") {
		t.Errorf("commands: %q, %q", a.Replay, a.Rerun)
	}
}

func TestSlug(t *testing.T) {
	if got := slug("full-disk pool/64 KiB free silent wrong"); got != "full-disk-pool-64-kib-free-silent-wrong" {
		t.Errorf("slug: %q", got)
	}
}

func TestGist(t *testing.T) {
	a := gist("open /dev/shm/crashsim-torture-123/wal/0000000000000012.wal: no such file\nmore")
	b := gist("open /dev/shm/crashsim-torture-456/wal/000000000000003a.wal: no such file")
	if a != b {
		t.Errorf("gists of one kind differ: %q, %q", a, b)
	}
	if a == gist("wal: corrupt: segment 1 at offset 2: the segment ends without a seal") {
		t.Errorf("gists of two kinds are the same: %q", a)
	}
}
