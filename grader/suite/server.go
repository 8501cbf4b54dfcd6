package suite

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"
	"chatlab/grader/wire"
)

// server is a chat server under test.
type server struct {
	t    *T
	proc *harness.Proc
	// stopping: the test has asked the server to exit (a signal), so its
	// exit no longer ends the waits on its connections.
	stopping atomic.Bool
	port     int
	next     int // the id the next client should get
	cmd      string
	// joinHint, if set, replaces join's own hints (a scenario's "hint").
	joinHint string
}

// startServer starts the server under test with args, adding -port 0
// unless args name a port, and waits until it listens. The port is read
// from /proc, so the server may print what it likes.
func (t *T) startServer(opt harness.Options, args ...string) *server {
	argv := slices.Concat(t.serverCmd(), args)
	if !slices.Contains(args, "-port") {
		argv = append(argv, "-port", "0")
	}
	s := &server{t: t, next: 1, cmd: strings.Join(argv, " ")}
	s.proc = t.start(argv, opt)
	t.mu.Lock()
	if t.server == nil {
		t.server = s
	}
	t.mu.Unlock()
	var addrs []string
	err := harness.Eventually(wait, "the server to listen", func() (bool, error) {
		if s.proc.Exited() {
			return false, fmt.Errorf("the server %s before it listened", describeExit(s.proc.ExitState()))
		}
		ports, err := s.listening()
		addrs = addrs[:0]
		for _, ap := range ports {
			addrs = append(addrs, ap.String())
			if s.port == 0 || ap.Addr().Is4() {
				s.port = int(ap.Port())
			}
		}
		return len(ports) > 0, err
	})
	t.Check(err, Failure{
		Did:      "started " + s.cmd,
		Expected: "a TCP socket in LISTEN state held by the server",
		Hint:     "a server must socket(), bind() and listen(); with -port 0 the kernel picks the port",
		ByHand:   s.cmd + " &  then  ss -ltnp",
	})
	t.Logf("started %s: pid %d, listening on %s", s.cmd, s.proc.Pid, strings.Join(addrs, ", "))
	// If the server dies, every wait on a connection ends at once, and the
	// failure names how it ended (check), instead of waiting out a deadline.
	go func() {
		select {
		case <-s.proc.Done():
			if s.stopping.Load() {
				return
			}
			t.mu.Lock()
			conns := slices.Clone(t.conns)
			t.mu.Unlock()
			for _, c := range conns {
				c.Interrupt("the server " + describeExit(s.proc.ExitState()))
			}
		case <-t.ended:
		}
	}()
	if shm := s.proc.NoteShm(); len(shm) > 0 {
		t.Logf("it maps shared memory: %s", strings.Join(shm, ", "))
	}
	return s
}

// serverCmd is the server under test: lab 3's for the shm lab's tests.
func (t *T) serverCmd() []string { return serverCmdOf(t.cfg, t.lab) }

func serverCmdOf(cfg Config, lab string) []string {
	if lab == "shm" {
		return cfg.ShmServer
	}
	return cfg.Server
}

// listening returns where the server or one of its processes listens.
func (s *server) listening() ([]netip.AddrPort, error) {
	ports, err := procfs.Listening(s.proc.Pid)
	if err != nil || len(ports) > 0 {
		return ports, err
	}
	ds, _ := procfs.Descendants(s.proc.Pid)
	for _, d := range ds {
		if ps, err := procfs.Listening(d.Pid); err == nil {
			ports = append(ports, ps...)
		}
	}
	return ports, nil
}

// check fails the test with f when err is not nil. If the server has died
// meanwhile, that is what the failure leads with: it explains the rest.
func (s *server) check(err error, f Failure) {
	if err == nil {
		return
	}
	if f.Got == "" {
		f.Got = err.Error()
	}
	f.TimedOut = errors.Is(err, wire.ErrTimeout)
	if mm, ok := errors.AsType[*wire.MismatchError](err); ok {
		f.Got, f.Diff = quoteLines(mm.Got), wire.Diff(mm.Want, mm.Got)
		if s.t.lab == "shm" {
			if lost := skippedAhead(mm.Want, mm.Got); lost != "" {
				f.Hint += ". What the grader saw: " + lost + ". In lab 3, messages lost in the middle of one sender's stream while later ones arrive are what a slot written again before all its readers copied it out looks like: " +
					"a reader must copy a message out before it releases the slot, the parent may send FREED(slot) only once the last hold on it is dropped, and only once per use, and a child may write only the slots FREED gave back to it"
			}
		}
	} else {
		settleProc(s.proc) // a connection error: is the server dying?
	}
	if s.proc.Exited() {
		s.t.Fail(s.died(f))
	}
	s.t.mu.Lock()
	conns := slices.Clone(s.t.conns)
	s.t.mu.Unlock()
	var gone []string
	for _, c := range conns {
		if !c.ClosedHere() && c.Peek() == wire.Ended {
			gone = append(gone, c.Name)
		}
	}
	if len(gone) > 0 && !strings.Contains(f.Did, "closed") {
		f.Got += fmt.Sprintf("\n(meanwhile the server ended the connections of %s: did the processes serving them exit or crash? their stderr, below, may say)", strings.Join(gone, ", "))
	}
	if f.TimedOut && !s.proc.Exited() {
		if why, hint := blockedIn(s.proc.Pid); why != "" {
			f.Got += fmt.Sprintf("\n(meanwhile the server's main process, %d, %s)", s.proc.Pid, why)
			f.Hint = hint
		}
	}
	s.t.Fail(f)
}

// died turns f into the report of a server that has died: how it ended
// leads, since it explains the rest.
func (s *server) died(f Failure) Failure {
	died := s.diedOfSigpipe(f.Did)
	if f.Got == "" {
		f.Got = died.Got
	} else {
		f.Got = died.Got + "; then: " + f.Got
	}
	f.TimedOut = false
	switch {
	case strings.Contains(died.Got, "SIGPIPE"):
		f.Hint, f.ByHand = died.Hint, died.ByHand
	case strings.Contains(s.proc.Stderr(), "Interrupted system call"):
		f.Hint = "a system call failed with EINTR (\"Interrupted system call\", on stderr below): a signal handler ran meanwhile (SIGCHLD, SIGALRM...). That is no error: call it again (poll, epoll_wait, read, write, accept)"
	default:
		f.Hint = "the server must keep running; its stderr (below) may say why it stopped"
	}
	return f
}

// send has c send text, failing with did if the server does not take it.
func (s *server) send(c *wire.Conn, text, did string) {
	s.check(c.Send(text), Failure{Did: did, Expected: "the server takes the bytes",
		Hint: "the server closed or reset this client's connection: read each client until end of file and keep its socket open meanwhile"})
}

// dial connects one client without reading anything.
func (s *server) dial(name string) *wire.Conn {
	c, err := wire.Dial(name, s.port, wait)
	s.check(err, Failure{
		Did:      "connected to 127.0.0.1:" + strconv.Itoa(s.port),
		Expected: "the connection to be accepted",
		Hint:     "is the accept loop running? is the listen backlog full?",
		ByHand:   "nc 127.0.0.1 " + strconv.Itoa(s.port),
	})
	return s.t.own(c)
}

// connect connects n clients one after another without reading anything,
// each once the server has taken the one before: a process of the server's
// tree holds the server's end of the connection (it was accepted), or the
// server has sent bytes on it or ended it. It judges no line format, so the
// checks of processes, pipes, signals and CPU use it, not join. in are the
// clients already connected.
func (s *server) connect(in []*wire.Conn, n int) []*wire.Conn {
	var conns []*wire.Conn
	for range n {
		c := s.dial(fmt.Sprintf("user%d", s.next))
		s.next++
		s.taken(c)
		conns = append(conns, c)
	}
	return conns
}

// taken waits until the server has taken c (see connect).
func (s *server) taken(c *wire.Conn) {
	err := harness.Eventually(wait, "the server to accept "+c.Name, func() (bool, error) {
		if s.proc.Exited() {
			return false, errors.New("the server exited")
		}
		if c.Peek() != wire.Quiet {
			return true, nil
		}
		holder, err := s.holder(c)
		return holder != 0, err
	})
	s.check(err, Failure{Did: "connected " + c.Name + " to 127.0.0.1:" + strconv.Itoa(s.port),
		Expected: "the server accepts it: a process of the server holds the connection, or sends on it",
		Hint:     "call accept() on the listening socket whenever a connection is waiting (poll/epoll says it is readable)",
		ByHand:   fmt.Sprintf("nc 127.0.0.1 %d; ss -tnp 'sport = :%d' shows who holds the connection", s.port, s.port)})
}

// holder returns the pid of a process of the server's tree that holds the
// server's end of c, or 0 if none does (yet, or any more).
func (s *server) holder(c *wire.Conn) (int, error) {
	ino, err := procfs.ConnInode(c.RemoteAddr(), c.LocalAddr())
	if err != nil || ino == 0 {
		return 0, nil // not in the table (or in TIME_WAIT): nobody holds it
	}
	ds, _ := procfs.Descendants(s.proc.Pid)
	for _, pid := range append([]int{s.proc.Pid}, pids(ds)...) {
		socks, _ := procfs.Inodes(pid, "socket")
		for _, i := range socks {
			if i == ino {
				return pid, nil
			}
		}
	}
	return 0, nil
}

// released waits until no process of the server holds c's connection any
// more: the server has seen the client go and closed its end.
func (s *server) released(c *wire.Conn, did string) {
	var pid int
	err := harness.Eventually(wait, "the server to close "+c.Name+"'s connection", func() (bool, error) {
		var err error
		pid, err = s.holder(c)
		return pid == 0, err
	})
	s.check(err, Failure{Did: did, Expected: "the server closes its end of " + c.Name + "'s connection",
		Got:    fmt.Sprintf("process %d still holds it (%v)", pid, err),
		Hint:   "read() returning 0 (or ECONNRESET) means the client has gone: close its socket, and end the process serving it",
		ByHand: fmt.Sprintf("ss -tnp 'dport = :%d'", c.LocalAddr().Port())})
}

// ended returns the first of conns that the server ended (end of file or
// reset) although this side did not close it, or nil.
func ended(conns []*wire.Conn) *wire.Conn {
	for _, c := range conns {
		if !c.ClosedHere() && c.Peek() == wire.Ended {
			return c
		}
	}
	return nil
}

// join connects n clients one after another. Each must get its welcome
// line, and every client already in must get its "joined" line.
func (s *server) join(in []*wire.Conn, n int) []*wire.Conn {
	var conns []*wire.Conn
	for range n {
		id := s.next
		s.next++
		c := s.dial(fmt.Sprintf("user%d", id))
		c.SkipPrefix = c.Name + ": " // an echo is server/no-echo's business
		s.expect(c, fmt.Sprintf("a new client connected (the %s)", ordinal(id)),
			cmp.Or(s.joinHint, "the first line a client gets is \"* welcome userN\", N counting connections from 1"),
			fmt.Sprintf("* welcome user%d", id))
		for _, o := range slices.Concat(in, conns) {
			s.expect(o, fmt.Sprintf("user%d connected", id),
				cmp.Or(s.joinHint, "everyone already connected is told \"* userN joined\" (not the new client itself)"),
				fmt.Sprintf("* user%d joined", id))
		}
		conns = append(conns, c)
	}
	return conns
}

// expect makes c read the lines want, failing with a diff.
func (s *server) expect(c *wire.Conn, did, hint string, want ...string) {
	err := c.Expect(wait, want...)
	if mm, ok := errors.AsType[*wire.MismatchError](err); ok {
		for _, line := range mm.Got {
			if strings.HasPrefix(line, c.Name+": ") {
				hint = c.Name + " received its own message back: skip the sender when relaying"
			}
		}
	}
	byHand := strings.Replace(s.cmd, "-port 0", "-port 5015", 1) + " in one terminal, nc localhost 5015 in others, and do the same"
	if s.t.byHand != "" {
		byHand = s.t.byHand
	}
	s.check(err, Failure{Did: did + "; " + c.Name + " reads", Expected: quoteLines(want), Hint: hint, ByHand: byHand})
}

