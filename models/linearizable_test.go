package models

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

func TestDurableCompletedMustSurvive(t *testing.T) {
	h := NewHistory()
	a := h.Call(0, KVPut{"x", "1"})
	b := h.Call(1, KVPut{"x", "2"})
	h.Return(b, nil)
	h.Return(a, nil)
	for _, c := range []struct {
		observed map[string]string
		want     porcupine.CheckResult
	}{
		{map[string]string{"x": "1"}, porcupine.Ok},
		{map[string]string{"x": "2"}, porcupine.Ok},
		{map[string]string{}, porcupine.Illegal},
		{map[string]string{"x": "3"}, porcupine.Illegal},
	} {
		if v := CheckDurable(KV(), h, c.observed, false, 0); v.Result != c.want {
			t.Errorf("observed %v: %v (%s), want %v", c.observed, v.Result, v.Problem, c.want)
		}
	}
}

func TestDurablePendingMayOrMayNotApply(t *testing.T) {
	h := NewHistory()
	a := h.Call(0, KVPut{"x", "1"})
	h.Return(a, nil)
	h.Call(1, KVPut{"y", "2"}) // the crash interrupts it
	if n := h.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2: a pending call counts", n)
	}
	for _, c := range []struct {
		observed map[string]string
		want     porcupine.CheckResult
	}{
		{map[string]string{"x": "1"}, porcupine.Ok},
		{map[string]string{"x": "1", "y": "2"}, porcupine.Ok},
		{map[string]string{"y": "2"}, porcupine.Illegal},
	} {
		if v := CheckDurable(KV(), h, c.observed, false, 0); v.Result != c.want {
			t.Errorf("observed %v: %v, want %v", c.observed, v.Result, c.want)
		}
	}
}

func TestDurableChecksOutputs(t *testing.T) {
	h := NewHistory()
	w := h.Call(0, RegisterWrite{5})
	h.Return(w, nil)
	r := h.Call(1, RegisterRead{})
	h.Return(r, uint64(7)) // a read of a value never written
	if v := CheckDurable(Register(), h, uint64(5), false, 0); v.Result != porcupine.Illegal {
		t.Errorf("read of an unwritten value: %v, want Illegal", v.Result)
	}
}

// TestBufferedLosesOnlyASuffix: after the last completed sync, completed
// operations may be lost, but only as a suffix of a linearization.
func TestBufferedLosesOnlyASuffix(t *testing.T) {
	h := NewHistory()
	x := h.Call(0, KVPut{"x", "1"})
	h.Return(x, nil)
	s := h.Call(0, KVGet{"x"}) // stands for the sync call
	h.Return(s, KVValue{"1", true})
	h.Synced(s)
	y := h.Call(0, KVPut{"y", "2"})
	h.Return(y, nil)
	z := h.Call(0, KVPut{"z", "3"})
	h.Return(z, nil)
	for _, c := range []struct {
		observed map[string]string
		want     porcupine.CheckResult
	}{
		{map[string]string{"x": "1"}, porcupine.Ok},
		{map[string]string{"x": "1", "y": "2"}, porcupine.Ok},
		{map[string]string{"x": "1", "y": "2", "z": "3"}, porcupine.Ok},
		{map[string]string{"x": "1", "z": "3"}, porcupine.Illegal}, // y lost but z kept: not a suffix
		{map[string]string{}, porcupine.Illegal},                   // x was synced
	} {
		if v := CheckDurable(KV(), h, c.observed, true, 0); v.Result != c.want {
			t.Errorf("buffered, observed %v: %v, want %v", c.observed, v.Result, c.want)
		}
	}
	// Without buffering every completed operation must survive.
	if v := CheckDurable(KV(), h, map[string]string{"x": "1", "y": "2"}, false, 0); v.Result != porcupine.Illegal {
		t.Errorf("unbuffered check accepted a lost completed operation")
	}
}
