package main

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"chatlab/grader/course"
	"chatlab/grader/harness"
	"chatlab/grader/report"
	"chatlab/grader/suite"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var root = filepath.Join("..", "..", "..")

func TestMain(m *testing.M) { os.Exit(harness.Main(m, func(string) error { return nil })) }

// TestLabsAreGenerated: labs/ is exactly what the generator makes from
// solutions/, so the two cannot drift.
func TestLabsAreGenerated(t *testing.T) {
	files := map[string][]byte{}
	for _, tr := range course.Tracks {
		k, err := generate(filepath.Join(root, "solutions"), level{scaffold: Guided, track: tr})
		require.NoError(t, err)
		maps.Copy(files, k.files)
	}
	assert.Contains(t, files, "c/serveur.c")
	assert.Empty(t, compare(filepath.Join(root, "labs"), files), "run make labs")
	for rel, b := range files {
		assert.NotContains(t, string(b), "//lab:", "%s: a marker was left in", rel)
		assert.NotContains(t, string(b), "chatlab/solutions/", "%s: imports the solutions", rel)
	}
}

// TestHandoutTables: each handout's grading table is the grader's.
func TestHandoutTables(t *testing.T) {
	lists, err := taskLists(filepath.Join(root, "solutions"), Guided)
	require.NoError(t, err)
	require.NoError(t, generatedSections(filepath.Join(root, "handouts"), true, lists))
	assert.Contains(t, lists("lab1"), "1. `labs/client/main.go`, `connectTo`: create a TCP socket")
	assert.Contains(t, lists("lab1"), "In C (`labs/c`):\n\n1. `labs/c/client.c`, `dial`: for each address")
	b, err := os.ReadFile(filepath.Join(root, "handouts", "lab3-shm.md"))
	assert.Contains(t, string(b), lists("lab3"))
	require.NoError(t, err)
	assert.Contains(t, string(b), report.Table("shm"))
}

// TestSkeletonRegions: a region becomes its stub, or keeps its code when
// filled; an outline region takes its lab regions with it.
func TestSkeletonRegions(t *testing.T) {
	src := "package p\n\nfunc f() int {\n\t//outline:begin lab9 1\n\t// TODO(lab9): do it\n\t//lab:begin lab9 2\n\treturn 42\n\t//lab:else\n\t// todo.Missing(\"lab9\", \"it\")\n\t// return 0\n\t//lab:end\n\t//outline:else\n\t// // TODO(lab9): all of f\n\t// todo.Missing(\"lab9\", \"f\")\n\t// return 0\n\t//outline:end\n}\n"
	lines := strings.Split(src, "\n")
	rs, err := scan(lines)
	require.NoError(t, err)
	got := string(level{scaffold: Guided}.skeleton(lines, rs))
	assert.Equal(t, "package p\n\nfunc f() int {\n\t// TODO(lab9): do it\n\ttodo.Missing(\"lab9\", \"it\")\n\treturn 0\n}\n", got)
	got = string(level{scaffold: Outline}.skeleton(lines, rs))
	assert.Equal(t, "package p\n\nfunc f() int {\n\t// TODO(lab9): all of f\n\ttodo.Missing(\"lab9\", \"f\")\n\treturn 0\n}\n", got)
	for _, scaffold := range []string{Guided, Outline} {
		got = string(level{scaffold: scaffold, fill: []string{"lab9"}}.skeleton(lines, rs))
		assert.Equal(t, "package p\n\nfunc f() int {\n\t// TODO(lab9): do it\n\treturn 42\n}\n", got, scaffold)
	}
	assert.Equal(t, "it", level{scaffold: Guided}.tasks("p.go", lines, rs)[0].what())
	assert.Equal(t, "f", level{scaffold: Outline}.tasks("p.go", lines, rs)[0].what())
}

