package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const wait = 5 * time.Second // bounds each wait; a correct client is far faster

var clientBin, serverBin string

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, func(dir string) (err error) {
		if clientBin, err = harness.BuildGo(".", dir, "chat_client"); err != nil {
			return err
		}
		serverBin, err = harness.BuildGo(filepath.Join("..", "server"), dir, "chat_server")
		return err
	}))
}

// session is a chat_client under test connected to a fake server played by
// the test, with its standard input a pipe the test writes.
type session struct {
	t      *testing.T
	proc   *harness.Proc
	stdin  *os.File // the write end; nil once closed
	server net.Conn // the test's end of the connection
	lines  *bufio.Reader
}

func start(t *testing.T) *session {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	p, err := harness.Start(clientBin, []string{"127.0.0.1", port}, harness.Options{Stdin: r})
	r.Close()
	require.NoError(t, err)
	s := &session{t: t, proc: p, stdin: w}
	t.Cleanup(func() {
		p.KillTree()
		if s.stdin != nil {
			s.stdin.Close()
		}
		if t.Failed() {
			t.Logf("client stdout:\n%s\nclient stderr:\n%s", p.Stdout(), p.Stderr())
		}
	})
	l.(*net.TCPListener).SetDeadline(time.Now().Add(wait))
	s.server, err = l.Accept()
	require.NoError(t, err, "the client did not connect")
	t.Cleanup(func() { s.server.Close() })
	s.lines = bufio.NewReader(s.server)
	return s
}

// type writes to the client's standard input, as a user typing.
func (s *session) typeIn(text string) {
	_, err := s.stdin.WriteString(text)
	require.NoError(s.t, err)
}

// serverReads reads n bytes that the client sent.
func (s *session) serverReads(n int) string {
	s.server.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, n)
	_, err := io.ReadFull(s.lines, buf)
	require.NoError(s.t, err, "the server did not receive %d bytes", n)
	return string(buf)
}

// waitStdout waits until the client has printed want.
func (s *session) waitStdout(want string) {
	s.t.Helper()
	require.NoError(s.t, harness.Eventually(wait, fmt.Sprintf("the client to print %q", want), func() (bool, error) {
		return strings.Contains(s.proc.Stdout(), want), nil
	}), "stdout so far: %q", s.proc.Stdout())
}

func (s *session) waitExit() int {
	s.t.Helper()
	require.True(s.t, s.proc.Wait(wait), "the client did not exit")
	return s.proc.ExitState().ExitCode()
}

func TestStdinReachesServer(t *testing.T) {
	s := start(t)
	s.typeIn("hello\n")
	assert.Equal(t, "hello\n", s.serverReads(6))
	long := strings.Repeat("L", 3000) + "\r\n"
	s.typeIn(long + "second\n")
	assert.Equal(t, long+"second\n", s.serverReads(len(long)+7), "bytes are sent as typed")
}

func TestPrintsWhileStdinIdle(t *testing.T) {
	s := start(t)
	_, err := s.server.Write([]byte("* welcome user1\nuser2: hi there\n"))
	require.NoError(t, err)
	s.waitStdout("* welcome user1\nuser2: hi there\n")
	// Still alive and still sending afterwards.
	s.typeIn("back\n")
	assert.Equal(t, "back\n", s.serverReads(5))
}

func TestExitsWhenServerCloses(t *testing.T) {
	s := start(t)
	_, err := s.server.Write([]byte("* server shutting down\n"))
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, s.server.Close())
	assert.Equal(t, 0, s.waitExit())
	assert.Less(t, time.Since(start), time.Second, "exit within 1 s of the close")
	assert.Equal(t, "* server shutting down\n", s.proc.Stdout(), "the last line is printed before leaving")
	assert.Contains(t, s.proc.Stderr(), "server closed the connection")
}

func TestExitsOnStdinEOF(t *testing.T) {
	s := start(t)
	s.typeIn("bye\n")
	require.NoError(t, s.stdin.Close())
	s.stdin = nil
	assert.Equal(t, 0, s.waitExit())
	assert.Equal(t, "bye\n", s.serverReads(4))
	s.server.SetReadDeadline(time.Now().Add(wait))
	_, err := s.lines.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the client should close the connection")
}

