package suite

import (
	"chatlab/grader/course"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Labs are the labs the grader knows, in order (from the course table).
var Labs = course.Names()

// All returns every test, lab by lab.
func All() []*Test { return slices.Concat(clientTests(), serverTests(), shmTests()) }

// Select returns the tests of lab ("all" for every lab, or labs separated
// by commas) whose names match the regular expression run ("" for all).
func Select(lab, run string) ([]*Test, error) {
	labs := strings.Split(lab, ",")
	if lab == "all" {
		labs = Labs
	}
	for _, l := range labs {
		if !slices.Contains(Labs, l) {
			return nil, fmt.Errorf("-lab %q: not one of all, %s (or a list: client,server)", lab, strings.Join(Labs, ", "))
		}
	}
	re, err := regexp.Compile(run)
	if err != nil {
		return nil, fmt.Errorf("-run: %v", err)
	}
	var out []*Test
	for _, t := range All() {
		if slices.Contains(labs, t.Lab) && re.MatchString(t.Name) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no test of lab %q matches -run %q", lab, run)
	}
	return out, nil
}

// byHand is how to reproduce a lab's tests by hand, for failures that do
// not say more precisely.
var byHand = map[string]string{
	"client": "nc -l 5015 in one terminal (you play the server), your client localhost 5015 in another",
	"server": "your server -port 5015 in one terminal, nc localhost 5015 in others; ps -o pid,ppid,stat,args --ppid PID; ss -ltnp",
	"shm":    "your server -port 5015 in one terminal, nc localhost 5015 in others; ps --ppid PID; grep /dev/shm /proc/PID/maps; ls /dev/shm",
}

// Status is how a test ended.
type Status string

const (
	Pass    Status = "PASS"
	Fail    Status = "FAIL"
	Timeout Status = "TIMEOUT"
	NotRun  Status = "NOT RUN" // the run's budget was spent before it
	// NotApplicable: a check of the process-per-client design, not run
	// against a single-process server; its points are out of the total.
	NotApplicable Status = "N/A"
)

// Result is the outcome of one test (over all its repetitions).
type Result struct {
	Test    *Test
	Status  Status
	Score   int
	Elapsed time.Duration
	Runs    int      // repetitions done
	Failed  int      // of which failed or timed out
	Failure *Failure // the first failure
	Notes   []string // what the (first failing, else last) run did
	// Transcripts are that run's connections, what was sent (>>) and
	// received (<<), one string per connection.
	Transcripts []string
	Stderr      string // the end of the first program's stderr, on failure
	// NotBuilt: the program did not compile (NotBuilt); Failure holds the
	// compiler's output.
	NotBuilt bool
	// SameCause: the failure is one already reported for an earlier test
	// of this run (the server did not listen, or sent no welcome), so a
	// terminal report may say so in a line instead of repeating it.
	SameCause bool
}

// Max is the points the result counts out of: the test's, or none for a
// test that does not apply.
func (r Result) Max() int {
	if r.Status == NotApplicable {
		return 0
	}
	return r.Test.Points
}

// NotBuilt is the result of a test whose program did not build: failed,
// with the compiler's output.
func NotBuilt(test *Test, compilerOutput string) Result {
	return Result{Test: test, Status: Fail, Runs: 0, Failed: 1, NotBuilt: true, Failure: &Failure{
		Did:      "built the program for lab " + test.Lab,
		Expected: "it compiles",
		Got:      "it did not build:\n" + strings.TrimSpace(compilerOutput),
		Hint:     "fix the first compiler error above (go build ./labs/...), then grade again",
	}}
}

// TodoLine returns the line a kit skeleton prints when it reaches a task
// not written yet (todo.Missing, then exit status 3), if stderr holds one:
// "TODO(lab1): socket and connect (labs/client/main.go, connectTo): not written yet".
func TodoLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "TODO(lab") && strings.HasSuffix(l, ": not written yet") {
			return l
		}
	}
	return ""
}

// atTodo returns f with the hint a program stopped at an unwritten task
// needs: that task, not the test's usual advice, which would mislead.
func atTodo(f *Failure, stderr string) *Failure {
	todo := TodoLine(stderr)
	if f == nil || todo == "" {
		return f
	}
	g := *f
	g.Hint = "the program stopped at a task not written yet: " + todo + "; write it (make grade's next: line names the first one), then this test can run"
	return &g
}

