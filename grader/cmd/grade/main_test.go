package main

import (
	"chatlab/grader/course"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"chatlab/grader/harness"
	"chatlab/grader/suite"

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
		msg, err := exec.Command("gcc", "-O2", "-DDEFECT_ECHO", "-o", echoBin, filepath.Join(root, "solutions/c/serveur.c")).CombinedOutput()
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
	// A bound, not a synchronisation: a batch of five students, every lab,
	// two at a time, took 96 s alone (2 cores, without -race), more under
	// the race detector and CI's load.
	require.True(t, p.Wait(300e9), "grade did not finish within 5 min")
	p.KillTree()
	return p.Stdout(), p.Stderr(), p.ExitState().ExitCode()
}

func TestFullMarksExitZero(t *testing.T) {
	dir := t.TempDir()
	gs, rec := filepath.Join(dir, "results.json"), filepath.Join(dir, "record.json")
	out, errOut, status := grade(t, "-lab", "client,server", "-server", serverBin, "-client", clientBin,
		"-gradescope", gs, "-json", rec, "-autolab")
	require.Equal(t, 0, status, "stdout:\n%s\nstderr:\n%s", out, errOut)
	full, client, server := suite.Points("client,server"), suite.Points("client"), suite.Points("server")
	assert.Contains(t, out, fmt.Sprintf("total       %3d/%-3d points", full, full))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, fmt.Sprintf(`{"scores":{"client":%d,"server":%d}}`, client, server), lines[len(lines)-1], "Autolab reads the last line")

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
	assert.Equal(t, float64(full), *results.Score)
	tests, _ := suite.Select("client,server", "")
	assert.Len(t, results.Tests, len(tests))
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
	assert.Equal(t, full, record.Score)
	assert.NotEmpty(t, record.Tests[0].Notes, "the record says what each test did")
}

