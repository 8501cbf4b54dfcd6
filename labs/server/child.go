// labs/server/child.go (guided scaffolding)
//
// Yours to write here, each where its TODO comment is:
//   - flushFrames (lab 2, task 5 of 7): write the waiting frames to main
//
// Given, to read and call, not to change: runChild, run, spliceReplies, drainInput,
// leave, relay, disconnect, goodbye.
//
// `make grade` says which task is next. Until you write it, a task's todo.Missing
// call stops the program with its TODO line on stderr. Add the imports your code
// needs; once the last todo.Missing of this file is gone, delete the import of
// chatlab/labs/todo too (Go refuses an unused import; goimports does both).

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"time"

	"chatlab/labs/fdio"
	"chatlab/labs/flow"
	"chatlab/labs/procs"
	"chatlab/labs/protocol"
	"chatlab/labs/sockets"
	"chatlab/labs/terminal"
	"chatlab/labs/todo"

	"golang.org/x/sys/unix"
)

// goodbyeGrace bounds how long a child, told to shut down, keeps trying to
// hand its last lines to a client that reads slowly.
const goodbyeGrace = 400 * time.Millisecond

// child is the state of one server child: the process that serves one
// client. It owns the client's socket; it talks to main through the shared
// fork-to-main pipe and reads its own main-to-fork pipe.
type child struct {
	id      int
	out     []byte // lines from main not yet written to the client
	midLine bool   // the last byte read from main was not "\n"
	replies []byte // telnet refusals, for the client's next line boundary
	frames  []byte // frames not yet written to main
	split   protocol.Splitter
	poll    *fdio.Poller  // poll(2), waited out in the runtime's poller (fdio's package comment)
	lim     *flow.Limiter // the client's messages, held to -max-rate
	release time.Time     // when lim may let the next one go; zero if none held
	drain   flow.Drain    // the slow-reader rule on out
	recheck time.Time     // when drain must look again; zero if out is not full
	took    int           // bytes the client took since drain last looked
	strip   bool          // -strip-controls
	buf     []byte
	line    []byte
}

