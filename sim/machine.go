package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zeebo/xxh3"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// Mounts are the media of every simulated machine: persistent memory (a DAX
// file system) at /pmem, shared memory (tmpfs) at /dev/shm, and a disk
// everywhere else.
var Mounts = []faultfs.Mount{
	{Dir: "/pmem", Medium: engine.PMem},
	{Dir: "/dev/shm", Medium: engine.SharedMemory},
}

// Machine is a simulated machine: one disk holding every medium (package
// faultfs applies each medium's persistence rules), the processes that run
// on it, and the trace of everything they do. It implements nothing of the
// crash exploration itself; the explorer hooks into it.
type Machine struct {
	disk *faultfs.FS

	mu      sync.Mutex
	procs   []*Process
	deaths  []*Process // the processes the machine killed (Process.Death), in order
	last    faultfs.Op // the latest operation observed
	ring    *ring      // the latest events, for excerpts
	full    []Event    // every event, when recording (replay)
	sources map[uint64]string
	record  bool
	skip    []string // Scenario.Adapters, whose frames are no source line

	// failedBarriers are the barriers that failed and have not succeeded
	// since, by path, and warnings the misuses seen (barrier.go).
	failedBarriers map[string]*failedBarrier
	warnings       []Warning
	// digest, set on a workload's machine only, hashes what its processes
	// do, in trace order: ReplayID.Workload.
	digest    *xxh3.Hasher
	digestBuf []byte

	// hook, if set, is called at the crash points of the machine's
	// processes; see crashHook.
	hook crashHook

	// injected are the rules Env.Inject injected, in order; the disk's
	// injector tries them all.
	injected injectors

	// sched runs the machine's threads one at a time, if the machine has
	// any (the workload's always does; another gets one when its code
	// starts a thread).
	sched atomic.Pointer[sched]
	seed  uint64   // the run's seed, for the threads' Rands
	ck    *checker // the workload's checker, for the threads' Envs

	sourcer func(faultfs.Op) string // SetSourcer
}

// SetSourcer gives the machine a way to find the source line of an
// operation made from a goroutine that is all plumbing — a FUSE server's
// (package mount), which runs the call another goroutine's system call
// asked for. A replay calls it, under the disk's lock, for each such
// operation; it returns "file:line" or "".
func (m *Machine) SetSourcer(f func(op faultfs.Op) string) {
	m.mu.Lock()
	m.sourcer = f
	m.mu.Unlock()
}

// injectors is the disk's Injector once Env.Inject was called: each Rules
// in order, the first fault found wins.
type injectors []*faultfs.Rules

func (in injectors) MaybeInject(op faultfs.Op) faultfs.Fault {
	for _, r := range in {
		if f := r.MaybeInject(op); !f.IsNone() {
			return f
		}
	}
	return faultfs.Fault{}
}

// inject adds r to the rules the disk's injector tries.
func (m *Machine) inject(r *faultfs.Rules) {
	m.mu.Lock()
	// A new slice: the disk's injector reads the old one without m.mu.
	m.injected = append(slices.Clone(m.injected), r)
	in := m.injected
	m.mu.Unlock()
	m.disk.SetInjector(in)
}

// unfired describes the rules injected into the machine that never fired.
func (m *Machine) unfired() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.injected {
		for _, rule := range r.Unfired() {
			out = append(out, rule.String())
		}
	}
	return out
}

// crashHook receives the crash points of a machine. before is called just
// before a persistence barrier (the crash points of a power failure); after
// just after an operation that changed the state, and between the words of
// a multi-word copy (the crash points of a process crash). at describes the
// operation.
type crashHook interface {
	before(p *Process, at Event)
	after(p *Process, at Event)
	options() *Options
}

// excerptLen is how many events before a crash point a violation shows.
const excerptLen = 16