// quoteLines quotes lines for a report, long ones shortened (the diff
// below shows them whole where they differ).
func quoteLines(lines []string) string {
	var q []string
	for _, l := range lines {
		q = append(q, strconv.Quote(abbrev(l)))
	}
	return strings.Join(q, ", ")
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return strconv.Itoa(n) + "th"
}

// children returns the server's live children and its zombies.
func (s *server) children() (live, zombies []procfs.Stat) {
	kids, err := procfs.Children(s.proc.Pid)
	s.t.Check(err, Failure{Did: "read /proc", Hint: "the grader needs /proc"})
	for _, k := range kids {
		if k.State == 'Z' {
			zombies = append(zombies, k)
		} else {
			live = append(live, k)
		}
	}
	return live, zombies
}

// waitProcesses waits until the server has n live children (and, with
// noZombie, no zombie). It ends at once if the server dies or ends the
// connection of one of clients, which it must keep.
func (s *server) waitProcesses(n int, did string, noZombie bool, clients []*wire.Conn) {
	var live, zombies []procfs.Stat
	var gone *wire.Conn
	err := harness.Eventually(wait, "the process count", func() (bool, error) {
		if s.proc.Exited() {
			return false, errors.New("the server exited")
		}
		if gone = ended(clients); gone != nil {
			return false, fmt.Errorf("the server ended %s's connection, which it should serve", gone.Name)
		}
		live, zombies = s.children()
		return len(live) == n && (!noZombie || len(zombies) == 0), nil
	})
	if err == nil {
		s.t.Logf("%s: %d processes (server + %d children)%s", did, n+1, n, map[bool]string{true: ", no zombie"}[noZombie])
		return
	}
	settleProc(s.proc)
	got := fmt.Sprintf("%d live children %s", len(live), describe(live))
	if len(zombies) > 0 {
		got += fmt.Sprintf(" and %d zombies %s", len(zombies), describe(zombies))
	}
	f := Failure{
		Did:      did,
		Expected: fmt.Sprintf("%d processes: the server and %d children", n+1, n),
		Got:      got + " (" + err.Error() + ")",
		Hint:     s.t.lang.perClientHint(),
		ByHand:   fmt.Sprintf("ps -o pid,ppid,stat,args --ppid %d", s.proc.Pid),
	}
	if noZombie {
		f.Expected += ", no zombie (state Z)"
		if len(zombies) > 0 {
			f.Hint = s.t.lang.reapHint()
		}
	}
	if gone != nil {
		f.Hint = "the connection of a client that is still there was closed: did the process serving it exit or crash? (its stderr, below, may say)"
	}
	if s.proc.Exited() {
		f = s.died(f)
	}
	s.t.Fail(f)
}

// noZombies waits until the server has no zombie child.
func (s *server) noZombies(did string) {
	var zombies []procfs.Stat
	err := harness.Eventually(wait, "no zombie", func() (bool, error) {
		_, zombies = s.children()
		return len(zombies) == 0, nil
	})
	if err != nil {
		s.t.Fail(Failure{Did: did, Expected: "no zombie child (state Z)", Got: describe(zombies),
			Hint:   s.t.lang.reapHint(),
			ByHand: fmt.Sprintf("ps -o pid,ppid,stat,args --ppid %d", s.proc.Pid)})
	}
}

func describe(ps []procfs.Stat) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%d %s %c", p.Pid, p.Comm, p.State))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// childServing returns the server's child that serves c: the one holding
// the server's end of c's connection among its fds. (Telling children by
// start time fails when two start in the same clock tick and pids wrap.)
func (s *server) childServing(c *wire.Conn) procfs.Stat {
	var found procfs.Stat
	var holders []procfs.Stat
	err := harness.Eventually(wait, "the child serving "+c.Name, func() (bool, error) {
		ino, err := procfs.ConnInode(c.RemoteAddr(), c.LocalAddr())
		if err != nil {
			return false, err
		}
		live, _ := s.children()
		holders = holders[:0]
		for _, k := range live {
			socks, _ := procfs.Inodes(k.Pid, "socket")
			for _, i := range socks {
				if i == ino {
					holders = append(holders, k)
				}
			}
		}
		if len(holders) == 1 {
			found = holders[0]
		}
		return len(holders) == 1, nil
	})
	s.t.Check(err, Failure{Did: "looked for the child process holding " + c.Name + "'s connection",
		Expected: "exactly one child holds it", Got: fmt.Sprintf("%d: %s (%v)", len(holders), describe(holders), err),
		Hint:   "each client is served by a child of its own, which holds the client's socket; the parent closes its copy after the fork, and no other child should have it",
		ByHand: fmt.Sprintf("ss -tnp 'dport = :%d'", c.LocalAddr().Port())})
	return found
}

func serverTests() []*Test {
	return []*Test{
		{Name: "server/port", Lab: "server", Points: 2, Timeout: 10 * time.Second,
			What: "listens on the port given with -port, on all IPv4 addresses", Run: testPort},
		scripted("server/welcome"),
		scripted("server/left"),
		scripted("server/relay"),
		scripted("server/no-echo"),
		{Name: "server/processes", Lab: "server", PerClient: true, Points: 4, Timeout: 30 * time.Second,
			What: "n+1 processes for n = 0, 1, 3, 10 clients, and back down", Run: testProcesses},
		{Name: "server/pipes", Lab: "server", PerClient: true, Points: 2, Timeout: 10 * time.Second,
			What: "the parent and each child hold ends of the same pipes", Run: testPipes},
		{Name: "server/child-fds", Lab: "server", PerClient: true, Points: 1, Timeout: 15 * time.Second,
			What: "each child holds its own client's socket, not the listening one or another client's", Run: testChildFds},
		{Name: "server/stopped-child", Lab: "server", PerClient: true, Points: 2, Timeout: 15 * time.Second,
			What: "a stopped child (kill -STOP) does not stop the others' messages", Run: testStoppedChild},
		{Name: "server/zombies", Lab: "server", PerClient: true, Points: 2, Timeout: 15 * time.Second,
			What: "children that exit or are killed are reaped: no zombie", Run: testZombies},
		{Name: "server/child-killed", Lab: "server", PerClient: true, Points: 1, Timeout: 15 * time.Second, NeedsWelcome: true,
			What: "a client whose child is killed is announced as left, and its connection closes", Run: testChildKilled},
		{Name: "server/sigpipe-reset", Lab: "server", Points: 4, Timeout: 20 * time.Second,
			What: "clients reset while lines flow to them cost only their own connection", Run: testSigpipeReset},
		{Name: "server/last-words", Lab: "server", Points: 2, Timeout: 15 * time.Second, NeedsWelcome: true,
			What: "lines a client sent just before it reset are relayed, then it left", Run: testLastWords},
		{Name: "server/sigpipe-stdio", Lab: "server", Points: 2, Timeout: 15 * time.Second,
			What: "the server keeps serving after its stdout and stderr pipes are closed", Run: testSigpipeStdio},
		scripted("server/long-lines"),
		scripted("server/pipelined"),
		scripted("server/max-clients"),
		{Name: "server/sigterm", Lab: "server", Points: 2, Timeout: 15 * time.Second,
			What: "SIGTERM: connections closed, exit 0 within 1 s, nothing left", Run: shutdownTest(syscall.SIGTERM)},
		{Name: "server/sigint", Lab: "server", Points: 2, Timeout: 15 * time.Second,
			What: "Ctrl-C (SIGINT to the process group): the same as SIGTERM", Run: shutdownTest(syscall.SIGINT)},
		{Name: "server/goodbye", Lab: "server", Points: 1, Timeout: 15 * time.Second, NeedsWelcome: true,
			What: "Ctrl-C: every client reads \"* server shutting down\" first", Run: testGoodbye},
		{Name: "server/idle-cpu", Lab: "server", Points: 2, Timeout: 15 * time.Second,
			What: "the server's processes use no CPU while clients are silent, and after they left", Run: testServerIdleCPU},
		{Name: "server/burst", Lab: "server", Points: 4, Timeout: 30 * time.Second, NeedsWelcome: true,
			What: "10 clients x 200 messages at once: complete, in order, one common order", Run: testBurst},
		{Name: "server/slow-reader", Lab: "server", Points: 3, Timeout: 30 * time.Second, NeedsWelcome: true,
			What: "a client that stops reading is kicked; the others get every message meanwhile", Run: testSlowReader},
		{Name: "server/flood-reader", Lab: "server", Points: 2, Timeout: 40 * time.Second, NeedsWelcome: true,
			What: "while one client floods, a client that reads steadily (64 KiB every 50 ms) is not kicked and gets every line", Run: testFloodReader},
		{Name: "server/big-frames", Lab: "server", PerClient: true, Points: 3, Timeout: 30 * time.Second, NeedsWelcome: true,
			What: "children's writes to a shared pipe stay whole (at most PIPE_BUF) while the pipe is full", Run: testBigFrames},
		scripted("server/bytes"),
		scripted("server/final-line"),
		{Name: "server/telnet", Lab: "server", Points: 1, Timeout: 15 * time.Second, NeedsWelcome: true,
			What: "telnet's Ctrl-C: its commands are not relayed, its DO is refused, the room stays visible (rule 9)", Run: testTelnet},
		{Name: "server/restart", Lab: "server", Points: 1, Timeout: 15 * time.Second,
			What: "restarts on its port at once after a shutdown (SO_REUSEADDR)", Run: testRestart},
		{Name: "server/command-line", Lab: "server", Points: 1, Timeout: 20 * time.Second,
			What: "bad flags: usage and exit 2; a port in use: a message and exit 1", Run: testServerCommandLine},
	}
}

func testPort(t *T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	t.setup(err, "find a free port")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	argv := slices.Concat(t.serverCmd(), []string{"-port", strconv.Itoa(port)})
	p := t.start(argv, harness.Options{})
	want := "0.0.0.0:" + strconv.Itoa(port)
	var got []string
	err = harness.Eventually(wait, "the server to listen on "+want, func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("the server exited (%v)", p.ExitState())
		}
		ports, err := procfs.Listening(p.Pid)
		got = got[:0]
		for _, ap := range ports {
			got = append(got, ap.String())
		}
		return slices.Contains(got, want), err
	})
	t.Check(err, Failure{
		Did:      "started " + strings.Join(argv, " "),
		Expected: "listening on " + want,
		Got:      fmt.Sprintf("listening on %v (%v)", got, err),
		Hint:     t.lang.portHint(),
		ByHand:   strings.Join(argv, " ") + " &  then  ss -ltnp",
	})
	t.Logf("listening on %s as asked", want)
}

func testProcesses(t *T) {
	s := t.startServer(harness.Options{})
	s.waitProcesses(0, "no client connected", false, nil)
	var all []*wire.Conn
	for _, n := range []int{1, 3, 10} {
		all = append(all, s.connect(all, n-len(all))...)
		s.waitProcesses(n, fmt.Sprintf("%d clients connected", n), false, all)
	}
	for _, c := range all[:7] {
		c.Close()
	}
	t.Logf("7 of the 10 clients closed their connections")
	s.waitProcesses(3, "7 of 10 clients left", false, all[7:])
}

func testPipes(t *T) {
	s := t.startServer(harness.Options{})
	c := s.connect(nil, 3)
	s.waitProcesses(3, "3 clients connected", false, c)
	parent, err := procfs.Inodes(s.proc.Pid, "pipe")
	t.setup(err, "read the server's fds in /proc")
	inParent := map[uint64]bool{}
	for _, ino := range parent {
		inParent[ino] = true
	}
	live, _ := s.children()
	for _, k := range live {
		pipes, err := procfs.Inodes(k.Pid, "pipe")
		t.setup(err, fmt.Sprintf("read child %d's fds in /proc", k.Pid))
		var shared []string
		for fd, ino := range pipes {
			if fd > 2 && inParent[ino] {
				shared = append(shared, fmt.Sprintf("fd %d pipe:[%d]", fd, ino))
			}
		}
		if len(shared) == 0 {
			t.Fail(Failure{
				Did:      "3 clients connected; looked at the pipes of the server and its children",
				Expected: fmt.Sprintf("child %d holds an end of a pipe whose other end the server holds", k.Pid),
				Got:      fmt.Sprintf("child %d pipes %v; server pipes %v", k.Pid, pipes, parent),
				Hint:     t.lang.pipesHint(),
				ByHand:   fmt.Sprintf("ls -l /proc/%d/fd /proc/%d/fd", s.proc.Pid, k.Pid),
			})
		}
		slices.Sort(shared)
		t.Logf("child %d shares with the server: %s", k.Pid, strings.Join(shared, ", "))
	}
}

