package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/crashsim/crashsim/sim"
)

// ErrFormat is returned by ReadJSON when its input is not the JSON that
// JSON writes: not JSON, not results, or naming a fault model or strategy
// this build does not know.
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
	}
	return &c
}

// ReadJSON reads what JSON wrote: an array of results (a single result
// object is accepted too, as one tool may save one run). It restores the
// typed Fault and Strategy, which JSON carries only as their names.
func ReadJSON(r io.Reader) ([]*sim.Result, error) {
	dec := json.NewDecoder(r)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	// Anything after the value means the file is not what JSON wrote
	// (two runs concatenated, a truncated edit): refuse rather than
	// silently render half of it.
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("unexpected %v after the results", tok)
		}
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	var results []*sim.Result
	if string(raw) == "null" {
		return nil, fmt.Errorf("%w: null instead of a list of results", ErrFormat)
	}
	if raw[0] == '{' {
		var one sim.Result
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		results = []*sim.Result{&one}
	} else if err := json.Unmarshal(raw, &results); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
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
			return nil, fmt.Errorf("%w: result %d (%s): %v", ErrFormat, i, res.Scenario, err)
		}
		if res.Strategy, err = sim.ParseStrategy(res.StrategyName); err != nil {
			return nil, fmt.Errorf("%w: result %d (%s): %v", ErrFormat, i, res.Scenario, err)
		}
	}
	return results, nil
}
