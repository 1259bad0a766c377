package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/sim"
)

// ErrFormat is returned by ReadJSON when its input is not the JSON that
// JSON writes: not JSON, not results, or naming a fault model, strategy or
// profile this build does not know.
var ErrFormat = errors.New("reports: not a crashsim results file")

// JSON writes the results as one indented JSON array, for CI and for
// `crashsim report` to render again. Fields come in the order of sim.Result's
// declaration, and absent lists are written as [] rather than null, so a
// consumer never has to tell the two apart.
func JSON(w io.Writer, results []*sim.Result) error {
	out := make([]*sim.Result, 0, len(results))
	for _, r := range results {
		if r == nil {
			continue
		}
		out = append(out, normalized(r))
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("reports: json: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// normalized returns a copy of r whose nil lists are empty; r itself is
// the caller's and is not changed.
func normalized(r *sim.Result) *sim.Result {
	c := *r
	// A copy of an empty list appended to nil would be nil again, and
	// written as null.
	c.Violations = make([]sim.Violation, len(r.Violations))
	copy(c.Violations, r.Violations)
	for i := range c.Violations {
		v := &c.Violations[i]
		if v.Kept == nil {
			v.Kept = []sim.Unit{}
		}
		if v.Lost == nil {
			v.Lost = []sim.Unit{}
		}
		if v.Excerpt == nil {
			v.Excerpt = []sim.Event{}
		}
		if v.BreaksOn == nil {
			v.BreaksOn = []string{}
		}
		if v.NotOn == nil {
			v.NotOn = []string{}
		}
		v.Chain = append([]sim.Crash(nil), v.Chain...)
		for j := range v.Chain {
			if v.Chain[j].Excerpt == nil {
				v.Chain[j].Excerpt = []sim.Event{}
			}
		}
	}
	return &c
}

// ReadJSON reads what JSON wrote: an array of results (a single result
// object is accepted too, as one tool may save one run). It restores the
// typed Fault and Strategy, which JSON carries only as their names. An
// error wraps ErrFormat and says what is wrong in words a person who
// opened the wrong file understands.
func ReadJSON(r io.Reader) ([]*sim.Result, error) {
	dec := json.NewDecoder(r)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: the file is empty", ErrFormat)
		}
		return nil, fmt.Errorf("%w: not JSON (%v)", ErrFormat, err)
	}
	// Anything after the value means the file is not what JSON wrote
	// (two runs concatenated, a truncated edit): refuse rather than
	// silently render half of it.
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			return nil, fmt.Errorf("%w: more JSON after the list of results (%v)", ErrFormat, tok)
		}
		return nil, fmt.Errorf("%w: not JSON after the list of results (%v)", ErrFormat, err)
	}
	var results []*sim.Result
	switch raw[0] {
	case '{':
		var one sim.Result
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrFormat, typeMistake(err))
		}
		results = []*sim.Result{&one}
	case '[':
		if err := json.Unmarshal(raw, &results); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrFormat, typeMistake(err))
		}
	default:
		return nil, fmt.Errorf("%w: %s instead of a list of results", ErrFormat, jsonKind(raw))
	}
	for i, res := range results {
		if res == nil {
			return nil, fmt.Errorf("%w: result %d is null", ErrFormat, i)
		}
		if res.Scenario == "" {
			return nil, fmt.Errorf("%w: result %d names no scenario", ErrFormat, i)
		}
		var err error
		if res.Fault, err = sim.ParseFault(res.FaultName); err != nil {
			return nil, fmt.Errorf("%w: result %d (%s): %s", ErrFormat, i, res.Scenario, unknown("fault model", res.FaultName))
		}
		if res.Strategy, err = sim.ParseStrategy(res.StrategyName); err != nil {
			return nil, fmt.Errorf("%w: result %d (%s): %s", ErrFormat, i, res.Scenario, unknown("strategy", res.StrategyName))
		}
		// No profile: a result written before profiles.
		if _, ok := faultfs.ProfileNamed(res.Profile); res.Profile != "" && !ok {
			return nil, fmt.Errorf("%w: result %d (%s): %s", ErrFormat, i, res.Scenario, unknown("profile", res.Profile))
		}
	}
	return results, nil
}

func unknown(what, name string) string {
	if name == "" {
		return "no " + what
	}
	return fmt.Sprintf("unknown %s %q", what, name)
}

// typeMistake says where a JSON value has the wrong type, in JSON's terms
// rather than the Go types json.Unmarshal names.
func typeMistake(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	if te.Field == "" {
		return fmt.Sprintf("a JSON %s where a result belongs", te.Value)
	}
	want := "an object"
	switch te.Type.Kind() {
	case reflect.Bool:
		return fmt.Sprintf("field %s: want true or false, found a JSON %s", te.Field, te.Value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.String:
		want = "a string"
	case reflect.Slice, reflect.Array:
		want = "a list"
	}
	return fmt.Sprintf("field %s: want %s, found a JSON %s", te.Field, want, te.Value)
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
