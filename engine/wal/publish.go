package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/crashsim/crashsim/engine"
)

// Published says what Publish did.
type Published struct {
	// Checkpoint is the path of the checkpoint written.
	Checkpoint string
	// Through is the id of the last entry it covers.
	Through uint64
	// Marker is the id of the checkpoint marker appended to the log.
	Marker uint64
	// Removed lists the segments and older checkpoints removed.
	Removed []string
}

// Publish publishes a checkpoint of state, which reflects the entries
// 1..through of w, and truncates the log it covers, in the only order that
// survives a crash between any two steps:
//
//  1. the entries through `through` are made durable (FlushAndSync), so
//     that no checkpoint covers an entry the log could still lose;
//  2. the checkpoint is written durably (WriteCheckpoint);
//  3. a checkpoint marker is appended to the log and made durable;
//  4. only then are the sealed segments whose every entry it covers
//     removed, oldest first, then the older checkpoints, and the directory
//     synced.
//
// A crash before 2 completes leaves the old checkpoint and the whole log;
// after it, Recover starts from the new checkpoint and needs no segment it
// covers, so the removals may be lost or half done: the next Publish
// removes what is left. The segment appends go to is never removed. An
// error at any step leaves the log consistent; one from steps 1 or 3 also
// breaks it (see FlushAndSync). Concurrent Publish calls run one at a time.
func Publish[S, E any](w *WAL[E], codec Codec[S], state S, through uint64) (Published, error) {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	p := Published{Through: through}
	if last := w.LastID(); through == 0 || through > last {
		return p, fmt.Errorf("wal: publish: %w: a checkpoint through %d with entries 1..%d in the log", fs.ErrInvalid, through, last)
	}
	if err := w.FlushAndSync(); err != nil {
		return p, fmt.Errorf("wal: publish: %w", err)
	}
	name, err := WriteCheckpoint(w.fsys, w.dir, codec, state, through)
	if err != nil {
		return p, fmt.Errorf("wal: publish: %w", err)
	}
	p.Checkpoint = name
	if p.Marker, err = w.appendMarker(through); err != nil {
		return p, fmt.Errorf("wal: publish: %w", err)
	}
	if err := w.FlushAndSync(); err != nil {
		return p, fmt.Errorf("wal: publish: %w", err)
	}
	p.Removed, err = w.truncate(through)
	if err != nil {
		return p, fmt.Errorf("wal: publish: truncate: %w", err)
	}
	return p, nil
}

// truncate removes the sealed segments whose entries all have ids up to
// through, oldest first, and the checkpoints covering less than through,
// then syncs the directory.
func (w *WAL[E]) truncate(through uint64) ([]string, error) {
	w.mu.Lock()
	n := 0
	for n < len(w.c.sealed) && w.c.sealed[n].last <= through {
		n++
	}
	drop := append([]sealedSegment(nil), w.c.sealed[:n]...)
	w.c.sealed = w.c.sealed[n:]
	w.mu.Unlock()

	var removed []string
	remove := func(name string) error {
		if err := w.fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed = append(removed, name)
		return nil
	}
	for i, s := range drop {
		if err := remove(segmentPath(w.dir, s.seq)); err != nil {
			w.mu.Lock()
			w.c.sealed = append(drop[i:len(drop):len(drop)], w.c.sealed...)
			w.mu.Unlock()
			return removed, err
		}
	}
	names, err := checkpoints(w.fsys, w.dir)
	if err != nil {
		return removed, err
	}
	for _, name := range names {
		if c, _ := parseSeq(path.Base(name), checkpointExt); c < through {
			if err := remove(name); err != nil {
				return removed, err
			}
		}
	}
	if len(removed) == 0 {
		return nil, nil
	}
	return removed, w.fsys.SyncDir(w.dir)
}

