package doccheck

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// root is the module's root, seen from this package's directory.
const root = "../.."

// TestREADMEExamples checks that each Go block of README.md is preceded by
// a marker naming a test function and is what that function does.
func TestREADMEExamples(t *testing.T) {
	blocks := readmeBlocks(t)
	goBlocks := 0
	for _, b := range blocks {
		if b.lang != "go" {
			continue
		}
		goBlocks++
		if b.marker == "" {
			t.Errorf("README.md:%d: a Go block without a marker <!-- example: path/example_test.go Name --> before it", b.line)
			continue
		}
		f := strings.Fields(b.marker)
		if len(f) != 2 {
			t.Errorf("README.md:%d: marker %q: want a file and a function name", b.line, b.marker)
			continue
		}
		fns, err := exampleFuncs(filepath.Join(root, f[0]))
		if err != nil {
			t.Errorf("README.md:%d: %v", b.line, err)
			continue
		}
		fn, ok := fns[f[1]]
		if !ok {
			t.Errorf("README.md:%d: %s has no Example or Test function %s", b.line, f[0], f[1])
			continue
		}
		if missing, ok := contains(fn, b.lines); !ok {
			t.Errorf("README.md:%d: the block is not what %s %s does: no line %q there (in this order)", b.line, f[0], f[1], missing)
		}
	}
	if goBlocks == 0 {
		t.Error("README.md has no Go block: is the parser broken?")
	}
}

// TestPackageDocExamples checks that each Go block of the "# Usage" section
// of every doc.go is what some function of its package's example_test.go
// does.
func TestPackageDocExamples(t *testing.T) {
	checked := 0
	for _, docFile := range docFiles(t) {
		dir := filepath.Dir(docFile)
		rel, _ := filepath.Rel(root, docFile)
		blocks, err := usageBlocks(docFile)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if len(blocks) == 0 {
			continue
		}
		fns := map[string]string{}
		matches, _ := filepath.Glob(filepath.Join(dir, "example*_test.go"))
		for _, m := range matches {
			f, err := exampleFuncs(m)
			if err != nil {
				t.Errorf("%v", err)
			}
			for name, src := range f {
				fns[name] = src
			}
		}
		relDir, _ := filepath.Rel(root, dir)
		for _, b := range blocks {
			if !isGo(b) {
				if strings.Contains(b, ":=") || strings.Contains(b, "func") {
					t.Errorf("%s: a Usage block that looks like Go does not parse:\n%s", rel, b)
				}
				continue
			}
			checked++
			lines := strings.Split(b, "\n")
			first := strings.TrimSpace(lines[0])
			if len(fns) == 0 {
				t.Errorf("%s: the Usage block starting %q has no example: %s has no example_test.go with an Example or Test function", rel, first, relDir)
				continue
			}
			// Report the function that comes closest: the most lines matched.
			bestName, bestMissing, bestMatched := "", "", -1
			for _, name := range slices.Sorted(maps.Keys(fns)) {
				matched, missing := match(fns[name], lines)
				if missing == "" {
					bestName, bestMissing = name, ""
					break
				}
				if matched > bestMatched {
					bestName, bestMissing, bestMatched = name, missing, matched
				}
			}
			if bestMissing != "" {
				t.Errorf("%s: the Usage block starting %q is what no function of %s/example_test.go does: the closest, %s, has no line %q (in this order)", rel, first, relDir, bestName, bestMissing)
			}
		}
	}
	if checked == 0 {
		t.Error("no Go block found in any doc.go: is the parser broken?")
	}
}

// TestREADMEMakeTargets checks that every `make X` of README.md is a target
// of the Makefile.
func TestREADMEMakeTargets(t *testing.T) {
	readme := readFile(t, "README.md")
	makefile := readFile(t, "Makefile")
	for _, m := range regexp.MustCompile("`make ([a-z][a-z-]*)").FindAllStringSubmatch(readme, -1) {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `:`).MatchString(makefile) {
			t.Errorf("README.md names `make %s`, which the Makefile does not have", m[1])
		}
	}
	for _, b := range readmeBlocks(t) {
		for _, l := range b.lines {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "make" {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(f[1]) + `:`).MatchString(makefile) {
					t.Errorf("README.md:%d runs `make %s`, which the Makefile does not have", b.line, f[1])
				}
			}
		}
	}
}