// TestVerbose: -v shows what each test did and each connection's
// transcript, and (run as root) that the programs ran as nobody.
func TestVerbose(t *testing.T) {
	out, errOut, status := grade(t, "-lab", "client,server", "-server", serverBin, "-client", clientBin,
		"-run", "^(client/connect|server/welcome)$", "-v")
	require.Equal(t, 0, status, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, ". server/welcome: 1 step as written in grader/suite/testdata/welcome.chat")
	assert.Contains(t, out, `<< "* welcome user1"`, "-v shows each connection's transcript")
	if os.Geteuid() == 0 {
		assert.Contains(t, out, "uid 65534", "run as root, the grader runs programs as nobody")
	}
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
	assert.Equal(t, 2.0, results.Score, "server/welcome's 2 points")
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

// TestBudget: once the run's time is spent, each test not started yet is
// shown as NOT RUN, with a line saying why, and the run fails; with
// -repeat, the default budget is multiplied (make grade-many N=20 took
// more than 10 min under two CPU hogs, and lost its last five tests).
func TestBudget(t *testing.T) {
	out, errOut, status := grade(t, "-lab", "server", "-server", serverBin, "-run", "relay|no-echo", "-budget", "1ns")
	assert.Equal(t, 1, status)
	assert.Contains(t, errOut, "(-budget 1ns) is spent")
	assert.Regexp(t, `(?m)^NOT RUN server/relay`, out)
	assert.Regexp(t, `(?m)^NOT RUN server/no-echo`, out)
	out, errOut, status = grade(t, "-lab", "server", "-server", serverBin, "-run", "relay", "-repeat", "2")
	assert.Equal(t, 0, status, out)
	assert.NotContains(t, errOut, "is spent")
}

// TestBatch grades a folder of five submissions, two at a time, and checks
// the gradebook: the reference code, the untouched skeletons, two broken
// variants of the reference, and one that does not compile.
func TestBatch(t *testing.T) {
	subs := sharedTemp(t, "chatlab-subs-")
	root, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	filled := func(name string) string {
		dir := filepath.Join(subs, name, "labs")
		cmd := exec.Command("go", "run", "./grader/cmd/mklabs", "-fill", "lab1,lab2,lab3", "-labs", dir)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return dir
	}
	edit := func(path, old, new string) {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Contains(t, string(b), old)
		require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
	}
	filled("ada")
	out, err := exec.Command("cp", "-r", filepath.Join(root, "labs"), filepath.Join(subs, "bea")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	edit(filepath.Join(filled("cyd"), "server", "mainproc.go"), "signal.Ignore(unix.SIGPIPE)", "signal.Reset(unix.SIGPIPE)")
	edit(filepath.Join(filled("dan"), "server", "mainproc.go"), "if c != except && !c.gone {", "if !c.gone {")
	edit(filepath.Join(filled("eve"), "client", "main.go"), "func main() {", "func main() { undefined()")

	gradebook := filepath.Join(subs, "out")
	rows := gradeBatch(t, subs, gradebook)
	require.Len(t, rows, 6, "a header and a row per student")
	header := rows[0]
	zero := map[string][]string{} // student -> the tests that scored nothing
	total := map[string]string{}
	note := map[string]string{}
	for _, row := range rows[1:] {
		for i, cell := range row[1 : len(row)-3] {
			if cell == "0" {
				zero[row[0]] = append(zero[row[0]], header[i+1])
			}
		}
		total[row[0]], note[row[0]] = row[len(row)-3], row[len(row)-1]
	}
	t.Logf("totals: %v", total)
	assert.Equal(t, strconv.Itoa(suite.Points("all")), total["ada"])
	assert.Empty(t, zero["ada"])
	assert.Less(t, atoi(total["bea"]), 10)
	if !assert.Equal(t, []string{"server/sigpipe-stdio"}, zero["cyd"]) {
		logRecord(t, filepath.Join(gradebook, "cyd.json"))
	}
	if !assert.Equal(t, []string{"server/no-echo"}, zero["dan"]) {
		logRecord(t, filepath.Join(gradebook, "dan.json"))
	}
	clientTests, _ := suite.Select("client", "")
	assert.Len(t, zero["eve"], len(clientTests), "every client test fails")
	assert.Contains(t, note["eve"], "client does not build")
	assert.Contains(t, note["eve"], "undefined")
	for _, name := range []string{"ada", "bea", "cyd", "dan", "eve"} {
		assert.FileExists(t, filepath.Join(gradebook, name+".json"))
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// TestPrivateHome: run as root with the programs in a folder only root may
// enter (a kit under /root in a container), the grader grades copies that
// user nobody can run, and says so, instead of stopping.
func TestPrivateHome(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the programs under test run as nobody only when the grader runs as root")
	}
	home, err := os.MkdirTemp("", "chatlab-home-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(home) })
	require.NoError(t, os.Chmod(home, 0o700))
	private := filepath.Join(home, "chat_server")
	b, err := os.ReadFile(serverBin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(private, b, 0o755))
	out, errOut, status := grade(t, "-lab", "server", "-server", private, "-run", "relay")
	assert.Equal(t, 0, status, "%s\n%s", out, errOut)
	assert.Contains(t, errOut, "grading a copy")
	assert.Contains(t, out, "PASS    server/relay")
}

// TestNextStep: the next step is the first task of the lab in progress whose
// stub is still in its file; once none is, the first failure.
func TestNextStep(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "labs")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "client"), 0o755))
	tsv := "# header\n" +
		"1\tclient\t1\t2\tlabs/client/main.go\tconnectTo\ttodo.Missing(\"lab1\", \"connect\")\n" +
		"1\tclient\t2\t2\tlabs/client/main.go\tchat\ttodo.Missing(\"lab1\", \"loop\")\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tasks.tsv"), []byte(tsv), 0o644))
	src := filepath.Join(dir, "client", "main.go")
	tests, err := suite.Select("client", "")
	require.NoError(t, err)
	results := []suite.Result{{Test: tests[0], Status: suite.Pass, Score: tests[0].Points}, {Test: tests[1], Status: suite.Fail}}
	assert.Equal(t, "client", inProgress(results))

	require.NoError(t, os.WriteFile(src, []byte("todo.Missing(\"lab1\", \"connect\")\ntodo.Missing(\"lab1\", \"loop\")\n"), 0o644))
	assert.Equal(t, "next: labs/client/main.go, connectTo (lab 1, task 1 of 2)", nextStep(dir, course.Tracks[0], "client", results))
	require.NoError(t, os.WriteFile(src, []byte("written\ntodo.Missing(\"lab1\", \"loop\")\n"), 0o644))
	assert.Equal(t, "next: labs/client/main.go, chat (lab 1, task 2 of 2)", nextStep(dir, course.Tracks[0], "client", results))
	require.NoError(t, os.WriteFile(src, []byte("all written\n"), 0o644))
	assert.Equal(t, "next: every task of lab client is written; fix "+tests[1].Name+" first (its failure is above)", nextStep(dir, course.Tracks[0], "client", results))

	results[1] = suite.Result{Test: tests[1], Status: suite.Pass, Score: tests[1].Points}
	assert.Equal(t, "", inProgress(results))
	assert.Equal(t, "next: nothing: every lab graded is at full marks", nextStep(dir, course.Tracks[0], "", results))
	assert.Equal(t, "TODO(lab1): x (labs/a.go, f): not written yet", suite.TodoLine("noise\nTODO(lab1): x (labs/a.go, f): not written yet\n"))
}

