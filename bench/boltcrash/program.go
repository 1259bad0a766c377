package boltcrash

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

// childEnv names the bbolt program a test binary run again as a child
// runs (Main).
const childEnv = "CRASHSIM_BOLT_CHILD"

// Main is the TestMain of a test binary whose tests explore the scenarios
// of this package: run as a child, it runs the bbolt program childEnv
// names and exits; otherwise it runs the tests.
func Main(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		out, err := child(strings.Fields(args))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Stdout.Write(out)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var bucket = []byte("b")

// child runs one bbolt program:
//
//	init DB           make the database and its bucket
//	put DB KEY VALUE  one Update that puts KEY=VALUE
//	dump DB           the bucket as JSON ({} when there is no database)
func child(args []string) ([]byte, error) {
	switch args[0] {
	case "init":
		return nil, update(args[1], func(*bolt.Bucket) error { return nil })
	case "put":
		return nil, update(args[1], func(b *bolt.Bucket) error { return b.Put([]byte(args[2]), []byte(args[3])) })
	case "dump":
		state := map[string]string{}
		if _, err := os.Stat(args[1]); errors.Is(err, fs.ErrNotExist) {
			return json.Marshal(state)
		}
		db, err := bolt.Open(args[1], 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			return nil, err
		}
		defer db.Close()
		err = db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				state[string(k)] = string(v)
				return nil
			})
		})
		if err != nil {
			return nil, err
		}
		if err := checkDB(db); err != nil {
			return nil, err
		}
		return json.Marshal(state)
	}
	return nil, fmt.Errorf("no child program %q", args[0])
}

// update opens the database at path (making it if it does not exist) and
// runs f on the bucket in one Update.
func update(path string, f func(*bolt.Bucket) error) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return f(b)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkDB runs bbolt's own consistency check (Tx.Check).
func checkDB(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

func run(args ...string) ([]byte, error) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, " "), "GORACE=atexit_sleep_ms=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("bbolt %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// syncDir fsyncs the directory dir.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Scenario puts n keys, one transaction (one child) each. With created,
// the database is created, and its name made durable with an fsync of
// its directory, before the first acknowledged transaction: bbolt itself
// never syncs the directory it creates its file in.
func Scenario(name string, n int, created bool) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Model: models.KV(),
		Run: func(env *sim.Env) error {
			mnt, err := mount.Env(env, mount.Options{})
			if err != nil {
				return err
			}
			defer mnt.Close()
			db := mnt.Path("db")
			if created {
				env.Invoke(models.KVPut{Key: "init", Value: "0"})
				_, err := run("put", db, "init", "0")
				env.Return(err)
				if err != nil {
					return err
				}
				if err := syncDir(mnt.Dir()); err != nil {
					return err
				}
				env.DurableAll()
			}
			return puts(env, db, n)
		},
		Recover: recoverDB,
	}
}

// RenamedScenario makes the database under a temporary name and renames
// it into place, its directory synced, before n transactions put a key
// each (one child each): a crash while bbolt makes its file leaves no
// database at all, so every state explored is one of a database made
// whole. It is how hashicorp/raft-wal makes its bbolt metadata store
// (metadb.safeInitBoltDB).
func RenamedScenario(name string, n int) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Model: models.KV(),
		Run: func(env *sim.Env) error {
			mnt, err := mount.Env(env, mount.Options{})
			if err != nil {
				return err
			}
			defer mnt.Close()
			if _, err := run("init", mnt.Path("db.tmp")); err != nil {
				return err
			}
			if err := os.Rename(mnt.Path("db.tmp"), mnt.Path("db")); err != nil {
				return err
			}
			if err := syncDir(mnt.Dir()); err != nil {
				return err
			}
			return puts(env, mnt.Path("db"), n)
		},
		Recover: recoverDB,
	}
}

// puts puts k1=v1 … kn=vn in the database at db, one child each,
// acknowledged when the child exited.
func puts(env *sim.Env, db string, n int) error {
	for i := 1; i <= n; i++ {
		k, v := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
		env.Invoke(models.KVPut{Key: k, Value: v})
		_, err := run("put", db, k, v)
		env.Return(err)
		if err != nil {
			return err
		}
		env.DurableAll()
	}
	return nil
}

// recoverDB is the scenarios' recovery: a child that opens the database
// read-only, reads the bucket and runs Tx.Check.
func recoverDB(env *sim.Env) (any, error) {
	mnt, err := mount.Env(env, mount.Options{})
	if err != nil {
		return nil, err
	}
	defer mnt.Close()
	out, err := run("dump", filepath.Join(mnt.Dir(), "db"))
	if err != nil {
		return nil, err
	}
	state := map[string]string{}
	return state, json.Unmarshal(out, &state)
}

// RequireMountable skips or fails t (mount.Require) when no FUSE mount
// can be made here.
func RequireMountable(t testing.TB) {
	t.Helper()
	disk := faultfs.New(faultfs.Options{})
	mnt, err := mount.Serve(func(int) engine.FS { return disk }, mount.Options{})
	mount.Require(t, err)
	mnt.Close()
}
