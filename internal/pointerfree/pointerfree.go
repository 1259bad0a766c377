// Package pointerfree decides whether a Go type can be stored as its bytes
// in a file or a mapping and read back by another process: it must hold no
// Go pointer, since an address means nothing in another process or after
// a restart. engine/tx (the objects of a pool) and engine/vec (the
// elements of a vector) check their types with it, so that both accept
// and refuse the same types and name the offending field the same way.
//
// # Usage
//
//	err := pointerfree.Check(reflect.TypeFor[T]())
//	var p *pointerfree.Problem
//	if errors.As(err, &p) {
//		... p.Path is "Inner.Names[i]", p.Why "is a string, which holds Go pointers"
//	}
//
// A caller with types of its own that hold no Go pointer but are not
// plain either (engine/tx's persistent pointers) handles them in a Visit.
//
// # Implementation notes
//
// Walk visits a type before it looks into it, then looks into structs
// (each field, at its offset) and arrays (the element once, at the
// array's offset, with "[i]" in its path). Booleans, integers, floats and
// complex numbers are pointer-free; uintptr is refused because it holds
// addresses (unsafe.Pointer's integer form); every other kind — pointer,
// unsafe.Pointer, slice, string, map, interface, channel, func — holds Go
// pointers. An array of length zero is checked like any other, as the
// compiler lays it out with its element type's alignment.
package pointerfree

import (
	"fmt"
	"reflect"
)

// Problem is the part of a type that holds Go pointers. It is the error
// Walk and Check return for such a type.
type Problem struct {
	// Path names the field from the type walked: "A.B[i].C", "" for the
	// type itself.
	Path string
	// Type is the type found there.
	Type reflect.Type
	// Why says what it is, as the rest of a sentence: "is a string, which
	// holds Go pointers".
	Why string
}

func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Type.String() + " " + p.Why
	}
	return "field " + p.Path + " " + p.Why
}

// Visit is called on every type Walk meets, with its path and its offset
// from the start of the walked type, before Walk looks into it. It returns
// handled = true for a type it has dealt with, which Walk then does not
// look into; an error ends the walk and is Walk's.
type Visit func(t reflect.Type, path string, off int64) (handled bool, err error)

// Walk checks that t, found at path and offset off in the type the caller
// walks, holds no Go pointer, calling visit (which may be nil) on t and on
// every type inside it first. It returns a *Problem for the first part
// that holds Go pointers, or visit's error.
func Walk(t reflect.Type, path string, off int64, visit Visit) error {
	if visit != nil {
		handled, err := visit(t, path, off)
		if handled || err != nil {
			return err
		}
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return nil
	case reflect.Array:
		return Walk(t.Elem(), path+"[i]", off, visit)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			if err := Walk(f.Type, p, off+int64(f.Offset), visit); err != nil {
				return err
			}
		}
		return nil
	case reflect.Uintptr:
		return &Problem{Path: path, Type: t, Why: "is a uintptr, which holds Go addresses"}
	}
	return &Problem{Path: path, Type: t, Why: fmt.Sprintf("is a %v, which holds Go pointers", t.Kind())}
}

// Check is Walk of t from its start, with no Visit.
func Check(t reflect.Type) error { return Walk(t, "", 0, nil) }
