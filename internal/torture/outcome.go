package torture

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Class is the outcome of one corrupt input given to one reader.
type Class int

// The classes, in the order the report shows them. The first three are
// what a reader may do with damaged bytes; the others are anomalies.
const (
	// Typed: the reader returned an error wrapping its package's sentinel
	// for damage (ErrCorrupt, ErrCheck, ...).
	Typed Class = iota
	// Correct: the reader returned exactly what was written (the damage
	// fell where nothing reads, or was repaired).
	Correct
	// Prefix: a best-effort reader returned a prefix of what was written,
	// where its package documents that it may.
	Prefix
	// WrongError: an error that does not say damage — no sentinel of the
	// package, or one of another class (ErrVersion for a flipped bit that
	// a checksum covers).
	WrongError
	// SilentWrong: no error, and data that is not an allowed answer.
	SilentWrong
	// Panic: the reader panicked.
	Panic
	// Hang: the reader did not return within the time allowed an input.
	Hang

	numClasses
)

var classNames = [numClasses]string{"typed error", "correct", "documented prefix", "wrong error", "silent wrong", "panic", "hang"}

func (c Class) String() string {
	if c >= 0 && c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Anomaly reports whether the class is one the harness fails on.
func (c Class) Anomaly() bool { return c >= WrongError }

// MarshalText writes the class's name, so JSON reports read.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a class's name.
func (c *Class) UnmarshalText(b []byte) error {
	for i, n := range classNames {
		if n == string(b) {
			*c = Class(i)
			return nil
		}
	}
	return fmt.Errorf("torture: unknown outcome class %q", b)
}

// Counts are how many inputs fell in each class.
type Counts [numClasses]int

// Total is the number of outcomes counted.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Anomalies is how many outcomes are anomalies.
func (c Counts) Anomalies() int {
	n := 0
	for k := WrongError; k < numClasses; k++ {
		n += c[k]
	}
	return n
}

// Add adds other's counts to c.
func (c *Counts) Add(other Counts) {
	for i, v := range other {
		c[i] += v
	}
}

// MarshalJSON writes the counts as an object keyed by class name.
func (c Counts) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%d", classNames[i], v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Counts) UnmarshalJSON(b []byte) error {
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, v := range m {
		var cl Class
		if err := cl.UnmarshalText([]byte(k)); err != nil {
			return err
		}
		c[cl] = v
	}
	return nil
}
