package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	k, err := generate(filepath.Join(root, "solutions"), level{scaffold: Guided})
	require.NoError(t, err)
	assert.Empty(t, compare(filepath.Join(root, "labs"), k.files), "run make labs")
	for rel, b := range k.files {
		assert.NotContains(t, string(b), "//lab:", "%s: a marker was left in", rel)
		assert.NotContains(t, string(b), "chatlab/solutions/", "%s: imports the solutions", rel)
	}
}

// TestHandoutTables: each handout's grading table is the grader's.
func TestHandoutTables(t *testing.T) {
	k, err := generate(filepath.Join(root, "solutions"), level{scaffold: Guided})
	require.NoError(t, err)
	require.NoError(t, generatedSections(filepath.Join(root, "handouts"), true, k.markdown))
	assert.Contains(t, k.markdown("lab1"), "1. `labs/client/main.go`, `connectTo`: create a TCP socket")
	b, err := os.ReadFile(filepath.Join(root, "handouts", "lab3-shm.md"))
	assert.Contains(t, string(b), k.markdown("lab3"))
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
// lab filled takes its own lab to full marks.
func TestFillingRaisesScore(t *testing.T) {
	for _, step := range []struct {
		scaffold string
		fill     string
		lab      string
		min      int // the lab's score must reach this
		max      int // and stay at or below this
	}{
		{Guided, "", "client", 0, 3},
		{Guided, "", "server", 0, 3},
		{Guided, "", "shm", 0, 3},
		{Outline, "lab1", "server", 0, 3},
		{Outline, "lab1", "shm", 0, 3},
		{Guided, "lab1", "client", suite.Points("client"), suite.Points("client")},
		{Guided, "lab1,lab2", "server", suite.Points("server"), suite.Points("server")},
		{Guided, "lab1,lab2,lab3", "shm", suite.Points("shm"), suite.Points("shm")},
	} {
		t.Run(step.scaffold+"/fill="+step.fill+"/"+step.lab, func(t *testing.T) {
			bins := buildLabs(t, step.scaffold, step.fill)
			tests, err := suite.Select(step.lab, "")
			require.NoError(t, err)
			cfg := suite.Config{Server: []string{bins["server"]}, ShmServer: []string{bins["shmserver"]}, Client: []string{bins["client"]}}
			var results []suite.Result
			for _, test := range tests {
				results = append(results, suite.Run(test, cfg, 1))
			}
			score, _ := report.Totals(results)
			var out strings.Builder
			report.Summary(&out, results)
			t.Logf("%s kit, labs filled: %q\n%s", step.scaffold, step.fill, out.String())
			assert.GreaterOrEqual(t, score, step.min)
			assert.LessOrEqual(t, score, step.max)
		})
	}
}

// buildLabs writes the skeletons (with fill's regions kept) into a copy of
// the module and builds the three programs.
func buildLabs(t *testing.T, scaffold, fill string) map[string]string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chatlab-labs-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	k, err := generate(filepath.Join(root, "solutions"), level{scaffold: scaffold, fill: strings.Split(fill, ",")})
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
	bins := map[string]string{}
	for _, prog := range []string{"client", "server", "shmserver"} {
		out := filepath.Join(dir, "lab_"+prog)
		cmd := exec.Command("go", "build", "-o", out, "./labs/"+prog)
		cmd.Dir = dir
		msg, err := cmd.CombinedOutput()
		require.NoError(t, err, "the skeleton of %s (fill %q) does not build:\n%s", prog, fill, msg)
		bins[prog] = out
	}
	return bins
}
