// Package wire is the grader's side of a chat connection: it dials a server,
// sends bytes, and reads the server's lines with deadlines, keeping a
// transcript of both directions for failure reports. It speaks the protocol
// of handouts/protocol.md from the outside, knowing nothing of any server's
// code.
package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-cmp/cmp"
)

// MaxLine bounds a line the grader accepts from a server; the longest the
// protocol allows is "userN: " plus 1000 bytes.
const MaxLine = 4096

// Conn is one client connection to the server under test.
type Conn struct {
	Name string // for messages: "client 2"
	c    *net.TCPConn
	r    *bufio.Reader

	mu         sync.Mutex
	transcript []string
	closed     bool   // by this side: Close or Reset
	interrupt  string // why Interrupt ended the waits, or ""

	// SkipPrefix, if not "", makes reads pass over the lines that start
	// with it: the grader sets it to "userN: " so that an echo of a
	// client's own messages, which only server/no-echo judges, does not
	// also fail every other test.
	SkipPrefix string
}

// Dial connects to 127.0.0.1:port within timeout.
func Dial(name string, port int, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(port), timeout)
	if err != nil {
		return nil, fmt.Errorf("%s: connect to 127.0.0.1:%d: %w", name, port, err)
	}
	return &Conn{Name: name, c: c.(*net.TCPConn), r: bufio.NewReaderSize(c, MaxLine)}, nil
}

// Send writes s as it is (add the "\n" yourself).
func (c *Conn) Send(s string) error {
	c.note(">> " + strconv.Quote(abbrev(s)))
	if why := c.interrupted(); why != "" {
		return fmt.Errorf("%s: send %q: %s: %w", c.Name, abbrev(s), why, ErrInterrupted)
	}
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write([]byte(s)); err != nil {
		return fmt.Errorf("%s: send %q: %w", c.Name, abbrev(s), err)
	}
	return nil
}

// ErrTimeout is wrapped by the errors of reads that ran out of time.
var ErrTimeout = errors.New("timed out")

// ErrInterrupted is wrapped by the errors of reads that Interrupt ended.
var ErrInterrupted = errors.New("wait ended early")

// Interrupt ends at once every read and write on c in progress or to come,
// with an error that says why: the grader calls it when the program under
// test has died, so that no wait runs out its deadline for nothing.
func (c *Conn) Interrupt(why string) {
	c.mu.Lock()
	c.interrupt = why
	c.mu.Unlock()
	c.c.SetDeadline(time.Now())
}

func (c *Conn) interrupted() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.interrupt
}

// ErrClosed is wrapped by the errors of reads that met the end of the
// connection.
var ErrClosed = errors.New("the server closed the connection")

