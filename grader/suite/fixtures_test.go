package suite

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bin holds the programs the tests grade: the reference programs, and the
// broken ones that prove each test can fail: fixtures/broken (Go), and the
// C references built with one DEFECT_* macro each.
var bin = map[string]string{}

// cSource is the C reference each family of C fixtures is built from.
var cSource = map[string]string{"server": "serveur.c", "shmserver": "serveur_shm.c", "client": "client.c"}

func TestMain(m *testing.M) { os.Exit(harness.Main(m, buildAll)) }

func buildAll(dir string) error {
	root := filepath.Join("..", "..")
	for name, pkg := range map[string]string{
		"chat_server": "solutions/server", "chat_client": "solutions/client", "threads": "fixtures/broken/threads",
		"chat_server_shm": "solutions/shmserver", "chat_server_epoll": "solutions/epollserver",
		"panics": "fixtures/broken/panics",
	} {
		path, err := harness.BuildGo(filepath.Join(root, pkg), dir, name)
		if err != nil {
			return err
		}
		bin[name] = path
	}
	// A correct variant: another /dev/shm name, unlinked once mapped.
	other := filepath.Join(dir, "c_shmserver_OTHER_NAME")
	if msg, err := exec.Command("gcc", "-O2", "-DVARIANT_OTHER_NAME", "-o", other, filepath.Join(root, "solutions/c/serveur_shm.c")).CombinedOutput(); err != nil {
		return fmt.Errorf("gcc c_shmserver_OTHER_NAME: %v\n%s", err, msg)
	}
	bin["c_shmserver_OTHER_NAME"] = other
	for _, src := range []string{"server", "client", "shmserver"} {
		defects, err := defectsOf(filepath.Join(root, "solutions/c", cSource[src]))
		if err != nil {
			return err
		}
		for _, d := range append([]string{"OK"}, defects...) {
			name := "c_" + src + "_" + d // c_server_OK, c_shmserver_NO_UNLINK, ...
			out := filepath.Join(dir, name)
			cmd := exec.Command("gcc", "-O2", "-DDEFECT_"+d, "-o", out, filepath.Join(root, "solutions/c", cSource[src]))
			if msg, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("gcc %s: %v\n%s", name, err, msg)
			}
			bin[name] = out
		}
	}
	return nil
}

// defectRE matches a line of a C source's header comment that describes a
// DEFECT_* macro: " *   DEFECT_NAME  what it breaks" (the Makefile's
// fixtures target reads the same lines).
var defectRE = regexp.MustCompile(`(?m)^ \*   DEFECT_([A-Z0-9_]+)`)

// defectsOf lists the defects the C source at path describes.
func defectsOf(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range defectRE.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s describes no DEFECT_* in its header comment", path)
	}
	return out, nil
}

// grade runs the tests of lab matching run and returns the status of each
// test that did not pass, checking on the way that every failure says what
// was done and what to do, and that nothing is left running.
func grade(t *testing.T, cfg Config, lab, run string) map[string]Status {
	t.Helper()
	tests, err := Select(lab, run)
	require.NoError(t, err)
	shmBefore, _ := os.ReadDir("/dev/shm")
	got := map[string]Status{}
	for _, test := range tests {
		r := Run(test, cfg, 1)
		if r.Status == Pass {
			continue
		}
		got[test.Name] = r.Status
		if r.Status == NotApplicable {
			continue
		}
		f := r.Failure
		if f != nil {
			t.Logf("%s %s:\n did: %s\n expected: %s\n got: %s\n diff: %s\n notes: %q\n stderr: %s",
				r.Status, test.Name, f.Did, f.Expected, f.Got, f.Diff, r.Notes, r.Stderr)
		}
		require.NotNil(t, f, "%s: a failure without a report", test.Name)
		assert.NotEmpty(t, f.Did, "%s: the failure must say what was done", test.Name)
		assert.NotEmpty(t, f.Expected+f.Diff, "%s: the failure must say what was expected", test.Name)
		assert.NotEmpty(t, f.Got+f.Diff, "%s: the failure must say what came back", test.Name)
		assert.NotEmpty(t, f.Hint, "%s: the failure must give a hint", test.Name)
		assert.NotContains(t, f.Hint, "grader bug", "%s: %s", test.Name, f.Got)
	}
	assertNothingLeft(t, slices.Concat(cfg.Server, cfg.Client, cfg.ShmServer))
	// Shared memory objects outlive their processes: the grader must remove
	// what the programs it killed left in /dev/shm. Tests of other packages
	// may be running servers meanwhile; their objects go within moments,
	// while one this run leaked stays.
	var left []string
	harness.Eventually(2*time.Second, "new /dev/shm objects to go", func() (bool, error) {
		left = left[:0]
		shmAfter, _ := os.ReadDir("/dev/shm")
		for _, e := range shmAfter {
			if !slices.ContainsFunc(shmBefore, func(b os.DirEntry) bool { return b.Name() == e.Name() }) {
				if mappedNow(e.Name()) {
					continue // a server running now, in another test
				}
				left = append(left, e.Name())
			}
		}
		return len(left) == 0, nil
	})
	for _, name := range left {
		t.Errorf("left in /dev/shm: %s", name)
	}
	return got
}

