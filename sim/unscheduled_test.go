package sim

import (
	"fmt"
	"os"
	"testing"

	"github.com/crashsim/crashsim/engine"
)

// fileServer answers requests that come through a pipe, as the FUSE
// mount's server does the system calls of a workload: for request byte n
// it creates /served<n> on fsys, writes n and syncs it, in a goroutine it
// starts for the request (as go-fuse starts readers), and answers with n,
// or 0 if an operation failed. It returns when req is closed.
func fileServer(fsys engine.FS, req, reply *os.File) {
	buf := make([]byte, 1)
	for {
		if _, err := req.Read(buf); err != nil {
			return
		}
		n := buf[0]
		done := make(chan error)
		go func() {
			f, err := engine.Create(fsys, fmt.Sprintf("/served%d", n))
			if err == nil {
				_, err = f.WriteAt([]byte{n}, 0)
			}
			if err == nil {
				err = f.Sync()
			}
			done <- err
		}()
		if <-done != nil {
			n = 0
		}
		if _, err := reply.Write([]byte{n}); err != nil {
			return
		}
	}
}

// TestUnscheduledGoroutineAnswersBlockedThread: the workload's thread 0
// blocks in a real system call (a read of a pipe) that a goroutine which
// is no thread answers after storage operations of its own, while a
// second thread has work to do. The server's operations run in the
// blocked thread's turn, without waiting for one, and the scheduler does
// not wait for the server's goroutines, which block in system calls
// too. Before, they were taken for threads: their first operation waited
// for a turn the blocked holder never gave up (a server started outside
// the workload), or the scheduler waited for the server, blocked in its
// read, to settle (one a thread started) — the FUSE mount hung both ways.
func TestUnscheduledGoroutineAnswersBlockedThread(t *testing.T) {
	for _, start := range []string{"by the test", "by a thread, through Unscheduled"} {
		t.Run(start, func(t *testing.T) {
			reqR, reqW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			replyR, replyW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer reqW.Close()
			defer replyR.Close()
			serve := func(fsys engine.FS) {
				go func() {
					defer reqR.Close()
					defer replyW.Close()
					fileServer(fsys, reqR, replyW)
				}()
			}
			m := NewMachine()
			p := m.Start("main")
			if start == "by the test" {
				serve(p.FS())
			}
			err = m.Run(1, func(env *Env) error {
				if start != "by the test" {
					Unscheduled(func() { serve(env.FS) })
				}
				other := env.Go(func(env *Env) error {
					for i := range 3 {
						f, err := engine.Create(env.FS, fmt.Sprintf("/other%d", i))
						if err != nil {
							return err
						}
						if err := f.Sync(); err != nil {
							return err
						}
					}
					return nil
				})
				buf := make([]byte, 1)
				for n := byte(1); n <= 3; n++ {
					if _, err := reqW.Write([]byte{n}); err != nil {
						return err
					}
					if _, err := replyR.Read(buf); err != nil {
						return err
					}
					if buf[0] != n {
						return fmt.Errorf("request %d: the server answered %d", n, buf[0])
					}
					env.Yield()
				}
				if err := other.Wait(); err != nil {
					return err
				}
				for _, name := range []string{"/served1", "/served2", "/served3", "/other0", "/other1", "/other2"} {
					if _, err := env.FS.Stat(name); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
