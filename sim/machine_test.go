package sim

import (
	"errors"
	"testing"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/storagetest"
	"github.com/crashsim/crashsim/faultfs"
)

// The simulated machine is a backend like any other: a behaviour that
// differs from the OS's is a bug in the simulator (docs/DESIGN.md section 3).
func TestConformance(t *testing.T) {
	for _, dir := range []string{"/data/t", "/pmem/t", "/dev/shm/t"} {
		t.Run(dir, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) (engine.FS, string) {
				p := NewMachine().Start("test")
				if err := p.FS().MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				return p.FS(), dir
			})
		})
	}
}

func TestMedia(t *testing.T) {
	p := NewMachine().Start("test")
	for dir, want := range map[string]engine.Medium{"/data": engine.MappedFile, "/pmem": engine.PMem, "/dev/shm": engine.SharedMemory} {
		if err := p.FS().MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := engine.Create(p.FS(), dir+"/f")
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.FS().Map(f, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if r.Medium() != want {
			t.Errorf("%s: medium %v, want %v", dir, r.Medium(), want)
		}
	}
}

// TestKill: a killed process's operations fail, its locks are released,
// and what it wrote stays (F1); other processes go on.
func TestKill(t *testing.T) {
	m := NewMachine()
	a, b := m.Start("a"), m.Start("b")
	l, err := a.FS().Lock("/lock", engine.Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := b.FS().Lock("/lock", engine.Exclusive); !errors.Is(err, engine.ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	f, err := engine.Create(a.FS(), "/data")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	a.Kill()
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, ErrKilled) {
		t.Errorf("write after kill: %v, want ErrKilled", err)
	}
	if _, err := a.FS().Stat("/data"); !errors.Is(err, ErrKilled) {
		t.Errorf("stat after kill: %v, want ErrKilled", err)
	}
	l2, err := b.FS().Lock("/lock", engine.Exclusive)
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	l2.Close()
	if got, err := engine.ReadFile(b.FS(), "/data"); err != nil || string(got) != "kept" {
		t.Errorf("the killed process's write: %q, %v; want it kept", got, err)
	}
}

// TestRing: the ring returns the last events added, oldest first, however
// many were added.
func TestRing(t *testing.T) {
	for _, added := range []int{0, 1, 5, 16, 17, 40} {
		r := newRing(16)
		for i := range added {
			r.add(Event{Index: uint64(i)})
		}
		for _, n := range []int{1, 4, 16, 20} {
			got := r.last(n)
			want := min(n, added, 16)
			if len(got) != want {
				t.Fatalf("added %d, last(%d): %d events, want %d", added, n, len(got), want)
			}
			for i, e := range got {
				if e.Index != uint64(added-want+i) {
					t.Fatalf("added %d, last(%d)[%d] = #%d, want #%d", added, n, i, e.Index, added-want+i)
				}
			}
		}
	}
}

// TestKillReleasesRecordLocks: a process's fcntl record locks conflict
// with another's until it is killed; then its calls fail with ErrKilled.
func TestKillReleasesRecordLocks(t *testing.T) {
	m := NewMachine()
	a, b := m.Start("a"), m.Start("b")
	f, err := engine.Create(a.FS(), "/data")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ra, rb := a.FS().(faultfs.RecordLocker), b.FS().(faultfs.RecordLocker)
	if err := ra.RecordLock("/data", faultfs.RecordLock{Owner: 1, Pid: 1, Start: 0, End: 9, Exclusive: true}); err != nil {
		t.Fatal(err)
	}
	l := faultfs.RecordLock{Owner: 2, Pid: 2, Start: 5, End: faultfs.RecordEOF}
	if err := rb.RecordLock("/data", l); !errors.Is(err, engine.ErrLocked) {
		t.Fatalf("b's lock over a's: %v, want ErrLocked", err)
	}
	a.Kill()
	if err := rb.RecordLock("/data", l); err != nil {
		t.Fatalf("b's lock after a was killed: %v", err)
	}
	if err := ra.RecordLock("/data", faultfs.RecordLock{Owner: 1, Start: 0, End: 0}); !errors.Is(err, ErrKilled) {
		t.Fatalf("a killed process's lock: %v, want ErrKilled", err)
	}
}
