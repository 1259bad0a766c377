package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags returns a flag set for a verb whose --help prints the verb's
// usage line, what it does, and its flags (written with two dashes, as the
// README and the usage lines spell them; the flag package accepts both).
func newFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: crashsim %s %s\n\n%s\n", name, synopsis, about)
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
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
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

// flagsExit is the exit code of a failed parseFlags: help asked for is not
// an error; anything else is a usage error, already explained by the flag
// package on stderr together with the usage.
func flagsExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsageErr
}

// usageError reports a usage error of a verb and returns its exit code.
func usageError(stderr io.Writer, verb string, err error) int {
	fmt.Fprintf(stderr, "crashsim %s: %v\nRun 'crashsim %s --help' for usage.\n", verb, err, verb)
	return exitUsageErr
}
