package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"chatlab/grader/course"
	"chatlab/grader/report"
	"chatlab/grader/suite"
)

// inProgress is the lab a student is working on: the first lab graded that
// is not at full marks ("" when all are).
func inProgress(results []suite.Result) string {
	for _, lab := range course.Names() {
		for _, r := range results {
			if r.Test.Lab == lab && r.Status != suite.NotApplicable && r.Score < r.Max() {
				return lab
			}
		}
	}
	return ""
}

// A stubTask is one line of labs/tasks.tsv (written by mklabs).
type stubTask struct {
	labNumber, n, of int
	lab              string // the grader's name: client, server, shm
	file, fn, stub   string
}

// readTasks reads a task list (labs/tasks.tsv, labs/c/tasks.tsv).
func readTasks(path string) ([]stubTask, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []stubTask
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") || sc.Text() == "" {
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 7 {
			return nil, fmt.Errorf("%s: %q: want 7 tab-separated fields", f.Name(), sc.Text())
		}
		t := stubTask{lab: c[1], file: c[4], fn: c[5], stub: c[6]}
		t.labNumber, _ = strconv.Atoi(c[0])
		t.n, _ = strconv.Atoi(c[2])
		t.of, _ = strconv.Atoi(c[3])
		out = append(out, t)
	}
	return out, sc.Err()
}

// nextStep says what to do next in lab: the first of its tasks whose stub is
// still in its file (from the track's task list in the labs folder dir,
// whose file paths start at the kit's top, the folder holding dir), or, once
// every stub is replaced, the first failure.
func nextStep(dir string, track course.Track, lab string, results []suite.Result) string {
	if lab == "" {
		return "next: nothing: every lab graded is at full marks"
	}
	for _, r := range results {
		if r.Test.Lab == lab && r.NotBuilt {
			return fmt.Sprintf("next: make lab %s compile: the compiler's first error is above", lab)
		}
	}
	tasks, err := readTasks(track.Tasks(dir))
	if err != nil {
		return fmt.Sprintf("next: the failures of lab %s above (no task list: %v)", lab, err)
	}
	top := filepath.Dir(filepath.Clean(dir))
	for _, t := range tasks {
		if t.lab != lab {
			continue
		}
		b, err := os.ReadFile(filepath.Join(top, t.file))
		if err != nil || strings.Contains(string(b), t.stub) {
			return fmt.Sprintf("next: %s, %s (lab %d, task %d of %d)", t.file, t.fn, t.labNumber, t.n, t.of)
		}
	}
	i := slices.IndexFunc(results, func(r suite.Result) bool {
		return r.Test.Lab == lab && r.Status != suite.Pass && r.Status != suite.NotApplicable
	})
	if i < 0 {
		return fmt.Sprintf("next: lab %s: every task is written; its missing points are above", lab)
	}
	return fmt.Sprintf("next: every task of lab %s is written; fix %s first (its failure is above)", lab, results[i].Test.Name)
}

// progressReport prints the short report of make grade: the details of the
// lab in progress only, one line per lab, and the next step.
func progressReport(w io.Writer, dir string, track course.Track, results []suite.Result) {
	lab := inProgress(results)
	if lab != "" {
		fmt.Fprintf(w, "lab %s, the first not at full marks (LAB=... for another, GRADE_FLAGS=-v for every test):\n", lab)
		seen := map[string]bool{} // the TODO lines of skeleton stops already shown
		for _, r := range results {
			if r.Test.Lab != lab {
				continue
			}
			if r.NotBuilt {
				if seen["build"] {
					fmt.Fprintf(w, "%-7s %-24s %2d/%-2d  did not build (above)\n", r.Status, r.Test.Name, r.Score, r.Test.Points)
					continue
				}
				seen["build"] = true
			}
			if todo := suite.TodoLine(r.Stderr); r.Status != suite.Pass && todo != "" && seen[todo] {
				short, _, _ := strings.Cut(todo, " (labs/")
				fmt.Fprintf(w, "%-7s %-24s %2d/%-2d  stopped at the same TODO as above: %s\n", r.Status, r.Test.Name, r.Score, r.Test.Points, short)
				continue
			} else if todo != "" {
				seen[todo] = true
			}
			report.Line(w, r, false)
		}
		fmt.Fprintln(w)
	}
	report.Summary(w, results)
	fmt.Fprintln(w, nextStep(dir, track, lab, results))
}
