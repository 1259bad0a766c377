package tx

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"

	"github.com/crashsim/crashsim/internal/pointerfree"
	"github.com/zeebo/xxh3"
)

// refKind is what a persistent pointer field is.
type refKind uint8

const (
	refPtr   refKind = iota + 1 // Ptr: borrows, keeps nothing alive
	refBox                      // Box: owns an object
	refRc                       // Rc: one of the counted owners of an object
	refArc                      // Arc: the same, for many goroutines
	refVec                      // Vec: owns a vector's header
	refBlob                     // Bytes, String: owns a blob
	refMap                      // Map: owns a map's header
	refArray                    // an array of values holding pointers
)

var refKindNames = [...]string{refPtr: "Ptr", refBox: "Box", refRc: "Rc", refArc: "Arc", refVec: "Vec", refBlob: "Bytes", refMap: "Map", refArray: "array"}

// persistent is implemented by the persistent pointer types; reflection
// finds their kind, element type and pool tag through it.
type persistent interface {
	persistentRef() (kind refKind, elem reflect.Type, tag reflect.Type)
}

// volatile is implemented by handles that live only in Go memory (Weak)
// and must never be stored in a pool.
type volatile interface{ volatileHandle() }

var (
	persistentType = reflect.TypeFor[persistent]()
	volatileType   = reflect.TypeFor[volatile]()
)

// layoutKind is what a block of the pool holds, for Check.
type layoutKind uint8

const (
	objectLayout layoutKind = iota + 1 // a value of a user type
	rcLayout                           // a reference-counted block: header, then a value
	vecLayout                          // a vector's header
	blobLayout                         // the bytes of a Bytes or String
	mapLayout                          // a map's header
	leafLayout                         // a block holding no pointers (a vector's or map's storage)
)

// layout describes a Go type stored in a pool, or a block of one of the
// package's own structures.
type layout struct {
	kind layoutKind
	typ  reflect.Type
	name string
	size int64
	refs []refField
	sums []sumField // the Checked values in a value of typ (checked.go)
	elem *layout    // the element of an Rc block or a vector
}

func (l *layout) String() string { return l.name }

// refField is a pointer at off in a value: of kind, to values laid out as
// elem; an array repeats sub count times every stride bytes.
type refField struct {
	off    int64
	kind   refKind
	elem   *layout
	path   string
	count  int64
	stride int64
	sub    []refField
}

type typeKey struct {
	typ  reflect.Type
	kind layoutKind
}

// typeError is a type that cannot be stored, and why.
func typeError(root reflect.Type, path, why string) error {
	if path == "" {
		return fmt.Errorf("%w: %v %s", ErrType, root, why)
	}
	return fmt.Errorf("%w: %v: field %s %s", ErrType, root, path, why)
}

// layoutOf returns the checked layout of t as an object of this pool,
// checking it (and every type its pointers reach) the first time.
func (p *pool) layoutOf(t reflect.Type) (*layout, error) {
	return p.layoutFor(typeKey{t, objectLayout})
}

func (p *pool) layoutFor(k typeKey) (*layout, error) {
	// The few types a program uses most are in a small cache of their
	// own: comparing two interface values is cheaper than hashing one.
	for i := range p.recent {
		if l := p.recent[i].Load(); l != nil && l.typ == k.typ && l.kind == k.kind {
			return l, nil
		}
	}
	p.typesMu.RLock()
	l := p.types[k]
	p.typesMu.RUnlock()
	if l != nil {
		p.recent[p.recentNext.Add(1)%uint32(len(p.recent))].Store(l)
		return l, nil
	}
	p.typesMu.Lock()
	defer p.typesMu.Unlock()
	b := &layoutBuilder{p: p, made: map[typeKey]*layout{}}
	l, err := b.build(k)
	if err != nil {
		return nil, err
	}
	for k, l := range b.made {
		if p.types[k] == nil {
			p.types[k] = l
		}
	}
	return p.types[k], nil
}

