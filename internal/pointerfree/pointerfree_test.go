package pointerfree_test

import (
	"errors"
	"reflect"
	"testing"
	"unsafe"

	"github.com/crashsim/crashsim/internal/pointerfree"
)

type inner struct {
	A int32
	B [3]struct {
		C float64
		D bool
	}
}

type plain struct {
	X  uint64
	In inner
	Z  [0]complex128
}

type withString struct {
	In   inner
	Name string
}

type deep struct {
	Rows [2]struct{ Cells [4]*int }
}

// TestCheck: plain types pass; each kind that holds Go pointers is
// refused with the path of the field and the reason.
func TestCheck(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[int](), reflect.TypeFor[complex64](), reflect.TypeFor[[16]byte](),
		reflect.TypeFor[plain](), reflect.TypeFor[struct{}](),
	} {
		if err := pointerfree.Check(typ); err != nil {
			t.Errorf("Check(%v) = %v, want nil", typ, err)
		}
	}
	for _, c := range []struct {
		typ  reflect.Type
		path string
		why  string
		msg  string
	}{
		{reflect.TypeFor[withString](), "Name", "is a string, which holds Go pointers", "field Name is a string, which holds Go pointers"},
		{reflect.TypeFor[deep](), "Rows[i].Cells[i]", "is a ptr, which holds Go pointers", "field Rows[i].Cells[i] is a ptr, which holds Go pointers"},
		{reflect.TypeFor[struct{ P uintptr }](), "P", "is a uintptr, which holds Go addresses", "field P is a uintptr, which holds Go addresses"},
		{reflect.TypeFor[struct{ U unsafe.Pointer }](), "U", "is a unsafe.Pointer, which holds Go pointers", ""},
		{reflect.TypeFor[[]int](), "", "is a slice, which holds Go pointers", "[]int is a slice, which holds Go pointers"},
		{reflect.TypeFor[map[int]int](), "", "is a map, which holds Go pointers", ""},
		{reflect.TypeFor[any](), "", "is a interface, which holds Go pointers", ""},
		{reflect.TypeFor[struct{ C chan int }](), "C", "is a chan, which holds Go pointers", ""},
		{reflect.TypeFor[struct{ _ [0]func() }](), "_[i]", "is a func, which holds Go pointers", ""},
	} {
		err := pointerfree.Check(c.typ)
		var p *pointerfree.Problem
		if !errors.As(err, &p) || p.Path != c.path || p.Why != c.why {
			t.Errorf("Check(%v) = %#v, want path %q why %q", c.typ, err, c.path, c.why)
			continue
		}
		if c.msg != "" && err.Error() != c.msg {
			t.Errorf("Check(%v): %q, want %q", c.typ, err, c.msg)
		}
	}
}

// TestWalkVisits: a Visit sees every type with its path and offset, in
// field order, and a type it handles is not looked into.
func TestWalkVisits(t *testing.T) {
	type seen struct {
		path string
		kind reflect.Kind
		off  int64
	}
	var got []seen
	err := pointerfree.Walk(reflect.TypeFor[plain](), "", 0, func(typ reflect.Type, path string, off int64) (bool, error) {
		got = append(got, seen{path, typ.Kind(), off})
		return typ.Kind() == reflect.Array && typ.Elem().Kind() == reflect.Struct, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"", reflect.Struct, 0},
		{"X", reflect.Uint64, 0},
		{"In", reflect.Struct, 8},
		{"In.A", reflect.Int32, 8},
		{"In.B", reflect.Array, 16}, // handled: its element is not visited
		{"Z", reflect.Array, 64},
		{"Z[i]", reflect.Complex128, 64},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("visits:\n got %v\nwant %v", got, want)
	}
	// A type the Visit handles may hold anything; its error ends the walk.
	stop := errors.New("stop")
	err = pointerfree.Walk(reflect.TypeFor[withString](), "", 0, func(typ reflect.Type, path string, off int64) (bool, error) {
		if path == "In.B[i].D" {
			return true, stop
		}
		return false, nil
	})
	if err != stop {
		t.Errorf("Walk with a Visit that fails: %v, want its error", err)
	}
}
