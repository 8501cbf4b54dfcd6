// Package kit_test checks the student kit that make handout builds.
package kit_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

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
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
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
	dist, err := os.MkdirTemp("", "chatlab-dist-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dist) })
	require.NoError(t, os.Chmod(dist, 0o755)) // the grader runs programs as nobody
	make := exec.Command("make", "-s", "-C", root, "handout", "DIST="+dist)
	out, err := make.CombinedOutput()
	require.NoError(t, err, "make handout:\n%s", out)

	unpacked := filepath.Join(dist, "unpacked")
	require.NoError(t, os.MkdirAll(unpacked, 0o755))
	out, err = exec.Command("tar", "-xzf", filepath.Join(dist, "chatlab-student.tar.gz"), "-C", unpacked).CombinedOutput()
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
	for _, ref := range []string{"chat_server_ref", "chat_server_shm_ref", "chat_client_ref"} {
		assert.FileExists(t, filepath.Join(kit, "bin", ref))
	}

	// The student's first run: builds, grades, scores low, says what to do.
	grade := exec.Command("make", "-s", "grade", "LAB=client")
	grade.Dir = kit
	out, _ = grade.CombinedOutput()
	assert.Equal(t, 2, grade.ProcessState.ExitCode(), "make grade exits 2 when grade exits 1:\n%s", out)
	assert.Contains(t, string(out), "lab client    2/20")
	assert.Contains(t, string(out), "TODO(lab1)")
}
