package torture

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The kill -9 cycles: a workload child runs until it has acknowledged a
// seeded number of operations, and a seeded moment later it is killed;
// a check child then recovers what it left and judges it against every
// acknowledgement of every earlier cycle (the log or pool lives on from
// cycle to cycle, as a production one does through restarts).

// Limits of one cycle. They only turn a stuck process into an anomaly;
// no verdict depends on them.
const (
	progressLimit = 2 * time.Minute // with no acknowledgement
	checkLimit    = 2 * time.Minute
)

// killCase is one workload on one medium, across its cycles.
type killCase struct {
	workload string // "wal" or "pool"
	medium   medium
	dir      string // the case's directory: the log is dir/wal, the pool dir/pool
	// acked is the last operation acknowledged in any cycle since the case
	// began; published the last entry of the latest checkpoint; recovered
	// the last operation the latest check found (unacknowledged ones may
	// survive a kill, and the next cycle goes on after them).
	acked, published, recovered uint64
	fig                         *KillFigures
}

func (c *killCase) name() string { return c.workload + "/" + c.medium.Name }

// path is the log's directory or the pool's file.
func (c *killCase) path() string {
	if c.workload == "wal" {
		return filepath.Join(c.dir, "wal")
	}
	return filepath.Join(c.dir, "pool")
}

// poolSize is a new pool's size in the kill cycles: small, so that the
// workload's large values make it grow.
const poolSize = 256 << 10

// cycleRand is the random source of one cycle of one case.
func cycleRand(seed uint64, name string, cycle int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed^h.Sum64(), uint64(cycle)))
}

// killCycle runs one cycle of c.
func (t *torture) killCycle(c *killCase, cycle int) {
	rng := cycleRand(t.opts.Seed, c.name(), cycle)
	killAt := 1 + rng.IntN(64)
	early := rng.IntN(8) == 0
	delay := time.Duration(rng.IntN(2000)) * time.Microsecond
	if early {
		killAt, delay = 0, time.Duration(rng.IntN(30_000))*time.Microsecond
		c.fig.EarlyKills++
	}
	w := job{Role: rolePoolWork, Path: c.path(), Medium: c.medium.Name, Seed: t.opts.Seed, Cycle: cycle, PoolSize: poolSize}
	pending := uint64(1)
	if c.workload == "wal" {
		w.Role, w.ZeroFill, pending = roleWALWork, rng.IntN(2) == 0, walMaxBatch
	}
	c.fig.Cycles++
	before := c.acked
	ch, err := startChild(w)
	if err != nil {
		t.fatal(err)
		return
	}
	// A reader in another process beside the workload, all along.
	rj := job{Role: rolePoolRead, Path: w.Path, Medium: w.Medium, Seed: w.Seed}
	if c.workload == "wal" {
		rj.Role = roleWALRead
	}
	reader, err := startChild(rj)
	if err != nil {
		ch.kill()
		t.fatal(err)
		return
	}
	var reads, readErrors int
	readErr := ""
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for line := range reader.lines {
			kind, arg, _ := strings.Cut(line, " ")
			switch kind {
			case msgRead:
				reads++
			case msgReadError:
				if readErrors++; readErr == "" {
					readErr = arg
				}
			}
		}
	}()
	workErr := ""
	onMessage := func(line string) {
		kind, arg, _ := strings.Cut(line, " ")
		switch kind {
		case msgAck:
			if k, err := strconv.ParseUint(arg, 10, 64); err == nil && k > c.acked {
				c.acked = k
			}
		case msgPublished:
			c.fig.Checkpoints++
			if k, err := strconv.ParseUint(arg, 10, 64); err == nil && k > c.published {
				c.published = k
			}
		case msgError:
			workErr = arg
		}
	}
	hung := t.awaitAcks(ch, killAt, onMessage)
	time.Sleep(delay)
	ch.kill()
	reader.kill()
	ex, hungAtEnd := ch.wait(progressLimit, onMessage)
	<-readDone
	rex, _ := reader.wait(progressLimit, func(string) {})
	c.fig.Reads += reads
	c.fig.ReadErrors += readErrors
	c.fig.Acked += c.acked - before

	base := Anomaly{Phase: "kill", Case: c.name(), Seed: t.opts.Seed, Cycle: cycle}
	image := filepath.Join(c.dir, "image")
	err = os.RemoveAll(image)
	if err == nil {
		err = os.MkdirAll(image, 0o755)
	}
	if err == nil {
		if err = copyDir(c.path(), filepath.Join(image, filepath.Base(c.path()))); os.IsNotExist(err) {
			err = nil // the workload was killed before it created anything
		}
	}
	if err != nil {
		t.fatal(fmt.Errorf("torture: keep the crash image: %w", err))
		return
	}
	// The workload went on from the last operation recovered, which may
	// be after the last acknowledged.
	pending += max(c.acked, c.recovered) - c.acked
	chk := job{Role: rolePoolCheck, Path: c.path(), Medium: c.medium.Name, Seed: t.opts.Seed, PoolSize: poolSize,
		Acked: c.acked, Published: c.published, Pending: pending}
	if c.workload == "wal" {
		chk.Role = roleWALCheck
	}
	var found, readerFound []Anomaly
	switch class, detail := ex.anomaly(false); {
	case hung || hungAtEnd:
		found = append(found, withClass(base, "hang", fmt.Sprintf("the workload acknowledged nothing for %v", progressLimit)))
	case workErr != "":
		found = append(found, withClass(base, "workload-error", workErr))
	case class != "":
		found = append(found, withClass(base, class, "the workload: "+detail))
	}
	if class, detail := rex.anomaly(false); class != "" {
		readerFound = append(readerFound, withClass(base, class, "the reader beside the workload: "+detail))
	} else if readErr != "" {
		readerFound = append(readerFound, withClass(base, "reader-error", fmt.Sprintf("a reader beside the workload (%d of its %d reads in this cycle failed): %s",
			readErrors, reads+readErrors, readErr)))
	}
	v, vclass, vdetail := t.runCheck(chk)
	if vclass == "" && v.Class != "" {
		vclass, vdetail = v.Class, v.Detail
	}
	if vclass != "" {
		found = append(found, withClass(base, vclass, vdetail))
	} else {
		c.fig.Recovered++
		c.recovered = v.Recovered
	}
	for _, a := range append(readerFound, found...) {
		a.Check = &chk
		t.anomaly(c.fig, a, func(dir string) error { return copyDir(image, dir) })
	}
	if len(found) > 0 {
		// Start the case again from nothing: one broken log must not
		// fail every later cycle.
		t.logf("%s cycle %d: %s, the case starts again from an empty %s", c.name(), cycle, found[0].Class, c.workload)
		os.RemoveAll(c.path())
		c.acked, c.published, c.recovered = 0, 0, 0
	}
}

