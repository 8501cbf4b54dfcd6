package suite

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"
	"chatlab/grader/wire"
)

// greeting is what a first client of a fresh server met, found once per
// server and lab before the lab's first test (probeGreeting): whether the
// server listened, and whether its first line was the welcome. The tests of
// the line format need the welcome; when it is wrong they end at once with
// this cause instead of each waiting out its deadline for a line that does
// not come. The tests of processes, pipes, signals and CPU do not need it.
type greeting struct {
	listenFailure  *Failure // the server did not listen: every test stops
	welcomeFailure *Failure // it listened, but the first line was not "* welcome user1"
	stderr         string   // the end of the probed server's stderr

	mu       sync.Mutex
	reported map[*Failure]bool
}

// firstReport reports whether f is given to a test for the first time.
func (g *greeting) firstReport(f *Failure) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reported == nil {
		g.reported = map[*Failure]bool{}
	}
	first := !g.reported[f]
	g.reported[f] = true
	return first
}

var greetings sync.Map // probeKey -> *greeting

func probeKey(cfg Config, lab string) string {
	uid := -1
	if cfg.Credential != nil {
		uid = int(cfg.Credential.Uid)
	}
	cmd := serverCmdOf(cfg, lab)
	id := "" // the program file itself, so that one rebuilt at the same path is probed anew
	if len(cmd) > 0 {
		if path, err := exec.LookPath(cmd[0]); err == nil {
			if st, err := os.Stat(path); err == nil {
				id = fmt.Sprintf("%d:%d:%v", st.Sys().(*syscall.Stat_t).Ino, st.Size(), st.ModTime().UnixNano())
			}
		}
	}
	return fmt.Sprintf("%s\x00%d\x00%s\x00%s", lab, uid, id, strings.Join(cmd, "\x00"))
}

// probeGreeting starts the server of lab once per grading process, connects
// one client and reads its first line, within the usual waits.
func probeGreeting(cfg Config, lab string) *greeting {
	key := probeKey(cfg, lab)
	if g, ok := greetings.Load(key); ok {
		return g.(*greeting)
	}
	g := &greeting{}
	probe := &Test{Name: lab + "/first-line", Lab: lab, Timeout: 3 * wait, Run: func(t *T) {
		s := t.startServer(harness.Options{})
		c := s.dial("user1")
		line, err := c.ReadLine(wait)
		if err == nil && line == "* welcome user1" {
			return
		}
		f := Failure{
			Did:      "connected a first client to a fresh server (once, before this lab's tests) and read its first line",
			Expected: strconv.Quote("* welcome user1") + ", ending in \\n",
			Hint: "every test of the line format starts with the welcome line, so each ends here: " +
				"make the first line a new client gets exactly \"* welcome userN\\n\", N counting connections from 1",
			ByHand: strings.Replace(s.cmd, "-port 0", "-port 5015", 1) + " in one terminal; nc localhost 5015 | od -c in another",
		}
		switch {
		case err == nil:
			f.Got = "the first line was " + strconv.Quote(line)
			if strings.TrimRight(line, "\r") == "* welcome user1" {
				f.Hint = "end each line the server sends with \\n alone, not \\r\\n"
			}
		case errors.Is(err, wire.ErrTimeout):
			// An observed cause, judged once: FAIL, not TIMEOUT, for the tests
			// that need the line.
			f.Got = err.Error() + ": the server sent no complete line"
			if c.Peek() == wire.Quiet && !s.proc.Exited() {
				settleProc(s.proc)
				kids, _ := procfs.Children(s.proc.Pid)
				if len(kids) > 0 && !procfs.TreeRunning(s.proc.Pid) && unreadPipes(s.proc.Pid) == 0 {
					f.Got += "; meanwhile every process of the server was asleep and every pipe between them empty: no line was on its way"
					f.Hint += "; if your main queues what it has for a child (the welcome too), something must write that queue into the pipe: at the end of each turn of the loop, and when poll/epoll says the pipe has room"
				}
			}
		default:
			settleProc(s.proc)
			f.Got = err.Error()
		}
		if s.proc.Exited() {
			f.Got += "; the server " + describeExit(s.proc.ExitState())
			f.Hint = "the server must keep running; its stderr (below) may say why it stopped"
		}
		t.mu.Lock()
		g.welcomeFailure = &f
		t.mu.Unlock()
	}}
	status, t := runOnce(probe, cfg)
	t.mu.Lock()
	if status != Pass && g.welcomeFailure == nil && t.failure != nil {
		f := *t.failure // it did not listen, or the probe itself timed out
		g.listenFailure = &f
	}
	t.mu.Unlock()
	g.stderr = t.stderrTail(15)
	actual, _ := greetings.LoadOrStore(key, g)
	return actual.(*greeting)
}

// stops returns the probe's failure if it decides test without running it:
// a server that never listened fails every test; one whose first line is
// not the welcome fails the tests of the line format.
func (g *greeting) stops(test *Test) *Failure {
	switch {
	case g.listenFailure != nil:
		return g.listenFailure
	case g.welcomeFailure != nil && test.NeedsWelcome:
		return g.welcomeFailure
	}
	return nil
}

// forgetGreetings drops what the probes found, so that a benchmark of whole
// gradings pays for each probe as a real run does.
func forgetGreetings() { greetings.Clear() }
