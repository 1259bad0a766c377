// Command crashsim runs the crash laboratory from a terminal.
//
// Usage:
//
//	crashsim <verb> [flags] [args]
//
// Verbs:
//
//	demo   a tour of the storage layer and the simulated file system
//
// Every verb takes --help. The exit code is 0 on success, 1 when a check
// found a problem, 2 on a usage error.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// A verb is one subcommand; each lives in its own file.
type verb struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var verbs = map[string]verb{}

// Exit codes.
const (
	exitOK       = 0
	exitProblem  = 1
	exitUsageErr = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsageErr
		}
		return exitOK
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "crashsim: unknown verb %q\n\n", args[0])
		usage(stderr)
		return exitUsageErr
	}
	return v.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "crashsim: a crash laboratory for Go storage code\n\nusage: crashsim <verb> [flags] [args]\n\nverbs:")
	names := make([]string, 0, len(verbs))
	for name := range verbs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, verbs[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'crashsim <verb> --help' for a verb's flags.")
}
