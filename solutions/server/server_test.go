package main

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"
	"chatlab/grader/wire"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestRelayToAllButSender(t *testing.T) {
	s := startServer(t, harness.Options{})
	c, _ := s.join(nil, 3)

	require.NoError(t, c[0].Send("hello everyone\n"))
	expectAll(t, c[1:], "user1: hello everyone")
	// If user1 got its own line back, it would come before user2's.
	require.NoError(t, c[1].Send("hi user1\n"))
	require.NoError(t, c[0].Expect(lineWait, "user2: hi user1"))
	require.NoError(t, c[2].Expect(lineWait, "user2: hi user1"))

	require.NoError(t, c[2].Close())
	expectAll(t, c[:2], "* user3 left")
	t.Log("checked: welcome, joined, relay to the others only, left")
}

func TestProcessPerClient(t *testing.T) {
	s := startServer(t, harness.Options{})
	s.waitProcesses(0)
	c1, _ := s.join(nil, 1)
	s.waitProcesses(1)
	c5, _ := s.join(c1, 4)
	all := slices.Concat(c1, c5)
	s.waitProcesses(5)

	live, _ := s.children()
	for _, k := range live {
		args, err := procfs.Cmdline(k.Pid)
		require.NoError(t, err)
		assert.Regexp(t, `^chat_server: user[1-5]$`, args[0], "a child's argv[0]")
		assert.Regexp(t, `^chat_user[1-5]$`, k.Comm, "a child's /proc/PID/comm")
	}

	for i, c := range all[:3] {
		require.NoError(t, c.Close())
		expectAll(t, all[i+1:], fmt.Sprintf("* user%d left", i+1))
	}
	s.waitProcesses(2)
	t.Log("checked: n+1 processes for n = 0, 1, 5 and back to 2; children named in ps")
}

// aboveStdio keeps the descriptors from 3 up: 0, 1 and 2 are whatever the
// server was started with (here, the test's capture pipes).
func aboveStdio(fds map[int]uint64) map[int]uint64 {
	for fd := range fds {
		if fd < 3 {
			delete(fds, fd)
		}
	}
	return fds
}

