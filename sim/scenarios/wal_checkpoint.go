package scenarios

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// Checkpoints of the WAL: the state is the log itself (every entry so far),
// so that the Log model judges the recovered state. Publish writes a
// durable checkpoint, a durable marker, then removes the segments the
// checkpoint covers; recovery is Resume, then wal.Recover: the latest
// checkpoint and the entries after it.
func init() {
	register(
		func() *sim.Scenario {
			return walScenario("wal-checkpoint", "append to the WAL and publish checkpoints: durable checkpoint, durable marker, then removal of the covered segments",
				walCheckpoint, walRecoverCheckpoint)
		},
		func() *sim.Scenario {
			return walScenario("wal-bug-checkpoint-no-fsync", "BUG: renames the checkpoint into place without fsyncing it first: a crash leaves a torn checkpoint after the segments it covers are gone",
				func(env *sim.Env, fsys engine.FS) error {
					return walCheckpoint(env, &bugFS{FS: fsys, noSyncGlob: walDir + "/*.checkpoint.tmp"})
				}, walRecoverCheckpoint)
		},
		func() *sim.Scenario {
			return walScenario("wal-bug-publish-truncate-first", "BUG: publishes a checkpoint in the wrong order, removing the segments it covers before the checkpoint is durable: a crash between the two loses acknowledged entries",
				func(env *sim.Env, fsys engine.FS) error {
					return walCheckpointWith(env, fsys, walPublishTruncateFirst)
				}, walRecoverCheckpoint)
		},
	)
}

// walPublisher publishes a checkpoint of log, whose last entry is id.
type walPublisher func(w *wal.WAL[[]byte], fsys engine.FS, log [][]byte, id uint64) (wal.Published, error)

// walPublish is wal.Publish: durable checkpoint, durable marker, removal.
func walPublish(w *wal.WAL[[]byte], _ engine.FS, log [][]byte, id uint64) (wal.Published, error) {
	return wal.Publish(w, logCodec{}, log, id)
}

// walPublishTruncateFirst is the publisher of the bug variant: it first
// removes, durably, the segments the checkpoint will cover — the sealed
// segments whose entries all have ids up to id; with 900-byte entries and
// 6 KiB segments, segment n holds entries 6n-5..6n — then calls Publish,
// which writes the checkpoint and the marker (and finds nothing left to
// remove).
func walPublishTruncateFirst(w *wal.WAL[[]byte], fsys engine.FS, log [][]byte, id uint64) (wal.Published, error) {
	removed := false
	for seq := uint64(1); 6*seq <= id && 6*seq < w.LastID(); seq++ {
		name := fmt.Sprintf("%s/%016x.wal", walDir, seq)
		if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return wal.Published{}, err
		} else if err == nil {
			removed = true
		}
	}
	if removed {
		if err := fsys.SyncDir(walDir); err != nil {
			return wal.Published{}, err
		}
	}
	return wal.Publish(w, logCodec{}, log, id)
}

// walCheckpoint appends nine entries, each made durable, and publishes a
// checkpoint after the seventh (the first segment, sealed after six, is
// removed) and after the ninth.
func walCheckpoint(env *sim.Env, fsys engine.FS) error {
	return walCheckpointWith(env, fsys, walPublish)
}

// walCheckpointWith is walCheckpoint with the publisher publish.
func walCheckpointWith(env *sim.Env, fsys engine.FS, publish walPublisher) error {
	w, err := wal.New(fsys, walDir, wal.Bytes, walOptions())
	if err != nil {
		return err
	}
	var log [][]byte
	for i := range 9 {
		e := walRecord(env, walEntry)
		env.Invoke(models.LogAppend{Record: e})
		id, err := w.Append(e)
		if err != nil {
			return err
		}
		if err := w.FlushAndSync(); err != nil {
			return err
		}
		env.Return(nil)
		env.DurableAll()
		log = append(log, e)
		if i == 6 || i == 8 {
			p, err := publish(w, fsys, log, id)
			if err != nil {
				return err
			}
			if i == 6 && len(p.Removed) == 0 {
				return fmt.Errorf("the first publish removed nothing: %+v", p)
			}
		}
	}
	return w.Close()
}

// walRecoverCheckpoint resumes the log and recovers its state from the
// latest checkpoint and the entries after it.
func walRecoverCheckpoint(env *sim.Env) (any, error) {
	w, err := wal.Resume(env.FS, walDir, wal.Bytes, walOptions())
	if err != nil {
		return nil, err
	}
	rec, err := wal.Recover(env.FS, walDir, logCodec{}, wal.Bytes, wal.Strict, func(log [][]byte, id uint64, e []byte) ([][]byte, error) {
		return append(log, e), nil
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return rec.State, err
}

// logCodec encodes a log of records: a count, then each record's length
// and bytes.
type logCodec struct{}

func (logCodec) Append(b []byte, log [][]byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(log)))
	for _, r := range log {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
		b = append(b, r...)
	}
	return b, nil
}

func (logCodec) Decode(b []byte) ([][]byte, error) {
	if len(b) < 4 {
		return nil, errors.New("log: short")
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	var log [][]byte
	for range n {
		if len(b) < 4 || uint64(len(b)-4) < uint64(binary.LittleEndian.Uint32(b)) {
			return nil, errors.New("log: short record")
		}
		m := binary.LittleEndian.Uint32(b)
		log = append(log, append([]byte(nil), b[4:4+m]...))
		b = b[4+m:]
	}
	if len(b) != 0 {
		return nil, errors.New("log: trailing bytes")
	}
	return log, nil
}
