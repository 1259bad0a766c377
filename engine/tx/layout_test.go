package tx_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
)

// Three releases of a program's pool, each with its own root type:
// version 2 appends a field, version 3 another, which owns a vector.
type StoreV1 struct {
	Users tx.Map[P]
	Count int64
}

type StoreV2 struct {
	Users   tx.Map[P]
	Count   int64
	Created int64 // new in version 2: 1000 + Count
}

type StoreV3 struct {
	Users   tx.Map[P]
	Count   int64
	Created int64
	Events  tx.Vec[P, int64] // new in version 3: one event, Created
}

// upgrade1to2 initialises Created and, to show that an upgrade may
// rewrite any object, upper-cases every user's value.
func upgrade1to2(t *tx.Tx[P], old StoreV1) (StoreV2, error) {
	var keys [][]byte
	err := old.Users.Range(t, func(k, _ []byte) bool {
		keys = append(keys, bytes.Clone(k))
		return true
	})
	if err != nil {
		return StoreV2{}, err
	}
	for _, k := range keys {
		v, _, err := old.Users.Get(t, k)
		if err != nil {
			return StoreV2{}, err
		}
		if err := old.Users.Put(t, k, bytes.ToUpper(v)); err != nil {
			return StoreV2{}, err
		}
	}
	return StoreV2{Users: old.Users, Count: old.Count, Created: 1000 + old.Count}, nil
}

func upgrade2to3(t *tx.Tx[P], old StoreV2) (StoreV3, error) {
	events, err := tx.NewVec[P, int64](t, 1)
	if err != nil {
		return StoreV3{}, err
	}
	if err := events.Append(t, old.Created); err != nil {
		return StoreV3{}, err
	}
	return StoreV3{Users: old.Users, Count: old.Count, Created: old.Created, Events: events}, nil
}

var storeUpgrades = []tx.Upgrade{tx.UpgradeRoot(1, upgrade1to2), tx.UpgradeRoot(2, upgrade2to3)}

