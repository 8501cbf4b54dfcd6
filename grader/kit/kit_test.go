// Package kit_test checks the student kit that make handout builds.
package kit_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"chatlab/grader/course"
	"chatlab/grader/suite"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var root = filepath.Join("..", "..")

// solutionLines returns the significant lines of code inside the marked
// regions of solutions/ that appear nowhere outside them: what students must
// write and the kit must not hold.
func solutionLines(t *testing.T) []string {
	var lines []string
	outside := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "solutions"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, ".c") {
			return err
		}
		b, err := os.ReadFile(path)
		in := false
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, "//lab:begin"):
				in = true
			case l == "//lab:else":
				in = false
			case in && len(l) >= 30 && !strings.HasPrefix(l, "//"):
				lines = append(lines, l)
			case !in:
				outside[l] = true
			}
		}
		return err
	})
	require.NoError(t, err)
	lines = slices.DeleteFunc(lines, func(l string) bool { return outside[l] })
	require.NotEmpty(t, lines)
	return lines
}

func TestHandout(t *testing.T) {
	dist, out := makeDist(t, "handout")

	unpacked := filepath.Join(dist, "unpacked")
	require.NoError(t, os.MkdirAll(unpacked, 0o755))
	out, err := exec.Command("tar", "-xzf", filepath.Join(dist, "chatlab-student.tar.gz"), "-C", unpacked).CombinedOutput()
	require.NoError(t, err, "%s", out)
	kit := filepath.Join(unpacked, "chatlab")

	secret := solutionLines(t)
	var texts int
	err = filepath.WalkDir(kit, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(kit, path)
		assert.False(t, strings.HasPrefix(rel, "solutions"), "%s: solutions in the kit", rel)
		assert.False(t, strings.HasSuffix(rel, "_test.go"), "%s: a test of the answer key", rel)
		b, err := os.ReadFile(path)
		if err != nil || !utf8.Valid(b) {
			return err // a binary: the provided reference programs
		}
		texts++
		for _, line := range secret {
			if strings.Contains(string(b), line) {
				t.Errorf("%s holds solution code: %q", rel, line)
			}
		}
		assert.NotContains(t, string(b), "//lab:", rel)
		return nil
	})
	require.NoError(t, err)
	t.Logf("%d text files checked against %d lines of solution code", texts, len(secret))
	for _, ref := range []string{"chat_server", "chat_server_shm", "chat_server_epoll", "chat_client"} {
		assert.FileExists(t, filepath.Join(kit, "bin", ref))
	}
	// Every command the student's texts show exists in the kit.
	built := map[string]bool{}
	ents, _ := os.ReadDir(filepath.Join(kit, "bin"))
	for _, e := range ents {
		built[e.Name()] = true
	}
	checkCommands(t, kit, []string{"README.md", "handouts/protocol.md", "handouts/lab1-client.md", "handouts/lab2-server.md", "handouts/lab3-shm.md"}, built)

	// The student's first run: builds, grades, scores low, shows only the
	// lab in progress, says what to do next.
	out, status := makeGrade(t, kit, "make grade in the kit")
	assert.Equal(t, 2, status, "make grade exits 2 when grade exits 1:\n%s", out)
	for _, lab := range suite.Labs {
		assert.Regexp(t, fmt.Sprintf(`(?m)^lab %s +[0-9]+/%d `, lab, suite.Points(lab)), string(out))
	}
	assert.Contains(t, string(out), "TODO(lab1): socket and connect (labs/client/main.go, connectTo): not written yet")
	assert.NotContains(t, string(out), "server/relay", "the details of a lab not in progress")
	assert.Regexp(t, `(?m)^next: labs/client/main.go, connectTo \(lab 1, task 1 of 3\)$`, string(out))
	assert.Less(t, strings.Count(string(out), "\n"), 60, "one screen or so")
	// A lab that does not compile fails its own tests, with the compiler's
	// output; the others are graded all the same.
	child := filepath.Join(kit, "labs", "server", "child.go")
	orig := readFile(t, child)
	require.NoError(t, os.WriteFile(child, []byte(orig+"\nfunc broken() { undefinedThing() }\n"), 0o644))
	out, _ = makeGrade(t, kit, "make grade with labs/server not compiling")
	assert.Contains(t, string(out), "undefined: undefinedThing")
	assert.Regexp(t, fmt.Sprintf(`(?m)^lab client +[0-9]+/%d `, suite.Points("client")), string(out), "lab 1 is graded all the same")
	assert.Regexp(t, `(?m)^next: labs/client/main.go, connectTo`, string(out))
	out, _ = makeGrade(t, kit, "make grade LAB=server", "LAB=server")
	assert.Regexp(t, `(?m)^next: make lab server compile`, string(out))
	require.NoError(t, os.WriteFile(child, []byte(orig), 0o644))

	head, _, _ := strings.Cut(readFile(t, filepath.Join(kit, "labs", "sockets", "sockets.go")), "package sockets")
	assert.Contains(t, head, "Listen (lab 2, task 2 of 7): socket, bind and listen", "the file opens with the student's tasks")
	assert.Contains(t, head, "Given, to read and call, not to change: AddrString")

	// make bench loads the student's server beside the references: theirs
	// (a skeleton) fails, the references deliver everything.
	bench := exec.Command("make", "-s", "bench", "BENCH_N=3", "BENCH_FLAGS=-runs 1 -duration 300ms -mode class")
	bench.Dir = kit
	out, _ = bench.CombinedOutput()
	t.Logf("make bench in the kit:\n%s", out)
	assert.Equal(t, 2, bench.ProcessState.ExitCode(), "the skeleton's failure is reported:\n%s", out)
	assert.Regexp(t, `(?m)^\s+shm\s+3\s+class .* ok$`, string(out))
	assert.Regexp(t, `(?m)^\s+epoll\s+3\s+class .* ok$`, string(out))
	assert.Regexp(t, `(?m)^\s+mine\s+3\s+class .* FAILED$`, string(out))
}