func TestStripsTerminalEscapes(t *testing.T) {
	s := start(t)
	_, err := s.server.Write([]byte("user2: \x1b[2J\x1b[Hgotcha \x1b]0;pwned\x07\x1b[31mred\x1b[0m\r\n"))
	require.NoError(t, err)
	s.waitStdout("user2: gotcha red\n")
	assert.Equal(t, "user2: gotcha red\n", s.proc.Stdout())
}

// TestIdleUsesNoCPU: a client waiting for input must sleep in poll, not
// spin. It measures the client's CPU time over a window of idleness.
func TestIdleUsesNoCPU(t *testing.T) {
	s := start(t)
	s.typeIn("ready\n")
	s.serverReads(6) // the client is up and has done its work
	before, err := procfs.ReadStat(s.proc.Pid)
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond) // the measurement window, not a synchronisation
	after, err := procfs.ReadStat(s.proc.Pid)
	require.NoError(t, err)
	ticks := (after.UTime + after.STime) - (before.UTime + before.STime)
	t.Logf("CPU time over 500 ms of idleness: %d ticks (1 tick = 10 ms)", ticks)
	assert.LessOrEqual(t, ticks, uint64(5), "a busy-waiting client burns the whole window")
	assert.Equal(t, byte('S'), after.State, "an idle client sleeps (state S)")
}

func TestNothingListening(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	p, err := harness.Start(clientBin, []string{"127.0.0.1", port}, harness.Options{})
	require.NoError(t, err)
	require.True(t, p.Wait(wait))
	p.KillTree()
	assert.Equal(t, 1, p.ExitState().ExitCode())
	assert.Contains(t, p.Stderr(), "cannot connect to 127.0.0.1 port "+port+": connection refused")
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{}, {"localhost", "notaport"}, {"localhost", "0"}, {"a", "1", "extra"}} {
		p, err := harness.Start(clientBin, args, harness.Options{})
		require.NoError(t, err)
		require.True(t, p.Wait(wait))
		p.KillTree()
		assert.Equal(t, 2, p.ExitState().ExitCode(), "%q", args)
		assert.Contains(t, p.Stderr(), "usage: chat_client HOST [PORT]", "%q", args)
	}
}

// TestWithRealServer: two reference clients chat through the reference
// server, reached by name.
func TestWithRealServer(t *testing.T) {
	srv, err := harness.Start(serverBin, []string{"-port", "0"}, harness.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { srv.KillTree() })
	var port string
	require.NoError(t, harness.Eventually(wait, "the server to listen", func() (bool, error) {
		addrs, err := procfs.Listening(srv.Pid)
		if len(addrs) > 0 {
			port = strconv.Itoa(int(addrs[0].Port()))
		}
		return len(addrs) > 0, err
	}))

	var stdins []*os.File
	var procs []*harness.Proc
	for i := range 2 {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		p, err := harness.Start(clientBin, []string{"localhost", port}, harness.Options{Stdin: r})
		r.Close()
		require.NoError(t, err)
		t.Cleanup(func() { p.KillTree(); w.Close() })
		stdins, procs = append(stdins, w), append(procs, p)
		want := fmt.Sprintf("* welcome user%d\n", i+1)
		require.NoError(t, harness.Eventually(wait, "the welcome", func() (bool, error) {
			return strings.Contains(p.Stdout(), want), nil
		}))
	}
	_, err = stdins[0].WriteString("hello from one\n")
	require.NoError(t, err)
	require.NoError(t, harness.Eventually(wait, "the message", func() (bool, error) {
		return strings.Contains(procs[1].Stdout(), "user1: hello from one\n"), nil
	}), "client 2 printed %q", procs[1].Stdout())
	assert.Equal(t, "* welcome user1\n* user2 joined\n", procs[0].Stdout())

	require.NoError(t, srv.Signal(syscall.SIGTERM))
	for _, p := range procs {
		require.True(t, p.Wait(wait))
		assert.Equal(t, 0, p.ExitState().ExitCode())
		assert.Contains(t, p.Stdout(), "* server shutting down\n")
	}
}