// NewMachine returns a machine with an empty, durable disk: the mount
// points exist and nothing else.
func NewMachine() *Machine {
	disk := faultfs.New(faultfs.Options{Mounts: Mounts})
	for _, m := range Mounts {
		if err := disk.MkdirAll(m.Dir, 0o755); err != nil {
			panic(fmt.Sprintf("sim: mount point %s: %v", m.Dir, err)) // an empty FS cannot refuse
		}
	}
	for _, d := range []string{"/", "/dev"} {
		if err := disk.SyncDir(d); err != nil {
			panic(fmt.Sprintf("sim: sync %s: %v", d, err))
		}
	}
	return machineOn(disk)
}

// machineOn returns a machine running on disk, a crash image, that traces
// what its processes do: for the workload, and for a recovery whose own
// crash points are explored or which is replayed.
func machineOn(disk *faultfs.FS) *Machine {
	m := untracedMachineOn(disk)
	disk.SetObserver(m.observe)
	disk.SetFailed(m.failed)
	return m
}

// untracedMachineOn returns a machine running on disk that keeps no trace:
// for a plain recovery, whose trace nobody reads, it saves the cost of one
// event per operation.
func untracedMachineOn(disk *faultfs.FS) *Machine {
	m := &Machine{disk: disk, ring: newRing(excerptLen)}
	disk.SetBeforeWriteSync(m.beforeWriteSync)
	return m
}

// beforeWriteSync is the disk's Options.BeforeWriteSync: a write through a
// file opened with O_DSYNC or O_SYNC reached the page cache and its sync
// is next, a barrier like any other (faultfs rule 20), so a power failure
// may crash there and keep any part of the write.
func (m *Machine) beforeWriteSync(op faultfs.Op) {
	m.mu.Lock()
	var p *Process
	if op.Owner >= 1 && op.Owner <= len(m.procs) {
		p = m.procs[op.Owner-1]
	}
	m.mu.Unlock()
	if p != nil {
		p.before(op.Kind.String(), op.Path, op.Off, op.Len)
	}
}

// Disk returns the machine's storage.
func (m *Machine) Disk() *faultfs.FS { return m.disk }

// observe is the disk's observer: every operation of every process, under
// the disk's lock, in Index order.
func (m *Machine) observe(op faultfs.Op) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = op
	if len(m.failedBarriers) > 0 {
		m.watchBarriers(op)
	}
	thread := max(m.sched.Load().current(), 0)
	// A real process's stats are the kernel's lookups and getattrs, which
	// it makes or not as its caches decide (package mount): they change
	// nothing and are no part of the workload's digest.
	if m.digest != nil && !(op.Kind == faultfs.OpStat && m.pidOf(op.Owner) != 0) {
		m.digestOp(op, thread)
	}
	e := eventOf(op)
	e.Thread = thread
	e.Pid = m.pidOf(op.Owner)
	m.ring.add(e)
	if m.record {
		m.full = append(m.full, e)
		if op.Kind != faultfs.OpMark {
			src := callerOutside(m.skip)
			if src == "" && m.sourcer != nil {
				src = m.sourcer(op)
			}
			if src != "" {
				m.sources[op.Index] = src
			}
		}
	}
}

// pidOf returns the operating system's pid of process owner (Event.Pid),
// or 0. Called with m.mu held.
func (m *Machine) pidOf(owner int) int {
	if owner >= 1 && owner <= len(m.procs) {
		return m.procs[owner-1].PID()
	}
	return 0
}

// failed is the disk's Options.Failed: an operation that is returning an
// error, or had a fault injected, has it shown on its event in the trace.
func (m *Machine) failed(op faultfs.Op, fault faultfs.Fault, err error) {
	text := errText(fault, err)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil && isBarrierOp(op.Kind) {
		m.barrierFailed(op)
	}
	m.ring.setErr(op.Index, text)
	if m.record {
		setErr(m.full, op.Index, text)
	}
}

// lastOp returns the latest operation observed on the disk.
func (m *Machine) lastOp() faultfs.Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// excerpt returns the latest events of the trace.
func (m *Machine) excerpt() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ring.last(excerptLen)
}

// startRecording keeps every event and the source location of every
// storage operation from now on. It costs a stack walk per operation, so
// only replay does it. The frames of the packages skip names (Scenario.
// Adapters) are passed over as the laboratory's are.
func (m *Machine) startRecording(skip []string) {
	m.record, m.skip = true, skip
	m.sources = map[uint64]string{}
}

