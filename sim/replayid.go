package sim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/crashsim/crashsim/faultfs"
)

// ReplayID names one crash state of one run exactly: RunReplay (behind
// `crashsim replay <id>` and a go test run with -crashsim.replay=<id>)
// reruns the scenario with the same options to the same crash point,
// rebuilds the state, and recovers it again with the store-level trace and
// source locations. Its text form has no spaces or shell metacharacters:
//
//	scenario@workload:fault:profile:strategy:seed:granularity:tail:point:choice[:rpoint:rchoice]
//
// where workload is the digest of the workload's run up to the crash
// point, 16 hex digits (see Workload); seed is the run's seed, followed
// for a run of several threads by its schedule where it is not the
// default: "+pct3" (PCTScheduler of depth 3), "+b16" (a bound of 16
// switches), "+s12" (the thirteenth schedule), e.g. 7+pct3+s12; profile is the file system's
// profile the run explored (Options.Profile: posix, ext4-ordered, …);
// tail is "zero" or "garbage" (Options.Tail.Garbage: garbage always;
// zero: as the profile and the choice say); choice is the faultfs choice
// key (prefix/sizes/data, e.g. 0/1/0,2, with /g when the state reads stale
// bytes as garbage), "keep" for a process crash, or under a kill of one
// process (ProcessKill, fault "kill") the process killed, "p3", whose
// operation the crash point is; and rpoint and rchoice
// name a crash inside the recovery of that state when
// Options.RecoveryCrashes found it. Scenario names cannot hold ':' or '@'
// (Scenario.Validate).
//
// A state reached through more than one crash (docs/DESIGN.md F4) names
// every crash of its chain: point and choice are then lists joined by
// '+', the workload's crash first, then one crash point and choice of
// each continuation (Chain), as in
//
//	wal-bug-resume-keeps-tear@9f2c41d07a5be318:power:posix:subsets:0:0:zero:7+3:0/0/1,0,1+0/1/0
//
// and a continuation that failed after the last crash's recovery (a
// violation of liveness: Continuation) ends both lists with an empty
// element: 7+ and 0/0/1,0,1+. rpoint and rchoice then crash the recovery
// of the last crash. The digest is the workload's: a continuation is not
// digested, and one that changed replays its own run.
//
// Older ids still parse and replay as they did: one without "@workload",
// printed before digests existed, unchecked; one without a profile (eight
// or ten fields), printed before profiles existed, under posix-4k, the
// rules of that time (4 KiB units on a disk, zero tails).
type ReplayID struct {
	Scenario string
	// Workload is the digest of the workload's trace up to the crash point
	// (every operation and marker, and the bytes and values it stored); 0
	// means unknown, and is not checked. A rapid property runs one scenario
	// with many generated workloads: the digest says which of them the id
	// names, and a replay checks it.
	Workload uint64
	Fault    Fault
	// Profile names the profile the run explored; "" (an id printed
	// before profiles) replays under posix-4k.
	Profile  string
	Strategy Strategy
	Seed     uint64
	// Scheduler, Depth and Switches are the run's Options of the same
	// names, and Schedule the number of the schedule (from 0) whose run
	// the crash point is in: they rebuild the interleaving. In the text
	// form they follow the seed where they are not the defaults (see
	// seedField).
	Scheduler   Scheduler
	Depth       int
	Switches    int
	Schedule    int
	Granularity int
	GarbageTail bool
	Point       int
	Choice      string
	// Chain names the crashes after the first, when the state needs more
	// than one: each a crash point of the continuation that followed the
	// recovery of the crash before, and the choice of its pending units.
	Chain []Link
	// Continuation is set when the id names no crash state but the
	// continuation after the recovery of the chain's last crash, run to
	// its end: a store that refused to go on.
	Continuation bool
	// RecoveryPoint is -1 unless the state is a crash of a recovery (of
	// the chain's last crash).
	RecoveryPoint  int
	RecoveryChoice string
}

// Link is one crash of a chain after the first: a crash point of a
// continuation and the choice of its pending units ("keep" for a process
// crash).
type Link struct {
	Point  int
	Choice string
}

// CrashDepth is the crash depth the id needs: one crash, one more per
// Link, and one more for a Continuation (it runs the continuation of the
// last).
func (id ReplayID) CrashDepth() int {
	d := 1 + len(id.Chain)
	if id.Continuation {
		d++
	}
	return d
}

// points and choices are the id's point and choice fields.
func (id ReplayID) points() (string, string) {
	p, c := strconv.Itoa(id.Point), id.Choice
	for _, l := range id.Chain {
		p += "+" + strconv.Itoa(l.Point)
		c += "+" + l.Choice
	}
	if id.Continuation {
		p, c = p+"+", c+"+"
	}
	return p, c
}

