package main

import (
	"bytes"
	"cmp"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"chatlab/grader/course"

	"golang.org/x/tools/imports"
)

// The scaffolding levels (make handout SCAFFOLD=...).
const (
	// Guided leaves the design given: the student writes the marked
	// regions, //lab:begin ... //lab:end.
	Guided = "guided"
	// Outline leaves the design to the student too: each //outline:begin
	// ... //outline:end region (a whole function body, with the guided
	// regions inside it) becomes its stub, and only the plumbing is given.
	Outline = "outline"
)

// A task is one region a student writes: where it is, what its TODO asks,
// and the stub that stands for it in the skeleton.
type task struct {
	lab   string  // "lab2"
	order float64 // its place in the lab: the order a running program reaches it
	file  string  // relative to the labs folder
	fn    string  // the function it is in
	todo  string  // the TODO comment's text, without "TODO(labN):"
	stub  string  // the todo.Missing call that stands for it
	// filled: -fill kept its reference code (not the student's here).
	filled bool
}

// missingRE matches a stub's call, whose lab must be its region's: Go's
// todo.Missing, or C's todo_missing (labs/c/todo.h).
var missingRE = regexp.MustCompile(`^(?:todo\.Missing\("(lab[0-9]+)", "([^"]+)"\)|todo_missing\("(lab[0-9]+)", "([^"]+)"\);)$`)

// missing returns the lab and the what of a stub's call, if line is one.
func missing(line string) (lab, what string, ok bool) {
	m := missingRE.FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	if m[1] != "" {
		return m[1], m[2], true
	}
	return m[3], m[4], true
}

// isC reports whether a solution file is of the C track.
func isC(rel string) bool { return strings.HasSuffix(rel, ".c") || strings.HasSuffix(rel, ".h") }

