package models

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func recs(ss ...string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}

func TestPrefixLog(t *testing.T) {
	p := NewPrefix(Log())
	for i, r := range []string{"a", "b", "c"} {
		if got := p.Invoke(LogAppend{[]byte(r)}); got != uint64(i) {
			t.Errorf("Invoke(%q) output = %v, want index %d", r, got, i)
		}
	}
	p.Durable(2)
	cases := []struct {
		observed [][]byte
		ok       bool
		prefix   int
		problem  string
	}{
		{recs("a", "b"), true, 2, ""},
		{recs("a", "b", "c"), true, 3, ""},
		{recs("a"), false, 1, "acknowledged operations lost"},
		{nil, false, 0, "acknowledged operations lost"},
		{recs("a", "x"), false, -1, "matches no prefix"},
		{recs("a", "b", "c", "d"), false, -1, "matches no prefix"},
	}
	for _, c := range cases {
		v := p.Check(c.observed)
		if v.OK != c.ok || v.Prefix != c.prefix || !strings.Contains(v.Problem, c.problem) {
			t.Errorf("Check(%q) = ok %v prefix %d problem %q; want ok %v prefix %d problem ~%q",
				c.observed, v.OK, v.Prefix, v.Problem, c.ok, c.prefix, c.problem)
		}
		if !v.OK && (v.Observed == "" || v.Expected == "") {
			t.Errorf("Check(%q): violation without observed/expected description: %+v", c.observed, v)
		}
	}
}

func TestPrefixDurableBeyondInvokedPanics(t *testing.T) {
	p := NewPrefix(Register())
	p.Invoke(RegisterWrite{1})
	defer func() {
		if recover() == nil {
			t.Error("Durable(2) with one operation invoked did not panic")
		}
	}()
	p.Durable(2)
}

func TestPrefixDurableNeverLowers(t *testing.T) {
	p := NewPrefix(Register())
	p.Invoke(RegisterWrite{1})
	p.Invoke(RegisterWrite{2})
	p.Durable(2)
	p.Durable(1)
	if v := p.Check(uint64(1)); v.OK {
		t.Errorf("state after op 1 accepted after Durable(2) then Durable(1): %v", v)
	}
}

// TestPrefixWindow checks that trimming old states keeps the check exact and
// the diagnosis of recently lost operations.
func TestPrefixWindow(t *testing.T) {
	p := NewPrefix(Register())
	for i := 1; i <= 1000; i++ {
		p.Invoke(RegisterWrite{uint64(i)})
		if i%10 == 0 {
			p.DurableAll()
		}
	}
	if len(p.states) > keepBelowDurable+1+10 {
		t.Errorf("checker keeps %d states, want at most %d", len(p.states), keepBelowDurable+11)
	}
	if v := p.Check(uint64(1000)); !v.OK || v.Prefix != 1000 {
		t.Errorf("Check(1000) = %v", v)
	}
	if v := p.Check(uint64(995)); v.OK || v.Prefix != 995 || !strings.Contains(v.Problem, "#996") {
		t.Errorf("Check(995) = %+v, want lost operations from #996", v)
	}
	if v := p.Check(uint64(5)); v.OK || v.Prefix != -1 {
		t.Errorf("Check(5) = %+v, want no prefix (beyond the kept window)", v)
	}
}

// TestPrefixKVPurity checks that the KV model never changes a state it was
// given, which the checker relies on to keep several states.
func TestPrefixKVPurity(t *testing.T) {
	p := NewPrefix(KV())
	p.Invoke(KVPut{"x", "1"})
	p.Invoke(KVPut{"x", "2"})
	p.Invoke(KVDelete{"x"})
	for k, want := range []map[string]string{{}, {"x": "1"}, {"x": "2"}, {}} {
		if got := p.state(k).(map[string]string); !maps.Equal(got, want) {
			t.Errorf("state after %d ops = %v, want %v", k, got, want)
		}
	}
}