// startDigest starts the workload digest (ReplayID.Workload): every
// operation and marker from now on, and the bytes and values stored.
func (m *Machine) startDigest() {
	m.mu.Lock()
	m.digest = xxh3.New()
	m.mu.Unlock()
}

// workloadDigest returns the digest of what the machine's processes did
// so far; never 0, which a ReplayID reserves for "unknown".
func (m *Machine) workloadDigest() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return max(m.digest.Sum64(), 1)
}

// digestOp folds an operation of a thread into the digest: every field
// but the index, which the order already gives, and the thread, but for
// the first (digests from before threads stay as they were). Called with
// m.mu held.
func (m *Machine) digestOp(op faultfs.Op, thread int) {
	b := m.digestBuf[:0]
	b = binary.AppendUvarint(b, uint64(op.Kind))
	b = binary.AppendUvarint(b, uint64(op.Owner))
	if thread > 0 {
		b = append(b, 't')
		b = binary.AppendUvarint(b, uint64(thread))
	}
	b = binary.AppendVarint(b, op.Off)
	b = binary.AppendVarint(b, op.Len)
	for _, s := range []string{op.Path, op.NewPath, op.Note} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	m.digest.Write(b)
	m.digestBuf = b
}

// digestData folds the bytes or values a process stores into the digest:
// a workload's trace has each write's range but not what it wrote, and
// two workloads that write different data are different workloads.
func (m *Machine) digestData(data []byte, values ...uint64) {
	if m.digest == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := binary.AppendUvarint(m.digestBuf[:0], uint64(len(data)))
	for _, v := range values {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	m.digest.Write(b)
	m.digest.Write(data)
	m.digestBuf = b
}

// died records that the machine killed p.
func (m *Machine) died(p *Process) {
	m.mu.Lock()
	m.deaths = append(m.deaths, p)
	m.mu.Unlock()
}

// deathsSince returns how many processes the machine killed so far and the
// Death of the first one after the first seen of them, or "".
func (m *Machine) deathsSince(seen int) (int, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.deaths) > seen {
		return len(m.deaths), m.deaths[seen].Death()
	}
	return len(m.deaths), ""
}

// Start starts a new process.
func (m *Machine) Start(name string) *Process { return m.start(name, 0) }

// StartPID starts a new process that stands for the real process pid of
// this machine's operating system from its start on, as SetPID says:
// name is the program's ("sqlite3"), and the trace's start event carries
// the pid beside it. A name that held the pid would put it in the
// workload's digest (ReplayID), which a rerun, with another pid, would
// never match.
func (m *Machine) StartPID(name string, pid int) *Process { return m.start(name, pid) }

func (m *Machine) start(name string, pid int) *Process {
	m.mu.Lock()
	p := &Process{m: m, ID: len(m.procs) + 1, Name: name}
	p.pid.Store(int64(pid))
	m.procs = append(m.procs, p)
	m.mu.Unlock()
	p.view = m.disk.View(p.ID)
	p.fs = &procFS{p: p}
	p.mark("start", name)
	return p
}

// exitAll ends every process of m, as their exit would: their locks are
// released and what they wrote stays (a Kill of each).
func (m *Machine) exitAll() {
	m.mu.Lock()
	procs := slices.Clone(m.procs)
	m.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
}

// Process is a simulated process: what it opens, maps and locks is its
// own, and Kill takes it all away (F1).
type Process struct {
	ID   int
	Name string

	m      *Machine
	view   engine.FS
	fs     *procFS
	killed atomic.Bool
	death  atomic.Pointer[string] // why the machine killed it (die), if it did
	lab    atomic.Bool            // the explorer killed it (ProcessKill): its markers are void
	// copyPiece of copyPieces is the piece of a split copy (splitCopy)
	// just made, at its crash point; 0 of 0 outside one. Only the
	// process's thread inside the copy reads or writes them.
	copyPiece, copyPieces int
	pid                   atomic.Int64 // SetPID
}

