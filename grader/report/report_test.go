package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatlab/grader/suite"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSafeEscapesControls(t *testing.T) {
	assert.Equal(t, `a\u001b[2Jb\u000d\xff ok ✓`, safe("a\x1b[2Jb\r\xff ok ✓"))
	assert.Equal(t, "  []string{", safe("\u00a0 []string{"), "a diff's non-breaking spaces are spaces")
}

// TestGradescopeIsCompleteMidRun: written after the first of three tests,
// the file already lists all three, the ones not run as failed "not run".
func TestGradescopeIsCompleteMidRun(t *testing.T) {
	tests := []*suite.Test{
		{Name: "server/a", Lab: "server", Points: 2, What: "a"},
		{Name: "server/b", Lab: "server", Points: 3, What: "b"},
		{Name: "client/c", Lab: "client", Points: 4, What: "c"},
	}
	results := []suite.Result{{Test: tests[0], Status: suite.Pass, Score: 2, Runs: 1}}
	path := filepath.Join(t.TempDir(), "results.json")
	require.NoError(t, WriteJSON(path, NewGradescope(time.Now(), tests, results, "in progress")))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var g Gradescope
	require.NoError(t, json.Unmarshal(b, &g))
	assert.Equal(t, 2.0, g.Score)
	require.Len(t, g.Tests, 3)
	assert.Equal(t, "passed", g.Tests[0].Status)
	assert.Equal(t, "failed", g.Tests[1].Status)
	assert.Contains(t, g.Tests[2].Output, "not run")
	assert.Equal(t, 4.0, g.Tests[2].MaxScore)

	entries, _ := os.ReadDir(filepath.Dir(path))
	assert.Len(t, entries, 1, "no temporary file is left beside results.json")
}

func TestAutolabAndSummary(t *testing.T) {
	a := &suite.Test{Name: "client/a", Lab: "client", Points: 2}
	b := &suite.Test{Name: "server/b", Lab: "server", Points: 3}
	results := []suite.Result{{Test: a, Status: suite.Pass, Score: 2}, {Test: b, Status: suite.Fail}}
	assert.Equal(t, `{"scores":{"client":2,"server":0}}`, Autolab(results))
	var out strings.Builder
	Summary(&out, results)
	assert.Contains(t, out.String(), "lab client    2/2   points   1 of  1 tests passed")
	assert.Contains(t, out.String(), "total         2/5")
}
