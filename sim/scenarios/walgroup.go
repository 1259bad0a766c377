package scenarios

import (
	"fmt"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/engine/wal"
	"github.com/crashsim/crashsim/internal/walbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// The WAL's group commit under several appenders: threads of one process
// append to one log and make their entries durable with FlushAndSync,
// whose fsync the engine shares between the callers that wait for it
// (engine/wal: one leads a round, the others wait on its condition
// variable). The scheduler runs them one at a time, switching at every
// storage operation and marker, so each schedule is one interleaving of
// the appenders, and a replay id rebuilds it.
//
// The bug variant wal-bug-group-early-ack breaks the group commit the way
// a hand-written one is easily broken: a FlushAndSync that finds a sync
// round in flight waits for it and returns, though the round may have
// started before the caller appended (walbug.JoinSyncInFlight). Only an
// interleaving in which an appender appends while another's round is
// between its start and its fsync shows it; a run explores
// walGroupSchedules schedules by default, enough for the random
// scheduler to find one for every seed tried, and PCT of depth 2 finds
// one within 8 (TestWALGroupEarlyAckFound).
const (
	walGroupThreads   = 4
	walGroupEntries   = 2 // per thread
	walGroupSchedules = 4
)

func init() {
	register(
		func() *sim.Scenario {
			sc := walScenario("wal-group", fmt.Sprintf("%d threads append %d entries each to one WAL, each made durable by FlushAndSync, whose fsyncs they share (group commit)", walGroupThreads, walGroupEntries),
				func(env *sim.Env, fsys engine.FS) error {
					return walGroup(env, fsys, walOptions(), walGroupThreads, walGroupEntries)
				}, nil)
			sc.Schedules = walGroupSchedules
			return sc
		},
		func() *sim.Scenario {
			opts := walOptions()
			walbug.Set(&opts, walbug.JoinSyncInFlight)
			sc := walScenario("wal-bug-group-early-ack", fmt.Sprintf("BUG: as wal-group, but a FlushAndSync that finds a group fsync in flight returns when it ends, though it started before the caller appended: the caller acknowledges entries no fsync covered (%d schedules by default)", walGroupSchedules),
				func(env *sim.Env, fsys engine.FS) error {
					return walGroup(env, fsys, opts, walGroupThreads, walGroupEntries)
				}, nil)
			sc.Schedules = walGroupSchedules
			return sc
		},
	)
}

// walGroup starts threads appenders of entries each, waits for them, and
// closes the log.
func walGroup(env *sim.Env, fsys engine.FS, opts wal.Options, threads, entries int) error {
	w, err := wal.New(fsys, walDir, wal.Bytes, opts)
	if err != nil {
		return err
	}
	var ts []*sim.Thread
	order := new(sim.Mutex)
	for range threads {
		ts = append(ts, env.Go(func(env *sim.Env) error { return walGroupAppender(env, w, order, entries) }))
	}
	for _, t := range ts {
		if err := t.Wait(); err != nil {
			return err
		}
	}
	return w.Close()
}

// walGroupAppender appends its entries one at a time, each acknowledged
// once FlushAndSync returns: every entry up to its own id is then
// durable, its own and those appended before it by the others. The
// appenders take turns at Append (order): the model numbers operations
// in the order they are invoked, and the log's ids must follow it —
// appends that overlap would be linearized by the log, which only a
// linearizability check judges. Their FlushAndSyncs overlap freely: that
// is the group commit under test.
func walGroupAppender(env *sim.Env, w *wal.WAL[[]byte], order *sim.Mutex, entries int) error {
	for range entries {
		e := walRecord(env, walEntry)
		order.Lock()
		env.Invoke(models.LogAppend{Record: e})
		id, err := w.Append(e)
		order.Unlock()
		if err != nil {
			return err
		}
		if err := w.FlushAndSync(); err != nil {
			return err
		}
		env.Return(id)
		env.Durable(int(id))
	}
	return nil
}
