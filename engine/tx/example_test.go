package tx_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"

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
	p, err := tx.Create[Store, Root](engine.OSFS{}, name, &tx.Options{Layout: "store"})
	if err != nil {
		log.Fatal(err)
	}
	p.Close()
	p, err = tx.Open[Store, Root](engine.OSFS{}, name, &tx.Options{Layout: "store"}) // after a restart
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

// Inventory is the tag of the example's pool.
type Inventory struct{}

// InventoryV1 is the root of release 1 of the program.
type InventoryV1 struct {
	Items tx.Map[Inventory]
}

// InventoryV2 is the root of release 2, which counts the items in a field
// appended to the root.
type InventoryV2 struct {
	Items tx.Map[Inventory]
	Count int64
}

// Release 1 of a program creates a pool of layout "inventory" version 1;
// release 2 opens it at version 2, and Open upgrades it on the way, in one
// transaction: the new field initialised, every item kept. Release 1 then
// refuses the pool rather than read it with its old root type.
func ExampleUpgradeRoot() {
	dir, err := os.MkdirTemp("", "inventory")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "inventory.pool")
	fsys := engine.OSFS{}

	// Release 1.
	p1, err := tx.Create[Inventory, InventoryV1](fsys, name, &tx.Options{Layout: "inventory", Version: 1})
	if err != nil {
		log.Fatal(err)
	}
	root := p1.Root()
	err = p1.Update(func(t *tx.Tx[Inventory]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Items, err = tx.NewMap(t); err != nil {
			return err
		}
		for _, item := range []string{"apple", "pear"} {
			if err := r.Items.Put(t, []byte(item), []byte("in stock")); err != nil {
				return err
			}
		}
		return root.Set(t, r)
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := p1.Close(); err != nil {
		log.Fatal(err)
	}

	// Release 2.
	p2, err := tx.Open[Inventory, InventoryV2](fsys, name, &tx.Options{
		Layout:  "inventory",
		Version: 2,
		Upgrades: []tx.Upgrade{
			tx.UpgradeRoot(1, func(t *tx.Tx[Inventory], old InventoryV1) (InventoryV2, error) {
				n, err := old.Items.Len(t)
				return InventoryV2{Items: old.Items, Count: int64(n)}, err
			}),
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("layout version", p2.Info().LayoutVersion)
	err = p2.View(func(t *tx.Tx[Inventory]) error {
		r, err := p2.Root().Get(t)
		if err != nil {
			return err
		}
		var items []string
		err = r.Items.Range(t, func(k, _ []byte) bool {
			items = append(items, string(k))
			return true
		})
		slices.Sort(items)
		fmt.Println(r.Count, "items:", items)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := p2.Close(); err != nil {
		log.Fatal(err)
	}

	// Release 1 again.
	_, err = tx.Open[Inventory, InventoryV1](fsys, name, &tx.Options{Layout: "inventory", Version: 1})
	fmt.Println("release 1:", errors.Is(err, tx.ErrLayoutVersion))
	// Output:
	// layout version 2
	// 2 items: [apple pear]
	// release 1: true
}

// A value that must never be read wrong: its checksum is stored with it
// and verified at every read.
func ExampleChecked() {
	dir, err := os.MkdirTemp("", "tx-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	type Bank struct{}

	type Account struct {
		Owner   [16]byte
		Balance tx.Checked[int64]
	}

	p, err := tx.Create[Bank, Account](engine.OSFS{}, filepath.Join(dir, "bank.pool"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	acct := p.Root()
	err = p.Update(func(t *tx.Tx[Bank]) error {
		a, err := acct.Get(t) // ErrCorrupt if Balance's bytes were damaged
		if err != nil {
			return err
		}
		a.Balance.Set(a.Balance.Get() + 10)
		return acct.Set(t, a) // the new balance stored with its checksum
	})
	if err != nil {
		log.Fatal(err)
	}
	err = p.View(func(t *tx.Tx[Bank]) error {
		a, err := acct.Get(t)
		fmt.Println(a.Balance.Get())
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: 10
}
