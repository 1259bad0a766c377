package torture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The full-disk runs: a workload on a 4 MiB tmpfs, filled beforehand but
// for a seeded amount of free space, runs until the engine refuses. It
// must refuse with a typed error that says no space (never die of
// SIGBUS), every operation it acknowledged must be recovered on the full
// file system and again once space is freed, and the recovered log or
// pool must go on.

const fullDiskSize = 4 << 20

// The free space left before each run, by workload: a pool of 1 MiB is
// created into 64 KiB, grown into 1 MiB, ...
var fullDiskFree = map[string][]int64{
	"wal":  {64 << 10, 256 << 10, 1 << 20},
	"pool": {64 << 10, 512 << 10, 1536 << 10, 3 << 20},
}

const fullDiskPoolSize = 1 << 20

// fullDisk mounts the small tmpfs (as root; otherwise it says why it
// skips) and runs each workload on it until deadline, or once each in a
// short run.
func (t *torture) fullDisk(deadline time.Time) {
	if os.Geteuid() != 0 {
		t.rep.Skipped = append(t.rep.Skipped, fmt.Sprintf("full-disk: mounting a %d MiB tmpfs needs root (uid %d)", fullDiskSize>>20, os.Geteuid()))
		return
	}
	dir := filepath.Join(t.opts.Work, "full")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.fatal(err)
		return
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d", fullDiskSize)); err != nil {
		t.rep.Skipped = append(t.rep.Skipped, fmt.Sprintf("full-disk: mount a tmpfs at %s: %v", dir, err))
		return
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	workloads := []string{"wal", "pool"}
	figs := map[string]*FullDiskFigures{}
	for _, w := range workloads {
		t.rep.FullDisk = append(t.rep.FullDisk, FullDiskFigures{Case: fmt.Sprintf("%s/tmpfs of %d MiB", w, fullDiskSize>>20)})
	}
	for i, w := range workloads {
		figs[w] = &t.rep.FullDisk[i]
	}
	t.logf("full-disk runs on a %d MiB tmpfs", fullDiskSize>>20)
	for run := 0; t.err == nil; run++ {
		if t.opts.Short && run >= 1 || !t.opts.Short && run > 0 && time.Now().After(deadline) {
			break
		}
		for _, w := range workloads {
			t.fullDiskRun(w, dir, run, figs[w])
		}
	}
}

// fullDiskRun runs workload once on the tmpfs at dir.
func (t *torture) fullDiskRun(workload, dir string, run int, fig *FullDiskFigures) {
	frees := fullDiskFree[workload]
	free := frees[run%len(frees)]
	name := fmt.Sprintf("%s/%d KiB free", workload, free>>10)
	fig.Runs++
	base := Anomaly{Phase: "full-disk", Case: name, Seed: t.opts.Seed, Cycle: run}
	if err := emptyDir(dir); err != nil {
		t.fatal(err)
		return
	}
	filler := filepath.Join(dir, "filler")
	if err := fillBut(filler, free); err != nil {
		t.fatal(fmt.Errorf("torture: fill the tmpfs: %w", err))
		return
	}
	path := filepath.Join(dir, workload)
	w := job{Role: rolePoolWork, Path: path, Medium: "tmpfs", Seed: t.opts.Seed, Cycle: run, PoolSize: fullDiskPoolSize, Grow: true}
	chk := job{Role: rolePoolCheck, Path: path, Medium: "tmpfs", Seed: t.opts.Seed, PoolSize: fullDiskPoolSize, Pending: 1, Grow: true}
	if workload == "wal" {
		w.Role, chk.Role, chk.Pending, chk.Grow = roleWALWork, roleWALCheck, walMaxBatch, false
	}
	ch, err := startChild(w)
	if err != nil {
		t.fatal(err)
		return
	}
	var acked, published uint64
	stopped := ""
	ex, hung := ch.wait(progressLimit, func(line string) {
		kind, arg, _ := strings.Cut(line, " ")
		k, _ := strconv.ParseUint(arg, 10, 64)
		switch kind {
		case msgAck:
			acked = max(acked, k)
		case msgPublished:
			published = max(published, k)
		case msgError:
			stopped = arg
		}
	})
	fig.Acked += acked
	chk.Acked, chk.Published = acked, published
	image := filepath.Join(t.opts.Work, "full-image")
	if err := replaceDir(dir, image); err != nil {
		t.fatal(fmt.Errorf("torture: keep the image: %w", err))
		return
	}
	os.Remove(filepath.Join(image, "filler")) // 4 MiB of nothing
	var found []Anomaly
	kind, text, _ := strings.Cut(stopped, " ")
	switch class, detail := ex.anomaly(true); {
	case hung:
		found = append(found, withClass(base, "hang", fmt.Sprintf("the workload neither filled the file system nor stopped within %v", progressLimit)))
	case class != "":
		found = append(found, withClass(base, class, fmt.Sprintf("the workload, after %d acknowledged operations: %s", acked, detail)))
	case kind == "nospace":
		fig.Refused++
	case stopped != "":
		found = append(found, withClass(base, "wrong-error", "the workload stopped with an error that does not say no space: "+text))
	default:
		found = append(found, withClass(base, "crash", "the workload ended without an error on a full file system"))
	}
	// Recovery on the full file system, then with space again.
	for _, full := range []bool{true, false} {
		if !full {
			if err := os.Remove(filler); err != nil {
				t.fatal(err)
				return
			}
		}
		chk.NoSpace = full
		v, class, detail := t.runCheck(chk)
		if class == "" && v.Class != "" {
			class, detail = v.Class, v.Detail
		}
		if class != "" {
			when := "with space freed"
			if full {
				when = "on the full file system"
			}
			found = append(found, withClass(base, class, fmt.Sprintf("recovery %s: %s", when, detail)))
		}
	}
	for _, a := range found {
		a.Check = &chk
		a.Check.NoSpace = false
		t.anomaly(fig, a, func(dir string) error { return copyDir(image, dir) })
	}
}

// emptyDir removes everything in dir.
func emptyDir(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if err := os.RemoveAll(filepath.Join(dir, de.Name())); err != nil {
			return err
		}
	}
	return nil
}

// fillBut writes the file name until its file system is full, then cuts
// it so that free bytes are free again.
func fillBut(name string, free int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 0xa5
	}
	var size int64
	for {
		n, err := f.Write(chunk)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Truncate(max(size-free, 0)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