// runChild is the whole life of a child: it serves client id until the client
// leaves, is kicked, or main closes the pipe (shutdown), and returns the
// process's exit status.
//
// A child ignores SIGINT and SIGTERM: Ctrl-C in the terminal of `make serve`
// signals the whole process group, and children must live long enough to
// pass on main's "* server shutting down". A child's life is bound to main's
// anyway: when main exits, for whatever reason, its end of the pipe closes
// and the child leaves.
func runChild(id int, rate float64, strip bool) int {
	// A child runs one loop for one client: one P is all it needs, and
	// fewer Ps mean fewer runtime threads to wake each time a blocking
	// system call returns (see handouts/bench.md: what a wake-up costs).
	runtime.GOMAXPROCS(1)
	signal.Ignore(unix.SIGPIPE, unix.SIGINT, unix.SIGTERM)
	// ps -o comm would say "exe" (the name of /proc/self/exe) otherwise.
	procs.SetComm(fmt.Sprintf("chat_user%d", id))
	for _, fd := range []int{childSockFd, childToMainFd, childFromMainFd} {
		if err := fdio.SetNonblock(fd); err != nil {
			fmt.Fprintf(os.Stderr, "chat_server: user%d: fd %d: %v (a child is started by the server, not by hand)\n", id, fd, err)
			return 1
		}
	}
	poll, err := fdio.NewPoller()
	if err != nil {
		fmt.Fprintf(os.Stderr, "chat_server: user%d: %v\n", id, err)
		return 1
	}
	// telnet's "synch" (Ctrl-C with autosynch) sends IAC DM as TCP urgent
	// data; inline, rule 9 removes it like any command, instead of the
	// kernel taking the IAC out of the stream and leaving the DM byte.
	unix.SetsockoptInt(childSockFd, unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
	c := &child{id: id, poll: poll, buf: make([]byte, 64<<10), lim: flow.NewLimiter(rate), strip: strip}
	return c.run()
}

// run is the child's event loop: poll the client socket, the pipe from main
// and, while frames wait, the pipe to main.
//
// Flow control (package flow), all of it in the child: it takes nothing
// more from main while flow.HighWater bytes wait for its client (main then
// holds every sender back, see server.hold); it kicks its client when that
// queue drains too slowly (flow.Drain); and it reads its client only while
// no frame waits for the pipe to main and no message is held to -max-rate.
func (c *child) run() int {
	for {
		// The slow-reader rule, on the queue as this round left it.
		var kick bool
		if kick, c.recheck = c.drain.Observe(time.Now(), len(c.out), c.took); kick {
			return c.disconnect(reasonSlow)
		}
		c.took = 0
		// POLLRDHUP: a client that has gone is seen at once, even while it
		// is not read (a flooder held to -max-rate that quits).
		sockEvents := int16(unix.POLLRDHUP)
		if len(c.frames) == 0 && !c.lim.Holding() && !flow.Full(len(c.out)) {
			// (A client whose own queue is full is not read either: what it
			// sends may need answers, telnet refusals, that would pile up.)
			sockEvents |= unix.POLLIN
		}
		if len(c.out) > 0 {
			sockEvents |= unix.POLLOUT
		}
		toMain := int32(-1) // poll ignores negative fds
		if len(c.frames) > 0 {
			toMain = childToMainFd
		}
		fromMain := int32(childFromMainFd)
		if flow.Full(len(c.out)) {
			fromMain = -1
		}
		pfds := []unix.PollFd{
			{Fd: childSockFd, Events: sockEvents},
			{Fd: fromMain, Events: unix.POLLIN},
			{Fd: toMain, Events: unix.POLLOUT},
		}
		if _, err := c.poll.Poll(pfds, flow.PollTimeout(c.release, c.recheck)); err != nil {
			if err == unix.EINTR {
				continue
			}
			fmt.Fprintf(os.Stderr, "chat_server: user%d: poll: %v\n", c.id, err)
			return 1
		}
		now := time.Now()

		if pfds[1].Revents != 0 {
			n, err := fdio.Read(childFromMainFd, c.buf[:max(min(flow.Room(len(c.out)), len(c.buf)), 1)])
			switch {
			case n > 0:
				c.out = append(c.out, c.buf[:n]...)
				c.midLine = c.buf[n-1] != '\n'
			case err == unix.EAGAIN:
			default: // end of file (or a broken pipe): main is done with us
				return c.goodbye()
			}
		}
		c.spliceReplies()

		if len(c.out) > 0 {
			n, err := fdio.Write(childSockFd, c.out)
			switch {
			case err == nil:
				c.out = fdio.Drop(c.out, n)
				c.took += n
			case err != unix.EAGAIN: // EPIPE, ECONNRESET: the client is gone
				c.drainInput() // what it sent before it went is still relayed
				return c.disconnect(reasonReset)
			}
		}

		// A client that has gone: what it sent before is relayed (rule 6,
		// within -max-rate), then it left.
		if rev := pfds[0].Revents; rev&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0 && sockEvents&unix.POLLIN == 0 {
			c.drainInput()
			return c.disconnect(reasonClosed)
		}
		// Read from the client when it has something (or has gone: a
		// hang-up or error is reported even when POLLIN was not asked for).
		if rev := pfds[0].Revents; rev&unix.POLLIN != 0 && sockEvents&unix.POLLIN != 0 || rev&(unix.POLLHUP|unix.POLLERR) != 0 {
			n, err := fdio.Read(childSockFd, c.buf)
			switch {
			case n > 0:
				c.split.Feed(c.buf[:n], c.lim.Hold)
				c.replies = c.split.Replies(c.replies)
				c.spliceReplies()
			case err == unix.EAGAIN:
			case err == nil: // n == 0: the client closed the connection
				c.split.Flush(c.lim.Hold) // its last line, if it had no "\n"
				c.leave()
				return c.disconnect(reasonClosed)
			default:
				c.drainInput()
				return c.disconnect(reasonReset)
			}
		}
		c.release = time.Time{}
		if wait := c.lim.Release(now, c.relay); wait > 0 {
			c.release = now.Add(wait)
		}

		if len(c.frames) > 0 {
			if err := c.flushFrames(); err != nil {
				return 0 // main has gone: nobody to serve for
			}
		}
	}
}

// spliceReplies puts the telnet refusals waiting in c.replies into c.out at
// a line boundary: after the last whole line in it, or at its end when no
// line is cut there. (Main writes to the pipe in pieces, so c.out may end
// inside a line.)
func (c *child) spliceReplies() {
	if len(c.replies) == 0 {
		return
	}
	at := len(c.out)
	if c.midLine {
		at = bytes.LastIndexByte(c.out, '\n') + 1
		if at == 0 { // no boundary in what is queued: wait for one
			return
		}
	}
	c.out = append(c.out[:at], append(c.replies, c.out[at:]...)...)
	c.replies = c.replies[:0]
}

// drainInput feeds the splitter what the client sent before its connection
// broke, so its last lines are relayed like any others, the last one too.
func (c *child) drainInput() {
	fdio.ReadAvailable(childSockFd, c.buf, func(p []byte) { c.split.Feed(p, c.lim.Hold) })
	c.split.Flush(c.lim.Hold)
	c.leave()
}

// leave relays the messages held for a client that has gone: all of them,
// or one burst under -max-rate (flow.Limiter.Leave), saying how many it
// dropped.
func (c *child) leave() {
	if n := c.lim.Leave(c.relay); n > 0 {
		fmt.Fprintf(os.Stderr, "chat_server: user%d left with %d messages over -max-rate %g: not relayed\n", c.id, n, c.lim.Rate)
	}
}

// relay queues a message of the client's for main; under -strip-controls,
// without its terminal control sequences (a message left empty is none).
func (c *child) relay(msg []byte) {
	if c.strip {
		if c.line = terminal.Strip(c.line[:0], msg); len(c.line) == 0 {
			return
		}
		msg = c.line
	}
	c.frames = appendFrame(c.frames, frameData, c.id, msg)
}

// flushFrames writes waiting frames into the fork-to-main pipe without
// blocking, each write at most PIPE_BUF bytes of whole frames so it is
// atomic. It returns an error only when main has gone.
func (c *child) flushFrames() error {
	// TODO(lab2): write the waiting frames into the fork-to-main pipe without blocking, each
	// write whole frames of at most PIPE_BUF bytes (wholeFrames) so it is atomic. Keep
	// what EAGAIN leaves for later; return an error only if main has gone.
	todo.Missing("lab2", "write the waiting frames to main")
	return nil
}

// disconnect tells main why this client is gone (after every message it sent
// before), closes the connection and returns the exit status. A kicked
// client's connection is reset first: what is queued for it is thrown away.
//
// Until its last frame is in the pipe to main, the child reads and drops
// what main sends it: main may be holding every sender back because this
// child's queue is full, and would otherwise never read that frame.
func (c *child) disconnect(reason int) int {
	if reason == reasonSlow {
		sockets.AbortiveClose(childSockFd)
	} else {
		unix.Close(childSockFd)
	}
	c.frames = appendFrame(c.frames, frameDisconnected, c.id, []byte{byte(reason)})
	fromMain := int32(childFromMainFd)
	for len(c.frames) > 0 {
		if err := c.flushFrames(); err != nil || len(c.frames) == 0 {
			break
		}
		pfds := []unix.PollFd{{Fd: childToMainFd, Events: unix.POLLOUT}, {Fd: fromMain, Events: unix.POLLIN}}
		if _, err := c.poll.Poll(pfds, -1); err != nil {
			break
		}
		if pfds[1].Revents != 0 {
			if n, err := fdio.Read(childFromMainFd, c.buf); n == 0 && err != unix.EAGAIN {
				fromMain = -1 // main closed it (shutdown): wait for room only
			}
		}
	}
	return 0
}

// goodbye runs when main closes the pipe: it writes what is still queued
// (main's last line is "* server shutting down"), for at most goodbyeGrace,
// then closes the connection in order.
func (c *child) goodbye() int {
	fdio.Goodbye(childSockFd, c.out, goodbyeGrace)
	return 0
}
