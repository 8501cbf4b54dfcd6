package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"time"

	"chatlab/labs/fdio"
	"chatlab/labs/procs"
	"chatlab/labs/protocol"
	"chatlab/labs/sockets"

	"golang.org/x/sys/unix"
)

// goodbyeGrace bounds how long a child, told to shut down, keeps trying to
// hand its last lines to a client that reads slowly.
const goodbyeGrace = 400 * time.Millisecond

// child is the state of one server child: the process that serves one
// client. It owns the client's socket; it talks to main through the shared
// fork-to-main pipe and reads its own main-to-fork pipe.
type child struct {
	id     int
	out    []byte // lines from main not yet written to the client
	frames []byte // frames not yet written to main
	split  protocol.Splitter
	buf    []byte
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
func runChild(id int) int {
	// A child runs one loop for one client: one P is all it needs, and
	// fewer Ps mean fewer runtime threads to wake each time a blocking
	// system call returns (see handouts/bench.md: what a wake-up costs).
	runtime.GOMAXPROCS(1)
	signal.Ignore(unix.SIGPIPE, unix.SIGINT, unix.SIGTERM)
	// ps -o comm would say "exe" (the name of /proc/self/exe) otherwise.
	procs.SetComm(fmt.Sprintf("chat_user%d", id))
	for _, fd := range []int{childSockFd, childToMainFd, childFromMainFd} {
		if err := unix.SetNonblock(fd, true); err != nil {
			fmt.Fprintf(os.Stderr, "chat_server: user%d: fd %d: %v (a child is started by the server, not by hand)\n", id, fd, err)
			return 1
		}
	}
	c := &child{id: id, buf: make([]byte, 64<<10)}
	return c.run()
}

// run is the child's event loop: poll the client socket, the pipe from main
// and, while frames wait, the pipe to main.
func (c *child) run() int {
	for {
		// While frames wait for room in the pipe to main, read nothing more
		// from the client: its bytes stay in the kernel (backpressure).
		sockEvents := int16(0)
		if len(c.frames) == 0 {
			sockEvents |= unix.POLLIN
		}
		if len(c.out) > 0 {
			sockEvents |= unix.POLLOUT
		}
		toMain := int32(-1) // poll ignores negative fds
		if len(c.frames) > 0 {
			toMain = childToMainFd
		}
		pfds := []unix.PollFd{
			{Fd: childSockFd, Events: sockEvents},
			{Fd: childFromMainFd, Events: unix.POLLIN},
			{Fd: toMain, Events: unix.POLLOUT},
		}
		if _, err := unix.Poll(pfds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			fmt.Fprintf(os.Stderr, "chat_server: user%d: poll: %v\n", c.id, err)
			return 1
		}

		if pfds[1].Revents != 0 {
			n, err := fdio.Read(childFromMainFd, c.buf)
			switch {
			case n > 0:
				c.out = append(c.out, c.buf[:n]...)
				if len(c.out) > maxBacklog {
					return c.disconnect(reasonSlow)
				}
			case err == unix.EAGAIN:
			default: // end of file (or a broken pipe): main is done with us
				return c.goodbye()
			}
		}

		if len(c.out) > 0 {
			n, err := fdio.Write(childSockFd, c.out)
			switch {
			case err == nil:
				c.out = fdio.Drop(c.out, n)
			case err != unix.EAGAIN: // EPIPE, ECONNRESET: the client is gone
				c.drainInput() // what it sent before it went is still relayed
				return c.disconnect(reasonReset)
			}
		}

		// Read from the client when it has something (or has gone: a
		// hang-up or error is reported even when POLLIN was not asked for).
		if rev := pfds[0].Revents; rev&unix.POLLIN != 0 || rev&(unix.POLLHUP|unix.POLLERR) != 0 {
			n, err := fdio.Read(childSockFd, c.buf)
			switch {
			case n > 0:
				c.split.Feed(c.buf[:n], func(msg []byte) {
					c.frames = appendFrame(c.frames, frameData, c.id, msg)
				})
			case err == unix.EAGAIN:
			case err == nil: // n == 0: the client closed the connection
				c.split.Flush(c.relay) // its last line, if it had no "\n"
				return c.disconnect(reasonClosed)
			default:
				c.split.Flush(c.relay)
				return c.disconnect(reasonReset)
			}
		}

		if err := c.flushFrames(); err != nil {
			return 0 // main has gone: nobody to serve for
		}
	}
}

// drainInput feeds the splitter what the client sent before its connection
// broke, so its last lines are relayed like any others, the last one too.
func (c *child) drainInput() {
	fdio.ReadAvailable(childSockFd, c.buf, func(p []byte) { c.split.Feed(p, c.relay) })
	c.split.Flush(c.relay)
}

// relay queues a message of the client's for main.
func (c *child) relay(msg []byte) { c.frames = appendFrame(c.frames, frameData, c.id, msg) }

// flushFrames writes waiting frames into the fork-to-main pipe without
// blocking, each write at most PIPE_BUF bytes of whole frames so it is
// atomic. It returns an error only when main has gone.
func (c *child) flushFrames() error {
	// TODO(lab2): write the waiting frames into the fork-to-main pipe without blocking, each
	// write whole frames of at most PIPE_BUF bytes (wholeFrames) so it is atomic. Keep
	// what EAGAIN leaves for later; return an error only if main has gone.
	c.frames = c.frames[:0]
	return nil
}

// disconnect tells main why this client is gone (after every message it sent
// before), closes the connection and returns the exit status. A kicked
// client's connection is reset: what is queued for it is thrown away.
func (c *child) disconnect(reason int) int {
	c.frames = appendFrame(c.frames, frameDisconnected, c.id, []byte{byte(reason)})
	for len(c.frames) > 0 {
		if err := c.flushFrames(); err != nil {
			break
		}
		if len(c.frames) > 0 {
			fdio.Wait(childToMainFd, unix.POLLOUT, -1)
		}
	}
	if reason == reasonSlow {
		sockets.AbortiveClose(childSockFd)
	} else {
		unix.Close(childSockFd)
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
