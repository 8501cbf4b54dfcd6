// Package sockets holds the TCP steps every chatlab server takes, written
// with the system calls a C server makes: socket, setsockopt, bind, listen,
// accept; and the ways a server closes a connection.
package sockets

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// SendBuffer is the SO_SNDBUF of every client socket (the kernel doubles
// it). Left alone, Linux grows a socket's send buffer up to tcp_wmem's
// maximum (4 MiB): that much could pile up in the kernel for each client
// that stops reading, on top of the server's own backlog. Fixing it keeps the
// memory a slow client costs, and the time until it is kicked, bounded.
const SendBuffer = 64 << 10

// Listen returns a listening, non-blocking, close-on-exec IPv4 socket bound
// to addr:port, and the port it got (the kernel's choice for port 0).
func Listen(addr netip.Addr, port, backlog int) (fd, boundPort int, err error) {
	// TODO(lab2): socket, bind and listen, as in C: unix.Socket (AF_INET, SOCK_STREAM,
	// non-blocking, close-on-exec), SO_REUSEADDR, unix.Bind to addr:port, unix.Listen.
	// Return the port you got (unix.Getsockname): with port 0 the kernel picks one.
	//lab:begin lab2 2
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
	//lab:else
	// todo.Missing("lab2", "socket, bind and listen")
	// return -1, 0, nil
	//lab:end
}

// Accept accepts one connection from the non-blocking listening socket lfd.
// Its errors are accept4's errnos as they are (unix.EAGAIN when none waits,
// EMFILE, ECONNABORTED...), for the caller to tell apart.
// The new socket is blocking and close-on-exec, with a fixed send buffer and
// TCP_NODELAY: chat lines are small, and without it Nagle's algorithm and
// delayed ACKs hold each one back for tens of milliseconds.
func Accept(lfd int) (fd int, peer string, err error) {
	// TODO(lab2): accept one connection with unix.Accept4 (SOCK_CLOEXEC: children must not inherit
	// it by accident), then set TCP_NODELAY and SO_SNDBUF = SendBuffer on it.
	//lab:begin lab2 3
	fd, sa, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		return -1, "", err
	}
	for _, opt := range []struct {
		level, name, value int
		what               string
	}{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1, "TCP_NODELAY"},
		{unix.SOL_SOCKET, unix.SO_SNDBUF, SendBuffer, "SO_SNDBUF"},
	} {
		if err := unix.SetsockoptInt(fd, opt.level, opt.name, opt.value); err != nil {
			unix.Close(fd)
			return -1, "", fmt.Errorf("setsockopt %s: %w", opt.what, err)
		}
	}
	return fd, AddrString(sa), nil
	//lab:else
	// todo.Missing("lab2", "accept one connection")
	// return -1, "", nil
	//lab:end
}

// AddrString formats an IPv4 or IPv6 socket address as host:port.
func AddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String()
	}
	return "?"
}

// AbortiveClose closes a socket with a reset instead of an orderly FIN:
// what is still queued for a peer that stopped reading is thrown away at
// once rather than kept in the kernel until TCP gives up.
func AbortiveClose(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}

// DiscardInput reads and drops what the peer has already sent, without
// waiting: closing a socket with unread input resets the connection, and a
// reset may destroy the last line we sent before the peer reads it.
func DiscardInput(fd int) {
	var buf [4096]byte
	for {
		n, _, err := unix.Recvfrom(fd, buf[:], unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if n <= 0 || err != nil {
			return
		}
	}
}

// Refuse tells a client the server is full and closes its connection.
func Refuse(fd int, line string) {
	unix.Write(fd, []byte(line)) // a new socket's buffer is empty: this cannot block
	DiscardInput(fd)
	unix.Close(fd)
}
