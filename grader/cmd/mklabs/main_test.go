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
	files, err := generate(filepath.Join(root, "solutions"), nil)
	require.NoError(t, err)
	assert.Empty(t, compare(filepath.Join(root, "labs"), files), "run make labs")
	for rel, b := range files {
		assert.NotContains(t, string(b), "//lab:", "%s: a marker was left in", rel)
		assert.NotContains(t, string(b), "chatlab/solutions/", "%s: imports the solutions", rel)
	}
}

// TestHandoutTables: each handout's grading table is the grader's.
func TestHandoutTables(t *testing.T) {
	tasks, err := todoTasks(filepath.Join(root, "solutions"))
	require.NoError(t, err)
	require.NoError(t, generatedSections(filepath.Join(root, "handouts"), true, tasks))
	assert.Contains(t, tasks["lab1"], "`labs/client/main.go`, `connectTo`: create a TCP socket")
	b, err := os.ReadFile(filepath.Join(root, "handouts", "lab3-shm.md"))
	assert.Contains(t, string(b), tasks["lab3"])
	require.NoError(t, err)
	assert.Contains(t, string(b), report.Table("shm"))
}

func TestSkeletonRegions(t *testing.T) {
	src := []byte("package p\n\nfunc f() int {\n\t// TODO(lab9): do it\n\t//lab:begin lab9\n\treturn 42\n\t//lab:else\n\t// return 0\n\t//lab:end\n}\n")
	got, err := skeleton(src, nil)
	require.NoError(t, err)
	assert.Equal(t, "package p\n\nfunc f() int {\n\t// TODO(lab9): do it\n\treturn 0\n}\n", string(got))
	got, err = skeleton(src, []string{"lab9"})
	require.NoError(t, err)
	assert.Contains(t, string(got), "return 42")
	_, err = skeleton([]byte("//lab:begin lab1\nx\n"), nil)
	assert.ErrorContains(t, err, "without //lab:end")
}

// TestFillingRaisesScore generates the skeletons into a copy of the module,
// with the regions of 0, 1, 2 and 3 labs filled with the reference code,
// and grades each: the untouched skeletons score little, quickly, and each
// lab filled takes its own lab to full marks.
func TestFillingRaisesScore(t *testing.T) {
	for _, step := range []struct {
		fill string
		lab  string
		min  int // the lab's score must reach this
		max  int // and stay at or below this
	}{
		{"", "client,server,shm", 0, 10},
		{"lab1", "client", suite.Points("client"), suite.Points("client")},
		{"lab1,lab2", "server", suite.Points("server"), suite.Points("server")},
		{"lab1,lab2,lab3", "shm", suite.Points("shm"), suite.Points("shm")},
	} {
		t.Run("fill="+step.fill, func(t *testing.T) {
			bins := buildLabs(t, step.fill)
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
			t.Logf("labs filled: %q\n%s", step.fill, out.String())
			assert.GreaterOrEqual(t, score, step.min)
			assert.LessOrEqual(t, score, step.max)
		})
	}
}

// buildLabs writes the skeletons (with fill's regions kept) into a copy of
// the module and builds the three programs.
func buildLabs(t *testing.T, fill string) map[string]string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chatlab-labs-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	files, err := generate(filepath.Join(root, "solutions"), strings.Split(fill, ","))
	require.NoError(t, err)
	for rel, b := range files {
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