// layoutBuilder builds the layouts of a type and of what it points to;
// recursive types point to layouts still being built.
type layoutBuilder struct {
	p    *pool
	made map[typeKey]*layout
}

func (b *layoutBuilder) build(k typeKey) (*layout, error) {
	if l := b.p.types[k]; l != nil {
		return l, nil
	}
	if l := b.made[k]; l != nil {
		return l, nil
	}
	l := &layout{kind: k.kind, typ: k.typ}
	b.made[k] = l
	switch k.kind {
	case objectLayout:
		l.name = typeName(k.typ)
		l.size = int64(k.typ.Size())
		refs, err := b.fields(k.typ, k.typ, "", 0)
		if err != nil {
			delete(b.made, k)
			return nil, err
		}
		l.refs = refs
		l.sums = sumFields(k.typ, 0, nil)
	case rcLayout, vecLayout:
		elem, err := b.build(typeKey{k.typ, objectLayout})
		if err != nil {
			delete(b.made, k)
			return nil, err
		}
		l.elem = elem
		if k.kind == rcLayout {
			l.name, l.size = "Rc block of "+elem.name, rcHeaderSize+elem.size
		} else {
			l.name, l.size = "Vec of "+elem.name, vecHeaderSize
		}
	case blobLayout:
		l.name = "blob"
	case mapLayout:
		l.name, l.size = "Map", mapHeaderSize
	case leafLayout:
		l.name = "storage"
	}
	return l, nil
}

// fields checks the type t found at path in root and returns the pointers
// it holds, at offsets from base. What holds Go pointers is
// internal/pointerfree's rule, which engine/vec shares; the persistent
// pointers, the volatile handles and arrays of pointers are this
// package's.
func (b *layoutBuilder) fields(root, t reflect.Type, path string, base int64) ([]refField, error) {
	var refs []refField
	err := pointerfree.Walk(t, path, base, func(t reflect.Type, path string, off int64) (bool, error) {
		if t.Implements(volatileType) {
			return true, typeError(root, path, "is a volatile handle ("+t.String()+"): it lives in Go memory only")
		}
		if t.Kind() == reflect.Struct && t.Implements(persistentType) {
			f, err := b.ref(root, t, path, off)
			refs = append(refs, f)
			return true, err
		}
		if t.Kind() == reflect.Array {
			sub, err := b.fields(root, t.Elem(), path+"[i]", 0)
			if err == nil && len(sub) > 0 && t.Len() > 0 {
				refs = append(refs, refField{off: off, kind: refArray, path: path, count: int64(t.Len()), stride: int64(t.Elem().Size()), sub: sub})
			}
			return true, err
		}
		return false, nil
	})
	if p, ok := err.(*pointerfree.Problem); ok {
		return nil, typeError(root, p.Path, p.Why+" (a persistent-to-volatile pointer)")
	}
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// ref is the persistent pointer of type t at path and offset off in root.
func (b *layoutBuilder) ref(root, t reflect.Type, path string, off int64) (refField, error) {
	kind, elem, tag := reflect.Zero(t).Interface().(persistent).persistentRef()
	if tag != b.p.tagType() {
		return refField{}, typeError(root, path, fmt.Sprintf("is a pointer of pool %v in a pool of %v (an inter-pool pointer)", tag, b.p.tagType()))
	}
	f := refField{off: off, kind: kind, path: path}
	var err error
	switch kind {
	case refPtr, refBox:
		f.elem, err = b.build(typeKey{elem, objectLayout})
	case refRc, refArc:
		f.elem, err = b.build(typeKey{elem, rcLayout})
	case refVec:
		f.elem, err = b.build(typeKey{elem, vecLayout})
	case refBlob:
		f.elem, _ = b.build(typeKey{nil, blobLayout})
	case refMap:
		f.elem, _ = b.build(typeKey{nil, mapLayout})
	}
	return f, err
}

// sumFields appends to out the Checked values in a value of type t at
// base, at any depth.
func sumFields(t reflect.Type, base int64, out []sumField) []sumField {
	switch t.Kind() {
	case reflect.Struct:
		if t.Implements(persistentType) {
			return out
		}
		for i := range t.NumField() {
			f := t.Field(i)
			out = sumFields(f.Type, base+int64(f.Offset), out)
		}
		// After the Checked values inside it, whose checksums it covers:
		// sealSums computes them in this order.
		if t.Implements(checkedIface) {
			out = append(out, newSumField(t, base))
		}
	case reflect.Array:
		if t.Len() == 0 {
			return out
		}
		sub := sumFields(t.Elem(), 0, nil)
		for i := range int64(t.Len()) {
			for _, f := range sub {
				f.off += base + i*int64(t.Elem().Size())
				f.sum += base + i*int64(t.Elem().Size())
				out = append(out, f)
			}
		}
	}
	return out
}

// typeName names a type for layouts and reports.
func typeName(t reflect.Type) string {
	if t == nil {
		return "<nil>"
	}
	return t.String()
}

// shapeHash hashes the shape of t — kinds, sizes, field offsets and the
// element types of its pointers, not its field names — so that a pool
// opened with a changed root type is refused.
func shapeHash(t reflect.Type) uint64 {
	var b strings.Builder
	writeShape(&b, t)
	return xxh3.HashString(b.String())
}

func writeShape(b *strings.Builder, t reflect.Type) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(t.Size()))
	b.WriteString(t.Kind().String())
	b.Write(n[:])
	if t.Kind() == reflect.Struct && t.Implements(persistentType) {
		kind, elem, _ := reflect.Zero(t).Interface().(persistent).persistentRef()
		fmt.Fprintf(b, "<%s %s>", refKindNames[kind], typeName(elem))
		return
	}
	switch t.Kind() {
	case reflect.Array:
		fmt.Fprintf(b, "[%d]", t.Len())
		writeShape(b, t.Elem())
	case reflect.Struct:
		b.WriteByte('{')
		for i := range t.NumField() {
			f := t.Field(i)
			fmt.Fprintf(b, "@%d:", f.Offset)
			writeShape(b, f.Type)
		}
		b.WriteByte('}')
	}
}

