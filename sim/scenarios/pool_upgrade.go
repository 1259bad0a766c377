package scenarios

import (
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// pool-upgrade: the life of a pool across four releases of a program. The
// first release, from before layout versions, writes a pool of format 1
// with the default layout; the second adopts it into layout "upgrade"
// version 1 (converting it to format 3: a layout record, the log retired,
// then the header rewritten through its shadow copy); the third upgrades it to version 2
// (a field appended to the root, which moves to a larger block, and every
// value of the map rewritten); the fourth to version 3 (another field,
// which owns a new string; the root grows in its block). Between them,
// ordinary transactions. Each release's Open is one operation of the
// model: a crash leaves the pool at the version before it, whole, or at
// the version after it, complete. Recovery opens the pool at the newest
// version it has, without upgrading it, and reads everything.
//
// The bug variants are hidden options of the real upgrade (internal/txbug):
//
//   - pool-bug-header-in-place: the conversion rewrites the header in
//     place, without its shadow copy: a crash between its two cache lines,
//     or inside the copy, tears it;
//   - pool-bug-upgrade-split: an upgrade records its new version in a
//     transaction after the one that changes the root and the data: a
//     crash between them leaves new data under the old version.
const upgradeLayout = "upgrade"

// The root of each release. upV0 and upV1 are one type under two names:
// the adoption renames it.
type upV0 struct {
	Map  tx.Map[poolTag]
	Puts int64
}

type upV1 struct {
	Map  tx.Map[poolTag]
	Puts int64
}

type upV2 struct {
	Map     tx.Map[poolTag]
	Puts    int64
	Created int64 // 100 * Puts at the upgrade
}

type upV3 struct {
	Map     tx.Map[poolTag]
	Puts    int64
	Created int64
	Label   tx.String[poolTag] // "three"
}

func init() {
	register(
		func() *sim.Scenario {
			return poolUpgrade("pool-upgrade", "a pool written before layout versions, adopted into versioned layouts and upgraded twice (fields appended, values rewritten), with transactions between", poolPMemFile, txbug.None)
		},
		func() *sim.Scenario {
			return poolUpgrade("pool-upgrade-file", "pool-upgrade on a file mapped through the page cache (msync)", poolDiskFile, txbug.None)
		},
		func() *sim.Scenario {
			return poolUpgrade("pool-bug-header-in-place", "BUG: a pool's header is rewritten in place, without a durable copy, when an upgrade converts its format", poolPMemFile, txbug.HeaderInPlace)
		},
		func() *sim.Scenario {
			return poolUpgrade("pool-bug-upgrade-split", "BUG: a layout upgrade records its new version in a transaction of its own, after the one that changes the data", poolPMemFile, txbug.UpgradeSplit)
		},
	)
}

// upgrades are the upgrades of the releases, as each release lists all
// those before it.
var upgrades = []tx.Upgrade{
	tx.UpgradeRoot(0, func(_ *tx.Tx[poolTag], old upV0) (upV1, error) {
		return upV1(old), nil
	}),
	tx.UpgradeRoot(1, func(t *tx.Tx[poolTag], old upV1) (upV2, error) {
		var keys []string
		err := old.Map.Range(t, func(k, _ []byte) bool {
			keys = append(keys, string(k))
			return true
		})
		if err != nil {
			return upV2{}, err
		}
		for _, k := range keys {
			v, _, err := old.Map.Get(t, []byte(k))
			if err != nil {
				return upV2{}, err
			}
			if err := old.Map.Put(t, []byte(k), []byte(strings.ToUpper(string(v)))); err != nil {
				return upV2{}, err
			}
		}
		return upV2{Map: old.Map, Puts: old.Puts, Created: 100 * old.Puts}, nil
	}),
	tx.UpgradeRoot(2, func(t *tx.Tx[poolTag], old upV2) (upV3, error) {
		label, err := tx.NewString(t, "three")
		return upV3{Map: old.Map, Puts: old.Puts, Created: old.Created, Label: label}, err
	}),
}

// upgradeOptions are the options of the release of version (0: the first
// release, which has no versions).
func upgradeOptions(env *sim.Env, version uint32, bug txbug.Bug) *tx.Options {
	o := &tx.Options{Size: poolSize, LogSize: poolLogSize, Rand: envReader{env}, Layout: upgradeLayout, Version: version}
	if version > 0 {
		o.Upgrades = upgrades[:version]
	}
	if bug != txbug.None {
		txbug.Set(o, bug)
	}
	return o
}

func poolUpgrade(name, doc, file string, bug txbug.Bug) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: poolKV(),
		Run: func(env *sim.Env) error {
			// The first release.
			env.Invoke(poolTx{models.KVPut{Key: "k0", Value: "a"}, models.KVPut{Key: "k1", Value: "b"},
				models.KVPut{Key: "layout", Value: "0"}, models.KVPut{Key: "puts", Value: "2"}})
			if err := createFormat1(env, file); err != nil {
				return err
			}
			ack(env)
			env.Invoke(poolTx{models.KVPut{Key: "k2", Value: "c"}, models.KVPut{Key: "puts", Value: "3"}})
			if err := putWith(env, file, upgradeOptions(env, 0, bug), func(r *upV0) (*tx.Map[poolTag], *int64) { return &r.Map, &r.Puts }, "k2", "c"); err != nil {
				return err
			}
			ack(env)
			// The releases with layout versions.
			env.Invoke(poolTx{models.KVPut{Key: "layout", Value: "1"}})
			if err := upgradeTo[upV1](env, file, upgradeOptions(env, 1, bug)); err != nil {
				return err
			}
			ack(env)
			env.Invoke(poolTx{models.KVPut{Key: "layout", Value: "2"}, models.KVPut{Key: "created", Value: "300"},
				models.KVPut{Key: "k0", Value: "A"}, models.KVPut{Key: "k1", Value: "B"}, models.KVPut{Key: "k2", Value: "C"}})
			if err := upgradeTo[upV2](env, file, upgradeOptions(env, 2, bug)); err != nil {
				return err
			}
			ack(env)
			env.Invoke(poolTx{models.KVPut{Key: "layout", Value: "3"}, models.KVPut{Key: "label", Value: "three"}})
			if err := upgradeTo[upV3](env, file, upgradeOptions(env, 3, bug)); err != nil {
				return err
			}
			ack(env)
			env.Invoke(poolTx{models.KVPut{Key: "k3", Value: "d"}, models.KVPut{Key: "puts", Value: "4"}})
			if err := putWith(env, file, upgradeOptions(env, 3, bug), func(r *upV3) (*tx.Map[poolTag], *int64) { return &r.Map, &r.Puts }, "k3", "d"); err != nil {
				return err
			}
			ack(env)
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			state := map[string]string{}
			if _, err := env.FS.Stat(file); errors.Is(err, fs.ErrNotExist) {
				return state, nil // the first release's pool is not in place yet
			}
			// The newest version the pool has: each Open that finds an
			// older one refuses it (ErrLayoutVersion) and changes nothing.
			for version := uint32(3); ; version-- {
				var err error
				switch version {
				case 3:
					err = readUpgraded(env, file, version, state, func(t *tx.Tx[poolTag], r upV3) error {
						label, err := r.Label.Get(t)
						state["created"], state["label"] = strconv.FormatInt(r.Created, 10), label
						return readKV(t, r.Map, r.Puts, state, err)
					})
				case 2:
					err = readUpgraded(env, file, version, state, func(t *tx.Tx[poolTag], r upV2) error {
						state["created"] = strconv.FormatInt(r.Created, 10)
						return readKV(t, r.Map, r.Puts, state, nil)
					})
				case 1:
					err = readUpgraded(env, file, version, state, func(t *tx.Tx[poolTag], r upV1) error {
						return readKV(t, r.Map, r.Puts, state, nil)
					})
				case 0:
					return state, readUpgraded(env, file, version, state, func(t *tx.Tx[poolTag], r upV0) error {
						return readKV(t, r.Map, r.Puts, state, nil)
					})
				}
				if !errors.Is(err, tx.ErrLayoutVersion) {
					return state, err
				}
			}
		},
	}
}

