package scenarios

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// The write-ahead log of package engine/wal, checked with the Log model:
// every entry acknowledged by FlushAndSync (or by Publish) must be
// recovered, in order, and nothing that was not appended. Recovery is what
// a program does after a crash: Resume (which repairs a torn tail and makes
// everything it found durable), then a Strict replay, which also checks
// that Resume left a clean log.
//
// Segments are 6 KiB and entries 900 bytes, so that a segment holds six
// entries, a few appends seal a segment and start the next, and frames
// cross 512-byte sectors and 4 KiB blocks.
const (
	walDir     = "/data/wal"
	walSegment = 6 << 10
	walEntry   = 900
)

func walOptions() wal.Options { return wal.Options{SegmentSize: walSegment} }

func init() {
	register(
		func() *sim.Scenario {
			return walScenario("wal-append", "append entries to the WAL, each made durable with FlushAndSync; segments fill and rotate", walAppend, nil)
		},
		func() *sim.Scenario {
			return walScenario("wal-batch", "append batches to the WAL with AppendBatch, Flush to the page cache, then one FlushAndSync per batch", walBatch, nil)
		},
		func() *sim.Scenario {
			return walScenario("wal-sync", "buffered appends to the WAL, some flushed to the page cache, made durable only by a FlushAndSync every third entry", walSync, nil)
		},
		func() *sim.Scenario {
			return walScenario("wal-resume", "a writer flushes entries and is killed; a second process gets ErrLocked while it lives, then Resumes and appends", walResume, nil)
		},
		func() *sim.Scenario {
			return walScenario("wal-bug-no-dirsync", "BUG: never fsyncs the directory after creating a segment: a crash can lose a segment's name and its acknowledged entries",
				func(env *sim.Env, fsys engine.FS) error {
					return walAppend(env, &bugFS{FS: fsys, noSegmentDirSync: true})
				}, nil)
		},
		func() *sim.Scenario {
			return walScenario("wal-bug-no-crc", "BUG: recovery trusts each frame's length and never checks its CRC, so a torn tail reads as entries", walAppend, walTrustLengths)
		},
		func() *sim.Scenario {
			// A cross-failure bug (docs/DESIGN.md F4): every recovery is
			// right, and the crash after the next appends shows it.
			sc := walScenario("wal-bug-resume-keeps-tear", "BUG: Resume never cuts a torn tail and recovery reads best-effort, which stops at the tear: "+
				"appends go on over the torn frame, and the whole frames of the lost batch behind it come back as entries after the next crash (caught only at crash depth 2)",
				walBatch, walRecoverKeepingTear)
			sc.Continue = func(env *sim.Env) error { return walContinue(env, &bugFS{FS: env.FS, noCut: true}) }
			return sc
		},
	)
}

// walScenario builds a WAL scenario from a workload on a file system and a
// recovery (nil: Resume, then a Strict replay). After its recovery the
// program goes on as walContinue does.
func walScenario(name, doc string, run func(env *sim.Env, fsys engine.FS) error, recover func(env *sim.Env) (any, error)) *sim.Scenario {
	if recover == nil {
		recover = walRecover
	}
	return &sim.Scenario{
		Name:     name,
		Doc:      doc,
		Model:    models.Log(),
		Run:      func(env *sim.Env) error { return run(env, env.FS) },
		Recover:  recover,
		Continue: func(env *sim.Env) error { return walContinue(env, env.FS) },
	}
}

// walContinue is how a program goes on after its recovery: it resumes the
// log (which the recovery closed) and appends two entries, each made
// durable.
func walContinue(env *sim.Env, fsys engine.FS) error {
	w, err := wal.Resume(fsys, walDir, wal.Bytes, walOptions())
	if err != nil {
		return err
	}
	return appendEachDurable(env, w, 2)
}

// appendEachDurable appends n entries to w, each made durable before the
// next, then closes w.
func appendEachDurable(env *sim.Env, w *wal.WAL[[]byte], n int) error {
	for range n {
		e := walRecord(env, walEntry)
		env.Invoke(models.LogAppend{Record: e})
		if _, err := w.Append(e); err != nil {
			return err
		}
		if err := w.FlushAndSync(); err != nil {
			return err
		}
		env.Return(nil)
		env.DurableAll()
	}
	return w.Close()
}