// structureHash hashes the structure of t: its shape (see shapeHash), with
// the types its pointers point to described by their own structure, not
// their names. Renaming or moving any of the types changes nothing;
// changing the fields of any of them does. A type met again — a recursive
// one — is written as the number of its first appearance.
func structureHash(t reflect.Type) uint64 {
	var b strings.Builder
	writeStructure(&b, t, map[reflect.Type]int{t: 0})
	return xxh3.HashString(b.String())
}

func writeStructure(b *strings.Builder, t reflect.Type, seen map[reflect.Type]int) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(t.Size()))
	b.WriteString(t.Kind().String())
	b.Write(n[:])
	if t.Kind() == reflect.Struct && t.Implements(persistentType) {
		kind, elem, _ := reflect.Zero(t).Interface().(persistent).persistentRef()
		fmt.Fprintf(b, "<%s", refKindNames[kind])
		if elem != nil {
			if i, ok := seen[elem]; ok {
				fmt.Fprintf(b, " #%d", i)
			} else {
				seen[elem] = len(seen)
				b.WriteByte(' ')
				writeStructure(b, elem, seen)
			}
		}
		b.WriteByte('>')
		return
	}
	switch t.Kind() {
	case reflect.Array:
		fmt.Fprintf(b, "[%d]", t.Len())
		writeStructure(b, t.Elem(), seen)
	case reflect.Struct:
		b.WriteByte('{')
		for i := range t.NumField() {
			f := t.Field(i)
			fmt.Fprintf(b, "@%d:", f.Offset)
			writeStructure(b, f.Type, seen)
		}
		b.WriteByte('}')
	}
}
