package suite

import (
	"os/exec"
	"path/filepath"
	"testing"

	"chatlab/grader/harness"
)

// BenchmarkGrade measures how long grading takes, from start to verdict,
// for programs near and far from right: the reference programs (labs 1 and
// 2), a server that speaks another line format (no welcome, bare relayed
// text), a Go server that panics after accept, and lab 2's skeleton with
// only its first two tasks (listen, accept) filled in. make bench-grader
// runs it; the README reports the figures. Each grading starts with no
// probe remembered, as a run of the grade command does.
func BenchmarkGrade(b *testing.B) {
	half := halfSkeleton(b)
	for _, bc := range []struct {
		name string
		lab  string
		cfg  Config
	}{
		{"reference-labs-1-2", "client,server", Config{Server: []string{bin["chat_server"]}, Client: []string{bin["chat_client"]}}},
		{"other-format", "server", Config{Server: []string{bin["c_server_OTHER_FORMAT"]}}},
		{"panics-after-accept", "server", Config{Server: []string{bin["panics"]}}},
		{"skeleton-listen-accept", "server", Config{Server: []string{half}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tests, err := Select(bc.lab, "")
			if err != nil {
				b.Fatal(err)
			}
			score := 0
			for b.Loop() {
				forgetGreetings()
				score = 0
				for _, test := range tests {
					score += Run(test, bc.cfg, 1).Score
				}
			}
			b.ReportMetric(float64(score), "scored-points")
			b.ReportMetric(float64(Points(bc.lab)), "max-points")
		})
	}
}

// halfSkeleton builds lab 2's server from the skeletons with the regions of
// tasks 1 to 3 (SIGPIPE, listen, accept) filled: a half-done lab 2, which
// stops at task 4 (Spawn) on its first connection.
func halfSkeleton(b *testing.B) string {
	dir := b.TempDir()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	for _, c := range [][]string{
		{"go", "run", "./grader/cmd/mklabs", "-fill", "lab2.1,lab2.2,lab2.3", "-labs", filepath.Join(dir, "labs"), "-handouts", ""},
		{"cp", "go.mod", "go.sum", dir},
	} {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	path, err := harness.BuildGo(filepath.Join(dir, "labs", "server"), dir, "half_server")
	if err != nil {
		b.Fatal(err)
	}
	return path
}
