//go:build linux

package bench

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/shm"
)

// The shared-memory blob store (engine/shm) side by side with what it
// competes with: a plain copy of the same blobs into (and out of) a
// mapping of the same size in /dev/shm, and — to move 4 KiB blobs from a
// producer to a consumer — a Unix domain socket and a pipe. Every pair is
// timed in the same loop, in alternating order, one round at a time, and
// the ratio reported is the median of the rounds' ratios, which a loaded
// machine disturbs least. A round fills one 32 MiB chunk: 8176 blobs of
// 4 KiB, each an 8-byte entry word and the blob.

const (
	shmBlob     = 4096
	shmChunk    = shm.DefaultChunkSize
	shmPerChunk = (shmChunk - 192) / (shmBlob + 8)
)

// shmBenchDir returns a directory of its own under /dev/shm.
func shmBenchDir(b *testing.B) string {
	dir, err := os.MkdirTemp("/dev/shm", "crashsim-shm-bench-")
	if err != nil {
		b.Skipf("no /dev/shm: %v", err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// shmStore creates a namespace of 32 MiB chunks, prefetched only when
// the benchmark says (Prefetch), freed at once once acknowledged.
func shmStore(b *testing.B, dir string, mode shm.PrefetchMode) *shm.Store {
	s, err := shm.Create("bench", &shm.Options{Dir: dir, MaxChunks: 16, Decay: -1, Prefetch: mode})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// shmMapping returns a mapping of a 32 MiB object in dir, every page
// already written once, as a chunk the prefetcher prepared is.
func shmMapping(b *testing.B, dir, name string) []byte {
	fsys := engine.OSFS{}
	f, err := engine.Create(fsys, filepath.Join(dir, name))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := engine.Allocate(f, 0, shmChunk); err != nil {
		b.Fatal(err)
	}
	r, err := fsys.Map(f, shmChunk)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	v, err := r.View(0, shmChunk)
	if err != nil {
		b.Fatal(err)
	}
	clear(v) // the benchmark's own mapping: written through the slice
	return v
}

// shmRecycle acknowledges the handles of the last round, frees their
// chunk and prepares the next one: what the timed rounds leave out.
func shmRecycle(b *testing.B, s *shm.Store, hs *[]shm.Handle) {
	for _, h := range *hs {
		if err := s.Acknowledge(h); err != nil {
			b.Fatal(err)
		}
	}
	*hs = (*hs)[:0]
	if _, err := s.Cleanup(); err != nil {
		b.Fatal(err)
	}
	if err := s.Prefetch(); err != nil {
		b.Fatal(err)
	}
}

// pairRounds runs a and b once per op, in alternating order, each after
// prep, which is not timed; it reports each side's time per unit and the
// median over the ops of a's time over b's as ratioName (b's throughput
// over a's).
func pairRounds(bm *testing.B, units int, aName, bName, ratioName string, prep, a, b func()) {
	pairRoundsBytes(bm, units, 0, aName, bName, ratioName, prep, a, b)
}

// pairRoundsBytes is pairRounds that also reports each side's throughput
// in GB/s, for units of unitBytes bytes (none if 0), named after the side
// (aName up to its "-ns").
func pairRoundsBytes(bm *testing.B, units, unitBytes int, aName, bName, ratioName string, prep, a, b func()) {
	var ta, tb time.Duration
	var ratios []float64
	timed := func(f func()) time.Duration {
		bm.StopTimer()
		prep()
		bm.StartTimer()
		t0 := time.Now()
		f()
		return time.Since(t0)
	}
	for op := 0; bm.Loop(); op++ {
		var da, db time.Duration
		if op%2 == 0 {
			da = timed(a)
			db = timed(b)
		} else {
			db = timed(b)
			da = timed(a)
		}
		ta += da
		tb += db
		ratios = append(ratios, float64(da)/float64(db))
	}
	if len(ratios) == 0 {
		return
	}
	slices.Sort(ratios)
	n := float64(len(ratios) * units)
	bm.ReportMetric(float64(ta.Nanoseconds())/n, aName)
	bm.ReportMetric(float64(tb.Nanoseconds())/n, bName)
	bm.ReportMetric(ratios[len(ratios)/2], ratioName)
	if unitBytes > 0 {
		side := func(name string) string { return strings.Split(name, "-ns")[0] + "-GB/s" }
		bm.ReportMetric(n*float64(unitBytes)/float64(ta.Nanoseconds()), side(aName))
		bm.ReportMetric(n*float64(unitBytes)/float64(tb.Nanoseconds()), side(bName))
	}
}

// BenchmarkShmAppend: appends of 4 KiB blobs into a chunk already
// created and mapped (the prefetcher's work is left out of the timing),
// against copies of the same blobs into a mapping of the same size.
// shm/memcpy is the throughput of the appends over that of the copies
// (target: at least 0.8).
func BenchmarkShmAppend(b *testing.B) {
	dir := shmBenchDir(b)
	s := shmStore(b, dir, shm.PrefetchOff)
	v := shmMapping(b, dir, "memcpy")
	blob := make([]byte, shmBlob)
	for i := range blob {
		blob[i] = byte(i)
	}
	hs := make([]shm.Handle, 0, shmPerChunk)
	pairRoundsBytes(b, shmPerChunk, shmBlob, "memcpy-ns/blob", "shm-ns/blob", "shm/memcpy",
		func() { shmRecycle(b, s, &hs) },
		func() {
			for k := range shmPerChunk {
				copy(v[k*shmBlob:], blob)
			}
		},
		func() {
			for range shmPerChunk {
				h, err := s.Append(blob)
				if err != nil {
					b.Fatal(err)
				}
				hs = append(hs, h)
			}
		})
	st, err := s.Stats()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.CreatedInline), "created-inline")
}

// BenchmarkShmAppendLatency times each append of 4 KiB alone: p50, p99
// and max, in ns.
//
//   - mapped: into chunks already created and mapped, as
//     BenchmarkShmAppend; each round's first append moves the head to the
//     prefetched chunk.
//   - streaming: appends without a pause, the prefetcher creating the
//     next chunk in the background once the active one is 80% full; each
//     round acknowledges the round before (untimed). The max is the
//     append that waited for the prefetcher, when it was late.
//
// timer-p50 is what a pair of time.Now costs, included in every figure.
func BenchmarkShmAppendLatency(b *testing.B) {
	blob := make([]byte, shmBlob)
	var timer []time.Duration
	for range 10000 {
		t0 := time.Now()
		timer = append(timer, time.Since(t0))
	}
	slices.Sort(timer)
	for _, mode := range []struct {
		name     string
		prefetch shm.PrefetchMode
	}{{"mapped", shm.PrefetchOff}, {"streaming", shm.PrefetchBackground}} {
		b.Run(mode.name, func(b *testing.B) {
			dir := shmBenchDir(b)
			s := shmStore(b, dir, mode.prefetch)
			var lat []time.Duration
			hs := make([]shm.Handle, 0, shmPerChunk)
			var prev []shm.Handle
			b.SetBytes(shmBlob * shmPerChunk) // an op is a chunk's worth
			for b.Loop() {
				b.StopTimer()
				if mode.prefetch == shm.PrefetchOff {
					shmRecycle(b, s, &hs)
				} else {
					for _, h := range prev {
						s.Acknowledge(h)
					}
					s.Cleanup()
					prev = append(prev[:0], hs...)
					hs = hs[:0]
				}
				b.StartTimer()
				for range shmPerChunk {
					t0 := time.Now()
					h, err := s.Append(blob)
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					hs = append(hs, h)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
			b.ReportMetric(float64(lat[len(lat)-1]), "max-ns")
			b.ReportMetric(float64(timer[len(timer)/2]), "timer-p50-ns")
			st, _ := s.Stats()
			b.ReportMetric(float64(st.CreatedInline), "created-inline")
		})
	}
}

// BenchmarkShmResolve: Resolve of 4 KiB blobs into a buffer, a chunk's
// worth in order, against copies of the same bytes out of a mapping of
// the same size (shm/memcpy: target at least 0.8); and View, whose
// function reads one byte of the blob, against nothing: its cost per
// call.
func BenchmarkShmResolve(b *testing.B) {
	dir := shmBenchDir(b)
	s := shmStore(b, dir, shm.PrefetchOff)
	v := shmMapping(b, dir, "memcpy")
	blob := make([]byte, shmBlob)
	hs := make([]shm.Handle, 0, shmPerChunk)
	if err := s.Prefetch(); err != nil {
		b.Fatal(err)
	}
	for range shmPerChunk {
		h, err := s.Append(blob)
		if err != nil {
			b.Fatal(err)
		}
		hs = append(hs, h)
	}
	buf := make([]byte, 0, shmBlob)
	b.Run("resolve", func(b *testing.B) {
		pairRoundsBytes(b, shmPerChunk, shmBlob, "memcpy-ns/blob", "shm-ns/blob", "shm/memcpy", func() {},
			func() {
				for k := range shmPerChunk {
					buf = append(buf[:0], v[k*shmBlob:(k+1)*shmBlob]...)
				}
			},
			func() {
				for _, h := range hs {
					var err error
					if buf, err = s.ResolveAppend(buf[:0], h); err != nil {
						b.Fatal(err)
					}
				}
			})
	})
	b.Run("view", func(b *testing.B) {
		var sum byte
		fn := func(p []byte) { sum += p[0] }
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := s.View(hs[i%len(hs)], fn); err != nil {
				b.Fatal(err)
			}
		}
		sink = int(sum)
	})
}

// BenchmarkShmTwoWriters: a chunk's worth of 4 KiB blobs appended by one
// writer, and by two at once, each writing half. two/one is the two
// writers' aggregate throughput over one's.
//
//   - two-stores: two goroutines, each with a Store of its own (its own
//     mappings, as another process has), appending into the same chunk,
//     which the second Store mapped before the round (Prefetch, as its
//     prefetcher would);
//   - one-store: two goroutines sharing one Store: the same chunk, the same
//     mapping — what the two writers' contention costs alone;
//   - two-namespaces: each goroutine appends into a namespace of its own,
//     created by its own Store: no contention, and no mapping but the
//     creator's — what the machine gives a second writer.
//
// faults/blob is the page faults of the whole run (both sides, and the
// untimed creation of each round's chunk) per blob appended.
func BenchmarkShmTwoWriters(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("one CPU")
	}
	blob := make([]byte, shmBlob)
	var mu sync.Mutex
	write := func(s *shm.Store, n int, hs *[]shm.Handle) {
		local := make([]shm.Handle, 0, n)
		for range n {
			h, err := s.Append(blob)
			if err != nil {
				b.Error(err)
				return
			}
			local = append(local, h)
		}
		mu.Lock()
		*hs = append(*hs, local...)
		mu.Unlock()
	}
	for _, c := range []string{"two-stores", "one-store", "two-namespaces"} {
		b.Run(c, func(b *testing.B) {
			dir := shmBenchDir(b)
			s := shmStore(b, dir, shm.PrefetchOff)
			second := s
			var err error
			switch c {
			case "two-stores":
				second, err = shm.Attach("bench", &shm.Options{Dir: dir, Prefetch: shm.PrefetchOff})
			case "two-namespaces":
				second, err = shm.Create("bench2", &shm.Options{Dir: dir, MaxChunks: 16, Decay: -1, Prefetch: shm.PrefetchOff})
			}
			if err != nil {
				b.Fatal(err)
			}
			if second != s {
				defer second.Close()
			}
			hs := make([]shm.Handle, 0, shmPerChunk)
			hs2 := make([]shm.Handle, 0, shmPerChunk)
			other := &hs // the second writer's handles, acknowledged through s
			if c == "two-namespaces" {
				other = &hs2
			}
			f0, rounds := minorFaults(b), 0
			pairRoundsBytes(b, shmPerChunk, shmBlob, "one-ns/blob", "two-ns/blob", "two/one",
				func() {
					rounds++
					shmRecycle(b, s, &hs)
					switch c {
					case "two-namespaces":
						shmRecycle(b, second, &hs2)
					case "two-stores":
						// The second Store maps the chunk the first
						// prefetched, as its prefetcher would.
						if err := second.Prefetch(); err != nil {
							b.Fatal(err)
						}
					}
				},
				func() { write(s, shmPerChunk, &hs) },
				func() {
					var wg sync.WaitGroup
					wg.Go(func() { write(s, shmPerChunk/2, &hs) })
					wg.Go(func() { write(second, shmPerChunk-shmPerChunk/2, other) })
					wg.Wait()
				})
			b.ReportMetric(float64(minorFaults(b)-f0)/float64(rounds*shmPerChunk), "faults/blob")
		})
	}
}

// BenchmarkShmVsSocket moves a chunk's worth of 4 KiB blobs from a
// producer to a consumer, each in a goroutine of its own: through the
// blob store — the producer appends and passes the handle through a
// single-producer ring of handles in shared memory (handleRing: a side
// with nothing to do spins briefly, then sleeps on a futex), the consumer
// resolves the blob into a buffer (or reads it in place with View) and
// acknowledges it — against a Unix domain socket (socketpair, a write and
// a read of each blob) and a pipe. The producer and consumer of the store
// use a Store each, as two processes would, and each has mapped the
// round's chunk before it starts (Prefetch, as their prefetchers would,
// untimed like the chunk's creation); the socket and pipe go through the
// kernel as they would between processes. shm/socket and shm/pipe are
// throughput ratios (target: at least 10).
func BenchmarkShmVsSocket(b *testing.B) {
	dir := shmBenchDir(b)
	prod := shmStore(b, dir, shm.PrefetchOff)
	cons, err := shm.Attach("bench", &shm.Options{Dir: dir, Prefetch: shm.PrefetchOff})
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	ring := newHandleRing(b, dir)
	blob := make([]byte, shmBlob)
	buf := make([]byte, 0, shmBlob)
	var sum byte
	inPlace := func(p []byte) { sum += p[0] + p[len(p)-1] }
	viaShm := func(view bool) func() {
		return func() {
			var wg sync.WaitGroup
			wg.Go(func() {
				for range shmPerChunk {
					h, err := prod.Append(blob)
					if err != nil {
						b.Error(err)
						return
					}
					ring.push(h)
				}
			})
			for got := 0; got < shmPerChunk; {
				got += ring.popAll(func(h shm.Handle) {
					var err error
					if view {
						err = cons.View(h, inPlace)
					} else {
						buf, err = cons.ResolveAppend(buf[:0], h)
					}
					if err == nil {
						err = cons.Acknowledge(h)
					}
					if err != nil {
						b.Fatal(err)
					}
				})
			}
			wg.Wait()
		}
	}
	viaStream := func(w io.Writer, r io.Reader) func() {
		rbuf := make([]byte, shmBlob)
		return func() {
			var wg sync.WaitGroup
			wg.Go(func() {
				for range shmPerChunk {
					if _, err := w.Write(blob); err != nil {
						b.Error(err)
						return
					}
				}
			})
			for range shmPerChunk {
				if _, err := io.ReadFull(r, rbuf); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		}
	}
	prep := func() {
		if _, err := prod.Cleanup(); err != nil {
			b.Fatal(err)
		}
		if err := prod.Prefetch(); err != nil {
			b.Fatal(err)
		}
		// The consumer's prefetch: it maps the chunk the producer's
		// made, as its background prefetcher would, off the timing.
		if err := cons.Prefetch(); err != nil {
			b.Fatal(err)
		}
	}
	socket := func(b *testing.B) (io.Writer, io.Reader) {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			b.Fatal(err)
		}
		w, r := os.NewFile(uintptr(fds[0]), "w"), os.NewFile(uintptr(fds[1]), "r")
		b.Cleanup(func() { w.Close(); r.Close() })
		return w, r
	}
	pipe := func(b *testing.B) (io.Writer, io.Reader) {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { w.Close(); r.Close() })
		return w, r
	}
	for _, c := range []struct {
		name string
		peer func(*testing.B) (io.Writer, io.Reader)
		view bool
	}{{"socket", socket, false}, {"pipe", pipe, false}, {"socket-view", socket, true}, {"pipe-view", pipe, true}} {
		b.Run(c.name, func(b *testing.B) {
			w, r := c.peer(b)
			peer := strings.TrimSuffix(c.name, "-view")
			pairRoundsBytes(b, shmPerChunk, shmBlob, peer+"-ns/blob", "shm-ns/blob", "shm/"+peer, prep, viaStream(w, r), viaShm(c.view))
		})
	}
	sink = int(sum)
}

// BenchmarkShmSteps times, one after the other and in one goroutine, what
// BenchmarkShmVsSocket's producer and consumer do to a chunk's worth of
// 4 KiB blobs: the appends; Resolve of each by a Store that has not yet
// mapped the chunk (the first maps it and reads it through, a fault for
// sixteen pages, inside the timing); Resolve of each again, the mapping
// warm; Acknowledge of each. Per blob, in ns:
// what the store's pipeline costs with no handoff between goroutines;
// and the page faults of the appends (into a chunk its creator touched)
// and of the resolves through the fresh mapping, per blob; and the time
// the untimed Prefetch takes to create each 32 MiB chunk (create-ms/chunk).
func BenchmarkShmSteps(b *testing.B) {
	dir := shmBenchDir(b)
	prod := shmStore(b, dir, shm.PrefetchOff)
	cons, err := shm.Attach("bench", &shm.Options{Dir: dir, Prefetch: shm.PrefetchOff})
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	blob := make([]byte, shmBlob)
	buf := make([]byte, 0, shmBlob)
	hs := make([]shm.Handle, 0, shmPerChunk)
	var steps [4]time.Duration
	var faults, appendFaults int64
	var create time.Duration
	n, chunks := 0, 0
	for b.Loop() {
		b.StopTimer()
		if _, err := prod.Cleanup(); err != nil {
			b.Fatal(err)
		}
		tc := time.Now()
		if err := prod.Prefetch(); err != nil {
			b.Fatal(err)
		}
		create += time.Since(tc)
		chunks++
		hs = hs[:0]
		b.StartTimer()
		f0 := minorFaults(b)
		t0 := time.Now()
		for range shmPerChunk {
			h, err := prod.Append(blob)
			if err != nil {
				b.Fatal(err)
			}
			hs = append(hs, h)
		}
		t1 := time.Now()
		f1 := minorFaults(b)
		appendFaults += f1 - f0
		for _, h := range hs {
			if buf, err = cons.ResolveAppend(buf[:0], h); err != nil {
				b.Fatal(err)
			}
		}
		t2 := time.Now()
		faults += minorFaults(b) - f1
		for _, h := range hs {
			if buf, err = cons.ResolveAppend(buf[:0], h); err != nil {
				b.Fatal(err)
			}
		}
		t3 := time.Now()
		for _, h := range hs {
			if err := cons.Acknowledge(h); err != nil {
				b.Fatal(err)
			}
		}
		t4 := time.Now()
		for i, d := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)} {
			steps[i] += d
		}
		n += shmPerChunk
	}
	for i, name := range []string{"append-ns", "resolve-cold-ns", "resolve-warm-ns", "ack-ns"} {
		b.ReportMetric(float64(steps[i].Nanoseconds())/float64(n), name)
	}
	b.ReportMetric(float64(appendFaults)/float64(n), "append-faults/blob")
	b.ReportMetric(float64(create.Nanoseconds())/float64(chunks)/1e6, "create-ms/chunk")
	b.ReportMetric(float64(faults)/float64(n), "cold-faults/blob")
}