func withClass(a Anomaly, class, detail string) Anomaly {
	a.Class, a.Detail = class, detail
	return a
}

// awaitAcks passes ch's messages to onMessage until killAt operations
// were acknowledged, the child ended, or it acknowledged nothing for
// progressLimit (then it reports true).
func (t *torture) awaitAcks(ch *child, killAt int, onMessage func(string)) (hung bool) {
	acks := 0
	timer := time.NewTimer(progressLimit)
	defer timer.Stop()
	for acks < killAt {
		select {
		case line, ok := <-ch.lines:
			if !ok {
				return false
			}
			onMessage(line)
			if strings.HasPrefix(line, msgAck+" ") {
				acks++
				timer.Reset(progressLimit)
			}
		case <-timer.C:
			return true
		}
	}
	return false
}

// runCheck runs a check job in a child and returns its verdict, or the
// class and detail of how the child failed to give one.
func (t *torture) runCheck(j job) (v verdict, class, detail string) {
	ch, err := startChild(j)
	if err != nil {
		return v, "crash", err.Error()
	}
	got := false
	ex, hung := ch.wait(checkLimit, func(line string) {
		if rest, ok := strings.CutPrefix(line, msgVerdict+" "); ok {
			got = json.Unmarshal([]byte(rest), &v) == nil
		}
	})
	if hung {
		return v, "hang", fmt.Sprintf("the check (%s) did not end within %v", j.Role, checkLimit)
	}
	if class, detail := ex.anomaly(false); class != "" {
		return v, class, fmt.Sprintf("the check (%s): %s", j.Role, detail)
	}
	if !got {
		return v, "crash", fmt.Sprintf("the check (%s) gave no verdict%s", j.Role, stderrNote(ex.Stderr))
	}
	return v, "", ""
}