// testChildFds: each child holds one TCP socket, its own client's: not the
// listening socket (a child that kept it holds the port after main dies,
// and a restart fails), not another client's (it would hold that
// connection open after its own child died). Right after a fork the child
// holds everything main had until it closes what it does not need, so
// the test waits, a bounded time, for every child to have done so.
func testChildFds(t *T) {
	s := t.startServer(harness.Options{})
	c := s.connect(nil, 3)
	s.waitProcesses(3, "3 clients connected", false, c)
	client := map[uint64]string{} // the server's end of each connection, by inode
	for _, x := range c {
		ino, err := procfs.ConnInode(x.RemoteAddr(), x.LocalAddr())
		t.setup(err, "find "+x.Name+"'s connection in /proc/net/tcp")
		client[ino] = x.Name
	}
	var bad []string
	var seen []string
	err := harness.Eventually(wait, "every child to hold only its own client's socket", func() (bool, error) {
		bad, seen = bad[:0], seen[:0]
		live, _ := s.children()
		for _, k := range live {
			socks, err := procfs.TCPSockets(k.Pid)
			if err != nil {
				continue // it died: waitProcesses's and zombies' business
			}
			var held, extra []string
			for _, so := range socks {
				switch {
				case so.Listening:
					extra = append(extra, fmt.Sprintf("fd %d: the listening socket %v", so.Fd, so.Local))
				case client[so.Inode] != "":
					held = append(held, fmt.Sprintf("fd %d: %s's connection", so.Fd, client[so.Inode]))
				}
			}
			if len(held) > 1 {
				extra = append(extra, held...)
			}
			seen = append(seen, fmt.Sprintf("child %d: %s", k.Pid, strings.Join(append(held, extra...), ", ")))
			if len(extra) > 0 {
				bad = append(bad, fmt.Sprintf("child %d holds %s", k.Pid, strings.Join(extra, ", ")))
			}
		}
		return len(bad) == 0, nil
	})
	if err != nil {
		t.Fail(Failure{Did: "3 clients connected; looked at the TCP sockets each child holds (/proc/PID/fd and /proc/net/tcp)",
			Expected: "each child holds one TCP socket: its own client's",
			Got:      strings.Join(bad, "; "),
			Hint: t.lang.pick("in the child, right after fork(), close every fd it does not need: the listening socket, and the other clients' sockets and pipes (close_range over the rest, or close each)",
				"create every fd close-on-exec (unix.SOCK_CLOEXEC, unix.O_CLOEXEC) and give the child only its own in exec.Cmd.ExtraFiles"),
			ByHand: fmt.Sprintf("ls -l /proc/CHILD/fd, then ss -tanpe | grep INODE; or: lsof -p CHILD (main is %d)", s.proc.Pid)})
	}
	t.Logf("%s", strings.Join(seen, "; "))
}

// testStoppedChild: one child stops (kill -STOP), as a child blocked on
// its client's full socket would; the room goes on. The stopped child is
// user2's, who joined before the reader, user3: a main that writes its
// clients' queues in join order meets the full pipe before user3's turn.
// user1 sends 90 KB, more than the pipe to the stopped child holds (64
// KiB) and less than the backlog the server keeps per client (protocol.md:
// 256 KiB), so no one is held back or kicked: user3 must get every line,
// in order, while user2's child stays stopped. A main that writes its pipes
// blocking stops at the full pipe, and the room with it.
func testStoppedChild(t *T) {
	s := t.startServer(harness.Options{})
	c := s.connect(nil, 3)
	s.waitProcesses(3, "3 clients connected", false, c)
	victim := s.stopChild(c[1])
	const n = 100
	pad := strings.Repeat("x", 900) // a message: under the 1000-byte limit
	for i := range n {
		s.send(c[0], fmt.Sprintf("%d %s\n", i, pad), "user1 sends 100 lines of 900 bytes")
	}
	held := "90 KB: more than a pipe holds"
	if t.lab == "shm" {
		held = "more messages than a ring of slots holds"
	}
	did := fmt.Sprintf("kill -STOP %d (the child serving user2); user1 sent 100 lines of 900 bytes (%s); user3 reads", victim.Pid, held)
	hint := t.lang.pick("main must never block on one child: make its pipe ends to the children non-blocking (O_NONBLOCK), keep what a write could not take in that child's queue, and write it when poll says POLLOUT",
		"main must never block on one child: write its pipes to the children non-blocking (unix.SetNonblock), keep what a write could not take in that child's queue, and write it when epoll says EPOLLOUT")
	if t.lab == "shm" {
		hint = "a stopped reader must not stop the room: the parent's records to it wait in a queue of the parent's, not in a blocking write; and the slots it has not released must not hold the sender back for ever: a child that releases nothing for 2 s is kicked and its slots freed (protocol.md, \"Slow readers and flow control\")"
	}
	for got := 0; got < n; {
		line, err := c[2].ReadLine(wait)
		s.check(err, Failure{Did: did, Expected: "all 100 lines reach user3 while user2's child is stopped",
			Got: fmt.Sprintf("%d lines, then: %v", got, err), Hint: hint})
		switch {
		case strings.HasSuffix(line, fmt.Sprintf("%d %s", got, pad)):
			got++
		case strings.Contains(line, pad):
			t.Fail(Failure{Did: did, Expected: fmt.Sprintf("line %d", got), Got: strconv.Quote(abbrev(line)),
				Hint: "relay every line once, in the order it was sent, to every other client"})
		}
	}
	t.Logf("user3 got all %d lines while child %d (user2's) was stopped", n, victim.Pid)
}

// testZombies: children that die are reaped. Two children are killed while
// main is stopped, so that main gets one SIGCHLD for both (a signal does
// not queue): a server that reaps one child per SIGCHLD keeps a zombie.
func testZombies(t *T) {
	// Five children die while main is stopped, so that their SIGCHLDs
	// merge: Linux keeps one pending SIGCHLD, however many exits. (gVisor
	// sometimes delivers a second one; with five, a main that reaps one
	// child per SIGCHLD still leaves a zombie all but every time.)
	const n, killed = 6, 5
	s := t.startServer(harness.Options{})
	c := s.connect(nil, n)
	s.waitProcesses(n, fmt.Sprintf("%d clients connected", n), true, c)
	var victims []procfs.Stat
	for _, x := range c[1:] {
		victims = append(victims, s.childServing(x))
	}
	s.stop(s.proc.Pid, "the server's main process")
	defer syscall.Kill(s.proc.Pid, syscall.SIGCONT)
	var pids []string
	for _, v := range victims {
		syscall.Kill(v.Pid, syscall.SIGKILL)
		pids = append(pids, strconv.Itoa(v.Pid))
	}
	// Each becomes a zombie, or vanishes: with SIGCHLD ignored (SIG_IGN, or
	// SA_NOCLDWAIT) the kernel reaps a child itself. Main, stopped, cannot.
	gone := 0
	var alive []string
	err := harness.Eventually(wait, "the children to die", func() (bool, error) {
		gone, alive = 0, alive[:0]
		for _, v := range victims {
			st, err := procfs.ReadStat(v.Pid)
			switch {
			case err != nil:
				gone++
			case st.State != 'Z':
				alive = append(alive, fmt.Sprintf("%d (state %c)", v.Pid, st.State))
			}
		}
		return len(alive) == 0, nil
	})
	s.t.Check(err, Failure{Did: fmt.Sprintf("kill -9 %d children while main was stopped", killed), Expected: "each dies (a zombie until it is reaped)",
		Got: "still alive: " + strings.Join(alive, ", "), Hint: "the grader's SIGKILL did not end them: are they traced, or in uninterruptible sleep (state D)?"})
	if gone > 0 {
		t.Logf("%d of the %d killed children vanished while main was stopped: the kernel reaped them (SIGCHLD ignored, or SA_NOCLDWAIT); no zombie, but main learns of no death by SIGCHLD", gone, killed)
	}
	t.Logf("main stopped; kill -9 %s (the children of user2..user%d): %d zombies; kill -CONT main", strings.Join(pids, " "), n, killed-gone)
	t.Check(syscall.Kill(s.proc.Pid, syscall.SIGCONT), Failure{Did: "kill -CONT main", Hint: "the server exited while stopped"})
	s.waitProcesses(1, fmt.Sprintf("the children of user2..user%d (%s) were killed together", n, strings.Join(pids, " ")), true, c[:1])
}

// testChildKilled: a child that dies without a word is announced all the
// same, by the parent that reaps it.
func testChildKilled(t *T) {
	s := t.startServer(harness.Options{})
	c := s.join(nil, 3)
	s.waitProcesses(3, "3 clients connected", false, c)
	victim := s.childServing(c[2])
	ino, _ := procfs.ConnInode(c[2].RemoteAddr(), c[2].LocalAddr())
	t.Logf("kill -9 %d (the child serving user3)", victim.Pid)
	syscall.Kill(victim.Pid, syscall.SIGKILL)
	hint := "a child that dies without saying goodbye must still be announced: when you reap it, tell the others"
	if sig, err := procfs.ReadSignals(s.proc.Pid); err == nil && procfs.Has(sig.Ignored, int(syscall.SIGCHLD)) {
		hint = "main ignores SIGCHLD (SigIgn in /proc/MAIN/status): the kernel then reaps its children itself, and main never learns that one died. " +
			t.lang.pick("Catch SIGCHLD with sigaction (a handler that writes to the self-pipe), reap with waitpid(-1, &status, WNOHANG), and announce each child reaped",
				"Catch SIGCHLD (signal.Notify, into the self-pipe), reap with unix.Wait4(-1, &ws, unix.WNOHANG, nil), and announce each child reaped")
	}
	for _, o := range c[:2] {
		s.expect(o, fmt.Sprintf("kill -9 of child %d, which served user3", victim.Pid), hint, "* user3 left")
	}
	// The child held the connection; once it is dead, nothing may keep it
	// open (a main that kept its copy after the fork does).
	err := c[2].ExpectClosed(wait)
	got := ""
	if err != nil {
		got = err.Error() + holders(s, ino)
	}
	s.check(err, Failure{Did: fmt.Sprintf("kill -9 of child %d, which served user3; user3 reads", victim.Pid),
		Expected: "user3's connection closed: the killed child held the only copy of its socket", Got: got,
		Hint: t.lang.pick("after fork(), main must close(fd) of the client's socket: the child has it; a copy kept in main holds the connection open after the child dies (and leaks an fd per client)",
			"once the child is started, main must close its copy of the client's socket (the *os.File passed in ExtraFiles, and the fd it came from): a copy kept in main holds the connection open after the child dies (and leaks an fd per client)"),
		ByHand: "ls -l /proc/MAIN/fd: after 3 clients, main holds no socket but its listening one"})
}

