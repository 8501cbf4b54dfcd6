package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"chatlab/grader/course"
	"chatlab/grader/report"
	"chatlab/grader/suite"

	"golang.org/x/sys/unix"
)

// student is one submission's outcome.
type student struct {
	name    string
	results []suite.Result
	note    string
	elapsed time.Duration
}

// runBatch grades every submission folder under dir (a folder per student,
// holding labs/ or the folders of labs/ themselves), jobs at a time, and
// writes outDir/gradebook.csv and one outDir/NAME.json per student.
func runBatch(dir, outDir string, jobs int, track course.Track, tests []*suite.Test, cfg suite.Config) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "grade -batch:", err)
		return 2
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grade -batch:", err)
		return 2
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		fmt.Fprintf(os.Stderr, "grade -batch: no submission folders in %s\n", dir)
		return 2
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "grade -batch:", err)
		return 2
	}
	students := make([]student, len(names))
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	tty := isTerminal(2)
	for range max(jobs, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				start := time.Now()
				st := gradeSubmission(root, filepath.Join(dir, names[i]), track, tests, cfg)
				st.name, st.elapsed = names[i], time.Since(start)
				students[i] = st
				if err := report.WriteJSON(filepath.Join(outDir, names[i]+".json"), report.NewRecord(start, st.results)); err != nil {
					fmt.Fprintln(os.Stderr, "grade -batch:", err)
				}
				mu.Lock()
				done++
				score, max := report.Totals(st.results)
				progress(tty, done, len(names), fmt.Sprintf("%s: %d/%d in %v %s", names[i], score, max, st.elapsed.Round(100*time.Millisecond), st.note))
				mu.Unlock()
			}
		}()
	}
	for i := range names {
		work <- i
	}
	close(work)
	wg.Wait()
	if tty {
		fmt.Fprintln(os.Stderr)
	}
	path := filepath.Join(outDir, "gradebook.csv")
	if err := writeGradebook(path, tests, students); err != nil {
		fmt.Fprintln(os.Stderr, "grade -batch:", err)
		return 2
	}
	fmt.Printf("graded %d submissions: %s\n", len(names), path)
	return 0
}

// progress shows how far the batch is: a bar redrawn in place on a
// terminal, a line per submission otherwise.
func progress(tty bool, done, total int, last string) {
	if !tty {
		fmt.Fprintf(os.Stderr, "[%d/%d] %s\n", done, total, last)
		return
	}
	const width = 30
	bar := strings.Repeat("#", done*width/total) + strings.Repeat(".", width-done*width/total)
	fmt.Fprintf(os.Stderr, "\r\033[K[%s] %d/%d  %s", bar, done, total, last)
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// gradeSubmission builds one submission of track over the kit's skeletons
// in a copy of the module and runs the tests; a program that does not build
// fails its lab's tests with the compiler's output.
func gradeSubmission(root, sub string, track course.Track, tests []*suite.Test, cfg suite.Config) student {
	var st student
	tmp, err := os.MkdirTemp("", "chatlab-batch-")
	if err != nil {
		st.note = err.Error()
		return st
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o755) // the programs run as nobody
	kept, err := copyModule(root, sub, track, tmp)
	if err != nil {
		st.note = "could not read the submission: " + err.Error()
	}
	if len(kept) > 0 {
		st.note = strings.TrimSpace(st.note + " " + keptNote(kept))
	}
	notBuilt := map[string]string{}
	bins := map[string]string{}
	for _, l := range course.Labs {
		out := filepath.Join(tmp, "bin", l.Programs[track.Name].Binary)
		os.MkdirAll(filepath.Dir(out), 0o755)
		argv := track.BuildCommand(l, "labs", out)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = tmp
		if msg, err := cmd.CombinedOutput(); err != nil {
			notBuilt[l.Name] = string(msg) // a broken shared package breaks each build that uses it
			st.note = strings.TrimSpace(st.note + " " + l.Programs[track.Name].Source + " does not build: " + firstLine(string(msg)))
		}
		bins[l.Name] = out
	}
	cfg.Client, cfg.Server, cfg.ShmServer = []string{bins["client"]}, []string{bins["server"]}, []string{bins["shm"]}
	for _, t := range tests {
		if msg, ok := notBuilt[t.Lab]; ok {
			st.results = append(st.results, suite.NotBuilt(t, msg))
			continue
		}
		st.results = append(st.results, suite.Run(t, cfg, 1))
	}
	return st
}

// firstLine is the compiler's first error in its output s: gcc's first
// "error:" line, or go build's first line after the package's "# path".
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "error:") {
			return strings.TrimSpace(l)
		}
	}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return strings.TrimSpace(s)
}

