package sqlitecrash

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/mount"
	"github.com/crashsim/crashsim/sim"
)

// sqlite runs the sqlite3 command on db and returns its output.
func sqlite(db string, sql ...string) (string, error) {
	cmd := exec.Command("sqlite3", "-json", "-bail", db, strings.Join(sql, " "))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("sqlite3: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// sqliteScenario makes a table in journal mode journal, then puts n keys,
// each in a transaction of its own with PRAGMA synchronous=sync.
func sqliteScenario(name, journal, sync string, n int) *sim.Scenario {
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
			if _, err := sqlite(db, "PRAGMA journal_mode="+journal+";", "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT);"); err != nil {
				return err
			}
			for i := 1; i <= n; i++ {
				k, v := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
				env.Invoke(models.KVPut{Key: k, Value: v})
				_, err := sqlite(db, "PRAGMA synchronous="+sync+";", fmt.Sprintf("INSERT OR REPLACE INTO kv VALUES('%s','%s');", k, v))
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
			state := map[string]string{}
			out, err := sqlite(mnt.Path("db"), "SELECT name FROM sqlite_master WHERE name='kv';")
			if err != nil {
				return nil, err
			}
			if strings.TrimSpace(out) == "" {
				return state, nil // the table's creation did not survive: no put was acknowledged
			}
			if out, err = sqlite(mnt.Path("db"), "PRAGMA integrity_check;", "SELECT k, v FROM kv;"); err != nil {
				return nil, err
			}
			// Two JSON arrays: the integrity check's, then the rows.
			dec := json.NewDecoder(strings.NewReader(out))
			var check []map[string]string
			if err := dec.Decode(&check); err != nil {
				return nil, err
			}
			if len(check) != 1 || check[0]["integrity_check"] != "ok" {
				return nil, fmt.Errorf("integrity check: %v", check)
			}
			var rows []map[string]string
			if dec.More() {
				if err := dec.Decode(&rows); err != nil {
					return nil, err
				}
			}
			for _, r := range rows {
				state[r["k"]] = r["v"]
			}
			return state, nil
		},
	}
}

// TestSQLite explores SQLite 3 (Debian's sqlite3 command) in rollback
// (DELETE) and WAL journal modes, two transactions after the table was
// made, and pins what it finds (docs/MOUNT.md):
//
//   - WAL with synchronous=FULL, and DELETE with synchronous=EXTRA, lose
//     nothing and recover every state;
//   - DELETE with synchronous=FULL loses the last acknowledged transaction
//     when power fails before the unlink of its journal is durable, as
//     SQLite documents (EXTRA syncs the directory after that unlink);
//   - synchronous=OFF is reported in both modes;
//   - a process crash loses nothing with FULL in either mode.
func TestSQLite(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("no sqlite3 command (Debian's sqlite3)")
	}
	disk := faultfs.New(faultfs.Options{})
	mnt, err := mount.Serve(func(int) engine.FS { return disk }, mount.Options{})
	mount.Require(t, err)
	mnt.Close()
	for _, c := range []struct {
		journal, sync string
		fault         sim.Fault
		caught        bool
	}{
		{"WAL", "FULL", sim.PowerFailure, false},
		{"DELETE", "EXTRA", sim.PowerFailure, false},
		{"DELETE", "FULL", sim.PowerFailure, true},
		{"DELETE", "OFF", sim.PowerFailure, true},
		{"WAL", "OFF", sim.PowerFailure, true},
		{"DELETE", "FULL", sim.ProcessCrash, false},
		{"WAL", "FULL", sim.ProcessCrash, false},
	} {
		name := "sqlite-" + strings.ToLower(c.journal) + "-" + strings.ToLower(c.sync)
		res, err := sim.Explore(sqliteScenario(name, c.journal, c.sync, 2), sim.Options{Fault: c.fault, MaxStates: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s under %v: %d crash points, %d states explored, %d recovered, %d violations, %v",
			name, c.fault, res.CrashPoints, res.Explored, res.Recoveries, len(res.Violations), res.Elapsed)
		if res.RunError != "" {
			t.Fatalf("%s under %v: %s", name, c.fault, res.RunError)
		}
		for _, v := range res.Violations {
			first, _, _ := strings.Cut(v.Problem, "\n")
			t.Logf("  point %d at %s: %s", v.Point, v.At, first)
		}
		if caught := len(res.Violations) > 0; caught != c.caught {
			t.Errorf("%s under %v: violations: %v, want %v", name, c.fault, caught, c.caught)
		}
	}
}
