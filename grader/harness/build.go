package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildGo builds the Go command in package directory pkgDir into dir and
// returns the binary's path, named name. When the calling test binary runs
// under the race detector, so does the program it builds.
func BuildGo(pkgDir, dir, name string) (string, error) {
	out := filepath.Join(dir, name)
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo())
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkgDir, err, strings.TrimSpace(string(msg)))
	}
	return out, nil
}

// cgo: the race detector needs cgo; nothing else here does.
func cgo() string {
	if raceEnabled {
		return "1"
	}
	return "0"
}

// Main runs a package's tests the way tests of programs under test need:
// Init, a temporary directory for the programs (one that user nobody may
// enter, for the grader's unprivileged runs), build(dir) to put them there,
// the tests, and the directory's removal. It returns the exit status; call
// it from TestMain as os.Exit(harness.Main(m, build)).
func Main(m interface{ Run() int }, build func(dir string) error) int {
	if err := Init(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	dir, err := os.MkdirTemp("", "chatlab-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return m.Run()
}