// cFuncRE matches the first line of a C function definition, at column 0:
// "static int dial(const char *host, ...) {".
var cFuncRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_ \t\*]*?\b([A-Za-z_][A-Za-z0-9_]*)\s*\(([^;]*|.*\)\s*\{.*)$`)

// funcAt returns the name of the function whose definition starts at line,
// in Go or C, if it is one.
func funcAt(line string) (string, bool) {
	if strings.HasPrefix(line, "func ") {
		return funcName(line), true
	}
	if m := cFuncRE.FindStringSubmatch(line); m != nil && !strings.HasPrefix(line, "typedef") && !strings.HasPrefix(line, "struct") && !strings.HasPrefix(line, "return") {
		return m[1], true
	}
	return "", false
}

// A region of one file, as the generator reads it.
type region struct {
	kind       string // "lab" or "outline"
	lab, order string
	begin, els int // line indexes of its begin and else markers
	end        int
	todo       string // the TODO comment above it (lab) or in its stub (outline)
	fn         string
}

// scan finds the regions of one solution file, checking that they nest
// (lab regions may sit inside an outline region, nothing else) and that
// each stub is one todo.Missing call naming the region's lab, then at most a
// return statement.
func scan(lines []string) ([]region, error) {
	var out []region
	var open []int // indexes into out
	fn := ""
	for i, l := range lines {
		if name, ok := funcAt(l); ok {
			fn = name
		}
		t := strings.TrimSpace(l)
		kind, rest, ok := strings.Cut(strings.TrimPrefix(t, "//"), ":")
		if !strings.HasPrefix(t, "//lab:") && !strings.HasPrefix(t, "//outline:") || !ok {
			continue
		}
		verb, args, _ := strings.Cut(rest, " ")
		switch verb {
		case "begin":
			f := strings.Fields(args)
			if len(f) != 2 {
				return nil, fmt.Errorf("line %d: //%s:begin needs a lab and the task's place (//%s:begin lab2 3)", i+1, kind, kind)
			}
			if _, err := strconv.ParseFloat(f[1], 64); err != nil {
				return nil, fmt.Errorf("line %d: %q is not a task's place", i+1, f[1])
			}
			if len(open) > 0 && (kind == "outline" || out[open[len(open)-1]].kind == "lab") {
				return nil, fmt.Errorf("line %d: only a //lab: region may sit inside an //outline: one", i+1)
			}
			out = append(out, region{kind: kind, lab: f[0], order: f[1], begin: i, els: -1, fn: fn})
			open = append(open, len(out)-1)
		case "else", "end":
			if len(open) == 0 || out[open[len(open)-1]].kind != kind {
				return nil, fmt.Errorf("line %d: //%s:%s without //%s:begin", i+1, kind, verb, kind)
			}
			r := &out[open[len(open)-1]]
			if verb == "else" {
				r.els = i
				continue
			}
			if r.els < 0 {
				return nil, fmt.Errorf("line %d: //%s:end without //%s:else", i+1, kind, kind)
			}
			r.end = i
			open = open[:len(open)-1]
			if err := r.check(lines); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("line %d: unknown marker %s", i+1, t)
		}
	}
	if len(open) > 0 {
		r := out[open[len(open)-1]]
		return nil, fmt.Errorf("line %d: //%s:begin without //%s:end", r.begin+1, r.kind, r.kind)
	}
	return out, nil
}

// check reads the region's TODO text and checks its stub's form.
func (r *region) check(lines []string) error {
	var todo, code []string
	if r.kind == "lab" {
		// The nearest TODO comment above, in the same function (given
		// lines may stand between it and the region), to its last line.
		for j := r.begin - 1; j >= 0; j-- {
			c := strings.TrimSpace(lines[j])
			if _, ok := funcAt(lines[j]); c == "" || ok {
				break
			}
			if !strings.HasPrefix(c, "// TODO(") {
				continue
			}
			for ; j < r.begin; j++ {
				c := strings.TrimSpace(lines[j])
				if !strings.HasPrefix(c, "//") {
					break
				}
				todo = append(todo, strings.TrimSpace(strings.TrimPrefix(c, "//")))
			}
			break
		}
	}
	for _, l := range lines[r.els+1 : r.end] {
		u := strings.TrimSpace(uncomment(l))
		if c, ok := strings.CutPrefix(u, "//"); ok && r.kind == "outline" {
			todo = append(todo, strings.TrimSpace(c))
		} else if u != "" {
			code = append(code, u)
		}
	}
	text := strings.Join(todo, " ")
	prefix := "TODO(" + r.lab + "):"
	if !strings.HasPrefix(text, prefix) {
		return fmt.Errorf("line %d: the region needs a %q comment (above it; in an outline region, in its stub)", r.begin+1, prefix)
	}
	r.todo = strings.TrimSpace(strings.TrimPrefix(text, prefix))
	lab, ok := "", false
	if len(code) > 0 {
		lab, _, ok = missing(code[0])
	}
	if !ok || lab != r.lab || len(code) > 2 || len(code) == 2 && !strings.HasPrefix(code[1], "return") {
		return fmt.Errorf("line %d: the stub must be todo.Missing(%q, \"what\") (in C, todo_missing(%q, \"what\");), then at most a return; it is %q", r.els+1, r.lab, r.lab, code)
	}
	return nil
}

// stubCall is the region's todo.Missing call.
func (r *region) stubCall(lines []string) string {
	for _, l := range lines[r.els+1 : r.end] {
		if u := strings.TrimSpace(uncomment(l)); missingRE.MatchString(u) {
			return u
		}
	}
	return ""
}

// funcName is the name of the function (or method) declared by line.
func funcName(line string) string {
	fn := strings.TrimPrefix(line, "func ")
	if strings.HasPrefix(fn, "(") { // a method: keep its name
		fn = fn[strings.Index(fn, ")")+2:]
	}
	return fn[:strings.IndexAny(fn+"(", "([")]
}

// A level is one scaffolding level of one track, with the regions to fill
// in.
type level struct {
	scaffold string
	fill     []string     // labs (lab2) or tasks (lab2.3) that keep the reference code
	track    course.Track // the zero Track is Go's
}

// c reports whether the level is the C track's.
func (lv level) c() bool { return lv.track.Dir == "c" }

// takes reports whether the solution file rel (relative to solutions/) is
// of the level's track: Go's packages, or the files of solutions/c.
func (lv level) takes(rel string) bool {
	if lv.c() {
		return strings.HasPrefix(rel, "c/") && isC(rel)
	}
	return strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") && !strings.HasPrefix(rel, "c/")
}

func (lv level) filled(r region) bool {
	return slices.Contains(lv.fill, r.lab) || slices.Contains(lv.fill, r.lab+"."+r.order)
}

// stubbed reports whether region r (of regions rs) becomes a stub at this
// level: a lab region inside an outline region goes with it.
func (lv level) stubbed(rs []region, r region) bool {
	if r.kind == "outline" {
		return lv.scaffold == Outline && !lv.filled(r)
	}
	if o, ok := enclosing(rs, r); ok && lv.stubbed(rs, o) {
		return false // gone with its outline region
	}
	return !lv.filled(r)
}

// enclosing is the outline region r sits in, if any.
func enclosing(rs []region, r region) (region, bool) {
	for _, o := range rs {
		if o.kind == "outline" && o.begin < r.begin && r.end < o.end {
			return o, true
		}
	}
	return region{}, false
}

// tasks are the regions a student writes at this level, as tasks.
func (lv level) tasks(rel string, lines []string, rs []region) []task {
	var out []task
	for _, r := range rs {
		// Outline shows the outline regions and the lab regions outside
		// them; guided, the lab regions only.
		_, inOutline := enclosing(rs, r)
		if lv.scaffold == Outline && r.kind == "lab" && inOutline || lv.scaffold == Guided && r.kind == "outline" {
			continue
		}
		order, _ := strconv.ParseFloat(r.order, 64)
		out = append(out, task{lab: r.lab, order: order, file: rel, fn: r.fn, todo: r.todo, stub: r.stubCall(lines)})
	}
	return out
}

// skeleton writes one file at level lv: each region stubbed becomes its
// stub, with the comment marks taken off; the others keep their code.
func (lv level) skeleton(lines []string, rs []region) []byte {
	var out bytes.Buffer
	drop := make([]bool, len(lines)) // lines that do not reach the skeleton
	uncom := make([]bool, len(lines))
	for _, r := range rs {
		drop[r.begin], drop[r.els], drop[r.end] = true, true, true
		if lv.stubbed(rs, r) {
			for i := r.begin; i < r.els; i++ {
				drop[i] = true
			}
			for i := r.els + 1; i < r.end; i++ {
				uncom[i] = true
			}
		} else {
			for i := r.els + 1; i < r.end; i++ {
				drop[i] = true
			}
		}
	}
	for i, l := range lines {
		switch {
		case drop[i]:
			continue
		case uncom[i]:
			l = uncomment(l)
		}
		out.WriteString(strings.ReplaceAll(l, `"chatlab/solutions/`, `"chatlab/labs/`))
		if i < len(lines)-1 {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// uncomment takes the comment mark off a stub line, keeping its indent.
func uncomment(line string) string {
	indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
	rest := strings.TrimPrefix(strings.TrimLeft(line, " \t"), "//")
	return indent + strings.TrimPrefix(rest, " ")
}

// kit is what the generator makes from the solutions at one level.
type kit struct {
	files map[string][]byte // by path relative to the labs folder
	tasks map[string][]task // by lab, in order
}

// generate makes the skeletons of src's track lv.track at scaffolding level
// lv.
func generate(src string, lv level) (*kit, error) {
	k := &kit{files: map[string][]byte{}, tasks: map[string][]task{}}
	byFile := map[string][]task{}
	var removed []string // code of the stubbed regions, by file
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		rel = filepath.ToSlash(rel)
		if !lv.takes(rel) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.HasPrefix(b, []byte("//lab:omit")) { // solution-only, as the epoll baseline
			return nil
		}
		if isC(rel) {
			if b, err = withoutDefects(path, b); err != nil {
				return err
			}
		}
		lines, err := withoutSolutionNotes(strings.Split(string(b), "\n"))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rs, err := scan(lines)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, r := range rs {
			if lv.stubbed(rs, r) {
				removed = append(removed, strings.Join(lines[r.begin:r.els], "\n"))
			}
		}
		ts := lv.tasks(rel, lines, rs)
		for i, t := range ts {
			ts[i].filled = slices.Contains(lv.fill, t.lab) || slices.Contains(lv.fill, t.lab+"."+strconv.FormatFloat(t.order, 'f', -1, 64))
			// Filled or not, a task keeps its place: tasks.tsv and the
			// numbers are the kit's, so that a filled kit (a test's) with
			// one task put back names it as the real kit would.
			k.tasks[t.lab] = append(k.tasks[t.lab], ts[i])
		}
		out := lv.skeleton(lines, rs)
		if !isC(rel) {
			// A stub's import (todo) is found in solutions/, so its path
			// is rewritten after imports has added it.
			imports.LocalPrefix = "chatlab"
			if out, err = imports.Process(rel, out, &imports.Options{Comments: true, TabIndent: true, TabWidth: 8}); err == nil {
				out, err = format.Source(bytes.ReplaceAll(out, []byte(`"chatlab/solutions/`), []byte(`"chatlab/labs/`)))
			}
			if err != nil {
				return fmt.Errorf("%s: the skeleton does not parse: %w", path, err)
			}
		}
		byFile[rel] = ts
		k.files[rel] = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	for lab := range k.tasks {
		slices.SortStableFunc(k.tasks[lab], func(a, b task) int { return cmp.Compare(a.order, b.order) })
	}
	for rel, b := range k.files {
		if err := k.check(rel, b, removed); err != nil {
			return nil, err
		}
		if ts := byFile[rel]; len(ts) > 0 {
			k.files[rel] = k.header(rel, b, ts, lv.scaffold)
		}
	}
	if lv.c() {
		k.files["c/README.md"] = []byte(labsReadmeC)
	} else {
		k.files["README.md"] = []byte(labsReadme)
	}
	k.files[filepath.ToSlash(filepath.Join(lv.track.Dir, "tasks.tsv"))] = k.tsv()
	return k, nil
}

// defectRE finds the macros that plant a fixture's defect in a C solution
// (make fixtures: -DDEFECT_SIGPIPE), or pick a variant of it.
var defectRE = regexp.MustCompile(`\b(?:DEFECT|VARIANT)_[A-Z0-9_]+\b`)

// withoutDefects is the C solution at path with its fixtures' code taken
// out: unifdef, with every DEFECT_* and VARIANT_* macro undefined, keeps
// what the correct build compiles.
func withoutDefects(path string, b []byte) ([]byte, error) {
	names := defectRE.FindAllString(string(b), -1)
	if len(names) == 0 {
		return b, nil
	}
	slices.Sort(names)
	args := []string{"-x", "2"} // exit status 0 whether or not it changed anything
	for _, n := range slices.Compact(names) {
		args = append(args, "-U"+n)
	}
	if _, err := exec.LookPath("unifdef"); err != nil {
		return nil, fmt.Errorf("%s: taking the fixtures' DEFECT_* code out of the C skeleton needs unifdef (apt-get install unifdef): %w", path, err)
	}
	cmd := exec.Command("unifdef", args...)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: unifdef: %v: %s", path, err, stderr.String())
	}
	return out, nil
}

// withoutSolutionNotes drops the lines from //solution:begin to
// //solution:end (both included): notes for instructors, such as the list
// of a C file's planted defects.
func withoutSolutionNotes(lines []string) ([]string, error) {
	var out []string
	in := -1
	for i, l := range lines {
		switch strings.TrimSpace(l) {
		case "//solution:begin":
			if in >= 0 {
				return nil, fmt.Errorf("line %d: //solution:begin inside another", i+1)
			}
			in = i
			continue
		case "//solution:end":
			if in < 0 {
				return nil, fmt.Errorf("line %d: //solution:end without //solution:begin", i+1)
			}
			in = -1
			continue
		}
		if in < 0 {
			out = append(out, l)
		}
	}
	if in >= 0 {
		return nil, fmt.Errorf("line %d: //solution:begin without //solution:end", in+1)
	}
	return out, nil
}

// number is t's place in its lab's list (from 1) and the list's length.
func (k *kit) number(t task) (int, int) {
	ts := k.tasks[t.lab]
	return slices.IndexFunc(ts, func(u task) bool { return u.file == t.file && u.stub == t.stub }) + 1, len(ts)
}

// header opens a skeleton file with what is the student's in it, in task
// order, and what is given, as CS:APP's tsh.c does.
func (k *kit) header(rel string, b []byte, ts []task, scaffold string) []byte {
	var yours []string
	mine := map[string]bool{}
	slices.SortStableFunc(ts, func(a, b task) int { return cmp.Compare(a.order, b.order) })
	for _, t := range ts {
		n, m := k.number(t)
		if t.filled {
			continue // not the student's any more
		}
		mine[t.fn] = true
		yours = append(yours, fmt.Sprintf("//   - %s (%s, task %d of %d): %s", t.fn, labName(t.lab), n, m, t.what()))
	}
	if len(yours) == 0 {
		return b
	}
	var given []string
	if isC(rel) {
		for _, l := range strings.Split(string(b), "\n") {
			if name, ok := funcAt(l); ok && !mine[name] && !slices.Contains(given, name) {
				given = append(given, name)
			}
		}
	} else {
		fset := token.NewFileSet()
		if f, err := parser.ParseFile(fset, rel, b, parser.SkipObjectResolution); err == nil {
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && !mine[fd.Name.Name] {
					given = append(given, fd.Name.Name)
				}
			}
		}
	}
	var h strings.Builder
	fmt.Fprintf(&h, "// labs/%s (%s scaffolding)\n//\n// Yours to write here, each where its TODO comment is:\n", rel, scaffold)
	h.WriteString(strings.Join(yours, "\n") + "\n")
	if len(given) > 0 {
		h.WriteString("//\n// " + wrap("Given, to read and call, not to change: "+strings.Join(given, ", ")+".", "// ", 88) + "\n")
	}
	if isC(rel) {
		h.WriteString("//\n// `make grade` says which task is next. Until you write it, a task's todo_missing()\n// call (todo.h) stops the program with its TODO line on stderr. Add the #includes\n// your code needs.\n\n")
	} else {
		h.WriteString("//\n// `make grade` says which task is next. Until you write it, a task's todo.Missing\n// call stops the program with its TODO line on stderr. Add the imports your code\n// needs; once the last todo.Missing of this file is gone, delete the import of\n// chatlab/labs/todo too (Go refuses an unused import; goimports does both).\n\n")
	}
	return append([]byte(h.String()), b...)
}

// labName is "lab 2", from "lab2".
func labName(lab string) string { return "lab " + strings.TrimPrefix(lab, "lab") }

// what is the short name of t, from its stub: todo.Missing(lab, WHAT).
func (t task) what() string {
	if _, what, ok := missing(t.stub); ok {
		return what
	}
	return t.fn
}

// wrap breaks text into lines of at most width bytes, each after the first
// starting with prefix.
func wrap(text, prefix string, width int) string {
	var b strings.Builder
	n := len(prefix)
	for i, w := range strings.Fields(text) {
		if i > 0 && n+1+len(w) > width {
			b.WriteString("\n" + prefix)
			n = len(prefix)
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

// identRE finds the Go identifiers, plain or selected (c.frames), in a TODO.
var identRE = regexp.MustCompile(`\b[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\b`)

// check fails when a skeleton file's TODOs name something that only the
// solution has (declared in code the skeleton leaves out), or when its
// package doc calls it a reference.
func (k *kit) check(rel string, b []byte, removed []string) error {
	if isC(rel) {
		return k.checkC(rel, b)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, rel, b, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if f.Doc != nil && strings.Contains(strings.ToLower(f.Doc.Text()), "reference") {
		return fmt.Errorf("labs/%s: its package doc says \"reference\": a skeleton is the student's program, not a reference", rel)
	}
	// Names declared in the removed code: := and var, func literals' params.
	declRE := regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_]*)(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*:=|\bvar\s+([A-Za-z_][A-Za-z0-9_]*)|\bconst\s+([A-Za-z_][A-Za-z0-9_]*)`)
	onlySolution := map[string]bool{}
	for _, code := range removed {
		for _, m := range declRE.FindAllStringSubmatch(code, -1) {
			for _, name := range []string{m[1], m[3], m[4]} {
				if name != "" && name != "_" && name != "err" {
					onlySolution[name] = true
				}
			}
		}
	}
	known := map[string]bool{} // the identifiers of the skeletons' code, not their comments
	for name, other := range k.files {
		if !strings.HasSuffix(name, ".go") {
			continue
		}
		var sc scanner.Scanner
		fs := token.NewFileSet()
		sc.Init(fs.AddFile(name, -1, len(other)), other, nil, 0)
		for {
			_, tok, lit := sc.Scan()
			if tok == token.EOF {
				break
			}
			if tok == token.IDENT {
				known[lit] = true
			}
		}
	}
	for _, t := range k.tasks {
		for _, tt := range t {
			if tt.file != rel {
				continue
			}
			for _, id := range identRE.FindAllString(tt.todo, -1) {
				if !codeLike(id) {
					continue // a plain word: "family" is English before it is a variable
				}
				for _, part := range strings.Split(id, ".") {
					if onlySolution[part] && !known[part] {
						return fmt.Errorf("labs/%s: %s's TODO names %q, which only the solution declares", rel, tt.fn, part)
					}
				}
			}
		}
	}
	return nil
}