// makeDist runs make TARGET (handout or gradescope) with args into a fresh
// DIST folder that the grader's user nobody may enter, removed when t ends;
// it returns the folder and make's output.
func makeDist(t *testing.T, target string, args ...string) (string, []byte) {
	t.Helper()
	dist, err := os.MkdirTemp("", "chatlab-dist-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dist) })
	require.NoError(t, os.Chmod(dist, 0o755)) // the grader runs programs as nobody
	out, err := exec.Command("make", append([]string{"-s", "-C", root, target, "DIST=" + dist}, args...)...).CombinedOutput()
	require.NoError(t, err, "make %s %s:\n%s", target, strings.Join(args, " "), out)
	return dist, out
}

// makeGrade runs the student's make grade (with args) in kit, logs its
// output under what, and returns the output and make's exit status.
func makeGrade(t *testing.T, kit, what string, args ...string) ([]byte, int) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-s", "grade"}, args...)...)
	cmd.Dir = kit
	out, _ := cmd.CombinedOutput()
	t.Logf("%s:\n%s", what, out)
	return out, cmd.ProcessState.ExitCode()
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestCHandout builds the C kit (make handout LANG=c): C skeletons only, no
// solution code; its make grade builds them with gcc, grades, and points at
// the first C task; a C lab that does not compile fails only its own tests;
// its Classroom workflow builds C.
func TestCHandout(t *testing.T) {
	dist, out := makeDist(t, "handout", "LANG=c")
	assert.Contains(t, string(out), "(c, guided scaffolding)")
	kit := filepath.Join(dist, "kit", "chatlab")
	for _, f := range []string{"client.c", "serveur.c", "serveur_shm.c", "todo.h", "args.h", "telnet.h", "tasks.tsv"} {
		assert.FileExists(t, filepath.Join(kit, "labs", "c", f))
	}
	assert.NoDirExists(t, filepath.Join(kit, "labs", "client"), "the C kit holds no Go skeletons")
	assert.Equal(t, "TRACK = c\n", readFile(t, filepath.Join(kit, "track.mk")))
	secret := solutionLines(t)
	for _, f := range []string{"client.c", "serveur.c", "serveur_shm.c"} {
		b := readFile(t, filepath.Join(kit, "labs", "c", f))
		for _, line := range secret {
			assert.NotContains(t, b, line, "labs/c/%s holds solution code", f)
		}
		assert.NotContains(t, b, "DEFECT_", "labs/c/%s holds the fixtures' code", f)
		assert.NotContains(t, b, "//lab:", f)
	}
	assert.Contains(t, readFile(t, filepath.Join(kit, ".github", "workflows", "classroom.yml")), "bin/grade -lang c -build labs -lab client")

	out, status := makeGrade(t, kit, "make grade in the C kit")
	assert.Equal(t, 2, status, "make grade exits 2 when grade exits 1:\n%s", out)
	for _, lab := range suite.Labs {
		assert.Regexp(t, fmt.Sprintf(`(?m)^lab %s +[0-9]+/%d `, lab, suite.Points(lab)), string(out))
	}
	assert.Contains(t, string(out), "gcc ")
	assert.Contains(t, string(out), "TODO(lab1): socket and connect (labs/c/client.c, dial): not written yet")
	assert.Regexp(t, `(?m)^next: labs/c/client.c, dial \(lab 1, task 1 of 3\)$`, string(out))

	serveur := filepath.Join(kit, "labs", "c", "serveur.c")
	orig := readFile(t, serveur)
	require.NoError(t, os.WriteFile(serveur, []byte(orig+"\nint broken(void) { return undefined_thing; }\n"), 0o644))
	out, _ = makeGrade(t, kit, "make grade with labs/c/serveur.c not compiling")
	assert.Contains(t, string(out), "undefined_thing")
	assert.Regexp(t, fmt.Sprintf(`(?m)^lab client +[0-9]+/%d `, suite.Points("client")), string(out), "lab 1 is graded all the same")
	out, _ = makeGrade(t, kit, "make grade LAB=server", "LAB=server")
	assert.Regexp(t, `(?m)^next: make lab server compile`, string(out))
	require.NoError(t, os.WriteFile(serveur, []byte(orig), 0o644))

	head, _, _ := strings.Cut(readFile(t, filepath.Join(kit, "labs", "c", "client.c")), "#include")
	assert.Contains(t, head, "dial (lab 1, task 1 of 3): socket and connect", "the file opens with the student's tasks")
}

// TestOutlineHandout builds the outline kit: the student writes lab 2's
// design (the child's loop is a stub), the kit's handouts list its tasks,
// and make grade points at the first of them.
func TestOutlineHandout(t *testing.T) {
	dist, out := makeDist(t, "handout", "SCAFFOLD=outline")
	assert.Contains(t, string(out), "(go, outline scaffolding)")
	kit := filepath.Join(dist, "kit", "chatlab")
	child := readFile(t, filepath.Join(kit, "labs", "server", "child.go"))
	assert.Contains(t, child, `todo.Missing("lab2", "the child's loop")`)
	assert.NotContains(t, child, "if kick, c.recheck = c.drain.Observe(", "the child's loop is the student's")
	lab2 := readFile(t, filepath.Join(kit, "handouts", "lab2-server.md"))
	assert.Contains(t, lab2, "`labs/server/child.go`, `run`: the child's loop")
	assert.NotContains(t, readFile(t, filepath.Join(root, "handouts", "lab2-server.md")), "`labs/server/child.go`, `run`:", "the instructor's handouts are the guided kit's")
	out, _ = makeGrade(t, kit, "make grade LAB=server in the outline kit", "LAB=server")
	assert.Regexp(t, `(?m)^next: labs/server/mainproc.go, serve \(lab 2, task 1 of [0-9]+\)$`, string(out))
	assert.Contains(t, string(out), `TODO(lab2): main's setup`)
}

// TestGradescope runs run_autograder from the zip in a fake /autograder for
// four submissions: the reference code, the untouched skeletons, one that
// does not compile, and one with nothing in it. Each must leave a valid
// results.json that says what happened.
func TestGradescope(t *testing.T) {
	dist, _ := makeDist(t, "gradescope")

	absRoot, _ := filepath.Abs(root)
	runAutograder(t, dist, []gsSubmission{
		{"reference", func(t *testing.T, dir string) {
			cmd := exec.Command("go", "run", "./grader/cmd/mklabs", "-fill", "lab1,lab2,lab3", "-labs", filepath.Join(dir, "labs"))
			cmd.Dir = absRoot
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
		}, func(t *testing.T, r gsResults) {
			assert.Equal(t, float64(suite.Points("all")), r.Score)
		}},
		{"skeletons", func(t *testing.T, dir string) {
			out, err := exec.Command("cp", "-r", filepath.Join(absRoot, "labs"), filepath.Join(dir, "labs")).CombinedOutput()
			require.NoError(t, err, "%s", out)
		}, func(t *testing.T, r gsResults) {
			assert.Less(t, r.Score, 10.0)
			all, _ := suite.Select("all", "")
			assert.Len(t, r.Tests, len(all))
		}},
		{"does-not-compile", func(t *testing.T, dir string) {
			out, err := exec.Command("cp", "-r", filepath.Join(absRoot, "labs"), filepath.Join(dir, "labs")).CombinedOutput()
			require.NoError(t, err, "%s", out)
			f := filepath.Join(dir, "labs", "client", "main.go")
			b, _ := os.ReadFile(f)
			require.NoError(t, os.WriteFile(f, append(b, []byte("\nfunc broken( {\n")...), 0o644))
		}, didNotBuild("main.go")},
		{"empty", func(t *testing.T, dir string) {}, func(t *testing.T, r gsResults) {
			assert.Equal(t, 0.0, r.Score)
			assert.Contains(t, r.Output, "the submission has no .go files of labs/")
		}},
	})
}

// TestGradescopeC is TestGradescope for the C kit (make gradescope LANG=c):
// the C reference code graded through run_autograder must get full marks,
// whether it is submitted as labs/c or as bare files.
func TestGradescopeC(t *testing.T) {
	dist, _ := makeDist(t, "gradescope", "LANG=c")

	absRoot, _ := filepath.Abs(root)
	cp := func(t *testing.T, dir string) { // the skeletons, as bare files
		files, _ := filepath.Glob(filepath.Join(absRoot, "labs", "c", "*"))
		out, err := exec.Command("cp", append(files, dir)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	runAutograder(t, dist, []gsSubmission{
		{"reference", func(t *testing.T, dir string) {
			cmd := exec.Command("go", "run", "./grader/cmd/mklabs", "-lang", "c", "-handouts", "", "-fill", "lab1,lab2,lab3", "-labs", filepath.Join(dir, "labs"))
			cmd.Dir = absRoot
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
		}, func(t *testing.T, r gsResults) {
			assert.Equal(t, float64(suite.Points("all")), r.Score)
		}},
		{"skeletons", cp, func(t *testing.T, r gsResults) {
			assert.Less(t, r.Score, 10.0)
			all, _ := suite.Select("all", "")
			assert.Len(t, r.Tests, len(all))
		}},
		{"does-not-compile", func(t *testing.T, dir string) {
			cp(t, dir)
			f := filepath.Join(dir, "client.c")
			b, _ := os.ReadFile(f)
			require.NoError(t, os.WriteFile(f, append(b, []byte("\nint broken( {\n")...), 0o644))
		}, didNotBuild("client.c")},
		{"go-files", func(t *testing.T, dir string) {
			out, err := exec.Command("cp", "-r", filepath.Join(absRoot, "labs"), filepath.Join(dir, "go")).CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "go", "c")))
		}, func(t *testing.T, r gsResults) {
			assert.Equal(t, 0.0, r.Score)
			assert.Contains(t, r.Output, "the submission has no .c or .h files of labs/c/")
		}},
	})
}

