package sim

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard is one machine's share of an exploration that a batch system (a
// Kubernetes Indexed Job, a CI matrix) spreads over N machines: shard I of
// N, 0 <= I < N. The zero value, like any N of 1, is the whole exploration.
//
// Every shard runs the whole workload and builds and fingerprints every
// crash image of every crash point, so that each deduplicates exactly as
// one machine would; it then recovers and judges only its share of the
// distinct images: the u-th distinct image of the run, counting from 0,
// belongs to shard u mod N, which spreads each crash point's images over
// all the shards. So the shards of a run report the same crash points with
// the same counts, each violation they find is one the whole run judges
// too, and Merge turns their results into exactly the result of one
// machine. The price: building the images is not divided, only recovering
// them is, so a shard's speed-up over the whole run is bounded by the share
// of the run's time that recoveries take: four shards of the pool
// scenarios run 1.95 to 2.4 times as fast as one machine
// (docs/BENCHMARKS.md, "Sharded runs").
type Shard struct{ I, N int }

// ParseShard parses "i/n" with 0 <= i < n, and nothing else: "1/4x" or
// "1/4/8" is a typo, not shard 1/4.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, errI := strconv.Atoi(is)
	n, errN := strconv.Atoi(ns)
	if !ok || errI != nil || errN != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("%w: shard %q: want i/n with 0 <= i < n", ErrUsage, s)
	}
	return Shard{I: i, N: n}, nil
}

func (s Shard) String() string {
	if s.N <= 1 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// judges reports whether this shard recovers and judges the distinct image
// numbered image in the run (from 0): round robin, so that consecutive
// images, which cost about the same, go to different shards.
func (s Shard) judges(image int) bool { return s.N <= 1 || image%s.N == s.I }

// The environment variables of crashsim's own that ShardFromEnv reads.
const (
	// ShardVar holds the shard as "i/n", for a batch system that has no
	// variable of its own: a GitHub Actions matrix fills it in.
	ShardVar = "CRASHSIM_SHARD"
	// ShardsVar holds the number of shards where the batch system gives
	// only an index: a Kubernetes Job does not tell its pods its
	// completions.
	ShardsVar = "CRASHSIM_SHARDS"
)

// shardSources are the batch systems whose variables ShardFromEnv reads:
// the variable that gives a job its index, counting from base, and the one
// that gives the number of jobs ("" when the system does not say).
var shardSources = []struct {
	system       string
	index, count string
	base         int
}{
	{"Kubernetes Indexed Job", "JOB_COMPLETION_INDEX", "", 0},
	{"GitLab CI parallel", "CI_NODE_INDEX", "CI_NODE_TOTAL", 1},
	{"CircleCI parallelism", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0},
	{"Buildkite parallelism", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0},
}

// ShardFromEnv finds this machine's shard in the environment a batch system
// gave it; getenv looks a variable up (os.Getenv), an empty value being
// unset. It reads
//
//	CRASHSIM_SHARD=i/n                                  any batch system (a GitHub Actions matrix)
//	JOB_COMPLETION_INDEX=i and CRASHSIM_SHARDS=n        a Kubernetes Indexed Job (i from 0)
//	CI_NODE_INDEX=i+1 and CI_NODE_TOTAL=n               GitLab CI, parallel: (i from 1)
//	CIRCLE_NODE_INDEX=i and CIRCLE_NODE_TOTAL=n         CircleCI, parallelism:
//	BUILDKITE_PARALLEL_JOB=i and ..._JOB_COUNT=n        Buildkite, parallelism:
//
// count is the number of shards when the caller knows it (a flag), 0 when
// not; it stands in for CRASHSIM_SHARDS. A system that says it runs one job
// (CircleCI without parallelism still sets 0 of 1) splits nothing and
// gives way to one that does; with nothing else it means the whole run.
// Every other source that is set must give the same shard. Nothing found,
// a variable that is not a number in range, or two sources that disagree
// is an ErrUsage naming the variables.
func ShardFromEnv(getenv func(string) string, count int) (Shard, error) {
	if count < 0 {
		return Shard{}, fmt.Errorf("%w: %d shards", ErrUsage, count)
	}
	countFrom := fmt.Sprintf("%d shards given", count)
	if v := getenv(ShardsVar); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Shard{}, fmt.Errorf("%w: %s=%q: want the number of shards, at least 1", ErrUsage, ShardsVar, v)
		}
		if count > 0 && n != count {
			return Shard{}, fmt.Errorf("%w: %d shards given, but %s=%s", ErrUsage, count, ShardsVar, v)
		}
		count, countFrom = n, ShardsVar+"="+v
	}

	type found struct {
		sh   Shard
		from string // the variables, as name=value
	}
	var all []found
	if v := getenv(ShardVar); v != "" {
		sh, err := ParseShard(v)
		if err != nil {
			return Shard{}, fmt.Errorf("%w: %s=%q: want i/n with 0 <= i < n", ErrUsage, ShardVar, v)
		}
		all = append(all, found{sh, ShardVar + "=" + v})
	}
	for _, src := range shardSources {
		iv := getenv(src.index)
		if iv == "" {
			continue
		}
		from := src.index + "=" + iv
		n := count
		if src.count == "" {
			if count == 0 {
				return Shard{}, fmt.Errorf("%w: %s is set (%s), but not the number of shards, which it does not tell: set %s to the Job's completions",
					ErrUsage, from, src.system, ShardsVar)
			}
			from += ", " + countFrom
		} else {
			nv := getenv(src.count)
			var err error
			if n, err = strconv.Atoi(nv); err != nil || n < 1 {
				return Shard{}, fmt.Errorf("%w: %s is set (%s), but %s=%q is not a number of jobs", ErrUsage, from, src.system, src.count, nv)
			}
			from += ", " + src.count + "=" + nv
		}
		i, err := strconv.Atoi(iv)
		if err != nil || i < src.base || i >= n+src.base {
			return Shard{}, fmt.Errorf("%w: %s (%s): want an index from %d to %d", ErrUsage, from, src.system, src.base, n-1+src.base)
		}
		all = append(all, found{Shard{I: i - src.base, N: n}, from + " (" + src.system + ")"})
	}
	if len(all) == 0 {
		return Shard{}, fmt.Errorf("%w: no shard in the environment: set %s=i/n, or run as a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with %s), "+
			"a GitLab parallel job (CI_NODE_INDEX, CI_NODE_TOTAL), a CircleCI parallel job (CIRCLE_NODE_INDEX, CIRCLE_NODE_TOTAL) "+
			"or a Buildkite parallel job (BUILDKITE_PARALLEL_JOB, BUILDKITE_PARALLEL_JOB_COUNT)", ErrUsage, ShardVar, ShardsVar)
	}

	// A source that splits nothing gives way to one that splits.
	split := all[:0:0]
	for _, f := range all {
		if f.sh.N > 1 {
			split = append(split, f)
		}
	}
	if len(split) == 0 {
		split = all[:1]
	}
	sh := split[0].sh
	for _, f := range split[1:] {
		if f.sh != sh {
			var says []string
			for _, f := range split {
				says = append(says, fmt.Sprintf("%s says %v", f.from, f.sh))
			}
			return Shard{}, fmt.Errorf("%w: the environment gives different shards: %s", ErrUsage, strings.Join(says, "; "))
		}
	}
	if count > 0 && count != max(sh.N, 1) {
		return Shard{}, fmt.Errorf("%w: %s says %d shards, but %s", ErrUsage, split[0].from, max(sh.N, 1), countFrom)
	}
	if sh.N <= 1 {
		return Shard{}, nil
	}
	return sh, nil
}
