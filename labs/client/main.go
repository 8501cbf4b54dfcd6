// labs/client/main.go (guided scaffolding)
//
// Yours to write here, each where its TODO comment is:
//   - connectTo (lab 1, task 1 of 3): socket and connect
//   - chat (lab 1, task 2 of 3): the poll loop over stdin and the socket
//
// Given, to read and call, not to change: main, parseArgs, dial, zoneID, boolRank,
// read, writeAll.
//
// `make grade` says which task is next. Until you write it, a task's todo.Missing
// call stops the program with its TODO line on stderr. Add the imports your code
// needs; once the last todo.Missing of this file is gone, delete the import of
// chatlab/labs/todo too (Go refuses an unused import; goimports does both).

// Command chat_client is the client of lab 1.
//
//	chat_client HOST [PORT]
//
// It connects to a chat server, then does two jobs at once: it copies what
// you type (standard input) to the server, and prints what the server sends
// while you are not typing. The usual C client does the two jobs in two processes
// (fork after connect); this client does them in one, with poll(2) watching standard input and the
// socket together, so it sleeps until one of them has something.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"time"

	"chatlab/labs/protocol"
	"chatlab/labs/terminal"
	"chatlab/labs/todo"

	"golang.org/x/sys/unix"
)

// connectTimeout bounds the wait for a server that does not answer at all.
const connectTimeout = 10 * time.Second

func main() {
	// Writing to a server that has gone must return EPIPE, not kill us.
	signal.Ignore(unix.SIGPIPE)
	host, port, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "chat_client: %v\nusage: chat_client HOST [PORT]\n", err)
		os.Exit(2)
	}
	sock, err := dial(host, port)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chat_client: %v\n", err)
		os.Exit(1)
	}
	os.Exit(chat(sock, new(terminal.Sanitizer)))
}

// parseArgs reads HOST [PORT].
func parseArgs(args []string) (host string, port int, err error) {
	if len(args) < 1 || len(args) > 2 {
		return "", 0, errors.New("expected a host and an optional port")
	}
	host, port = args[0], protocol.DefaultPort
	if len(args) == 2 {
		port, err = strconv.Atoi(args[1])
		if err != nil || port < 1 || port > 65535 {
			return "", 0, fmt.Errorf("port %q: not a TCP port (1 to 65535)", args[1])
		}
	}
	return host, port, nil
}

// dial resolves host and connects to the first of its addresses that
// answers (IPv4 first: the chat servers listen on IPv4). The socket it
// returns is blocking and close-on-exec.
func dial(host string, port int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return -1, fmt.Errorf("cannot resolve %s: %v", host, err)
	}
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int {
		return boolRank(!a.Unmap().Is4()) - boolRank(!b.Unmap().Is4())
	})
	var firstErr error
	for _, a := range addrs {
		fd, err := connectTo(netip.AddrPortFrom(a.Unmap(), uint16(port)))
		if err == nil {
			return fd, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return -1, fmt.Errorf("cannot connect to %s port %d: %v", host, port, firstErr)
}

// zoneID is the interface index of an IPv6 zone ("fe80::1%eth0"), or 0.
func zoneID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.Atoi(zone)
	return uint32(n)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// connectTo is socket(2) and connect(2) to one address, giving up after
// connectTimeout: the connect runs non-blocking and poll waits for it.
func connectTo(ap netip.AddrPort) (int, error) {
	// TODO(lab1): create a TCP socket for ap's family (unix.Socket; SOCK_CLOEXEC), and connect
	// it to ap (unix.Connect with a unix.SockaddrInet4 or SockaddrInet6). ap may be IPv4 or
	// IPv6 ("::1", and "localhost" may resolve to either): look at ap.Addr().Unmap().Is4()
	// before you call As4, which panics on an IPv6 address. Give up after
	// connectTimeout rather than hang: a non-blocking connect, then unix.Poll for
	// POLLOUT, then getsockopt SO_ERROR. Return a blocking socket with TCP_NODELAY.
	todo.Missing("lab1", "socket and connect")
	return -1, nil
}

// chat runs the two jobs until the server closes the connection or standard
// input ends, and returns the exit status. What the server sends goes through
// san (lab 1, task 3) to stdout.
func chat(sock int, san *terminal.Sanitizer) int {
	// TODO(lab1): do both jobs at once with one unix.Poll over fd 0 (stdin) and sock, never
	// busy-waiting: what the server sends goes to stdout through san.Append,
	// what is typed goes to the server (writeAll). Server closed (read 0): say so on
	// stderr, return 0. End of stdin: return 0 (the deferred close ends the connection).
	defer unix.Close(sock)
	todo.Missing("lab1", "the poll loop over stdin and the socket")
	return 1
}

// read is read(2), retried on EINTR; a negative count becomes 0.
func read(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// writeAll writes all of p to fd, however many write(2) calls it takes.
func writeAll(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}