// TestREADMEFlags checks that every --flag that README.md gives the
// crashsim command is defined by one of its verbs.
func TestREADMEFlags(t *testing.T) {
	readme := readFile(t, "README.md")
	var src strings.Builder
	files, _ := filepath.Glob(filepath.Join(root, "cmd/crashsim/*.go"))
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			b, _ := os.ReadFile(f)
			src.Write(b)
		}
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:^|[\s\x60(])--([a-z][a-z-]*)`).FindAllStringSubmatch(readme, -1) {
		name := m[1]
		if seen[name] || name == "help" {
			continue
		}
		seen[name] = true
		if !strings.Contains(src.String(), `"`+name+`"`) {
			t.Errorf("README.md names the flag --%s, which no verb of cmd/crashsim defines", name)
		}
	}
	if len(seen) == 0 {
		t.Error("README.md names no flag: is the pattern broken?")
	}
}

// TestLinks checks that the relative links of README.md and docs/*.md, and
// the docs/*.md files that Go comments cite, exist.
func TestLinks(t *testing.T) {
	mds, _ := filepath.Glob(filepath.Join(root, "docs/*.md"))
	mds = append(mds, filepath.Join(root, "README.md"))
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	for _, md := range mds {
		b, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, md)
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(md), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel, target)
			}
		}
	}
	cite := regexp.MustCompile(`docs/[A-Za-z_-]+\.md`)
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, c := range cite.FindAllString(string(b), -1) {
			if _, err := os.Stat(filepath.Join(root, c)); err != nil {
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s cites %s, which does not exist", rel, c)
			}
		}
		return nil
	})
}

// A block is a fenced code block of README.md.
type block struct {
	lang   string
	marker string // the text of an <!-- example: … --> just before it
	line   int    // of the opening fence
	lines  []string
}

var markerRE = regexp.MustCompile(`^<!--\s*example:\s*(.*?)\s*-->$`)

func readmeBlocks(t *testing.T) []block {
	t.Helper()
	var blocks []block
	var cur *block
	marker := ""
	sc := bufio.NewScanner(strings.NewReader(readFile(t, "README.md")))
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{lang: strings.TrimPrefix(l, "```"), marker: marker, line: n}
		case cur != nil && strings.HasPrefix(l, "```"):
			blocks = append(blocks, *cur)
			cur, marker = nil, ""
		case cur != nil:
			cur.lines = append(cur.lines, l)
		default:
			if m := markerRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
				marker = m[1]
			} else if strings.TrimSpace(l) != "" {
				marker = ""
			}
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: a code block is not closed", cur.line)
	}
	return blocks
}

// docFiles returns the doc.go files of the module, without the modules
// nested in it (bench has its own go.mod).
func docFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		if !d.IsDir() && d.Name() == "doc.go" {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// usageBlocks returns the code blocks of the "# Usage" section of the
// package comment in the Go file name.
func usageBlocks(name string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		return nil, err
	}
	if f.Doc == nil {
		return nil, nil
	}
	var p comment.Parser
	d := p.Parse(f.Doc.Text())
	var out []string
	inUsage := false
	for _, b := range d.Content {
		switch b := b.(type) {
		case *comment.Heading:
			inUsage = headingText(b) == "Usage"
		case *comment.Code:
			if inUsage {
				out = append(out, b.Text)
			}
		}
	}
	return out, nil
}

func headingText(h *comment.Heading) string {
	var b strings.Builder
	for _, t := range h.Text {
		if p, ok := t.(comment.Plain); ok {
			b.WriteString(string(p))
		}
	}
	return b.String()
}

// isGo reports whether a block, its elided lines removed, parses as Go
// declarations or statements.
func isGo(src string) bool {
	var kept []string
	for _, l := range strings.Split(src, "\n") {
		if !elided(l) {
			kept = append(kept, l)
		}
	}
	body := strings.Join(kept, "\n")
	fset := token.NewFileSet()
	if _, err := parser.ParseFile(fset, "", "package p\n"+body, 0); err == nil {
		return true
	}
	_, err := parser.ParseFile(fset, "", "package p\nfunc _() {\n"+body+"\n}\n", 0)
	return err == nil
}