// didNotBuild checks the results of a submission whose file does not
// compile: every test is listed, and the first says so, naming the file.
func didNotBuild(file string) func(t *testing.T, r gsResults) {
	return func(t *testing.T, r gsResults) {
		all, _ := suite.Select("all", "")
		assert.Len(t, r.Tests, len(all))
		assert.Contains(t, r.Tests[0].Output, "it did not build")
		assert.Contains(t, r.Tests[0].Output, file)
	}
}

// A gsSubmission is one submission run_autograder grades in a test.
type gsSubmission struct {
	name    string
	prepare func(t *testing.T, dir string) // fills the submission folder
	check   func(t *testing.T, r gsResults)
}

// runAutograder runs run_autograder of dist/gradescope.zip in a fake
// /autograder for each submission, and checks its results.json.
func runAutograder(t *testing.T, dist string, subs []gsSubmission) {
	for _, sub := range subs {
		t.Run(sub.name, func(t *testing.T) {
			fake := filepath.Join(dist, "fake-"+sub.name)
			require.NoError(t, os.MkdirAll(filepath.Join(fake, "source"), 0o755))
			require.NoError(t, os.MkdirAll(filepath.Join(fake, "submission"), 0o755))
			out, err := exec.Command("unzip", "-q", filepath.Join(dist, "gradescope.zip"), "-d", filepath.Join(fake, "source")).CombinedOutput()
			require.NoError(t, err, "%s", out)
			sub.prepare(t, filepath.Join(fake, "submission"))
			run := exec.Command("bash", filepath.Join(fake, "source", "run_autograder"))
			run.Env = append(os.Environ(), "AUTOGRADER_ROOT="+fake)
			out, err = run.CombinedOutput()
			require.NoError(t, err, "run_autograder:\n%s", out)
			b, err := os.ReadFile(filepath.Join(fake, "results", "results.json"))
			require.NoError(t, err, "run_autograder wrote no results.json:\n%s", out)
			var r gsResults
			require.NoError(t, json.Unmarshal(b, &r), "results.json is not valid JSON:\n%s", b)
			t.Logf("%s: score %v, %d tests", sub.name, r.Score, len(r.Tests))
			sub.check(t, r)
		})
	}
}