// SetPID says that the simulated process stands for the real process pid
// of this machine's operating system, as a caller of a FUSE mount of the
// disk does (package mount): its events in the trace carry pid from now on
// (Event.Pid). A pid is not part of a workload's digest (ReplayID), since
// a rerun gets another.
func (p *Process) SetPID(pid int) { p.pid.Store(int64(pid)) }

// PID returns the pid SetPID set, or 0.
func (p *Process) PID() int { return int(p.pid.Load()) }

// FS returns the file system as the process sees it.
func (p *Process) FS() engine.FS { return p.fs }

// Kill stops the process as kill -9 does (docs/DESIGN.md F1): every later
// operation of it fails with ErrKilled, its locks are released, and what it
// wrote to the page cache or to shared memory stays. Other processes go on.
func (p *Process) Kill() {
	if p.killed.Swap(true) {
		return
	}
	p.m.disk.ReleaseLocks(p.ID)
	p.mark("kill", p.Name)
}

// Killed reports whether the process was killed.
func (p *Process) Killed() bool { return p.killed.Load() }

// Death says why the machine itself killed the process — a signal its
// storage raised: SIGBUS for a load or store through a mapping to a page
// that the full disk cannot back (docs/DESIGN.md F2, "mapped pages on a
// full disk") — or is "" if it did not (the process is alive, or Kill
// killed it).
func (p *Process) Death() string {
	if d := p.death.Load(); d != nil {
		return *d
	}
	return ""
}

// fault returns err, or kills the process if err is a fault the kernel
// answers with a signal, and then returns that death: an F1 crash at that
// point, in the trace as a kill with its cause. The simulated storage
// fails the access with faultfs.ErrSIGBUS where the kernel kills.
func (p *Process) fault(op, path string, err error) error {
	if !errors.Is(err, faultfs.ErrSIGBUS) {
		return err
	}
	why := strings.TrimPrefix(err.Error(), faultfs.ErrSIGBUS.Error()+": ")
	d := fmt.Sprintf("process %d (%s) killed by SIGBUS: %s", p.ID, p.Name, why)
	if p.death.CompareAndSwap(nil, &d) && !p.killed.Swap(true) {
		p.m.disk.ReleaseLocks(p.ID)
		p.mark("kill", p.Name+" by SIGBUS: "+why)
		p.m.died(p)
	}
	return &fs.PathError{Op: op, Path: path, Err: fmt.Errorf("%w by SIGBUS: %w", ErrKilled, err)}
}

// point is the scheduling point of an operation of p.
func (p *Process) point() {
	if s := p.m.sched.Load(); s != nil {
		s.point(p, atStorage)
	}
}

// killAll kills every process of the machine.
func (m *Machine) killAll() {
	m.mu.Lock()
	procs := slices.Clone(m.procs)
	m.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
}

func (p *Process) mark(kind, note string) {
	p.m.disk.Mark(p.ID, kind+" "+note)
}

// event describes an operation of p that is about to run, for a crash
// point before it.
func (p *Process) event(kind, path string, off, n int64) Event {
	return Event{Index: p.m.lastOp().Index + 1, Proc: p.ID, Pid: p.PID(), Kind: kind, Path: path, Off: off, Len: n}
}

func (p *Process) killedErr(op, path string) error {
	return &fs.PathError{Op: op, Path: path, Err: ErrKilled}
}

// before and after call the machine's hook, if any.
func (p *Process) before(kind, path string, off, n int64) {
	if h := p.m.hook; h != nil {
		defer p.m.inLab()()
		h.before(p, p.event(kind, path, off, n))
	}
}

func (p *Process) after() {
	if h := p.m.hook; h != nil {
		defer p.m.inLab()()
		op := p.m.lastOp()
		e := eventOf(op)
		p.m.mu.Lock()
		e.Pid = p.m.pidOf(op.Owner)
		p.m.mu.Unlock()
		h.after(p, e)
	}
}

