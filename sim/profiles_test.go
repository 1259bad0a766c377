package sim

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// renameOver updates a file by writing a temporary file and renaming it
// over the old one, then fsyncing the directory, but never fsyncs the data
// after the first version's (with syncFirst; without, not even that one):
// ALICE's replace-via-rename finding, which ext4 data=ordered
// (auto_da_alloc) and btrfs make safe, and xfs does not. The first
// version's rename replaces nothing, so no file system flushes it.
func renameOver(syncFirst bool) *Scenario {
	return &Scenario{
		Name:  "rename-over",
		Model: models.KV(),
		Run: func(env *Env) error {
			if err := env.FS.MkdirAll("/d", 0o755); err != nil {
				return err
			}
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			for i := range 3 {
				v := strings.Repeat(string(rune('a'+i)), 1200)
				env.Invoke(models.KVPut{Key: "k", Value: v})
				f, err := env.FS.OpenFile("/d/tmp", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
				if err != nil {
					return err
				}
				if _, err := f.WriteAt([]byte(v), 0); err != nil {
					return err
				}
				if i == 0 && syncFirst {
					if err := f.Sync(); err != nil {
						return err
					}
				}
				if err := f.Close(); err != nil {
					return err
				}
				if err := env.FS.Rename("/d/tmp", "/d/k"); err != nil {
					return err
				}
				if err := env.FS.SyncDir("/d"); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *Env) (any, error) {
			b, err := engine.ReadFile(env.FS, "/d/k")
			if errors.Is(err, fs.ErrNotExist) {
				return map[string]string{}, nil
			}
			return map[string]string{"k": string(b)}, err
		},
	}
}

// trustingLog appends records of 1000 bytes, each framed by its length
// and fsynced, and recovers by trusting the lengths: a size that outlives
// its data reads as records of zeros or garbage, which a file system that
// orders data before the size never shows.
func trustingLog() *Scenario {
	var recs [][]byte
	for i := range 3 {
		recs = append(recs, []byte(strings.Repeat(string(rune('p'+i)), 1000)))
	}
	sc := appendLog(recs, func(env *Env) (any, error) {
		b, err := engine.ReadFile(env.FS, "/log")
		if errors.Is(err, fs.ErrNotExist) {
			return [][]byte(nil), nil
		}
		var out [][]byte
		for off := 0; off+4 <= len(b); {
			n := int(binary.LittleEndian.Uint32(b[off:]))
			if off+4+n > len(b) {
				break
			}
			out = append(out, b[off+4:off+4+n])
			off += 4 + n
		}
		return out, err
	})
	sc.Name = "trusting-log"
	return sc
}

// TestBreaksOn: a violation says on which profiles it reproduces, and the
// profiles that order what it needs lost do not reproduce it.
func TestBreaksOn(t *testing.T) {
	for _, c := range []struct {
		sc       *Scenario
		first    bool // only the first violation breaks so
		breaksOn []string
	}{
		{renameOver(true), false, []string{"posix", "ext4-writeback", "xfs"}},
		// The first version's rename replaces nothing: no flush.
		{renameOver(false), true, []string{"posix", "ext4-writeback", "xfs", "ext4-ordered", "btrfs"}},
		{trustingLog(), false, []string{"posix", "ext4-writeback"}},
	} {
		res, err := Explore(c.sc, Options{})
		if err != nil || len(res.Violations) == 0 {
			t.Fatalf("%s: %v, %d violations under posix", c.sc.Name, err, len(res.Violations))
		}
		var not []string
		for _, p := range faultfs.Profiles {
			if !slices.Contains(c.breaksOn, p.Name) {
				not = append(not, p.Name)
			}
		}
		vs := res.Violations
		if c.first {
			vs = vs[:1]
		}
		for _, v := range vs {
			if !slices.Equal(v.BreaksOn, c.breaksOn) || !slices.Equal(v.NotOn, not) {
				t.Errorf("%s: violation at point %d breaks on %v, not on %v; want %v, not %v", c.sc.Name, v.Point, v.BreaksOn, v.NotOn, c.breaksOn, not)
			}
			if !strings.Contains(v.String(), "profiles: "+v.ProfilesText()) || v.ProfilesText() != profilesText(c.breaksOn, not) {
				t.Errorf("%s: the violation's text does not say its profiles:\n%s", c.sc.Name, v.String())
			}
			id, err := ParseReplayID(v.ReplayID)
			if err != nil || id.Profile != "posix" {
				t.Fatalf("%s: replay id %q: %+v, %v", c.sc.Name, v.ReplayID, id, err)
			}
			rp, err := RunReplay(c.sc, id)
			if err != nil || rp.Violation == nil || !slices.Equal(rp.Violation.BreaksOn, v.BreaksOn) {
				t.Errorf("%s: replay %s: %v, %+v; want it to break on %v", c.sc.Name, v.ReplayID, err, rp, v.BreaksOn)
			}
		}
	}
}

func profilesText(breaks, not []string) string {
	if len(not) == 0 {
		return "breaks on every profile"
	}
	return "breaks on " + wordList(breaks, "and") + "; not on " + wordList(not, "or")
}

// TestBreaksOnAgreesWithExploration checks the judgement of profiles
// against runs under each profile, with every state of each crash point
// enumerated: a violation not on P is at a crash point where the run under
// P finds nothing, and one on P is at a point where, or before which (an
// identical image judged earlier), the run under P finds one. Posix, the
// weakest, finds every violation any profile finds.
func TestBreaksOnAgreesWithExploration(t *testing.T) {
	for _, sc := range []*Scenario{renameOver(true), renameOver(false), trustingLog(), appendLog([][]byte{[]byte(strings.Repeat("x", 700))}, recoverLog)} {
		opts := Options{MaxStates: 1 << 16}
		posix, err := Explore(sc, opts)
		if err != nil {
			t.Fatal(err)
		}
		failsAt := func(r *Result) map[int]bool {
			m := map[int]bool{}
			for _, v := range r.Violations {
				m[v.Point] = true
			}
			return m
		}
		for _, p := range faultfs.Profiles {
			o := opts
			o.Profile = p.Name
			res, err := Explore(sc, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Profile != p.Name {
				t.Errorf("%s: the result of a run under %s says %q", sc.Name, p.Name, res.Profile)
			}
			at := failsAt(res)
			for k := range at {
				if !failsAt(posix)[k] {
					t.Errorf("%s: %s fails at crash point %d, posix does not", sc.Name, p.Name, k)
				}
			}
			for _, v := range posix.Violations {
				earlier := false
				for k := range at {
					earlier = earlier || k <= v.Point
				}
				switch on := slices.Contains(v.BreaksOn, p.Name); {
				case on && !earlier:
					t.Errorf("%s: the violation at point %d breaks on %s, but a run under %s finds none up to it", sc.Name, v.Point, p.Name, p.Name)
				case !on && at[v.Point]:
					t.Errorf("%s: the violation at point %d does not break on %s, but a run under %s finds one there", sc.Name, v.Point, p.Name, p.Name)
				}
			}
		}
	}
}

// TestProfileOptions: the profile is an option of the run, in the result
// and the replay id; an unknown one is a usage error; an id printed before
// profiles replays under posix-4k, the rules of that time.
func TestProfileOptions(t *testing.T) {
	sc := renameOver(true)
	if _, err := Explore(sc, Options{Profile: "ext3"}); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "posix, ext4-writeback, xfs, ext4-ordered, btrfs or posix-4k") {
		t.Errorf("an unknown profile: %v", err)
	}
	res, err := Explore(sc, Options{Profile: "posix-4k"})
	if err != nil || len(res.Violations) == 0 || res.Profile != "posix-4k" {
		t.Fatalf("posix-4k: %v, %+v", err, res)
	}
	v := res.Violations[0]
	id, err := ParseReplayID(v.ReplayID)
	if err != nil {
		t.Fatal(err)
	}
	id.Profile = "" // the id as printed before profiles
	old := id.String()
	if strings.Contains(old, "posix") {
		t.Fatalf("the id without a profile names one: %s", old)
	}
	back, err := ParseReplayID(old)
	if err != nil || back.Options().Profile != "posix-4k" {
		t.Fatalf("ParseReplayID(%q) = %+v, %v; want its options under posix-4k", old, back, err)
	}
	rp, err := RunReplay(sc, back)
	if err != nil || rp.Violation == nil || rp.Violation.Problem != v.Problem {
		t.Fatalf("replay of %s: %v, %+v; want %q", old, err, rp, v.Problem)
	}
}
