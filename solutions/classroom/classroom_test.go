// Package classroom checks, on all three reference servers (lab 2's, lab
// 3's and the epoll baseline), the rules that let them hold a real class
// (handouts/protocol.md): telnet commands removed and refused (rule 9), no
// reader kicked because of a flooder (flow control), -max-rate that holds a
// flooder back without dropping a line, and -strip-controls. Each test
// runs its designs in parallel.
package classroom

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
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
)

// lineWait bounds each wait for one line; floodWait a whole flood. Both are
// long on purpose: they only decide how long a broken server takes to fail.
const (
	lineWait  = 5 * time.Second
	floodWait = 60 * time.Second
)

var designs = []struct{ name, pkg, bin string }{
	{"lab2", "../server", "chat_server"},
	{"shm", "../shmserver", "chat_server_shm"},
	{"epoll", "../epollserver", "chat_server_epoll"},
}

var bins = map[string]string{}

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, func(dir string) error {
		for _, d := range designs {
			p, err := harness.BuildGo(d.pkg, dir, d.bin)
			if err != nil {
				return err
			}
			bins[d.name] = p
		}
		return nil
	}))
}

// eachDesign runs f as a parallel subtest for every design.
func eachDesign(t *testing.T, f func(t *testing.T, bin string)) {
	for _, d := range designs {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			f(t, bins[d.name])
		})
	}
}

// start starts a server with args on a port of the kernel's choosing and
// returns the port; the server's whole tree is killed when the test ends.
func start(t *testing.T, bin string, args ...string) int {
	t.Helper()
	p, err := harness.Start(bin, append([]string{"-port", "0"}, args...), harness.Options{})
	require.NoError(t, err)
	t.Cleanup(func() {
		p.KillTree()
		if t.Failed() {
			t.Logf("server stderr:\n%s", p.Stderr())
		}
	})
	var port int
	require.NoError(t, harness.Eventually(lineWait, "the server to listen", func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("the server exited: %v\n%s", p.ExitState(), p.Stderr())
		}
		addrs, err := procfs.Listening(p.Pid)
		if len(addrs) > 0 {
			port = int(addrs[0].Port())
		}
		return len(addrs) > 0, err
	}))
	return port
}

// join connects n clients in turn; each reads its welcome, and every client
// already in reads the join.
func join(t *testing.T, port, n int) []*wire.Conn {
	t.Helper()
	var cs []*wire.Conn
	for i := range n {
		c, err := wire.Dial(fmt.Sprintf("user%d", i+1), port, lineWait)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		require.NoError(t, c.Expect(lineWait, fmt.Sprintf("* welcome user%d", i+1)))
		for _, o := range cs {
			require.NoError(t, o.Expect(lineWait, fmt.Sprintf("* user%d joined", i+1)))
		}
		cs = append(cs, c)
	}
	return cs
}

// TestTelnetInterrupt: Ctrl-C in telnet sends IAC IP IAC DO TIMING-MARK and
// waits for an answer before it shows the room again. The server relays
// none of those bytes, answers IAC WONT TIMING-MARK, and the room keeps
// reaching the telnet user. A WILL gets a DONT; IAC IAC is a 0xff byte.
func TestTelnetInterrupt(t *testing.T) {
	eachDesign(t, func(t *testing.T, bin string) {
		c := join(t, start(t, bin), 2)
		require.NoError(t, c[0].Send("\xff\xf4\xff\xfd\x06after ^C\n"))
		require.NoError(t, c[1].Expect(lineWait, "user1: after ^C"), "no telnet byte is relayed")
		require.NoError(t, c[1].Send("still there?\n"))
		require.NoError(t, c[0].Expect(lineWait, "\xff\xfc\x06user2: still there?"),
			"the telnet user gets WONT TIMING-MARK, then the room")
		require.NoError(t, c[0].Send("\xff\xfb\x18\xff\xfa\x18\x00xterm\xff\xf0two \xff\xff bytes\n"))
		require.NoError(t, c[1].Expect(lineWait, "user1: two \xff bytes"))
		require.NoError(t, c[1].Send("ok\n"))
		require.NoError(t, c[0].Expect(lineWait, "\xff\xfe\x18user2: ok"), "WILL TERMINAL-TYPE gets DONT")
	})
}

