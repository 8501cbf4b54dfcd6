// Command grade is chatlab's autograder. It runs the client and server
// under test as black boxes (any language: a Go binary, a.out, a script),
// talks to them over TCP, inspects them through /proc, and reports.
//
//	grade [-lab all|client|server|shm] [-server CMD] [-client CMD] [-run REGEX]
//	      [-repeat N] [-v] [-json FILE] [-gradescope FILE] [-autolab] [-labs DIR]
//	grade -batch DIR [-out DIR] [-jobs N]   (instructors: a folder per student)
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/report"
	"chatlab/grader/suite"
)

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("grade", flag.ContinueOnError)
	lab := fs.String("lab", "all", "which lab: all, client, server or shm")
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
	budget := fs.Duration("budget", 10*time.Minute, "time for the whole run; tests not started by then are NOT RUN")
	unprivileged := fs.Bool("unprivileged", true, "when run as root, run the programs under test as user nobody")
	batch := fs.String("batch", "", "grade every submission folder under `DIR` (one per student) and write a gradebook")
	batchOut := fs.String("out", "grades", "with -batch: where gradebook.csv and the students' records go")
	labsDir := fs.String("labs", "", "the student's labs/ `DIR`: report the details of the lab in progress only, and end with the next task (from DIR/tasks.tsv); -v reports every test")
	classroom := fs.Bool("classroom", false, "print a GitHub Classroom workflow (classroom.yml) for the grader's tests, and exit")
	jobs := fs.Int("jobs", max(1, runtime.NumCPU()/2), "with -batch: submissions graded at once")
	notBuilt := map[string]string{}
	fs.Func("not-built", "`LAB=FILE`: LAB's program did not build; FILE holds the compiler's output (its tests fail with it)", func(v string) error {
		lab, file, ok := strings.Cut(v, "=")
		if !ok || !slices.Contains(suite.Labs, lab) {
			return fmt.Errorf("want LAB=FILE with LAB one of %s", strings.Join(suite.Labs, ", "))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		notBuilt[lab] = string(b)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: grade [-lab all|client|server|shm] [-server CMD] [-client CMD] [flags]")
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
	if *classroom {
		fmt.Print(report.Classroom())
		return 0
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
		code := runBatch(*batch, *batchOut, *jobs, tests, cfg)
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
			return usage("grading the %s needs %s CMD", need.lab, need.flag)
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
	interrupted := false
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
			results = append(results, suite.Result{Test: t, Status: suite.NotRun})
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
		progressReport(os.Stdout, *labsDir, results)
	} else {
		report.Summary(os.Stdout, results)
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