func ack(env *sim.Env) {
	env.Return(nil)
	env.DurableAll()
}

// createFormat1 writes the pool of the first release: created under a
// temporary name with the default layout as a pool of format 1 — the
// header of an older release, no layout record, its log and its map
// without marks and checksums — its two puts committed, and renamed into
// place, durably.
func createFormat1(env *sim.Env, file string) error {
	dir := path.Dir(file)
	if err := env.FS.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := env.FS.SyncDir(path.Dir(dir)); err != nil {
		return err
	}
	tmp := file + ".release1"
	o := upgradeOptions(env, 0, txbug.None)
	txbug.SetFormat(o, 1)
	p, err := tx.Create[poolTag, upV0](env.FS, tmp, o)
	if err != nil {
		return err
	}
	root := p.Root()
	err = p.Update(func(t *tx.Tx[poolTag]) error {
		r, err := root.Get(t)
		if err != nil {
			return err
		}
		if r.Map, err = tx.NewMap(t); err != nil {
			return err
		}
		for _, kv := range [][2]string{{"k0", "a"}, {"k1", "b"}} {
			if err := r.Map.Put(t, []byte(kv[0]), []byte(kv[1])); err != nil {
				return err
			}
			r.Puts++
		}
		return root.Set(t, r)
	})
	if err != nil {
		p.Close()
		return err
	}
	if err := p.Close(); err != nil {
		return err
	}
	if err := env.FS.Rename(tmp, file); err != nil {
		return err
	}
	return env.FS.SyncDir(dir)
}

