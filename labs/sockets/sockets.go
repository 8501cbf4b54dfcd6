// labs/sockets/sockets.go (guided scaffolding)
//
// Yours to write here, each where its TODO comment is:
//   - Listen (lab 2, task 2 of 7): socket, bind and listen
//   - Accept (lab 2, task 3 of 7): accept one connection
//
// Given, to read and call, not to change: AddrString, AbortiveClose, DiscardInput,
// Refuse.
//
// `make grade` says which task is next. Until you write it, a task's todo.Missing
// call stops the program with its TODO line on stderr. Add the imports your code
// needs; once the last todo.Missing of this file is gone, delete the import of
// chatlab/labs/todo too (Go refuses an unused import; goimports does both).

// Package sockets holds the TCP steps every chatlab server takes, written
// with the system calls a C server makes: socket, setsockopt, bind, listen,
// accept; and the ways a server closes a connection.
package sockets

import (
	"net/netip"

	"chatlab/labs/todo"

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
	todo.Missing("lab2", "socket, bind and listen")
	return -1, 0, nil
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
	todo.Missing("lab2", "accept one connection")
	return -1, "", nil
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
