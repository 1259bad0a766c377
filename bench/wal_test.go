package bench

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	tidwal "github.com/tidwall/wal"
	"go.etcd.io/etcd/raft/v3/raftpb"
	etcdwal "go.etcd.io/etcd/server/v3/wal"
	"go.etcd.io/etcd/server/v3/wal/walpb"
	"go.uber.org/zap"
)

// The write-ahead log side by side with etcd's (server/v3/wal, v3.5) and
// tidwall/wal: the same entries, written to the same disk (a temporary
// directory under $TMPDIR, which must be on the disk, not tmpfs), each log
// with its default segment size and its own durability barrier (etcd's
// Save of entries, which fdatasyncs; tidwall's Write and WriteBatch, which
// fsync; crashsim's FlushAndSync, which fsyncs).

// walSizes are the entry sizes of the benchmarks.
var walSizes = []int{100, 1024, 64 << 10}

// walBatch is how many entries a batch holds.
const walBatch = 1000

// walPayload returns an entry of n bytes.
func walPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// walDir returns a fresh directory on the disk.
func walDir(b *testing.B) string {
	dir, err := os.MkdirTemp("", "crashsim-wal-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// walPeer is one log under test: appending n entries with one durability
// barrier, and a replay of everything.
type walPeer struct {
	name   string
	open   func(b *testing.B, dir string) walWriter
	replay func(b *testing.B, dir string) (entries, bytes int)
}

// walWriter appends entries, then makes them durable, in one call.
type walWriter interface {
	appendSync(ents [][]byte) error
	close() error
}

var walPeers = []walPeer{
	{"etcd", openEtcd, replayEtcd},
	{"tidwall", openTidwall, replayTidwall(false)},
	{"crashsim", openCrashsim(wal.Options{}), replayCrashsim(wal.Bytes)},
}

// walWritePeers adds, for the batch and sync-each benchmarks, crashsim
// with Options.ZeroFill: each segment written with zeros when it is
// created, the segment ahead by a goroutine of the WAL's. The creation
// still in flight when the timer stops is not timed (New's two segments
// are not either, nor etcd's first file).
var walWritePeers = append(walPeers[:len(walPeers):len(walPeers)],
	walPeer{"crashsim-zerofill", openCrashsim(wal.Options{ZeroFill: true}), replayCrashsim(wal.Bytes)},
)

// walReplayPeers adds, for replay only, the forms that do not copy each
// entry: tidwall's NoCopy option and crashsim's BytesView codec.
var walReplayPeers = append(walPeers[:len(walPeers):len(walPeers)],
	walPeer{"tidwall-nocopy", openTidwall, replayTidwall(true)},
	walPeer{"crashsim-view", openCrashsim(wal.Options{}), replayCrashsim(wal.BytesView)},
)

// etcd's WAL: Save(entries) encodes them and fdatasyncs.
type etcdWriter struct {
	w     *etcdwal.WAL
	index uint64
	ents  []raftpb.Entry
}

func openEtcd(b *testing.B, dir string) walWriter {
	w, err := etcdwal.Create(zap.NewNop(), dir+"/etcd", nil)
	if err != nil {
		b.Fatal(err)
	}
	return &etcdWriter{w: w}
}

func (e *etcdWriter) appendSync(ents [][]byte) error {
	e.ents = e.ents[:0]
	for _, d := range ents {
		e.index++
		e.ents = append(e.ents, raftpb.Entry{Term: 1, Index: e.index, Type: raftpb.EntryNormal, Data: d})
	}
	return e.w.Save(raftpb.HardState{}, e.ents)
}

func (e *etcdWriter) close() error { return e.w.Close() }

func replayEtcd(b *testing.B, dir string) (int, int) {
	w, err := etcdwal.OpenForRead(zap.NewNop(), dir+"/etcd", walpb.Snapshot{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	_, _, ents, err := w.ReadAll()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for i := range ents {
		n += len(ents[i].Data)
	}
	return len(ents), n
}

// tidwall/wal: WriteBatch writes the batch and fsyncs.
type tidwallWriter struct {
	l     *tidwal.Log
	index uint64
	batch tidwal.Batch
}

func openTidwall(b *testing.B, dir string) walWriter {
	l, err := tidwal.Open(dir+"/tidwall", nil)
	if err != nil {
		b.Fatal(err)
	}
	return &tidwallWriter{l: l}
}

func (t *tidwallWriter) appendSync(ents [][]byte) error {
	if len(ents) == 1 {
		t.index++
		return t.l.Write(t.index, ents[0])
	}
	t.batch.Clear()
	for _, d := range ents {
		t.index++
		t.batch.Write(t.index, d)
	}
	return t.l.WriteBatch(&t.batch)
}

func (t *tidwallWriter) close() error { return t.l.Close() }

func replayTidwall(noCopy bool) func(b *testing.B, dir string) (int, int) {
	return func(b *testing.B, dir string) (int, int) {
		opts := *tidwal.DefaultOptions
		opts.NoCopy = noCopy
		l, err := tidwal.Open(dir+"/tidwall", &opts)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		first, _ := l.FirstIndex()
		last, _ := l.LastIndex()
		n := 0
		for i := first; i <= last && i > 0; i++ {
			d, err := l.Read(i)
			if err != nil {
				b.Fatal(err)
			}
			n += len(d)
		}
		return int(last - first + 1), n
	}
}

// crashsim's WAL: AppendBatch (or Append), then FlushAndSync.
type crashsimWriter struct{ w *wal.WAL[[]byte] }

func openCrashsim(opts wal.Options) func(b *testing.B, dir string) walWriter {
	return func(b *testing.B, dir string) walWriter {
		w, err := wal.New(engine.OSFS{}, dir+"/crashsim", wal.Bytes, opts)
		if err != nil {
			b.Fatal(err)
		}
		return crashsimWriter{w}
	}
}

func (c crashsimWriter) appendSync(ents [][]byte) error {
	var err error
	if len(ents) == 1 {
		_, err = c.w.Append(ents[0])
	} else {
		_, err = c.w.AppendBatch(ents)
	}
	if err != nil {
		return err
	}
	return c.w.FlushAndSync()
}

func (c crashsimWriter) close() error { return c.w.Close() }

func replayCrashsim(codec wal.Codec[[]byte]) func(b *testing.B, dir string) (int, int) {
	return func(b *testing.B, dir string) (int, int) {
		entries, n := 0, 0
		err := wal.ReplayEach(engine.OSFS{}, dir+"/crashsim", codec, wal.Strict, func(_ uint64, e []byte) error {
			entries++
			n += len(e)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return entries, n
	}
}

// writeEntries appends b.N entries of size bytes in batches of batch, one
// durability barrier per batch: ns/op is the time per entry.
func writeEntries(b *testing.B, p walPeer, size, batch int) {
	w := p.open(b, walDir(b))
	defer w.close()
	data := walPayload(size)
	ents := make([][]byte, batch)
	for i := range ents {
		ents[i] = data
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		if err := w.appendSync(ents[:min(batch, b.N-i)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// BenchmarkWALBatch appends entries in batches of 1,000 with one sync per
// batch; ns/op is per entry.
func BenchmarkWALBatch(b *testing.B) {
	for _, size := range walSizes {
		for _, p := range walWritePeers {
			b.Run(fmt.Sprintf("size=%d/%s", size, p.name), func(b *testing.B) { writeEntries(b, p, size, walBatch) })
		}
	}
}

// BenchmarkWALSyncEach appends entries one at a time, each made durable
// before the next, from one writer; ns/op is per entry.
func BenchmarkWALSyncEach(b *testing.B) {
	for _, size := range walSizes {
		for _, p := range walWritePeers {
			b.Run(fmt.Sprintf("size=%d/%s", size, p.name), func(b *testing.B) { writeEntries(b, p, size, 1) })
		}
	}
}

// BenchmarkWALGroupCommit: eight goroutines each append an entry and make
// it durable, over and over; ns/op is wall time per entry, and entries/s
// the throughput. crashsim's concurrent FlushAndSync calls share fsyncs;
// etcd's Save and tidwall's Write hold their log's lock across the sync,
// so their writers take turns (etcd's single writer is the reference).
func BenchmarkWALGroupCommit(b *testing.B) {
	const writers = 8
	data := walPayload(100)
	b.Run("size=100/etcd-1-writer", func(b *testing.B) {
		writeEntries(b, walPeers[0], 100, 1)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
	for _, p := range walPeers {
		b.Run(fmt.Sprintf("size=100/%s-%d-writers", p.name, writers), func(b *testing.B) {
			w := p.open(b, walDir(b))
			defer w.close()
			var mu sync.Mutex // the peers number entries: their writers must take turns
			b.SetBytes(100)
			b.SetParallelism(writers / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ents := [][]byte{data}
				for pb.Next() {
					var err error
					if cw, ok := w.(crashsimWriter); ok {
						err = cw.appendSync(ents)
					} else {
						mu.Lock()
						err = w.appendSync(ents)
						mu.Unlock()
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// writeReplayLog writes count entries of size bytes with p into dir, in
// batches of walBatch, and checks that a replay reads them all back (which
// also puts the files in the page cache).
func writeReplayLog(b *testing.B, p walPeer, dir string, size, count int) {
	w := p.open(b, dir)
	data := walPayload(size)
	ents := make([][]byte, 0, walBatch)
	for i := 0; i < count; i += walBatch {
		ents = ents[:0]
		for range min(walBatch, count-i) {
			ents = append(ents, data)
		}
		if err := w.appendSync(ents); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.close(); err != nil {
		b.Fatal(err)
	}
	if n, _ := p.replay(b, dir); n != count {
		b.Fatalf("%s replayed %d entries of %d", p.name, n, count)
	}
}

// BenchmarkWALReplayPaired is BenchmarkWALReplay's crashsim and tidwall
// side by side, in turns (pairUp): each op replays both logs of 256 MiB,
// so that both meet the same load. Copying: crashsim's wal.Bytes against
// tidwall's Read; not copying: wal.BytesView against tidwall's NoCopy.
// Each side's time per entry, and the median over the ops of crashsim's
// time over tidwall's: below 1, crashsim reads faster, and its throughput
// is tidwall's divided by the ratio.
func BenchmarkWALReplayPaired(b *testing.B) {
	crashsim, view := replayPeer(b, "crashsim"), replayPeer(b, "crashsim-view")
	tidwall, nocopy := replayPeer(b, "tidwall"), replayPeer(b, "tidwall-nocopy")
	for _, size := range walSizes {
		count := (256 << 20) / size
		for _, pair := range []struct {
			name string
			t, c walPeer
		}{{"copy", tidwall, crashsim}, {"nocopy", nocopy, view}} {
			b.Run(fmt.Sprintf("size=%d/%s", size, pair.name), func(b *testing.B) {
				dir := walDir(b)
				writeReplayLog(b, pair.t, dir, size, count)
				writeReplayLog(b, pair.c, dir, size, count)
				pairUp(b, count, "tidwall-ns/entry", "crashsim-ns/entry", "crashsim/tidwall-time",
					func(int) { pair.t.replay(b, dir) }, func(int) { pair.c.replay(b, dir) })
			})
		}
	}
}

// replayPeer returns the peer of walReplayPeers called name.
func replayPeer(b *testing.B, name string) walPeer {
	for _, p := range walReplayPeers {
		if p.name == name {
			return p
		}
	}
	b.Fatalf("no replay peer %q", name)
	return walPeer{}
}

// BenchmarkWALReplay reads back a log of 256 MiB of entries from the page
// cache (it was just written, and is read once before timing), strictly
// (crashsim checks the zeros after the data too); the throughput is of
// entry bytes. Each entry is copied out of the log's buffers, except with
// tidwall's NoCopy and crashsim's BytesView.
func BenchmarkWALReplay(b *testing.B) {
	for _, size := range walSizes {
		for _, p := range walReplayPeers {
			b.Run(fmt.Sprintf("size=%d/%s", size, p.name), func(b *testing.B) {
				dir := walDir(b)
				w := p.open(b, dir)
				data := walPayload(size)
				count := (256 << 20) / size
				ents := make([][]byte, 0, walBatch)
				for i := 0; i < count; i += walBatch {
					ents = ents[:0]
					for range min(walBatch, count-i) {
						ents = append(ents, data)
					}
					if err := w.appendSync(ents); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.close(); err != nil {
					b.Fatal(err)
				}
				if n, _ := p.replay(b, dir); n != count {
					b.Fatalf("replayed %d entries of %d", n, count)
				}
				b.SetBytes(int64(count * size))
				b.ResetTimer()
				for b.Loop() {
					p.replay(b, dir)
				}
			})
		}
	}
}