// TestStubDiscipline: mklabs refuses a stub of another form, a TODO that
// names what only the solution declares, and a skeleton called a reference.
func TestStubDiscipline(t *testing.T) {
	for _, bad := range []struct{ src, err string }{
		{"package p\n\nfunc f() int {\n\t// TODO(lab9): do it\n\t//lab:begin lab9 1\n\treturn 42\n\t//lab:else\n\t// return 0\n\t//lab:end\n}\n", "the stub must be todo.Missing"},
		{"package p\n\nfunc f() int {\n\t// TODO(lab9): do it\n\t//lab:begin lab9 1\n\treturn 42\n\t//lab:else\n\t// todo.Missing(\"lab8\", \"it\")\n\t// return 0\n\t//lab:end\n}\n", "the stub must be todo.Missing"},
		{"package p\n\nfunc f() int {\n\t// TODO(lab9): do it\n\t//lab:begin lab9 1\n\treturn 42\n\t//lab:else\n\t// panic(\"TODO(lab9)\")\n\t//lab:end\n}\n", "the stub must be todo.Missing"},
		{"package p\n\nfunc f() int {\n\t//lab:begin lab9 1\n\treturn 42\n\t//lab:else\n\t// todo.Missing(\"lab9\", \"it\")\n\t// return 0\n\t//lab:end\n}\n", `needs a "TODO(lab9):" comment`},
		{"package p\n\nfunc f() int {\n\t// TODO(lab9): count with totalCount, then return it\n\t//lab:begin lab9 1\n\ttotalCount := 42\n\treturn totalCount\n\t//lab:else\n\t// todo.Missing(\"lab9\", \"it\")\n\t// return 0\n\t//lab:end\n}\n", `names "totalCount", which only the solution declares`},
		{"// Package p is lab 9's reference.\npackage p\n", "its package doc says \"reference\""},
	} {
		dir := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "p"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "p", "p.go"), []byte(bad.src), 0o644))
		_, err := generate(dir, level{scaffold: Guided})
		assert.ErrorContains(t, err, bad.err, bad.src)
	}
}