func (id ReplayID) String() string {
	tail := "zero"
	if id.GarbageTail {
		tail = "garbage"
	}
	name := id.Scenario
	if id.Workload != 0 {
		name += fmt.Sprintf("@%016x", id.Workload)
	}
	var s string
	point, choice := id.points()
	if id.Profile == "" {
		s = fmt.Sprintf("%s:%s:%s:%s:%d:%s:%s:%s", name, id.Fault, id.Strategy, id.seedField(), id.Granularity, tail, point, choice)
	} else {
		s = fmt.Sprintf("%s:%s:%s:%s:%s:%d:%s:%s:%s", name, id.Fault, id.Profile, id.Strategy, id.seedField(), id.Granularity, tail, point, choice)
	}
	if id.RecoveryPoint >= 0 {
		s += fmt.Sprintf(":%d:%s", id.RecoveryPoint, id.RecoveryChoice)
	}
	return s
}

// Options returns the exploration options the id was found with.
func (id ReplayID) Options() Options {
	profile := id.Profile
	if profile == "" {
		profile = faultfs.POSIX4K.Name
	}
	return Options{Fault: id.Fault, Profile: profile, Strategy: id.Strategy, Seed: id.Seed, Granularity: id.Granularity, Tail: faultfs.Tail{Garbage: id.GarbageTail},
		Scheduler: id.Scheduler, Depth: id.Depth, Switches: id.Switches, CrashDepth: id.CrashDepth()}
}

// ParseReplayID parses the text form of a ReplayID.
func ParseReplayID(s string) (ReplayID, error) {
	bad := func(why string) (ReplayID, error) {
		return ReplayID{}, fmt.Errorf("%w: invalid replay id %q: %s", ErrUsage, s, why)
	}
	f := strings.Split(s, ":")
	if len(f) != 8 && len(f) != 9 && len(f) != 10 && len(f) != 11 {
		return bad("want scenario[@workload]:fault:profile:strategy:seed:granularity:tail:point:choice[:rpoint:rchoice]")
	}
	var profile string
	if len(f)%2 == 1 {
		profile = f[2]
		if _, ok := faultfs.ProfileNamed(profile); !ok || profile == "" {
			return bad(fmt.Sprintf("unknown profile %q", profile))
		}
		f = append(f[:2], f[3:]...)
	}
	id := ReplayID{RecoveryPoint: -1, Profile: profile}
	var err error
	name, digest, hasDigest := strings.Cut(f[0], "@")
	if why := nameProblem(name); why != "" {
		return bad(why)
	}
	id.Scenario = name
	if hasDigest {
		if len(digest) != 16 {
			return bad("the workload digest after @ must be 16 hex digits")
		}
		if id.Workload, err = strconv.ParseUint(digest, 16, 64); err != nil || id.Workload == 0 {
			return bad("the workload digest after @ must be 16 hex digits, not all zero")
		}
	}
	if id.Fault, err = ParseFault(f[1]); err != nil {
		return bad(fmt.Sprintf("unknown fault model %q", f[1]))
	}
	if id.Strategy, err = ParseStrategy(f[2]); err != nil {
		return bad(fmt.Sprintf("unknown strategy %q", f[2]))
	}
	if err := id.parseSeedField(f[3]); err != nil {
		return bad(err.Error())
	}
	if id.Granularity, err = strconv.Atoi(f[4]); err != nil {
		return bad("the granularity must be a whole number")
	}
	switch f[5] {
	case "zero":
	case "garbage":
		id.GarbageTail = true
	default:
		return bad("the tail must be zero or garbage")
	}
	points, choices := strings.Split(f[6], "+"), strings.Split(f[7], "+")
	if len(points) != len(choices) {
		return bad(fmt.Sprintf("%d crash points but %d choices: each crash of a chain has one of each", len(points), len(choices)))
	}
	if last := len(points) - 1; last > 0 && points[last] == "" && choices[last] == "" {
		id.Continuation = true
		points, choices = points[:last], choices[:last]
	}
	for i := range points {
		k, err := strconv.Atoi(points[i])
		if err != nil || k < 0 {
			return bad("each crash point must be a whole number >= 0")
		}
		if choices[i] == "" {
			return bad("each crash of a chain needs a choice")
		}
		if i == 0 {
			id.Point, id.Choice = k, choices[i]
		} else {
			id.Chain = append(id.Chain, Link{Point: k, Choice: choices[i]})
		}
	}
	if len(f) == 10 {
		if id.Continuation {
			return bad("a continuation that failed has no crash of its recovery")
		}
		if id.RecoveryPoint, err = strconv.Atoi(f[8]); err != nil || id.RecoveryPoint < 0 {
			return bad("the recovery's crash point must be a whole number >= 0")
		}
		id.RecoveryChoice = f[9]
	}
	return id, nil
}