// copyModule makes dst a copy of the module at root with the submission's
// lab files over the skeletons: go.mod, go.sum, and labs/ as
// takeSubmission makes it. It returns the skeleton files, with TODOs,
// that the submission did not replace (see skeletonsKept).
func copyModule(root, sub string, track course.Track, dst string) ([]string, error) {
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := copyFile(filepath.Join(root, f), filepath.Join(dst, f)); err != nil {
			return nil, err
		}
	}
	kit := filepath.Join(root, "labs")
	if _, err := copyLabs(kit, kit, track, filepath.Join(dst, "labs")); err != nil {
		return nil, err
	}
	taken, err := takeSubmission(kit, sub, track, filepath.Join(dst, "labs"))
	if err != nil {
		return nil, err
	}
	return skeletonsKept(kit, track, taken)
}

// stubRE matches a line that calls a skeleton's stub: todo.Missing in Go,
// todo_missing in C (a doc comment that names it does not match).
var stubRE = regexp.MustCompile(`(?m)^\s*(todo\.Missing|todo_missing)\(`)

// skeletonsKept lists, as paths under labs/ (c/sockets.h), the files of the
// kit's labs folder kit for track that still call a TODO stub and that are
// not among taken (what takeSubmission copied). A student who hands in
// client.c, serveur.c and serveur_shm.c but not sockets.h is graded with the
// skeleton's sockets.h, whose TODOs stop the server: the note says so,
// rather than leave a column of zeros unexplained.
func skeletonsKept(kit string, track course.Track, taken []string) ([]string, error) {
	got := map[string]bool{}
	for _, p := range taken {
		got[p] = true
	}
	var kept []string
	err := filepath.WalkDir(kit, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !track.Takes(path) {
			return err
		}
		rel, _ := filepath.Rel(kit, path)
		inTrack := filepath.Dir(rel) == track.Dir
		if track.Dir == "" { // Go: the packages' files, not labs/c's
			inTrack = !strings.HasPrefix(rel, "c"+string(filepath.Separator))
		}
		if got[rel] || !inTrack {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if stubRE.Match(b) && !strings.HasSuffix(rel, "todo.go") && !strings.HasSuffix(rel, "todo.h") {
			kept = append(kept, rel)
		}
		return nil
	})
	return kept, err
}

// keptNote is the note for files kept from the skeleton (skeletonsKept).
func keptNote(kept []string) string {
	return "not handed in, so the kit's skeleton with its TODOs was graded: " + strings.Join(kept, ", ") + "."
}

// takeSubmission copies a submission's lab files into the labs folder dst,
// over the skeletons, and returns how many it took. It takes only the
// track's source files of the kit's own folders (kit is the kit's labs
// folder): for Go, the .go files (not tests) of its packages; for C, the .c
// and .h files of labs/c. So a submission cannot bring tests or other code.
// A submission may hold labs/, the track's folder (labs/c), or the files
// themselves. It returns the paths it took, relative to dst (c/serveur.c,
// server/child.go).
func takeSubmission(kit, sub string, track course.Track, dst string) ([]string, error) {
	for _, inner := range []string{filepath.Join("labs", track.Dir), track.Dir} {
		if st, err := os.Stat(filepath.Join(sub, inner)); inner != "" && err == nil && st.IsDir() {
			return copyLabs(kit, filepath.Join(sub, inner), track, dst)
		}
	}
	return copyLabs(kit, sub, track, dst)
}

// copyLabs copies the track's files of from (a labs folder, or the track's
// folder of one) that the kit's labs folder kit knows a place for into dst,
// and returns their paths relative to dst.
func copyLabs(kit, from string, track course.Track, dst string) ([]string, error) {
	if track.Dir != "" && filepath.Clean(from) == filepath.Clean(kit) {
		from = filepath.Join(kit, track.Dir)
	}
	var taken []string
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !track.Takes(path) {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		to := filepath.Join(track.Dir, rel)
		parts := strings.Split(rel, string(filepath.Separator))
		if track.Dir == "" {
			// Go: a file of one of the kit's packages (client/, server/...).
			if st, err := os.Stat(filepath.Join(kit, parts[0])); len(parts) < 2 || err != nil || !st.IsDir() || parts[0] == "c" {
				return nil
			}
		} else if len(parts) != 1 {
			return nil // C: the files of labs/c, no deeper
		}
		taken = append(taken, to)
		return copyFile(path, filepath.Join(dst, to))
	})
	return taken, err
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// moduleRoot finds the kit: the folder, from here up, whose go.mod is
// chatlab's and that has labs/.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module chatlab") {
			if _, err := os.Stat(filepath.Join(dir, "labs")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it inside the kit (a folder with chatlab's go.mod and labs/)")
		}
		dir = parent
	}
}

// writeGradebook writes one row per student: a column per test, the total,
// and a note (what did not build).
func writeGradebook(path string, tests []*suite.Test, students []student) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	header := []string{"student"}
	for _, t := range tests {
		header = append(header, t.Name)
	}
	header = append(header, "total", "max", "note")
	w.Write(header)
	for _, st := range students {
		row := []string{st.name}
		byName := map[string]suite.Result{}
		for _, r := range st.results {
			byName[r.Test.Name] = r
		}
		for _, t := range tests {
			row = append(row, strconv.Itoa(byName[t.Name].Score))
		}
		score, max := report.Totals(st.results)
		row = append(row, strconv.Itoa(score), strconv.Itoa(max), st.note)
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
