package tx_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
)

// The package doc's example: a pool with a root object, a map, an owning
// pointer and a persistent mutex, changed in a transaction and read in a
// view after a restart.
func Example() {
	dir, err := os.MkdirTemp("", "tx-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	type Store struct{} // the pool's tag

	type Node struct {
		Value int64
		Next  tx.Box[Store, Node]
	}

	type Root struct {
		Users tx.Map[Store]       // a persistent hash map, bytes to bytes
		Head  tx.Box[Store, Node] // an owning pointer
		Hits  int64
		Mu    tx.Mutex // free again after any restart
	}

	name := filepath.Join(dir, "store.pool")
	p, err := tx.Create[Store, Root](engine.OSFS{}, name, &tx.Options{Layout: "v1"})
	if err != nil {
		log.Fatal(err)
	}
	p.Close()
	p, err = tx.Open[Store, Root](engine.OSFS{}, name, &tx.Options{Layout: "v1"}) // after a restart
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	root := p.Root() // a tx.Ptr[Store, Root]

	err = p.Update(func(t *tx.Tx[Store]) error {
		r, err := root.Get(t) // a copy of the root
		if err != nil {
			return err
		}
		if r.Users.IsNil() {
			if r.Users, err = tx.NewMap(t); err != nil {
				return err
			}
		}
		if err := r.Users.Put(t, []byte("ada"), []byte("lovelace")); err != nil {
			return err
		}
		r.Head, err = tx.NewBox(t, Node{Value: 1, Next: r.Head})
		if err != nil {
			return err
		}
		r.Hits++
		return root.Set(t, r) // all of it durable when Update returns nil
	})
	if err != nil {
		log.Fatal(err)
	}

	hits := tx.Field(root, func(r *Root) *int64 { return &r.Hits })
	err = p.View(func(t *tx.Tx[Store]) error {
		n, err := hits.Get(t) // reads one field, in place
		if err != nil {
			return err
		}
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		v, ok, err := r.Users.Get(t, []byte("ada"))
		fmt.Println("hits:", n, "ada:", string(v), ok)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: hits: 1 ada: lovelace true
}

// The README's example: a pool created with the default options, and a
// transaction.
func ExampleCreate() {
	dir, err := os.MkdirTemp("", "tx-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A persistent pool: a root object, typed pointers, transactions.
	type Store struct{} // the pool's tag: part of every pointer's type
	type Root struct {
		Users tx.Map[Store]
		Hits  int64
	}
	p, err := tx.Create[Store, Root](engine.OSFS{}, filepath.Join(dir, "app.pool"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	err = p.Update(func(t *tx.Tx[Store]) error { // all or nothing, across crashes
		hits := tx.Field(p.Root(), func(r *Root) *int64 { return &r.Hits })
		return hits.Modify(t, func(n *int64) error { *n++; return nil })
	})
	if err != nil {
		log.Fatal(err)
	}
	err = p.View(func(t *tx.Tx[Store]) error {
		r, err := p.Root().Get(t)
		fmt.Println("hits:", r.Hits)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: hits: 1
}
