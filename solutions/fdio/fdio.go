// Package fdio is I/O on raw file descriptors as the chat servers' children
// do it: read and write on non-blocking descriptors, waiting for several
// (Epoll, Poller) or one (Wait), and the orderly goodbye to a client.
//
// # Why the children read, write and wait this way
//
// A child sleeps until its client or the server has something for it,
// handles one message, and sleeps again: hundreds of times a second in a
// class. In C, each wake-up runs one thread, once: 7 to 22 µs of CPU on
// the 2-core machine (make bench-wakeup; handouts/bench.md has the figures).
// A Go child that sleeps in a system call (poll, epoll_wait, a blocking
// read) wakes three: its own, the runtime's monitor thread (sysmon), which
// takes the P back from a thread in a system call, and a spare thread that
// handoffp starts, finds nothing to do and parks again: five thread runs,
// and 60 to 100 µs, per wake-up (make bench-wakeup, handouts/bench.md).
//
// So a child here never sleeps in a system call. It waits in the runtime's
// network poller, as a net.Conn does: its epoll instance is wrapped once in
// an *os.File and waited on through SyscallConn, which parks the goroutine,
// not the thread, and leaves sysmon asleep. And its reads, writes and
// epoll_wait calls (with a zero timeout: they never block) go through
// unix.RawSyscall, which does not tell the runtime a system call began, so
// that no thread is woken to take the P: only the child's thread runs.
//
// The price is one invariant, which Read and Write check: every descriptor
// they touch must be non-blocking (O_NONBLOCK: SetNonblock, or
// SOCK_NONBLOCK, O_NONBLOCK when it is made). A RawSyscall that blocked
// would stall the child's only P, and with it the garbage collector.
//
// This rests on how the runtime schedules (go1.26, pinned in go.mod): a Go
// release may change it. make bench-wakeup shows it again, from
// /proc/PID/task/*/schedstat (which threads ran, and for how long).
package fdio

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"
	"unsafe"

	"chatlab/solutions/sockets"

	"golang.org/x/sys/unix"
)

// SetNonblock makes fd non-blocking (O_NONBLOCK), as Read and Write need.
// Errors are fcntl's.
func SetNonblock(fd int) error { return unix.SetNonblock(fd, true) }

// mustBeNonblocking panics if fd is not non-blocking: a RawSyscall on a
// blocking descriptor could stall the process. (One fcntl(F_GETFL), itself
// raw: a fraction of a microsecond.)
func mustBeNonblocking(fd int) {
	flags, _, errno := unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_GETFL, 0)
	if errno == 0 && flags&unix.O_NONBLOCK == 0 {
		panic(fmt.Sprintf("fdio: fd %d is blocking: a raw read or write on it could stall the process's only thread (fdio.SetNonblock first)", fd))
	}
}

// Read is read(2) on a non-blocking fd, made with RawSyscall (see the
// package comment), retried on EINTR; a negative count becomes 0. With
// nothing to read it returns unix.EAGAIN. fd must be non-blocking
// (SetNonblock), or Read panics.
func Read(fd int, p []byte) (int, error) {
	mustBeNonblocking(fd)
	return rawIO(unix.SYS_READ, fd, p)
}

// Write is write(2) on a non-blocking fd, made with RawSyscall, retried on
// EINTR; a negative count becomes 0. With no room it returns unix.EAGAIN;
// it may write fewer bytes than len(p). fd must be non-blocking
// (SetNonblock), or Write panics.
func Write(fd int, p []byte) (int, error) {
	mustBeNonblocking(fd)
	return rawIO(unix.SYS_WRITE, fd, p)
}

func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	for {
		n, _, errno := unix.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}

// Epoll is an epoll instance that a child waits on in the Go runtime's
// network poller (see the package comment): Wait parks the goroutine, not
// the thread. Its interest list is level-triggered, as epoll's default.
type Epoll struct {
	fd int
	f  *os.File // fd, wrapped once: the runtime's poller watches it
	rc syscall.RawConn
}

// NewEpoll creates an epoll instance (close-on-exec, non-blocking). Errors
// are epoll_create1's or the runtime poller's.
func NewEpoll() (*Epoll, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll fd non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll fd in the runtime poller: %w", err)
	}
	return &Epoll{fd: fd, f: f, rc: rc}, nil
}