// TestStripControls: under -strip-controls a message is relayed without
// the sequences the client would remove, and one left empty is not relayed.
func TestStripControls(t *testing.T) {
	eachDesign(t, func(t *testing.T, bin string) {
		c := join(t, start(t, bin, "-strip-controls"), 2)
		require.NoError(t, c[0].Send("a\x1b[2Jb\x1b]0;pwned\x07c\xc2\x9b31md\x07\n\x1b[H\x1b[2J\nnext\n"))
		require.NoError(t, c[1].Expect(lineWait, "user1: abcd", "user1: next"))
	})
}

// floodConn is a raw connection for the flood tests (wire.Conn keeps a
// transcript, too big for millions of lines).
type floodConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, port int) *floodConn {
	t.Helper()
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(port), lineWait)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	fc := &floodConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}
	c.SetReadDeadline(time.Now().Add(lineWait))
	line, err := fc.r.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "* welcome user"), "first line %q", line)
	c.SetReadDeadline(time.Time{})
	return fc
}

// readUntil reads lines until one equals stop (or the deadline), calling
// each on every line before; it returns the error that ended it, if any.
func (c *floodConn) readUntil(stop string, deadline time.Time, each func(line string)) error {
	c.SetReadDeadline(deadline)
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == stop {
			return nil
		}
		each(line)
	}
}

// TestFloodKicksNoReader: a flooder sends 300 000 lines as fast as the
// server takes them, to three readers: two read as fast as they can, one
// reads 16 KiB every 5 ms (about 3 MB/s, slower than the flood). Nobody is
// kicked and every reader gets every line, in order. A server that queues
// without holding the flooder back would kick the slow one (its queue
// outgrows any bound).
func TestFloodKicksNoReader(t *testing.T) {
	eachDesign(t, func(t *testing.T, bin string) {
		port := start(t, bin)
		const lines = 300_000
		readers := []*floodConn{dialRaw(t, port), dialRaw(t, port), dialRaw(t, port)}
		flooder := dialRaw(t, port)
		go func() { // the flooder reads what it is sent, as nc does
			buf := make([]byte, 64<<10)
			for {
				if _, err := flooder.Read(buf); err != nil {
					return
				}
			}
		}()
		var wg sync.WaitGroup
		errs := make([]error, len(readers))
		counts := make([]int, len(readers))
		deadline := time.Now().Add(floodWait)
		for i, r := range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i == 2 {
					r.r = bufio.NewReaderSize(slowReader{r.Conn}, 16<<10)
				}
				errs[i] = r.readUntil("user4: end", deadline, func(line string) {
					if strings.HasSuffix(line, " kicked: too slow") {
						errs[i] = fmt.Errorf("%q", line)
					}
					if rest, ok := strings.CutPrefix(line, "user4: "); ok {
						if rest != strconv.Itoa(counts[i]) && errs[i] == nil {
							errs[i] = fmt.Errorf("line %d: got %q", counts[i], line)
						}
						counts[i]++
					}
				})
			}()
		}
		var b bytes.Buffer
		for i := range lines {
			b.WriteString(strconv.Itoa(i))
			b.WriteByte('\n')
		}
		b.WriteString("end\n")
		flooder.SetWriteDeadline(deadline)
		_, err := flooder.Write(b.Bytes())
		require.NoError(t, err, "the flood is held back, never refused")
		wg.Wait()
		for i := range readers {
			assert.NoError(t, errs[i], "reader %d", i+1)
			assert.Equal(t, lines, counts[i], "reader %d: every flood line, in order", i+1)
		}
		if !t.Failed() {
			t.Logf("checked: %d lines to 3 readers (one at about 3 MB/s), nobody kicked, none lost", lines)
		}
	})
}

