package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// tourCmd is the storage-layer tour: what the engine does on this
// machine's real media, and what the simulated file system makes of one
// file update. It was the first demo; `demo` now runs the scenarios.
func tourCmd(args []string, stdout, stderr io.Writer) int {
	flags := newFlags("tour", "", "Maps a file on each medium this machine has, persists to it and takes\nlocks; then enumerates every crash state of an atomic file update, done\nright and done wrong, on the simulated file system.", stderr)
	rest, err := parseFlags(flags, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(rest) > 0 {
		return usageError(stderr, "tour", fmt.Errorf("tour takes no arguments, got %q", rest[0]))
	}
	fmt.Fprintln(stdout, "== The storage layer on this machine")
	if err := tourMedia(stdout); err != nil {
		fmt.Fprintf(stderr, "crashsim tour: %v\n", err)
		return exitProblem
	}
	fmt.Fprintln(stdout, "\n== Every crash state of an atomic file update (simulated file system)")
	if !tourReplace(stdout) {
		return exitProblem
	}
	return exitOK
}

// tourMedia maps a file on each medium, persists 64-byte records to it,
// grows it, and checks that a second exclusive lock is refused.
func tourMedia(w io.Writer) error {
	disk, err := os.MkdirTemp("", "crashsim-tour-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(disk)
	places := []struct {
		where string
		dir   string
		fsys  engine.OSFS
	}{{"temp dir", disk, engine.OSFS{}}}
	if shm, err := os.MkdirTemp("/dev/shm", "crashsim-tour-"); err == nil {
		defer os.RemoveAll(shm)
		places = append(places,
			struct {
				where string
				dir   string
				fsys  engine.OSFS
			}{"/dev/shm", shm, engine.OSFS{}},
			struct {
				where string
				dir   string
				fsys  engine.OSFS
			}{"/dev/shm, forced pmem", shm, engine.OSFS{Medium: engine.PMem}})
	}
	t := newTable(w)
	t.Header("where", "medium", "persist 64 B", "grow to 2 MiB", "second lock")
	for i, p := range places {
		name := filepath.Join(p.dir, fmt.Sprintf("region%d", i))
		row, err := tourMedium(p.fsys, name)
		if err != nil {
			return fmt.Errorf("%s: %w", p.where, err)
		}
		t.Append(append([]string{p.where}, row...))
	}
	return t.Render()
}

func tourMedium(fsys engine.OSFS, name string) ([]string, error) {
	f, err := engine.Create(fsys, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := fsys.Map(f, 1<<20)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for off := int64(0); off < r.Len(); off += engine.PageSize {
		if err := r.Store64(off, 0); err != nil { // fault the pages in first
			return nil, err
		}
	}
	rec := bytes.Repeat([]byte{0xAB}, 64)
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 2000
	start := time.Now()
	for range n {
		off := rng.Int64N(r.Len()/64) * 64
		if _, err := r.WriteAt(rec, off); err != nil {
			return nil, err
		}
		if err := engine.Persist(r, off, 64); err != nil {
			return nil, err
		}
	}
	perOp := time.Since(start) / n
	if err := r.Store64(0, 42); err != nil {
		return nil, err
	}
	if err := r.Grow(2 << 20); err != nil {
		return nil, err
	}
	grown := "lost data"
	if v, err := r.Load64(0); err == nil && v == 42 && r.Len() == 2<<20 {
		grown = "ok, data kept"
	}
	l, err := fsys.Lock(name+".lock", engine.Exclusive)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	second := "NOT refused"
	if _, err := fsys.Lock(name+".lock", engine.Exclusive); errors.Is(err, engine.ErrLocked) {
		second = "refused: ErrLocked"
	}
	return []string{r.Medium().String(), perOp.String(), grown, second}, nil
}

// tourReplace updates /db/config from "v1" to "v2" by writing a temporary
// file and renaming it over the old one, in three ways, then enumerates
// every crash state a power failure right after the update was acknowledged
// may leave, and counts what each holds.
func tourReplace(w io.Writer) bool {
	variants := []struct {
		name          string
		syncTemp      bool
		syncDir       bool
		wantCorrect   bool
		whatGoesWrong string
	}{
		{"temp, fsync, rename, fsync dir", true, true, true, ""},
		{"no fsync of the temp file", false, true, false, "the new name may hold a file whose data never reached the disk"},
		{"no fsync of the directory", true, false, false, "the rename may be lost: an acknowledged update disappears"},
	}
	t := newTable(w)
	t.Header("update", "crash states", "new (v2)", "old (v1)", "broken", "verdict")
	ok := true
	var notes []string
	for _, v := range variants {
		counts, total, err := replaceStates(v.syncTemp, v.syncDir)
		if err != nil {
			fmt.Fprintf(w, "%s: %v\n", v.name, err)
			return false
		}
		bad := counts["v1"] + counts["broken"]
		verdict := "correct"
		if bad > 0 {
			verdict = fmt.Sprintf("BUG in %d states", bad)
			notes = append(notes, fmt.Sprintf("%s: %s", v.name, v.whatGoesWrong))
		}
		if (bad == 0) != v.wantCorrect {
			ok = false
			verdict += " (unexpected!)"
		}
		t.Append(v.name, fmt.Sprint(total), fmt.Sprint(counts["v2"]), fmt.Sprint(counts["v1"]), fmt.Sprint(counts["broken"]), verdict)
	}
	if err := t.Render(); err != nil {
		fmt.Fprintln(w, err)
		return false
	}
	for _, n := range notes {
		fmt.Fprintln(w, "  "+n)
	}
	fmt.Fprintln(w, "\nNext: `crashsim run` explores whole workloads and their recovery this way.")
	return ok
}

// replaceStates runs the update on a fresh simulated file system and
// classifies every crash state (all subsets of the pending units, at 512-byte
// sectors) by what /db/config holds in it.
func replaceStates(syncTemp, syncDir bool) (map[string]int, int, error) {
	fsys := faultfs.New(faultfs.Options{})
	if err := fsys.MkdirAll("/db", 0o755); err != nil {
		return nil, 0, err
	}
	if err := fsys.SyncDir("/"); err != nil {
		return nil, 0, err
	}
	if err := writeFile(fsys, "/db/config", []byte("v1"), true); err != nil {
		return nil, 0, err
	}
	if err := fsys.SyncDir("/db"); err != nil {
		return nil, 0, err
	}
	// The update. It is acknowledged when the last step returns.
	if err := writeFile(fsys, "/db/config.tmp", bytes.Repeat([]byte("v2"), 1024), syncTemp); err != nil {
		return nil, 0, err
	}
	if err := fsys.Rename("/db/config.tmp", "/db/config"); err != nil {
		return nil, 0, err
	}
	if syncDir {
		if err := fsys.SyncDir("/db"); err != nil {
			return nil, 0, err
		}
	}
	p := fsys.Pending(engine.SectorSize)
	counts := map[string]int{}
	total := 0
	for c := range p.Choices(faultfs.AllSubsets, 1<<16, 1) {
		total++
		img := p.Clone(c, faultfs.Tail{})
		got, err := engine.ReadFile(img, "/db/config")
		switch {
		case err == nil && bytes.Equal(got, bytes.Repeat([]byte("v2"), 1024)):
			counts["v2"]++
		case err == nil && string(got) == "v1":
			counts["v1"]++
		default:
			counts["broken"]++
		}
	}
	return counts, total, nil
}

func writeFile(fsys engine.FS, name string, data []byte, sync bool) error {
	f, err := engine.Create(fsys, name)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// newTable is a terminal table whose headers are shown as written.
func newTable(w io.Writer) *tablewriter.Table {
	return tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
}
