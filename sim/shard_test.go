package sim

import (
	"errors"
	"strings"
	"testing"
)

// TestShardFromEnv: the shard of each batch system's environment, given as
// a map, never the process's own.
func TestShardFromEnv(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   map[string]string
		count int
		want  Shard
	}{
		{"crashsim", map[string]string{"CRASHSIM_SHARD": "2/4"}, 0, Shard{2, 4}},
		{"kubernetes, count given", map[string]string{"JOB_COMPLETION_INDEX": "3"}, 8, Shard{3, 8}},
		{"kubernetes, CRASHSIM_SHARDS", map[string]string{"JOB_COMPLETION_INDEX": "0", "CRASHSIM_SHARDS": "5"}, 0, Shard{0, 5}},
		{"kubernetes, both counts agree", map[string]string{"JOB_COMPLETION_INDEX": "4", "CRASHSIM_SHARDS": "5"}, 5, Shard{4, 5}},
		{"gitlab counts from 1", map[string]string{"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "3"}, 0, Shard{0, 3}},
		{"gitlab last", map[string]string{"CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "3"}, 0, Shard{2, 3}},
		{"circleci", map[string]string{"CIRCLE_NODE_INDEX": "1", "CIRCLE_NODE_TOTAL": "2"}, 0, Shard{1, 2}},
		{"buildkite", map[string]string{"BUILDKITE_PARALLEL_JOB": "6", "BUILDKITE_PARALLEL_JOB_COUNT": "7"}, 0, Shard{6, 7}},
		{"count given and agreeing", map[string]string{"CIRCLE_NODE_INDEX": "1", "CIRCLE_NODE_TOTAL": "2"}, 2, Shard{1, 2}},
		{"two sources agreeing", map[string]string{"CRASHSIM_SHARD": "1/3", "CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "3"}, 0, Shard{1, 3}},
		{"circleci without parallelism gives way", map[string]string{"CRASHSIM_SHARD": "1/4", "CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "1"}, 0, Shard{1, 4}},
		{"gitlab's lone total is no shard", map[string]string{"CRASHSIM_SHARD": "1/4", "CI_NODE_TOTAL": "1"}, 0, Shard{1, 4}},
		{"circleci without parallelism alone: the whole run", map[string]string{"CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "1"}, 0, Shard{}},
		{"one of one", map[string]string{"CRASHSIM_SHARD": "0/1"}, 0, Shard{}},
	} {
		got, err := ShardFromEnv(lookup(c.env), c.count)
		if err != nil || got != c.want {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

// TestShardFromEnvRefuses: nothing found, a value out of range or not a
// number, a count missing, and two sources that disagree are each an
// ErrUsage naming the variables.
func TestShardFromEnvRefuses(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   map[string]string
		count int
		want  string
	}{
		{"nothing", map[string]string{"HOME": "/root"}, 0, "no shard in the environment: set CRASHSIM_SHARD=i/n"},
		{"count without index", map[string]string{"CRASHSIM_SHARDS": "4"}, 4, "no shard in the environment"},
		{"bad crashsim shard", map[string]string{"CRASHSIM_SHARD": "4/4"}, 0, `CRASHSIM_SHARD="4/4": want i/n with 0 <= i < n`},
		{"kubernetes without count", map[string]string{"JOB_COMPLETION_INDEX": "1"}, 0, "JOB_COMPLETION_INDEX=1 is set (Kubernetes Indexed Job), but not the number of shards"},
		{"kubernetes index past count", map[string]string{"JOB_COMPLETION_INDEX": "8"}, 8, "JOB_COMPLETION_INDEX=8, 8 shards given (Kubernetes Indexed Job): want an index from 0 to 7"},
		{"bad CRASHSIM_SHARDS", map[string]string{"JOB_COMPLETION_INDEX": "1", "CRASHSIM_SHARDS": "zero"}, 0, `CRASHSIM_SHARDS="zero": want the number of shards`},
		{"counts disagree", map[string]string{"JOB_COMPLETION_INDEX": "1", "CRASHSIM_SHARDS": "4"}, 8, "8 shards given, but CRASHSIM_SHARDS=4"},
		{"gitlab index 0", map[string]string{"CI_NODE_INDEX": "0", "CI_NODE_TOTAL": "3"}, 0, "CI_NODE_INDEX=0, CI_NODE_TOTAL=3 (GitLab CI parallel): want an index from 1 to 3"},
		{"circleci without total", map[string]string{"CIRCLE_NODE_INDEX": "1"}, 0, `CIRCLE_NODE_INDEX=1 is set (CircleCI parallelism), but CIRCLE_NODE_TOTAL="" is not a number of jobs`},
		{"buildkite not a number", map[string]string{"BUILDKITE_PARALLEL_JOB": "x", "BUILDKITE_PARALLEL_JOB_COUNT": "2"}, 0, "want an index from 0 to 1"},
		{"sources disagree", map[string]string{"CRASHSIM_SHARD": "1/4", "CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "4"}, 0,
			"the environment gives different shards: CRASHSIM_SHARD=1/4 says 1/4; CI_NODE_INDEX=3, CI_NODE_TOTAL=4 (GitLab CI parallel) says 2/4"},
		{"count disagrees with the system", map[string]string{"CIRCLE_NODE_INDEX": "1", "CIRCLE_NODE_TOTAL": "2"}, 4, "(CircleCI parallelism) says 2 shards, but 4 shards given"},
		{"negative count", nil, -1, "-1 shards"},
	} {
		got, err := ShardFromEnv(lookup(c.env), c.count)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, %v; want ErrUsage saying %q", c.name, got, err, c.want)
		}
	}
}

func lookup(env map[string]string) func(string) string {
	return func(name string) string { return env[name] }
}
