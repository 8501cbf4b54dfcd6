package suite

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"
	"chatlab/grader/wire"
)

// session is a client under test connected to a server the grader plays.
type session struct {
	t      *T
	proc   *harness.Proc
	stdin  *os.File // write end of the client's stdin; nil once closed
	server net.Conn
	r      *bufio.Reader
	cmd    string
}

// startClient starts the client under test against a listener of the
// grader's and accepts its connection.
func (t *T) startClient() *session {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	t.setup(err, "listen on loopback (the grader plays the server)")
	defer l.Close() // a second Close after an early exit is harmless
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	argv := slices.Concat(t.cfg.Client, []string{"127.0.0.1", port})
	r, w, err := os.Pipe()
	t.setup(err, "make a pipe for the client's stdin")
	s := &session{t: t, stdin: w, cmd: strings.Join(argv, " ")}
	s.proc = t.start(argv, harness.Options{Stdin: r})
	r.Close()
	t.mu.Lock()
	t.closers = append(t.closers, func() {
		if s.stdin != nil {
			s.stdin.Close()
		}
		if s.server != nil {
			s.server.Close()
		}
	})
	t.mu.Unlock()
	// The connection, or the client's exit, whichever comes first.
	type result struct {
		conn net.Conn
		err  error
	}
	accepted := make(chan result, 1)
	go func() {
		l.(*net.TCPListener).SetDeadline(time.Now().Add(wait))
		conn, err := l.Accept()
		accepted <- result{conn, err}
	}()
	var got result
	select {
	case got = <-accepted:
	case <-s.proc.Done():
		l.Close() // ends the Accept
		if got = <-accepted; got.err != nil {
			got.err = fmt.Errorf("the client exited (%v) without connecting", s.proc.ExitState())
		} // else it connected, then exited: the test goes on and sees
	}
	s.server, err = got.conn, got.err
	t.Check(err, Failure{
		Did:      "started " + s.cmd,
		Expected: "a connection to 127.0.0.1 port " + port,
		Got:      fmt.Sprintf("none within %v (%v); client stderr: %q", wait, err, abbrev(s.proc.Stderr())),
		Hint:     "socket(), then connect() to the host and port from the command line (htons the port)",
		ByHand:   "nc -l 5015 in one terminal, your client localhost 5015 in another",
	})
	s.r = bufio.NewReader(s.server)
	t.Logf("started %s: pid %d, connected", s.cmd, s.proc.Pid)
	return s
}

// typeIn writes to the client's stdin, as a user typing.
func (s *session) typeIn(text string) {
	_, err := s.stdin.WriteString(text)
	s.t.Check(err, Failure{Did: "write to the client's stdin", Hint: "did the client exit?"})
}

// say sends bytes to the client, as the server.
func (s *session) say(text string) {
	_, err := s.server.Write([]byte(text))
	s.t.Check(err, Failure{Did: "send to the client", Hint: "the client closed its connection too early: keep it open until the server closes or stdin ends"})
}

// serverReads reads exactly len(want) bytes from the client and compares.
func (s *session) serverReads(did, want, hint string) {
	s.server.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, len(want))
	n, err := io.ReadFull(s.r, buf)
	if err != nil || string(buf) != want {
		s.t.Fail(Failure{Did: did, Expected: "the server receives " + strconv.Quote(abbrev(want)),
			Got: fmt.Sprintf("%q (%v)", abbrev(string(buf[:n])), err), Hint: hint,
			ByHand: "nc -l 5015 in one terminal; your client localhost 5015 in another; type"})
	}
}

// waitPrinted waits until the client's stdout is exactly want.
func (s *session) waitPrinted(did, want, hint string) {
	err := harness.Eventually(wait, "the client's output", func() (bool, error) {
		return len(s.proc.Stdout()) >= len(want), nil
	})
	if got := s.proc.Stdout(); err != nil || got != want {
		s.t.Fail(Failure{Did: did, Expected: "the client prints " + strconv.Quote(want), Got: strconv.Quote(got),
			Diff: diffLines(want, got), Hint: hint,
			ByHand: "nc -l 5015 in one terminal; your client localhost 5015 in another; type into nc"})
	}
}