// inLab tells the machine's scheduler, if any, that a crash point is
// being taken, which can wait for the explorer's workers a while: the
// watchdog leaves the turn alone meanwhile. It returns the call that
// says it is over.
func (m *Machine) inLab() func() {
	s := m.sched.Load()
	if s == nil {
		return func() {}
	}
	s.inLab.Add(1)
	return func() { s.inLab.Add(-1) }
}

// callerOutside returns the file:line of the innermost caller that is not
// in the laboratory's plumbing (packages sim, faultfs and engine itself,
// package mount and the FUSE server under it; engine's subpackages are the
// code under test and count) nor in one of the packages skip names
// (Scenario.Adapters).
func callerOutside(skip []string) string {
	var pcs [32]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !plumbing(f.Function) && !adapter(f.Function, skip) {
			return fmt.Sprintf("%s:%d", shortFile(f.File), f.Line)
		}
		if !more {
			return ""
		}
	}
}

func plumbing(fn string) bool {
	for _, pkg := range []string{"github.com/crashsim/crashsim/sim.", "github.com/crashsim/crashsim/faultfs.", "github.com/crashsim/crashsim/engine.", "github.com/crashsim/crashsim/mount.", "github.com/hanwen/go-fuse/", "runtime.", "sync."} {
		if strings.HasPrefix(fn, pkg) {
			return true
		}
	}
	return false
}

// adapter reports whether function fn (as runtime.Frame.Function names
// it: "path/pkg.Func", "path/pkg.(*T).Method") is in one of the packages
// pkgs names, a path ending in "/..." naming those below it too.
func adapter(fn string, pkgs []string) bool {
	for _, pkg := range pkgs {
		if below, ok := strings.CutSuffix(pkg, "/..."); ok {
			if strings.HasPrefix(fn, below+".") || strings.HasPrefix(fn, below+"/") {
				return true
			}
		} else if strings.HasPrefix(fn, pkg+".") {
			return true
		}
	}
	return false
}

// shortFile keeps the last two elements of a source path.
func shortFile(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i > 0 {
		if j := strings.LastIndexByte(path[:i], '/'); j >= 0 {
			return path[j+1:]
		}
	}
	return path
}

// procFS is a process's view of the disk: every operation checks that the
// process is alive and passes the explorer its crash points.
type procFS struct{ p *Process }

func (f *procFS) OpenFile(name string, flag int, perm fs.FileMode) (engine.File, error) {
	f.p.point()
	if f.p.Killed() {
		return nil, f.p.killedErr("open", name)
	}
	file, err := f.p.view.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	f.p.after()
	return &procFile{p: f.p, f: file, flag: flag}, nil
}

func (f *procFS) Remove(name string) error {
	f.p.point()
	if f.p.Killed() {
		return f.p.killedErr("remove", name)
	}
	err := f.p.view.Remove(name)
	f.p.after()
	return err
}

func (f *procFS) Rename(oldname, newname string) error {
	f.p.point()
	if f.p.Killed() {
		return &fs.PathError{Op: "rename", Path: oldname, Err: ErrKilled}
	}
	err := f.p.view.Rename(oldname, newname)
	f.p.after()
	return err
}

// Link is engine.Link on the disk, a crash point after it: a new name is
// a namespace change.
func (f *procFS) Link(oldname, newname string) error {
	f.p.point()
	if f.p.Killed() {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: ErrKilled}
	}
	err := engine.Link(f.p.view, oldname, newname)
	f.p.after()
	return err
}

func (f *procFS) MkdirAll(name string, perm fs.FileMode) error {
	f.p.point()
	if f.p.Killed() {
		return f.p.killedErr("mkdir", name)
	}
	err := f.p.view.MkdirAll(name, perm)
	f.p.after()
	return err
}

func (f *procFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.p.point()
	if f.p.Killed() {
		return nil, f.p.killedErr("readdir", name)
	}
	return f.p.view.ReadDir(name)
}

func (f *procFS) Stat(name string) (fs.FileInfo, error) {
	f.p.point()
	if f.p.Killed() {
		return nil, f.p.killedErr("stat", name)
	}
	return f.p.view.Stat(name)
}