// holders says which of the server's processes hold the socket inode ino
// ("; still held by main (pid 12), fd 5"), or "".
func holders(s *server, ino uint64) string {
	if ino == 0 {
		return ""
	}
	var out []string
	kids, _ := procfs.Descendants(s.proc.Pid)
	for _, pid := range append([]int{s.proc.Pid}, pids(kids)...) {
		socks, _ := procfs.Inodes(pid, "socket")
		for fd, i := range socks {
			if i == ino {
				who := fmt.Sprintf("child %d", pid)
				if pid == s.proc.Pid {
					who = fmt.Sprintf("main (pid %d)", pid)
				}
				out = append(out, fmt.Sprintf("%s, fd %d", who, fd))
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; the socket is still held by " + strings.Join(out, " and by ")
}

// testSigpipeReset: two clients reset while a stream of lines flows to
// them. The server must survive the failed writes (EPIPE, or SIGPIPE if it
// does not ignore it) and go on serving the others. It reads no notice
// lines: a line counts as relayed if it ends with the text sent, whatever
// the server puts before it.
func testSigpipeReset(t *T) {
	s := t.startServer(harness.Options{})
	c := s.connect(nil, 4)
	sender, watcher, victims := c[0], c[1], c[2:]
	pad := strings.Repeat("x", 900)
	for i := range 200 {
		s.send(sender, fmt.Sprintf("%d %s\n", i, pad), "user1 sends 200 lines of 900 bytes")
		if i == 50 {
			for _, v := range victims {
				v.Reset()
			}
			t.Logf("after line 50: user3 and user4 reset their connections (SO_LINGER 0, close)")
		}
	}
	did := "user1 sent 200 lines while user3 and user4 reset their connections; user2 reads"
	for got := 0; got < 200; {
		line, err := watcher.ReadLine(wait)
		if err != nil && got == 0 && !s.proc.Exited() {
			s.check(err, Failure{Did: did, Expected: "user1's lines, relayed to user2",
				Got:  fmt.Sprintf("no line of user1's reached user2 (%v), so none flowed to the clients that reset either: this test could not judge", err),
				Hint: "relay each message to every other client first (server/relay); this test then checks that a vanished client costs only its own connection"})
		}
		s.check(err, Failure{Did: did, Expected: "all 200 lines",
			Got:  fmt.Sprintf("%d lines, then: %v", got, err),
			Hint: "a client that vanishes must cost only its own connection: on EPIPE/ECONNRESET drop that client and go on relaying to the others"})
		switch {
		case strings.HasSuffix(line, fmt.Sprintf("%d %s", got, pad)):
			got++
		case strings.Contains(line, pad):
			t.Fail(Failure{Did: "user1 sent 200 numbered lines; user2 reads", Expected: fmt.Sprintf("line %d", got),
				Got: strconv.Quote(abbrev(line)), Hint: "relay every line once, in the order it was sent, to every other client"})
		}
	}
	if s.proc.Exited() {
		t.Fail(s.diedOfSigpipe("two clients reset"))
	}
	if sender.Peek() == wire.Ended {
		t.Fail(Failure{Did: "user3 and user4 reset their connections", Expected: "user1's connection stays open",
			Got: "the server ended it", Hint: "a failed write to one client must not end the others' connections"})
	}
	s.connect([]*wire.Conn{sender, watcher}, 1)
	sig, _ := procfs.ReadSignals(s.proc.Pid)
	t.Logf("server alive, still accepting; SIGPIPE ignored=%v caught=%v (grep Sig /proc/%d/status)",
		procfs.Has(sig.Ignored, int(syscall.SIGPIPE)), procfs.Has(sig.Caught, int(syscall.SIGPIPE)), s.proc.Pid)
}

// testLastWords checks that what a client sent just before its connection
// broke is still relayed. The process serving user2 is stopped while user2
// sends two lines and resets, and while a line for user2 is on its way: when
// it runs again, its write to user2 fails at once, and a server that then
// gives up on the connection without reading what is still in it loses
// user2's last words.
func testLastWords(t *T) {
	s := t.startServer(harness.Options{})
	c := s.join(nil, 3)
	serving := s.proc.Pid // a single-process server serves everyone itself
	if !t.cfg.SingleProcess {
		s.waitProcesses(3, "3 clients connected", false, c)
		serving = s.childServing(c[1]).Pid
	}
	s.stop(serving, "the process serving user2")
	defer syscall.Kill(serving, syscall.SIGCONT)
	// The second line has no "\n": at the end of the stream it is a line
	// all the same (protocol rule 7), reset or not.
	s.send(c[1], "last words 1\nlast words 2", "user2 sends a line and a last one without \\n")
	c[1].Reset()
	t.Logf("user2 sent \"last words 1\\nlast words 2\" and reset its connection (SO_LINGER 0, close)")
	s.send(c[0], "are you there?\n", "user1 sends a line")
	if !t.cfg.SingleProcess { // the line is on its way to user2's process too
		s.expect(c[2], "user1 sent a line", "relay every line to every other client", "user1: are you there?")
	}
	t.Check(syscall.Kill(serving, syscall.SIGCONT), Failure{Did: fmt.Sprintf("kill -CONT %d", serving), Hint: "the process exited while stopped"})
	t.Logf("kill -CONT %d", serving)
	did := "user2 sent two lines and reset its connection while the process serving it was stopped"
	hint := "when a write to a client fails (EPIPE, ECONNRESET), first read what the client sent before it went (recv until EAGAIN or 0) and relay it, its last line too even without \\n, then say it left"
	want := []string{"user2: last words 1", "user2: last words 2", "* user2 left"}
	s.check(expectUntil(c[0], want, ""), Failure{Did: did + "; user1 reads", Expected: quoteLines(want), Hint: hint})
	if t.cfg.SingleProcess { // it read user1's line and user2's in either order
		s.check(expectUntil(c[2], want, "user1: are you there?"), Failure{Did: did + "; user3 reads",
			Expected: quoteLines(want) + `, and "user1: are you there?" anywhere among them`, Hint: hint})
	} else {
		s.check(expectUntil(c[2], want, ""), Failure{Did: did + "; user3 reads", Expected: quoteLines(want), Hint: hint})
	}
	t.Logf("user2's last two lines reached user1 and user3 before \"* user2 left\"")
}

// expectUntil reads c's lines up to the last of want and checks that they
// are want, in order, with the line anywhere (if not "") once among them. It
// stops at the last line wanted, so a mismatch is reported at once rather
// than after a wait for lines that will never come.
func expectUntil(c *wire.Conn, want []string, anywhere string) error {
	last, n := want[len(want)-1], len(want)
	if anywhere != "" {
		n++
	}
	var got, rest []string
	saw := anywhere == ""
	for len(got) < n && !(saw && slices.Contains(rest, last)) {
		line, err := c.ReadLine(wait)
		if err != nil {
			return fmt.Errorf("after %d of %d lines: %w", len(got), n, err)
		}
		got = append(got, line)
		if line == anywhere && !saw {
			saw = true
		} else {
			rest = append(rest, line)
		}
	}
	if !saw || !slices.Equal(rest, want) {
		if anywhere != "" {
			want = append(slices.Clone(want), anywhere)
		}
		return &wire.MismatchError{Conn: c.Name, Want: want, Got: got}
	}
	return nil
}

// stopChild stops (kill -STOP) the child serving c until the test ends,
// and returns it.
func (s *server) stopChild(c *wire.Conn) procfs.Stat {
	k := s.childServing(c)
	s.stop(k.Pid, "the child serving "+c.Name)
	s.t.mu.Lock()
	s.t.closers = append(s.t.closers, func() { syscall.Kill(k.Pid, syscall.SIGCONT) })
	s.t.mu.Unlock()
	return k
}

// stop sends SIGSTOP to pid and waits until it is stopped (state T).
func (s *server) stop(pid int, who string) {
	s.t.Check(syscall.Kill(pid, syscall.SIGSTOP), Failure{Did: fmt.Sprintf("kill -STOP %d (%s)", pid, who), Hint: "the process exited early"})
	// Every thread, not only the first: a thread still running would take
	// the signals meant to wait until SIGCONT (two SIGCHLDs that must merge
	// into one, for server/zombies).
	err := harness.Eventually(wait, who+" stopped", func() (bool, error) {
		tids, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return false, err
		}
		for _, tid := range tids {
			n, _ := strconv.Atoi(tid.Name())
			if st, err := procfs.ReadStat(n); err == nil && st.State != 'T' && st.State != 't' {
				return false, nil
			}
		}
		return len(tids) > 0, nil
	})
	s.t.Check(err, Failure{Did: fmt.Sprintf("kill -STOP %d (%s)", pid, who), Expected: "it stops (state T)",
		Hint: "the process exited early", ByHand: fmt.Sprintf("ps -o pid,stat,args -p %d", pid)})
	s.t.Logf("kill -STOP %d: %s is stopped", pid, who)
}

// diedOfSigpipe describes a server that died, naming SIGPIPE when that is
// what killed it.
func (s *server) diedOfSigpipe(did string) Failure {
	st := s.proc.ExitState()
	f := Failure{Did: did, Expected: "the server keeps running", Got: "the server " + describeExit(st),
		Hint:   s.t.lang.sigpipeHint(),
		ByHand: "strace -f -e trace=none -e signal=SIGPIPE " + strings.Replace(s.cmd, "-port 0", "-port 5015", 1) + "; then do the same with nc localhost 5015"}
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGPIPE {
		f.Hint, f.ByHand = "the server must keep running; its stderr (below) may say why it stopped", ""
		if ok && ws.Exited() && ws.ExitStatus() == todoExitStatus {
			f.Hint = fmt.Sprintf("exit status %d is the kit's stop at a task not written yet (%s): its TODO line went to stderr, which may be closed here; make grade's next: line names the task", todoExitStatus, s.t.lang.pick("todo_missing", "todo.Missing"))
		}
	}
	return f
}

// todoExitStatus is the exit status of a program stopped by the kit's
// todo.Missing or todo_missing at a task not written yet (solutions/todo,
// solutions/c/todo.h).
const todoExitStatus = 3

// testSigpipeStdio: a server whose stdout and stderr readers are gone
// (a closed terminal, a dead logger) must not die of its next log line.
func testSigpipeStdio(t *T) {
	s := t.startServer(harness.Options{StdoutPipe: true, StderrPipe: true})
	s.proc.StdoutReader.Close()
	s.proc.StderrReader.Close()
	t.Logf("closed the read ends of the server's stdout and stderr pipes")
	c := s.connect(nil, 2)
	s.send(c[0], "after the pipes closed\n", "user1 sends")
	for {
		line, err := c[1].ReadLine(wait)
		s.check(err, Failure{Did: "user1 sent a line (stdout and stderr closed); user2 reads", Expected: "the line is relayed as usual",
			Hint: "a write to a closed pipe raises SIGPIPE, which kills: " + t.lang.sigpipeHint()})
		if strings.HasSuffix(line, "after the pipes closed") {
			break
		}
	}
	c[1].Close()
	s.released(c[1], "user2 closed its connection (stdout and stderr closed)")
	died := func() {
		f := s.diedOfSigpipe("closed the server's stdout and stderr pipes, then clients came and went")
		f.ByHand = strings.Replace(s.cmd, "-port 0", "-port 5015", 1) + " 2>&1 | head -1  (its output is read once, then the pipe is closed); nc localhost 5015 in another terminal"
		t.Fail(f)
	}
	if s.proc.Exited() {
		died()
	}
	s.connect(c[:1], 1)
	settleProc(s.proc)
	if s.proc.Exited() {
		died()
	}
	t.Logf("joins, relays and leaves still work; printing to a closed pipe did not kill the server")
}

// shutdownTest: on sig the server ends every connection, exits 0 within a
// second and leaves nothing behind. What it says first is server/goodbye's
// business: here any bytes before the end of file will do.
func shutdownTest(sig syscall.Signal) func(*T) {
	return func(t *T) {
		s := t.startServer(harness.Options{})
		c := s.connect(nil, 3)
		// The clients must be served when the signal comes: ending
		// connections that have already ended shows nothing. (A server
		// that sends nothing at all is left to the tests of the format.)
		var ended error
		harness.Eventually(wait, "a first line for each client", func() (bool, error) {
			for _, x := range c {
				switch x.Peek() {
				case wire.Ended:
					ended = fmt.Errorf("the server ended %s's connection before any signal", x.Name)
					return false, ended
				case wire.Quiet:
					return false, nil
				}
			}
			return true, nil
		})
		s.check(ended, Failure{Did: "3 clients connected", Expected: "the server serves them until it is signalled",
			Hint: "the process serving a client exited (or never started): its stderr, below, may say why"})
		if !t.cfg.SingleProcess { // wait for the children, if it makes them, to be counted
			harness.Eventually(wait, "3 children", func() (bool, error) { live, _ := s.children(); return len(live) >= 3, nil })
		}
		before, _ := s.proc.Descendants()
		start := time.Now()
		s.stopping.Store(true)
		s.check(s.signal(sig), Failure{Did: "kill -" + sigName(sig), Hint: "the server had already exited"})
		for _, x := range c {
			var err error
			for err == nil {
				_, err = x.ReadLine(wait)
			}
			if !errors.Is(err, wire.ErrClosed) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, wire.ErrInterrupted) {
				t.Fail(Failure{Did: fmt.Sprintf("kill -%s %d; %s reads until the end", sigName(sig), s.proc.Pid, x.Name),
					Expected: "the server closes every connection", Got: err.Error(), TimedOut: errors.Is(err, wire.ErrTimeout),
					Hint:   "catch the signal (a handler that writes to a self-pipe), then close every client socket (each child closes its own) and exit",
					ByHand: "make serve; nc localhost 5015; then kill -" + sigName(sig) + " the server"})
			}
		}
		exited := s.proc.Wait(time.Second - time.Since(start))
		took := time.Since(start)
		var left []procfs.Stat
		for _, d := range before {
			if st, err := procfs.ReadStat(d.Pid); err == nil && st.Start == d.Start {
				left = append(left, st)
			}
		}
		// Children forked after the snapshot are still in the server's
		// process group (the grader gives each program one), or came back
		// to the grader as orphans.
		if all, err := procfs.All(); err == nil {
			for _, st := range all {
				if st.Pid != s.proc.Pid && st.PGrp == s.proc.Pid && !slices.ContainsFunc(left, func(l procfs.Stat) bool { return l.Pid == st.Pid }) {
					left = append(left, st)
				}
			}
		}
		if !exited || len(left) > 0 {
			got := fmt.Sprintf("after %v the server ", took.Round(time.Millisecond))
			if exited {
				got += "had exited"
			} else {
				got += "was still running"
			}
			if len(left) > 0 {
				got += fmt.Sprintf("; left behind: %s", describeWithArgs(left))
			}
			t.Fail(Failure{
				Did:      fmt.Sprintf("kill -%s %d with 3 clients connected", sigName(sig), s.proc.Pid),
				Expected: "the server and all its children exit within 1 s, all reaped",
				Got:      got,
				Hint:     "on the signal: tell the children to stop (close their pipes, or signal them), wait for every one of them, then exit",
				ByHand:   fmt.Sprintf("kill -%s PID; then ps -o pid,ppid,stat,args -p <children>", sigName(sig)),
			})
		}
		if st := s.proc.ExitState(); st.ExitCode() != 0 {
			t.Fail(Failure{Did: "kill -" + sigName(sig), Expected: "exit status 0", Got: "the server " + describeExit(st),
				Hint: t.lang.pick("a clean shutdown on SIGTERM/SIGINT is a success: catch the signal, clean up, exit(0)",
					"a clean shutdown on SIGTERM/SIGINT is a success: catch the signal, clean up, return (exit status 0)")})
		}
		for _, path := range s.proc.NoteShm() {
			if _, err := os.Stat(path); err == nil {
				t.Fail(Failure{Did: "kill -" + sigName(sig), Expected: "the shared memory object removed",
					Got: path + " still exists", ByHand: "ls -l /dev/shm",
					Hint: "shm_unlink (unlink the /dev/shm path) when the server exits, or it stays until reboot"})
			}
		}
		if on, _ := procfs.ListeningOn(s.port); on {
			t.Fail(Failure{Did: "kill -" + sigName(sig), Expected: fmt.Sprintf("port %d free", s.port),
				Got: "something still listens on it", ByHand: "ss -ltnp",
				Hint: "close the listening socket; a child that inherited it keeps the port busy (close it in the child, or SOCK_CLOEXEC)"})
		}
		t.Logf("3 connections ended, exit 0 after %v, no process left, port free", took.Round(time.Millisecond))
	}
}

// testGoodbye: the line a client reads when the server shuts down.
func testGoodbye(t *T) {
	s := t.startServer(harness.Options{})
	c := s.join(nil, 3)
	s.stopping.Store(true)
	s.check(s.signal(syscall.SIGINT), Failure{Did: "Ctrl-C (kill -INT to the server's process group)", Hint: "the server had already exited"})
	for _, x := range c {
		// Not s.expect: here the server is meant to exit.
		t.Check(x.Expect(wait, "* server shutting down"), Failure{
			Did:      fmt.Sprintf("Ctrl-C: kill -INT -%d (the server's process group, children too); %s reads", s.proc.Pid, x.Name),
			Expected: strconv.Quote("* server shutting down"),
			Hint: "catch SIGINT in main and tell every client \"* server shutting down\" before closing; Ctrl-C reaches the children too: " +
				t.lang.pick("they ignore it (signal(SIGINT, SIG_IGN) after fork) and let main end them", "they ignore it (signal.Ignore(unix.SIGINT, unix.SIGTERM) in the child) and let main end them"),
			ByHand: "make serve; nc localhost 5015 in another terminal; then Ctrl-C the server",
		})
	}
	t.Logf("3 clients read the goodbye line (closing the connections is server/sigterm's business)")
}

// testServerIdleCPU: a server with nothing to do sleeps in poll/epoll_wait
// or read; it does not spin, neither while clients are connected and silent
// nor after they left.
func testServerIdleCPU(t *T) {
	s := t.startServer(harness.Options{})
	c := s.connect(nil, 3)
	s.idleCPU("3 clients connected and silent")
	for _, x := range c {
		x.Close()
	}
	for _, x := range c {
		s.released(x, "the 3 clients closed their connections")
	}
	s.idleCPU("the 3 clients left")
}

// idleWindow and idleShare: over a window of nothing to do, the server's
// whole process tree may use a twentieth of one core (far more than a
// ticking timer costs); a busy-wait uses all of it.
const (
	idleWindow = 300 * time.Millisecond
	idleShare  = 20
)

func (s *server) idleCPU(did string) {
	settleWithin(s.proc, wait) // let processes just started finish starting, however loaded the machine
	used, total := treeCPU(s.t, s.proc, idleWindow)
	if total > idleWindow/idleShare {
		s.t.Fail(Failure{Did: fmt.Sprintf("%s; measured the CPU time of the server and its children over %v", did, idleWindow),
			Expected: fmt.Sprintf("at most %v of CPU in all (1/%d of a core)", idleWindow/idleShare, idleShare),
			Got:      fmt.Sprintf("%v: %s", total.Round(time.Millisecond), used),
			Hint:     s.t.lang.idleHint(),
			ByHand:   fmt.Sprintf("top -p PID, or: ps -o pid,time,stat,args --ppid %d -p %d", s.proc.Pid, s.proc.Pid)})
	}
	s.t.Logf("%s: %v of CPU over %v in the server's tree", did, total.Round(10*time.Microsecond), idleWindow)
}

// treeCPU measures the CPU that p's process tree uses over window; it
// returns the total and who used it ("pid 12 (name) 300ms, ...").
func treeCPU(t *T, p *harness.Proc, window time.Duration) (string, time.Duration) {
	before, err := procfs.TreeCPU(p.Pid)
	if err != nil {
		settleProc(p)
		t.Fail(Failure{Did: fmt.Sprintf("measured the CPU time over %v", window), Expected: "the program keeps running",
			Got: "it " + describeExit(p.ExitState()) + " (" + err.Error() + ")", Hint: "the program must keep running while it waits; its stderr (below) may say why it stopped"})
	}
	time.Sleep(window) // the measurement window
	after, err := procfs.TreeCPU(p.Pid)
	if err != nil {
		settleProc(p)
		t.Fail(Failure{Did: fmt.Sprintf("measured the CPU time over %v", window), Expected: "the program keeps running",
			Got: "it " + describeExit(p.ExitState()), Hint: "the program must keep running while it waits"})
	}
	var total time.Duration
	var who []string
	for pid, ns := range procfs.CPUBetween(before, after) {
		total += time.Duration(ns)
		if time.Duration(ns) >= time.Millisecond {
			who = append(who, fmt.Sprintf("pid %d (%s) %v", pid, after[pid].Comm, time.Duration(ns).Round(time.Millisecond)))
		}
	}
	slices.Sort(who)
	return strings.Join(who, ", "), total
}

func describeWithArgs(ps []procfs.Stat) string {
	var parts []string
	for _, p := range ps {
		args, _ := procfs.Cmdline(p.Pid)
		parts = append(parts, fmt.Sprintf("pid %d (%s) state %c", p.Pid, strings.Join(args, " "), p.State))
	}
	return strings.Join(parts, "; ")
}

// signal sends sig as a user would: SIGINT as Ctrl-C in the server's
// terminal does, to its whole process group (children included); others
// to the server's main process, as kill does.
func (s *server) signal(sig syscall.Signal) error {
	if sig == syscall.SIGINT {
		return syscall.Kill(-s.proc.Pid, sig) // the harness gives each program a group of its own
	}
	return s.proc.Signal(sig)
}

func sigName(sig syscall.Signal) string {
	if sig == syscall.SIGINT {
		return "INT"
	}
	return "TERM"
}

func testBurst(t *T) {
	const clients, each = 10, 200
	s := t.startServer(harness.Options{})
	conns := s.join(nil, clients)
	received, errs := flood(conns, each, (clients-1)*each, 2*wait)()
	did := fmt.Sprintf("%d clients sent %d messages each, all at once", clients, each)
	for i, err := range errs {
		t.Check(err, Failure{Did: did, Expected: fmt.Sprintf("user%d receives the %d messages of the 9 others", i+1, (clients-1)*each),
			Got:  fmt.Sprintf("%d messages, then: %v", len(received[i]), err),
			Hint: "every message must reach every other client: a full pipe or socket means wait (or queue), never drop"})
	}
	for i, lines := range received {
		next := map[int]int{}
		for _, line := range lines {
			var from, m int
			if _, err := fmt.Sscanf(line, "user%d: m%d", &from, &m); err != nil {
				t.Fail(Failure{Did: did, Expected: "only \"userN: mK\" lines", Got: strconv.Quote(abbrev(line)) + fmt.Sprintf(" at user%d", i+1),
					Hint: "relay each message whole, as \"userN: TEXT\", and nothing else while no one joins or leaves"})
			}
			if from == i+1 {
				t.Fail(Failure{Did: did, Expected: "no echo", Got: fmt.Sprintf("user%d got its own m%d back", i+1, m),
					Hint: "skip the sender when relaying"})
			}
			if m != next[from] {
				t.Fail(Failure{Did: did, Expected: fmt.Sprintf("user%d gets user%d's m%d next", i+1, from, next[from]),
					Got: fmt.Sprintf("m%d", m), Hint: "one sender's messages must arrive in the order sent, with none lost"})
			}
			next[from]++
		}
	}
	commonOrder(t, did, received, "one process must decide the order (the server's main process) and relay in that order to everyone")
	t.Logf("%d x %d messages: complete, per-sender order, one common order", clients, each)
}

// flood has every client of conns send each messages "m0".."mK" in one
// write while it reads want lines (for at most timeout), all at once; the
// function it returns waits for them and returns what each client read.
func flood(conns []*wire.Conn, each, want int, timeout time.Duration) func() ([][]string, []error) {
	received := make([][]string, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for m := range each {
				fmt.Fprintf(&b, "m%d\n", m)
			}
			c.Send(b.String())
		}()
		go func() {
			defer wg.Done()
			received[i], errs[i] = c.ReadLines(want, timeout)
		}()
	}
	return func() ([][]string, []error) {
		wg.Wait()
		return received, errs
	}
}