// TestCSkeleton: a C solution's fixture code (#ifdef DEFECT_...) and its
// instructor notes (//solution:begin ... end) are left out of its skeleton,
// its regions become todo_missing stubs, and the file opens with its tasks
// and its given functions. A C stub of another form is refused.
func TestCSkeleton(t *testing.T) {
	src := `/*
 * x.c: a program.
 */
//solution:begin
/* DEFECT_LOUD: shouts (a fixture) */
//solution:end
#include "todo.h"

static int helper(void) { return 1; }

static int answer(int x) {
#ifdef DEFECT_LOUD
    puts("LOUD");
#endif
    // TODO(lab9): return the answer.
    //lab:begin lab9 1
    return 42 + x * helper();
    //lab:else
    // todo_missing("lab9", "the answer");
    // return -1;
    //lab:end
}
`
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "c"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c", "x.c"), []byte(src), 0o644))
	k, err := generate(dir, level{scaffold: Guided, track: course.Tracks[1]})
	require.NoError(t, err)
	got := string(k.files["c/x.c"])
	assert.NotContains(t, got, "DEFECT")
	assert.NotContains(t, got, "solution:")
	assert.NotContains(t, got, "42 + x")
	assert.Contains(t, got, "    // TODO(lab9): return the answer.\n    todo_missing(\"lab9\", \"the answer\");\n    return -1;\n}\n")
	assert.Contains(t, got, "//   - answer (lab 9, task 1 of 1): the answer\n")
	assert.Contains(t, got, "Given, to read and call, not to change: helper.")
	assert.Contains(t, string(k.files["c/tasks.tsv"]), "labs/c/x.c\tanswer\ttodo_missing(\"lab9\", \"the answer\");")
	assert.NotContains(t, k.files, "c/README.md/x", "only the C track's files")
	filled, err := generate(dir, level{scaffold: Guided, track: course.Tracks[1], fill: []string{"lab9"}})
	require.NoError(t, err)
	assert.Contains(t, string(filled.files["c/x.c"]), "return 42 + x * helper();")

	bad := strings.Replace(src, `todo_missing("lab9"`, `todo_missing("lab8"`, 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c", "x.c"), []byte(bad), 0o644))
	_, err = generate(dir, level{scaffold: Guided, track: course.Tracks[1]})
	assert.ErrorContains(t, err, `(in C, todo_missing("lab9", "what");)`)
}

// TestOutline: the outline kit leaves the design to the student. Filled, it
// is the guided kit filled, line for line (which TestFillingRaisesScore
// grades to full marks); lab 2 keeps at most 70% of the guided kit's lines.
func TestOutline(t *testing.T) {
	src := filepath.Join(root, "solutions")
	all := []string{"lab1", "lab2", "lab3"}
	g, err := generate(src, level{scaffold: Guided, fill: all})
	require.NoError(t, err)
	o, err := generate(src, level{scaffold: Outline, fill: all})
	require.NoError(t, err)
	for rel, b := range g.files {
		if rel != "tasks.tsv" {
			assert.Equal(t, string(b), string(o.files[rel]), rel)
		}
	}
	g, err = generate(src, level{scaffold: Guided})
	require.NoError(t, err)
	o, err = generate(src, level{scaffold: Outline})
	require.NoError(t, err)
	count := func(k *kit, lab string) (n int) {
		files := map[string]bool{}
		for _, t := range k.tasks[lab] {
			files[t.file] = true
		}
		for f := range files {
			n += strings.Count(string(k.files[f]), "\n")
		}
		return n
	}
	gl, ol := count(g, "lab2"), count(o, "lab2")
	t.Logf("lab 2: %d lines in the guided kit's files, %d in the outline's (%.0f%%)", gl, ol, 100*float64(ol)/float64(gl))
	assert.LessOrEqual(t, ol*100, gl*70, "outline lab 2 keeps more than 70%% of guided's lines")
	assert.Greater(t, len(o.tasks["lab2"]), len(g.tasks["lab2"]))
	assert.Contains(t, string(o.files["server/child.go"]), `todo.Missing("lab2", "the child's loop")`)
	assert.NotContains(t, string(o.files["server/child.go"]), "if kick, c.recheck = c.drain.Observe(")
}

// TestFillingRaisesScore generates the skeletons into a copy of the module,
// with the regions of 0, 1, 2 and 3 labs filled with the reference code,
// and grades each: the untouched skeletons score little, quickly, and each
// lab filled takes its own lab to full marks. The C track's skeletons the
// same, with every lab filled at once (grading them all in one step).
func TestFillingRaisesScore(t *testing.T) {
	goTrack, cTrack := course.Tracks[0], course.Tracks[1]
	for _, step := range []struct {
		track    course.Track
		scaffold string
		fill     string
		lab      string
		min      int // the lab's score must reach this
		max      int // and stay at or below this
	}{
		{goTrack, Guided, "", "client", 0, 3},
		{goTrack, Guided, "", "server", 0, 3},
		{goTrack, Guided, "", "shm", 0, 3},
		{goTrack, Outline, "lab1", "server", 0, 3},
		{goTrack, Outline, "lab1", "shm", 0, 3},
		{goTrack, Guided, "lab1", "client", suite.Points("client"), suite.Points("client")},
		{goTrack, Guided, "lab1,lab2", "server", suite.Points("server"), suite.Points("server")},
		{goTrack, Guided, "lab1,lab2,lab3", "shm", suite.Points("shm"), suite.Points("shm")},
		{cTrack, Guided, "", "client", 0, 3},
		{cTrack, Guided, "", "server", 0, 3},
		{cTrack, Guided, "", "shm", 0, 3},
		{cTrack, Outline, "lab1", "server", 0, 3},
		{cTrack, Outline, "lab1", "shm", 0, 3},
		{cTrack, Guided, "lab1,lab2,lab3", "all", suite.Points("all"), suite.Points("all")},
	} {
		t.Run(step.track.Name+"/"+step.scaffold+"/fill="+step.fill+"/"+step.lab, func(t *testing.T) {
			bins := buildLabs(t, step.track, step.scaffold, step.fill)
			tests, err := suite.Select(step.lab, "")
			require.NoError(t, err)
			cfg := suite.Config{Server: []string{bins["server"]}, ShmServer: []string{bins["shm"]}, Client: []string{bins["client"]}}
			var results []suite.Result
			for _, test := range tests {
				results = append(results, suite.Run(test, cfg, 1))
			}
			score, _ := report.Totals(results)
			var out strings.Builder
			report.Summary(&out, results)
			t.Logf("%s %s kit, labs filled: %q\n%s", step.track.Name, step.scaffold, step.fill, out.String())
			assert.GreaterOrEqual(t, score, step.min)
			assert.LessOrEqual(t, score, step.max)
		})
	}
}

// buildLabs writes the skeletons of track (with fill's regions kept) into a
// copy of the module and builds the three programs as the grader does, by
// lab name.
func buildLabs(t *testing.T, track course.Track, scaffold, fill string) map[string]string {
	t.Helper()
	dir := writeKit(t, track, scaffold, fill)
	bins := map[string]string{}
	for _, l := range course.Labs {
		bins[l.Name] = buildIn(t, dir, track, l, fill)
	}
	return bins
}

// writeKit writes the skeletons of track at scaffolding level scaffold, with
// fill's regions kept, into a copy of the module, and returns its folder.
func writeKit(t *testing.T, track course.Track, scaffold, fill string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chatlab-labs-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	k, err := generate(filepath.Join(root, "solutions"), level{scaffold: scaffold, fill: strings.Split(fill, ","), track: track})
	require.NoError(t, err)
	for rel, b := range k.files {
		path := filepath.Join(dir, "labs", rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	return dir
}

// buildIn builds lab's program of track in the kit dir as the grader does
// (course.Track.BuildCommand; C's with -Werror added to the kit's flags: a
// skeleton must build without a warning), and returns its path.
func buildIn(t *testing.T, dir string, track course.Track, l course.Lab, fill string) string {
	t.Helper()
	t.Setenv("CFLAGS", course.CFlags+" -Werror")
	out := filepath.Join(dir, "lab_"+l.Name)
	argv := track.BuildCommand(l, "labs", out)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "the %s skeleton of lab %s (fill %q) does not build:\n%s", track.Name, l.Name, fill, msg)
	return out
}

// TestTaskOrder: tasks are numbered in the order a running program reaches
// them. For each task k of each lab, in both tracks, the guided skeleton
// with tasks 1..k-1 written (and the labs before) is built and run through
// tests that reach every task of the lab: the first TODO line it stops at
// must be task k's.
func TestTaskOrder(t *testing.T) {
	probes := map[string]string{ // tests that reach every task of a lab
		"client": "^client/escapes$",
		"server": "^server/(relay|zombies)$",
		"shm":    "^shm/idle-timeout$",
	}
	for _, track := range course.Tracks {
		k, err := generate(filepath.Join(root, "solutions"), level{scaffold: Guided, track: track})
		require.NoError(t, err)
		var before []string // the labs before this one: written
		for _, l := range course.Labs {
			lab := fmt.Sprintf("lab%d", l.Number)
			tests, err := suite.Select(l.Name, probes[l.Name])
			require.NoError(t, err)
			for i, task := range k.tasks[lab] {
				fill := slices.Clone(before)
				for j := 1; j <= i; j++ {
					fill = append(fill, fmt.Sprintf("%s.%d", lab, j))
				}
				t.Run(fmt.Sprintf("%s/%s/task%d", track.Name, l.Name, i+1), func(t *testing.T) {
					f := strings.Join(fill, ",")
					bin := buildIn(t, writeKit(t, track, Guided, f), track, l, f)
					cfg := suite.Config{Server: []string{bin}, ShmServer: []string{bin}, Client: []string{bin}}
					stopped := ""
					for _, test := range tests {
						if stopped = suite.TodoLine(suite.Run(test, cfg, 1).Stderr); stopped != "" {
							break
						}
					}
					assert.Contains(t, stopped, fmt.Sprintf("TODO(%s): %s (", lab, task.what()),
						"with tasks 1..%d of %s written, the program must stop at task %d (%s, %s)", i, lab, i+1, task.file, task.fn)
				})
			}
			before = append(before, lab)
		}
	}
}