func (f *procFS) SyncDir(name string) error {
	f.p.point()
	if f.p.Killed() {
		return f.p.killedErr("syncdir", name)
	}
	f.p.before("syncdir", name, 0, 0)
	if f.p.Killed() {
		return f.p.killedErr("syncdir", name)
	}
	return f.p.view.SyncDir(name)
}

func (f *procFS) Lock(name string, mode engine.LockMode) (io.Closer, error) {
	f.p.point()
	if f.p.Killed() {
		return nil, f.p.killedErr("lock", name)
	}
	l, err := f.p.view.Lock(name, mode)
	if err != nil {
		return nil, err
	}
	f.p.after()
	return l, nil
}

// RecordLock, RecordUnlock and TestRecordLock are the process's fcntl(2)
// record locks (faultfs.RecordLocker), which the mount forwards: a set is
// a point of the explorer as a flock Lock is, and the process's death
// releases its locks.
func (f *procFS) RecordLock(name string, l faultfs.RecordLock) error {
	f.p.point()
	if f.p.Killed() {
		return f.p.killedErr("setlk", name)
	}
	if err := f.p.view.(faultfs.RecordLocker).RecordLock(name, l); err != nil {
		return err
	}
	f.p.after()
	return nil
}

func (f *procFS) RecordUnlock(name string, owner uint64, start, end int64) error {
	f.p.point()
	if f.p.Killed() {
		return f.p.killedErr("unlock", name)
	}
	if err := f.p.view.(faultfs.RecordLocker).RecordUnlock(name, owner, start, end); err != nil {
		return err
	}
	f.p.after()
	return nil
}

func (f *procFS) TestRecordLock(name string, l faultfs.RecordLock) (faultfs.RecordLock, bool, error) {
	if f.p.Killed() {
		return faultfs.RecordLock{}, false, f.p.killedErr("getlk", name)
	}
	return f.p.view.(faultfs.RecordLocker).TestRecordLock(name, l)
}

func (f *procFS) Map(file engine.File, length int64) (engine.Region, error) {
	f.p.point()
	pf, ok := file.(*procFile)
	if !ok || pf.p.m != f.p.m {
		return nil, fmt.Errorf("%w: map of a %T, not a file of this simulated machine", engine.ErrNotSupported, file)
	}
	if f.p.Killed() {
		return nil, f.p.killedErr("map", file.Name())
	}
	r, err := f.p.view.Map(pf.f, length)
	if err != nil {
		return nil, err
	}
	f.p.after()
	return &procRegion{p: f.p, r: r, name: file.Name()}, nil
}

// procFile is a file opened by a process.
type procFile struct {
	p    *Process
	f    engine.File
	flag int // as opened
}

var (
	_ engine.Allocator  = (*procFile)(nil)
	_ engine.Datasyncer = (*procFile)(nil)
	_ engine.Appender   = (*procFile)(nil)
	_ engine.Linker     = (*procFS)(nil)

	_ faultfs.RecordLocker = (*procFS)(nil)
)

func (f *procFile) Name() string { return f.f.Name() }

func (f *procFile) ReadAt(b []byte, off int64) (int, error) {
	f.p.point()
	if f.p.Killed() {
		return 0, f.p.killedErr("read", f.f.Name())
	}
	return f.f.ReadAt(b, off)
}

// WriteAt writes in pieces of at most one page under a process crash: a
// process killed inside write(2) may leave a prefix of the pages written.
func (f *procFile) WriteAt(b []byte, off int64) (int, error) {
	f.p.point()
	return splitCopy(f.p, "write", f.f.Name(), b, off, engine.PageSize, f.f.WriteAt)
}

func (f *procFile) Sync() error {
	f.p.point()
	if f.p.Killed() {
		return f.p.killedErr("sync", f.f.Name())
	}
	f.p.before("sync", f.f.Name(), 0, 0)
	if f.p.Killed() {
		return f.p.killedErr("sync", f.f.Name())
	}
	return f.f.Sync()
}

