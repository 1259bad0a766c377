// Package doccheck keeps the documentation true: its tests fail when an
// example in README.md or in a package's doc.go is no longer what a
// compiled, tested Example (or test) of the repository does, when the
// README names a make target or a crashsim flag that does not exist, or
// when a document links to a file that is not there.
//
// # Usage
//
// Run with the other tests (make test). In README.md, put before each Go
// code block a comment naming the function of an example_test.go file that
// does what the block shows:
//
//	<!-- example: engine/wal/example_test.go Example -->
//
// Elide with a line of "…" or "...". The package docs need no marker: each
// Go code block of a doc.go's "# Usage" section must be what some function
// of that package's example_test.go does.
//
// # Implementation notes
//
// A block corresponds to a function when every line of the block that is
// not elided appears in the function's source, in the same order, compared
// token by token with go/scanner: spacing and comments do not count, and
// the function may have lines the block leaves out (error checks, setup,
// output). A line is elided when it holds "…", or "..." standing alone as
// a word (not a variadic call such as append(a, b...)).
//
// A doc.go code block is Go when it parses as declarations or as the body
// of a function; a block that holds ":=" or "func" and parses as neither
// is an error, so that a broken Go example is not mistaken for a shell
// command and skipped.
package doccheck
