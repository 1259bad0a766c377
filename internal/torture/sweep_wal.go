package torture

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/faultfs"
)

// The sweeps of engine/wal's three formats: a WAL segment, a checkpoint,
// a record log.

// sweepSegmentSize makes a small log span a few segments.
const sweepSegmentSize = 1024

// walTyped reports whether err is engine/wal's word for damage. ErrVersion
// is not: a checksum covers the version, so a damaged one reads as
// corruption.
func walTyped(err error) bool { return errors.Is(err, wal.ErrCorrupt) }

// judgeEntries classifies what a reader returned without an error: the
// entries written, a prefix of them where a prefix is documented
// (prefixOK), anything else silent wrong.
func judgeEntries(got, want [][]byte, prefixOK bool, what string) (Class, string) {
	n := 0
	for n < len(got) && n < len(want) && bytes.Equal(got[n], want[n]) {
		n++
	}
	switch {
	case n == len(got) && n == len(want):
		return Correct, ""
	case n == len(got) && prefixOK:
		return Prefix, fmt.Sprintf("%d of the %d %s", n, len(want), what)
	case n == len(got):
		return SilentWrong, fmt.Sprintf("%d of the %d %s, and no error", n, len(want), what)
	}
	return SilentWrong, fmt.Sprintf("%d %s, of which #%d is not the one written, and no error", len(got), what, n+1)
}

func entryValues(es []wal.Entry[[]byte]) [][]byte {
	vs := make([][]byte, len(es))
	for i, e := range es {
		vs[i] = e.Value
	}
	return vs
}

