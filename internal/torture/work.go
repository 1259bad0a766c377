package torture

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"syscall"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/engine/wal"
)

// The workloads, run in a child process until it is killed (or, on a full
// file system, until the engine refuses). Each acknowledges an operation
// on its message pipe only after the engine call that made it durable
// returned.

// walSegmentSize is small, so that the log moves through many segments,
// seals and Publishes in a few hundred entries.
const walSegmentSize = 64 << 10

// walMaxBatch bounds the entries appended before one FlushAndSync: at a
// kill, at most this many entries after the last acknowledged may be in
// the log.
const walMaxBatch = 8

// fsysFor is the file system of a medium: pmem forces the PMem rules
// (cache-line flushes, no msync) on an ordinary file.
func fsysFor(medium string) engine.OSFS {
	if medium == mediumPMem {
		return engine.OSFS{Medium: engine.PMem}
	}
	return engine.OSFS{}
}

// walWork resumes the log at j.Path (creating it) and appends batches of
// entries, each made durable with FlushAndSync and then acknowledged; now
// and then it Publishes a checkpoint of the state, acknowledged likewise
// (not on a full-disk run, j.Grow, where the log must grow).
func walWork(j job, say func(string, ...any)) int {
	fsys := fsysFor(j.Medium)
	stop := func(err error) int {
		say("%s %s %v", msgError, errorKind(err), err)
		return exitWorkError
	}
	w, err := wal.Resume(fsys, j.Path, wal.Bytes, wal.Options{SegmentSize: walSegmentSize, ZeroFill: j.ZeroFill})
	if err != nil {
		return stop(fmt.Errorf("resume: %w", err))
	}
	rec, err := wal.Recover(fsys, j.Path, walStates{}, wal.Bytes, wal.Strict, applyWALEntry(j.Seed))
	if err != nil {
		return stop(fmt.Errorf("the log Resume returned does not read back Strict: %w", err))
	}
	state := rec.State
	rng := rand.New(rand.NewPCG(j.Seed, uint64(j.Cycle)))
	for {
		for range 1 + rng.IntN(walMaxBatch) {
			state.K++
			state.Sum += mix(j.Seed, state.K)
			if _, err := w.Append(walEntry(j.Seed, state.K)); err != nil {
				return stop(fmt.Errorf("append entry %d: %w", state.K, err))
			}
		}
		if err := w.FlushAndSync(); err != nil {
			return stop(fmt.Errorf("sync through entry %d: %w", state.K, err))
		}
		say("%s %d", msgAck, state.K)
		if !j.Grow && rng.IntN(24) == 0 {
			if _, err := wal.Publish(w, walStates{}, state, w.LastID()); err != nil {
				return stop(fmt.Errorf("publish through entry %d: %w", state.K, err))
			}
			say("%s %d", msgPublished, state.K)
		}
	}
}

// poolWork opens the pool at j.Path (creating it) and commits the
// campaign's transactions one by one, acknowledging each after its Update
// returned.
func poolWork(j job, say func(string, ...any)) int {
	stop := func(err error) int {
		say("%s %s %v", msgError, errorKind(err), err)
		return exitWorkError
	}
	// A reader that finds the pool abandoned by a killed writer rolls its
	// log back under the writer's lock: the writer waits for it.
	p, err := openPool(fsysFor(j.Medium), j.Path, j.PoolSize, nil)
	for errors.Is(err, tx.ErrLocked) {
		time.Sleep(time.Millisecond)
		p, err = openPool(fsysFor(j.Medium), j.Path, j.PoolSize, nil)
	}
	if err != nil {
		return stop(fmt.Errorf("open: %w", err))
	}
	s, err := readPool(p, poolFlavor{})
	if err != nil {
		return stop(fmt.Errorf("read the recovered pool: %w", err))
	}
	for k := s.Seq + 1; ; k++ {
		if err := commitPoolOp(p, j.Seed, k, poolFlavor{grow: j.Grow}); err != nil {
			return stop(fmt.Errorf("transaction %d: %w", k, err))
		}
		say("%s %d", msgAck, k)
	}
}

// errorKind says whether err is the engine's typed report of a full file
// system: "nospace", else "other".
func errorKind(err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, tx.ErrNoSpace) {
		return "nospace"
	}
	return "other"
}

// walRead replays the log at j.Path best-effort, over and over, beside
// the workload: each replay must succeed and return entries the workload
// wrote, in order without a gap (the documented promise to a reader
// beside a writer: a prefix of the log). It reports each replay's last
// entry, or its error, until it is killed.
func walRead(j job, say func(string, ...any)) int {
	fsys := fsysFor(j.Medium)
	for {
		var last uint64
		existed := exists(j.Path)
		err := wal.ReplayEach(fsys, j.Path, wal.BytesView, wal.BestEffort, func(id uint64, e []byte) error {
			k, err := entryNumber(e)
			if err == nil && last != 0 && k != last+1 {
				err = fmt.Errorf("%w: entry %d after entry %d (log id %d)", errNotWritten, k, last, id)
			}
			if err == nil {
				err = checkEntry(walEntry, j.Seed, k, e)
			}
			last = k
			return err
		})
		switch {
		case errors.Is(err, fs.ErrNotExist) && !existed:
			// The workload has not created the log yet.
		case errors.Is(err, wal.ErrTruncated):
			// Documented: a Publish removed segments this replay had not
			// reached after it passed entries on; those were a prefix
			// (checked above), and a reader that wants the rest starts
			// again from the checkpoint.
			say("%s %d", msgRead, last)
		case err != nil:
			say("%s %v", msgReadError, err)
		default:
			say("%s %d", msgRead, last)
		}
	}
}

// poolRead opens the pool at j.Path read-only beside the workload and
// reads it in Views, over and over: each must see the model's state after
// some transaction, whole.
func poolRead(j job, say func(string, ...any)) int {
	o := poolOptions(0, nil)
	o.ReadOnly = true
	var p *tx.Pool[poolTag, poolRoot]
	for p == nil {
		var err error
		existed := exists(j.Path) // else the workload has not created it yet
		if p, err = tx.Open[poolTag, poolRoot](fsysFor(j.Medium), j.Path, o); err != nil && existed {
			say("%s open read-only: %v", msgReadError, err)
		}
	}
	model := newPoolModel(j.Seed, j.Grow)
	for {
		s, err := readPool(p, poolFlavor{})
		if err == nil {
			err = judgePoolWith(model, s)
		}
		if err != nil {
			say("%s %v", msgReadError, err)
		} else {
			say("%s %d", msgRead, s.Seq)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
