package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"chatlab/grader/harness"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The grade command is tested as students and instructors run it: a binary,
// its exit status, its output and the files it writes.
var gradeBin, serverBin, clientBin, echoBin string

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, func(dir string) (err error) {
		root := filepath.Join("..", "..", "..")
		if gradeBin, err = harness.BuildGo(".", dir, "grade"); err != nil {
			return err
		}
		if serverBin, err = harness.BuildGo(filepath.Join(root, "solutions", "server"), dir, "chat_server"); err != nil {
			return err
		}
		if clientBin, err = harness.BuildGo(filepath.Join(root, "solutions", "client"), dir, "chat_client"); err != nil {
			return err
		}
		echoBin = filepath.Join(dir, "c_server_ECHO")
		msg, err := exec.Command("gcc", "-O2", "-DDEFECT_ECHO", "-o", echoBin, filepath.Join(root, "fixtures/broken/c/server.c")).CombinedOutput()
		if err != nil {
			return fmt.Errorf("gcc: %v\n%s", err, msg)
		}
		return nil
	}))
}

// grade runs the grade command and returns its stdout, stderr and status.
func grade(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	p, err := harness.Start(gradeBin, args, harness.Options{})
	require.NoError(t, err)
	require.True(t, p.Wait(120e9), "grade did not finish")
	p.KillTree()
	return p.Stdout(), p.Stderr(), p.ExitState().ExitCode()
}

func TestFullMarksExitZero(t *testing.T) {
	dir := t.TempDir()
	gs, rec := filepath.Join(dir, "results.json"), filepath.Join(dir, "record.json")
	out, errOut, status := grade(t, "-lab", "client,server", "-server", serverBin, "-client", clientBin,
		"-gradescope", gs, "-json", rec, "-autolab", "-v")
	require.Equal(t, 0, status, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "total        60/60  points")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, `{"scores":{"client":20,"server":40}}`, lines[len(lines)-1], "Autolab reads the last line")
	if os.Geteuid() == 0 {
		assert.Contains(t, out, "uid 65534", "run as root, the grader runs programs as nobody")
	}

	var results struct {
		Score         *float64 `json:"score"`
		ExecutionTime *int     `json:"execution_time"`
		Tests         []struct {
			Name       *string  `json:"name"`
			Score      *float64 `json:"score"`
			MaxScore   *float64 `json:"max_score"`
			Status     *string  `json:"status"`
			Output     *string  `json:"output"`
			Visibility *string  `json:"visibility"`
		} `json:"tests"`
	}
	b, err := os.ReadFile(gs)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &results))
	require.NotNil(t, results.Score)
	require.NotNil(t, results.ExecutionTime)
	assert.Equal(t, 60.0, *results.Score)
	assert.Len(t, results.Tests, 24)
	for _, tc := range results.Tests {
		require.NotNil(t, tc.Name)
		require.NotNil(t, tc.Score, *tc.Name)
		require.NotNil(t, tc.MaxScore, *tc.Name)
		require.NotNil(t, tc.Output, *tc.Name)
		assert.Equal(t, "passed", *tc.Status, *tc.Name)
		assert.Contains(t, []string{"hidden", "after_due_date", "after_published", "visible"}, *tc.Visibility)
	}

	var record struct {
		Score int `json:"score"`
		Tests []struct {
			Name   string   `json:"name"`
			Status string   `json:"status"`
			Notes  []string `json:"notes"`
		} `json:"tests"`
	}
	b, err = os.ReadFile(rec)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &record))
	assert.Equal(t, 60, record.Score)
	assert.NotEmpty(t, record.Tests[0].Notes, "the record says what each test did")
}

func TestFailureExitOneWithReport(t *testing.T) {
	gs := filepath.Join(t.TempDir(), "results.json")
	out, _, status := grade(t, "-lab", "server", "-server", echoBin, "-run", "no-echo|welcome", "-gradescope", gs)
	assert.Equal(t, 1, status)
	assert.Contains(t, out, "PASS    server/welcome")
	assert.Contains(t, out, "FAIL    server/no-echo")
	for _, part := range []string{"did:", "expected:", "received:", "diff", "hint:", "by hand:", "skip the sender"} {
		assert.Contains(t, out, part)
	}
	b, err := os.ReadFile(gs)
	require.NoError(t, err)
	var results struct {
		Score float64 `json:"score"`
		Tests []struct {
			Status string  `json:"status"`
			Score  float64 `json:"score"`
		} `json:"tests"`
	}
	require.NoError(t, json.Unmarshal(b, &results))
	assert.Equal(t, 3.0, results.Score)
	assert.Len(t, results.Tests, 2)
}

// TestProgramOutputCannotForgeResults: what a program prints is shown
// indented and escaped, so it cannot pass for a result line or redraw the
// terminal.
func TestProgramOutputCannotForgeResults(t *testing.T) {
	dir, err := os.MkdirTemp("", "chatlab-liar-") // nobody must reach it
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	script := filepath.Join(dir, "liar")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nprintf 'PASS    server/welcome 3/3\\n\\033[2J' >&2\nexit 1\n"), 0o755))
	out, _, status := grade(t, "-lab", "server", "-server", script, "-run", "welcome")
	assert.Equal(t, 1, status)
	assert.Contains(t, out, "| PASS    server/welcome 3/3")
	assert.NotContains(t, out, "\x1b")
	for _, line := range strings.Split(out, "\n") {
		assert.False(t, strings.HasPrefix(line, "PASS"), "forged: %q", line)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"-lab", "server"},                                    // no -server
		{"-lab", "nope", "-server", serverBin},                // no such lab
		{"-lab", "server", "-server", "/no/such/program"},     // cannot run
		{"-lab", "server", "-server", serverBin, "-run", "("}, // bad regexp
		{"-bogus"},
	} {
		_, errOut, status := grade(t, args...)
		assert.Equal(t, 2, status, "%q: %s", args, errOut)
		assert.NotEmpty(t, errOut, "%q", args)
	}
}

func TestRepeat(t *testing.T) {
	out, _, status := grade(t, "-lab", "server", "-server", serverBin, "-run", "relay", "-repeat", "3")
	assert.Equal(t, 0, status)
	assert.Contains(t, out, "(3 runs)")
}
