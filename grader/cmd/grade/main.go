// Command grade is chatlab's autograder. It runs the client and server
// under test as black boxes (any language: a Go binary, a.out, a script),
// talks to them over TCP, inspects them through /proc, and reports.
//
//	grade [-lab all|client|server|shm] [-server CMD] [-client CMD] [-run REGEX]
//	      [-repeat N] [-v] [-json FILE] [-gradescope FILE] [-autolab] [-labs DIR]
//	grade [-lang go|c] -build labs [-bin bin]   (build the student's programs, then grade them)
//	grade [-lang go|c|all] -programs references -build solutions -build-only
//	grade -batch DIR [-lang go|c] [-out DIR] [-jobs N]   (instructors: a folder per student)
//	grade -list-labs   (the labs and tracks, for shells: grader/course)
//
// Without -server, -client or -shm-server, a lab's program is the one the
// course table names in -bin: bin/lab_server for the student's (-programs
// labs), bin/chat_server or bin/chat_server_c for the reference.
//
// Exit status: 0 when every selected test passed, 1 when any failed, 2 when
// grading could not run (bad usage, a program that cannot be started).
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"chatlab/grader/course"
	"chatlab/grader/harness"
	"chatlab/grader/report"
	"chatlab/grader/suite"
)

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("grade", flag.ContinueOnError)
	lab := fs.String("lab", "all", "which lab: all, "+strings.Join(course.Names(), ", ")+", or a list of them (client,server)")
	serverCmd := fs.String("server", "", "the server under test: a command line (e.g. ./chat_server or ./a.out)")
	clientCmd := fs.String("client", "", "the client under test: a command line")
	shmCmd := fs.String("shm-server", "", "the server graded by -lab shm, if not the one of -server")
	single := fs.Bool("single-process", false, "the server serves every client in one process (an epoll loop): the checks of child processes are N/A")
	runRE := fs.String("run", "", "run only the tests whose names match this regular expression")
	repeat := fs.Int("repeat", 1, "run each test `N` times; a test passes only if every run passes")
	verbose := fs.Bool("v", false, "print what every test did, not only the failures")
	jsonPath := fs.String("json", "", "write the grader's full record to `FILE`")
	gsPath := fs.String("gradescope", "", "write Gradescope's results.json to `FILE`, updated after each test")
	autolab := fs.Bool("autolab", false, "print Autolab's {\"scores\": ...} line last")
	budget := fs.Duration("budget", 10*time.Minute, "time for the whole run; tests not started by then are NOT RUN (unless given, it is multiplied by -repeat)")
	unprivileged := fs.Bool("unprivileged", true, "when run as root, run the programs under test as user nobody")
	batch := fs.String("batch", "", "grade every submission folder under `DIR` (one per student) and write a gradebook")
	batchOut := fs.String("out", "grades", "with -batch: where gradebook.csv and the students' records go")
	labsDir := fs.String("labs", "", "the student's labs/ `DIR`: report the details of the lab in progress only, and end with the next task (from DIR/tasks.tsv); -v reports every test")
	classroom := fs.Bool("classroom", false, "print a GitHub Classroom workflow (classroom.yml) for the grader's tests, and exit")
	jobs := fs.Int("jobs", max(1, runtime.NumCPU()/2), "with -batch: submissions graded at once")
	langName := fs.String("lang", "go", "the track (language) of the programs: go or c; all with -build-only")
	binDir := fs.String("bin", "bin", "where the labs' programs are (or go, with -build), named as grader/course says")
	programs := fs.String("programs", "labs", "which programs -bin holds: labs (the student's: lab_server) or references (chat_server, chat_server_c)")
	buildFrom := fs.String("build", "", "build the programs from `DIR` (labs, or solutions with -programs references) into -bin first; one that does not compile fails its lab's tests with the compiler's output")
	buildOnly := fs.Bool("build-only", false, "with -build: build, then exit (status 1 if a program did not build)")
	take := fs.String("take", "", "copy the lab files of the submission `DIR` (labs/, its track folder, or the files) over ./labs first: only the track's sources of the kit's own folders (run_autograder)")
	listLabs := fs.Bool("list-labs", false, "print the course's labs and tracks (grader/course) as tab-separated lines, and exit")
	notBuilt := map[string]string{}
	fs.Func("not-built", "`LAB=FILE`: LAB's program did not build; FILE holds the compiler's output (its tests fail with it)", func(v string) error {
		lab, file, ok := strings.Cut(v, "=")
		if _, known := course.ByName(lab); !ok || !known {
			return fmt.Errorf("want LAB=FILE with LAB one of %s", strings.Join(course.Names(), ", "))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		notBuilt[lab] = string(b)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: grade [-lab all|%s] [-server CMD] [-client CMD] [flags]\n", strings.Join(course.Names(), "|"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "grade: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	budgetGiven := false
	fs.Visit(func(f *flag.Flag) { budgetGiven = budgetGiven || f.Name == "budget" })
	if !budgetGiven && *repeat > 1 {
		*budget *= time.Duration(*repeat) // make grade-many N=20: each test 20 times
	}
	if *listLabs {
		fmt.Print(course.List())
		return 0
	}
	var tracks []course.Track
	if *langName == "all" && *buildOnly {
		tracks = course.Tracks
	} else {
		tr, err := course.TrackNamed(*langName)
		if err != nil {
			return usage("-lang: %v", err)
		}
		tracks = []course.Track{tr}
	}
	track := tracks[0]
	if *programs != "labs" && *programs != "references" {
		return usage("-programs %q: want labs or references", *programs)
	}
	if *classroom {
		fmt.Print(report.Classroom(track))
		return 0
	}
	var takeNote string // what -take could not find in the submission
	if *take != "" {
		taken, err := takeSubmission("labs", *take, track, "labs")
		if err != nil {
			return usage("-take %s: %v", *take, err)
		}
		if len(taken) == 0 {
			where := "labs/"
			if track.Dir != "" {
				where = "labs/" + track.Dir + "/"
			}
			return usage("-take %s: the submission has no %s files of %s: submit your labs folder, or the files inside it", *take, strings.Join(track.Ext, " or "), where)
		}
		fmt.Fprintf(os.Stderr, "took %d files of %s\n", len(taken), *take)
		if kept, err := skeletonsKept("labs", track, taken); err == nil && len(kept) > 0 {
			takeNote = keptNote(kept)
			fmt.Fprintln(os.Stderr, takeNote)
		}
	}
	if *buildOnly && *buildFrom == "" {
		return usage("-build-only needs -build DIR")
	}
	if *buildFrom != "" {
		var labs []course.Lab
		for _, name := range strings.Split(*lab, ",") {
			if l, ok := course.ByName(name); ok {
				labs = append(labs, l)
			} else if name == "all" {
				labs = course.Labs
			}
		}
		failed := false
		for _, tr := range tracks {
			for name, msg := range buildPrograms(tr, labs, *buildFrom, *binDir, *programs == "references") {
				notBuilt[name] = msg
				failed = true
			}
		}
		if *buildOnly {
			if failed {
				return 1
			}
			return 0
		}
	}
	if *repeat < 1 {
		return usage("-repeat %d: must be at least 1", *repeat)
	}
	tests, err := suite.Select(*lab, *runRE)
	if err != nil {
		return usage("%v", err)
	}
	if err := harness.Init(); err != nil {
		return usage("%v", err)
	}

	cfg := suite.Config{SingleProcess: *single}
	if *batch != "" {
		if os.Geteuid() == 0 && *unprivileged {
			cred, err := nobody()
			if err != nil {
				return usage("%v (or run with -unprivileged=false)", err)
			}
			cfg.Credential = cred
		}
		code := runBatch(*batch, *batchOut, *jobs, track, tests, cfg)
		harness.SweepOrphans()
		return code
	}
	for _, need := range []struct {
		lab, flag string
		cmd       string
		argv      *[]string
	}{{"server", "-server", *serverCmd, &cfg.Server}, {"client", "-client", *clientCmd, &cfg.Client},
		{"shm", "-shm-server (or -server)", cmp.Or(*shmCmd, *serverCmd), &cfg.ShmServer}} {
		if !labSelected(tests, need.lab) {
			continue
		}
		if _, ok := notBuilt[need.lab]; ok {
			continue // its tests fail with the compiler's output
		}
		if need.cmd == "" {
			// The course table's program in -bin, if it is there.
			l, _ := course.ByName(need.lab)
			p := l.Programs[track.Name]
			bin := filepath.Join(*binDir, p.Binary)
			if *programs == "references" {
				bin = filepath.Join(*binDir, p.Reference)
			}
			if _, err := os.Stat(bin); err != nil {
				return usage("grading the %s needs %s CMD, or its program at %s (make build)", need.lab, need.flag, bin)
			}
			need.cmd = bin
		}
		argv, err := resolve(need.cmd)
		if err != nil {
			return usage("%s %q: %v", need.flag, need.cmd, err)
		}
		*need.argv = argv
	}
	if os.Geteuid() == 0 && *unprivileged {
		cred, err := nobody()
		if err != nil {
			return usage("%v (or run with -unprivileged=false)", err)
		}
		cfg.Credential = cred
		// A kit under /root (a container, a VM) is out of nobody's reach:
		// grade copies of the programs instead, and say so.
		var copies string
		for _, argv := range [][]string{cfg.Server, cfg.Client, cfg.ShmServer} {
			if len(argv) == 0 || othersMayRun(argv[0]) == nil {
				continue
			}
			if copies == "" {
				if copies, err = os.MkdirTemp("", "chatlab-programs-"); err == nil {
					err = os.Chmod(copies, 0o755)
				}
				if err != nil {
					return usage("programs under test run as nobody, who may not reach %s, and no copy could be made: %v (or run with -unprivileged=false)", argv[0], err)
				}
				defer os.RemoveAll(copies)
			}
			to := filepath.Join(copies, filepath.Base(argv[0]))
			if _, err := os.Stat(to); err != nil { // the same program may serve two labs
				if err := copyExecutable(argv[0], to); err != nil {
					return usage("programs under test run as nobody, who may not reach %s, and no copy could be made: %v (or run with -unprivileged=false)", argv[0], err)
				}
				fmt.Fprintf(os.Stderr, "note: running as root, the programs under test run as user nobody, who may not reach %s: grading a copy, %s\n", argv[0], to)
			}
			argv[0] = to
		}
	}

	started := time.Now()
	writeGradescope := func(results []suite.Result, note string) {
		if *gsPath == "" {
			return
		}
		if takeNote != "" {
			note += "\n" + takeNote
		}
		if err := report.WriteJSON(*gsPath, report.NewGradescope(started, tests, results, note)); err != nil {
			fmt.Fprintf(os.Stderr, "grade: write %s: %v\n", *gsPath, err)
		}
	}
	writeGradescope(nil, "grading started")

	// A signal ends the run early, but the programs under test still get
	// killed and reaped by the test that started them.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	var results []suite.Result
	interrupted, spent := false, false
	short := *labsDir != "" && !*verbose // make grade in the kit
	for i, t := range tests {
		if short && (i == 0 || tests[i-1].Lab != t.Lab) {
			fmt.Fprintf(os.Stderr, "grading lab %s...\n", t.Lab)
		}
		if msg, ok := notBuilt[t.Lab]; ok {
			results = append(results, suite.NotBuilt(t, msg))
			if !short {
				report.Line(os.Stdout, results[len(results)-1], *verbose)
			}
			writeGradescope(results, "grading in progress")
			continue
		}
		if interrupted || time.Since(started) > *budget {
			if !interrupted && !spent {
				spent = true
				fmt.Fprintf(os.Stderr, "grade: the run's time (-budget %v) is spent: the tests not started yet are NOT RUN\n", *budget)
			}
			results = append(results, suite.Result{Test: t, Status: suite.NotRun})
			if !short {
				report.Line(os.Stdout, results[len(results)-1], *verbose)
			}
			continue
		}
		done := make(chan suite.Result, 1)
		go func() { done <- suite.Run(t, cfg, *repeat) }()
		select {
		case r := <-done:
			results = append(results, r)
		case sig := <-stop:
			fmt.Fprintf(os.Stderr, "grade: %v: stopping after this test\n", sig)
			interrupted = true
			results = append(results, <-done)
		}
		if !short {
			report.Line(os.Stdout, results[len(results)-1], *verbose)
		}
		writeGradescope(results, "grading in progress")
	}
	fmt.Println()
	if short {
		progressReport(os.Stdout, *labsDir, track, results)
	} else {
		report.Summary(os.Stdout, results)
	}
	if takeNote != "" {
		fmt.Println(takeNote)
	}
	score, max := report.Totals(results)
	writeGradescope(results, fmt.Sprintf("%d/%d points", score, max))
	if *jsonPath != "" {
		if err := report.WriteJSON(*jsonPath, report.NewRecord(started, results)); err != nil {
			fmt.Fprintf(os.Stderr, "grade: write %s: %v\n", *jsonPath, err)
		}
	}
	if *autolab {
		fmt.Println(report.Autolab(results))
	}
	harness.SweepOrphans()
	for _, r := range results {
		if r.Status != suite.Pass {
			return 1
		}
	}
	return 0
}

func labSelected(tests []*suite.Test, lab string) bool {
	for _, t := range tests {
		if t.Lab == lab {
			return true
		}
	}
	return false
}

// resolve splits a command line at spaces and finds its program.
func resolve(cmd string) ([]string, error) {
	argv := strings.Fields(cmd)
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, err
	}
	if argv[0], err = filepath.Abs(path); err != nil {
		return nil, err
	}
	return argv, nil
}

// nobody returns the credential of user nobody.
func nobody() (*syscall.Credential, error) {
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root, programs under test run as nobody, but: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// copyExecutable copies the program at from to to, readable and
// executable by everyone.
func copyExecutable(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		return err
	}
	return os.Chmod(to, 0o755) // whatever the umask
}

// othersMayRun checks that a user with no rights but "others'" can run path:
// every directory on the way searchable, the file readable and executable.
func othersMayRun(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o005 != 0o005 {
		return fmt.Errorf("programs under test run as nobody, who may not run %s (chmod o+rx %s)", path, path)
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("programs under test run as nobody, who may not enter %s (chmod o+x %s)", dir, dir)
		}
		if dir == "/" {
			return nil
		}
	}
}