// mappedNow reports whether a live process maps /dev/shm/name: a server
// of a test running in parallel, whatever name it gives its object.
func mappedNow(name string) bool {
	all, _ := procfs.All()
	for _, st := range all {
		paths, _ := procfs.ShmMappings(st.Pid)
		if slices.Contains(paths, "/dev/shm/"+name) {
			return true
		}
	}
	return false
}

// running counts the subtests that run in parallel (inParallel) now.
var running atomic.Int32

// inParallel runs the rest of subtest t in parallel with its siblings: each
// grades its own program, so the fixture matrix takes half the time on two
// cores. Its parent checks, once they are all done, that none left a child
// (assertNothingLeft with no argv), which they cannot check while others
// run.
func inParallel(t *testing.T) {
	t.Parallel()
	running.Add(1)
	t.Cleanup(func() { running.Add(-1) })
}

// assertNothingLeft checks that no process of the programs in argv is alive
// and, unless subtests run in parallel, that this process has no child left
// (it is a subreaper).
func assertNothingLeft(t *testing.T, argv []string) {
	t.Helper()
	all, err := procfs.All()
	require.NoError(t, err)
	for _, st := range all {
		args, _ := procfs.Cmdline(st.Pid)
		for _, prog := range argv {
			if len(args) > 0 && strings.HasPrefix(prog, "/") && args[0] == prog {
				t.Errorf("left running: pid %d %v (state %c)", st.Pid, args, st.State)
			}
		}
		if st.PPid == os.Getpid() && running.Load() <= 1 {
			t.Errorf("left as our child: pid %d %s (state %c)", st.Pid, st.Comm, st.State)
		}
	}
}

func TestReferenceProgramsPassEverything(t *testing.T) {
	got := grade(t, Config{Server: []string{bin["chat_server"]}, Client: []string{bin["chat_client"]},
		ShmServer: []string{bin["chat_server_shm"]}}, "all", "")
	assert.Empty(t, got, "the reference programs must score full marks")
}

// TestLab2ServerFailsLab3: lab 2's server is a correct lab 2 server, so the
// shm suite's copies of the server tests pass, and exactly the checks of the
// shared memory design fail: proof that they can.
func TestLab2ServerFailsLab3(t *testing.T) {
	got := grade(t, Config{ShmServer: []string{bin["chat_server"]}}, "shm", "")
	assert.Equal(t, map[string]Status{"shm/mapping": Fail, "shm/two-servers": Fail, "shm/index-only": Fail, "shm/idle-timeout": Timeout}, got)
}

// TestEpollBaselinePassesServerSuite: the single-process baseline passes
// every protocol test of the server suite; the checks of child processes do
// not apply to it, and without -single-process they are exactly what fails.
func TestEpollBaselinePassesServerSuite(t *testing.T) {
	perClient := []string{"server/processes", "server/pipes", "server/child-fds", "server/stopped-child", "server/zombies", "server/child-killed", "server/big-frames"}
	na, fail := map[string]Status{}, map[string]Status{}
	for _, name := range perClient {
		na[name], fail[name] = NotApplicable, Fail
	}
	epoll := []string{bin["chat_server_epoll"]}
	assert.Equal(t, na, grade(t, Config{Server: epoll, SingleProcess: true}, "server", ""))
	assert.Equal(t, fail, grade(t, Config{Server: epoll}, "server", strings.Join(perClient, "|")))
}

func TestCServerPassesEverything(t *testing.T) {
	got := grade(t, Config{Server: []string{bin["c_server_OK"]}}, "server", "")
	assert.Empty(t, got, "a correct server in C must score full marks: the grader is a black box")
}