type gsResults struct {
	Score  float64 `json:"score"`
	Output string  `json:"output"`
	Tests  []struct {
		Name   string  `json:"name"`
		Score  float64 `json:"score"`
		Output string  `json:"output"`
	} `json:"tests"`
}

// TestCommandsExist: every `make TARGET` that the instructor's texts show
// is a target of the Makefile, every bin/NAME they name is built by it, and
// every "C kit with `gcc FLAGS`" they quote gives the kit's flags
// (course.CFlags).
// (bench.md's commands are the instructor's: they are checked here, not in
// the kit.)
func TestCommandsExist(t *testing.T) {
	checkCommands(t, root, []string{"README.md", "handouts/protocol.md", "handouts/lab1-client.md",
		"handouts/lab2-server.md", "handouts/lab3-shm.md", "handouts/bench.md"}, nil)
}

var (
	makeCmdRE = regexp.MustCompile("(?m)(?:`|^)make ([a-z][a-z0-9-]*)")
	binPathRE = regexp.MustCompile(`(?:^|[\s(\x60'=$])bin/([A-Za-z0-9_][A-Za-z0-9_./-]*[A-Za-z0-9_])`)
	targetRE  = regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`)
	makeBinRE = regexp.MustCompile(`\$\(BIN\)/([A-Za-z0-9_][A-Za-z0-9_./-]*[A-Za-z0-9_])`)
	gccRE     = regexp.MustCompile("C kit with `gcc (-[^`]*)`")
)

// checkCommands checks the texts of the tree at dir against its Makefile:
// each `make TARGET` is a target, and each bin/NAME is built by the
// Makefile (or is in built: the kit's provided programs).
func checkCommands(t *testing.T, dir string, texts []string, built map[string]bool) {
	mk, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	require.NoError(t, err)
	targets := map[string]bool{}
	for _, m := range targetRE.FindAllStringSubmatch(string(mk), -1) {
		targets[m[1]] = true
	}
	bins := maps.Clone(built)
	if bins == nil {
		bins = map[string]bool{}
	}
	for _, m := range makeBinRE.FindAllStringSubmatch(string(mk), -1) {
		bins[m[1]] = true
	}
	if built == nil { // the instructor's tree: make build builds the course table's programs
		for _, l := range course.Labs {
			for _, p := range l.Programs {
				bins[p.Binary], bins[p.Reference] = true, true
			}
		}
	}
	checked := 0
	for _, name := range texts {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		for _, m := range gccRE.FindAllStringSubmatch(string(b), -1) {
			assert.Equal(t, course.CFlags, m[1], "%s: the C kit builds with gcc %s (course.CFlags)", name, course.CFlags)
			checked++
		}
		for _, m := range makeCmdRE.FindAllStringSubmatch(string(b), -1) {
			assert.True(t, targets[m[1]], "%s: `make %s` is not a target of %s/Makefile", name, m[1], filepath.Base(dir))
			checked++
		}
		for _, m := range binPathRE.FindAllStringSubmatch(string(b), -1) {
			path := m[1]
			if strings.HasPrefix(path, "fixtures/") {
				assert.True(t, targets["fixtures"], "%s: bin/%s needs make fixtures", name, path)
			} else {
				assert.True(t, bins[path], "%s: bin/%s is not built in %s", name, path, filepath.Base(dir))
			}
			checked++
		}
	}
	t.Logf("%d commands and paths checked in %d texts", checked, len(texts))
}