// Run runs test repeat times (stopping at the first failure) under cfg, each
// time within the test's own deadline, and cleans up every process and
// connection each run made, whatever happened.
func Run(test *Test, cfg Config, repeat int) Result {
	if test.PerClient && cfg.SingleProcess {
		return Result{Test: test, Status: NotApplicable}
	}
	start := time.Now()
	if test.Lab != "client" {
		g := probeGreeting(cfg, test.Lab)
		if f := g.stops(test); f != nil {
			status := Fail
			if f.TimedOut {
				status = Timeout
			}
			note := "not run: it needs the welcome line, which a first client of a fresh server did not get (below)"
			if f == g.listenFailure {
				note = "not run: the server did not listen (below)"
			}
			return Result{Test: test, Status: status, Runs: 1, Failed: 1, Failure: atTodo(f, g.stderr), Stderr: g.stderr,
				Elapsed: time.Since(start), Notes: []string{note}, SameCause: !g.firstReport(f)}
		}
	}
	res := Result{Test: test, Status: Pass}
	for range max(repeat, 1) {
		status, t := runOnce(test, cfg)
		res.Runs++
		t.mu.Lock()
		res.Notes, res.Failure = slices.Clone(t.notes), t.failure
		res.Transcripts = res.Transcripts[:0]
		for _, c := range t.conns {
			res.Transcripts = append(res.Transcripts, c.Name+":\n"+c.Transcript())
		}
		t.mu.Unlock()
		if status != Pass {
			res.Failed++
			res.Status = status
			res.Stderr = t.stderrTail(15)
			if res.Failure != nil && res.Failure.ByHand == "" {
				f := *res.Failure
				f.ByHand = byHand[test.Lab]
				if t.byHand != "" {
					f.ByHand = t.byHand
				}
				res.Failure = &f
			}
			res.Failure = atTodo(res.Failure, res.Stderr)
			res.Failure = kickedTooSoon(test, res.Failure, res.Transcripts)
			break
		}
	}
	res.Elapsed = time.Since(start)
	if res.Status == Pass {
		res.Score = test.Points
	}
	return res
}

func runOnce(test *Test, cfg Config) (Status, *T) {
	t := &T{cfg: cfg, lab: test.Lab, name: test.Name, ended: make(chan struct{})}
	if test.Lab == "client" {
		t.lang = langOf(cfg.Client)
	} else {
		t.lang = langOf(serverCmdOf(cfg, test.Lab))
	}
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		test.Run(t)
	}()
	var status Status
	select {
	case r := <-done:
		status = outcome(t, r)
	case <-time.After(test.Timeout):
		t.finish() // unblocks every wait the test is in
		select {
		case <-done:
		case <-time.After(5 * time.Second): // a wait the grader cannot end: give up on it
		}
		t.mu.Lock()
		t.failure = &Failure{
			Did:      "ran the test",
			Expected: fmt.Sprintf("it finishes within its limit of %v", test.Timeout),
			Got:      "TIMEOUT: still going at the limit; everything it started was killed",
			Hint:     "something hung: a blocking read or write, a deadlock between processes, or a program that never answers",
		}
		t.mu.Unlock()
		return Timeout, t
	}
	t.finish()
	return status, t
}

// outcome turns what a test's goroutine ended with into a status.
func outcome(t *T, recovered any) Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case recovered == nil && t.failure == nil:
		return Pass
	case recovered == nil || recovered == errStop:
		if t.failure.TimedOut {
			return Timeout
		}
		return Fail
	default: // a bug in the grader: say so rather than blame the student
		t.failure = &Failure{Did: "ran the test", Got: fmt.Sprintf("the grader itself failed: %v", recovered),
			Hint: "this is a grader bug; please report it with the output of -v"}
		return Fail
	}
}

// Points returns the points the tests of lab ("all", or labs separated by
// commas) are worth: every total the kit states is derived from it.
func Points(lab string) int {
	tests, err := Select(lab, "")
	if err != nil {
		return 0
	}
	n := 0
	for _, t := range tests {
		n += t.Points
	}
	return n
}

// kickExpected are the tests in which a client may be kicked as too slow
// on purpose (a reader that stops, a child stopped or killed).
var kickExpected = []string{"slow-reader", "flood-reader", "stopped-child", "child-killed", "killed-reader", "full-ring", "held-asleep"}

// kickedRE finds a kick in a transcript's received lines.
var kickedRE = regexp.MustCompile(`<< "\* (user\d+) kicked: too slow"`)

// kickedTooSoon puts first in f's hint that a client was kicked as too
// slow, when that happened in a test whose clients all read what they are
// sent: the failure the test saw (a line missing, a client gone) is then
// most likely the kick's, and the test's own hint points elsewhere.
func kickedTooSoon(test *Test, f *Failure, transcripts []string) *Failure {
	if f == nil || test.Lab == "client" || slices.Contains(kickExpected, test.Name[strings.IndexByte(test.Name, '/')+1:]) {
		return f
	}
	for _, tr := range transcripts {
		if m := kickedRE.FindStringSubmatch(tr); m != nil {
			g := *f
			g.Hint = fmt.Sprintf("%s was kicked as too slow, though the grader's clients read everything they are sent: the rule that kicks fired too soon (a reader is too slow only when its queue is full and it takes too little for a whole window; a child is stuck only when it took and released nothing for 2 s: protocol.md, \"Slow readers and flow control\"). The test's own hint: %s", m[1], f.Hint)
			return &g
		}
	}
	return f
}
