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

const childEnv = "CRASHSIM_BOLT_CHILD"

func TestMain(m *testing.M) {
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
//	put DB KEY VALUE  one Update that puts KEY=VALUE
//	dump DB           the bucket as JSON ({} when there is no database)
func child(args []string) ([]byte, error) {
	switch args[0] {
	case "put":
		db, err := bolt.Open(args[1], 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			return nil, err
		}
		err = db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucket)
			if err != nil {
				return err
			}
			return b.Put([]byte(args[2]), []byte(args[3]))
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return nil, err
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

// boltScenario puts n keys, one transaction (one child) each. With
// created, the database is created, and its name made durable with an
// fsync of its directory, before the first acknowledged transaction: bbolt
// itself never syncs the directory it creates its file in.
func boltScenario(name string, n int, created bool) *sim.Scenario {
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
				d, err := os.Open(mnt.Dir())
				if err != nil {
					return err
				}
				err = d.Sync()
				d.Close()
				if err != nil {
					return err
				}
				env.DurableAll()
			}
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
		},
		Recover: func(env *sim.Env) (any, error) {
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
		},
	}
}

func requireMountable(t testing.TB) {
	t.Helper()
	disk := faultfs.New(faultfs.Options{})
	mnt, err := mount.Serve(func(int) engine.FS { return disk }, mount.Options{})
	mount.Require(t, err)
	mnt.Close()
}

// TestBolt explores bbolt v1.5.0 under power failures and process
// crashes, two transactions after the database was made, and pins what
// the exploration finds (docs/MOUNT.md):
//
//   - once bbolt's file is made and its name durable, no acknowledged
//     transaction is lost and no recovered state is wrong in any state
//     explored: every violation is a failure to open a database whose
//     creation (bolt.Open's first write of its four pages, then fdatasync)
//     was interrupted — an error ("file size too small"), a panic ("Page
//     expected to be: 3, but self identifies as 0") or a fault past the
//     end of the mapping;
//   - bbolt never fsyncs the directory it creates its file in, so a power
//     failure can lose the database whole with every acknowledged
//     transaction (bolt-create).
func TestBolt(t *testing.T) {
	requireMountable(t)
	for _, c := range []struct {
		name    string
		created bool
		fault   sim.Fault
		lost    bool // acknowledged transactions are lost
	}{
		{"bolt-put", true, sim.PowerFailure, false},
		{"bolt-put", true, sim.ProcessCrash, false},
		{"bolt-create", false, sim.PowerFailure, true},
	} {
		res, err := sim.Explore(boltScenario(c.name, 2, c.created), sim.Options{Fault: c.fault, MaxStates: 16})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s under %v: %d crash points, %d states explored, %d recovered, %d violations, %v",
			c.name, c.fault, res.CrashPoints, res.Explored, res.Recoveries, len(res.Violations), res.Elapsed)
		if res.RunError != "" {
			t.Fatalf("%s under %v: %s", c.name, c.fault, res.RunError)
		}
		lost := false
		for _, v := range res.Violations {
			first, _, _ := strings.Cut(v.Problem, "\n")
			t.Logf("  point %d at %s: %s", v.Point, v.At, first)
			switch {
			case strings.HasPrefix(v.Problem, "acknowledged operations lost"):
				lost = true
			case !strings.HasPrefix(v.Problem, "recovery failed"):
				t.Errorf("%s under %v: %s: a recovered state is wrong", c.name, c.fault, first)
			}
		}
		if lost != c.lost {
			t.Errorf("%s under %v: acknowledged transactions lost: %v, want %v", c.name, c.fault, lost, c.lost)
		}
	}
}
