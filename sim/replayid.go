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
//	scenario@workload:fault:strategy:seed:granularity:tail:point:choice[:rpoint:rchoice]
//
// where workload is the digest of the workload's run up to the crash
// point, 16 hex digits (see Workload); tail is "zero" or "garbage"
// (Options.Tail); choice is the faultfs choice key (prefix/sizes/data, e.g.
// 0/1/0,2), or "keep" for a process crash; and rpoint and rchoice name a
// crash inside the recovery of that state when Options.RecoveryCrashes
// found it. Scenario names cannot hold ':' or '@' (Scenario.Validate).
// An id without "@workload", as printed before digests existed, still
// parses and replays, unchecked.
type ReplayID struct {
	Scenario string
	// Workload is the digest of the workload's trace up to the crash point
	// (every operation and marker, and the bytes and values it stored); 0
	// means unknown, and is not checked. A rapid property runs one scenario
	// with many generated workloads: the digest says which of them the id
	// names, and a replay checks it.
	Workload    uint64
	Fault       Fault
	Strategy    Strategy
	Seed        uint64
	Granularity int
	GarbageTail bool
	Point       int
	Choice      string
	// RecoveryPoint is -1 unless the state is a crash of a recovery.
	RecoveryPoint  int
	RecoveryChoice string
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
	s := fmt.Sprintf("%s:%s:%s:%d:%d:%s:%d:%s", name, id.Fault, id.Strategy, id.Seed, id.Granularity, tail, id.Point, id.Choice)
	if id.RecoveryPoint >= 0 {
		s += fmt.Sprintf(":%d:%s", id.RecoveryPoint, id.RecoveryChoice)
	}
	return s
}

// Options returns the exploration options the id was found with.
func (id ReplayID) Options() Options {
	return Options{Fault: id.Fault, Strategy: id.Strategy, Seed: id.Seed, Granularity: id.Granularity, Tail: faultfs.Tail{Garbage: id.GarbageTail}}
}

// ParseReplayID parses the text form of a ReplayID.
func ParseReplayID(s string) (ReplayID, error) {
	bad := func(why string) (ReplayID, error) {
		return ReplayID{}, fmt.Errorf("%w: invalid replay id %q: %s", ErrUsage, s, why)
	}
	f := strings.Split(s, ":")
	if len(f) != 8 && len(f) != 10 {
		return bad("want scenario[@workload]:fault:strategy:seed:granularity:tail:point:choice[:rpoint:rchoice]")
	}
	id := ReplayID{Choice: f[7], RecoveryPoint: -1}
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
	if id.Seed, err = strconv.ParseUint(f[3], 10, 64); err != nil {
		return bad("the seed must be a whole number >= 0")
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
	if id.Point, err = strconv.Atoi(f[6]); err != nil || id.Point < 0 {
		return bad("the crash point must be a whole number >= 0")
	}
	if len(f) == 10 {
		if id.RecoveryPoint, err = strconv.Atoi(f[8]); err != nil || id.RecoveryPoint < 0 {
			return bad("the recovery's crash point must be a whole number >= 0")
		}
		id.RecoveryChoice = f[9]
	}
	return id, nil
}