// minorFaults returns the page faults this process has taken that needed
// no I/O.
func minorFaults(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Minflt
}

// BenchmarkShmMemory: a producer that outruns its consumer — it appends
// 4 KiB blobs as fast as it can, waiting (AppendWait) when the namespace
// is full, while the consumer acknowledges every blob only after a
// delay of a chunk — keeps the shared memory the namespace holds, the
// objects in its directory as tmpfs counts them, within MaxChunks ×
// ChunkSize and the control object. It reports the most it held and
// that bound, in bytes.
func BenchmarkShmMemory(b *testing.B) {
	dir := shmBenchDir(b)
	const maxChunks, chunk = 4, 1 << 20
	s, err := shm.Create("mem", &shm.Options{Dir: dir, ChunkSize: chunk, MaxChunks: maxChunks, Decay: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctl, err := os.Stat(filepath.Join(dir, "mem_ctrl"))
	if err != nil {
		b.Fatal(err)
	}
	bound := int64(maxChunks*chunk) + ctl.Size()
	blob := make([]byte, shmBlob)
	handles := make(chan shm.Handle, 4*chunk/shmBlob)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		// Acknowledge as they come, clean up only every two chunks'
		// worth: the producer meets MaxChunks, and waits.
		n := 0
		for h := range handles {
			if err := s.Acknowledge(h); err != nil && !errors.Is(err, shm.ErrGone) {
				b.Error(err)
			}
			if n++; n%(2*chunk/shmBlob) == 0 {
				s.Cleanup()
			}
		}
	})
	var most int64
	b.SetBytes(shmBlob)
	for i := 0; b.Loop(); i++ {
		h, err := s.AppendWait(ctx, blob)
		if err != nil {
			b.Fatal(err)
		}
		handles <- h
		if i%64 == 0 {
			most = max(most, dirBytes(b, dir))
		}
	}
	close(handles)
	wg.Wait()
	cancel()
	most = max(most, dirBytes(b, dir))
	if most > bound {
		b.Errorf("the namespace held %d bytes, beyond MaxChunks × ChunkSize and its control object, %d", most, bound)
	}
	b.ReportMetric(float64(most), "most-bytes")
	b.ReportMetric(float64(bound), "bound-bytes")
}

// dirBytes returns the bytes tmpfs holds for the objects in dir: their
// blocks.
func dirBytes(b *testing.B, dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // freed meanwhile
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		}
	}
	return n
}