// commonOrder checks that any two clients (received[i] is what user i+1
// read) got the lines they both received in the same order: the lines of
// both, less their own messages, which neither gets back.
func commonOrder(t *T, did string, received [][]string, hint string) {
	for a := range received {
		for b := a + 1; b < len(received); b++ {
			keep := func(lines []string) []string {
				return slices.DeleteFunc(slices.Clone(lines), func(l string) bool {
					return strings.HasPrefix(l, fmt.Sprintf("user%d:", a+1)) || strings.HasPrefix(l, fmt.Sprintf("user%d:", b+1))
				})
			}
			if d := wire.Diff(keep(received[a]), keep(received[b])); d != "" {
				t.Fail(Failure{Did: did, Expected: fmt.Sprintf("user%d and user%d see the lines they both get in the same order", a+1, b+1),
					Diff: firstLines(d, 30), Hint: hint})
			}
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "\n") + fmt.Sprintf("\n... (%d more lines)", len(lines)-n)
}

func abbrev(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// testRestart: an instructor restarts the server at once; the connections
// of the last run are in TIME_WAIT on its port.
func testRestart(t *T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	t.setup(err, "find a free port")
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	s := t.startServer(harness.Options{}, "-port", port)
	c := s.connect(nil, 2)
	s.stopping.Store(true)
	s.check(s.proc.Signal(syscall.SIGTERM), Failure{Did: "kill -TERM", Hint: "the server had already exited"})
	for _, x := range c { // the server closes first: TIME_WAIT is on its side
		for err := error(nil); err == nil; _, err = x.ReadLine(wait) {
		}
	}
	if !s.proc.Wait(wait) {
		t.Fail(Failure{Did: "kill -TERM with 2 clients connected", Expected: "the server exits", Got: "still running",
			Hint: "see server/sigterm"})
	}
	t.Logf("the first run ended; its connections are in TIME_WAIT on port %s (ss -tan 'sport = :%s')", port, port)
	argv := slices.Concat(t.serverCmd(), []string{"-port", port})
	p := t.start(argv, harness.Options{})
	err = harness.Eventually(wait, "the second run to listen", func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("it %s: %s", describeExit(p.ExitState()), strings.TrimSpace(abbrev(p.Stderr())))
		}
		ports, _ := procfs.Listening(p.Pid)
		return len(ports) > 0, nil
	})
	t.Check(err, Failure{Did: "started " + strings.Join(argv, " ") + " right after the first run on that port ended",
		Expected: "it listens on port " + port,
		Hint:     t.lang.pick("set SO_REUSEADDR on the listening socket before bind(): setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)", "set SO_REUSEADDR before unix.Bind: unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)") + "; without it, bind fails with EADDRINUSE while the last run's connections are in TIME_WAIT",
		ByHand:   "make serve; nc localhost 5015; Ctrl-C the server; make serve again at once"})
	t.Logf("the second run listens on port %s", port)
}