// ReadLine returns the next line without its "\n", waiting at most timeout.
func (c *Conn) ReadLine(timeout time.Duration) (string, error) {
	c.c.SetReadDeadline(time.Now().Add(timeout))
	line, err := c.r.ReadSlice('\n')
	switch {
	case err == nil && c.SkipPrefix != "" && strings.HasPrefix(string(line), c.SkipPrefix):
		c.note("<< " + strconv.Quote(abbrev(string(line[:len(line)-1]))) + " (its own message back: passed over)")
		return c.ReadLine(timeout)
	case err == nil:
		s := string(line[:len(line)-1])
		c.note("<< " + strconv.Quote(abbrev(s)))
		return s, nil
	case errors.Is(err, bufio.ErrBufferFull):
		return "", fmt.Errorf("%s: a line longer than %d bytes: %q...", c.Name, MaxLine, line[:80])
	case errors.Is(err, os.ErrDeadlineExceeded) && c.interrupted() != "":
		return "", fmt.Errorf("%s: %s (%q unread): %w", c.Name, c.interrupted(), line, ErrInterrupted)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if len(line) > 0 {
			return "", fmt.Errorf("%s: %w after %v waiting for the rest of a line (%q so far)", c.Name, ErrTimeout, timeout.Round(time.Millisecond), line)
		}
		return "", fmt.Errorf("%s: %w after %v waiting for a line", c.Name, ErrTimeout, timeout.Round(time.Millisecond))
	case len(line) > 0:
		return "", fmt.Errorf("%s: connection ended in the middle of a line (%q): %w", c.Name, line, ErrClosed)
	default:
		if isEOF(err) {
			return "", fmt.Errorf("%s: %w", c.Name, ErrClosed)
		}
		return "", fmt.Errorf("%s: read: %w", c.Name, err)
	}
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// ReadLines reads n lines, waiting at most timeout for all of them.
func (c *Conn) ReadLines(n int, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	lines := make([]string, 0, n)
	for len(lines) < n {
		line, err := c.ReadLine(time.Until(deadline))
		if err != nil {
			return lines, fmt.Errorf("after %d of %d lines: %w", len(lines), n, err)
		}
		lines = append(lines, line)
	}
	return lines, nil
}

// Expect reads len(want) lines and compares them with want; on a mismatch
// the error holds a diff (- expected, + received).
//
// It stops at the first line that differs, rather than wait for lines that
// may never come.
func (c *Conn) Expect(timeout time.Duration, want ...string) error {
	deadline := time.Now().Add(timeout)
	var got []string
	for len(got) < len(want) {
		line, err := c.ReadLine(time.Until(deadline))
		if err != nil {
			err = fmt.Errorf("after %d of %d lines: %w", len(got), len(want), err)
			if len(got) > 0 {
				return fmt.Errorf("%w\n%s", err, Diff(want[:len(got)], got))
			}
			return err
		}
		got = append(got, line)
		if line != want[len(got)-1] {
			return &MismatchError{Conn: c.Name, Want: want, Got: got}
		}
	}
	return nil
}

// MismatchError is Expect's error when the lines came but were not the
// expected ones.
type MismatchError struct {
	Conn      string
	Want, Got []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s received other lines than expected (-expected +received):\n%s", e.Conn, Diff(e.Want, e.Got))
}

// Diff is a go-cmp diff of expected and received lines, or "".
func Diff(want, got []string) string { return cmp.Diff(want, got) }

// ExpectClosed waits at most timeout for the server to close the
// connection, failing if a line arrives instead.
func (c *Conn) ExpectClosed(timeout time.Duration) error {
	line, err := c.ReadLine(timeout)
	if err == nil {
		return fmt.Errorf("%s: expected the connection to close, received %q", c.Name, line)
	}
	if errors.Is(err, ErrClosed) || isReset(err) {
		c.setClosed() // expected: no surprise any more
		return nil
	}
	return err
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// Close closes the connection in order (FIN). What the server sent that
// was not read is discarded first: closing a socket with unread bytes
// would send a reset instead.
func (c *Conn) Close() error {
	n := 0 // what the kernel holds (the bufio.Reader's bytes are no matter)
	if raw, err := c.c.SyscallConn(); err == nil {
		// Control, not Read: a read in progress in another goroutine holds
		// the read lock until its deadline; MSG_DONTWAIT never waits.
		raw.Control(func(fd uintptr) {
			var b [64 << 10]byte
			for {
				k, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_DONTWAIT)
				if err != nil || k <= 0 {
					return
				}
				n += k
			}
		})
	}
	if n > 0 {
		c.note(fmt.Sprintf("-- close (%d unread bytes discarded first)", n))
	} else {
		c.note("-- close")
	}
	c.setClosed()
	return c.c.Close()
}

func (c *Conn) setClosed() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// ClosedHere reports whether this side closed, reset or shut down the
// connection, or ExpectClosed saw the server close it: either way, the
// connection's end is no surprise.
func (c *Conn) ClosedHere() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Peer is what Peek saw of the server's side of a connection.
type Peer int

const (
	// Quiet: nothing has arrived and the connection is open.
	Quiet Peer = iota
	// Sent: bytes have arrived (unread).
	Sent
	// Ended: the server closed the connection (end of file) or reset it.
	Ended
)

// Peek looks, without reading or waiting, at whether the server has sent
// bytes or ended the connection: recv(MSG_PEEK|MSG_DONTWAIT) on the socket.
// Only what the kernel holds counts: call it on a connection not read yet,
// or to learn whether the server has ended it.
func (c *Conn) Peek() Peer {
	raw, err := c.c.SyscallConn()
	if err != nil {
		return Ended
	}
	peer := Quiet
	raw.Control(func(fd uintptr) { // see Close: never waits, takes no lock
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN:
		case err != nil || n == 0:
			peer = Ended
		default:
			peer = Sent
		}
	})
	return peer
}

// CloseWrite shuts down this side's sending half (shutdown(SHUT_WR), as
// nc -N does): the server reads end of file, and this side can still read.
func (c *Conn) CloseWrite() error {
	c.note("-- shutdown (SHUT_WR)")
	c.setClosed() // the server is meant to close it now
	return c.c.CloseWrite()
}

// SendUrgent sends one byte as TCP urgent data (send(2) with MSG_OOB), as
// telnet sends the DM of its "synch" (RFC 854). A server that does not set
// SO_OOBINLINE never sees that byte in its stream: the kernel keeps it
// apart.
func (c *Conn) SendUrgent(b byte) error {
	c.note(fmt.Sprintf(">> urgent %q (MSG_OOB)", string([]byte{b})))
	rc, err := c.c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = syscall.Sendto(int(fd), []byte{b}, syscall.MSG_OOB, nil)
		return serr != syscall.EAGAIN
	}); err != nil {
		return err
	}
	return serr
}

// Reset closes the connection with a reset (SO_LINGER 0): the server reads
// ECONNRESET, and its later writes fail with EPIPE.
func (c *Conn) Reset() error {
	c.note("-- reset (SO_LINGER 0)")
	c.setClosed()
	c.c.SetLinger(0)
	return c.c.Close()
}

// LocalAddr is this end's address; RemoteAddr the server's.
func (c *Conn) LocalAddr() netip.AddrPort { return c.c.LocalAddr().(*net.TCPAddr).AddrPort() }

// RemoteAddr is the server's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.c.RemoteAddr().(*net.TCPAddr).AddrPort() }

// SetReadBuffer shrinks or grows the kernel's receive buffer (SO_RCVBUF);
// set before data arrives.
func (c *Conn) SetReadBuffer(n int) error { return c.c.SetReadBuffer(n) }

// Transcript returns what was sent (>>) and received (<<), in order.
func (c *Conn) Transcript() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.transcript, "\n")
}

func (c *Conn) note(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.transcript) < 200 {
		c.transcript = append(c.transcript, s)
	} else if len(c.transcript) == 200 {
		c.transcript = append(c.transcript, "... (transcript cut)")
	}
}

// abbrev shortens s for a transcript or a message: a reader wants the start
// and the length of a long line, not a page of it.
func abbrev(s string) string {
	if len(s) > 60 {
		return fmt.Sprintf("%s...(%d bytes)", s[:60], len(s))
	}
	return s
}