// buildSegmentSweep: a log of 30 small entries over 1 KiB segments. The
// files damaged are the first segment (sealed: damage there is an error in
// both modes), the last holding data and the one created ahead of it
// (where best effort may return a prefix).
func buildSegmentSweep(seed uint64, short bool) (*subject, error) {
	fsys := faultfs.New(faultfs.Options{})
	w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: sweepSegmentSize})
	if err != nil {
		return nil, err
	}
	for k := uint64(1); k <= 30; k++ {
		if _, err := w.Append(smallEntry(seed, k)); err != nil {
			return nil, err
		}
		if k%5 == 0 {
			if err := w.FlushAndSync(); err != nil {
				return nil, err
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	im, err := snapshot(fsys, nil, "/wal")
	if err != nil {
		return nil, err
	}
	es, err := wal.Replay(fsys, "/wal", wal.Bytes, wal.Strict)
	if err != nil {
		return nil, err
	}
	intact := entryValues(es)
	var segs []string
	lastData := -1
	for _, name := range sortedKeys(im.files) {
		if strings.HasSuffix(name, ".wal") {
			if b := im.files[name]; len(b) > wal.HeaderSize && slices.ContainsFunc(b[wal.HeaderSize:], func(c byte) bool { return c != 0 }) {
				lastData = len(segs)
			}
			segs = append(segs, name)
		}
	}
	if lastData < 1 || lastData+1 >= len(segs) {
		return nil, fmt.Errorf("torture: the sweep's log has segments %q, data through #%d: want a sealed one, a last one and one ahead", segs, lastData)
	}
	swept := []string{segs[0], segs[lastData], segs[lastData+1]}
	tail := map[string]bool{segs[lastData]: true, segs[lastData+1]: true}
	s := &subject{image: im, files: fmt.Sprintf("a log of %d entries in %d segments of %d bytes: %s (sealed), %s (last with data), %s (created ahead)",
		len(intact), len(segs), sweepSegmentSize, path.Base(swept[0]), path.Base(swept[1]), path.Base(swept[2]))}
	for _, name := range swept {
		s.inputs = append(s.inputs, mutations(name, im.files[name], wal.HeaderSize, short, 8)...)
	}
	replay := func(fsys engine.FS, mode wal.Mode, m mutation, prefixOK bool) (Class, string) {
		es, err := wal.Replay(fsys, "/wal", wal.Bytes, mode)
		if err != nil {
			return classifyError(err, walTyped)
		}
		return judgeEntries(entryValues(es), intact, prefixOK && tail[m.File], "entries")
	}
	s.readers = []reader{
		{"strict", func(fsys engine.FS, m mutation) (Class, string) { return replay(fsys, wal.Strict, m, false) }},
		{"best-effort", func(fsys engine.FS, m mutation) (Class, string) { return replay(fsys, wal.BestEffort, m, true) }},
		{"resume", func(fsys engine.FS, m mutation) (Class, string) {
			w, err := wal.Resume(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: sweepSegmentSize})
			if err != nil {
				return classifyError(err, walTyped)
			}
			if err := w.Close(); err != nil {
				return classifyError(err, walTyped)
			}
			es, err := wal.Replay(fsys, "/wal", wal.Bytes, wal.Strict)
			if err != nil {
				return SilentWrong, fmt.Sprintf("Resume succeeded, and Strict replay then fails: %v", err)
			}
			return judgeEntries(entryValues(es), intact, tail[m.File], "entries")
		}},
	}
	return s, nil
}

// buildCheckpointSweep: a log of 32 small entries with a checkpoint
// through the 24th, published, so that the segments it covers are gone.
// The file damaged is the checkpoint.
func buildCheckpointSweep(seed uint64, short bool) (*subject, error) {
	fsys := faultfs.New(faultfs.Options{})
	w, err := wal.New(fsys, "/wal", wal.Bytes, wal.Options{SegmentSize: sweepSegmentSize})
	if err != nil {
		return nil, err
	}
	var state walState
	var ck wal.Published
	for k := uint64(1); k <= 32; k++ {
		if _, err := w.Append(smallEntry(seed, k)); err != nil {
			return nil, err
		}
		state.K, state.Sum = k, state.Sum+mix(seed, k)
		if k == 24 {
			if ck, err = wal.Publish(w, walStates{}, state, w.LastID()); err != nil {
				return nil, err
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	im, err := snapshot(fsys, nil, "/wal")
	if err != nil {
		return nil, err
	}
	apply := applyEntries(smallEntry, seed)
	wantCk, err := wal.ReadCheckpoint(fsys, ck.Checkpoint, walStates{})
	if err != nil {
		return nil, err
	}
	want, err := wal.Recover(fsys, "/wal", walStates{}, wal.Bytes, wal.Strict, apply)
	if err != nil {
		return nil, err
	}
	if want.State != state || len(ck.Removed) == 0 {
		return nil, fmt.Errorf("torture: the sweep's log recovers %+v (want %+v) and Publish removed %q", want.State, state, ck.Removed)
	}
	b := im.files[ck.Checkpoint]
	s := &subject{image: im, files: fmt.Sprintf("a checkpoint of %d bytes (%s) of a log whose first segment it covers is gone", len(b), path.Base(ck.Checkpoint)),
		inputs: mutations(ck.Checkpoint, b, len(b), short, 1)}
	s.readers = []reader{
		{"read-checkpoint", func(fsys engine.FS, m mutation) (Class, string) {
			got, err := wal.ReadCheckpoint(fsys, ck.Checkpoint, walStates{})
			switch {
			case err != nil:
				return classifyError(err, walTyped)
			case got.State != wantCk.State || got.Through != wantCk.Through:
				return SilentWrong, fmt.Sprintf("a checkpoint through %d of %+v, and no error (written: through %d, %+v)", got.Through, got.State, wantCk.Through, wantCk.State)
			}
			return Correct, ""
		}},
		{"recover", func(fsys engine.FS, m mutation) (Class, string) {
			got, err := wal.Recover(fsys, "/wal", walStates{}, wal.Bytes, wal.Strict, apply)
			switch {
			case err != nil:
				return classifyError(err, walTyped)
			case got.State != want.State:
				return SilentWrong, fmt.Sprintf("recovered %+v, and no error (written: %+v)", got.State, want.State)
			}
			return Correct, ""
		}},
	}
	return s, nil
}

// buildRecordLogSweep: a record log of 12 small records, damaged.
func buildRecordLogSweep(seed uint64, short bool) (*subject, error) {
	const name = "/log/records"
	fsys := faultfs.New(faultfs.Options{})
	if err := fsys.MkdirAll("/log", 0o755); err != nil {
		return nil, err
	}
	l, err := wal.CreateRecordLog(fsys, name, wal.RecordLogOptions{})
	if err != nil {
		return nil, err
	}
	for k := uint64(1); k <= 12; k++ {
		if _, err := l.Append(smallEntry(seed, k)); err != nil {
			return nil, err
		}
	}
	if err := l.FlushAndSync(); err != nil {
		return nil, err
	}
	if err := l.Close(); err != nil {
		return nil, err
	}
	im, err := snapshot(fsys, nil, "/log")
	if err != nil {
		return nil, err
	}
	intact, err := wal.ReadRecords(fsys, name, wal.Strict)
	if err != nil {
		return nil, err
	}
	b := im.files[name]
	s := &subject{image: im, files: fmt.Sprintf("a record log of %d records, %d bytes", len(intact), len(b)),
		inputs: mutations(name, b, wal.HeaderSize, short, 4)}
	read := func(fsys engine.FS, mode wal.Mode) (Class, string) {
		got, err := wal.ReadRecords(fsys, name, mode)
		if err != nil {
			return classifyError(err, walTyped)
		}
		return judgeEntries(got, intact, mode == wal.BestEffort, "records")
	}
	s.readers = []reader{
		{"strict", func(fsys engine.FS, m mutation) (Class, string) { return read(fsys, wal.Strict) }},
		{"best-effort", func(fsys engine.FS, m mutation) (Class, string) { return read(fsys, wal.BestEffort) }},
		{"reopen", func(fsys engine.FS, m mutation) (Class, string) {
			l, err := wal.OpenRecordLog(fsys, name, wal.RecordLogOptions{})
			if err != nil {
				return classifyError(err, walTyped)
			}
			if err := l.Close(); err != nil {
				return classifyError(err, walTyped)
			}
			got, err := wal.ReadRecords(fsys, name, wal.Strict)
			if err != nil {
				return SilentWrong, fmt.Sprintf("OpenRecordLog succeeded, and a Strict read then fails: %v", err)
			}
			return judgeEntries(got, intact, true, "records")
		}},
	}
	return s, nil
}