func diffLines(want, got string) string {
	if want == got {
		return ""
	}
	return firstLines(wire.Diff(strings.SplitAfter(want, "\n"), strings.SplitAfter(got, "\n")), 20)
}

// waitExit waits for the client to exit within limit and checks its status.
func (s *session) waitExit(did string, limit time.Duration, status int, hint string) {
	if !s.proc.Wait(limit) {
		s.t.Fail(Failure{Did: did, Expected: fmt.Sprintf("the client exits within %v", limit), Got: "still running", Hint: hint,
			ByHand: "ps -o pid,stat,wchan,args -C <your client>"})
	}
	if code := s.proc.ExitState().ExitCode(); code != status {
		s.t.Fail(Failure{Did: did, Expected: fmt.Sprintf("exit status %d", status), Got: s.proc.ExitState().String(), Hint: hint})
	}
}

func clientTests() []*Test {
	return []*Test{
		{Name: "client/connect", Lab: "client", Points: 2, Timeout: 10 * time.Second,
			What: "connects to the host and port given on the command line", Run: testConnect},
		{Name: "client/stdin", Lab: "client", Points: 2, Timeout: 10 * time.Second,
			What: "what is typed reaches the server, in order", Run: testStdin},
		{Name: "client/prints-idle", Lab: "client", Points: 3, Timeout: 10 * time.Second,
			What: "prints the server's lines while nothing is typed", Run: testPrintsIdle},
		{Name: "client/long-lines", Lab: "client", Points: 2, Timeout: 10 * time.Second,
			What: "long lines and CRLF pass whole, both ways", Run: testClientLongLines},
		{Name: "client/server-close", Lab: "client", Points: 2, Timeout: 10 * time.Second,
			What: "exits 0 within 1 s when the server closes", Run: testServerClose},
		{Name: "client/stdin-eof", Lab: "client", Points: 2, Timeout: 10 * time.Second,
			What: "closes the connection and exits 0 at the end of stdin", Run: testStdinEOF},
		{Name: "client/escapes", Lab: "client", Points: 2, Timeout: 10 * time.Second,
			What: "strips terminal escape sequences from what it prints", Run: testEscapes},
		{Name: "client/idle-cpu", Lab: "client", Points: 3, Timeout: 10 * time.Second,
			What: "uses no CPU while idle (no busy-wait)", Run: testIdleCPU},
		{Name: "client/no-server", Lab: "client", Points: 2, Timeout: 10 * time.Second,
			What: "says why on stderr and exits 1 when nothing listens", Run: testNoServer},
	}
}

func testConnect(t *T) {
	s := t.startClient() // fails unless the connection arrives
	t.Logf("connection from %s", s.server.RemoteAddr())
}

func testStdin(t *T) {
	s := t.startClient()
	s.typeIn("hello\n")
	s.serverReads("typed \"hello\"", "hello\n", "copy stdin to the socket")
	s.typeIn("one\ntwo\n")
	s.serverReads("typed \"one\" and \"two\"", "one\ntwo\n", "copy stdin to the socket as it comes")
}

func testPrintsIdle(t *T) {
	s := t.startClient()
	s.say("* welcome user1\nuser2: hi there\n")
	s.waitPrinted("the server sent two lines; nothing was typed", "* welcome user1\nuser2: hi there\n",
		"wait for stdin and the socket at once (poll/select, or two processes): a client blocked in read(stdin) prints nothing")
	s.typeIn("back\n")
	s.serverReads("typed \"back\" after the lines were printed", "back\n", "keep copying stdin to the socket")
}

func testClientLongLines(t *T) {
	s := t.startClient()
	long := strings.Repeat("L", 3000)
	s.typeIn(long + "\r\nshort\n")
	s.serverReads("typed a 3000-byte line ending in CRLF, then \"short\"", long+"\r\nshort\n",
		"send what is typed as it is, however long: the server cuts long lines, not the client")
	line := "user2: " + strings.Repeat("w", 1000) + "\n"
	s.say(line)
	s.waitPrinted("the server sent a 1007-byte line", line, "print whole lines, however many reads they take")
}

