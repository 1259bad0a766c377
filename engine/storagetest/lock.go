package storagetest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crashsim/crashsim/engine"
)

var lockChecks = []check{
	{"Lock/Exclusive", testLockExclusive},
	{"Lock/Shared", testLockShared},
	{"Lock/MissingDir", testLockMissingDir},
	{"Lock/WaitLock", testWaitLock},
	{"Lock/WaitLockContext", testWaitLockContext},
}

// lock takes a lock that must be free and releases it when the test ends.
func lock(t *testing.T, fsys engine.FS, name string, mode engine.LockMode) io.Closer {
	t.Helper()
	l, err := fsys.Lock(name, mode)
	if err != nil {
		t.Fatalf("%v lock on %s: %v", mode, name, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// wantLocked reports unless a mode lock on name is refused with ErrLocked.
func wantLocked(t *testing.T, fsys engine.FS, name string, mode engine.LockMode, why string) {
	t.Helper()
	l, err := fsys.Lock(name, mode)
	wantPathErr(t, mode.String()+" lock "+why, err, "lock", engine.ErrLocked)
	if err == nil {
		l.Close()
	}
}

func testLockExclusive(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "lock")
	l := lock(t, fsys, name, engine.Exclusive)
	if _, err := fsys.Stat(name); err != nil {
		t.Errorf("Lock did not create %s: %v", name, err)
	}
	wantLocked(t, fsys, name, engine.Exclusive, "while an exclusive one is held")
	wantLocked(t, fsys, name, engine.Shared, "while an exclusive one is held")
	if err := l.Close(); err != nil {
		t.Errorf("release: %v", err)
	}
	wantErr(t, "second release", l.Close(), engine.ErrClosed)
	l2 := lock(t, fsys, name, engine.Exclusive)
	if err := l2.Close(); err != nil {
		t.Errorf("release: %v", err)
	}
}

func testLockShared(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "lock")
	s1 := lock(t, fsys, name, engine.Shared)
	s2 := lock(t, fsys, name, engine.Shared)
	wantLocked(t, fsys, name, engine.Exclusive, "while two shared ones are held")
	s1.Close()
	wantLocked(t, fsys, name, engine.Exclusive, "while a shared one is held")
	s2.Close()
	lock(t, fsys, name, engine.Exclusive)
}

func testLockMissingDir(t *testing.T, fsys engine.FS, dir string) {
	l, err := fsys.Lock(join(dir, "missing/lock"), engine.Exclusive)
	wantPathErr(t, "lock in a missing directory", err, "", fs.ErrNotExist)
	if err == nil {
		l.Close()
	}
}

func testWaitLock(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "lock")
	held := lock(t, fsys, name, engine.Exclusive)
	var released atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(20 * time.Millisecond)
		released.Store(true)
		if err := held.Close(); err != nil {
			t.Errorf("release: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := engine.WaitLock(ctx, fsys, name, engine.Shared)
	if err != nil {
		t.Errorf("WaitLock: %v", err)
	} else {
		if !released.Load() {
			t.Errorf("WaitLock returned while the conflicting lock was held")
		}
		l.Close()
	}
	<-done
}

func testWaitLockContext(t *testing.T, fsys engine.FS, dir string) {
	name := join(dir, "lock")
	lock(t, fsys, name, engine.Exclusive)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l, err := engine.WaitLock(ctx, fsys, name, engine.Exclusive)
	wantPathErr(t, "WaitLock with a cancelled context", err, "lock", context.Canceled)
	if l != nil {
		t.Errorf("WaitLock with a cancelled context returned a lock")
	}

	const wait = 20 * time.Millisecond
	ctx, cancel = context.WithTimeout(context.Background(), wait)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_, err = engine.WaitLock(ctx, fsys, name, engine.Exclusive)
	wantErr(t, "WaitLock past its deadline", err, context.DeadlineExceeded)
	// Measured against the context's own deadline: a clock started after
	// WithTimeout would make a punctual WaitLock look early.
	if early := time.Until(deadline); errors.Is(err, context.DeadlineExceeded) && early > 0 {
		t.Errorf("WaitLock gave up %v before its deadline", early)
	}
}
