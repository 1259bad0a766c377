package vec

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/crashsim/crashsim/internal/pointerfree"
	"github.com/zeebo/xxh3"
)

// elemType is what a vector records of its element type, checked once.
type elemType struct {
	typ   reflect.Type
	size  int64
	shape uint64
	err   error // why the type cannot be stored, nil if it can
}

// elemTypes caches the checks, by reflect.Type: a type is checked at its
// first use, as engine/tx checks its objects' types.
var elemTypes sync.Map

// elemOf returns the checked description of t: ErrType, naming the field,
// if t holds a Go pointer (internal/pointerfree's rule, which engine/tx
// shares) or has size zero.
func elemOf(t reflect.Type) (*elemType, error) {
	if e, ok := elemTypes.Load(t); ok {
		return e.(*elemType), e.(*elemType).err
	}
	e := &elemType{typ: t, size: int64(t.Size()), shape: elemShape(t)}
	if err := pointerfree.Check(t); err != nil {
		e.err = fmt.Errorf("%w: element type %v: %v", ErrType, t, err)
	} else if e.size == 0 {
		e.err = fmt.Errorf("%w: element type %v has size zero", ErrType, t)
	}
	got, _ := elemTypes.LoadOrStore(t, e)
	return got.(*elemType), got.(*elemType).err
}

// name returns the name a header records for the element type: typeName,
// or the Go name of the type.
func (e *elemType) name(typeName string) (string, error) {
	if typeName == "" {
		return cutName(e.typ.String()), nil
	}
	if !utf8.ValidString(typeName) || strings.IndexByte(typeName, 0) >= 0 {
		return "", fmt.Errorf("%w: Options.TypeName %q is not UTF-8 without NUL bytes", ErrType, typeName)
	}
	return cutName(typeName), nil
}

// elemShape hashes the shape of a type: the kind, size and offset of it and
// of every field, recursively, and the length of every array — not the
// names of the types or fields — so that a changed element type is an
// ErrLayout even under its old name. A type that holds pointers has a
// shape too (it is refused anyway).
func elemShape(t reflect.Type) uint64 {
	var b strings.Builder
	var n [8]byte
	pointerfree.Walk(t, "", 0, func(t reflect.Type, _ string, off int64) (bool, error) {
		b.WriteString(t.Kind().String())
		binary.LittleEndian.PutUint64(n[:], uint64(t.Size()))
		b.Write(n[:])
		binary.LittleEndian.PutUint64(n[:], uint64(off))
		b.Write(n[:])
		if t.Kind() == reflect.Array {
			fmt.Fprintf(&b, "[%d]", t.Len())
		}
		b.WriteByte(';')
		return false, nil
	})
	return xxh3.HashString(b.String())
}
