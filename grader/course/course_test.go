package course_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chatlab/grader/course"
	"chatlab/grader/suite"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var root = filepath.Join("..", "..")

// TestTable: every lab has a program in every track, whose student source
// (labs/) and reference source (solutions/) exist; names and binaries are
// unique; the grader has tests for each lab and nothing else.
func TestTable(t *testing.T) {
	names := map[string]bool{}
	for i, l := range course.Labs {
		assert.Equal(t, i+1, l.Number, "labs are numbered in order")
		assert.False(t, names[l.Name], "lab %s twice", l.Name)
		names[l.Name] = true
		assert.FileExists(t, filepath.Join(root, l.Handout))
		assert.True(t, strings.HasPrefix(l.Flag, "-"), l.Flag)
		tests, err := suite.Select(l.Name, "")
		require.NoError(t, err)
		assert.NotEmpty(t, tests)
		for _, tr := range course.Tracks {
			p, ok := l.Programs[tr.Name]
			require.True(t, ok, "lab %s has no %s program", l.Name, tr.Name)
			for _, dir := range []string{"labs", "solutions"} {
				_, err := os.Stat(filepath.Join(root, dir, p.Source))
				assert.NoError(t, err, "lab %s, %s: %s/%s", l.Name, tr.Name, dir, p.Source)
			}
			assert.True(t, tr.Takes(p.Source) || tr.Dir == "", "%s takes its own source %s", tr.Name, p.Source)
		}
	}
	assert.Len(t, course.Labs, len(names))
	for _, tr := range course.Tracks {
		bins := map[string]bool{}
		for _, l := range course.Labs {
			p := l.Programs[tr.Name]
			assert.False(t, bins[p.Binary] || bins[p.Reference], "%s: a binary name twice", tr.Name)
			bins[p.Binary], bins[p.Reference] = true, true
		}
		assert.FileExists(t, tr.Tasks(filepath.Join(root, "labs")))
	}
	for _, test := range suite.All() {
		assert.True(t, names[test.Lab], "test %s of an unknown lab", test.Name)
	}
}

// TestBuildCommand: the commands the grader runs to build a lab.
func TestBuildCommand(t *testing.T) {
	t.Setenv("CC", "")
	t.Setenv("CFLAGS", "")
	t.Setenv("GO", "")
	l, ok := course.ByName("server")
	require.True(t, ok)
	goTrack, err := course.TrackNamed("go")
	require.NoError(t, err)
	assert.Equal(t, []string{"go", "build", "-o", "bin/lab_server", "./labs/server"}, goTrack.BuildCommand(l, "labs", "bin/lab_server"))
	c, err := course.TrackNamed("c")
	require.NoError(t, err)
	assert.Equal(t, "gcc "+course.CFlags+" -o bin/chat_server_c solutions/c/serveur.c", strings.Join(c.BuildCommand(l, "solutions", "bin/chat_server_c"), " "))
	t.Setenv("CFLAGS", "-O0")
	assert.Equal(t, "gcc -O0 -o x labs/c/serveur.c", strings.Join(c.BuildCommand(l, "labs", "x"), " "))
	_, err = course.TrackNamed("rust")
	assert.ErrorContains(t, err, `no track "rust": want go or c`)
	assert.Contains(t, course.List(), "3\tshm\t-shm-server\tc\tc/serveur_shm.c\tlab_server_shm\tchat_server_shm_c\thandouts/lab3-shm.md\n")
}