// checkC fails when a C skeleton's opening comment calls it a reference.
// (The check of names only the solution declares reads Go's declarations;
// the C TODOs name system calls and the given helpers.)
func (k *kit) checkC(rel string, b []byte) error {
	text := string(b)
	if strings.HasPrefix(text, "/*") {
		// ("reference counts" are a lesson's term, not a claim.)
		if end := strings.Index(text, "*/"); end >= 0 && strings.Contains(strings.ReplaceAll(strings.ToLower(text[:end]), "reference count", ""), "reference") {
			return fmt.Errorf("labs/%s: its opening comment says \"reference\": a skeleton is the student's program, not a reference", rel)
		}
	}
	return nil
}

// codeLike reports whether a word of a TODO is written as code: selected
// (c.frames), camelCase, with an underscore or a digit.
func codeLike(id string) bool {
	return strings.ContainsAny(id, "._0123456789") || strings.ContainsAny(id[1:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
}

// tsv is labs/tasks.tsv, the task lists for the grader's "next:" pointer:
// one line per task, in order: the lab's number, the grader's name for the
// lab, the task's place and the lab's count, the file, the function, and the
// stub whose presence means the task is not written yet.
func (k *kit) tsv() []byte {
	var b strings.Builder
	b.WriteString("# lab\tgrader lab\ttask\tof\tfile\tfunction\tstub (present: not written yet)\n")
	labs := make([]string, 0, len(k.tasks))
	for lab := range k.tasks {
		labs = append(labs, lab)
	}
	slices.Sort(labs)
	for _, lab := range labs {
		n, _ := strconv.Atoi(strings.TrimPrefix(lab, "lab"))
		name := "?"
		if l, ok := course.ByNumber(n); ok {
			name = l.Name
		}
		for i, t := range k.tasks[lab] {
			fmt.Fprintf(&b, "%d\t%s\t%d\t%d\tlabs/%s\t%s\t%s\n", n, name, i+1, len(k.tasks[lab]), t.file, t.fn, t.stub)
		}
	}
	return []byte(b.String())
}

// markdown is a lab's numbered task list, for the handouts.
func (k *kit) markdown(lab string) string {
	var b strings.Builder
	for i, t := range k.tasks[lab] {
		fmt.Fprintf(&b, "%d. `labs/%s`, `%s`: %s\n", i+1, t.file, t.fn, t.todo)
	}
	return b.String()
}

const labsReadmeC = `# labs/c: your code, in C

These are the C skeletons you fill in: client.c (lab 1), serveur.c (lab 2)
and serveur_shm.c (lab 3); args.h, telnet.h and todo.h are given. Each file
opens with a list of your tasks in it; each task is a ` + "`TODO(labN)`" + ` comment
saying what to write, above a ` + "`todo_missing()`" + ` call that stops the program
until you replace it. Build and grade with ` + "`make grade`" + ` at the top of the
kit (gcc builds each lab; a warning does not stop grading, an error fails
that lab only): it ends with the next task to do. tasks.tsv lists them all,
in order, for the grader.
`

const labsReadme = `# labs: your code

These are the skeletons you fill in. Each file that holds a task of yours
opens with a list of them; each task is a ` + "`TODO(labN)`" + ` comment saying what to
write, above a ` + "`todo.Missing`" + ` call that stops the program until you replace it.
Build and grade with ` + "`make grade`" + ` at the top of the kit: it ends with the
next task to do. tasks.tsv lists them all, in order, for the grader.
`