// testServerCommandLine: bad flags get a usage message and exit 2; a port
// that is taken gets a message and exit 1.
func testServerCommandLine(t *T) {
	for _, args := range [][]string{{"-port", "http"}, {"-port", "70000"}, {"-no-such-flag"}, {"-port", "0", "extra"}} {
		t.exits(slices.Concat(t.serverCmd(), args), 2, fmt.Sprintf("started the server with %q", args), "a usage error",
			"check the flags before anything else (-port takes a number from 0 to 65535, and no other argument is allowed): print what is wrong and a usage line to stderr, then exit(2)")
	}
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	t.setup(err, "listen on a port of the grader's")
	defer l.Close()
	argv := slices.Concat(t.serverCmd(), []string{"-port", strconv.Itoa(l.Addr().(*net.TCPAddr).Port)})
	t.exits(argv, 1, "started "+strings.Join(argv, " ")+" while the grader listens on that port", `"address already in use"`,
		t.lang.pick("check bind()'s result: when it fails (EADDRINUSE), print why (perror) and exit(1)",
			"check unix.Bind's error: when it fails (EADDRINUSE), print why to stderr and exit with status 1"))
}

// exits runs argv and checks that it writes a message to stderr and exits
// with status code within the usual wait; what names the error expected.
func (t *T) exits(argv []string, code int, did, what, hint string) {
	p := t.start(argv, harness.Options{})
	t.mu.Lock()
	t.stderrOf = p // a failure shows this run's stderr
	t.mu.Unlock()
	if !p.Wait(wait) {
		t.Fail(Failure{Did: did, Expected: fmt.Sprintf("it exits with status %d", code), Got: "still running", Hint: hint})
	}
	if p.ExitState().ExitCode() != code || strings.TrimSpace(p.Stderr()) == "" {
		t.Fail(Failure{Did: did, Expected: fmt.Sprintf("a message on stderr (%s) and exit status %d", what, code),
			Got: fmt.Sprintf("it %s, stderr %q", describeExit(p.ExitState()), abbrev(p.Stderr())), Hint: hint})
	}
	t.Logf("%s: exit %d, stderr %q", did, code, abbrev(strings.TrimSpace(p.Stderr())))
}

func testSlowReader(t *T) {
	s := t.startServer(harness.Options{})
	sender := s.join(nil, 1)
	slow := s.dial("slow")
	slow.SetReadBuffer(4096)
	s.next++
	s.expect(sender[0], "a second client connected (it will never read)", "announce it", "* user2 joined")
	fast := s.join([]*wire.Conn{sender[0]}, 1)
	go func() { // the sender reads what comes to it: only user2 is slow
		for {
			if _, err := sender[0].ReadLine(6 * wait); err != nil {
				return
			}
		}
	}()
	msg := strings.Repeat("s", 990)
	kicked, sent := false, 0
	for sent < 6000 && !kicked {
		var b strings.Builder
		for range 100 {
			fmt.Fprintf(&b, "%04d %s\n", sent, msg)
			sent++
		}
		s.send(sender[0], b.String(), "user1 sends 100 messages of 1000 bytes")
		for got := sent - 100; got < sent; {
			line, err := fast[0].ReadLine(wait)
			s.check(err, Failure{Did: fmt.Sprintf("user1 sent %d messages; user2 never reads", sent),
				Expected: fmt.Sprintf("user3 keeps receiving (message %d)", got),
				Hint:     "one client that does not read must not stall the room for long: its backlog is bounded, and once it is full, a client that takes fewer than 16 KiB within a second is kicked (protocol.md, \"Slow readers and flow control\")"})
			if line == "* user2 kicked: too slow" {
				kicked = true
				continue
			}
			if line != fmt.Sprintf("user1: %04d %s", got, msg) {
				t.Fail(Failure{Did: "user1 sent numbered messages", Expected: fmt.Sprintf("message %d", got), Got: strconv.Quote(abbrev(line)),
					Hint: "relay every message once, in order"})
			}
			got++
		}
	}
	if !kicked {
		t.Fail(Failure{Did: fmt.Sprintf("user1 sent %d messages of 1000 bytes; user2 never read", sent),
			Expected: "\"* user2 kicked: too slow\"", Got: "no kick",
			Hint: "bound what is queued for a client (the references: 256 KiB beyond the socket's 128 KiB); once it is full, a client that takes fewer than 16 KiB within a second has stopped reading: reset its connection and tell the others"})
	}
	t.Logf("the non-reader was kicked after %d KB; the reader got every message", sent)
}

// testFloodReader: protocol.md, "Slow readers and flow control": a client
// that reads is never kicked, however fast another sends, and no line is
// dropped to spare it. user1 floods (yes | nc) for two seconds: numbered
// lines of 1000 bytes, as fast as the server takes them (what the kernel
// took on user1's side, megabytes, is still relayed after that, at user2's
// pace, with user2's backlog full all the while). user2 reads steadily but
// slowly, 64 KiB every 50 ms: 1.25 MiB a second, far above the rule's 16
// KiB a second, and above the 150 KiB a second below which protocol.md lets
// a server misjudge a reader (it sees a reader's progress only when TCP
// reopens the reader's window). user3 reads as fast as it can. The flood
// outruns user2, so user2's backlog fills: the server must then hold user1
// back (or let user2's queue grow), not kick user2.
func testFloodReader(t *T) {
	const (
		flooding = 2 * time.Second
		most     = 8 << 10 // lines at most: a server that holds nobody back queues 8 MB, no more
		batch    = 64      // lines per write of the flooder's
		every    = 50 * time.Millisecond
		perTick  = 64 << 10
	)
	s := t.startServer(harness.Options{})
	c := s.join(nil, 3)
	flooder, slow, fast := c[0], c[1], c[2]
	// user2's receive buffer is fixed (the kernel doubles it, to 256 KiB):
	// one the kernel grows (up to tcp_rmem's maximum, 32 MiB on some
	// machines) would hold much of the flood itself, so that the server's
	// backlog for user2 might not even fill; and TCP reopens a window only
	// once a sixteenth of the buffer is free, which at 2 MiB would hide a
	// reader's progress for over a second (protocol.md's limit).
	t.Check(slow.SetReadBuffer(128<<10), Failure{Did: "set user2's SO_RCVBUF to 128 KiB", Hint: "the grader could not set a socket option"})
	pad := strings.Repeat("f", 993)
	lineK := func(k int) string { return fmt.Sprintf("%06d %s", k, pad) } // 1000 bytes
	const last = "end of the flood"
	t.byHand = "your server -port 5015; yes | nc localhost 5015 in one terminal; nc localhost 5015 | pv -qL 1m >/dev/null in a second (a steady reader: pv paces it); nc localhost 5015 >/dev/null in a third; nobody may be kicked (ss -tn 'sport = :5015' shows the queues)"

	type outcome struct {
		who  *wire.Conn
		got  int    // user1's lines received (sent, for the flooder)
		line string // the line that was not the one expected, if any
		err  error
	}
	results := make(chan outcome, 3)
	// user1 reads what comes to it, as nc does: an echo of its own lines
	// (server/no-echo's business) must not make it a slow reader.
	flooder.SkipPrefix = ""
	go func() {
		for {
			if _, err := flooder.ReadLine(wait); err != nil && !errors.Is(err, wire.ErrTimeout) {
				return
			}
		}
	}()
	var sent atomic.Int64
	// how long user1 flooded, once it is done
	var flooded time.Duration
	go func() { // yes | nc
		start := time.Now()
		k := 0
		var b strings.Builder
		for k < most && time.Since(start) < flooding {
			b.Reset()
			for range batch {
				b.WriteString(lineK(k) + "\n")
				k++
			}
			if err := flooder.Send(b.String()); err != nil {
				results <- outcome{who: flooder, got: int(sent.Load()), err: err}
				return
			}
			sent.Store(int64(k))
		}
		flooded = time.Since(start)
		results <- outcome{who: flooder, got: k, err: flooder.Send(last + "\n")}
	}()
	// read reads user1's lines on x up to the last; paced, at most perTick
	// bytes every tick (the scenario's pace, not a synchronisation).
	read := func(x *wire.Conn, paced bool) {
		var tick <-chan time.Time
		if paced {
			ticker := time.NewTicker(every)
			defer ticker.Stop()
			tick = ticker.C
		}
		got, took := 0, 0
		for {
			if paced && took >= perTick {
				<-tick
				took = 0
			}
			line, err := x.ReadLine(wait)
			if err != nil {
				results <- outcome{who: x, got: got, err: err}
				return
			}
			took += len(line) + 1
			switch line {
			case "user1: " + last:
				results <- outcome{who: x, got: got}
				return
			case "user1: " + lineK(got):
				got++
			default:
				results <- outcome{who: x, got: got, line: line}
				return
			}
		}
	}
	go read(slow, true)
	go read(fast, false)

	did := func(o outcome) string {
		return fmt.Sprintf("user1 flooded for %v (lines of 1000 bytes, %d sent so far, as fast as the server or its kernel took them); user2 read 64 KiB every 50 ms, user3 as fast as it could; %s had read %d of them",
			flooding, sent.Load(), o.who.Name, o.got)
	}
	const expected = "neither reader is kicked, and each gets every line of user1's, in order, then \"user1: " + last + "\""
	const holdHint = "a client that reads is never kicked (protocol.md, \"Slow readers and flow control\"): bound each client's backlog (the references: 256 KiB beyond the socket's 128 KiB) and, while it is full, hold the senders back (stop reading them) instead of kicking; kick only a client whose backlog filled and that then takes fewer than 16 KiB within a second"
	const dropHint = "never drop a message to make room, nor send one twice: while a reader's backlog is full, hold the senders back (stop reading them, so that TCP holds their bytes), and relay every line once, in order; and after a short write (a non-blocking socket or pipe may take fewer bytes than asked), keep the rest"
	lines := map[*wire.Conn]int{}
	for range 3 {
		o := <-results
		lines[o.who] = o.got
		switch {
		case o.who == flooder && o.err != nil:
			s.check(o.err, Failure{Did: did(o), Expected: "the server takes user1's lines, at the pace of its slowest reader",
				Hint: "hold a sender back only while a reader's backlog is full, and only as long as it is: a reader that takes 64 KiB every 50 ms empties a backlog of 256 KiB in a fraction of a second; user1 itself must not be kicked or closed either"})
		case o.err != nil && (errors.Is(o.err, wire.ErrClosed) || errors.Is(o.err, syscall.ECONNRESET)):
			t.Fail(Failure{Did: did(o), Expected: expected,
				Got:  fmt.Sprintf("the server ended %s's connection (%v)", o.who.Name, o.err),
				Hint: holdHint})
		case o.err != nil:
			s.check(o.err, Failure{Did: did(o), Expected: expected,
				Hint: "user1 had sent more, but no line came: either the room stalled (while a reader's backlog is full, hold the senders back, and let them go as soon as it has room: a reader that takes 64 KiB every 50 ms makes room all the time), or lines were dropped: " + dropHint})
		case strings.HasSuffix(o.line, " kicked: too slow"):
			t.Fail(Failure{Did: did(o), Expected: expected, Got: fmt.Sprintf("%s received %q", o.who.Name, o.line), Hint: holdHint})
		case o.line != "":
			want := "user1: " + lineK(o.got)
			hint := dropHint
			switch {
			case strings.HasPrefix(want, o.line):
				// The start of the line, as a message of its own.
				hint = "a line was cut in two messages: a message is a whole line (up to \"\\n\"), and a read() of a TCP socket may end anywhere in one; keep the bytes after the last \"\\n\" of a read and put the next read after them"
			case len(o.line) != len(want):
				// A line cut short, and bytes of a later one after it.
				hint = "a line was cut short and bytes of a later line follow it: the rest of a short write was lost. write() to a non-blocking socket or pipe may take fewer bytes than asked, and returns how many it took: take only those off the queue, and write the rest when poll says POLLOUT"
			}
			t.Fail(Failure{Did: did(o), Expected: fmt.Sprintf("%q (line %d of user1's)", abbrev(want), o.got+1),
				Got: strconv.Quote(abbrev(o.line)), Diff: firstDifference(want, o.line), Hint: hint})
		}
	}
	if lines[slow] != lines[flooder] || lines[fast] != lines[flooder] {
		t.Fail(Failure{Did: fmt.Sprintf("user1 flooded %d lines of 1000 bytes, then %q", lines[flooder], last), Expected: expected,
			Got: fmt.Sprintf("user2 got %d lines, user3 %d, before %q", lines[slow], lines[fast], last), Hint: dropHint})
	}
	t.Logf("user1 flooded %d lines of 1000 bytes in %v; user2 (64 KiB every 50 ms) and user3 got every one, in order; nobody was kicked",
		lines[flooder], flooded.Round(time.Millisecond))
}

