// Package suite holds the grader's tests and the context they run in. A test
// runs the programs under test as black boxes (any language), talks to them
// over TCP and inspects them through /proc. When it fails, it says what was
// done, what was expected, what came back, a hint, and how to see the same
// thing by hand.
package suite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/wire"
)

// Test is one graded check.
type Test struct {
	Name    string // "server/relay": the lab, a slash, a short name
	Lab     string // "client" (lab 1) or "server" (lab 2)
	Points  int
	Timeout time.Duration // the test's own deadline: past it, TIMEOUT
	// PerClient marks a check of the process-per-client design: it does not
	// apply to a single-process server (Config.SingleProcess).
	PerClient bool
	// NeedsWelcome marks a test of the line format: it starts from the
	// welcome line, and ends at once when a first client did not get one
	// (probeGreeting). The checks of processes, pipes, signals and CPU do
	// not need it: they connect without reading (server.connect).
	NeedsWelcome bool
	What         string // one line: what it checks, for reports and handouts
	Run          func(*T)
}

// Config says what is under test and how to run it.
type Config struct {
	Server    []string // the server's command line, without flags
	Client    []string // the client's command line, without arguments
	ShmServer []string // the server of lab 3 (-lab shm)
	// SingleProcess says the servers serve every client in one process
	// (the epoll baseline): the checks of child processes do not apply.
	SingleProcess bool
	// Credential, if set, runs the programs under test as another user.
	Credential *syscall.Credential
}

// Failure is what a failed test reports.
type Failure struct {
	Did      string // what the test did
	Expected string // what it expected
	Got      string // what came back
	Diff     string // -expected +received, where text was compared
	Hint     string // what is probably wrong
	ByHand   string // how to see the same thing by hand
	// TimedOut: the program did not answer within a wait's limit (status
	// TIMEOUT), rather than answering wrong (FAIL).
	TimedOut bool `json:",omitempty"`
}

// T is the context of one running test. It owns the processes and
// connections the test opens and closes them when the test ends.
type T struct {
	cfg  Config
	lab  string
	name string // the test's, "shm/relay"
	lang lang   // of the program under test, for hints
	// byHand, if set, is how to replay the whole test by hand (a
	// scenario's steps), for failures that do not say more precisely.
	byHand string
	// stderrOf, if set, is the program whose stderr a failure shows (a
	// test that runs the program many times); else the first one started.
	stderrOf *harness.Proc

	mu      sync.Mutex
	notes   []string
	failure *Failure
	procs   []*harness.Proc
	conns   []*wire.Conn
	server  *server // the first server the test started, if any
	closers []func()
	aborted bool
	ended   chan struct{} // closed by finish
}

// errStop unwinds a test that has failed; the runner recovers it.
var errStop = errors.New("test stopped")

// Fail records f and stops the test. A lab 3 test that waited in vain is
// told what state the server was left in, when it is one that explains the
// wait (ringsFull).
func (t *T) Fail(f Failure) {
	t.mu.Lock()
	s, conns := t.server, slices.Clone(t.conns)
	t.mu.Unlock()
	if s != nil && t.lab == "shm" && (f.TimedOut || strings.Contains(f.Got, wire.ErrTimeout.Error())) {
		f = s.ringsFull(f, conns)
	}
	t.mu.Lock()
	if t.failure == nil {
		t.failure = &f
	}
	t.mu.Unlock()
	panic(errStop)
}

// Check fails with f when err is not nil, taking err's text as what came
// back unless f says.
func (t *T) Check(err error, f Failure) {
	if err == nil {
		return
	}
	if f.Got == "" {
		f.Got = err.Error()
	}
	f.TimedOut = errors.Is(err, wire.ErrTimeout)
	t.Fail(f)
}

// setup fails the test when the grader itself cannot do its part (the
// machine, not the program under test, is at fault).
func (t *T) setup(err error, what string) {
	if err != nil {
		t.Fail(Failure{Did: what, Got: err.Error(),
			Hint: "the grader could not set up this test: is /proc mounted, and may this user open sockets and pipes?"})
	}
}

// Logf records a note: what the test did or saw (shown with -v and on
// failure).
func (t *T) Logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// start runs a program under test, owned by t.
func (t *T) start(argv []string, opt harness.Options) *harness.Proc {
	t.mu.Lock()
	if t.aborted {
		t.mu.Unlock()
		panic(errStop)
	}
	t.mu.Unlock()
	opt.Credential = t.cfg.Credential
	p, err := harness.Start(argv[0], argv[1:], opt)
	if err != nil {
		t.Fail(Failure{Did: "start " + strings.Join(argv, " "), Got: err.Error(),
			Hint: "check that the program was built and the path is right"})
	}
	t.mu.Lock()
	t.procs = append(t.procs, p)
	t.mu.Unlock()
	if st, err := os.Stat(fmt.Sprintf("/proc/%d", p.Pid)); err == nil {
		t.Logf("started %s as pid %d, uid %d", filepath.Base(argv[0]), p.Pid, st.Sys().(*syscall.Stat_t).Uid)
	}
	return p
}

// own registers a connection to close when the test ends.
func (t *T) own(c *wire.Conn) *wire.Conn {
	t.mu.Lock()
	t.conns = append(t.conns, c)
	t.mu.Unlock()
	return c
}

// finish closes the test's connections and kills and reaps its processes,
// whatever state they are in. It is safe to call while the test still runs
// (a timeout): every wait the test is blocked in then ends.
func (t *T) finish() {
	t.mu.Lock()
	if !t.aborted {
		close(t.ended)
	}
	t.aborted = true
	conns, procs, closers := slices.Clone(t.conns), slices.Clone(t.procs), slices.Clone(t.closers)
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	for _, f := range closers {
		f()
	}
	for _, p := range slices.Backward(procs) {
		p.KillTree()
	}
}

// stderrTail returns the last lines of what the first program wrote to
// stderr, for failure reports.
func (t *T) stderrTail(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.procs) == 0 {
		return ""
	}
	p := t.procs[0]
	if t.stderrOf != nil {
		p = t.stderrOf
	}
	lines := strings.Split(strings.TrimRight(p.Stderr(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// wait bounds each wait for one line or one process state. A correct
// program answers in milliseconds; the bound decides only how long a broken
// one takes to fail, also on a loaded machine.
const wait = 5 * time.Second
