package models

import (
	"bytes"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
)

// op is one operation of a test history: its client, input and output,
// and when it returns relative to the others (see history).
type op struct {
	client int
	input  any
	output any
}

// overlapping builds a history in which every operation is called before
// any returns: all of them are concurrent.
func overlapping(ops ...op) *History {
	h := NewHistory()
	ids := make([]int, len(ops))
	for i, o := range ops {
		ids[i] = h.Call(o.client, o.input)
	}
	for i, o := range ops {
		h.Return(ids[i], o.output)
	}
	return h
}

// sequential builds a history in which each operation returns before the
// next is called.
func sequential(ops ...op) *History {
	h := NewHistory()
	for _, o := range ops {
		h.Return(h.Call(o.client, o.input), o.output)
	}
	return h
}

func TestConcurrentModels(t *testing.T) {
	for _, c := range []struct {
		name  string
		model Model
		h     *History
		want  porcupine.CheckResult
	}{
		// Queue: FIFO, and a dequeue overlapping an enqueue may or may
		// not see it.
		{"queue fifo", Queue(), sequential(op{0, QueueEnqueue{"a"}, nil}, op{1, QueueEnqueue{"b"}, nil}, op{2, QueueDequeue{}, QueueValue{"a", true}}), porcupine.Ok},
		{"queue lifo", Queue(), sequential(op{0, QueueEnqueue{"a"}, nil}, op{1, QueueEnqueue{"b"}, nil}, op{2, QueueDequeue{}, QueueValue{"b", true}}), porcupine.Illegal},
		{"queue concurrent enqueues either order", Queue(), overlapping(op{0, QueueEnqueue{"a"}, nil}, op{1, QueueEnqueue{"b"}, nil}, op{2, QueueDequeue{}, QueueValue{"b", true}}), porcupine.Ok},
		{"queue overlapping dequeue sees nothing", Queue(), overlapping(op{0, QueueEnqueue{"a"}, nil}, op{1, QueueDequeue{}, QueueValue{}}), porcupine.Ok},
		{"queue empty after enqueue returned", Queue(), sequential(op{0, QueueEnqueue{"a"}, nil}, op{1, QueueDequeue{}, QueueValue{}}), porcupine.Illegal},
		{"queue dequeued twice", Queue(), overlapping(op{0, QueueDequeue{}, QueueValue{"a", true}}, op{1, QueueDequeue{}, QueueValue{"a", true}}, op{2, QueueEnqueue{"a"}, nil}), porcupine.Illegal},
		// Set.
		{"set add then contains", Set(), sequential(op{0, SetAdd{"x"}, true}, op{1, SetContains{"x"}, true}), porcupine.Ok},
		{"set lost add", Set(), sequential(op{0, SetAdd{"x"}, true}, op{1, SetContains{"x"}, false}), porcupine.Illegal},
		{"set two adds both new", Set(), overlapping(op{0, SetAdd{"x"}, true}, op{1, SetAdd{"x"}, true}), porcupine.Illegal},
		{"set add racing remove", Set(), overlapping(op{0, SetAdd{"x"}, true}, op{1, SetRemove{"x"}, true}, op{2, SetContains{"x"}, false}), porcupine.Ok},
		// Counter.
		{"counter adds", Counter(), overlapping(op{0, CounterAdd{1}, uint64(2)}, op{1, CounterAdd{1}, uint64(1)}, op{2, CounterRead{}, uint64(2)}), porcupine.Ok},
		{"counter lost update", Counter(), overlapping(op{0, CounterAdd{1}, uint64(1)}, op{1, CounterAdd{1}, uint64(1)}), porcupine.Illegal},
		{"counter read back in time", Counter(), sequential(op{0, CounterAdd{5}, uint64(5)}, op{1, CounterRead{}, uint64(0)}), porcupine.Illegal},
	} {
		if v := CheckLinearizable(c.model, c.h, 0); v.Result != c.want {
			t.Errorf("%s: %v (%s), want %v", c.name, v.Result, v.Problem, c.want)
		}
	}
}