// TestChildFds checks that each child holds its own socket and two pipes
// and nothing of the other clients, and that the pipes join it to main.
func TestChildFds(t *testing.T) {
	s := startServer(t, harness.Options{})
	s.join(nil, 3)
	s.waitProcesses(3)

	mainPipes, err := procfs.Inodes(s.proc.Pid, "pipe")
	require.NoError(t, err)
	mainSocks, err := procfs.Inodes(s.proc.Pid, "socket")
	require.NoError(t, err)
	assert.Len(t, mainSocks, 1, "main should hold the listening socket only (ls -l /proc/%d/fd)", s.proc.Pid)
	inMain := map[uint64]int{}
	for _, ino := range mainPipes {
		inMain[ino]++
	}

	live, _ := s.children()
	shared := map[uint64]int{}
	for _, k := range live {
		socks, err := procfs.Inodes(k.Pid, "socket")
		require.NoError(t, err)
		pipes, err := procfs.Inodes(k.Pid, "pipe")
		require.NoError(t, err)
		aboveStdio(pipes)
		assert.Len(t, socks, 1, "child %d: sockets (ls -l /proc/%d/fd)", k.Pid, k.Pid)
		assert.Len(t, pipes, 2, "child %d: pipes (ls -l /proc/%d/fd)", k.Pid, k.Pid)
		for _, ino := range pipes {
			assert.Contains(t, inMain, ino, "child %d holds a pipe main does not", k.Pid)
			shared[ino]++
		}
	}
	// One pipe is in all three children (fork-to-main), three are in one
	// child each (main-to-fork).
	var counts []int
	for _, n := range shared {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	assert.Equal(t, []int{1, 1, 1, 3}, counts, "children per pipe")
	t.Log("checked: each child has 1 socket and 2 pipes shared with main; main has no client socket")
}

func TestKilledChildIsReapedAndAnnounced(t *testing.T) {
	s := startServer(t, harness.Options{})
	c, _ := s.join(nil, 3)
	s.waitProcesses(3)
	require.NoError(t, syscall.Kill(s.childOf(2), syscall.SIGKILL))
	require.NoError(t, c[0].Expect(lineWait, "* user2 left"))
	require.NoError(t, c[2].Expect(lineWait, "* user2 left"))
	s.waitProcesses(2)

	// The room still works, and ids are not reused.
	require.NoError(t, c[2].Send("still here\n"))
	require.NoError(t, c[0].Expect(lineWait, "user3: still here"))
	s.join(slices.Delete(slices.Clone(c), 1, 2), 1)
	t.Log("checked: kill -9 of a child: announced as left, reaped (no zombie), room goes on")
}

// TestResetWhileMessagesFlow resets clients (SO_LINGER 0) while lines are
// being written to them: the server must see ECONNRESET or EPIPE, not die of
// SIGPIPE.
func TestResetWhileMessagesFlow(t *testing.T) {
	s := startServer(t, harness.Options{})
	c, _ := s.join(nil, 4)
	sender, watcher, victims := c[0], c[1], c[2:]

	big := strings.Repeat("x", 900)
	for i := range 200 {
		require.NoError(t, sender.Send(fmt.Sprintf("%d %s\n", i, big)))
		if i == 50 {
			for _, v := range victims {
				require.NoError(t, v.Reset())
			}
		}
	}
	// The watcher gets all 200 messages, with the two departures among them.
	left := 0
	for got := 0; got < 200; {
		line, err := watcher.ReadLine(lineWait)
		require.NoError(t, err)
		if strings.HasPrefix(line, "* user") && strings.HasSuffix(line, " left") {
			left++
			continue
		}
		require.Equal(t, fmt.Sprintf("user1: %d %s", got, big), line)
		got++
	}
	require.Equal(t, 2, left, "the watcher should see both reset clients leave among the messages")
	// The sender sees them leave too (its own messages are not echoed).
	// In either order: the server learns of the two resets independently.
	lines, err := sender.ReadLines(2, lineWait)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"* user3 left", "* user4 left"}, lines)
	s.waitProcesses(2)
	s.join([]*wire.Conn{sender, watcher}, 1)
	require.False(t, s.proc.Exited(), "the server died")
	t.Log("checked: 2 clients reset mid-flow; server alive, both announced, reaped, new client served")
}

func TestServerSurvivesClosedStderr(t *testing.T) {
	s := startServer(t, harness.Options{StderrPipe: true})
	require.NoError(t, s.proc.StderrReader.Close()) // logging now meets EPIPE
	c, _ := s.join(nil, 2)
	require.NoError(t, c[0].Send("after stderr closed\n"))
	require.NoError(t, c[1].Expect(lineWait, "user1: after stderr closed"))
	require.NoError(t, c[1].Close())
	require.NoError(t, c[0].Expect(lineWait, "* user2 left"))
	c3, _ := s.join(c[:1], 1)
	require.NoError(t, s.proc.Signal(syscall.SIGTERM))
	expectAll(t, []*wire.Conn{c[0], c3[0]}, "* server shutting down")
	require.True(t, s.proc.Wait(lineWait), "the server did not exit after SIGTERM")
	assert.Equal(t, 0, s.proc.ExitState().ExitCode(), "exit status after SIGTERM")
	t.Log("checked: stderr a closed pipe; joins, relays, leaves and shutdown still work")
}

func TestLongLinesAreSplit(t *testing.T) {
	s := startServer(t, harness.Options{})
	c, _ := s.join(nil, 2)
	a, b := strings.Repeat("a", 1000), strings.Repeat("b", 1000)
	require.NoError(t, c[0].Send(a+b+"ccc\n"))
	require.NoError(t, c[0].Send(a+"\r\n"))  // exactly 1000: one message
	require.NoError(t, c[0].Send(a+"d\r\n")) // 1001: two
	require.NoError(t, c[1].Expect(lineWait,
		"user1: "+a, "user1: "+b, "user1: ccc",
		"user1: "+a,
		"user1: "+a, "user1: d"))
	t.Log("checked: 2003-, 1000- and 1001-byte lines cut into pieces of at most 1000, nothing lost")
}

