package main

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// listenTCP returns a listening, non-blocking, close-on-exec IPv4 socket
// bound to addr:port, and the port it got (the kernel's choice for port 0).
// These are the socket/bind/listen steps of serveur.c.
func listenTCP(addr netip.Addr, port, backlog int) (fd, boundPort int, err error) {
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("socket: %w", err)
	}
	// Let a restarted server bind while old connections sit in TIME_WAIT.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: addr.As4()}); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("bind %s:%d: %w", addr, port, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("getsockname: %w", err)
	}
	return fd, sa.(*unix.SockaddrInet4).Port, nil
}

// sendBuffer is the SO_SNDBUF of every client socket (the kernel doubles
// it). Left alone, Linux grows a socket's send buffer up to tcp_wmem's
// maximum (4 MiB): that much could pile up in the kernel for each client
// that stops reading, on top of the server's own backlog. Fixing it keeps the
// memory a slow client costs, and the time until it is kicked, bounded.
const sendBuffer = 64 << 10

// acceptClient accepts one connection from the non-blocking listening socket
// lfd. The new socket is blocking and close-on-exec, with a fixed send
// buffer and TCP_NODELAY: chat lines are small, and without it Nagle's
// algorithm and delayed ACKs hold each one back for tens of milliseconds.
func acceptClient(lfd int) (fd int, peer string, err error) {
	fd, sa, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		return -1, "", err
	}
	for _, opt := range []struct {
		level, name, value int
		what               string
	}{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1, "TCP_NODELAY"},
		{unix.SOL_SOCKET, unix.SO_SNDBUF, sendBuffer, "SO_SNDBUF"},
	} {
		if err := unix.SetsockoptInt(fd, opt.level, opt.name, opt.value); err != nil {
			unix.Close(fd)
			return -1, "", fmt.Errorf("setsockopt %s: %w", opt.what, err)
		}
	}
	return fd, sockaddrString(sa), nil
}

// sockaddrString formats an IPv4 or IPv6 socket address as host:port.
func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String()
	}
	return "?"
}

// abortive closes a socket with a reset instead of an orderly FIN: what is
// still queued for a peer that stopped reading is thrown away at once rather
// than kept in the kernel until TCP gives up.
func abortiveClose(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}

// pipe2 returns a close-on-exec pipe: read end, write end.
func pipe2() (r, w int, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return -1, -1, fmt.Errorf("pipe2: %w", err)
	}
	return p[0], p[1], nil
}

// closeRangeCloexec is CLOSE_RANGE_CLOEXEC from <linux/close_range.h>
// (Linux 5.11), which x/sys/unix does not name.
const closeRangeCloexec = 1 << 2

// closeInheritedOnExec marks every file descriptor from 3 up close-on-exec.
// exec passes on every descriptor that is not, so whatever the server
// inherited from the shell or program that started it (a stray pipe, a
// socket) would otherwise reach every child. Called first thing in main.
func closeInheritedOnExec() error {
	err := unix.CloseRange(3, ^uint(0), closeRangeCloexec)
	if err != unix.ENOSYS && err != unix.EINVAL {
		return err
	}
	// Before Linux 5.11: one fcntl per open descriptor.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= 3 {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
	return nil
}
