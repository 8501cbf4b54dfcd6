package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"chatlab/grader/course"
)

// buildPrograms builds the programs of labs in track tr from the folder from
// (labs, or solutions with references) into binDir, as the course table
// names them, printing each command as make would. It returns the
// compiler's output of each lab whose program did not build, by lab name.
func buildPrograms(tr course.Track, labs []course.Lab, from, binDir string, references bool) map[string]string {
	failed := map[string]string{}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		for _, l := range labs {
			failed[l.Name] = err.Error()
		}
		return failed
	}
	for _, l := range labs {
		p := l.Programs[tr.Name]
		out := filepath.Join(binDir, p.Binary)
		if references {
			out = filepath.Join(binDir, p.Reference)
		}
		argv := tr.BuildCommand(l, from, out)
		fmt.Fprintln(os.Stderr, strings.Join(argv, " "))
		cmd := exec.Command(argv[0], argv[1:]...)
		msg, err := cmd.CombinedOutput()
		os.Stderr.Write(msg) // warnings too: the student should see them
		if err != nil {
			if len(msg) == 0 {
				msg = []byte(err.Error())
			}
			failed[l.Name] = fmt.Sprintf("%s\n%s", strings.Join(argv, " "), msg)
		}
	}
	return failed
}