func TestLineFraming(t *testing.T) {
	s := startServer(t, harness.Options{})
	c, _ := s.join(nil, 2)

	require.NoError(t, c[0].Send("crlf\r\n\r\n\n\nafter empty lines\n"))
	require.NoError(t, c[1].Expect(lineWait, "user1: crlf", "user1: after empty lines"))

	var burst strings.Builder
	var want []string
	for i := range 50 {
		fmt.Fprintf(&burst, "line %d\n", i)
		want = append(want, fmt.Sprintf("user1: line %d", i))
	}
	require.NoError(t, c[0].Send(burst.String())) // 50 lines in one write
	require.NoError(t, c[1].Expect(lineWait, want...))

	for _, piece := range []string{"one ", "line in ", "many ", "segments\n"} {
		require.NoError(t, c[0].Send(piece))
	}
	require.NoError(t, c[1].Expect(lineWait, "user1: one line in many segments"))

	require.NoError(t, c[0].Send("bytes \x00\x01\xfe\xff\xff\x1b[2J as they are\n")) // IAC IAC is one 0xff (rule 9)
	require.NoError(t, c[1].Expect(lineWait, "user1: bytes \x00\x01\xfe\xff\x1b[2J as they are"))
	t.Log("checked: CRLF, empty lines, 50 lines in one write, one line in 4 writes, binary bytes")
}

func TestServerFull(t *testing.T) {
	s := startServer(t, harness.Options{}, "-max-clients", "2")
	c, _ := s.join(nil, 2)
	extra := s.dial("third")
	require.NoError(t, extra.Expect(lineWait, "* server full"))
	require.NoError(t, extra.ExpectClosed(lineWait))

	require.NoError(t, c[0].Close())
	require.NoError(t, c[1].Expect(lineWait, "* user1 left"))
	s.join(c[1:], 1) // user3: the refused connection used no id
	t.Log("checked: third client of 2 gets '* server full' and is closed; a freed place is taken as user3")
}

func TestShutdown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			s := startServer(t, harness.Options{})
			c, _ := s.join(nil, 3)
			s.waitProcesses(3)
			kids, err := s.proc.Descendants()
			require.NoError(t, err)

			start := time.Now()
			require.NoError(t, s.proc.Signal(sig))
			for _, x := range c {
				require.NoError(t, x.Expect(lineWait, "* server shutting down"))
				require.NoError(t, x.ExpectClosed(lineWait))
			}
			require.True(t, s.proc.Wait(lineWait), "the server did not exit")
			took := time.Since(start)
			t.Logf("exited %v after the signal", took.Round(time.Millisecond))
			assert.Equal(t, 0, s.proc.ExitState().ExitCode())
			assert.Less(t, took, time.Second, "the protocol gives a server 1 s to shut down")

			// Its children were reaped by the server itself: none is left,
			// not even as an orphan handed to us (we are a subreaper).
			for _, k := range kids {
				st, err := procfs.ReadStat(k.Pid)
				if err == nil && st.Start == k.Start {
					t.Errorf("child %d (%s) is still there after the server exited: state %c", k.Pid, k.Comm, st.State)
				}
			}
			on, err := procfs.ListeningOn(s.port)
			require.NoError(t, err)
			assert.False(t, on, "port %d still listening", s.port)
		})
	}
}

// TestSlowReaderIsKicked: one client never reads. The others must get every
// message while its backlog grows, then see it kicked.
func TestSlowReaderIsKicked(t *testing.T) {
	s := startServer(t, harness.Options{})
	sender, _ := s.join(nil, 1)
	// Dial by hand to shrink the receive buffer before the welcome arrives.
	slow := s.dial("slow")
	require.NoError(t, slow.SetReadBuffer(4096))
	s.next++
	require.NoError(t, sender[0].Expect(lineWait, "* user2 joined"))
	fast, _ := s.join([]*wire.Conn{sender[0]}, 1)
	// user3's join reached slow too, unread.

	msg := strings.Repeat("m", 990)
	kicked := false
	sent := 0
	for sent < 5000 && !kicked {
		var batch strings.Builder
		for range 100 {
			fmt.Fprintf(&batch, "%04d %s\n", sent, msg)
			sent++
		}
		require.NoError(t, sender[0].Send(batch.String()))
		for got := sent - 100; got < sent; {
			line, err := fast[0].ReadLine(lineWait)
			require.NoError(t, err, "the fast reader stalled at message %d of %d", got, sent)
			if line == "* user2 kicked: too slow" {
				kicked = true
				continue
			}
			require.Equal(t, fmt.Sprintf("user1: %04d %s", got, msg), line)
			got++
		}
	}
	require.True(t, kicked, "user2 was not kicked after %d messages of 1000 bytes", sent)
	require.NoError(t, sender[0].Expect(lineWait, "* user2 kicked: too slow"))
	s.waitProcesses(2)
	t.Logf("checked: a non-reader was kicked after at most %d KB; the fast reader got every message", sent)
}