// walRecord draws an entry: n letters, from env.Rand.
func walRecord(env *sim.Env, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + env.Rand.IntN(26))
	}
	return b
}

// walAppend appends eight entries, each made durable.
func walAppend(env *sim.Env, fsys engine.FS) error {
	w, err := wal.New(fsys, walDir, wal.Bytes, walOptions())
	if err != nil {
		return err
	}
	return appendEachDurable(env, w, 8)
}

// walBatch appends three batches of three entries: each batch is flushed to
// the page cache, then made durable.
func walBatch(env *sim.Env, fsys engine.FS) error {
	w, err := wal.New(fsys, walDir, wal.Bytes, walOptions())
	if err != nil {
		return err
	}
	for range 3 {
		batch := make([][]byte, 3)
		for i := range batch {
			batch[i] = walRecord(env, walEntry)
			env.Invoke(models.LogAppend{Record: batch[i]})
		}
		if _, err := w.AppendBatch(batch); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := w.FlushAndSync(); err != nil {
			return err
		}
		env.Return(nil)
		env.DurableAll()
	}
	return w.Close()
}

// walSync appends nine entries, buffered; some are flushed to the page
// cache, and every third FlushAndSync makes all of them durable: only then
// are they acknowledged.
func walSync(env *sim.Env, fsys engine.FS) error {
	w, err := wal.New(fsys, walDir, wal.Bytes, walOptions())
	if err != nil {
		return err
	}
	for i := range 9 {
		e := walRecord(env, walEntry)
		env.Invoke(models.LogAppend{Record: e})
		if _, err := w.Append(e); err != nil {
			return err
		}
		env.Return(nil)
		switch i % 3 {
		case 1:
			err = w.Flush()
		case 2:
			if err = w.FlushAndSync(); err == nil {
				env.DurableAll()
			}
		}
		if err != nil {
			return err
		}
	}
	return w.Close()
}

// walResume: a first process appends, syncs some entries and flushes
// others to the page cache; a second one cannot take the log while the
// first lives; the first is killed; the second resumes and appends.
func walResume(env *sim.Env, fsys engine.FS) error {
	w, err := wal.New(fsys, walDir, wal.Bytes, walOptions())
	if err != nil {
		return err
	}
	for i := range 5 {
		e := walRecord(env, walEntry)
		env.Invoke(models.LogAppend{Record: e})
		if _, err := w.Append(e); err != nil {
			return err
		}
		if i < 3 {
			if err := w.FlushAndSync(); err != nil {
				return err
			}
			env.DurableAll()
		} else if err := w.Flush(); err != nil { // in the page cache only
			return err
		}
	}
	second := env.Machine().Start("resumer")
	if _, err := wal.Resume(second.FS(), walDir, wal.Bytes, walOptions()); !errors.Is(err, wal.ErrLocked) {
		return fmt.Errorf("resume while the writer lives: %v, want ErrLocked", err)
	}
	env.Process().Kill()
	w, err = wal.Resume(second.FS(), walDir, wal.Bytes, walOptions())
	if err != nil {
		return err
	}
	for range 4 {
		e := walRecord(env, walEntry)
		env.Invoke(models.LogAppend{Record: e})
		if _, err := w.Append(e); err != nil {
			return err
		}
		if err := w.FlushAndSync(); err != nil {
			return err
		}
		env.DurableAll()
	}
	return w.Close()
}

