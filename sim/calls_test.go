package sim

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
)

// syncLogRecord is the size of a record of syncLog: a CRC, then data; it
// is not a multiple of a page, so that records straddle pages.
const syncLogRecord = 3000

// syncLog appends records with WriteAt to /data/log opened with flag, and
// acknowledges each as durable when its write returns, without a Sync:
// correct with O_DSYNC or O_SYNC (faultfs rule 20), wrong without. Its
// recovery keeps the records up to the first whose CRC fails; with
// trusting, it keeps every whole record the size holds, which a torn
// write breaks.
func syncLog(name string, flag int, trusting bool) *Scenario {
	const records = 5
	return &Scenario{
		Name:  name,
		Model: models.Log(),
		Run: func(env *Env) error {
			if err := env.FS.MkdirAll("/data", 0o755); err != nil {
				return err
			}
			f, err := env.FS.OpenFile("/data/log", os.O_RDWR|os.O_CREATE|flag, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := env.FS.SyncDir("/data"); err != nil {
				return err
			}
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			for i := range records {
				rec := make([]byte, syncLogRecord)
				for j := 4; j < len(rec); j++ {
					rec[j] = byte(i*7 + j)
				}
				binary.LittleEndian.PutUint32(rec, crc32.ChecksumIEEE(rec[4:]))
				env.Invoke(models.LogAppend{Record: rec[4:]})
				if _, err := f.WriteAt(rec, int64(i)*syncLogRecord); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *Env) (any, error) {
			b, err := engine.ReadFile(env.FS, "/data/log")
			if errors.Is(err, fs.ErrNotExist) {
				return [][]byte(nil), nil
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			var out [][]byte
			for len(b) >= syncLogRecord {
				rec := b[:syncLogRecord]
				if !trusting && binary.LittleEndian.Uint32(rec) != crc32.ChecksumIEEE(rec[4:]) {
					break
				}
				out = append(out, rec[4:])
				b = b[syncLogRecord:]
			}
			return out, nil
		},
	}
}

// TestSyncWritesNoFalseAlarm: a log whose writes go to a file opened with
// O_DSYNC or O_SYNC is durable when each write returns, and the explorer
// says so, as Linux does; without the flag the same log loses what it
// acknowledged. The power failures are explored between each write and its
// sync too, where a torn record must be cut by its CRC: a recovery that
// trusts the size is caught there.
func TestSyncWritesNoFalseAlarm(t *testing.T) {
	opts := Options{Fault: PowerFailure, Strategy: Subsets, MaxStates: 256, Workers: 1}
	for _, c := range []struct {
		name      string
		flag      int
		trusting  bool
		violation bool
	}{
		{"dsync-log", engine.O_DSYNC, false, false},
		{"osync-log", os.O_SYNC, false, false},
		{"unsynced-log", 0, false, true},
		{"dsync-log-trusting", engine.O_DSYNC, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Explore(syncLog(c.name, c.flag, c.trusting), opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.RunError != "" {
				t.Fatalf("the workload failed: %s", res.RunError)
			}
			if got := len(res.Violations) > 0; got != c.violation {
				t.Fatalf("violations: %d, want any: %v (first: %+v)", len(res.Violations), c.violation, res.Violations)
			}
			writeSyncs := 0
			for _, p := range res.Points {
				if strings.Contains(p.At, "write-sync /data/log") {
					writeSyncs++
				}
			}
			if want := map[bool]int{true: 5, false: 0}[c.flag != 0]; writeSyncs != want {
				t.Errorf("%d crash points before a write's sync, want %d", writeSyncs, want)
			}
			if c.trusting && !strings.Contains(res.Violations[0].At, "write-sync") {
				t.Errorf("the trusting recovery is caught at %s, want before a write's sync", res.Violations[0].At)
			}
		})
	}
}

// marker is a scenario that writes an 8-byte commit marker at off of an
// empty file with one write(2) — with appending, an append to a file of
// off zeros; recovery reads the marker and returns it whole or absent, or
// fails: part of a marker is a torn write.
func marker(off int64, appending bool) *Scenario {
	fresh := []byte("NEWNEWNE")
	return &Scenario{
		Name:  "marker",
		Model: models.Register(),
		Run: func(env *Env) error {
			flag := os.O_RDWR | os.O_CREATE
			if appending {
				flag |= os.O_APPEND
			}
			f, err := env.FS.OpenFile("/marker", flag, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if appending {
				if _, err := engine.Append(f, make([]byte, off)); err != nil {
					return err
				}
			}
			env.Invoke(models.RegisterWrite{Value: 1})
			if appending {
				_, err = engine.Append(f, fresh)
			} else {
				_, err = f.WriteAt(fresh, off)
			}
			if err != nil {
				return err
			}
			env.Return(nil)
			return nil
		},
		Recover: func(env *Env) (any, error) {
			f, err := env.FS.OpenFile("/marker", os.O_RDONLY, 0)
			if errors.Is(err, fs.ErrNotExist) {
				return uint64(0), nil
			}
			if err != nil {
				return nil, err
			}
			defer f.Close()
			b := make([]byte, 8)
			if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
				return nil, err
			}
			switch string(b) {
			case string(fresh):
				return uint64(1), nil
			case "\x00\x00\x00\x00\x00\x00\x00\x00":
				return uint64(0), nil
			}
			return nil, errors.New("torn marker " + string(b))
		},
	}
}

// TestProcessCrashTearsShortWrites (docs/DESIGN.md F1): a write or an
// append of any length that straddles a page boundary may stop between its
// pages when the process is killed, as write(2) copies a page at a time;
// one that does not straddle never tears.
func TestProcessCrashTearsShortWrites(t *testing.T) {
	for _, c := range []struct {
		off       int64
		appending bool
		torn      bool
	}{
		{engine.PageSize - 4, false, true},
		{engine.PageSize - 8, false, false},
		{0, false, false},
		{engine.PageSize - 4, true, true},
		{engine.PageSize - 8, true, false},
	} {
		res, err := Explore(marker(c.off, c.appending), Options{Fault: ProcessCrash, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.RunError != "" {
			t.Fatalf("at %d: the workload failed: %s", c.off, res.RunError)
		}
		torn := len(res.Violations) > 0 && strings.Contains(res.Violations[0].Problem, "torn marker NEWN\x00")
		if torn != c.torn || len(res.Violations) > map[bool]int{true: 1, false: 0}[c.torn] {
			t.Errorf("a write of 8 bytes at %d (append: %v): violations %+v, want a torn marker: %v", c.off, c.appending, res.Violations, c.torn)
		}
	}
}
