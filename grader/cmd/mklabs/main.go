// Command mklabs writes the students' skeletons, labs/, from the reference
// solutions, solutions/. It is how labs/ is made; never edit labs/ by hand.
//
//	mklabs [-solutions DIR] [-labs DIR] [-fill lab1,lab2] [-check]
//
// In solutions/, the code students write stands between markers, below the
// TODO comment they will see:
//
//	// TODO(lab2): what to do, which system calls, a hint.
//	//lab:begin lab2
//	... the reference code ...
//	//lab:else
//	// return -1, todo("lab2: create the listening socket")
//	//lab:end
//
// In labs/, each region becomes its stub: the lines after //lab:else, with
// their comment marks taken off, so that the skeleton compiles (and fails
// its tests quickly, never hangs). -fill keeps the reference code of the
// given labs (lab2) or tasks (lab2.1: the region marked "//lab:begin lab2 1")
// instead, to check that filling a lab's TODOs raises its score, or to make a
// half-done lab for the grader's benchmark.
// A file that starts with //lab:omit is solution-only (the epoll baseline)
// and is left out of labs/.
//
// Imports of chatlab/solutions/... become chatlab/labs/..., imports left
// unused by a stub are dropped, and test files are not copied: the grader is
// the students' test. -check compares what it would write with -labs and
// fails on any difference.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"chatlab/grader/report"

	"golang.org/x/tools/imports"
)

func main() {
	src := flag.String("solutions", "solutions", "the reference solutions")
	dst := flag.String("labs", "labs", "where the skeletons go")
	fill := flag.String("fill", "", "labs (lab2) or single tasks (lab2.1) whose regions keep the reference code, e.g. lab1,lab2.1,lab2.2")
	check := flag.Bool("check", false, "compare with -labs instead of writing it")
	handouts := flag.String("handouts", "handouts", "the handouts whose grading tables are regenerated (empty: none)")
	flag.Parse()
	if *handouts != "" {
		tasks, err := todoTasks(*src)
		if err == nil {
			err = generatedSections(*handouts, *check, tasks)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "mklabs:", err)
			os.Exit(1)
		}
	}
	files, err := generate(*src, strings.Split(*fill, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "mklabs:", err)
		os.Exit(1)
	}
	if *check {
		if diffs := compare(*dst, files); len(diffs) > 0 {
			fmt.Fprintf(os.Stderr, "mklabs: %s is not what the generator makes from %s (run make labs):\n  %s\n",
				*dst, *src, strings.Join(diffs, "\n  "))
			os.Exit(1)
		}
		return
	}
	if err := os.RemoveAll(*dst); err != nil {
		fmt.Fprintln(os.Stderr, "mklabs:", err)
		os.Exit(1)
	}
	for rel, b := range files {
		path := filepath.Join(*dst, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			err = os.WriteFile(path, b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "mklabs:", err)
			os.Exit(1)
		}
	}
}

// Sections of the handouts that mklabs writes: a lab's grading table, from
// the grader's test list, and its tasks, from the TODO comments of the
// solutions. Each stands between a begin line naming the lab and an end line.
var sections = []struct{ begin, end string }{
	{"<!-- grading table: ", "<!-- end of grading table -->"},
	{"<!-- tasks: ", "<!-- end of tasks -->"},
}

// todoTasks returns, by lab, a numbered Markdown list of the TODOs of the
// solutions' marked regions: where each is and what it asks.
func todoTasks(src string) (map[string]string, error) {
	type task struct {
		step int
		line string
	}
	byLab := map[string][]task{}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		lines := strings.Split(string(b), "\n")
		fn := ""
		for i, l := range lines {
			if strings.HasPrefix(l, "func ") {
				fn = strings.TrimSuffix(strings.TrimPrefix(l, "func "), " {")
				if k := strings.Index(fn, "("); k == 0 { // a method: keep its name
					fn = fn[strings.Index(fn, ")")+2:]
				}
				fn = fn[:strings.IndexAny(fn+"(", "(")]
			}
			t := strings.TrimSpace(l)
			if !strings.HasPrefix(t, "//lab:begin ") {
				continue
			}
			fields := strings.Fields(strings.TrimPrefix(t, "//lab:begin "))
			lab, step := fields[0], 1000
			if len(fields) > 1 {
				step, _ = strconv.Atoi(fields[1])
			}
			var text []string // the comment lines just above, from the TODO on
			for j := i - 1; j >= 0; j-- {
				c := strings.TrimSpace(lines[j])
				if !strings.HasPrefix(c, "//") {
					break
				}
				text = append([]string{strings.TrimSpace(strings.TrimPrefix(c, "//"))}, text...)
				if strings.HasPrefix(c, "// TODO(") {
					break
				}
			}
			todo := strings.TrimSpace(strings.TrimPrefix(strings.Join(text, " "), "TODO("+lab+"):"))
			byLab[lab] = append(byLab[lab], task{step, fmt.Sprintf("`labs/%s`, `%s`: %s", filepath.ToSlash(rel), fn, todo)})
		}
		return nil
	})
	out := map[string]string{}
	for lab, tasks := range byLab {
		slices.SortStableFunc(tasks, func(a, b task) int { return a.step - b.step })
		var b strings.Builder
		for i, t := range tasks {
			fmt.Fprintf(&b, "%d. %s\n", i+1, t.line)
		}
		out[lab] = b.String()
	}
	return out, err
}