// TestDurableModels: the crash checks with the new models — a recovered
// queue, set or counter must hold what completed operations left.
func TestDurableModels(t *testing.T) {
	q := sequential(op{0, QueueEnqueue{"a"}, nil}, op{1, QueueEnqueue{"b"}, nil}, op{0, QueueDequeue{}, QueueValue{"a", true}})
	q.Call(1, QueueEnqueue{"c"}) // pending at the crash
	for _, c := range []struct {
		observed []string
		want     porcupine.CheckResult
	}{
		{[]string{"b"}, porcupine.Ok},
		{[]string{"b", "c"}, porcupine.Ok}, // the pending enqueue took effect
		{[]string{"a", "b"}, porcupine.Illegal},
		{[]string{"c"}, porcupine.Illegal},
	} {
		if v := CheckDurable(Queue(), q, c.observed, false, 0); v.Result != c.want {
			t.Errorf("queue recovered %v: %v, want %v", c.observed, v.Result, c.want)
		}
	}
	s := overlapping(op{0, SetAdd{"x"}, true}, op{1, SetAdd{"y"}, true})
	if v := CheckDurable(Set(), s, map[string]bool{"x": true}, false, 0); v.Result != porcupine.Illegal {
		t.Errorf("set lost a completed add: %v, want Illegal", v.Result)
	}
	n := overlapping(op{0, CounterAdd{2}, uint64(2)}, op{1, CounterAdd{3}, uint64(5)})
	if v := CheckDurable(Counter(), n, uint64(5), false, 0); v.Result != porcupine.Ok {
		t.Errorf("counter recovered 5: %v (%s), want Ok", v.Result, v.Problem)
	}
	if v := CheckDurable(Counter(), n, uint64(3), false, 0); v.Result != porcupine.Illegal {
		t.Errorf("counter recovered 3: %v, want Illegal", v.Result)
	}
}

// TestEndIsUnjudged: an operation ended without an output accepts any,
// but still comes before what is called after it.
func TestEndIsUnjudged(t *testing.T) {
	h := NewHistory()
	w := h.Call(0, RegisterWrite{5})
	h.End(w)
	r := h.Call(1, RegisterRead{})
	h.Return(r, uint64(0)) // the write had returned: 0 is stale
	if v := CheckLinearizable(Register(), h, 0); v.Result != porcupine.Illegal {
		t.Errorf("stale read after an ended write: %v, want Illegal", v.Result)
	}
	h2 := NewHistory()
	h2.End(h2.Call(0, CounterAdd{1}))
	h2.Return(h2.Call(1, CounterRead{}), uint64(1))
	if v := CheckLinearizable(Counter(), h2, 0); v.Result != porcupine.Ok {
		t.Errorf("ended add then read: %v (%s), want Ok", v.Result, v.Problem)
	}
}

// TestCloneIsFrozen: a clone taken at a crash point does not see later
// calls and returns.
func TestCloneIsFrozen(t *testing.T) {
	h := NewHistory()
	a := h.Call(0, RegisterWrite{1})
	c := h.Clone()
	h.Return(a, nil)
	h.Call(1, RegisterRead{})
	if c.Len() != 1 || !c.Pending(a) {
		t.Errorf("clone: %d operations, pending %v; want 1, true", c.Len(), c.Pending(a))
	}
}

// TestVisualize: an illegal history renders porcupine's page.
func TestVisualize(t *testing.T) {
	h := sequential(op{0, RegisterWrite{5}, nil}, op{1, RegisterRead{}, uint64(7)})
	v := CheckLinearizable(Register(), h, 0)
	if v.Result != porcupine.Illegal {
		t.Fatalf("read of an unwritten value: %v, want Illegal", v.Result)
	}
	var b bytes.Buffer
	if err := v.Visualize(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<html") || !strings.Contains(b.String(), "write(5)") {
		t.Errorf("visualization lacks the page or the operation: %.200s", b.String())
	}
}

// TestAmendInput: an append's handle, known at its return, amends its
// input; a resolve of that handle after the return must see the blob.
func TestAmendInput(t *testing.T) {
	h := NewHistory()
	a := h.Call(0, BlobAppend{Blob: "x"})
	h.Amend(a, BlobAppend{Handle: "h1", Blob: "x"})
	h.Return(a, nil)
	h.Return(h.Call(1, BlobResolve{Handle: "h1"}), BlobValue{})
	if v := CheckLinearizable(BlobStore(), h, 0); v.Result != porcupine.Illegal {
		t.Errorf("resolve missed a returned append: %v, want Illegal", v.Result)
	}
	if v := CheckDurable(BlobStore(), h, map[string]BlobEntry{"h1": {Blob: "x"}}, false, 0); v.Result != porcupine.Illegal {
		t.Errorf("durable: %v, want Illegal", v.Result)
	}
}