// Recovered is the state Recover rebuilt and where it came from.
type Recovered[S any] struct {
	// State is the latest checkpoint's state with every later entry
	// applied; the zero S with every entry applied if there is none.
	State S
	// Checkpoint is the path of the checkpoint recovery started from, ""
	// if none; Through the id of the last entry it covers.
	Checkpoint string
	Through    uint64
	// LastID is the id of the last entry or marker of the log; Applied
	// how many entries were applied after the checkpoint.
	LastID  uint64
	Applied int
}

// Recover rebuilds a state from the WAL in dir and its checkpoints: the
// latest checkpoint that checks (see LatestCheckpoint), decoded with
// states, then every entry after it, decoded with entries and applied in
// order with apply; mode says how the log is read (Strict after Resume,
// which repairs a torn tail; BestEffort to read a crashed log as it is,
// or a log a writer is appending to).
//
// The log must hold every entry after the checkpoint: if it starts after
// the entry following it, or ends before the checkpoint's last entry,
// entries are missing and Recover fails with an error wrapping ErrCorrupt.
// It takes no lock and writes nothing. Beside a writer whose Publish
// removes the checkpoint or segments it is reading, it starts again from
// the latest checkpoint (a fresh decoding of it): apply may then see the
// same ids again, and must be a function of its arguments.
func Recover[S, E any](fsys engine.FS, dir string, states Codec[S], entries Codec[E], mode Mode, apply func(state S, id uint64, e E) (S, error)) (Recovered[S], error) {
	for {
		rec, missing, err := recoverOnce(fsys, dir, states, entries, mode, apply)
		switch {
		case err == nil:
			return rec, nil
		case errors.Is(err, ErrTruncated):
			continue // Publish removed segments under us: see scan
		case missing:
			// At rest, corruption. Beside a writer, a Publish may have
			// written a newer checkpoint and removed the segments the one
			// we read needed, between our reading the one and the other:
			// a newer checkpoint explains it.
			ck, ok, cerr := LatestCheckpoint(fsys, dir, states)
			if cerr == nil && ok && ck.Through > rec.Through {
				continue
			}
		}
		return Recovered[S]{}, err
	}
}

// recoverOnce is one attempt of Recover. On an error it says whether
// entries were missing after the checkpoint, and which one it started
// from (rec.Through).
func recoverOnce[S, E any](fsys engine.FS, dir string, states Codec[S], entries Codec[E], mode Mode, apply func(state S, id uint64, e E) (S, error)) (rec Recovered[S], missing bool, err error) {
	ck, ok, err := LatestCheckpoint(fsys, dir, states)
	if err != nil {
		return rec, false, err
	}
	if ok {
		rec.State, rec.Checkpoint, rec.Through = ck.State, ck.Path, ck.Through
	}
	sc, err := scan(fsys, dir, mode, rec.Through, func(id uint64, payload []byte) error {
		e, err := entries.Decode(payload)
		if err != nil {
			return fmt.Errorf("wal: decode entry %d: %w", id, err)
		}
		if rec.State, err = apply(rec.State, id, e); err != nil {
			return err
		}
		rec.Applied++
		return nil
	})
	if err != nil {
		return rec, false, err
	}
	rec.LastID = sc.last
	switch {
	case sc.last == 0 && rec.Through > 0:
		return rec, true, corrupt(dir, 0, 0, "checkpoint %s covers entries through %d, and the log is empty", rec.Checkpoint, rec.Through)
	case sc.last != 0 && sc.first > rec.Through+1:
		from := "no checkpoint"
		if ok {
			from = fmt.Sprintf("checkpoint %s covers entries through %d", rec.Checkpoint, rec.Through)
		}
		return rec, true, corrupt(dir, 0, 0, "entries %d..%d missing: the log starts at %d and %s", rec.Through+1, sc.first-1, sc.first, from)
	case sc.last < rec.Through:
		return rec, true, corrupt(dir, 0, 0, "checkpoint %s covers entries through %d, and the log ends at %d", rec.Checkpoint, rec.Through, sc.last)
	}
	return rec, false, nil
}