func testServerClose(t *T) {
	s := t.startClient()
	s.say("* server shutting down\n")
	start := time.Now()
	s.server.Close()
	s.waitExit("the server sent \"* server shutting down\" and closed the connection", time.Second-time.Since(start), 0,
		"read() returning 0 on the socket means the server closed: say so on stderr and exit(0)")
	if got := s.proc.Stdout(); got != "* server shutting down\n" {
		t.Fail(Failure{Did: "the server said goodbye and closed", Expected: "the goodbye line is printed before exiting",
			Got: strconv.Quote(got), Hint: "print everything read from the socket before handling the end of the connection"})
	}
	t.Logf("exited 0 in %v", time.Since(start).Round(time.Millisecond))
}

func testStdinEOF(t *T) {
	s := t.startClient()
	s.typeIn("bye\n")
	s.stdin.Close()
	s.stdin = nil
	s.serverReads("typed \"bye\", then end of input (Ctrl-D)", "bye\n", "send what was typed before the end")
	s.waitExit("end of stdin", wait, 0, "read() returning 0 on stdin means the user is done: close the socket and exit(0)")
	s.server.SetReadDeadline(time.Now().Add(wait))
	if _, err := s.r.ReadByte(); err != io.EOF {
		t.Fail(Failure{Did: "end of stdin; the client exited", Expected: "the connection closed (EOF at the server)", Got: fmt.Sprint(err),
			Hint: "close the socket before exiting (exit closes it too: did a child process keep it open?)"})
	}
}

func testEscapes(t *T) {
	s := t.startClient()
	s.say("user2: \x1b[2J\x1b[Hgotcha \x1b]0;pwned\x07\x1b[31mred\x1b[0m\x08!\r\n")
	s.waitPrinted("the server relayed a line with clear-screen, cursor, title, colour and backspace sequences",
		"user2: gotcha red!\n",
		"remove ESC sequences (ESC [ ... final byte, ESC ] ... BEL) and control characters but \\t and \\n before printing")
}

func testIdleCPU(t *T) {
	s := t.startClient()
	s.typeIn("ready\n")
	s.serverReads("typed \"ready\"", "ready\n", "copy stdin to the socket")
	before, err := procfs.ReadStat(s.proc.Pid)
	t.setup(err, "read /proc/PID/stat")
	const window = 500 * time.Millisecond
	time.Sleep(window) // the measurement window
	after, err := procfs.ReadStat(s.proc.Pid)
	t.Check(err, Failure{Did: "read /proc/PID/stat", Hint: "the client exited while it should have been waiting for input"})
	ticks := (after.UTime + after.STime) - (before.UTime + before.STime)
	if ticks > 5 {
		t.Fail(Failure{Did: fmt.Sprintf("left the client idle for %v (stdin open, nothing sent)", window),
			Expected: "at most 50 ms of CPU time", Got: fmt.Sprintf("%d ms", ticks*10),
			Hint:   "block in poll()/select()/read() with no timeout; never loop on non-blocking reads",
			ByHand: "top -p PID, or: ps -o pid,time,stat -p PID"})
	}
	t.Logf("%d ms of CPU time over %v idle", ticks*10, window)
}

func testNoServer(t *T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	t.setup(err, "find a free port")
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	argv := slices.Concat(t.cfg.Client, []string{"127.0.0.1", port})
	p := t.start(argv, harness.Options{})
	did := "started " + strings.Join(argv, " ") + " with nothing listening on the port"
	if !p.Wait(wait) {
		t.Fail(Failure{Did: did, Expected: "the client exits", Got: "still running", Hint: "when connect() fails, report it and exit(1)"})
	}
	if code := p.ExitState().ExitCode(); code != 1 || strings.TrimSpace(p.Stderr()) == "" {
		t.Fail(Failure{Did: did, Expected: "a message on stderr and exit status 1",
			Got:  fmt.Sprintf("%v, stderr %q", p.ExitState(), abbrev(p.Stderr())),
			Hint: "check connect()'s result: perror(\"connect\") or a message of your own, then exit(1)"})
	}
	t.Logf("exit 1, stderr: %s", strings.TrimSpace(abbrev(p.Stderr())))
}