func TestCClientPassesEverything(t *testing.T) {
	got := grade(t, Config{Client: []string{bin["c_client_OK"]}}, "client", "")
	assert.Empty(t, got, "a correct client in C must score full marks")
}

// formatTests are the tests of the line format: a server that speaks
// another one fails exactly these, whatever else it gets right.
var formatTests = map[string]Status{"server/welcome": Fail, "server/left": Fail, "server/relay": Fail, "server/no-echo": Fail,
	"server/child-killed": Fail, "server/last-words": Fail, "server/long-lines": Fail, "server/pipelined": Fail,
	"server/max-clients": Fail, "server/goodbye": Fail, "server/burst": Fail, "server/slow-reader": Fail,
	"server/flood-reader": Fail, "server/big-frames": Fail, "server/bytes": Fail, "server/final-line": Fail, "server/telnet": Fail}

// TestBrokenServersAreCaught: each broken server fails exactly the tests
// that target its defect.
func TestBrokenServersAreCaught(t *testing.T) {
	t.Cleanup(func() { assertNothingLeft(t, nil) }) // after the parallel subtests
	otherFormatNoReap := maps.Clone(formatTests)
	otherFormatNoReap["server/zombies"] = Fail
	for _, tc := range []struct {
		prog string
		want map[string]Status
	}{
		{"c_server_SIGPIPE", map[string]Status{"server/sigpipe-stdio": Fail}},
		// Its design announces a child's death when it reaps it.
		{"c_server_NO_REAP", map[string]Status{"server/zombies": Fail, "server/child-killed": Timeout}},
		{"c_server_REAP_ONCE", map[string]Status{"server/zombies": Fail}},
		{"c_server_LEAVE_CHILDREN", map[string]Status{"server/sigterm": Fail, "server/sigint": Fail}},
		// The readers of the other tests pass over their own messages: an
		// echo is no-echo's business alone.
		{"c_server_ECHO", map[string]Status{"server/no-echo": Fail}},
		// Dropping under a burst loses lines in every test that sends one;
		// flood-reader's reader meets a gap (FAIL) or, when the flood and
		// its last line fall in one second, waits for lines dropped
		// (TIMEOUT).
		{"c_server_DROP_BURST", map[string]Status{"server/sigpipe-reset": Timeout, "server/burst": Timeout,
			"server/slow-reader": Timeout, "server/flood-reader": racy, "server/big-frames": Timeout}},
		// Ignoring -port, it binds 5015 whatever port is given, busy or not.
		{"c_server_FIXED_PORT", map[string]Status{"server/port": Fail, "server/command-line": Fail}},
		// A split frame corrupts whatever flows when it happens: slow-reader's
		// heavy flow, and telnet's lines sent while main is stopped (the pipe
		// to main fills), and sigpipe-reset's 200 lines while two clients'
		// goodbye frames go up, meet it now and then (the fault is real
		// there too).
		{"c_server_BIG_FRAMES", map[string]Status{"server/big-frames": Fail, "server/slow-reader": mayFail, "server/telnet": mayFail, "server/sigpipe-reset": mayFail}},
		{"c_server_NO_KICK", map[string]Status{"server/slow-reader": Fail}},
		{"c_server_NUL_CSTRING", map[string]Status{"server/bytes": Fail}},
		{"c_server_NO_REUSEADDR", map[string]Status{"server/restart": Fail}},
		// It drops the last line on a reset too, which last-words sends.
		{"c_server_DROP_FINAL_LINE", map[string]Status{"server/final-line": Fail, "server/last-words": Fail}},
		{"c_server_NO_TELNET", map[string]Status{"server/telnet": Fail}},
		{"c_server_NO_TELNET_REPLY", map[string]Status{"server/telnet": Fail}},
		{"c_server_TELNET_PER_READ", map[string]Status{"server/telnet": Fail}},
		{"c_server_TELNET_ANSWER_ALL", map[string]Status{"server/telnet": Fail}},
		{"c_server_TELNET_MIDLINE", map[string]Status{"server/telnet": Fail}},
		{"c_server_STRIP_CR", map[string]Status{"server/bytes": Fail}},
		{"c_server_KEEP_CLIENT_FD", map[string]Status{"server/child-killed": Timeout}},
		{"c_server_CHILD_KEEPS_LISTEN", map[string]Status{"server/child-fds": Fail}},
		{"c_server_BLOCKING_PIPE", map[string]Status{"server/stopped-child": Timeout}},
		{"c_server_NO_OOBINLINE", map[string]Status{"server/telnet": Fail}},
		// Every heavy flow to a reader meets short writes now and then.
		{"c_server_SHORT_WRITE_DROPS", map[string]Status{"server/flood-reader": Fail, "server/sigpipe-reset": mayFail,
			"server/burst": mayFail, "server/slow-reader": mayFail, "server/big-frames": mayFail}},
		{"c_server_OTHER_FORMAT", formatTests},
		{"c_server_OTHER_FORMAT_NO_REAP", otherFormatNoReap},
		{"c_server_BUSY_POLL", map[string]Status{"server/idle-cpu": Fail}},
		// It also kicks a client once 1 MiB is queued for it, reading or
		// not, and never holds a sender back (the rule protocol.md had
		// before "Slow readers and flow control"): flood-reader's steady
		// reader is kicked.
		{"threads", map[string]Status{"server/processes": Fail, "server/pipes": Fail, "server/child-fds": Fail, "server/stopped-child": Fail, "server/zombies": Fail,
			"server/child-killed": Fail, "server/last-words": Fail, "server/flood-reader": Fail, "server/big-frames": Fail}},
	} {
		t.Run(tc.prog, func(t *testing.T) {
			inParallel(t)
			got := grade(t, Config{Server: []string{bin[tc.prog]}}, "server", "")
			assert.Equal(t, tc.want, settle(tc.want, got))
			t.Logf("%s fails: %v", tc.prog, slices.Sorted(maps.Keys(got)))
		})
	}
}

