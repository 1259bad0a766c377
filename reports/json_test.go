package reports

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/sim"
)

func TestJSONRoundTrip(t *testing.T) {
	in := fixture()
	var b bytes.Buffer
	if err := JSON(&b, append(in, nil)); err != nil {
		t.Fatal(err)
	}
	out, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d results, wrote %d", len(out), len(in))
	}
	for i := range in {
		want := normalized(in[i])
		if !reflect.DeepEqual(out[i], want) {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, out[i], want)
		}
	}
	if in[0].Violations != nil {
		t.Error("JSON changed the caller's result")
	}
}

// TestJSONStable pins the field order and the spelling CI scripts read.
func TestJSONStable(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, fixture()[:1]); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	order := []string{`"scenario": "wal"`, `"buggy": false`, `"fault": "process"`, `"strategy": "keep-all"`, `"profile": ""`, `"seed": 0`, `"max_states": 0`, `"shard": "all"`,
		`"crash_points": 5`, `"states": 5`, `"states_exact": true`, `"explored": 5`, `"unique": 5`, `"recoveries": 5`,
		`"violations": []`, `"points": [`, `"elapsed_ns": 1500000`}
	last := -1
	for _, s := range order {
		i := strings.Index(out, s)
		if i < 0 {
			t.Fatalf("JSON lacks %s:\n%s", s, out)
		}
		if i < last {
			t.Errorf("%s out of order:\n%s", s, out)
		}
		last = i
	}
	if !strings.HasPrefix(out, "[\n  {\n    \"scenario\"") {
		t.Errorf("not an indented array:\n%s", out)
	}
	// An explorer's result holds an empty list, not nil: [] too.
	empty := *fixture()[0]
	empty.Violations = []sim.Violation{}
	b.Reset()
	if err := JSON(&b, []*sim.Result{&empty}); err != nil || !strings.Contains(b.String(), `"violations": [],`) {
		t.Errorf("no violations written as %q, %v; want []", b.String(), err)
	}
	b.Reset()
	if err := JSON(&b, nil); err != nil || b.String() != "[]\n" {
		t.Errorf("no results: %q, %v; want []", b.String(), err)
	}
}

func TestReadJSONOne(t *testing.T) {
	rs, err := ReadJSON(strings.NewReader(`{"scenario":"wal","fault":"power","strategy":"prefixes"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Fault != sim.PowerFailure || rs[0].Strategy != sim.Prefixes {
		t.Errorf("got %+v", rs)
	}
}

// TestReadJSONMalformed: whatever is wrong with a file is an ErrFormat
// that says so in a person's words (the CLI prints it).
func TestReadJSONMalformed(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{``, "the file is empty"},
		{`not json`, "not JSON (invalid character"},
		{`null`, "null instead of a list of results"},
		{`[null]`, "result 0 is null"},
		{`42`, "a number instead of a list of results"},
		{`[1]`, "a JSON number where a result belongs"},
		{`[{"scenario":"wal","fault":"power","strategy":"subsets"}`, "not JSON (unexpected EOF)"},
		{`[{"scenario":"wal","fault":"power","strategy":"subsets"}] []`, "more JSON after the list of results"},
		{`[{"scenario":"wal","fault":"meteor","strategy":"subsets"}]`, `result 0 (wal): unknown fault model "meteor"`},
		{`[{"scenario":"wal","fault":"power","strategy":"random"}]`, `result 0 (wal): unknown strategy "random"`},
		{`[{"scenario":"wal","fault":"power"}]`, "result 0 (wal): no strategy"},
		{`[{"scenario":"wal","fault":"power","strategy":"subsets","profile":"ext3"}]`, `result 0 (wal): unknown profile "ext3"`},
		{`[{"fault":"power","strategy":"subsets"}]`, "result 0 names no scenario"},
		{`[{"scenario":"wal","fault":"power","strategy":"subsets","crash_points":"many"}]`, "field crash_points: want a number, found a JSON string"},
	} {
		rs, err := ReadJSON(strings.NewReader(c.in))
		if !errors.Is(err, ErrFormat) || rs != nil {
			t.Errorf("ReadJSON(%q) = %v, %v; want ErrFormat", c.in, rs, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), ErrFormat.Error()+": "+c.want) {
			t.Errorf("ReadJSON(%q): %q, want it to say %q", c.in, err, c.want)
		}
		if strings.Contains(err.Error(), "sim.") || strings.Contains(err.Error(), "sim: ") {
			t.Errorf("ReadJSON(%q): %q names Go's types or sim's errors", c.in, err)
		}
	}
}

func FuzzReadJSON(f *testing.F) {
	var b bytes.Buffer
	if err := JSON(&b, fixture()); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"scenario":"x","fault":"f1","strategy":"subsets"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ReadJSON(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error of the wrong class: %v", err)
			}
			return
		}
		// Whatever reads must render.
		var out bytes.Buffer
		if err := Table(&out, rs); err != nil {
			t.Fatal(err)
		}
		if err := Violations(&out, rs, -1); err != nil {
			t.Fatal(err)
		}
		if err := HTML(&out, rs); err != nil {
			t.Fatal(err)
		}
	})
}