// Datasync is a barrier, as Sync is: a crash point of a power failure
// before it.
func (f *procFile) Datasync() error {
	f.p.point()
	if f.p.Killed() {
		return f.p.killedErr("fdatasync", f.f.Name())
	}
	f.p.before("datasync", f.f.Name(), 0, 0)
	if f.p.Killed() {
		return f.p.killedErr("fdatasync", f.f.Name())
	}
	return engine.Datasync(f.f)
}

// Append appends in pieces of at most one page, as WriteAt writes, under
// a process crash: a process killed inside write(2) may leave a prefix of
// the pages. The end where the pieces go is the file's size when Append
// starts, which only the process's own appends move meanwhile.
func (f *procFile) Append(b []byte) (int, error) {
	f.p.point()
	off := int64(0)
	if !f.p.Killed() && f.p.splits() && engine.CheckAppend(f.f.Name(), f.flag) == nil && len(b) > 1 {
		if fi, err := f.f.Stat(); err == nil {
			off = fi.Size()
		}
	}
	return splitCopy(f.p, "write", f.f.Name(), b, off, engine.PageSize, func(b []byte, _ int64) (int, error) {
		return engine.Append(f.f, b)
	})
}

func (f *procFile) Truncate(size int64) error {
	f.p.point()
	if f.p.Killed() {
		return f.p.killedErr("truncate", f.f.Name())
	}
	err := f.f.Truncate(size)
	f.p.after()
	return err
}

// Allocate is engine.Allocate of the file, a crash point after it: it
// changes the state (the blocks and the size).
func (f *procFile) Allocate(off, n int64) error {
	f.p.point()
	if f.p.Killed() {
		return f.p.killedErr("fallocate", f.f.Name())
	}
	err := engine.Allocate(f.f, off, n)
	f.p.after()
	return err
}

func (f *procFile) Stat() (fs.FileInfo, error) {
	f.p.point()
	if f.p.Killed() {
		return nil, f.p.killedErr("stat", f.f.Name())
	}
	return f.f.Stat()
}

func (f *procFile) Close() error {
	f.p.point()
	return f.f.Close()
}

// splits reports whether the machine explores process crashes, whose
// crash points fall inside copies too.
func (p *Process) splits() bool {
	h := p.m.hook
	return h != nil && h.options().Fault.f1()
}

