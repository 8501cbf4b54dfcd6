// Package report turns the grader's results into what people and platforms
// read: a line per test as it finishes and a table per lab on the terminal,
// the grader's own JSON record, Gradescope's results.json, and Autolab's
// score line.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"chatlab/grader/suite"
)

// Line prints one test's result as it finishes: status, name, points, time;
// then, for a failure (or with verbose, always), what it did and saw.
func Line(w io.Writer, r suite.Result, verbose bool) {
	runs := ""
	if r.Runs > 1 {
		runs = fmt.Sprintf("  (%d runs)", r.Runs)
	}
	if r.Status == suite.NotApplicable {
		fmt.Fprintf(w, "%-7s %-24s  -/-           a check of one process per client; this server is one process\n", r.Status, r.Test.Name)
		return
	}
	fmt.Fprintf(w, "%-7s %-24s %2d/%-2d %6.2fs%s\n", r.Status, r.Test.Name, r.Score, r.Test.Points, r.Elapsed.Seconds(), runs)
	if r.Status == suite.Pass && !verbose {
		return
	}
	if r.SameCause && !verbose && len(r.Notes) > 0 {
		fmt.Fprintf(w, "        %s: the same cause as above\n", safe(strings.TrimSuffix(r.Notes[0], " (below)")))
		return
	}
	if verbose || r.Failure != nil { // what the test did leads to where it failed
		for _, n := range r.Notes {
			fmt.Fprintf(w, "        . %s\n", safe(n))
		}
	}
	if verbose {
		for _, tr := range r.Transcripts {
			for _, l := range strings.Split(tr, "\n") {
				fmt.Fprintf(w, "        %s\n", safe(l))
			}
		}
	}
	if f := r.Failure; f != nil {
		if r.Runs > 1 {
			fmt.Fprintf(w, "        failed on run %d\n", r.Runs)
		}
		Failure(w, f, "        ")
		if r.Stderr != "" {
			fmt.Fprintf(w, "        the program's stderr ended with:\n")
			for _, l := range strings.Split(r.Stderr, "\n") {
				fmt.Fprintf(w, "        | %s\n", safe(l))
			}
		}
	}
}

// Failure prints a failure's fields, each line indented: nothing a program
// printed can start a line of its own and pass for a result.
func Failure(w io.Writer, f *suite.Failure, indent string) {
	for _, field := range []struct{ name, text string }{
		{"did", f.Did}, {"expected", f.Expected}, {"received", f.Got},
		{"diff", f.Diff}, {"hint", f.Hint}, {"by hand", f.ByHand},
	} {
		if field.text == "" {
			continue
		}
		lines := strings.Split(strings.TrimRight(field.text, "\n"), "\n")
		fmt.Fprintf(w, "%s%-9s %s\n", indent, field.name+":", safe(lines[0]))
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%s          %s\n", indent, safe(l))
		}
	}
}

// safe makes text from programs under test printable: control characters
// and invalid UTF-8 are shown escaped, so none can move the cursor, erase a
// line or hide one.
func safe(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r == '\t' || unicode.IsPrint(r):
			b.WriteRune(r)
		case r >= 0x80 && unicode.IsSpace(r): // go-cmp's diffs use U+00A0 at random
			b.WriteByte(' ')
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		s = s[size:]
	}
	return b.String()
}

// Summary prints a table per lab and the total.
func Summary(w io.Writer, results []suite.Result) {
	for _, lab := range suite.Labs {
		var score, max, passed, n, na int
		for _, r := range results {
			switch {
			case r.Test.Lab != lab:
			case r.Status == suite.NotApplicable:
				na++
			default:
				score, max, n = score+r.Score, max+r.Max(), n+1
				if r.Status == suite.Pass {
					passed++
				}
			}
		}
		if n > 0 {
			fmt.Fprintf(w, "lab %-7s %3d/%-3d points  %2d of %2d tests passed", lab, score, max, passed, n)
			if na > 0 {
				fmt.Fprintf(w, " (%d not applicable)", na)
			}
			fmt.Fprintln(w)
		}
	}
	score, max := Totals(results)
	fmt.Fprintf(w, "total       %3d/%-3d points\n", score, max)
}