// putWith opens the pool with root type R and options o, puts k = v in its
// map and counts the put (fields returns the root's map and count), and
// closes it.
func putWith[R any](env *sim.Env, file string, o *tx.Options, fields func(r *R) (*tx.Map[poolTag], *int64), k, v string) error {
	p, err := tx.Open[poolTag, R](env.FS, file, o)
	if err != nil {
		return err
	}
	defer p.Close()
	root := p.Root()
	return p.Update(func(t *tx.Tx[poolTag]) error {
		return root.Modify(t, func(r *R) error {
			m, puts := fields(r)
			*puts++
			return m.Put(t, []byte(k), []byte(v))
		})
	})
}

// upgradeTo opens the pool as the release of o.Version does, which
// upgrades it, and closes it.
func upgradeTo[R any](env *sim.Env, file string, o *tx.Options) error {
	p, err := tx.Open[poolTag, R](env.FS, file, o)
	if err != nil {
		return err
	}
	return p.Close()
}

// readUpgraded opens the pool at version, without upgrades, checks it and
// reads its root with read.
func readUpgraded[R any](env *sim.Env, file string, version uint32, state map[string]string, read func(t *tx.Tx[poolTag], r R) error) error {
	o := &tx.Options{Rand: envReader{env}, Layout: upgradeLayout, Version: version}
	p, err := tx.Open[poolTag, R](env.FS, file, o)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Check(); err != nil {
		return err
	}
	state["layout"] = strconv.Itoa(int(version))
	return p.View(func(t *tx.Tx[poolTag]) error {
		r, err := p.Root().Get(t)
		if err != nil {
			return err
		}
		return read(t, r)
	})
}

// readKV reads the map and the count of puts into state.
func readKV(t *tx.Tx[poolTag], m tx.Map[poolTag], puts int64, state map[string]string, err error) error {
	if err != nil {
		return err
	}
	state["puts"] = strconv.FormatInt(puts, 10)
	return m.Range(t, func(k, v []byte) bool {
		state[string(k)] = string(v)
		return true
	})
}