// sharedTemp makes a temporary folder that the user nobody (who runs the
// programs under test when the tests run as root) may enter, removed when t
// ends.
func sharedTemp(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// gradeBatch runs grade -batch over subs (with flags), writing into out, and
// returns the rows of its gradebook.csv.
func gradeBatch(t *testing.T, subs, out string, flags ...string) [][]string {
	t.Helper()
	stdout, stderr, status := grade(t, append([]string{"-batch", subs, "-out", out, "-jobs", "2"}, flags...)...)
	require.Equal(t, 0, status, "%s\n%s", stdout, stderr)
	f, err := os.Open(filepath.Join(out, "gradebook.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	return rows
}

// logRecord logs a student's -json record of a batch, so that a failure
// says what the grader saw.
func logRecord(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("%s: %v", path, err)
		return
	}
	t.Logf("%s:\n%s", path, b)
}

// TestBatchC grades C submissions (-batch -lang c): the C reference code,
// handed in as a labs/c folder, gets full marks; bare files whose client
// does not compile lose the client's tests only, with a note; a student who
// hands in the .c files but not the .h files with lab 2's tasks is told
// that the skeleton's headers were graded.
func TestBatchC(t *testing.T) {
	subs := sharedTemp(t, "chatlab-subs-c-")
	root, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	cmd := exec.Command("go", "run", "./grader/cmd/mklabs", "-lang", "c", "-handouts", "", "-fill", "lab1,lab2,lab3", "-labs", filepath.Join(subs, "ada", "labs"))
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	files, err := filepath.Glob(filepath.Join(subs, "ada", "labs", "c", "*.[ch]"))
	require.NoError(t, err)
	for _, who := range []string{"bob", "carl"} {
		require.NoError(t, os.MkdirAll(filepath.Join(subs, who), 0o755))
	}
	for _, path := range files {
		f := filepath.Base(path)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		if strings.HasSuffix(f, ".c") {
			require.NoError(t, os.WriteFile(filepath.Join(subs, "carl", f), b, 0o644))
		}
		if f == "client.c" {
			b = append(b, "\nint broken(void) { return undefined_thing; }\n"...)
		}
		require.NoError(t, os.WriteFile(filepath.Join(subs, "bob", f), b, 0o644))
	}

	rows := gradeBatch(t, subs, filepath.Join(subs, "out"), "-lang", "c")
	require.Len(t, rows, 4, "a header and a row per student")
	all := strconv.Itoa(suite.Points("all"))
	assert.Equal(t, "ada", rows[1][0])
	assert.Equal(t, all, rows[1][len(rows[1])-3], "the C reference code: full marks")
	assert.Empty(t, rows[1][len(rows[1])-1], "ada: no note")
	assert.Equal(t, strconv.Itoa(suite.Points("all")-suite.Points("client")), rows[2][len(rows[2])-3], "bob loses the client's points only")
	assert.Contains(t, rows[2][len(rows[2])-1], "c/client.c does not build")
	assert.Contains(t, rows[2][len(rows[2])-1], "undefined_thing")
	assert.NotContains(t, rows[2][len(rows[2])-1], "not handed in")
	assert.Equal(t, "carl", rows[3][0])
	assert.Equal(t, strconv.Itoa(suite.Points("client")), rows[3][len(rows[3])-3], "carl: the skeleton's sockets.h stops both servers")
	assert.Contains(t, rows[3][len(rows[3])-1], "not handed in, so the kit's skeleton with its TODOs was graded: c/procs.h, c/sockets.h")
}