// slowReader reads at most 16 KiB every 5 ms.
type slowReader struct{ net.Conn }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond) // pacing a reader, not synchronising: what it reads is judged by content
	return s.Conn.Read(p[:min(len(p), 16<<10)])
}

// TestStoppedReaderIsKicked: a client that stops reading is still kicked
// while a flood goes on, and the others go on receiving.
func TestStoppedReaderIsKicked(t *testing.T) {
	eachDesign(t, func(t *testing.T, bin string) {
		port := start(t, bin)
		reader := dialRaw(t, port)
		stopped := dialRaw(t, port)
		stopped.Conn.(*net.TCPConn).SetReadBuffer(4096)
		flooder := dialRaw(t, port)
		go func() {
			chunk := bytes.Repeat([]byte("flood\n"), 10<<10)
			flooder.SetWriteDeadline(time.Now().Add(floodWait))
			for {
				if _, err := flooder.Write(chunk); err != nil {
					return
				}
			}
		}()
		go func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := flooder.Read(buf); err != nil {
					return
				}
			}
		}()
		err := reader.readUntil("* user2 kicked: too slow", time.Now().Add(floodWait), func(string) {})
		require.NoError(t, err, "the client that stopped reading is kicked, and the reader hears of it")
	})
}

// TestMaxRateHoldsBackNeverDrops: with -max-rate 50 (bursts of 50), a
// flooder's 150 lines in one write all arrive, in order, paced; a line
// another user sends after the burst overtakes the rest of the flood,
// which waits in the flooder's own socket, not in front of everyone.
func TestMaxRateHoldsBackNeverDrops(t *testing.T) {
	eachDesign(t, func(t *testing.T, bin string) {
		port := start(t, bin, "-max-rate", "50")
		reader := dialRaw(t, port)
		talker := dialRaw(t, port)
		flooder := dialRaw(t, port)
		var b strings.Builder
		for i := range 150 {
			fmt.Fprintf(&b, "%d\n", i)
		}
		_, err := flooder.Write([]byte(b.String()))
		require.NoError(t, err)
		deadline := time.Now().Add(floodWait)
		got := 0
		require.NoError(t, reader.readUntil("user3: 49", deadline, func(line string) {
			if strings.HasPrefix(line, "user3: ") {
				got++
			}
		}), "the burst")
		_, err = talker.Write([]byte("over the flood\n"))
		require.NoError(t, err)
		var order []string
		require.NoError(t, reader.readUntil("user3: 149", deadline, func(line string) { order = append(order, line) }))
		talk := -1
		for i, l := range order {
			if l == "user2: over the flood" {
				talk = i
			}
		}
		assert.Equal(t, 49, got, "lines 0 to 48 before line 49")
		require.GreaterOrEqual(t, talk, 0, "the talker's line arrived")
		assert.Less(t, talk, len(order)-1, "the talker's line came before the flood's last")
		var flood []string
		for _, l := range order {
			if l != "user2: over the flood" {
				flood = append(flood, l)
			}
		}
		want := []string{}
		for i := 50; i < 149; i++ {
			want = append(want, fmt.Sprintf("user3: %d", i))
		}
		assert.Equal(t, want, flood, "nothing dropped, in order")
		if !t.Failed() {
			t.Logf("checked: 150 lines at -max-rate 50 all arrive in order; the talker's line came %d lines before the end", len(order)-1-talk)
		}
	})
}