// TestDeathIsNamed: a server killed by SIGPIPE when it logs to a closed
// stderr is reported as killed by SIGPIPE every time, not as a connection
// reset or a dead accept loop, whichever the test happened to see first.
func TestDeathIsNamed(t *testing.T) {
	tests, err := Select("server", "^server/sigpipe-stdio$")
	require.NoError(t, err)
	for i := range 20 {
		r := Run(tests[0], Config{Server: []string{bin["c_server_SIGPIPE"]}}, 1)
		require.Equal(t, Fail, r.Status, "run %d", i)
		assert.Contains(t, r.Failure.Got, "killed by SIGPIPE", "run %d", i)
	}
}

// TestPanicIsShown: a Go server that panics after accept is reported with
// the panic's first line, whichever test meets it first, and quickly:
// every test fails at once on the observed cause.
func TestPanicIsShown(t *testing.T) {
	cfg := Config{Server: []string{bin["panics"]}}
	tests, err := Select("server", "")
	require.NoError(t, err)
	for _, test := range tests {
		r := Run(test, cfg, 1)
		if test.Name == "server/port" {
			continue // it checks the listening socket only, which is right
		}
		if test.Name == "server/sigpipe-stdio" || test.Name == "server/command-line" {
			continue // it closes the server's stderr on purpose; it never gets as far as accept
		}
		require.Equal(t, Fail, r.Status, test.Name)
		assert.Contains(t, r.Stderr, "panic: TODO(lab2): serve the client", test.Name)
		assert.Contains(t, r.Failure.Got, "exited with status 2", test.Name)
	}
	assertNothingLeft(t, cfg.Server)
}

func TestCShmServerPassesLab3(t *testing.T) {
	got := grade(t, Config{ShmServer: []string{bin["c_shmserver_OK"]}}, "shm", "")
	assert.Empty(t, got, "a correct lab 3 server in C must score full marks")
	// The object is one by its device and inode, whatever its name.
	got = grade(t, Config{ShmServer: []string{bin["c_shmserver_OTHER_NAME"]}}, "shm", "")
	assert.Empty(t, got, "a correct lab 3 server whose object has another name, unlinked once mapped, must score full marks")
}