// testTelnet: Ctrl-C in telnet sends IAC IP IAC DO TIMING-MARK (RFC 854,
// 860) and shows nothing more until the server answers the DO. Rule 9: the
// server relays none of a command's bytes, keeps each client's telnet state
// apart and across reads, answers DO with WONT and WILL with DONT (never
// WONT or DONT), reads IAC IAC as a 0xff byte and drops a subnegotiation;
// the answer goes to the asker only, between two lines, even when lines
// are queued for it.
func testTelnet(t *T) {
	t.byHand = "your server -port 5015; telnet localhost 5015 in one terminal, nc localhost 5015 in another; press Ctrl-C in telnet, then type in nc: telnet must still show the room (printf '\\xff\\xfd\\x06hi\\n' | nc localhost 5015 | od -c shows the answer 377 374 006)"
	s := t.startServer(harness.Options{})
	c := s.join(nil, 3)
	// readTo reads c[i] up to the line ending in last, and returns what came
	// before that line's end, all of it.
	readTo := func(i int, last, did string) string {
		var got strings.Builder
		for {
			line, err := c[i].ReadLine(wait)
			if err != nil {
				s.check(err, Failure{Did: did, Expected: fmt.Sprintf("%s receives %q", c[i].Name, last), Got: strconv.Quote(abbrev(got.String())),
					Hint: "keep serving a client after its telnet commands: remove them from its stream and go on"})
			}
			// An echo of its own message is server/no-echo's business: pass
			// over it, keeping any telnet answer in front of it.
			k := 0
			for k+3 <= len(line) && line[k] == 0xff {
				k += 3
			}
			if strings.HasPrefix(line[k:], c[i].Name+": ") {
				got.WriteString(line[:k])
				continue
			}
			got.WriteString(line + "\n")
			if strings.HasSuffix(line, last) {
				return strings.TrimSuffix(got.String(), last+"\n")
			}
		}
	}
	// readBy waits until the server has read what c[i] sent.
	readBy := func(i int, what string) {
		err := harness.Eventually(wait, "the server to read "+what+" (ss -tn: Recv-Q 0 on its side)", func() (bool, error) {
			n, err := procfs.RecvQueue(c[i].RemoteAddr(), c[i].LocalAddr())
			return n == 0, err
		})
		s.check(err, Failure{Did: c[i].Name + " sent " + what, Expected: "the server reads it", Hint: "read every client's socket whenever it has bytes"})
	}
	relayed := func(line, want, did string) {
		hint := "telnet commands are not text: drop 0xff and the bytes of its command (rule 9), relay the rest"
		switch {
		case strings.HasPrefix(line, "\xff\xfc") || strings.HasPrefix(line, "\xff\xfe"):
			hint = "the answer (IAC WONT x, IAC DONT x) goes only to the client that asked"
		case strings.Contains(did, "second write"):
			hint = "keep each client's telnet state from one read to the next: a command may be cut between two reads"
		}
		if line != want {
			t.Fail(Failure{Did: did, Expected: strconv.Quote(want), Got: strconv.Quote(line), Hint: hint})
		}
	}

	// Ctrl-C, cut between two reads, with user2 talking in between.
	s.send(c[0], "\xff\xf4\xff", "user1 (telnet) pressed Ctrl-C: IAC IP IAC, first part")
	readBy(0, "IAC IP IAC")
	s.send(c[1], "hello from user2\n", "user2 sent \"hello from user2\"")
	line, err := c[0].ReadLine(wait)
	s.check(err, Failure{Did: "user1 sent IAC IP IAC; then user2 sent \"hello from user2\"", Expected: "user1 receives \"user2: hello from user2\""})
	relayed(line, "user2: hello from user2", "user1 sent IAC IP IAC; then user2 sent \"hello from user2\"; user1 reads (each client has telnet state of its own)")
	c[2].ReadLine(wait) // user3's copy
	did := "user1 sent IAC IP IAC, then in a second write DO TIMING-MARK and \"after ^C\\n\""
	s.send(c[0], "\xfd\x06after ^C\n", did)
	line, err = c[1].ReadLine(wait)
	s.check(err, Failure{Did: did + "; user2 reads", Expected: "\"user1: after ^C\""})
	relayed(line, "user1: after ^C", did+"; user2 reads")
	c[2].ReadLine(wait)
	s.send(c[1], "still there?\n", "user2 sent \"still there?\"")
	c[2].ReadLine(wait)
	if got := readTo(0, "user2: still there?", did+"; then user2 sent \"still there?\""); got != "\xff\xfc\x06" {
		t.Fail(Failure{Did: did + "; then user2 sent \"still there?\"; user1 reads",
			Expected: strconv.Quote("\xff\xfc\x06") + " (IAC WONT TIMING-MARK), then \"user2: still there?\"", Got: strconv.Quote(got + "user2: still there?"),
			Hint: "answer each IAC DO x with IAC WONT x, between two lines: telnet shows nothing until its DO is answered"})
	}

	// WILL, WONT, DONT, a subnegotiation, IAC IAC; cut after the verb.
	did = "user1 sent IAC WILL, then TERMINAL-TYPE, IAC SB TERMINAL-TYPE ... IAC SE, \"two \\xff\\xff bytes\", IAC WONT ECHO, IAC DONT ECHO"
	s.send(c[0], "\xff\xfb", "user1 sent IAC WILL")
	readBy(0, "IAC WILL")
	s.send(c[0], "\x18\xff\xfa\x18\x00xterm\xff\xf0two \xff\xff bytes\xff\xfc\x01\xff\xfe\x01\n", did)
	line, err = c[1].ReadLine(wait)
	s.check(err, Failure{Did: did + "; user2 reads", Expected: "\"user1: two \\xff bytes\"", Hint: "a subnegotiation (IAC SB) ends at IAC SE: relay what follows it"})
	relayed(line, "user1: two \xff bytes", did+" (IAC IAC is one byte 0xff; a subnegotiation is dropped whole); user2 reads")
	c[2].ReadLine(wait)
	s.send(c[1], "ok\n", "user2 sent \"ok\"")
	c[2].ReadLine(wait)
	if got := readTo(0, "user2: ok", did+"; then user2 sent \"ok\""); got != "\xff\xfe\x18" {
		t.Fail(Failure{Did: did + "; then user2 sent \"ok\"; user1 reads",
			Expected: strconv.Quote("\xff\xfe\x18") + " (IAC DONT TERMINAL-TYPE, and no answer to WONT or DONT), then \"user2: ok\"", Got: strconv.Quote(got + "user2: ok"),
			Hint: "answer IAC WILL x with IAC DONT x; never answer WONT or DONT (RFC 854: two ends answering each other would loop)"})
	}

	// telnet's "synch" (Ctrl-C with autosynch on): IAC in the stream, DM as
	// urgent data. Read inline (SO_OOBINLINE), IAC DM is a command like any
	// other; otherwise the kernel keeps DM apart, and the IAC takes the next
	// byte of the stream with it.
	did = "user1 sent IAC, then DM as urgent data (MSG_OOB: telnet's synch), then \"after synch\""
	s.send(c[0], "\xff", "user1 sent IAC")
	readBy(0, "IAC")
	s.check(c[0].SendUrgent(0xf2), Failure{Did: "user1 sent DM as urgent data", Expected: "the server takes it", Hint: "keep the client's socket open"})
	s.send(c[0], "after synch\n", did)
	line, err = c[1].ReadLine(wait)
	s.check(err, Failure{Did: did + "; user2 reads", Expected: "\"user1: after synch\""})
	if line != "user1: after synch" {
		t.Fail(Failure{Did: did + "; user2 reads", Expected: strconv.Quote("user1: after synch"), Got: strconv.Quote(line),
			Hint: t.lang.pick("read urgent data in line: setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, 1) on each client's socket, so that IAC DM reaches your telnet filter whole",
				"read urgent data in line: unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_OOBINLINE, 1) on each client's socket, so that IAC DM reaches your telnet filter whole")})
	}
	c[2].ReadLine(wait)

	// Ctrl-C while lines are queued for user3, what waits for it ending in
	// the middle of a line. The process serving user3 is stopped; 10 lines
	// of 1000 bytes go to it (into its pipe, in lab 2); then main is
	// stopped too while 60 more are sent, so that main, let go, takes them
	// all in one read and writes more than the pipe has room for: a write
	// larger than PIPE_BUF is cut where the pipe is full, inside a line.
	// Then user3's DO arrives, and the process serving it runs again.
	var serving int
	err = harness.Eventually(wait, "a process of the server to hold user3's socket", func() (bool, error) {
		pid, err := s.holder(c[2])
		serving = pid
		return pid != 0, err
	})
	s.check(err, Failure{Did: "3 clients connected", Expected: "a process of the server holds user3's socket (ls -l /proc/PID/fd)"})
	pad := strings.Repeat("q", 995)
	lineK := func(k int) string { return fmt.Sprintf("%04d %s", k, pad) }
	batch := func(from, to int) string {
		var b strings.Builder
		for k := from; k < to; k++ {
			b.WriteString(lineK(k) + "\n")
		}
		return b.String()
	}
	// upTo lets user1 read up to line k-1, for at most holdWait: a design
	// that holds the senders while user3's process is stopped (lab 3's
	// rings) is not waited for long. The waits of this phase add up to
	// well under 2 s, so that a server that gives up on a process stopped
	// that long (lab 3's does) is not provoked.
	const holdWait = 300 * time.Millisecond
	upTo := func(k int) {
		for deadline := time.Now().Add(holdWait); time.Now().Before(deadline); {
			if line, err := c[0].ReadLine(time.Until(deadline)); err != nil || line == "user2: "+lineK(k-1) {
				return
			}
		}
	}
	const n = 70
	s.stop(serving, "the process serving user3")
	defer syscall.Kill(serving, syscall.SIGCONT)
	s.send(c[1], batch(0, 10), "user2 sent 10 lines of 1000 bytes")
	upTo(10)
	if main := s.proc.Pid; main != serving {
		s.stop(main, "the server's main process")
		defer syscall.Kill(main, syscall.SIGCONT)
		s.send(c[1], batch(10, n), fmt.Sprintf("user2 sent %d more lines of 1000 bytes", n-10))
		// Main must find them all at once when it runs again. In lab 2 they
		// wait in the pipe to main (the pipes of the tree then hold the
		// 10 lines for user3 and these 60): wait for that, up to 2 s (on a
		// loaded machine user2's process may take a while); in lab 3, for
		// user2's process to have read them, no longer than holdWait.
		limit, inPipes := holdWait, 0
		if t.lab == "server" {
			limit, inPipes = 2*time.Second, n*1000
		}
		harness.Eventually(limit, "user2's process to read them and pass them on", func() (bool, error) {
			q, err := procfs.RecvQueue(c[1].RemoteAddr(), c[1].LocalAddr())
			return q == 0 && unreadPipes(s.proc.Pid) >= inPipes, err
		})
		t.Check(syscall.Kill(main, syscall.SIGCONT), Failure{Did: fmt.Sprintf("kill -CONT %d", main), Hint: "the process exited while stopped"})
	} else {
		s.send(c[1], batch(10, n), fmt.Sprintf("user2 sent %d more lines of 1000 bytes", n-10))
	}
	upTo(n)
	if t.lab == "server" && s.proc.Pid != serving {
		// What waits for user3 must end mid-line: main fills the pipe to
		// user3's stopped process (64 KiB of the 70 lines; a write larger
		// than PIPE_BUF is cut where the pipe is full). On a loaded machine
		// main may not have got there yet: wait for it, up to 2 s.
		harness.Eventually(2*time.Second, "main to fill the pipe to user3's process", func() (bool, error) {
			return unreadPipes(serving) >= 60000, nil
		})
	}
	did = fmt.Sprintf("user3 (telnet) pressed Ctrl-C (IAC IP IAC DO TIMING-MARK) while %d lines were on their way to it", n)
	s.send(c[2], "\xff\xf4\xff\xfd\x06", did)
	// The DO must be there when the process runs again, with the lines.
	harness.Eventually(holdWait, "user3's DO to reach the server's socket (ss -tn: Recv-Q 5)", func() (bool, error) {
		q, err := procfs.RecvQueue(c[2].RemoteAddr(), c[2].LocalAddr())
		return q >= 5, err
	})
	t.Check(syscall.Kill(serving, syscall.SIGCONT), Failure{Did: fmt.Sprintf("kill -CONT %d", serving), Hint: "the process exited while stopped"})
	readBy(2, "IAC IP IAC DO TIMING-MARK")
	s.send(c[1], "after\n", "user2 sent \"after\"")
	got := readTo(2, "user2: after", did+"; then user2 sent \"after\"")
	answers := 0
	for k, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(l, "\xff\xfc\x06"); ok {
			answers++
			l = rest
		}
		want := "user2: " + lineK(k)
		if l != want && l != "" {
			t.Fail(Failure{Did: did + "; user3 reads all", Expected: strconv.Quote(want) + " (line " + strconv.Itoa(k+1) + ")", Got: strconv.Quote(abbrev(l)),
				Hint: "put the answer between two lines of what is queued for the client, never inside a line (what a pipe gave you may end mid-line)"})
		}
	}
	// A server may put the answer after the last whole line it holds,
	// "after" included: one more line from user2 shows it there.
	s.send(c[1], "end\n", "user2 sent \"end\"")
	switch rest := readTo(2, "user2: end", did+"; then user2 sent \"after\" and \"end\""); rest {
	case "\xff\xfc\x06":
		answers++
	case "":
	default:
		t.Fail(Failure{Did: did + "; then user2 sent \"after\" and \"end\"; user3 reads", Expected: strconv.Quote("user2: end"), Got: strconv.Quote(abbrev(rest + "user2: end")),
			Hint: "put the answer between two lines of what is queued for the client, never inside a line"})
	}
	if answers != 1 {
		t.Fail(Failure{Did: did + "; user3 reads all", Expected: "IAC WONT TIMING-MARK once, between two lines", Got: fmt.Sprintf("%d times", answers),
			Hint: "queue the answer like a line for that client (a write that finds its socket full must not lose it)"})
	}
	t.Logf("checked: telnet commands cut between reads were not relayed; DO got WONT and WILL got DONT, to the asker only, between lines, also with 70 lines queued, what waited ending mid-line; IAC IAC gave 0xff")
}