// generatedSections regenerates (or, with check, verifies) the generated
// sections of the Markdown files of dir.
func generatedSections(dir string, check bool, tasks map[string]string) error {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var out []string
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			out = append(out, lines[i])
			for k, sec := range sections {
				lab, ok := strings.CutPrefix(lines[i], sec.begin)
				if !ok {
					continue
				}
				lab = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(lab), "-->"))
				body := report.Table(lab)
				if k == 1 {
					body = tasks[lab]
				}
				out = append(out, strings.Split(strings.TrimRight(body, "\n"), "\n")...)
				for i++; i < len(lines) && lines[i] != sec.end; i++ {
				}
				if i == len(lines) {
					return fmt.Errorf("%s: %s%s without %s", path, sec.begin, lab, sec.end)
				}
				out = append(out, sec.end)
			}
		}
		updated := strings.Join(out, "\n")
		if updated == string(b) {
			continue
		}
		if check {
			return fmt.Errorf("%s: its generated sections (grading table, tasks) are out of date (run make labs)", path)
		}
		if err := os.WriteFile(path, []byte(updated), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// generate returns the skeleton files, by path relative to the labs folder.
func generate(src string, fill []string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.HasPrefix(b, []byte("//lab:omit")) { // solution-only, as the epoll baseline
			return nil
		}
		out, err := skeleton(b, fill)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if out, err = imports.Process(rel, out, &imports.Options{Comments: true, TabIndent: true, TabWidth: 8, FormatOnly: false}); err != nil {
			return fmt.Errorf("%s: the skeleton does not parse: %w", path, err)
		}
		files[rel] = out
		return nil
	})
	files["README.md"] = []byte(labsReadme)
	return files, err
}

const labsReadme = `# labs: your code

These are the skeletons you fill in: each ` + "`TODO(labN)`" + ` says what to write.
Build and grade with ` + "`make grade`" + ` at the top of the kit.

(Instructors: this folder is generated from solutions/ by ` + "`make labs`" + `; edit
the solutions and regenerate. ` + "`make labs-check`" + ` fails when the two differ.)
`

// skeleton replaces the marked regions of one file.
func skeleton(b []byte, fill []string) ([]byte, error) {
	var out bytes.Buffer
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "//lab:begin") {
			out.WriteString(strings.ReplaceAll(line, `"chatlab/solutions/`, `"chatlab/labs/`))
			if i < len(lines)-1 {
				out.WriteByte('\n')
			}
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(trimmed, "//lab:begin"))
		if len(fields) == 0 {
			return nil, fmt.Errorf("line %d: //lab:begin needs a lab", i+1)
		}
		lab := fields[0] // then, optionally, the task's step number
		var code, stub []string
		inStub := false
		j := i + 1
		for ; j < len(lines); j++ {
			t := strings.TrimSpace(lines[j])
			if t == "//lab:end" {
				break
			}
			if t == "//lab:else" {
				inStub = true
				continue
			}
			if strings.HasPrefix(t, "//lab:") {
				return nil, fmt.Errorf("line %d: %s inside a region", j+1, t)
			}
			if inStub {
				stub = append(stub, uncomment(lines[j]))
			} else {
				code = append(code, strings.ReplaceAll(lines[j], `"chatlab/solutions/`, `"chatlab/labs/`))
			}
		}
		if j == len(lines) {
			return nil, fmt.Errorf("line %d: //lab:begin without //lab:end", i+1)
		}
		keep := stub
		if slices.Contains(fill, lab) || (len(fields) > 1 && slices.Contains(fill, lab+"."+fields[1])) {
			keep = code
		}
		for _, l := range keep {
			out.WriteString(l + "\n")
		}
		i = j
	}
	return out.Bytes(), nil
}

// uncomment takes the comment mark off a stub line, keeping its indent.
func uncomment(line string) string {
	indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
	rest := strings.TrimPrefix(strings.TrimLeft(line, " \t"), "//")
	return indent + strings.TrimPrefix(rest, " ")
}

// compare lists how dir differs from files.
func compare(dir string, files map[string][]byte) []string {
	var diffs []string
	seen := map[string]bool{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		seen[rel] = true
		want, ok := files[rel]
		if !ok {
			diffs = append(diffs, rel+": not generated (remove it)")
		} else if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
			diffs = append(diffs, rel+": differs")
		}
		return nil
	})
	for rel := range files {
		if !seen[rel] {
			diffs = append(diffs, rel+": missing")
		}
	}
	slices.Sort(diffs)
	return diffs
}
