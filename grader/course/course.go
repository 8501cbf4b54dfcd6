// Package course is the one table of the labs and of the languages (tracks)
// they are taught in: for each lab, the grader's name for it, the flag that
// names its program under test, its handout, and, per track, where its
// student source and reference source are and which binaries they build.
//
// The grader, its batch mode, the Gradescope and Classroom generators and
// mklabs read this table; the Makefiles and run_autograder read it through
// `grade -list-labs`. Adding a lab or a track touches this table and the new
// files, nothing else.
package course

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Lab is one lab of the course.
type Lab struct {
	Number  int    // 1, 2, 3: "lab2" in TODO(lab2)
	Name    string // the grader's name: -lab NAME, and the tests NAME/...
	Title   string // what it builds, for reports
	Flag    string // the grader's flag for the program under test: -client
	Handout string // relative to the kit: handouts/lab1-client.md
	// Programs are the lab's program in each track, by track name.
	Programs map[string]Program
}

// Program is one lab's program in one track.
type Program struct {
	// Source is the program's source, relative to the labs folder (the
	// student's) or the solutions folder (the reference): a Go package
	// folder ("client") or a C file ("c/client.c").
	Source string
	// Binary is the student's program as built, relative to the bin
	// folder: lab_client.
	Binary string
	// Reference is the reference program as built, relative to the bin
	// folder: chat_client, chat_client_c.
	Reference string
}

// Track is one language the labs are taught in.
type Track struct {
	Name string // go, c: make grade LANG=NAME
	// Dir is the track's folder inside labs/ and solutions/ ("" for Go,
	// whose packages sit at the top): its skeletons and its tasks.tsv.
	Dir string
	// Ext are the file name endings a submission may provide.
	Ext []string
	// build is the command that builds src (a Source, joined to its
	// folder) into out, run at the top of the kit.
	build func(src, out string) []string
}

// Labs are the course's labs, in order.
var Labs = []Lab{
	{Number: 1, Name: "client", Title: "the client", Flag: "-client", Handout: "handouts/lab1-client.md",
		Programs: map[string]Program{
			"go": {Source: "client", Binary: "lab_client", Reference: "chat_client"},
			"c":  {Source: "c/client.c", Binary: "lab_client", Reference: "chat_client_c"},
		}},
	{Number: 2, Name: "server", Title: "the server, one process per client", Flag: "-server", Handout: "handouts/lab2-server.md",
		Programs: map[string]Program{
			"go": {Source: "server", Binary: "lab_server", Reference: "chat_server"},
			"c":  {Source: "c/serveur.c", Binary: "lab_server", Reference: "chat_server_c"},
		}},
	{Number: 3, Name: "shm", Title: "the server, with shared memory", Flag: "-shm-server", Handout: "handouts/lab3-shm.md",
		Programs: map[string]Program{
			"go": {Source: "shmserver", Binary: "lab_server_shm", Reference: "chat_server_shm"},
			"c":  {Source: "c/serveur_shm.c", Binary: "lab_server_shm", Reference: "chat_server_shm_c"},
		}},
}

// Tracks are the languages, the default first.
var Tracks = []Track{
	{Name: "go", Ext: []string{".go"}, build: func(src, out string) []string {
		return []string{cmp.Or(os.Getenv("GO"), "go"), "build", "-o", out, "./" + src}
	}},
	{Name: "c", Dir: "c", Ext: []string{".c", ".h"}, build: func(src, out string) []string {
		flags := strings.Fields(cmp.Or(os.Getenv("CFLAGS"), CFlags))
		return slices.Concat([]string{cmp.Or(os.Getenv("CC"), "gcc")}, flags, []string{"-o", out, src})
	}},
}

// CFlags are the C track's compiler flags for the students' programs, unless
// $CFLAGS says otherwise. They warn without refusing: a warning must not
// keep a program from being graded. Unused parameters and functions are not
// warned about: a skeleton leaves its given helpers unused until the tasks
// that call them are written. (The references are built with -Werror and
// every warning: the Makefile's C_FLAGS.)
const CFlags = "-O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-unused-function"

// Names are the grader's names of the labs, in order: client, server, shm.
func Names() []string {
	var out []string
	for _, l := range Labs {
		out = append(out, l.Name)
	}
	return out
}

// ByName returns the lab the grader calls name.
func ByName(name string) (Lab, bool) {
	i := slices.IndexFunc(Labs, func(l Lab) bool { return l.Name == name })
	if i < 0 {
		return Lab{}, false
	}
	return Labs[i], true
}

// ByNumber returns lab n (1 for lab1).
func ByNumber(n int) (Lab, bool) {
	i := slices.IndexFunc(Labs, func(l Lab) bool { return l.Number == n })
	if i < 0 {
		return Lab{}, false
	}
	return Labs[i], true
}

// TrackNamed returns the track called name (go, c), or an error that lists
// them.
func TrackNamed(name string) (Track, error) {
	for _, t := range Tracks {
		if t.Name == name {
			return t, nil
		}
	}
	var names []string
	for _, t := range Tracks {
		names = append(names, t.Name)
	}
	return Track{}, fmt.Errorf("no track %q: want %s", name, strings.Join(names, " or "))
}

// BuildCommand is the command line that builds lab's program of track t
// from the folder from (labs or solutions) into out, run at the top of the
// kit: go build -o out ./labs/client, or gcc ... -o out labs/c/client.c.
func (t Track) BuildCommand(lab Lab, from, out string) []string {
	return t.build(filepath.ToSlash(filepath.Join(from, lab.Programs[t.Name].Source)), out)
}

// Tasks is the path of the track's task list (written by mklabs) in the
// labs folder dir: labs/tasks.tsv, labs/c/tasks.tsv.
func (t Track) Tasks(dir string) string { return filepath.Join(dir, t.Dir, "tasks.tsv") }

// Takes reports whether a submission's file name is one of the track's
// source files (by its ending).
func (t Track) Takes(name string) bool {
	for _, e := range t.Ext {
		if strings.HasSuffix(name, e) && !strings.HasSuffix(name, "_test.go") {
			return true
		}
	}
	return false
}

// List is the table as `grade -list-labs` prints it for shells: a header
// line, then one tab-separated line per lab and track: the lab's number,
// its name, its flag, the track, the source (relative to labs/ or
// solutions/), the student's binary and the reference's (relative to bin/),
// and the handout.
func List() string {
	var b strings.Builder
	b.WriteString("# lab\tname\tflag\ttrack\tsource\tbinary\treference\thandout\n")
	for _, t := range Tracks {
		for _, l := range Labs {
			p := l.Programs[t.Name]
			fmt.Fprintf(&b, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Number, l.Name, l.Flag, t.Name, p.Source, p.Binary, p.Reference, l.Handout)
		}
	}
	return b.String()
}
