// Package fdio is I/O on raw file descriptors as the chat servers' children
// do it: read and write retried on EINTR, waiting for one descriptor, and
// the orderly goodbye to a client.
package fdio

import (
	"time"

	"chatlab/solutions/sockets"

	"golang.org/x/sys/unix"
)

// Read is read(2), retried on EINTR; a negative count becomes 0.
func Read(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// Write is write(2), retried on EINTR; a negative count becomes 0.
func Write(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Write(fd, p)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// Wait polls one fd for events, for at most timeout ms (-1: no limit), and
// reports whether it became ready.
func Wait(fd int, events int16, timeout int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
	for {
		n, err := unix.Poll(pfd, timeout)
		if err != unix.EINTR {
			return err == nil && n > 0
		}
	}
}

// Goodbye writes what is still queued for a client on the non-blocking
// socket fd, for at most grace, then closes the connection in order:
// shutdown(SHUT_WR) sends FIN after the data, and what the client sent
// meanwhile is read and dropped so that close does not reset the
// connection (a reset could destroy the lines just sent).
func Goodbye(fd int, out []byte, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for len(out) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if !Wait(fd, unix.POLLOUT, int(left.Milliseconds())+1) {
			continue
		}
		n, err := Write(fd, out)
		if err != nil && err != unix.EAGAIN {
			break
		}
		out = out[n:]
	}
	unix.Shutdown(fd, unix.SHUT_WR)
	sockets.DiscardInput(fd)
	unix.Close(fd)
}

// keepCap is the largest buffer Drop keeps for reuse once it is empty.
const keepCap = 64 << 10

// Drop removes the first n bytes of buf (they were written) and returns the
// rest, in the same array: a server that reallocated its output buffer for
// every line would leave garbage behind at every message, and its memory
// would grow until the next collection. A buffer that grew past keepCap (a
// backlog that has drained) is released instead.
func Drop(buf []byte, n int) []byte {
	if n >= len(buf) {
		if cap(buf) > keepCap {
			return nil
		}
		return buf[:0]
	}
	return buf[:copy(buf, buf[n:])]
}

// ReadAvailable reads what fd already holds, without waiting, and hands each
// chunk to fn: what a client sent before its connection broke (a reset does
// not discard data that already arrived), so its last lines are still
// relayed.
func ReadAvailable(fd int, buf []byte, fn func([]byte)) {
	for {
		n, _ := Read(fd, buf)
		if n <= 0 {
			return
		}
		fn(buf[:n])
	}
}