// TestBrokenShmServersAreCaught: each planted lab 3 bug fails exactly the
// tests that target it. The seed's one-slot race corrupts text wherever
// lines arrive faster than the readers copy them out.
func TestBrokenShmServersAreCaught(t *testing.T) {
	t.Cleanup(func() { assertNothingLeft(t, nil) }) // after the parallel subtests
	for _, tc := range []struct {
		prog string
		want map[string]Status
	}{
		// last-words sends three lines and final-line two: the one slot is
		// reused under them in most runs, not all (final-line passed once in
		// the parallel run, 2026-12-01; 15 of 15 failed alone).
		{"c_shmserver_ONE_SLOT", map[string]Status{"shm/sigpipe-reset": racy, "shm/last-words": mayFail, "shm/long-lines": racy, "shm/pipelined": racy,
			"shm/burst": racy, "shm/burst-churn": racy, "shm/slow-reader": racy, "shm/flood-reader": racy, "shm/killed-reader": racy, "shm/final-line": mayFail, "shm/telnet": racy, "shm/stopped-child": racy,
			// A ring of one: a stopped reader holds the sender after one
			// message, if the burst before did not already overwrite one;
			// held-asleep's first line is overwritten in most runs.
			"shm/full-ring": racy, "shm/held-asleep": mayFail}},
		{"c_shmserver_NO_UNLINK", map[string]Status{"shm/sigterm": Fail, "shm/sigint": Fail}},
		{"c_shmserver_NO_TIMERS", map[string]Status{"shm/idle-timeout": Timeout}},
		{"c_shmserver_ADJUST_IN_PLACE", map[string]Status{"shm/idle-timeout": Timeout}},
		{"c_shmserver_TEXT_IN_PIPES", map[string]Status{"shm/index-only": Fail}},
		{"c_shmserver_EXPIRE_ALL", map[string]Status{"shm/idle-timeout": Fail}},
		{"c_shmserver_FIXED_NAME", map[string]Status{"shm/two-servers": Fail}},
		{"c_shmserver_RING_LEAK", map[string]Status{"shm/rings-reused": Fail}},
		{"c_shmserver_NO_OWN_HOLD", map[string]Status{"shm/alone": Timeout}},
		{"c_shmserver_SPIN_ON_HUP", map[string]Status{"shm/held-asleep": Fail}},
		{"c_shmserver_RING_OFF_BY_ONE", map[string]Status{"shm/full-ring": Fail}},
	} {
		t.Run(tc.prog, func(t *testing.T) {
			inParallel(t)
			got := grade(t, Config{ShmServer: []string{bin[tc.prog]}}, "shm", "")
			assert.Equal(t, tc.want, settle(tc.want, got))
		})
	}
}

// racy stands for FAIL or TIMEOUT: a race corrupts some lines (FAIL) or
// loses them, so that a wait runs out (TIMEOUT); which, varies from run to
// run. Which tests fail does not.
const racy Status = "FAIL or TIMEOUT"

// mayFail stands for PASS, FAIL or TIMEOUT: a test that a fault reaches
// only when its race goes one way. Which tests must fail does not vary.
const mayFail Status = "may fail"

// settle returns got with the statuses that want accepts as racy or mayFail
// written as such, so that the two compare exactly otherwise.
func settle(want, got map[string]Status) map[string]Status {
	out := maps.Clone(got)
	for name, st := range got {
		if (want[name] == racy || want[name] == mayFail) && (st == Fail || st == Timeout) {
			out[name] = want[name]
		}
	}
	for name, st := range want {
		if _, failed := out[name]; st == mayFail && !failed {
			out[name] = mayFail
		}
	}
	return out
}