// TestStoppedProcessIsKicked: when the process serving one client stops
// (kill -STOP, a hang), the room goes on. Lab 2's main and lab 3's parent
// hold the senders back while that process's queue is full or it owes an
// acknowledgement, so after a bounded wait (2 s) they kill it and kick its
// client; the others receive everything.
func TestStoppedProcessIsKicked(t *testing.T) {
	for _, d := range designs[:2] { // the designs with a process per client
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			port := start(t, bins[d.name])
			c := join(t, port, 3)
			var child int
			require.NoError(t, harness.Eventually(lineWait, "a child to hold user2's socket", func() (bool, error) {
				child = holder(t, c[1])
				return child != 0, nil
			}))
			require.NoError(t, syscall.Kill(child, syscall.SIGSTOP))
			t.Cleanup(func() { syscall.Kill(child, syscall.SIGCONT) })
			const lines = 400 // 400 KB: more than lab 2's queues for user2 hold
			pad := strings.Repeat("p", 990)
			sent := make(chan error, 1)
			go func() {
				var b strings.Builder
				for k := range lines {
					fmt.Fprintf(&b, "%04d %s\n", k, pad)
				}
				sent <- c[0].Send(b.String())
			}()
			kicked := false
			for k := 0; k < lines; {
				line, err := c[2].ReadLine(floodWait)
				require.NoError(t, err, "user3 keeps receiving (line %d)", k)
				if line == "* user2 kicked: too slow" {
					kicked = true
					continue
				}
				require.Equal(t, fmt.Sprintf("user1: %04d %s", k, pad), line)
				k++
			}
			require.NoError(t, <-sent)
			if !kicked {
				require.NoError(t, c[2].Expect(floodWait, "* user2 kicked: too slow"))
			}
			t.Logf("checked: with user2's process stopped, user3 got all %d lines and user2 was kicked", lines)
		})
	}
}

// holder returns the pid of the server process that holds c's socket, or 0.
func holder(t *testing.T, c *wire.Conn) int {
	ino, err := procfs.ConnInode(c.RemoteAddr(), c.LocalAddr())
	if err != nil || ino == 0 {
		return 0
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		socks, _ := procfs.Inodes(pid, "socket")
		for _, i := range socks {
			if i == ino {
				return pid
			}
		}
	}
	return 0
}

// TestTelnetRequestsStayBounded: a client that sends telnet requests as
// fast as it can and never reads its answers makes the server queue
// answers for it; the server stops reading it once its queue is full, so
// memory stays bounded, and kicks it as a client that stopped reading.
func TestTelnetRequestsStayBounded(t *testing.T) {
	eachDesign(t, func(t *testing.T, bin string) {
		port := start(t, bin)
		c := join(t, port, 2)
		pid := serverPid(t, c[0])
		stop := make(chan struct{})
		go func() { // IAC DO 1 (ECHO), 3 bytes each, 3 MB a write
			chunk := bytes.Repeat([]byte("\xff\xfd\x01"), 1<<20)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := c[1].Send(string(chunk)); err != nil {
					return
				}
			}
		}()
		defer close(stop)
		var peak int64
		err := harness.Eventually(floodWait, "user2 to be kicked", func() (bool, error) {
			peak = max(peak, treePSS(pid))
			line, err := c[0].ReadLine(100 * time.Millisecond)
			if err != nil && !errors.Is(err, wire.ErrTimeout) {
				return false, err
			}
			return line == "* user2 kicked: too slow", nil
		})
		require.NoError(t, err)
		assert.Less(t, peak, int64(128<<10), "the server's processes peaked at %d KiB (PSS)", peak)
		t.Logf("checked: user2 asked and never read the answers; kicked, the server's PSS peaked at %d KiB", peak)
	})
}

// serverPid returns the pid of the server a client is connected to (its
// main process: the one listening).
func serverPid(t *testing.T, c *wire.Conn) int {
	pid := holder(t, c)
	require.NotZero(t, pid)
	for {
		st, err := procfs.ReadStat(pid)
		require.NoError(t, err)
		if addrs, _ := procfs.Listening(pid); len(addrs) > 0 {
			return pid
		}
		pid = st.PPid
	}
}

// treePSS is the proportional set size of pid and its descendants, in KiB.
func treePSS(pid int) int64 {
	kib := procfs.PSS(pid)
	ds, _ := procfs.Descendants(pid)
	for _, d := range ds {
		kib += procfs.PSS(d.Pid)
	}
	return kib
}
