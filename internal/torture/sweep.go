package torture

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// The corruption sweeps: for one small file of each format, every bit
// flipped (or every byte, and every bit of the headers, in a short run)
// and truncations, each damaged image given to each of the format's
// readers on the simulated file system, in this process, and the outcome
// classified (see Class).

// inputLimit is how long one reader may take on one input before it is
// called hung. It bounds a loop, not a speed: a healthy read takes
// milliseconds even under the race detector.
const inputLimit = 20 * time.Second

// mutation is one way of damaging one file.
type mutation struct {
	File string // its path on the simulated file system
	Kind string // "bit" flips Bit of the byte at Off, "byte" inverts it, "cut" truncates at Off
	Off  int64
	Bit  uint8 `json:",omitempty"`
}

func (m mutation) String() string {
	switch m.Kind {
	case "bit":
		return fmt.Sprintf("%s: bit %d of byte %d flipped", m.File, m.Bit, m.Off)
	case "byte":
		return fmt.Sprintf("%s: byte %d inverted", m.File, m.Off)
	case "cut":
		return fmt.Sprintf("%s: cut to %d bytes", m.File, m.Off)
	}
	return m.File + ": intact"
}

// apply returns the file b damaged by m (a copy).
func (m mutation) apply(b []byte) []byte {
	if m.Kind == "cut" {
		return slices.Clone(b[:m.Off])
	}
	b = slices.Clone(b)
	if m.Kind == "bit" || m.Kind == "byte" {
		b[m.Off] = m.damage(b[m.Off])
	}
	return b
}

// damage returns the byte at m.Off, c, damaged by a bit or byte mutation.
func (m mutation) damage(c byte) byte {
	if m.Kind == "bit" {
		return c ^ 1<<m.Bit
	}
	return c ^ 0xff
}

// image is the files of a sweep's subject, on the simulated file system.
type image struct {
	mounts []faultfs.Mount
	files  map[string][]byte
	base   *faultfs.FS // the files, intact; each input gets a clone
	once   sync.Once
	err    error
}

// snapshot reads every regular file of fsys under dir into an image.
func snapshot(fsys *faultfs.FS, mounts []faultfs.Mount, dirs ...string) (*image, error) {
	im := &image{mounts: mounts, files: map[string][]byte{}}
	for _, dir := range dirs {
		des, err := fsys.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			if !de.Type().IsRegular() {
				continue
			}
			name := path.Join(dir, de.Name())
			if im.files[name], err = engine.ReadFile(fsys, name); err != nil {
				return nil, err
			}
		}
	}
	return im, nil
}

