package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/crashsim/crashsim/sim"
)

// progress is the progress bar of a list of jobs on a terminal's stderr:
// one step per job, its description the job running and how far its
// exploration is. A nil *progress is no bar; its methods do nothing, so
// callers need not ask.
type progress struct {
	mu   sync.Mutex
	bar  *progressbar.ProgressBar
	job  string
	last time.Time
}

// newProgress returns a bar for jobs runs on stderr, or nil when stderr is
// not a terminal: a log file or a CI console gets no carriage-return
// noise, and stdout (tables, JSON) is never touched.
func newProgress(stderr io.Writer, jobs int) *progress {
	f, ok := stderr.(*os.File)
	if !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return nil
	}
	return &progress{bar: progressbar.NewOptions(jobs,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionShowDescriptionAtLineEnd(),
	)}
}

func (p *progress) start(j job) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.job = fmt.Sprintf("%s %s/%s", j.sc.Name, j.fault, j.strategy)
	p.bar.Describe(p.job)
}

// update is the sim.Options.Progress callback. The explorer may call it
// from its workers and once per crash point, so it locks and redraws at
// most ten times a second.
func (p *progress) update(pr sim.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.bar.Describe(fmt.Sprintf("%s: %d crash points, %d states, %d violations", p.job, pr.CrashPoints, pr.Explored, pr.Violations))
	}
}

func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Add(1) // a bar that cannot draw must not fail the run
}

// finish removes the bar, so the tables that follow start on a clean line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Finish()
	_ = p.bar.Clear()
}