// exampleFuncs returns the source of each Example or Test function of the
// Go file name.
func exampleFuncs(name string) (map[string]string, error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, 0)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || !(strings.HasPrefix(fn.Name.Name, "Example") || strings.HasPrefix(fn.Name.Name, "Test")) {
			continue
		}
		out[fn.Name.Name] = string(src[fset.Position(fn.Pos()).Offset:fset.Position(fn.End()).Offset])
	}
	return out, nil
}

// contains reports whether the lines of a block that are not elided appear
// in src in order, token by token; if not, it returns the first that does
// not.
func contains(src string, lines []string) (missing string, ok bool) {
	_, missing = match(src, lines)
	return missing, missing == ""
}

// match returns how many of the lines of a block that are not elided
// appear in src in order, token by token, and the first that does not
// ("" if all do).
func match(src string, lines []string) (matched int, missing string) {
	have := tokenLines(src)
	i := 0
	for _, l := range lines {
		if elided(l) {
			continue
		}
		want := tokens(l)
		if want == "" {
			continue
		}
		for i < len(have) && have[i] != want {
			i++
		}
		if i == len(have) {
			return matched, strings.TrimSpace(l)
		}
		i++
		matched++
	}
	return matched, ""
}

var ellipsisRE = regexp.MustCompile(`(^|\s)\.\.\.(\s|$)`)

// elided reports whether a line of an example stands for code left out.
func elided(l string) bool {
	return strings.Contains(l, "…") || ellipsisRE.MatchString(l)
}

// tokens returns the Go tokens of one line, comments left out, separated by
// spaces.
func tokens(line string) string {
	lines := tokenLines(line)
	return strings.Join(lines, " ")
}

// tokenLines returns, for each line of src that has Go tokens other than
// comments, those tokens separated by spaces.
func tokenLines(src string) []string {
	fset := token.NewFileSet()
	file := fset.AddFile("", -1, len(src))
	var s scanner.Scanner
	s.Init(file, []byte(src), func(token.Position, string) {}, 0)
	var out []string
	var cur bytes.Buffer
	curLine := 0
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.SEMICOLON && lit == "\n" {
			continue
		}
		line := fset.Position(pos).Line
		if line != curLine && cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
		curLine = line
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		if lit != "" {
			cur.WriteString(lit)
		} else {
			cur.WriteString(tok.String())
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMatch(t *testing.T) {
	src := `func Example() {
	w, err := open("x") // a comment
	if err != nil {
		log.Fatal(err)
	}
	out := append(a, b...)
	fmt.Println(w,   out)
}`
	for _, c := range []struct {
		block   string
		missing string
	}{
		{"w, err := open(\"x\")\nfmt.Println(w, out)", ""},
		{"w,err:=open(\"x\")   // other words\n…\nfmt.Println(w, out)", ""},
		{"w, err := open(\"x\")\n\t...\n\tfmt.Println(w, out)", ""},
		{"if err != nil { ... }\nout := append(a, b...)", ""},
		{"out := append(a, b...)", ""},
		{"fmt.Println(w, out)\nw, err := open(\"x\")", `w, err := open("x")`},
		{"w, err := open(\"y\")", `w, err := open("y")`},
	} {
		_, missing := match(src, strings.Split(c.block, "\n"))
		if missing != c.missing {
			t.Errorf("match(%q) = missing %q, want %q", c.block, missing, c.missing)
		}
	}
}

func TestIsGo(t *testing.T) {
	for src, want := range map[string]bool{
		"x := f()\n...\ny := g(x)":               true,
		"type T struct{}\nfunc F() {}":           true,
		"type T struct{}\nv, err := tx.New[T]()": true,
		"crashsim run 'pmem-*' --fault power":    false,
		"go test ./... -run '^TestX$'":           false,
	} {
		if got := isGo(src); got != want {
			t.Errorf("isGo(%q) = %v, want %v", src, got, want)
		}
	}
}