// Ctl is epoll_ctl(2) on the instance: op is unix.EPOLL_CTL_ADD, MOD or
// DEL, events a mask of unix.EPOLLIN, EPOLLOUT, EPOLLRDHUP... for fd.
func (e *Epoll) Ctl(op, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(e.fd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// Wait is epoll_wait(2): it fills events with the ready descriptors and
// returns how many, waiting at most timeout ms (-1: no limit; 0: not at
// all). It returns 0 when the time is up. It never returns EINTR.
func (e *Epoll) Wait(events []unix.EpollEvent, timeout int) (int, error) {
	if len(events) == 0 {
		return 0, errors.New("fdio: Epoll.Wait with no room for events")
	}
	if timeout == 0 {
		n, errno := e.ready(events)
		return n, errnoErr(errno)
	}
	// rc.Read calls the function at once, and again each time the runtime's
	// poller says the epoll fd is readable: one epoll_pwait per wake-up, and
	// one before the goroutine parks.
	var n int
	var errno unix.Errno
	if timeout > 0 {
		e.f.SetReadDeadline(time.Now().Add(time.Duration(timeout) * time.Millisecond))
		defer e.f.SetReadDeadline(time.Time{})
	}
	err := e.rc.Read(func(uintptr) bool {
		n, errno = e.ready(events)
		return n > 0 || errno != 0
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return n, errnoErr(errno)
}

// ready is epoll_pwait with a zero timeout, by RawSyscall: the events ready
// now, without waiting.
func (e *Epoll) ready(events []unix.EpollEvent) (int, unix.Errno) {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(e.fd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
		if errno != unix.EINTR {
			return int(n), errno
		}
	}
}

func errnoErr(errno unix.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}

// Close closes the epoll instance.
func (e *Epoll) Close() error { return e.f.Close() }

// Poller is poll(2) for a few descriptors, made on an Epoll: the same
// unix.PollFd slices, but the wait is in the runtime's poller (see the
// package comment). It keeps each descriptor in the epoll instance with the
// events of the last Poll, and changes only what changed.
type Poller struct {
	ep     *Epoll
	want   map[int]uint32
	events []unix.EpollEvent
}

// NewPoller returns a Poller; errors are NewEpoll's.
func NewPoller() (*Poller, error) {
	ep, err := NewEpoll()
	if err != nil {
		return nil, err
	}
	return &Poller{ep: ep, want: map[int]uint32{}, events: make([]unix.EpollEvent, 8)}, nil
}

// pollToEpoll are the poll(2) events and their epoll twins.
var pollToEpoll = [...]struct {
	poll  int16
	epoll uint32
}{
	{unix.POLLIN, unix.EPOLLIN}, {unix.POLLOUT, unix.EPOLLOUT}, {unix.POLLRDHUP, unix.EPOLLRDHUP},
	{unix.POLLPRI, unix.EPOLLPRI}, {unix.POLLERR, unix.EPOLLERR}, {unix.POLLHUP, unix.EPOLLHUP},
}

// Poll is poll(2) on pfds: it waits at most timeout ms (-1: no limit) for
// one of them to be ready, sets each one's Revents and returns how many
// are ready (0: the time is up). As with poll, an entry whose Fd is
// negative is ignored, and POLLHUP and POLLERR are reported unasked.
func (p *Poller) Poll(pfds []unix.PollFd, timeout int) (int, error) {
	for i := range pfds {
		pfds[i].Revents = 0
		fd := int(pfds[i].Fd)
		if fd < 0 {
			continue
		}
		var ev uint32
		for _, m := range pollToEpoll {
			if pfds[i].Events&m.poll != 0 {
				ev |= m.epoll
			}
		}
		old, in := p.want[fd]
		switch {
		case !in:
			if err := p.ep.Ctl(unix.EPOLL_CTL_ADD, fd, ev); err != nil {
				return 0, fmt.Errorf("epoll_ctl add fd %d: %w", fd, err)
			}
		case old != ev:
			if err := p.ep.Ctl(unix.EPOLL_CTL_MOD, fd, ev); err != nil {
				return 0, fmt.Errorf("epoll_ctl mod fd %d: %w", fd, err)
			}
		}
		p.want[fd] = ev
	}
	for fd := range p.want {
		if !slices.ContainsFunc(pfds, func(x unix.PollFd) bool { return int(x.Fd) == fd }) {
			p.ep.Ctl(unix.EPOLL_CTL_DEL, fd, 0) // ignored this time, as poll ignores a negative fd
			delete(p.want, fd)
		}
	}
	n, err := p.ep.Wait(p.events, timeout)
	if err != nil {
		return 0, err
	}
	ready := 0
	for _, ev := range p.events[:n] {
		for i := range pfds {
			if int(pfds[i].Fd) != int(ev.Fd) {
				continue
			}
			for _, m := range pollToEpoll {
				if ev.Events&m.epoll != 0 {
					pfds[i].Revents |= m.poll
				}
			}
			if pfds[i].Revents != 0 {
				ready++
			}
		}
	}
	return ready, nil
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