// testBigFrames: the children of a process-per-client server share one pipe
// to main. A write of at most PIPE_BUF bytes to a pipe is atomic; a larger
// one may be split when the pipe is nearly full, and another child's write
// can land in its middle (pipe(7)). The test makes that happen for certain,
// whatever the size of the children's reads: main is stopped; user2's child
// half fills the pipe with a first batch; user1's child writes into the
// rest until the pipe is full, and is stopped there; user2's child blocks on
// a second batch; then main runs again and makes room, which only user2's
// child can use, before user1's child goes on. A server whose every write is
// whole frames of at most PIPE_BUF bytes loses nothing; one that writes more
// at once mangles frames.
func testBigFrames(t *T) {
	s := t.startServer(harness.Options{})
	c := s.join(nil, 3)
	s.waitProcesses(3, "3 clients connected", false, c)
	a, b := s.childServing(c[0]).Pid, s.childServing(c[1]).Pid
	pad := strings.Repeat("f", 990)
	next := map[string]int{}
	batch := func(tag string, n int) string { // numbered on from the last batch of tag
		var sb strings.Builder
		for range n {
			fmt.Fprintf(&sb, "%s%04d %s\n", tag, next[tag], pad)
			next[tag]++
		}
		return sb.String()
	}
	for _, x := range c[:2] { // user1 and user2 read what comes, so that none of them is a slow reader
		go func() {
			for {
				if _, err := x.ReadLine(4 * wait); err != nil {
					return
				}
			}
		}()
	}
	s.stop(s.proc.Pid, "the server's main process")
	defer syscall.Kill(s.proc.Pid, syscall.SIGCONT)
	defer syscall.Kill(a, syscall.SIGCONT)
	var sends sync.WaitGroup
	send := func(i int, text string, who string) (writes, bytes int64) {
		pid := []int{a, b}[i]
		w0, _ := ioCount(pid, "syscw")
		b0, _ := wchar(pid)
		done := make(chan struct{})
		sends.Add(1)
		go func() { defer sends.Done(); defer close(done); c[i].Send(text) }()
		s.blockedAfter(pid, done, b0, who)
		w1, _ := ioCount(pid, "syscw")
		b1, _ := wchar(pid)
		return w1 - w0, b1 - b0
	}
	// Half the pipe (64 KiB), so that user1's child's next write does not fit whole.
	send(1, batch("B", 30), "user2's child, with 30 lines")
	writes, written := send(0, batch("A", 150), "user1's child, with 150 lines")
	s.stop(a, "user1's child, blocked in the middle of its writes")
	// While main is stopped, user1's child writes to nothing but the pipe:
	// more bytes per write(2) than PIPE_BUF on average means some write was
	// larger, and so not atomic (/proc/PID/io: wchar over syscw).
	t.Logf("user1's child wrote %d bytes in %d write calls while main was stopped", written, writes)
	if writes > 0 && written/writes > 4096 {
		s.t.Fail(Failure{Did: "main stopped; user1 sent 150 lines of 1000 bytes in one write",
			Expected: "user1's child writes them to the pipe to main in writes of at most PIPE_BUF (4096) bytes",
			Got:      fmt.Sprintf("it wrote %d bytes in %d write calls: %d bytes a call on average (grep -E 'wchar|syscw' /proc/%d/io)", written, writes, written/writes, a),
			Hint:     bigFramesHint})
	}
	// What main will relay to user1's stopped child (50 lines) fits its pipe.
	send(1, batch("B", 20), "user2's child, with 20 more lines")
	t.Logf("user2 sent 30 lines, user1 150, user2 20 more, each batch in one write; both children are blocked on the full pipe")
	before, _ := wchar(b)
	t.Check(syscall.Kill(s.proc.Pid, syscall.SIGCONT), Failure{Did: "kill -CONT main", Hint: "the server exited while stopped"})
	err := harness.Eventually(wait, "user2's child to write into the room main made", func() (bool, error) {
		now, err := wchar(b)
		return now >= before+4096, err
	})
	s.check(err, Failure{Did: "kill -CONT main (user1's child still stopped)", Expected: "user2's child goes on writing to main",
		Hint: "main must read the pipe from the children whenever it has data"})
	t.Logf("kill -CONT main: user2's child wrote into the room; then kill -CONT %d (user1's child)", a)
	t.Check(syscall.Kill(a, syscall.SIGCONT), Failure{Did: "kill -CONT user1's child", Hint: "the child exited while stopped"})
	lines := next["A"] + next["B"]
	seen := map[string]int{}
	did := "user1 and user2 sent 150 and 50 lines while the children's pipe to main was full; user3 reads"
	for got := 0; got < lines; got++ {
		line, err := c[2].ReadLine(2 * wait)
		s.check(err, Failure{Did: did, Expected: fmt.Sprintf("all %d lines", lines), Got: fmt.Sprintf("%d lines, then: %v", got, err),
			Hint: bigFramesHint})
		from, tag := "user1: ", "A"
		if strings.HasPrefix(line, "user2: B") {
			from, tag = "user2: ", "B"
		}
		if want := fmt.Sprintf("%s%s%04d %s", from, tag, seen[tag], pad); line != want {
			t.Fail(Failure{Did: did, Expected: fmt.Sprintf("%q, whole", abbrev(want)), Got: strconv.Quote(abbrev(line)),
				Diff: firstDifference(want, line), Hint: bigFramesHint})
		}
		seen[tag]++
	}
	sends.Wait()
	t.Logf("user3 got all %d lines whole, in each sender's order", lines)
}

const bigFramesHint = "write at most PIPE_BUF (4096) bytes of whole frames per write() to the pipe all children share: a larger write is not atomic, and when the pipe is full another child's frames land in its middle"

// blockedAfter waits until pid has taken what a client sent (the send is
// done, or pid has written to the pipe since wchar was before) and then
// blocks: none of its threads runs for 50 ms. (rchar would
// not do: recv(2) on a socket does not count in it.)
func (s *server) blockedAfter(pid int, sent <-chan struct{}, before int64, who string) {
	var q stillness
	err := harness.Eventually(wait, who+" to block", func() (bool, error) {
		n, err := wchar(pid)
		if err != nil {
			return false, err
		}
		took := n > before
		select {
		case <-sent:
			took = true
		default:
		}
		return q.still(pid, !took, 50*time.Millisecond), nil
	})
	s.check(err, Failure{Did: "main stopped; a client sent its lines in one write", Expected: who + " reads them and blocks on the full pipe",
		Hint: "a child reads its client's lines and writes them to main through the pipe"})
}
