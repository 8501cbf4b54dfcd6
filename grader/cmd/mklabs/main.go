// Command mklabs writes the students' skeletons, labs/, from the reference
// solutions, solutions/. It is how labs/ is made; never edit labs/ by hand.
//
//	mklabs [-solutions DIR] [-labs DIR] [-lang go|c|all] [-scaffold guided|outline] [-fill lab1,lab2.3] [-check]
//
// Each track (grader/course) has its skeletons: Go's packages at the top of
// labs/, C's files in labs/c (from solutions/c, with the fixtures'
// DEFECT_* code taken out by unifdef). The same markers serve both; a C
// stub is todo_missing("lab2", "what"); (labs/c/todo.h). Lines from
// //solution:begin to //solution:end are notes for instructors, left out
// of every skeleton.
//
// In solutions/, the code students write stands between markers, below the
// TODO comment they will see; the number is the task's place in its lab,
// the order in which a running program reaches it:
//
//	// TODO(lab2): what to do, which system calls, a hint.
//	//lab:begin lab2 3
//	... the reference code ...
//	//lab:else
//	// todo.Missing("lab2", "accept one connection")
//	// return -1, "", nil
//	//lab:end
//
// In labs/, each region becomes its stub: the lines after //lab:else, with
// their comment marks taken off. Every stub is one todo.Missing call naming
// the region's lab, then at most a return: the skeleton compiles, and stops
// with its TODO line the moment it needs the code (never hangs or spins).
//
// An //outline:begin lab2 4.5 ... //outline:else ... //outline:end region,
// a whole function body, is the student's only with -scaffold outline, where
// the student writes the design too; its TODO comment is in its stub. In the
// guided scaffolding its code is kept, and the //lab: regions inside it are
// the student's as usual.
//
// -fill keeps the reference code of the given labs (lab2) or tasks (lab2.3)
// instead, to check that filling a lab's TODOs raises its score, or to make
// a half-done lab for the grader's benchmark. A file that starts with
// //lab:omit is solution-only (the epoll baseline) and is left out of labs/.
//
// Each skeleton file with a task opens with what is the student's in it and
// what is given. labs/tasks.tsv lists the tasks for the grader's "next:"
// line, and the handouts' task lists and grading tables are regenerated.
// mklabs fails when a stub has another form, when a TODO names something
// only the solution declares, or when a skeleton's package doc calls it a
// reference.
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
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"chatlab/grader/course"
	"chatlab/grader/report"
)

func main() {
	src := flag.String("solutions", "solutions", "the reference solutions")
	dst := flag.String("labs", "labs", "where the skeletons go")
	scaffold := flag.String("scaffold", Guided, "how much is given: guided (the design given, the student fills regions) or outline (the student writes the design)")
	fill := flag.String("fill", "", "labs (lab2) or single tasks (lab2.3) whose regions keep the reference code, e.g. lab1,lab2.1,lab2.2")
	check := flag.Bool("check", false, "compare with -labs instead of writing it")
	handouts := flag.String("handouts", "handouts", "the handouts whose grading tables and task lists are regenerated (empty: none)")
	lang := flag.String("lang", "all", "the tracks whose skeletons are written: go, c or all (the handouts' task lists always show every track)")
	flag.Parse()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "mklabs:", err)
		os.Exit(1)
	}
	if *scaffold != Guided && *scaffold != Outline {
		fail(fmt.Errorf("-scaffold %q: want %s or %s", *scaffold, Guided, Outline))
	}
	tracks := course.Tracks
	if *lang != "all" {
		tr, err := course.TrackNamed(*lang)
		if err != nil {
			fail(fmt.Errorf("-lang: %w (or all)", err))
		}
		tracks = []course.Track{tr}
	}
	files := map[string][]byte{}
	for _, tr := range tracks {
		k, err := generate(*src, level{scaffold: *scaffold, fill: strings.Split(*fill, ","), track: tr})
		if err != nil {
			fail(err)
		}
		maps.Copy(files, k.files)
	}
	if *handouts != "" {
		// The handouts' task lists are the whole lists of every track,
		// whatever is filled or written.
		lists, err := taskLists(*src, *scaffold)
		if err != nil {
			fail(err)
		}
		if err := generatedSections(*handouts, *check, lists); err != nil {
			fail(err)
		}
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
		fail(err)
	}
	for rel, b := range files {
		path := filepath.Join(*dst, rel)
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			err = os.WriteFile(path, b, 0o644)
		}
		if err != nil {
			fail(err)
		}
	}
}

// taskLists returns a lab's task lists for the handouts, one per track at
// scaffolding level scaffold, one after the other.
func taskLists(src, scaffold string) (func(lab string) string, error) {
	var kits []*kit
	for _, tr := range course.Tracks {
		k, err := generate(src, level{scaffold: scaffold, track: tr})
		if err != nil {
			return nil, err
		}
		kits = append(kits, k)
	}
	return func(lab string) string {
		var b strings.Builder
		for i, tr := range course.Tracks {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "In %s (`labs/%s`):\n\n%s", trackTitle(tr), tr.Dir, kits[i].markdown(lab))
		}
		return b.String()
	}, nil
}

// trackTitle is the track's language as the handouts write it.
func trackTitle(tr course.Track) string {
	if tr.Name == "go" {
		return "Go"
	}
	return strings.ToUpper(tr.Name)
}

// Sections of the handouts that mklabs writes: a lab's grading table, from
// the grader's test list, and its tasks, from the TODO comments of the
// solutions. Each stands between a begin line naming the lab and an end line.
var sections = []struct{ begin, end string }{
	{"<!-- grading table: ", "<!-- end of grading table -->"},
	{"<!-- tasks: ", "<!-- end of tasks -->"},
}

// generatedSections regenerates (or, with check, verifies) the generated
// sections of the Markdown files of dir.
func generatedSections(dir string, check bool, tasks func(lab string) string) error {
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
					body = tasks(lab)
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