// Totals returns the points scored and the points possible.
func Totals(results []suite.Result) (score, max int) {
	for _, r := range results {
		score += r.Score
		max += r.Max()
	}
	return score, max
}

// Record is the grader's own JSON record of a run.
type Record struct {
	Started time.Time    `json:"started"`
	Elapsed float64      `json:"elapsed_seconds"`
	Score   int          `json:"score"`
	Max     int          `json:"max_score"`
	Tests   []TestRecord `json:"tests"`
}

// TestRecord is one test in a Record.
type TestRecord struct {
	Name    string         `json:"name"`
	Lab     string         `json:"lab"`
	What    string         `json:"what"`
	Status  suite.Status   `json:"status"`
	Score   int            `json:"score"`
	Max     int            `json:"max_score"`
	Elapsed float64        `json:"elapsed_seconds"`
	Runs    int            `json:"runs"`
	Failed  int            `json:"failed_runs"`
	Failure *suite.Failure `json:"failure,omitempty"`
	Notes   []string       `json:"notes,omitempty"`
	Stderr  string         `json:"stderr_tail,omitempty"`
}

// NewRecord builds the record of results.
func NewRecord(started time.Time, results []suite.Result) Record {
	rec := Record{Started: started, Elapsed: time.Since(started).Seconds()}
	rec.Score, rec.Max = Totals(results)
	for _, r := range results {
		rec.Tests = append(rec.Tests, TestRecord{
			Name: r.Test.Name, Lab: r.Test.Lab, What: r.Test.What, Status: r.Status,
			Score: r.Score, Max: r.Max(), Elapsed: r.Elapsed.Seconds(), Runs: r.Runs, Failed: r.Failed,
			Failure: r.Failure, Notes: r.Notes, Stderr: r.Stderr,
		})
	}
	return rec
}

// Gradescope is Gradescope's results.json.
type Gradescope struct {
	Score            float64          `json:"score"`
	ExecutionTime    int              `json:"execution_time"`
	Output           string           `json:"output"`
	Visibility       string           `json:"visibility"`
	StdoutVisibility string           `json:"stdout_visibility"`
	Tests            []GradescopeTest `json:"tests"`
}

// GradescopeTest is one test in Gradescope's results.json.
type GradescopeTest struct {
	Name       string  `json:"name"`
	Score      float64 `json:"score"`
	MaxScore   float64 `json:"max_score"`
	Status     string  `json:"status"` // "passed" or "failed"
	Output     string  `json:"output"`
	Visibility string  `json:"visibility"`
}

// NewGradescope builds results.json from the results so far. Tests in
// planned that have not run yet are listed as failed with "not run", so the
// file is complete and honest even if the grader dies before the end.
func NewGradescope(started time.Time, planned []*suite.Test, results []suite.Result, note string) Gradescope {
	done := map[string]suite.Result{}
	for _, r := range results {
		done[r.Test.Name] = r
	}
	g := Gradescope{ExecutionTime: int(time.Since(started).Seconds()), Output: note,
		Visibility: "visible", StdoutVisibility: "visible", Tests: []GradescopeTest{}}
	for _, t := range planned {
		if done[t.Name].Status == suite.NotApplicable {
			continue
		}
		gt := GradescopeTest{Name: t.Name + ": " + t.What, MaxScore: float64(t.Points), Status: "failed", Visibility: "visible"}
		if r, ok := done[t.Name]; ok {
			gt.Score = float64(r.Score)
			if r.Status == suite.Pass {
				gt.Status = "passed"
			}
			var b strings.Builder
			r.SameCause = false // each Gradescope test is read on its own
			Line(&b, r, false)
			gt.Output = b.String()
		} else {
			gt.Output = "not run: the grader stopped before this test"
		}
		g.Score += gt.Score
		g.Tests = append(g.Tests, gt)
	}
	return g
}

// WriteJSON writes v to path atomically (a temporary file, then a rename),
// so a reader never sees half a file.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".results-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Autolab returns Autolab's score line, {"scores": {...}}: the points per
// lab, to be printed last.
func Autolab(results []suite.Result) string {
	scores := map[string]int{}
	for _, r := range results {
		scores[r.Test.Lab] += r.Score
	}
	b, _ := json.Marshal(map[string]any{"scores": scores})
	return string(b)
}
