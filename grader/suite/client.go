package suite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"
)

// session is a client under test connected to a server the grader plays.
type session struct {
	t      *T
	proc   *harness.Proc
	stdin  *os.File // write end of the client's stdin; nil once closed
	server net.Conn
	r      *bufio.Reader
	cmd    string

	mu    sync.Mutex
	kids  map[int]*kid // the client's descendants seen, by pid
	ended bool         // the test ended the session (end): an exit is no death
}

// kid is a descendant of the client under test, as last seen.
type kid struct {
	st   procfs.Stat
	gone bool // seen as a zombie, or vanished
}

// startClient starts the client under test against a listener of the
// grader's on 127.0.0.1 and accepts its connection.
func (t *T) startClient() *session { return t.startClientAt("127.0.0.1") }

// listen opens the grader's listeners for host: 127.0.0.1, ::1, or both
// on one port for "localhost" (which may resolve to either first).
func (t *T) listen(host string) ([]net.Listener, string) {
	switch host {
	case "::1":
		l, err := net.Listen("tcp6", "[::1]:0")
		t.setup(err, "listen on [::1] (the grader plays the server; is IPv6 on?)")
		return []net.Listener{l}, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	case "localhost":
		for range 20 { // a port free on both families
			l4, err := net.Listen("tcp4", "127.0.0.1:0")
			t.setup(err, "listen on loopback (the grader plays the server)")
			port := strconv.Itoa(l4.Addr().(*net.TCPAddr).Port)
			if l6, err := net.Listen("tcp6", "[::1]:"+port); err == nil {
				return []net.Listener{l4, l6}, port
			}
			l4.Close()
		}
		t.setup(errors.New("no port free on both 127.0.0.1 and ::1"), "listen on loopback, both families")
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	t.setup(err, "listen on loopback (the grader plays the server)")
	return []net.Listener{l}, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startClientAt starts the client under test with host as its first
// argument, the grader listening where host points, and accepts its
// connection.
func (t *T) startClientAt(host string) *session {
	ls, port := t.listen(host)
	where := host + " port " + port
	if host == "localhost" {
		where = "localhost port " + port + " (the grader listens on 127.0.0.1 and ::1)"
	}
	return t.startClientOn(host, ls, port, where)
}

// startClientOn starts the client under test with host and port as its
// arguments while the grader listens on ls, and accepts its connection;
// where says where the grader listens, for a failure.
func (t *T) startClientOn(host string, ls []net.Listener, port, where string) *session {
	defer func() { // a second Close after an early exit is harmless
		for _, l := range ls {
			l.Close()
		}
	}()
	argv := slices.Concat(t.cfg.Client, []string{host, port})
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
	accepted := make(chan result, len(ls))
	for _, l := range ls {
		go func() {
			l.(*net.TCPListener).SetDeadline(time.Now().Add(wait))
			conn, err := l.Accept()
			accepted <- result{conn, err}
		}()
	}
	var got result
	select {
	case got = <-accepted:
	case <-s.proc.Done():
		for _, l := range ls {
			l.Close() // ends the Accepts
		}
		if got = <-accepted; got.err != nil {
			got.err = fmt.Errorf("the client %s without connecting", describeExit(s.proc.ExitState()))
		} // else it connected, then exited: the test goes on and sees
	}
	s.server, err = got.conn, got.err
	t.Check(err, Failure{
		Did:      "started " + s.cmd,
		Expected: "a connection to " + where,
		Got:      connectGot(err, s.proc, abbrev(s.proc.Stderr())),
		Hint:     t.lang.connectHint(host),
		ByHand:   "nc -l 5015 in one terminal (nc -6 -l ::1 5015 for IPv6), your client " + host + " 5015 in another",
	})
	s.r = bufio.NewReader(s.server)
	t.Logf("started %s: pid %d, connected from %s", s.cmd, s.proc.Pid, s.server.RemoteAddr())
	s.kids = map[int]*kid{}
	go s.watchKids()
	return s
}

// watchKids records the client's descendants until the test ends, so that
// a failure can say that one died, and how if it was seen as a zombie
// (/proc/PID/stat holds a zombie's exit status). A client that reaps its
// child at once leaves only "it exited" to say.
func (s *session) watchKids() {
	for {
		ds, _ := procfs.Descendants(s.proc.Pid)
		s.mu.Lock()
		seen := map[int]bool{}
		for _, d := range ds {
			seen[d.Pid] = true
			k := s.kids[d.Pid]
			if k == nil || k.st.Start != d.Start {
				k = &kid{}
				s.kids[d.Pid] = k
			}
			k.st, k.gone = d, d.State == 'Z'
		}
		for pid, k := range s.kids {
			if !seen[pid] {
				k.gone = true
			}
		}
		s.mu.Unlock()
		select {
		case <-s.t.ended:
			return
		case <-s.proc.Done():
			return
		case <-time.After(2 * time.Millisecond): // a polling interval: /proc offers nothing to block on
		}
	}
}

// deaths says which of the client's processes have died: the client itself
// and any child of it seen before.
func (s *session) deaths() string {
	var out []string
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.proc.ExitState(); st != nil && (!s.ended || !st.Exited()) {
		out = append(out, "the client "+describeExit(st))
	}
	for pid, k := range s.kids {
		switch {
		case !k.gone:
		case k.st.State == 'Z':
			out = append(out, fmt.Sprintf("the client's child process %d (%s) %s", pid, k.st.Comm, describeWait(syscall.WaitStatus(k.st.ExitCode))))
		default:
			out = append(out, fmt.Sprintf("the client's child process %d (%s) has exited", pid, k.st.Comm))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// fail reports f, leading with any death among the client's processes: it
// explains the rest.
func (s *session) fail(f Failure) {
	settleProc(s.proc)
	if d := s.deaths(); d != "" {
		f.Got = d + "; then: " + f.Got
		f.TimedOut = false
		f.Hint = "the client (or one of its processes, if it has several) died: " + f.Hint
	}
	s.t.Fail(f)
}

// typeIn writes to the client's stdin, as a user typing.
func (s *session) typeIn(text string) {
	_, err := s.stdin.WriteString(text)
	if err != nil {
		s.fail(Failure{Did: "typed " + strconv.Quote(abbrev(text)) + " into the client's stdin", Expected: "the client reads its stdin",
			Got: err.Error(), Hint: "the client must keep reading stdin until its end"})
	}
}

// say sends bytes to the client, as the server.
func (s *session) say(text string) {
	_, err := s.server.Write([]byte(text))
	if err != nil {
		s.fail(Failure{Did: "sent " + strconv.Quote(abbrev(text)) + " to the client, as the server", Expected: "the client's connection is open",
			Got: err.Error(), Hint: "the client closed its connection too early: keep it open until the server closes or stdin ends"})
	}
}

// serverReads reads len(want) bytes from the client and compares. It ends
// as soon as the bytes differ, or once the client has sent a part of want
// and then blocks (it is waiting for something, not sending the rest).
func (s *session) serverReads(did, want, hint string) {
	var got []byte
	var err error
	deadline := time.Now().Add(wait)
	var q stillness
	for len(got) < len(want) && strings.HasPrefix(want, string(got)) {
		if time.Now().After(deadline) {
			err = fmt.Errorf("nothing more within %v", wait)
			break
		}
		s.server.SetReadDeadline(time.Now().Add(10 * time.Millisecond)) // a polling interval
		chunk := make([]byte, len(want)-len(got))
		n, rerr := s.r.Read(chunk)
		got = append(got, chunk[:n]...)
		switch {
		case rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded):
			err = rerr
		case q.still(s.proc.Pid, n > 0, 200*time.Millisecond):
			err = errors.New("then nothing more: every process of the client is blocked, waiting")
		}
		if err != nil {
			break
		}
	}
	if err != nil || string(got) != want {
		q := fmt.Sprintf("%q", abbrev(string(got)))
		if err != nil {
			q += fmt.Sprintf(" (%v)", err)
		}
		s.fail(Failure{Did: did, Expected: "the server receives " + strconv.Quote(abbrev(want)),
			Got: q, Diff: firstDifference(want, string(got)), Hint: hint,
			ByHand: "nc -l 5015 in one terminal; your client localhost 5015 in another; type"})
	}
}

// awaitPrinted waits until the client's stdout holds want, or until the
// client's processes all block without having printed it (waiting for
// something else: stdin, or a buffer to fill), or for the usual wait. It
// returns what the client printed so far.
func (s *session) awaitPrinted(want string) string {
	var q stillness
	harness.Eventually(wait, "the client's output", func() (bool, error) {
		if strings.Contains(s.proc.Stdout(), want) || s.proc.Exited() {
			return true, nil
		}
		// Blocked with the bytes read: a while; with bytes unread in its
		// socket (it may not have been scheduled yet): longer.
		d := 100 * time.Millisecond
		if s.unread() > 0 {
			d = 500 * time.Millisecond
		}
		return q.still(s.proc.Pid, false, d), nil
	})
	return s.proc.Stdout()
}

// settledOutput returns the client's stdout once the client has gone
// quiet and its output has stopped growing.
func (s *session) settledOutput() string {
	out := s.proc.Stdout()
	for range 5 {
		settleProc(s.proc)
		now := s.proc.Stdout()
		if now == out {
			break
		}
		out = now
	}
	return out
}

// unread returns the bytes waiting in the client's socket that it has not
// read: what the server sent and the client did not take.
func (s *session) unread() int {
	local := s.server.LocalAddr().(*net.TCPAddr).AddrPort()
	remote := s.server.RemoteAddr().(*net.TCPAddr).AddrPort()
	n, _ := procfs.RecvQueue(remote, local)
	return n
}

// end closes the connection as the server would, then the client's stdin
// if it is still running, and returns everything it printed once it has
// exited (stdio flushes its buffers at exit).
func (s *session) end() string {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	s.server.Close()
	if !s.proc.Wait(time.Second) && s.stdin != nil {
		s.stdin.Close()
		s.stdin = nil
		s.proc.Wait(time.Second)
	}
	return s.proc.Stdout()
}

// printed judges one piece of output: want must appear in what the client
// prints, while it runs or at the latest by its exit (how soon is
// client/prints-idle's business, and so is output besides it).
func (s *session) printed(did, want, hint string) {
	got := s.awaitPrinted(want)
	if strings.Contains(got, want) {
		return
	}
	unread := s.unread()
	if got = s.end(); strings.Contains(got, want) {
		s.t.Logf("the client printed it only when it exited (see client/prints-idle)")
		return
	}
	if unread > 0 {
		s.fail(Failure{Did: did, Expected: "the client reads the line and prints it",
			Got:  fmt.Sprintf("it did not read the %d bytes waiting in its socket, and printed %q by its exit: this test could not judge", unread, abbrev(got)),
			Hint: "read the socket whenever it has data, also while waiting for stdin (see client/prints-idle)"})
	}
	s.fail(Failure{Did: did, Expected: "the client prints " + strconv.Quote(abbrev(want)), Got: strconv.Quote(abbrev(got)),
		Diff: firstDifference(want, closest(got, want)), Hint: hint,
		ByHand: "nc -l 5015 in one terminal; your client localhost 5015 in another; type into nc"})
}

// closest returns the line of got that starts like want's first line, or
// got itself, to compare byte by byte.
func closest(got, want string) string {
	head, _, _ := strings.Cut(want, " ")
	for _, line := range strings.SplitAfter(got, "\n") {
		if head != "" && strings.HasPrefix(line, head) {
			return line
		}
	}
	return got
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
		{Name: "client/escapes-c1", Lab: "client", Points: 2, Timeout: 15 * time.Second,
			What: "strips C1 controls (UTF-8 and 8-bit), ESC ESC, controls inside sequences, NUL, sequences split across reads", Run: testEscapesC1},
		{Name: "client/hosts", Lab: "client", Points: 2, Timeout: 20 * time.Second,
			What: "connects to localhost (IPv4 or IPv6) and to ::1", Run: testHosts},
		{Name: "client/final-line", Lab: "client", Points: 1, Timeout: 10 * time.Second,
			What: "sends what was typed before Ctrl-D, without a newline too", Run: testClientFinalLine},
		{Name: "client/usage", Lab: "client", Points: 1, Timeout: 15 * time.Second,
			What: "bad arguments: a message on stderr and exit status 2", Run: testClientUsage},
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
	// Bytes, not C strings: a NUL and a byte that is not UTF-8 are data.
	s.typeIn("a\x00b\xffc\n")
	s.serverReads("typed \"a\\x00b\\xffc\" (a NUL byte and the byte 0xff inside)", "a\x00b\xffc\n",
		t.lang.pick("send the bytes read() returned, as many as it returned: a NUL byte is data, so never measure what was read with strlen() or print it with %s",
			"send the bytes the read returned, as many as it returned: buf[:n], all of them, a NUL byte too"))
}

// testPrintsIdle: the server's lines are printed as they come, and only
// them. It tells apart a client that does not read the socket while it
// waits for stdin, one whose output sits in a stdio buffer until it exits,
// and one that prints more than the lines.
func testPrintsIdle(t *T) {
	s := t.startClient()
	const want = "* welcome user1\nuser2: hi there\n"
	s.say(want)
	did := "the server sent two lines; nothing was typed"
	got := s.awaitPrinted(want)
	if strings.Contains(got, want) {
		got = s.settledOutput() // a prompt may follow the lines
	}
	switch {
	case got == want:
	case strings.Contains(got, want):
		extra := strings.Replace(got, want, "", 1)
		s.fail(Failure{Did: did, Expected: "the client prints " + strconv.Quote(want) + " and nothing else",
			Got:  strconv.Quote(got) + "; besides the lines, it printed " + strconv.Quote(extra),
			Hint: "print only what the server sends: a banner or a prompt on stdout gets mixed with the room's lines; put them on stderr, or leave them out"})
	default:
		unread := s.unread()
		atExit := s.end()
		f := Failure{Did: did, Expected: "the client prints " + strconv.Quote(want) + " while it waits for input",
			Got: fmt.Sprintf("%q while it ran", got), Diff: firstDifference(want, got),
			ByHand: "nc -l 5015 in one terminal; your client localhost 5015 in another; type into nc only"}
		switch {
		case unread > 0:
			f.Got += fmt.Sprintf("; it had not read the %d bytes waiting in its socket", unread)
			f.Hint = "wait for stdin and the socket at once (poll/select, or two processes): a client blocked in read(stdin) reads and prints nothing"
		case strings.Contains(atExit, want):
			f.Got += "; it read them, and they appeared only when it exited: " + strconv.Quote(abbrev(atExit))
			f.Hint = t.lang.pick("stdout into a pipe or file is fully buffered: fflush(stdout) after each line, or setvbuf(stdout, NULL, _IOLBF, 0), or write(1, ...) directly",
				"what you print must leave at once: write to os.Stdout (or fd 1) directly, or Flush a bufio.Writer after each read")
		default:
			f.Got += fmt.Sprintf("; it read them, and printed %q by its exit", abbrev(atExit))
			f.Hint = "print every byte read from the socket (less escape sequences) to stdout"
		}
		s.fail(f)
	}
	s.typeIn("back\n")
	// Only that it still reads stdin: what it sends exactly is client/stdin's business.
	s.serverReads("typed \"back\" after the lines were printed", "back", "keep copying stdin to the socket")
}

func testClientLongLines(t *T) {
	s := t.startClient()
	long := strings.Repeat("L", 3000)
	s.typeIn(long + "\r\nshort\n")
	s.serverReads("typed a 3000-byte line ending in CRLF, then \"short\"", long+"\r\nshort\n",
		"send what is typed as it is, however long: the server cuts long lines, not the client")
	line := "user2: " + strings.Repeat("w", 1000) + "\n"
	s.say(line)
	s.printed("the server sent a 1007-byte line", line, "print whole lines, however many reads they take")
}

func testServerClose(t *T) {
	s := t.startClient()
	s.say("* server shutting down\n")
	start := time.Now()
	s.server.Close()
	s.waitExit("the server sent \"* server shutting down\" and closed the connection", time.Second-time.Since(start), 0,
		t.lang.pick("read() returning 0 on the socket means the server closed: say so on stderr and exit(0)",
			"a read of 0 bytes on the socket means the server closed: say so on stderr and exit with status 0 (return 0 from chat)"))
	if got := s.proc.Stdout(); !strings.Contains(got, "* server shutting down\n") {
		s.fail(Failure{Did: "the server said goodbye and closed", Expected: "the goodbye line is printed before exiting",
			Got: strconv.Quote(got), Hint: "print everything read from the socket before handling the end of the connection"})
	}
	t.Logf("exited 0 in %v", time.Since(start).Round(time.Millisecond))
}

func testStdinEOF(t *T) {
	s := t.startClient()
	s.stdin.Close()
	s.stdin = nil
	t.Logf("closed the client's stdin (the user typed Ctrl-D)")
	s.waitExit("end of stdin", wait, 0, t.lang.pick("read() returning 0 on stdin means the user is done: close the socket and exit(0)",
		"a read of 0 bytes on stdin (fd 0) means the user is done: close the socket and exit with status 0"))
	s.server.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.Copy(io.Discard, s.r); err != nil {
		s.fail(Failure{Did: "end of stdin; the client exited", Expected: "the connection closed (EOF at the server)", Got: fmt.Sprint(err),
			Hint: "close the socket before exiting (exit closes it too: did a child process keep it open?)"})
	}
}

func testEscapes(t *T) {
	s := t.startClient()
	s.say("user2: \x1b[2J\x1b[Hgotcha \x1b]0;pwned\x07\x1b[31mred\x1b[0m\x08!\r\n")
	s.printed("the server relayed a line with clear-screen, cursor, title, colour and backspace sequences",
		"user2: gotcha red!\n",
		"remove ESC sequences (ESC [ ... final byte, ESC ] ... BEL) and control characters but \\t and \\n before printing")
}

// testIdleCPU measures the client's CPU while it waits, whatever it sent
// for the line typed first (that is client/stdin's business).
func testIdleCPU(t *T) {
	s := t.startClient()
	s.typeIn("ready\n")
	// Once the client has sent something (or a wait has passed), it has
	// settled into its loop.
	s.server.SetReadDeadline(time.Now().Add(wait))
	if _, err := s.r.Peek(1); err != nil {
		t.Logf("the client sent nothing for the typed line (%v); measuring all the same", err)
	}
	const window = 500 * time.Millisecond
	settleWithin(s.proc, wait)
	used, total := treeCPU(t, s.proc, window)
	if total > window/10 {
		t.Fail(Failure{Did: fmt.Sprintf("left the client idle for %v (stdin open, nothing sent)", window),
			Expected: fmt.Sprintf("at most %v of CPU time", window/10), Got: fmt.Sprintf("%v: %s", total.Round(time.Millisecond), used),
			Hint:   "block in poll()/select()/read() with no timeout; never loop on non-blocking reads",
			ByHand: "top -p PID, or: ps -o pid,time,stat -p PID"})
	}
	t.Logf("%v of CPU time over %v idle", total.Round(10*time.Microsecond), window)
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
		t.Fail(Failure{Did: did, Expected: "the client exits", Got: "still running", Hint: t.lang.pick("when connect() fails, report it and exit(1)", "when unix.Connect fails, report it and exit with status 1 (os.Exit(1))")})
	}
	if code := p.ExitState().ExitCode(); code != 1 || strings.TrimSpace(p.Stderr()) == "" {
		t.Fail(Failure{Did: did, Expected: "a message on stderr and exit status 1",
			Got: fmt.Sprintf("%v, stderr %q", p.ExitState(), abbrev(p.Stderr())),
			Hint: t.lang.pick("check connect()'s result: perror(\"connect\") or a message of your own, then exit(1)",
				"check unix.Connect's error: print it to stderr (fmt.Fprintln(os.Stderr, ...)), then os.Exit(1)")})
	}
	t.Logf("exit 1, stderr: %s", strings.TrimSpace(abbrev(p.Stderr())))
}

// testEscapesC1: what a terminal obeys besides plain ESC sequences. The
// output must hold no control byte (C0 but tab and newline, DEL, C1 in
// either form) and keep the text around the sequences; a sequence split
// between two reads must vanish whole.
func testEscapesC1(t *T) {
	s := t.startClient()
	lines := "user2: A\xc2\x9b2JB\n" + // UTF-8 C1 CSI: clear screen
		"user2: C\xc2\x9d0;SECRET\x07D\n" + // UTF-8 C1 OSC: window title
		"user2: G\x9b2JH\n" + // 8-bit CSI
		"user2: I\x1b\x1b[2JJ\n" + // ESC ESC: the second starts a CSI
		"user2: K\x1b]0;x\x1b[31m\x07L\n" + // ESC inside an OSC string
		"user2: M\x1b[1\x082JN\n" + // a C0 control inside a CSI
		"user2: O\x00P\n" // a NUL: dropped, and the rest of the line printed
	s.say(lines)
	s.awaitPrinted("N\n")
	// The split: the client must have read the first half before the second comes.
	s.say("user2: E\x1b[3")
	harness.Eventually(wait, "the client to read the first half", func() (bool, error) { return s.unread() == 0, nil })
	s.t.Logf("sent \"user2: E\\x1b[3\", waited until the client had read it, then sent \"1mF\\n\"")
	s.say("1mF\n")
	got := s.awaitPrinted("F\n")
	if !strings.Contains(got, "F\n") {
		got = s.end()
	}
	did := "the server relayed lines with C1 controls, ESC ESC, ESC inside OSC, C0 inside CSI, a NUL, and an SGR split between two reads"
	if bad := controlBytes(got); bad != "" {
		s.fail(Failure{Did: did, Expected: "no control byte printed (but tab and newline)", Got: strconv.Quote(got) + ": " + bad,
			Hint: "a UTF-8 terminal obeys U+0080..U+009F (\\xc2\\x80..\\xc2\\x9f), an 8-bit one the bytes 0x80..0x9f: drop them with what they introduce (0x9b: a CSI; 0x9d: an OSC up to BEL), and keep the sanitizer's state between reads"})
	}
	// Each line: its two letters kept, and none of what the sequence between
	// them carried printed (a prompt or the like between them is
	// client/prints-idle's business).
	for _, c := range []struct{ first, second, residue string }{
		{"A", "B", "2J"}, {"C", "D", "SECRET"}, {"G", "H", "2J"}, {"I", "J", "[2"}, {"K", "L", "0;x"}, {"M", "N", "2J"}, {"O", "P", ""}, {"E", "F", "1m"},
	} {
		line := ""
		for _, l := range strings.Split(got, "\n") {
			if i := strings.Index(l, "user2: "+c.first); i >= 0 {
				line = l[i+len("user2: "+c.first):]
			}
		}
		j := strings.Index(line, c.second)
		if j < 0 || (c.residue != "" && strings.Contains(line[:j], c.residue)) {
			s.fail(Failure{Did: did, Expected: fmt.Sprintf("a line \"user2: %s%s\" (the sequence between the letters removed whole)", c.first, c.second),
				Got:  strconv.Quote(got),
				Hint: "remove each sequence whole, the letters around it kept: a sequence ends at its final byte (CSI), at BEL or ESC \\ (OSC); an ESC inside a CSI or after an ESC starts a new sequence (ESC ESC [2J is one clear-screen); a C0 control inside a CSI is dropped and the CSI goes on; a NUL is dropped, not the end of the line; a sequence split between two reads is still one sequence: keep the sanitizer's state between reads"})
		}
	}
	t.Logf("printed %q", got)
}

// controlBytes describes the control bytes in out that a terminal would
// obey, or returns "".
func controlBytes(out string) string {
	var bad []string
	cont := 0
	for i := 0; i < len(out); i++ {
		b := out[i]
		switch {
		case cont > 0 && b >= 0x80 && b <= 0xbf:
			cont--
			continue
		case b == 0xc2 && i+1 < len(out) && out[i+1] >= 0x80 && out[i+1] <= 0x9f:
			bad = append(bad, fmt.Sprintf("U+00%02X (\\xc2\\x%02x) at byte %d", out[i+1], out[i+1], i))
		case b >= 0x80 && b <= 0x9f:
			bad = append(bad, fmt.Sprintf("the 8-bit C1 byte \\x%02x at byte %d", b, i))
		case (b < 0x20 && b != '\t' && b != '\n') || b == 0x7f:
			bad = append(bad, fmt.Sprintf("\\x%02x at byte %d", b, i))
		}
		cont = 0
		switch {
		case b >= 0xc2 && b <= 0xdf:
			cont = 1
		case b >= 0xe0 && b <= 0xef:
			cont = 2
		case b >= 0xf0 && b <= 0xf4:
			cont = 3
		}
	}
	return strings.Join(bad, ", ")
}

// testHosts: the client resolves names and speaks both IP families:
// "localhost" (the grader listens on 127.0.0.1 and ::1, one port, so
// whichever address comes first answers) and the IPv6 literal "::1".
//
// Where localhost resolves to both 127.0.0.1 and ::1 (/etc/hosts on most
// machines), the grader then listens on one of them only, each in turn:
// whichever getaddrinfo puts first, a client that tries only the first
// address finds nobody listening in one of the two runs. Where localhost
// has one address, that check cannot be made, and the log says so.
func testHosts(t *T) {
	for _, host := range []string{"localhost", "::1"} {
		s := t.startClientAt(host)
		s.typeIn("via " + host + "\n")
		// That the bytes arrive; how exactly is client/stdin's business.
		s.serverReads("typed a line into a client started with "+host, "via "+host, "copy stdin to the socket")
		s.end()
	}
	addrs, _ := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost")
	has := map[string]bool{}
	for _, a := range addrs {
		has[a.Unmap().String()] = true
	}
	if !has["127.0.0.1"] || !has["::1"] {
		t.Logf("localhost resolves to %v here, not to both 127.0.0.1 and ::1: the check that the client tries every address cannot be made on this machine", addrs)
		return
	}
	for _, only := range []struct{ network, addr, name string }{{"tcp4", "127.0.0.1:0", "127.0.0.1"}, {"tcp6", "[::1]:0", "::1"}} {
		l, err := net.Listen(only.network, only.addr)
		t.setup(err, "listen on "+only.name)
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		s := t.startClientOn("localhost", []net.Listener{l}, port,
			"localhost port "+port+", where the grader listens on "+only.name+" only (localhost resolves to 127.0.0.1 and ::1: a client must try each address until one connects)")
		s.typeIn("via " + only.name + " only\n")
		s.serverReads("typed a line into a client started with localhost, the grader listening on "+only.name+" only", "via "+only.name+" only", "copy stdin to the socket")
		s.end()
	}
}

// testClientFinalLine: a line typed without a newline, then Ctrl-D: the
// client sends it (protocol rule 7 makes it a message) and closes.
func testClientFinalLine(t *T) {
	s := t.startClient()
	s.typeIn("no newline")
	s.stdin.Close()
	s.stdin = nil
	t.Logf("typed \"no newline\" without a newline, then Ctrl-D (closed stdin)")
	s.serverReads("typed \"no newline\" then Ctrl-D", "no newline",
		"send what is typed as it comes, not line by line: at the end of stdin nothing may be left unsent")
}

// testClientUsage: each bad command line gets a message and exit status 2,
// at once, without connecting anywhere.
func testClientUsage(t *T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0") // a port nothing listens on, for the one case that names one
	t.setup(err, "find a free port")
	free := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	for _, args := range [][]string{{}, {"127.0.0.1", "0"}, {"127.0.0.1", "65536"}, {"127.0.0.1", "port"}, {"127.0.0.1", free, "extra"}} {
		t.exits(slices.Concat(t.cfg.Client, args), 2, fmt.Sprintf("started the client with arguments %q", args), "a usage error",
			t.lang.pick("check the arguments before anything else (HOST and an optional PORT from 1 to 65535): print what is wrong and a usage line (\"usage: PROGRAM HOST [PORT]\") to stderr, then exit(2)",
				"check the arguments before anything else (HOST and an optional PORT from 1 to 65535): print what is wrong and a usage line (\"usage: PROGRAM HOST [PORT]\") to stderr, then os.Exit(2)"))
	}
}

// connectGot says what came of the client's connect: it exited first, or
// nothing came within the wait.
func connectGot(err error, p *harness.Proc, stderr string) string {
	if p.Exited() {
		return fmt.Sprintf("none: %v; its stderr: %q", err, stderr)
	}
	return fmt.Sprintf("none within %v (%v); client stderr: %q", wait, err, stderr)
}