// createStoreV1 creates a pool of layout "store" version 1 with two users
// and closes it.
func createStoreV1(t *testing.T, fsys engine.FS) {
	t.Helper()
	p, err := tx.Create[P, StoreV1](fsys, poolName, &tx.Options{Size: 1 << 20, Layout: "store", Version: 1, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	root := p.Root()
	err = p.Update(func(t *tx.Tx[P]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Users, err = tx.NewMap(t); err != nil {
			return err
		}
		for _, u := range []string{"ada", "bob"} {
			if err := r.Users.Put(t, []byte(u), []byte(u+"'s value")); err != nil {
				return err
			}
			r.Count++
		}
		return root.Set(t, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// openStore opens the pool with root type R at version, with upgrades,
// and closes it when the test ends.
func openStore[R any](t *testing.T, fsys engine.FS, version uint32, ups ...tx.Upgrade) (*tx.Pool[P, R], error) {
	t.Helper()
	p, err := tx.Open[P, R](fsys, poolName, &tx.Options{Layout: "store", Version: version, Upgrades: ups, Strict: true})
	if err == nil {
		closeAtEnd(t, p)
	}
	return p, err
}

// users returns the users of a pool's map, sorted.
func users(t *tx.Tx[P], m tx.Map[P]) ([]string, error) {
	var out []string
	err := m.Range(t, func(k, v []byte) bool {
		out = append(out, string(k)+"="+string(v))
		return true
	})
	slices.Sort(out)
	return out, err
}

// checkStoreV3 checks the pool after the upgrades from version 1: the
// users kept (upper-cased by version 2), the new fields initialised.
func checkStoreV3(t *testing.T, p *tx.Pool[P, StoreV3]) {
	t.Helper()
	if info := p.Info(); info.LayoutVersion != 3 || info.Layout != "store" || info.Header.Version != tx.Version {
		t.Errorf("info after the upgrades: %+v", info)
	}
	err := p.View(func(t *tx.Tx[P]) error {
		r, err := p.Root().Get(t)
		if err != nil {
			return err
		}
		us, err := users(t, r.Users)
		if err != nil {
			return err
		}
		events, err := r.Events.All(t)
		if err != nil {
			return err
		}
		want := []string{"ada=ADA'S VALUE", "bob=BOB'S VALUE"}
		if !slices.Equal(us, want) || r.Count != 2 || r.Created != 1002 || !slices.Equal(events, []int64{1002}) {
			return fmt.Errorf("root %+v, users %q, events %v; want users %q, count 2, created 1002, events [1002]", r, us, events, want)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if err := p.Check(); err != nil {
		t.Error(err)
	}
}

// TestLayoutRenamedTypes: a pool of a versioned layout opens after its
// root type, and the type its pointers point to, are renamed (as after a
// move to another package); the default layout, named after the root
// type, refuses the same rename, and both refuse a changed type.
func TestLayoutRenamedTypes(t *testing.T) {
	for _, version := range []uint32{0, 1} {
		fsys := memFS(t)
		o := &tx.Options{Size: 1 << 20, Layout: "list", Version: version, Strict: true}
		p, err := tx.Create[P, ListA](fsys, poolName, o)
		if err != nil {
			t.Fatal(err)
		}
		root := p.Root()
		err = p.Update(func(t *tx.Tx[P]) error {
			second, err := tx.NewBox(t, NodeA{Value: 2})
			if err != nil {
				return err
			}
			first, err := tx.NewBox(t, NodeA{Value: 1, Next: second})
			if err != nil {
				return err
			}
			return root.Set(t, ListA{Count: 2, Head: first})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}

		q, err := tx.Open[P, ListB](fsys, poolName, o)
		if version == 0 {
			if !errors.Is(err, tx.ErrLayout) {
				t.Errorf("the default layout, root type renamed: Open = %v, want ErrLayout", err)
			}
		} else {
			if err != nil {
				t.Fatalf("a versioned layout, root type renamed: Open = %v", err)
			}
			err = q.View(func(t *tx.Tx[P]) error {
				r, err := q.Root().Get(t)
				if err != nil {
					return err
				}
				var values []int64
				for b := r.Head; !b.IsNil(); {
					n, err := b.Get(t)
					if err != nil {
						return err
					}
					values = append(values, n.Value)
					b = n.Next
				}
				if r.Count != 2 || !slices.Equal(values, []int64{1, 2}) {
					return fmt.Errorf("root %+v, list %v", r, values)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			if err := q.Check(); err != nil {
				t.Error(err)
			}
			q.Close()
		}
		// A type the root points to changed, under the same name and
		// version: refused, whether the layout is versioned or not.
		if _, err := tx.Open[P, ListC](fsys, poolName, o); !errors.Is(err, tx.ErrLayout) {
			t.Errorf("version %d, a node type changed: Open = %v, want ErrLayout", version, err)
		}
		// Another name.
		other := *o
		other.Layout = "other"
		if _, err := tx.Open[P, ListA](fsys, poolName, &other); !errors.Is(err, tx.ErrLayout) {
			t.Errorf("version %d, another layout name: Open = %v, want ErrLayout", version, err)
		}
	}
}

// ListA and ListB are one root type under two names, and so are their
// nodes; ListC's nodes have another structure.
type ListA struct {
	Count int64
	Head  tx.Box[P, NodeA]
}

type NodeA struct {
	Value int64
	Next  tx.Box[P, NodeA]
}

type ListB struct {
	Count int64
	Head  tx.Box[P, NodeB]
}

type NodeB struct {
	Value int64
	Next  tx.Box[P, NodeB]
}

type ListC struct {
	Count int64
	Head  tx.Box[P, NodeC]
}

type NodeC struct {
	Value int32
	Next  tx.Box[P, NodeC]
}

// TestLayoutUpgrade: a pool of version 1 upgraded to version 3 by one
// Open, and step by step; its data kept, the new fields initialised, the
// new version recorded, and every later Open at version 3 needs no
// upgrade.
func TestLayoutUpgrade(t *testing.T) {
	t.Run("at once", func(t *testing.T) {
		fsys := memFS(t)
		createStoreV1(t, fsys)
		p, err := openStore[StoreV3](t, fsys, 3, storeUpgrades...)
		if err != nil {
			t.Fatal(err)
		}
		checkStoreV3(t, p)
		p.Close()
		p, err = openStore[StoreV3](t, fsys, 3)
		if err != nil {
			t.Fatalf("reopened at version 3 without upgrades: %v", err)
		}
		checkStoreV3(t, p)
		if p.Info().Unclean {
			t.Error("the upgraded pool was not closed cleanly")
		}
	})
	t.Run("one version at a time", func(t *testing.T) {
		fsys := memFS(t)
		createStoreV1(t, fsys)
		p2, err := openStore[StoreV2](t, fsys, 2, tx.UpgradeRoot(1, upgrade1to2))
		if err != nil {
			t.Fatal(err)
		}
		if v := p2.Info().LayoutVersion; v != 2 {
			t.Errorf("layout version %d, want 2", v)
		}
		p2.Close()
		p3, err := openStore[StoreV3](t, fsys, 3, storeUpgrades...)
		if err != nil {
			t.Fatal(err)
		}
		checkStoreV3(t, p3)
	})
}

// TestLayoutVersionRefused: a pool of a newer version than the program's
// is refused with ErrLayoutVersion (an ErrLayout), by a writer and a
// reader; so is an older one that the program has no upgrade for, or that
// a reader opens. Nothing of the pool changes.
func TestLayoutVersionRefused(t *testing.T) {
	fsys := memFS(t)
	createStoreV1(t, fsys)
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, tx.ErrLayoutVersion) || !errors.Is(err, tx.ErrLayout) {
			t.Errorf("%s: Open = %v, want ErrLayoutVersion", what, err)
		}
	}
	_, err := openStore[StoreV3](t, fsys, 3)
	refused("version 1, opened at 3 without upgrades", err)
	_, err = openStore[StoreV3](t, fsys, 3, tx.UpgradeRoot(2, upgrade2to3))
	refused("version 1, opened at 3 with no upgrade from 1", err)
	_, err = tx.Open[P, StoreV2](fsys, poolName, &tx.Options{Layout: "store", Version: 2, ReadOnly: true,
		Upgrades: []tx.Upgrade{tx.UpgradeRoot(1, upgrade1to2)}})
	refused("version 1, opened read-only at 2", err)
	// Still version 1.
	p1, err := openStore[StoreV1](t, fsys, 1)
	if err != nil {
		t.Fatalf("version 1 after the refusals: %v", err)
	}
	p1.Close()

	p3, err := openStore[StoreV3](t, fsys, 3, storeUpgrades...)
	if err != nil {
		t.Fatal(err)
	}
	p3.Close()
	for _, ro := range []bool{false, true} {
		_, err = tx.Open[P, StoreV2](fsys, poolName, &tx.Options{Layout: "store", Version: 2, ReadOnly: ro})
		refused(fmt.Sprintf("version 3, opened at 2 (read-only %v)", ro), err)
		_, err = tx.Open[P, StoreV1](fsys, poolName, &tx.Options{Layout: "store", ReadOnly: ro})
		refused(fmt.Sprintf("version 3, opened with the default layout (read-only %v)", ro), err)
	}
	p3, err = openStore[StoreV3](t, fsys, 3)
	if err != nil {
		t.Fatalf("version 3 after the refusals: %v", err)
	}
	checkStoreV3(t, p3)
}

// TestLayoutUpgradeFails: an upgrade whose function returns an error, or
// panics, after changing the pool leaves it at the version before that
// step, whole, and Open returns the error (or the panic goes on); an
// upgrade that succeeds later finds everything as it was.
func TestLayoutUpgradeFails(t *testing.T) {
	errStop := errors.New("the upgrade stops")
	failing := func(t *tx.Tx[P], old StoreV2) (StoreV3, error) {
		if _, err := upgrade2to3(t, old); err != nil {
			return StoreV3{}, err
		}
		if err := old.Users.Put(t, []byte("eve"), []byte("half an upgrade")); err != nil {
			return StoreV3{}, err
		}
		return StoreV3{}, errStop
	}
	panicking := func(t *tx.Tx[P], old StoreV2) (StoreV3, error) {
		if _, err := failing(t, old); !errors.Is(err, errStop) {
			return StoreV3{}, err
		}
		panic(errStop)
	}
	for _, c := range []struct {
		name  string
		fn    func(*tx.Tx[P], StoreV2) (StoreV3, error)
		panic bool
	}{{"error", failing, false}, {"panic", panicking, true}} {
		fsys := memFS(t)
		createStoreV1(t, fsys)
		ups := []tx.Upgrade{tx.UpgradeRoot(1, upgrade1to2), tx.UpgradeRoot(2, c.fn)}
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = r.(error)
				}
			}()
			_, err = openStore[StoreV3](t, fsys, 3, ups...)
		}()
		if !errors.Is(err, errStop) {
			t.Fatalf("%s: Open = %v, want the upgrade's error", c.name, err)
		}
		// Version 2: the first step committed, the failed one left nothing.
		p2, err := openStore[StoreV2](t, fsys, 2)
		if err != nil {
			t.Fatalf("%s: at version 2 after the failed upgrade: %v", c.name, err)
		}
		if info := p2.Info(); info.LayoutVersion != 2 || info.Unclean != c.panic {
			t.Errorf("%s: after the failed upgrade: %+v", c.name, info)
		}
		err = p2.View(func(t *tx.Tx[P]) error {
			r, err := p2.Root().Get(t)
			if err != nil {
				return err
			}
			us, err := users(t, r.Users)
			if err != nil {
				return err
			}
			if r.Created != 1002 || len(us) != 2 {
				return fmt.Errorf("root %+v, users %q", r, us)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if err := p2.Check(); err != nil { // nothing the failed step allocated is left
			t.Errorf("%s: %v", c.name, err)
		}
		p2.Close()
		p3, err := openStore[StoreV3](t, fsys, 3, storeUpgrades...)
		if err != nil {
			t.Fatal(err)
		}
		checkStoreV3(t, p3)
	}
}

// TestLayoutAdoptDefault: a pool of the default layout — named after its
// root type, as every pool was before layout versions — is adopted into
// versioned layouts by the upgrade from version 0, if it was created with
// the same Layout string or none; its root type may be renamed from then
// on.
func TestLayoutAdoptDefault(t *testing.T) {
	for _, c := range []struct {
		created string // the pool's Layout string
		want    error  // of the adoption under "store"
	}{{"store", nil}, {"", nil}, {"other", tx.ErrLayout}} {
		fsys := memFS(t)
		p, err := tx.Create[P, StoreV1](fsys, poolName, &tx.Options{Layout: c.created, Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		root := p.Root()
		err = p.Update(func(t *tx.Tx[P]) error {
			r, err := root.Get(t)
			if err != nil {
				return err
			}
			if r.Users, err = tx.NewMap(t); err != nil {
				return err
			}
			r.Count = 2
			for _, u := range []string{"ada", "bob"} {
				if err := r.Users.Put(t, []byte(u), []byte(u+"'s value")); err != nil {
					return err
				}
			}
			return root.Set(t, r)
		})
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
		if _, err := openStore[StoreV3](t, fsys, 3, storeUpgrades...); !errors.Is(err, tx.ErrLayoutVersion) {
			t.Errorf("created with %q, no upgrade from version 0: %v, want ErrLayoutVersion", c.created, err)
		}
		// Version 1 is the same root type as the default layout's.
		adopt := tx.UpgradeRoot(0, func(_ *tx.Tx[P], old StoreV1) (StoreV1, error) { return old, nil })
		// An adoption of another root type is refused.
		wrong := tx.UpgradeRoot(0, func(_ *tx.Tx[P], old StoreV2) (StoreV1, error) { return StoreV1{}, nil })
		if _, err := openStore[StoreV3](t, fsys, 3, append([]tx.Upgrade{wrong}, storeUpgrades...)...); !errors.Is(err, tx.ErrLayout) {
			t.Errorf("created with %q, an adoption of another root type: %v, want ErrLayout", c.created, err)
		}
		p3, err := openStore[StoreV3](t, fsys, 3, append([]tx.Upgrade{adopt}, storeUpgrades...)...)
		if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
			t.Errorf("created with %q, adopted as \"store\": %v, want %v", c.created, err, c.want)
		}
		if err != nil {
			continue
		}
		checkStoreV3(t, p3)
		p3.Close()
		if _, err := tx.Open[P, StoreV1](fsys, poolName, &tx.Options{Layout: c.created}); !errors.Is(err, tx.ErrLayoutVersion) {
			t.Errorf("created with %q, adopted, opened with the default layout: %v, want ErrLayoutVersion", c.created, err)
		}
	}
}

// TestLayoutOptionsChecked: upgrades that cannot describe a path from one
// version to the next are refused by Create and Open before any pool is
// touched.
func TestLayoutOptionsChecked(t *testing.T) {
	fsys := memFS(t)
	createStoreV1(t, fsys)
	type Other struct{}
	wrongTag := tx.UpgradeRoot(1, func(_ *tx.Tx[Other], old StoreV1) (StoreV2, error) { return StoreV2{}, nil })
	to1 := tx.UpgradeRoot(1, func(_ *tx.Tx[P], old StoreV1) (StoreV1, error) { return old, nil })
	for _, c := range []struct {
		name    string
		version uint32
		ups     []tx.Upgrade
		want    error
	}{
		{"upgrades without a version", 0, storeUpgrades, tx.ErrLayout},
		{"an upgrade from the program's version", 2, storeUpgrades, tx.ErrLayout},
		{"a zero Upgrade", 3, []tx.Upgrade{{}}, tx.ErrLayout},
		{"two upgrades from one version", 3, append(slices.Clone(storeUpgrades), storeUpgrades[0]), tx.ErrLayout},
		{"an upgrade of another pool's tag", 3, []tx.Upgrade{wrongTag}, tx.ErrType},
		{"upgrades that do not meet", 3, []tx.Upgrade{to1, storeUpgrades[1]}, tx.ErrLayout},
		{"no upgrade from version 2", 3, storeUpgrades[:1], nil},
	} {
		_, err := openStore[StoreV3](t, fsys, c.version, c.ups...)
		create := func() error {
			p, err := tx.Create[P, StoreV3](fsys, "/pmem/new", &tx.Options{Layout: "store", Version: c.version, Upgrades: c.ups})
			if err == nil {
				p.Close()
				err = fsys.Remove("/pmem/new")
			}
			return err
		}
		if c.want == nil {
			// Not a mistake of the options: Create succeeds, and the pool
			// of version 1 needs an upgrade from 2, which is missing.
			if !errors.Is(err, tx.ErrLayoutVersion) {
				t.Errorf("%s: Open = %v, want ErrLayoutVersion", c.name, err)
			}
			if err := create(); err != nil {
				t.Errorf("%s: Create = %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Open = %v, want %v", c.name, err, c.want)
		}
		if err := create(); !errors.Is(err, c.want) {
			t.Errorf("%s: Create = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := openStore[StoreV2](t, fsys, 2, tx.UpgradeRoot(1, func(_ *tx.Tx[P], old StoreV1) (StoreV3, error) { return StoreV3{}, nil })); !errors.Is(err, tx.ErrLayout) {
		t.Errorf("the last upgrade makes another root type: %v, want ErrLayout", err)
	}
	p, err := openStore[StoreV1](t, fsys, 1)
	if err != nil {
		t.Fatalf("the pool after the refusals: %v", err)
	}
	if p.Info().LayoutVersion != 1 {
		t.Errorf("%+v", p.Info())
	}
}

// TestLayoutReaderSeesUpgrade: a read-only pool opened before a writer
// upgrades the layout refuses every later View and Check with
// ErrLayoutVersion: its root type no longer describes the pool.
func TestLayoutReaderSeesUpgrade(t *testing.T) {
	fsys := memFS(t)
	createStoreV1(t, fsys)
	r, err := tx.Open[P, StoreV1](fsys, poolName, &tx.Options{Layout: "store", Version: 1, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := func(t *tx.Tx[P]) error {
		_, err := r.Root().Get(t)
		return err
	}
	if err := r.View(read); err != nil {
		t.Fatal(err)
	}
	w, err := openStore[StoreV2](t, fsys, 2, tx.UpgradeRoot(1, upgrade1to2))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := r.View(read); !errors.Is(err, tx.ErrLayoutVersion) {
		t.Errorf("a View after the upgrade: %v, want ErrLayoutVersion", err)
	}
	if err := r.Check(); !errors.Is(err, tx.ErrLayoutVersion) {
		t.Errorf("a Check after the upgrade: %v, want ErrLayoutVersion", err)
	}
}

type checkedV1 struct{ A tx.Checked[int64] }

type checkedV2 struct {
	A, B tx.Checked[int64]
	Pad  [100]byte // a larger root: a new block
}

// TestLayoutUpgradeSealsChecked: an upgrade's new root is stored with the
// checksums of its Checked values, and its old root read with them
// verified (Options.Strict checks the pool after the upgrade's commit).
func TestLayoutUpgradeSealsChecked(t *testing.T) {
	fsys := memFS(t)
	o := &tx.Options{Layout: "checked", Version: 1, Strict: true}
	p, err := tx.Create[P, checkedV1](fsys, poolName, o)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Update(func(t *tx.Tx[P]) error {
		return p.Root().Modify(t, func(r *checkedV1) error { r.A.Set(41); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	o2 := &tx.Options{Layout: "checked", Version: 2, Strict: true, Upgrades: []tx.Upgrade{
		tx.UpgradeRoot(1, func(t *tx.Tx[P], old checkedV1) (checkedV2, error) {
			var r checkedV2
			r.A = old.A
			r.B.Set(old.A.Get() + 1)
			return r, nil
		}),
	}}
	q, err := tx.Open[P, checkedV2](fsys, poolName, o2)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	err = q.View(func(t *tx.Tx[P]) error {
		r, err := q.Root().Get(t)
		if err == nil && (r.A.Get() != 41 || r.B.Get() != 42) {
			err = fmt.Errorf("upgraded root %d, %d", r.A.Get(), r.B.Get())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
