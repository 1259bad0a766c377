package sim

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/crashsim/crashsim/faultfs"
)

// Event is one entry of the trace: an operation of a simulated process on
// the machine's storage, or a marker of the workload. Storage events carry
// the file system's operation index, so every event of a run has one place
// in one total order.
type Event struct {
	// Index is the event's place in the trace.
	Index uint64 `json:"index"`
	// Proc is the simulated process that made it.
	Proc int `json:"proc"`
	// Pid is the operating system's id of the real process that made it,
	// when the simulated process stands for one (a caller of a FUSE mount,
	// package mount: Process.SetPID), and 0 otherwise.
	Pid int `json:"pid,omitempty"`
	// Kind is the operation ("write", "append", "sync", "write-sync" (the
	// sync that ends a write to an O_DSYNC or O_SYNC file), "region-write",
	// "drain", …)
	// or the marker ("invoke", "return", "durable", "start", "kill"; a
	// kill's note names the signal when the machine killed the process).
	Kind string `json:"kind"`
	Path string `json:"path,omitempty"`
	// NewPath is the new name of a rename.
	NewPath string `json:"new_path,omitempty"`
	Off     int64  `json:"off,omitempty"`
	Len     int64  `json:"len,omitempty"`
	// Note is a marker's text: the operation invoked, its output.
	Note string `json:"note,omitempty"`
	// Err is what a storage operation returned other than success, as an
	// strace line says it: the errno's name ("ENOSPC", "EIO"), "EOF", or
	// the error's text, and the fault that was injected into it, if one
	// was ("EIO (injected sync failure)"; a bit flip fails nothing:
	// "(injected bit flip …)").
	Err string `json:"err,omitempty"`
}

func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d p%d", e.Index, e.Proc)
	if e.Pid != 0 {
		fmt.Fprintf(&b, " pid %d", e.Pid)
	}
	b.WriteString(" " + e.Kind)
	if e.Path != "" {
		b.WriteString(" " + e.Path)
	}
	if e.NewPath != "" {
		b.WriteString(" -> " + e.NewPath)
	}
	switch e.Kind {
	case "read", "write", "append", "write-sync", "flush", "region-read", "region-write", "region-atomic", "allocate":
		fmt.Fprintf(&b, " [%d,%d)", e.Off, e.Off+e.Len)
	case "truncate":
		fmt.Fprintf(&b, " %d", e.Off)
	case "map", "grow":
		fmt.Fprintf(&b, " %d", e.Len)
	}
	if e.Note != "" {
		b.WriteString(" " + e.Note)
	}
	if e.Err != "" {
		b.WriteString(" = " + e.Err)
	}
	return b.String()
}

// errText is an Event's Err: what an operation that failed, or into which
// a fault was injected, returned.
func errText(fault faultfs.Fault, err error) string {
	var s string
	var errno syscall.Errno
	var pe *fs.PathError
	switch {
	case err == nil:
	case errors.As(err, &errno):
		if s = unix.ErrnoName(errno); s == "" {
			s = errno.Error()
		}
	case err == io.EOF:
		s = "EOF"
	case errors.Is(err, faultfs.ErrSIGBUS):
		s = "SIGBUS"
	case errors.As(err, &pe):
		s = pe.Err.Error()
	default:
		s = err.Error()
	}
	if !fault.IsNone() {
		s = strings.TrimSpace(s + " (injected " + fault.String() + ")")
	}
	return s
}

// setErr gives the event of index its Err, searching from the end of
// events, where an operation that is returning is.
func setErr(events []Event, index uint64, text string) {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Index == index {
			events[i].Err = text
			return
		}
		if events[i].Index < index {
			return
		}
	}
}

// IsBarrier reports whether the event is a persistence barrier: a crash
// point of a power failure precedes each.
func (e Event) IsBarrier() bool {
	switch e.Kind {
	case "sync", "datasync", "write-sync", "syncdir", "drain":
		return true
	}
	return false
}

// eventOf turns a disk operation into a trace event. A mark's note is its
// kind, a space, and its text (see Process.mark).
func eventOf(op faultfs.Op) Event {
	e := Event{Index: op.Index, Proc: op.Owner, Kind: op.Kind.String(), Path: op.Path, NewPath: op.NewPath, Off: op.Off, Len: op.Len}
	if op.Kind == faultfs.OpMark {
		e.Kind, e.Note, _ = strings.Cut(op.Note, " ")
	}
	return e
}

// ring keeps the last events of the trace, for the excerpt of a violation:
// memory stays bounded however long the workload runs. It grows to its size
// as events come, since most machines (recoveries) see only a few.
type ring struct {
	buf  []Event
	size int
	next int
	full bool
}

func newRing(n int) *ring { return &ring{size: n} }

func (r *ring) add(e Event) {
	if !r.full && len(r.buf) < r.size {
		r.buf = append(r.buf, e)
		r.next = len(r.buf) % r.size
		r.full = len(r.buf) == r.size
		return
	}
	r.buf[r.next] = e
	r.next = (r.next + 1) % r.size
}

// setErr gives the event of index, if the ring still holds it, its Err.
func (r *ring) setErr(index uint64, text string) {
	for i := range r.buf {
		if r.buf[i].Index == index {
			r.buf[i].Err = text
			return
		}
	}
}

// last returns up to n of the most recent events, oldest first.
func (r *ring) last(n int) []Event {
	size := r.next
	if r.full {
		size = len(r.buf)
	}
	n = min(n, size)
	out := make([]Event, 0, n)
	for i := size - n; i < size; i++ {
		out = append(out, r.buf[(r.next-size+i+len(r.buf))%len(r.buf)])
	}
	return out
}
