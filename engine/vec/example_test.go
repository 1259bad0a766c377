package vec_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/vec"
)

// Example: append, make durable, reopen.
func Example() {
	type Point struct {
		X, Y float64
		ID   uint32
	}

	dir, err := os.MkdirTemp("", "vec-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "points.vec")

	v, err := vec.Create[Point](engine.OSFS{}, name, nil)
	if err != nil {
		log.Fatal(err)
	}
	err = v.Append(Point{1, 2, 7}, Point{3, 4, 8}) // in the mapping, not yet durable
	if err != nil {
		log.Fatal(err)
	}
	err = v.Sync() // the elements, then the length: durable now
	if err != nil {
		log.Fatal(err)
	}
	p, err := v.At(1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p)
	for i, p := range v.All() {
		fmt.Println(i, p.ID)
	}
	if err := v.Close(); err != nil {
		log.Fatal(err)
	}

	v, err = vec.Open[Point](engine.OSFS{}, name, nil) // after a restart
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	fmt.Println(v.Len(), v.View()[0].ID) // View: the mapping itself, no copy
	// Output:
	// {3 4 8}
	// 0 7
	// 1 8
	// 2 7
}

// ExampleOpen: one writer, or readers; the errors of a file that is not a
// vector of T.
func ExampleOpen() {
	type Point struct {
		X, Y float64
		ID   uint32
	}
	dir, err := os.MkdirTemp("", "vec-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "points.vec")
	w, err := vec.Create[Point](engine.OSFS{}, name, &vec.Options{DataVersion: 1})
	if err != nil {
		log.Fatal(err)
	}

	_, err = vec.Open[Point](engine.OSFS{}, name, &vec.Options{DataVersion: 1})
	if errors.Is(err, vec.ErrLocked) {
		fmt.Println("another writer has it open")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = vec.OpenWait[Point](ctx, engine.OSFS{}, name, &vec.Options{ReadOnly: true, DataVersion: 1})
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Println("readers wait for the writer to close")
	}
	w.Close()

	r, err := vec.Open[Point](engine.OSFS{}, name, &vec.Options{ReadOnly: true, DataVersion: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	_, err = vec.Open[[3]float64](engine.OSFS{}, name, &vec.Options{ReadOnly: true, DataVersion: 1})
	if errors.Is(err, vec.ErrLayout) {
		fmt.Println("not a vector of [3]float64")
	}
	_, err = vec.Open[Point](engine.OSFS{}, name, &vec.Options{ReadOnly: true, DataVersion: 2})
	if errors.Is(err, vec.ErrVersion) {
		fmt.Println("data version 1, not 2")
	}
	_, err = vec.Create[struct{ Name string }](engine.OSFS{}, filepath.Join(dir, "names.vec"), nil)
	fmt.Println(err)
	// Output:
	// another writer has it open
	// readers wait for the writer to close
	// not a vector of [3]float64
	// data version 1, not 2
	// vec: type cannot be stored: element type struct { Name string }: field Name is a string, which holds Go pointers
}