// splitCopy writes b at off with write, in pieces that end at the aligned
// boundaries of unit bytes, when the machine explores process crashes (so
// that each boundary inside the copy is a crash point, docs/DESIGN.md F1),
// and in one piece otherwise. A copy of any length that straddles a
// boundary is split there: the kernel copies a write(2) a page at a time,
// and memcpy a word at a time, whatever the length.
func splitCopy(p *Process, op, name string, b []byte, off int64, unit int64, write func([]byte, int64) (int, error)) (int, error) {
	if p.Killed() {
		return 0, p.killedErr(op, name)
	}
	p.m.digestData(b)
	splits := p.splits()
	if g := 0; splits && op == "region-write" {
		if g = p.m.hook.options().Granularity; g > 0 {
			unit = int64(g)
		}
	}
	if !splits || off < 0 || len(b) == 0 || off/unit == (off+int64(len(b))-1)/unit {
		n, err := write(b, off)
		p.after()
		return n, err
	}
	done := 0
	p.copyPieces = int((off+int64(len(b))-1)/unit - off/unit + 1)
	defer func() { p.copyPiece, p.copyPieces = 0, 0 }()
	for done < len(b) {
		if p.Killed() {
			return done, p.killedErr(op, name)
		}
		at := off + int64(done)
		end := min((at/unit+1)*unit, off+int64(len(b)))
		n, err := write(b[done:done+int(end-at)], at)
		done += n
		p.copyPiece++
		p.after()
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// procRegion is a mapping made by a process.
type procRegion struct {
	p    *Process
	r    engine.Region
	name string
}

func (r *procRegion) Len() int64            { return r.r.Len() }
func (r *procRegion) Medium() engine.Medium { return r.r.Medium() }

func (r *procRegion) ReadAt(b []byte, off int64) (int, error) {
	r.p.point()
	if r.p.Killed() {
		return 0, r.p.killedErr("region-read", r.name)
	}
	n, err := r.r.ReadAt(b, off)
	return n, r.loadFault(err)
}

func (r *procRegion) View(off, n int64) ([]byte, error) {
	r.p.point()
	if r.p.Killed() {
		return nil, r.p.killedErr("region-read", r.name)
	}
	v, err := r.r.View(off, n)
	return v, r.loadFault(err)
}

// loadFault is the process's fault on a load (see Process.fault): a load
// changes nothing, so it is a crash point only when it kills.
func (r *procRegion) loadFault(err error) error {
	if err = r.p.fault("region-read", r.name, err); r.p.Death() != "" {
		r.p.after()
	}
	return err
}

// WriteAt stores word by word under a process crash: a process killed
// inside a memcpy leaves a prefix of its words. A store the full disk
// cannot back kills the process (Process.fault).
func (r *procRegion) WriteAt(b []byte, off int64) (int, error) {
	r.p.point()
	return splitCopy(r.p, "region-write", r.name, b, off, engine.WordSize, func(b []byte, off int64) (int, error) {
		n, err := r.r.WriteAt(b, off)
		return n, r.p.fault("region-write", r.name, err)
	})
}

func (r *procRegion) Load32(off int64) (uint32, error) {
	r.p.point()
	if r.p.Killed() {
		return 0, r.p.killedErr("region-read", r.name)
	}
	v, err := r.r.Load32(off)
	return v, r.loadFault(err)
}

func (r *procRegion) Load64(off int64) (uint64, error) {
	r.p.point()
	if r.p.Killed() {
		return 0, r.p.killedErr("region-read", r.name)
	}
	v, err := r.r.Load64(off)
	return v, r.loadFault(err)
}

// atomic runs a state-changing atomic operation and passes its crash point.
func (r *procRegion) atomic(do func() error, operands ...uint64) error {
	r.p.point()
	if r.p.Killed() {
		return r.p.killedErr("region-atomic", r.name)
	}
	r.p.m.digestData(nil, operands...)
	err := r.p.fault("region-atomic", r.name, do())
	r.p.after()
	return err
}

func (r *procRegion) Store32(off int64, v uint32) error {
	return r.atomic(func() error { return r.r.Store32(off, v) }, uint64(v))
}

func (r *procRegion) Store64(off int64, v uint64) error {
	return r.atomic(func() error { return r.r.Store64(off, v) }, v)
}

func (r *procRegion) Add32(off int64, delta uint32) (v uint32, err error) {
	err = r.atomic(func() error { v, err = r.r.Add32(off, delta); return err }, uint64(delta))
	return v, err
}

func (r *procRegion) Add64(off int64, delta uint64) (v uint64, err error) {
	err = r.atomic(func() error { v, err = r.r.Add64(off, delta); return err }, delta)
	return v, err
}

func (r *procRegion) CompareAndSwap32(off int64, old, new uint32) (ok bool, err error) {
	err = r.atomic(func() error { ok, err = r.r.CompareAndSwap32(off, old, new); return err }, uint64(old), uint64(new))
	return ok, err
}

func (r *procRegion) CompareAndSwap64(off int64, old, new uint64) (ok bool, err error) {
	err = r.atomic(func() error { ok, err = r.r.CompareAndSwap64(off, old, new); return err }, old, new)
	return ok, err
}

func (r *procRegion) Flush(off, n int64) error {
	r.p.point()
	if r.p.Killed() {
		return r.p.killedErr("flush", r.name)
	}
	return r.r.Flush(off, n)
}

func (r *procRegion) Drain() error {
	r.p.point()
	if r.p.Killed() {
		return r.p.killedErr("drain", r.name)
	}
	r.p.before("drain", r.name, 0, 0)
	if r.p.Killed() {
		return r.p.killedErr("drain", r.name)
	}
	return r.r.Drain()
}

func (r *procRegion) Grow(length int64) error {
	r.p.point()
	if r.p.Killed() {
		return r.p.killedErr("grow", r.name)
	}
	err := r.r.Grow(length)
	r.p.after()
	return err
}

func (r *procRegion) Close() error {
	r.p.point()
	return r.r.Close()
}
