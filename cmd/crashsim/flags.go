package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/crashsim/crashsim/sim"
)

// newFlags returns a flag set for a verb whose --help prints the verb's
// usage line, what it does, and its flags (written with two dashes, as the
// README and the usage lines spell them; the flag package accepts both).
// Any other mistake parseFlags says in one line.
func newFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		usageLine := "usage: crashsim " + name
		if synopsis != "" {
			usageLine += " " + synopsis
		}
		fmt.Fprintf(stderr, "%s\n\n%s\n", usageLine, about)
		var b strings.Builder
		fs.VisitAll(func(f *flag.Flag) {
			typ, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(&b, "  --%s", f.Name)
			if typ != "" {
				fmt.Fprintf(&b, " %s", typ)
			}
			fmt.Fprintf(&b, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
				fmt.Fprintf(&b, " (default %s)", f.DefValue)
			}
			b.WriteString("\n")
		})
		if b.Len() > 0 {
			fmt.Fprintf(stderr, "\nflags:\n%s", b.String())
		}
	}
	return fs
}

// parseFlags parses args with the flags anywhere among the positional
// arguments — `crashsim run 'pmem-*' --fault power` reads naturally, and the
// flag package alone stops at the first positional one. After "--" every
// argument is positional. It returns the positional arguments in order.
//
// On --help it prints the verb's help. On any other mistake it says in one
// line on the flag set's output what was wrong and where the help is: the
// flag package would print its own message followed by the whole usage,
// which buries the one line that matters.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	stderr, help := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	defer func() { fs.SetOutput(stderr); fs.Usage = help }()

	positional, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		help()
	case err != nil:
		sayUsage(stderr, flagMistake(fs, err), helpHint(fs.Name()))
	}
	return positional, err
}

func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := args[:len(args)-len(rest)]
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// invalidFlagValue matches the flag package's message for a value it
// could not parse: the value (quoted), the flag's name, and why.
var invalidFlagValue = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-([^\s:]+): (.*)$`)

// flagMistake rewrites a parse error of the flag package for a user: flags
// spelled with two dashes as everywhere else, and for a value that does
// not parse, what the flag wants. An error it does not know is kept as is.
func flagMistake(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + strings.TrimPrefix(name, "-")
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag --" + strings.TrimPrefix(name, "-") + " needs a value"
	}
	if m := invalidFlagValue.FindStringSubmatch(msg); m != nil {
		value, name, why := m[1], m[2], m[3]
		if f := fs.Lookup(name); f != nil && why == "parse error" {
			why = "want " + flagWants(f)
		}
		return fmt.Sprintf("invalid --%s %s: %s", name, value, why)
	}
	if arg, ok := strings.CutPrefix(msg, "bad flag syntax: "); ok {
		return fmt.Sprintf("bad flag syntax %q", arg)
	}
	return msg
}

// flagWants says what a flag of the flag package's own types accepts.
func flagWants(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "another value"
	}
	switch g.Get().(type) {
	case bool:
		return "true or false"
	case int, int64:
		return "a whole number"
	case uint, uint64:
		return "a whole number, 0 or more"
	case time.Duration:
		return "a duration such as 90s or 2m"
	case float64:
		return "a number"
	}
	return "another value"
}

// flagsExit is the exit code of a failed parseFlags, which has already
// said what failed: help asked for is not an error; anything else is a
// usage error.
func flagsExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsageErr
}

// usageError says in one line what was wrong with a verb's arguments and
// where its help is, and returns the exit code of a usage error.
func usageError(stderr io.Writer, verb string, err error) int {
	return sayUsage(stderr, reason(err, sim.ErrUsage), helpHint(verb))
}

// sayUsage writes a usage error, what was wrong and what to read or run
// about it, and returns its exit code.
func sayUsage(stderr io.Writer, what, hint string) int {
	fmt.Fprintf(stderr, "crashsim: %s; %s\n", what, hint)
	return exitUsageErr
}

func helpHint(verb string) string {
	return "see 'crashsim " + verb + " --help'"
}

// reason is err's message without the class its package puts first, as
// sim does ("sim: usage: …"): the class is for code to test with
// errors.Is; a user reads what follows, which the CLI puts in its own
// words.
func reason(err, class error) string {
	if errors.Is(err, class) {
		return strings.TrimPrefix(err.Error(), class.Error()+": ")
	}
	return err.Error()
}

// nonNegative is a numeric flag that cannot be negative, and what its 0
// means.
type nonNegative struct {
	name  string
	value int64
	zero  string
}

// checkNonNegative refuses the first flag with a negative value, naming
// it and what 0 means.
func checkNonNegative(flags ...nonNegative) error {
	for _, f := range flags {
		if f.value < 0 {
			return fmt.Errorf("--%s cannot be negative (0 means %s)", f.name, f.zero)
		}
	}
	return nil
}

// oneOf lists the values an enumerated flag accepts, for its error
// message: "a, b or c".
func oneOf(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}