// TestPrefixMatchesBruteForce is the property that defines the check: the
// verdict is OK exactly when the observed state equals the model state after
// some k between the durable mark and the number invoked.
func TestPrefixMatchesBruteForce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := KV()
		genOp := rapid.OneOf(
			rapid.Custom(func(t *rapid.T) any {
				return KVPut{rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "k"), rapid.SampledFrom([]string{"1", "2"}).Draw(t, "v")}
			}),
			rapid.Custom(func(t *rapid.T) any { return KVDelete{rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "k")} }),
		)
		ops := rapid.SliceOfN(genOp, 0, 30).Draw(t, "ops")
		durable := rapid.IntRange(0, len(ops)).Draw(t, "durable")
		p := NewPrefix(m)
		var states []any
		states = append(states, m.Init())
		for _, op := range ops {
			p.Invoke(op)
			next, _ := m.Apply(states[len(states)-1], op)
			states = append(states, next)
		}
		p.Durable(durable)
		observed := states[rapid.IntRange(0, len(ops)).Draw(t, "k")]
		if rapid.Bool().Draw(t, "garbage") {
			g := maps.Clone(observed.(map[string]string))
			g["zz"] = "garbage"
			observed = g
		}
		want := false
		for k := durable; k <= len(ops); k++ {
			if m.equal(states[k], observed) {
				want = true
			}
		}
		if got := p.Check(observed); got.OK != want {
			t.Fatalf("Check(%v) ok = %v, brute force says %v (durable %d of %d)\n%v", observed, got.OK, want, durable, len(ops), got)
		}
	})
}

func ExamplePrefix() {
	p := NewPrefix(Log())
	p.Invoke(LogAppend{[]byte("a")})
	p.Invoke(LogAppend{[]byte("b")})
	p.DurableAll() // a sync returned: both appends must survive
	p.Invoke(LogAppend{[]byte("c")})
	fmt.Println(p.Check(recs("a", "b")).OK)
	fmt.Println(p.Check(recs("a", "b", "c")).OK)
	fmt.Println(p.Check(recs("a")).Problem)
	// Output:
	// true
	// true
	// acknowledged operations lost: recovered the state after 1 operations, but 2 were acknowledged durable (lost: #2 append("b"))
}

func TestPrefixSnapshotIsFrozen(t *testing.T) {
	p := NewPrefix(Register())
	p.Invoke(RegisterWrite{1})
	snap := p.Snapshot()
	p.Invoke(RegisterWrite{2})
	p.DurableAll()
	if v := snap.Check(uint64(0)); !v.OK {
		t.Errorf("snapshot taken with nothing durable rejects the initial state: %v", v)
	}
	if v := snap.Check(uint64(2)); v.OK {
		t.Errorf("snapshot accepts the effect of an operation invoked after it: %v", v)
	}
	if v := p.Check(uint64(0)); v.OK {
		t.Errorf("live checker accepts a lost durable operation: %v", v)
	}
}

// TestPrefixRestart: after a crash whose recovery returned the state after
// 2 of 3 operations, the next epoch's history is those 2, all durable,
// then its own operations: losing one of the 2 is a violation, and so is
// the third operation, lost at the crash, coming back.
func TestPrefixRestart(t *testing.T) {
	p := NewPrefix(Log())
	for _, r := range []string{"a", "b", "c"} {
		p.Invoke(LogAppend{[]byte(r)})
	}
	p.Durable(1)
	if v := p.Check(recs("a", "b")); !v.OK || v.Prefix != 2 {
		t.Fatalf("epoch 1: %v", v)
	}
	q := p.Restart(2)
	if got := q.Invoke(LogAppend{[]byte("d")}); got != uint64(2) {
		t.Errorf("epoch 2's first append: output %v, want index 2", got)
	}
	if q.Invoked() != 3 || q.DurableCount() != 2 || p.Invoked() != 3 || p.DurableCount() != 1 {
		t.Errorf("after Restart(2) and one Invoke: epoch 2 has %d invoked, %d durable; epoch 1 %d, %d; want 3, 2 and 3, 1",
			q.Invoked(), q.DurableCount(), p.Invoked(), p.DurableCount())
	}
	for _, c := range []struct {
		observed [][]byte
		ok       bool
		problem  string
	}{
		{recs("a", "b"), true, ""},
		{recs("a", "b", "d"), true, ""},
		{recs("a"), false, "acknowledged operations lost"},
		{recs("a", "b", "c"), false, "matches no prefix"},
		{recs("a", "b", "c", "d"), false, "matches no prefix"},
		{recs("a", "b", "d", "c"), false, "matches no prefix"},
	} {
		v := q.Check(c.observed)
		if v.OK != c.ok || !strings.Contains(v.Problem, c.problem) {
			t.Errorf("epoch 2: Check(%q) = ok %v, %q; want ok %v, ~%q", c.observed, v.OK, v.Problem, c.ok, c.problem)
		}
	}
	// Epoch 1's checker still judges its own crash states.
	if v := p.Check(recs("a", "b", "c")); !v.OK {
		t.Errorf("epoch 1 after Restart: %v", v)
	}
	for _, k := range []int{0, 4} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Restart(%d) with operations 1..3 allowed did not panic", k)
				}
			}()
			p.Restart(k)
		}()
	}
}
