package models

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

// TestBlobStoreHistories: legal and illegal histories of two clients.
func TestBlobStoreHistories(t *testing.T) {
	type op struct {
		client int
		input  any
		output any
	}
	for _, c := range []struct {
		name     string
		ops      []op // each called and returned in turn
		observed map[string]BlobEntry
		want     porcupine.CheckResult
	}{
		{"append, resolve, ack", []op{
			{0, BlobAppend{"h1", "a"}, nil},
			{1, BlobResolve{"h1"}, BlobValue{"a", true}},
			{1, BlobAck{"h1"}, true},
			{1, BlobAck{"h1"}, true},
		}, map[string]BlobEntry{"h1": {"a", true}}, porcupine.Ok},
		{"resolve of a handle never returned", []op{
			{1, BlobResolve{"h1"}, BlobValue{}},
			{0, BlobAppend{"h1", "a"}, nil},
		}, map[string]BlobEntry{"h1": {"a", false}}, porcupine.Ok},
		{"two appends, one handle", []op{
			{0, BlobAppend{"h1", "a"}, nil},
			{1, BlobAppend{"h1", "b"}, nil},
		}, map[string]BlobEntry{"h1": {"b", false}}, porcupine.Illegal},
		{"a resolve returns another blob", []op{
			{0, BlobAppend{"h1", "a"}, nil},
			{0, BlobAppend{"h2", "b"}, nil},
			{1, BlobResolve{"h1"}, BlobValue{"b", true}},
		}, map[string]BlobEntry{"h1": {"a", false}, "h2": {"b", false}}, porcupine.Illegal},
		{"a resolve returns a torn blob", []op{
			{0, BlobAppend{"h1", "abcd"}, nil},
			{1, BlobResolve{"h1"}, BlobValue{"ab\x00\x00", true}},
		}, map[string]BlobEntry{"h1": {"abcd", false}}, porcupine.Illegal},
		{"a returned handle that resolves to nothing", []op{
			{0, BlobAppend{"h1", "a"}, nil},
			{1, BlobResolve{"h1"}, BlobValue{}},
		}, map[string]BlobEntry{"h1": {"a", false}}, porcupine.Illegal},
		{"an acknowledgement lost", []op{
			{0, BlobAppend{"h1", "a"}, nil},
			{1, BlobAck{"h1"}, true},
		}, map[string]BlobEntry{"h1": {"a", false}}, porcupine.Illegal},
		{"an ack of nothing", []op{
			{1, BlobAck{"h9"}, true},
		}, map[string]BlobEntry{}, porcupine.Illegal},
		{"a blob lost", []op{
			{0, BlobAppend{"h1", "a"}, nil},
		}, map[string]BlobEntry{}, porcupine.Illegal},
	} {
		h := NewHistory()
		for _, o := range c.ops {
			h.Return(h.Call(o.client, o.input), o.output)
		}
		if v := CheckDurable(BlobStore(), h, c.observed, false, 0); v.Result != c.want {
			t.Errorf("%s: %v (%s), want %v", c.name, v.Result, v.Problem, c.want)
		}
	}
}

// TestBlobStoreConcurrent: a resolve overlapping the append may see the
// blob or nothing, but not after the append returned.
func TestBlobStoreConcurrent(t *testing.T) {
	for _, c := range []struct {
		overlap bool
		out     BlobValue
		want    porcupine.CheckResult
	}{
		{true, BlobValue{}, porcupine.Ok},
		{true, BlobValue{"a", true}, porcupine.Ok},
		{false, BlobValue{}, porcupine.Illegal},
		{false, BlobValue{"a", true}, porcupine.Ok},
	} {
		h := NewHistory()
		a := h.Call(0, BlobAppend{"h1", "a"})
		if !c.overlap {
			h.Return(a, nil)
		}
		r := h.Call(1, BlobResolve{"h1"})
		h.Return(r, c.out)
		if c.overlap {
			h.Return(a, nil)
		}
		if v := CheckDurable(BlobStore(), h, map[string]BlobEntry{"h1": {"a", false}}, false, 0); v.Result != c.want {
			t.Errorf("overlap %v, resolve %v: %v, want %v", c.overlap, c.out, v.Result, c.want)
		}
	}
}