func TestBrokenClientsAreCaught(t *testing.T) {
	t.Cleanup(func() { assertNothingLeft(t, nil) }) // after the parallel subtests
	for _, tc := range []struct {
		prog string
		want map[string]Status
	}{
		{"c_client_BUSY", map[string]Status{"client/idle-cpu": Fail}},
		// Blocked in read(stdin), it reads the socket only after a line is
		// typed, and stdin again only after the socket has data.
		{"c_client_TURNS", map[string]Status{"client/stdin": Fail, "client/prints-idle": Fail,
			"client/server-close": Fail, "client/escapes": Fail, "client/escapes-c1": Fail}},
		{"c_client_FULL_BUFFER", map[string]Status{"client/prints-idle": Fail}},
		{"c_client_BANNER", map[string]Status{"client/prints-idle": Fail}},
		{"c_client_NO_NEWLINE", map[string]Status{"client/stdin": Fail, "client/long-lines": Fail}},
		{"c_client_NO_C1", map[string]Status{"client/escapes-c1": Fail}},
		{"c_client_IPV4_ONLY", map[string]Status{"client/hosts": Fail}},
		{"c_client_HOLD_PARTIAL", map[string]Status{"client/final-line": Fail}},
		{"c_client_ESC_PAIR", map[string]Status{"client/escapes-c1": Fail}},
		{"c_client_STRLEN", map[string]Status{"client/stdin": Fail}},
	} {
		t.Run(tc.prog, func(t *testing.T) {
			inParallel(t)
			got := grade(t, Config{Client: []string{bin[tc.prog]}}, "client", "")
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestPrintsIdleTellsWhy: client/prints-idle names each of three faults
// for what it is.
func TestPrintsIdleTellsWhy(t *testing.T) {
	tests, err := Select("client", "^client/prints-idle$")
	require.NoError(t, err)
	for prog, want := range map[string]string{
		"c_client_TURNS":       "had not read the 32 bytes waiting in its socket",
		"c_client_FULL_BUFFER": "appeared only when it exited",
		"c_client_BANNER":      `besides the lines, it printed "Connected to`,
	} {
		r := Run(tests[0], Config{Client: []string{bin[prog]}}, 1)
		require.Equal(t, Fail, r.Status, prog)
		assert.Contains(t, r.Failure.Got, want, prog)
	}
}

// TestHangingServerTimesOut: a server that accepts and never answers fails
// the tests of the line format at once, once a first client has waited out
// its limit for the welcome; the others end in TIMEOUT by a wait's limit or
// by the test's own deadline, and everything they started is killed.
func TestHangingServerTimesOut(t *testing.T) {
	cfg := Config{Server: []string{bin["threads"], "-hang"}}
	tests, err := Select("server", "^server/welcome$")
	require.NoError(t, err)
	r := Run(tests[0], cfg, 1)
	assert.Equal(t, Fail, r.Status, "the probe saw no welcome within its wait: the tests that need it fail at once")
	assert.Contains(t, r.Failure.Got, "timed out after 5s")

	// server/processes needs no welcome: it runs, and waits for a child.
	tests, err = Select("server", "^server/processes$")
	require.NoError(t, err)
	short := *tests[0]
	short.Timeout = 500 * time.Millisecond // shorter than any of its waits
	start := time.Now()
	r = Run(&short, cfg, 1)
	assert.Equal(t, Timeout, r.Status)
	assert.Contains(t, r.Failure.Expected, "within its limit of 500ms")
	assert.Less(t, time.Since(start), 3*time.Second, "the test's deadline must end it")
	assertNothingLeft(t, cfg.Server)
}

func TestRepeatStopsAtFirstFailure(t *testing.T) {
	tests, err := Select("server", "^server/no-echo$")
	require.NoError(t, err)
	r := Run(tests[0], Config{Server: []string{bin["chat_server"]}}, 3)
	assert.Equal(t, Pass, r.Status)
	assert.Equal(t, 3, r.Runs)
	r = Run(tests[0], Config{Server: []string{bin["c_server_ECHO"]}}, 3)
	assert.Equal(t, Fail, r.Status)
	assert.Equal(t, 1, r.Runs)
}

func TestSelect(t *testing.T) {
	all, err := Select("all", "")
	require.NoError(t, err)
	names := map[string]bool{}
	for _, test := range all {
		assert.False(t, names[test.Name], "duplicate test %s", test.Name)
		names[test.Name] = true
		assert.True(t, strings.HasPrefix(test.Name, test.Lab+"/"), test.Name)
		assert.Positive(t, test.Points, test.Name)
		assert.NotEmpty(t, test.What, test.Name)
	}
	_, err = Select("lab4", "")
	assert.ErrorContains(t, err, "not one of")
	_, err = Select("all", "nothing-matches")
	assert.ErrorContains(t, err, "no test")
}

// TestFaultClassesCaughtEveryTime: each fault class is caught by its test
// in 20 runs out of 20, not in most of them: the tests force what would
// otherwise be a race (a full pipe, a stopped process, two deaths under
// one SIGCHLD).
func TestFaultClassesCaughtEveryTime(t *testing.T) {
	t.Cleanup(func() { assertNothingLeft(t, nil) }) // after the parallel subtests
	for _, tc := range []struct{ prog, lab, test string }{
		{"c_server_BIG_FRAMES", "server", "server/big-frames"},
		{"c_server_NO_KICK", "server", "server/slow-reader"},
		{"c_server_NUL_CSTRING", "server", "server/bytes"},
		{"c_server_NO_REUSEADDR", "server", "server/restart"},
		{"c_server_DROP_FINAL_LINE", "server", "server/final-line"},
		{"c_server_NO_TELNET", "server", "server/telnet"},
		{"c_server_NO_TELNET_REPLY", "server", "server/telnet"},
		{"c_server_TELNET_PER_READ", "server", "server/telnet"},
		{"c_server_TELNET_ANSWER_ALL", "server", "server/telnet"},
		{"c_server_TELNET_MIDLINE", "server", "server/telnet"},
		{"c_server_STRIP_CR", "server", "server/bytes"},
		{"c_server_BUSY_POLL", "server", "server/idle-cpu"},
		{"c_client_NO_C1", "client", "client/escapes-c1"},
		{"c_client_IPV4_ONLY", "client", "client/hosts"},
		{"c_client_HOLD_PARTIAL", "client", "client/final-line"},
		{"c_client_ESC_PAIR", "client", "client/escapes-c1"},
		{"c_client_STRLEN", "client", "client/stdin"},
		// No message passes at all: the mapping test names the cause.
		{"c_shmserver_MAP_PRIVATE", "shm", "shm/mapping"},
	} {
		t.Run(tc.prog, func(t *testing.T) {
			inParallel(t)
			tests, err := Select(tc.lab, "^"+tc.test+"$")
			require.NoError(t, err)
			cfg := Config{Server: []string{bin[tc.prog]}, Client: []string{bin[tc.prog]}, ShmServer: []string{bin[tc.prog]}}
			for i := range 20 {
				r := Run(tests[0], cfg, 1)
				require.NotEqual(t, Pass, r.Status, "%s passed %s on run %d", tc.prog, tc.test, i+1)
			}
		})
	}
	// A main that reaps one child per SIGCHLD: each failing run waits out
	// the process count (5 s), so 6 runs here; 20 of 20 measured by hand
	// (grade -run 'zombies$' on c_server_REAP_ONCE, 2026-11-30).
	t.Run("c_server_REAP_ONCE", func(t *testing.T) {
		tests, err := Select("server", "^server/zombies$")
		require.NoError(t, err)
		for i := range 6 {
			r := Run(tests[0], Config{Server: []string{bin["c_server_REAP_ONCE"]}}, 1)
			require.NotEqual(t, Pass, r.Status, "c_server_REAP_ONCE passed server/zombies on run %d", i+1)
		}
	})
}

// TestEveryDefectIsJudged: each DEFECT_* a C source describes is built into
// a fixture (buildAll) and has a verdict in one of this file's tables (its
// quoted name, "c_server_ECHO", appears here): a fixture that no test
// judges proves nothing.
func TestEveryDefectIsJudged(t *testing.T) {
	b, err := os.ReadFile("fixtures_test.go")
	require.NoError(t, err)
	for _, src := range []string{"server", "client", "shmserver"} {
		defects, err := defectsOf(filepath.Join("..", "..", "solutions/c", cSource[src]))
		require.NoError(t, err)
		for _, d := range defects {
			name := "c_" + src + "_" + d
			assert.Contains(t, string(b), strconv.Quote(name), "%s: built, but no table of fixtures_test.go gives its verdict", name)
			assert.FileExists(t, bin[name])
		}
	}
}

// TestLostWakeupIsNamed: a shm server whose main reads one record per
// edge-triggered event leaves records in a child's pipe and sleeps; the
// timeout names that (blockedIn, unreadInEpoll), not the usual advice.
// Whether records pile up behind one event depends on how the child's
// writes fall, so it runs until one run times out (most do), at most 10.
func TestLostWakeupIsNamed(t *testing.T) {
	tests, err := Select("shm", "^shm/pipelined$")
	require.NoError(t, err)
	for i := range 10 {
		r := Run(tests[0], Config{ShmServer: []string{bin["c_shmserver_ET_ONE_RECORD"]}}, 1)
		if r.Status != Timeout {
			continue
		}
		assert.Contains(t, r.Failure.Got, "registered edge-triggered (EPOLLET)", "run %d", i+1)
		assert.Contains(t, r.Failure.Hint, "read until read() fails with EAGAIN")
		return
	}
	t.Fatal("c_shmserver_ET_ONE_RECORD: no run of shm/pipelined out of 10 timed out")
}

// TestMisdiagnosesNamed: faults whose symptoms other tests see first get
// a hint that names them, not only the failing test's own advice. A parent
// that kills children as stuck at once: a relay test fails, and its hint
// says a reader was kicked too soon. A parent that never writes what it
// queued: the first client gets no line, and the report says nothing was
// on its way (every process asleep, every pipe empty). A parent that never
// sends FREED: the stall names the rings.
func TestMisdiagnosesNamed(t *testing.T) {
	tests, err := Select("shm", "^shm/(no-echo|relay)$")
	require.NoError(t, err)
	kicked := false
	for i := 0; i < 10 && !kicked; i++ {
		for _, test := range tests {
			r := Run(test, Config{ShmServer: []string{bin["c_shmserver_STUCK_AT_ONCE"]}}, 1)
			if r.Status != Pass && strings.Contains(r.Failure.Hint, "was kicked as too slow, though the grader's clients read everything") {
				kicked = true
				break
			}
		}
	}
	assert.True(t, kicked, "c_shmserver_STUCK_AT_ONCE: no failure of shm/no-echo or shm/relay in 10 rounds named the kick")
	r := Run(tests[0], Config{ShmServer: []string{bin["c_shmserver_NO_TURN_FLUSH"]}}, 1)
	require.NotEqual(t, Pass, r.Status)
	assert.Contains(t, r.Failure.Got, "every pipe between them empty: no line was on its way")
	assert.Contains(t, r.Failure.Hint, "something must write that queue into the pipe")
	// A parent that never sends FREED: after a ring's 16 lines the sender's
	// child stops reading its client, and the server sleeps. A test of
	// another subject says so; one whose sender's bytes were all read says
	// nothing was on its way, and points at the rings.
	tests, err = Select("shm", "^shm/(index-only|pipelined)$")
	require.NoError(t, err)
	for _, test := range tests {
		r := Run(test, Config{ShmServer: []string{bin["c_shmserver_NO_FREED"]}}, 1)
		require.Equal(t, Timeout, r.Status, test.Name)
		assert.Contains(t, r.Failure.Got, "every pipe between them empty", test.Name)
		assert.Contains(t, r.Failure.Hint, "the parent must send FREED(slot) to the ring's owner", test.Name)
		if test.Name == "shm/index-only" {
			assert.Contains(t, r.Failure.Got, "child left", test.Name)
			assert.True(t, strings.HasPrefix(r.Failure.Hint, "no slot came back to the sender's ring"), "shm/index-only: the test's own hint (relay every message) replaced: %s", r.Failure.Hint)
		}
	}
	assertNothingLeft(t, nil)
}

// kickedTooSoon leaves alone a kick in the tests that kick on purpose.
func TestKickedTooSoonSparesDeliberateKicks(t *testing.T) {
	f := &Failure{Hint: "own"}
	tr := []string{"user1:\n<< \"* user2 kicked: too slow\""}
	assert.Equal(t, "own", kickedTooSoon(&Test{Name: "shm/slow-reader", Lab: "shm"}, f, tr).Hint)
	assert.Contains(t, kickedTooSoon(&Test{Name: "shm/relay", Lab: "shm"}, f, tr).Hint, "user2 was kicked as too slow")
	assert.Equal(t, "own", kickedTooSoon(&Test{Name: "shm/relay", Lab: "shm"}, f, []string{"user1:\n<< \"user2: hi\""}).Hint)
}

// TestClientTriesEveryAddress: where localhost resolves to both ::1 and
// 127.0.0.1, in either order, client/hosts fails a client that tries only
// the first address getaddrinfo returns, and passes one that tries each.
// This machine's /etc/hosts may give localhost one address: the test
// writes its own into a private mount namespace (unshare -m, as root), and
// runs the grade command there; elsewhere it is skipped.
func TestClientTriesEveryAddress(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare(1) for a private /etc/hosts")
	}
	dir := t.TempDir()
	grade, err := harness.BuildGo(filepath.Join("..", "..", "grader/cmd/grade"), dir, "grade")
	require.NoError(t, err)
	for _, hosts := range []string{"::1 localhost\n127.0.0.1 localhost\n", "127.0.0.1 localhost\n::1 localhost\n"} {
		file := filepath.Join(dir, "hosts")
		require.NoError(t, os.WriteFile(file, []byte(hosts), 0o644))
		for prog, want := range map[string]string{"c_client_OK": "PASS", "c_client_FIRST_ADDRESS_ONLY": "FAIL"} {
			out, _ := exec.Command("unshare", "-m", "sh", "-c", `mount --bind "$1" /etc/hosts && exec "$2" -lab client -client "$3" -run '^client/hosts$'`,
				"sh", file, grade, bin[prog]).CombinedOutput()
			if strings.Contains(string(out), "mount:") || strings.Contains(string(out), "unshare:") {
				t.Skipf("no private mount namespace here: %s", out)
			}
			assert.Regexp(t, "(?m)^"+want+" +client/hosts ", string(out), "%s, /etc/hosts %q", prog, hosts)
		}
	}
}
