package sim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Scheduler is a strategy for choosing which thread runs after each
// scheduling point (Options.Scheduler).
type Scheduler int

const (
	// RandomScheduler gives the turn, at each scheduling point, to one of
	// the threads that may run, drawn uniformly from the schedule's seed.
	RandomScheduler Scheduler = iota + 1
	// PCTScheduler is probabilistic concurrency testing (Burckhardt,
	// Kothari, Musuvathi and Nagarakatte, ASPLOS 2010): each thread gets a
	// random priority, the highest-priority thread that may run runs, and
	// at d-1 steps drawn uniformly from the first k the running thread's
	// priority drops below every other's. A schedule finds a bug of depth
	// d — one that needs d orderings between the threads' steps — with
	// probability at least 1/(n·k^(d-1)) for n threads and k steps
	// (Result.PCTChance). k is the number of steps of the workload under
	// the first schedule of RandomScheduler, measured by running it once
	// before the exploration.
	PCTScheduler
)

func (s Scheduler) String() string {
	switch s {
	case RandomScheduler:
		return "random"
	case PCTScheduler:
		return "pct"
	}
	return "Scheduler(" + strconv.Itoa(int(s)) + ")"
}

// ParseScheduler parses "random" or "pct".
func ParseScheduler(s string) (Scheduler, error) {
	switch strings.ToLower(s) {
	case "random":
		return RandomScheduler, nil
	case "pct":
		return PCTScheduler, nil
	}
	return 0, fmt.Errorf("%w: unknown scheduler %q (want random or pct)", ErrUsage, s)
}

// scheduleSeed is the seed of schedule i's choices.
func scheduleSeed(seed uint64, i int) uint64 { return mix(seed, 0x5c4ed<<32|uint64(i)) }

// pointBase is the base of the seeds of everything random at the crash
// points of schedule i: the run's own for the first schedule, so that a
// workload of one thread explores as it always did.
func pointBase(seed uint64, i int) uint64 {
	if i == 0 {
		return seed
	}
	return mix(seed, uint64(i))
}

// PCTChance is the probability, by PCT's bound, that one schedule finds a
// bug of the run's depth: 1/(n·k^(d-1)) for the most threads n and the
// steps k the run saw; 0 when the run did not use PCTScheduler.
func (r *Result) PCTChance() float64 {
	if r.Scheduler != PCTScheduler.String() || r.Threads == 0 {
		return 0
	}
	return 1 / (float64(r.Threads) * math.Pow(float64(max(r.Steps, 1)), float64(r.Depth-1)))
}

// seedField is a replay id's seed field: the seed, then the schedule's
// strategy, bound and number where they are not the defaults (random, no
// bound, the first schedule), each as a "+" token: "7", "7+pct3+s12",
// "7+b16+s2".
func (id ReplayID) seedField() string {
	s := strconv.FormatUint(id.Seed, 10)
	if id.Scheduler == PCTScheduler {
		s += "+pct" + strconv.Itoa(id.Depth)
	}
	if id.Switches > 0 {
		s += "+b" + strconv.Itoa(id.Switches)
	}
	if id.Schedule > 0 {
		s += "+s" + strconv.Itoa(id.Schedule)
	}
	return s
}

// parseSeedField parses what seedField writes into id.
func (id *ReplayID) parseSeedField(f string) error {
	tokens := strings.Split(f, "+")
	var err error
	if id.Seed, err = strconv.ParseUint(tokens[0], 10, 64); err != nil {
		return fmt.Errorf("the seed must be a whole number >= 0")
	}
	id.Scheduler = RandomScheduler
	for _, tok := range tokens[1:] {
		var n int
		var err error
		switch {
		case strings.HasPrefix(tok, "pct"):
			id.Scheduler = PCTScheduler
			n, err = strconv.Atoi(tok[3:])
			id.Depth = n
		case strings.HasPrefix(tok, "b"):
			n, err = strconv.Atoi(tok[1:])
			id.Switches = n
		case strings.HasPrefix(tok, "s"):
			n, err = strconv.Atoi(tok[1:])
			id.Schedule = n
		default:
			return fmt.Errorf("unknown schedule token %q after the seed (want pct<depth>, b<switches> or s<schedule>)", tok)
		}
		if err != nil || n <= 0 {
			return fmt.Errorf("schedule token %q: want a whole number > 0 after its letters", tok)
		}
	}
	return nil
}