// fs returns a new simulated file system holding the image, damaged by
// m: a clone of the intact one (which shares its blocks, copy on write),
// with m applied.
func (im *image) fs(m mutation) (*faultfs.FS, error) {
	im.once.Do(func() { im.base, im.err = im.build() })
	if im.err != nil {
		return nil, im.err
	}
	fsys := im.base.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
	if m.Kind == "" || m.Kind == "intact" {
		return fsys, nil
	}
	f, err := fsys.OpenFile(m.File, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if m.Kind == "cut" {
		err = f.Truncate(m.Off)
	} else {
		_, err = f.WriteAt([]byte{m.damage(im.files[m.File][m.Off])}, m.Off)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return fsys, err
}

// build writes the files on a new simulated file system.
func (im *image) build() (*faultfs.FS, error) {
	fsys := faultfs.New(faultfs.Options{Mounts: im.mounts})
	for _, name := range sortedKeys(im.files) {
		if err := fsys.MkdirAll(path.Dir(name), 0o755); err != nil {
			return nil, err
		}
		f, err := engine.Create(fsys, name)
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteAt(im.files[name], 0); err != nil {
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	}
	return fsys, nil
}

// save writes the image, damaged by m, to dir on the real file system.
func (im *image) save(dir string, m mutation) error {
	for name, b := range im.files {
		if name == m.File {
			b = m.apply(b)
		}
		to := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// reader is one way of reading a sweep's subject: it says what it made of
// the damaged file system.
type reader struct {
	name string
	read func(fsys engine.FS, m mutation) (Class, string)
}

// subject is what a target built: the intact image, the damage to try,
// the readers to try it on.
type subject struct {
	image   *image
	files   string // a description of the files damaged
	inputs  []mutation
	readers []reader
}

// target is one format's sweep.
type target struct {
	name  string
	build func(seed uint64, short bool) (*subject, error)
}

func targets() []target {
	return []target{
		{"wal-segment", buildSegmentSweep},
		{"checkpoint", buildCheckpointSweep},
		{"record-log", buildRecordLogSweep},
		{"pool-crashed", buildCrashedPoolSweep},
		{"pool", buildPoolSweep},
	}
}

func findTarget(name string) (target, bool) {
	for _, t := range targets() {
		if t.name == name {
			return t, true
		}
	}
	return target{}, false
}

// sweeps runs every target's sweep; in a full run, target i of n stops
// at start + share*(i+1)/n, so that what one leaves goes to the next, and
// not before share/n from its own start.
func (t *torture) sweeps(start time.Time, share time.Duration) {
	tgs := targets()
	n := time.Duration(len(tgs))
	for i, tg := range tgs {
		if t.err != nil {
			return
		}
		deadline := start.Add(share * time.Duration(i+1) / n)
		if own := time.Now().Add(share / n); own.After(deadline) {
			deadline = own
		}
		t.sweep(tg, deadline)
	}
}

// A sweep runs in worker children (roleSweep), which build the subject
// again from the seed and give its inputs to its readers in order,
// reporting each outcome on their message pipe. A worker that dies —
// a panic in a goroutine of the engine's, an allocation the machine
// cannot make, a fault — or that reports nothing for inputLimit is
// charged with the input it was at (Panic or Hang, with its stacks) and
// a new one takes over after it.

// msgOutcome is a sweep worker's message: outcome <input> <reader> <class> [<detail, quoted>].
const msgOutcome = "outcome"

// sweep runs one target.
func (t *torture) sweep(tg target, deadline time.Time) {
	start := time.Now()
	s, err := tg.build(t.opts.Seed, t.opts.Short)
	if err != nil {
		t.fatal(fmt.Errorf("torture: build the %s sweep: %w", tg.name, err))
		return
	}
	fig := SweepFigures{Target: tg.name, Files: s.files}
	for _, rd := range s.readers {
		fig.Readers = append(fig.Readers, ReaderFigures{Reader: rd.name})
	}
	record := func(i, ri int, class Class, detail string) {
		fig.Readers[ri].Counts[class]++
		fig.Total[class]++
		if ri == 0 {
			fig.Inputs++
		}
		if !class.Anomaly() {
			return
		}
		rd, m := s.readers[ri], s.inputs[i]
		t.anomaly(nil, Anomaly{Phase: "sweep", Case: tg.name + "/" + rd.name, Class: class.String(), Detail: detail,
			Seed: t.opts.Seed, Input: i, Mutation: m.String(), Damage: &m, Short: t.opts.Short},
			func(dir string) error { return s.image.save(dir, m) })
	}
	// next is the input and reader the next worker starts at.
	next := [2]int{0, 0}
	advance := func(i, ri int) {
		next = [2]int{i, ri + 1}
		if next[1] == len(s.readers) {
			next = [2]int{i + 1, 0}
		}
	}
	for next[0] < len(s.inputs) && t.err == nil {
		if !t.opts.Short && time.Now().After(deadline) {
			fig.Stopped = fmt.Sprintf("the time share of the sweeps was spent after %d of %d inputs", next[0], len(s.inputs))
			break
		}
		ch, err := startChild(job{Role: roleSweep, Target: tg.name, Seed: t.opts.Seed, Short: t.opts.Short, From: next[0], FromReader: next[1]})
		if err != nil {
			t.fatal(err)
			return
		}
		done, hung, late := false, false, false
		timer := time.NewTimer(inputLimit)
	lines:
		for {
			select {
			case line, ok := <-ch.lines:
				if !ok {
					break lines
				}
				if line == "done" {
					done = true
					continue
				}
				i, ri, class, detail, err := parseOutcome(line, len(s.inputs), len(s.readers))
				if err != nil {
					t.fatal(fmt.Errorf("torture: sweep worker of %s: %w", tg.name, err))
					ch.kill()
					break lines
				}
				record(i, ri, class, detail)
				advance(i, ri)
				timer.Reset(inputLimit)
				if !t.opts.Short && time.Now().After(deadline) {
					late = true
					ch.kill()
				}
			case <-timer.C:
				if hung {
					ch.kill()
					continue
				}
				hung = true
				ch.cmd.Process.Signal(syscall.SIGQUIT) // a Go program prints every goroutine's stack and exits
				timer.Reset(10 * time.Second)
			}
		}
		timer.Stop()
		ex, _ := ch.wait(time.Minute, func(string) {})
		switch {
		case done || late || t.err != nil:
		case hung:
			record(next[0], next[1], Hang, fmt.Sprintf("%s did not return within %v; where it was:\n%s", s.readers[next[1]].name, inputLimit, goroutinesWith(ex.Stderr, "torture.readInput")))
			advance(next[0], next[1])
		default:
			class, detail := ex.anomaly(false)
			record(next[0], next[1], Panic, fmt.Sprintf("the sweep worker died at this input (%s): %s", class, detail))
			advance(next[0], next[1])
		}
		if done {
			break
		}
	}
	t.rep.Sweeps = append(t.rep.Sweeps, fig)
	t.logf("sweep %s: %d inputs × %d readers in %v: %s", tg.name, fig.Inputs, len(s.readers), time.Since(start).Round(time.Millisecond), countsText(fig.Total))
}

// parseOutcome reads a worker's outcome message.
func parseOutcome(line string, inputs, readers int) (i, ri int, class Class, detail string, err error) {
	rest, ok := strings.CutPrefix(line, msgOutcome+" ")
	if !ok {
		return 0, 0, 0, "", fmt.Errorf("unexpected message %q", line)
	}
	var c int
	n, _ := fmt.Sscanf(rest, "%d %d %d", &i, &ri, &c)
	if n != 3 || i < 0 || i >= inputs || ri < 0 || ri >= readers || c < 0 || c >= int(numClasses) {
		return 0, 0, 0, "", fmt.Errorf("malformed outcome %q", line)
	}
	if f := strings.SplitN(rest, " ", 4); len(f) == 4 {
		if detail, err = strconv.Unquote(f[3]); err != nil {
			return 0, 0, 0, "", fmt.Errorf("malformed outcome %q: %w", line, err)
		}
	}
	return i, ri, Class(c), detail, nil
}

// sweepWorker is the child of a sweep: it builds the subject of
// j.Target and reports the outcome of each input from (j.From,
// j.FromReader) on, then "done".
func sweepWorker(j job, say func(string, ...any)) int {
	tg, ok := findTarget(j.Target)
	if !ok {
		fmt.Fprintf(os.Stderr, "torture child: no sweep %q\n", j.Target)
		return exitBadJob
	}
	s, err := tg.build(j.Seed, j.Short)
	if err != nil {
		fmt.Fprintf(os.Stderr, "torture child: build the %s sweep: %v\n", j.Target, err)
		return exitBadJob
	}
	for i := j.From; i < len(s.inputs); i++ {
		for ri, rd := range s.readers {
			if i == j.From && ri < j.FromReader {
				continue
			}
			class, detail := readInput(s.image, rd, s.inputs[i])
			if class.Anomaly() {
				say("%s %d %d %d %s", msgOutcome, i, ri, class, strconv.Quote(detail))
			} else {
				say("%s %d %d %d", msgOutcome, i, ri, class)
			}
		}
	}
	say("done")
	return 0
}

// goroutinesWith returns the goroutines of a Go traceback that mention fn.
func goroutinesWith(traceback, fn string) string {
	var out []string
	for _, g := range strings.Split(traceback, "\n\n") {
		if strings.Contains(g, fn) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return traceback
	}
	return strings.Join(out, "\n\n")
}

func countsText(c Counts) string {
	var parts []string
	for cl, n := range c {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", Class(cl), n))
		}
	}
	return strings.Join(parts, ", ")
}

// readInput gives the image damaged by m to rd and classifies a panic
// as Panic.
func readInput(im *image, rd reader, m mutation) (class Class, detail string) {
	defer func() {
		if p := recover(); p != nil {
			class, detail = Panic, fmt.Sprintf("%v\n%s", p, debug.Stack())
		}
	}()
	fsys, err := im.fs(m)
	if err != nil {
		return Panic, fmt.Sprintf("torture: build the damaged image: %v", err)
	}
	return rd.read(fsys, m)
}

// classifyError is the class of an error a reader returned on damaged
// input: Typed if typed says it is the package's word for damage,
// WrongError otherwise.
func classifyError(err error, typed func(error) bool) (Class, string) {
	if typed(err) {
		return Typed, err.Error()
	}
	return WrongError, fmt.Sprintf("an error that does not say damage: %v", err)
}

// mutations are the damages of a sweep for one file of content b: every
// bit of [0, header); every bit (full) or byte (short) of the rest; and
// truncations to every length (full), or to every length in the header
// and every cutStep-th after it (short).
func mutations(file string, b []byte, header int, short bool, cutStep int) []mutation {
	var ms []mutation
	header = min(header, len(b))
	for off := range len(b) {
		if off < header || !short {
			for bit := range 8 {
				ms = append(ms, mutation{File: file, Kind: "bit", Off: int64(off), Bit: uint8(bit)})
			}
		} else {
			ms = append(ms, mutation{File: file, Kind: "byte", Off: int64(off)})
		}
	}
	for n := range len(b) {
		if !short || n <= header || n%cutStep == 0 {
			ms = append(ms, mutation{File: file, Kind: "cut", Off: int64(n)})
		}
	}
	return ms
}