// walRecover is the recovery of a program using the WAL: Resume, then a
// Strict replay. The ids must be 1, 2, 3...: an invariant of the log.
func walRecover(env *sim.Env) (any, error) {
	w, err := wal.Resume(env.FS, walDir, wal.Bytes, walOptions())
	if err != nil {
		return nil, err
	}
	var log [][]byte
	err = wal.ReplayEach(env.FS, walDir, wal.Bytes, wal.Strict, func(id uint64, e []byte) error {
		if id != uint64(len(log))+1 {
			return fmt.Errorf("entry id %d after %d entries", id, len(log))
		}
		log = append(log, e)
		return nil
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return log, err
}

// walRecoverKeepingTear is the recovery of the resume-keeps-tear bug: a
// Resume whose cut of a torn tail does nothing, then a best-effort replay,
// which stops at the tear and returns what precedes it — the right
// entries, so that no crash of the workload alone shows the bug. (A
// Strict replay, as walRecover reads, would report the tear at once.)
func walRecoverKeepingTear(env *sim.Env) (any, error) {
	fsys := &bugFS{FS: env.FS, noCut: true}
	w, err := wal.Resume(fsys, walDir, wal.Bytes, walOptions())
	if err != nil {
		return nil, err
	}
	var log [][]byte
	err = wal.ReplayEach(fsys, walDir, wal.Bytes, wal.BestEffort, func(id uint64, e []byte) error {
		log = append(log, e)
		return nil
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return log, err
}

// walTrustLengths is the recovery of the no-crc bug: it reads the segments
// itself, frame by frame, trusting each length field and ignoring the
// checksum (the format is engine/wal's: a wal.HeaderSize-byte header,
// then frames of a 20-byte header and a payload).
func walTrustLengths(env *sim.Env) (any, error) {
	des, err := env.FS.ReadDir(walDir)
	if errors.Is(err, fs.ErrNotExist) {
		return [][]byte(nil), nil
	}
	if err != nil {
		return nil, err
	}
	var log [][]byte
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), ".wal") {
			continue
		}
		b, err := engine.ReadFile(env.FS, path.Join(walDir, de.Name()))
		if err != nil {
			return nil, err
		}
		for off := wal.HeaderSize; off+wal.FrameHeaderSize <= len(b); {
			n := int(le32(b[off+4:]))
			kind := wal.Kind(le32(b[off+8:]))
			if n == 0 && kind == 0 || off+wal.FrameHeaderSize+n > len(b) {
				break
			}
			if kind == wal.KindEntry {
				log = append(log, b[off+wal.FrameHeaderSize:off+wal.FrameHeaderSize+n])
			}
			off += wal.FrameHeaderSize + n
		}
	}
	return log, nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// bugFS is the file system as a buggy WAL would use it: it leaves out or
// repeats steps of the protocol, so that the WAL above it behaves as if it
// had been written without them.
type bugFS struct {
	engine.FS
	// noSegmentDirSync makes the directory sync that follows the creation
	// of a segment do nothing.
	noSegmentDirSync bool
	created          bool // a segment was created since the last SyncDir
	// retrySync retries a failed File.Sync once, as code that does not
	// know that Linux drops the pages of a failed fsync would.
	retrySync bool
	// noSyncGlob makes File.Sync of files matching it do nothing.
	noSyncGlob string
	// noCut makes a Truncate that would shorten a segment do nothing: a
	// Resume that never cuts a torn tail.
	noCut bool
}

func (b *bugFS) OpenFile(name string, flag int, perm fs.FileMode) (engine.File, error) {
	f, err := b.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 && strings.HasSuffix(name, ".wal") {
		b.created = true
	}
	return &bugFile{File: f, fs: b}, nil
}

func (b *bugFS) SyncDir(name string) error {
	if b.noSegmentDirSync && b.created {
		b.created = false
		return nil
	}
	return b.FS.SyncDir(name)
}

func (b *bugFS) Lock(name string, mode engine.LockMode) (io.Closer, error) {
	return b.FS.Lock(name, mode)
}

func (b *bugFS) Map(f engine.File, length int64) (engine.Region, error) {
	if bf, ok := f.(*bugFile); ok {
		f = bf.File
	}
	return b.FS.Map(f, length)
}

type bugFile struct {
	engine.File
	fs *bugFS
}

func (f *bugFile) Truncate(size int64) error {
	if f.fs.noCut && strings.HasSuffix(f.Name(), ".wal") {
		if fi, err := f.Stat(); err == nil && size < fi.Size() {
			return nil
		}
	}
	return f.File.Truncate(size)
}

func (f *bugFile) Sync() error {
	if f.fs.noSyncGlob != "" {
		if ok, _ := path.Match(f.fs.noSyncGlob, f.Name()); ok {
			return nil
		}
	}
	err := f.File.Sync()
	if err != nil && f.fs.retrySync {
		err = f.File.Sync()
	}
	return err
}