// TestBurst: 10 clients send 200 messages each at once. Every client gets
// every other client's messages, each sender's in order, and any two
// clients see the messages they both get in the same order.
func TestBurst(t *testing.T) {
	const clients, each = 10, 200
	s := startServer(t, harness.Options{})
	conns, ids := s.join(nil, clients)
	received := make([][]string, clients)
	var wg sync.WaitGroup
	errs := make(chan error, 2*clients)
	for i, c := range conns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for m := range each {
				fmt.Fprintf(&b, "m%d\n", m)
			}
			errs <- c.Send(b.String())
		}()
		go func() {
			defer wg.Done()
			lines, err := c.ReadLines((clients-1)*each, 4*lineWait)
			received[i] = lines
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i, lines := range received {
		next := map[int]int{}
		for _, line := range lines {
			var from, m int
			_, err := fmt.Sscanf(line, "user%d: m%d", &from, &m)
			require.NoError(t, err, "client user%d: unexpected line %q", ids[i], line)
			require.NotEqual(t, ids[i], from, "user%d got its own message back", ids[i])
			require.Equal(t, next[from], m, "user%d: message %d of user%d out of order", ids[i], m, from)
			next[from]++
		}
	}
	// One common order: what a and b both receive comes in the same order.
	for a := range clients {
		for b := a + 1; b < clients; b++ {
			both := func(lines []string) []string {
				return slices.DeleteFunc(slices.Clone(lines), func(l string) bool {
					return strings.HasPrefix(l, "user"+strconv.Itoa(ids[a])+":") ||
						strings.HasPrefix(l, "user"+strconv.Itoa(ids[b])+":")
				})
			}
			if d := wire.Diff(both(received[a]), both(received[b])); d != "" {
				t.Fatalf("user%d and user%d saw different orders:\n%s", ids[a], ids[b], d)
			}
		}
	}
	t.Logf("checked: %d clients x %d messages: complete, per-sender order, one common order", clients, each)
}

func TestPortFlag(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	p, err := harness.Start(serverBin, []string{"-port", strconv.Itoa(port)}, harness.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { p.KillTree() })
	var addrs []string
	require.NoError(t, harness.Eventually(lineWait, "the server to listen", func() (bool, error) {
		got, err := procfs.Listening(p.Pid)
		addrs = addrs[:0]
		for _, a := range got {
			addrs = append(addrs, a.String())
		}
		return len(got) > 0 || p.Exited(), err
	}))
	assert.Equal(t, []string{"0.0.0.0:" + strconv.Itoa(port)}, addrs, "ss -ltnp should show the server on all IPv4 addresses")
	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.True(t, p.Wait(lineWait))
	assert.Contains(t, p.Stderr(), "listening on 0.0.0.0:"+strconv.Itoa(port), "the log names the port")
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-port", "70000"}, {"-max-clients", "0"}, {"-addr", "nowhere"}, {"-bogus"}, {"extra"}} {
		p, err := harness.Start(serverBin, args, harness.Options{})
		require.NoError(t, err)
		require.True(t, p.Wait(lineWait), "%v: the server did not exit", args)
		p.KillTree()
		assert.Equal(t, 2, p.ExitState().ExitCode(), "%v: exit status", args)
		assert.Contains(t, p.Stderr(), "usage: chat_server", "%v", args)
	}
}

func TestFdLimitTooLow(t *testing.T) {
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	p, err := harness.Start(serverBin, []string{"-port", "0", "-max-clients", strconv.FormatUint(lim.Max+1, 10)}, harness.Options{})
	require.NoError(t, err)
	require.True(t, p.Wait(lineWait))
	p.KillTree()
	assert.Equal(t, 1, p.ExitState().ExitCode())
	assert.Contains(t, p.Stderr(), "ulimit -n")
}
