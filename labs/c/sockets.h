// labs/c/sockets.h (guided scaffolding)
//
// Yours to write here, each where its TODO comment is:
//   - listen_tcp (lab 2, task 2 of 7): socket, bind and listen
//   - accept_tcp (lab 2, task 3 of 7): accept one connection
//
// `make grade` says which task is next. Until you write it, a task's todo_missing()
// call (todo.h) stops the program with its TODO line on stderr. Add the #includes
// your code needs.

/*
 * sockets.h: the TCP steps both C servers take (labs 2 and 3): the
 * listening socket, and one accepted connection. Lab 2's tasks; lab 3's
 * server calls them as they are (as Go's labs/sockets serves both).
 */
#ifndef SOCKETS_H
#define SOCKETS_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "todo.h"

/* SEND_BUFFER is the SO_SNDBUF asked for every client socket; the kernel
 * doubles it, to 128 KiB (protocol.md, "Slow readers"). Left alone, Linux
 * grows a send buffer up to tcp_wmem's maximum (4 MiB): that much could pile
 * up in the kernel for each client that stops reading. */
#define SEND_BUFFER (64 << 10)

/* listen_tcp returns a listening IPv4 TCP socket bound to *sin, non-blocking
 * and close-on-exec, with SO_REUSEADDR, and writes the address it got back
 * into *sin (the kernel's choice of port for port 0). It returns -1 after
 * saying why on stderr (perror) when a call fails. */
static int listen_tcp(struct sockaddr_in *sin) {
    int lfd = -1;
    // TODO(lab2): socket() (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC: poll says
    // when a connection waits, and no child inherits it by accident); SO_REUSEADDR
    // (setsockopt: a restarted server must bind while the last run's connections sit in
    // TIME_WAIT); bind() to *sin; listen() (backlog 128); getsockname() into *sin (-port 0
    // lets the kernel choose). A call fails: perror, close what is open, return -1.
    todo_missing("lab2", "socket, bind and listen");
    return lfd;
}

/* accept_tcp accepts one connection waiting on the listening socket lfd and
 * returns its socket: blocking, close-on-exec, with TCP_NODELAY (chat lines
 * are small: without it, Nagle's algorithm and delayed ACKs hold each one
 * back for tens of milliseconds), SO_SNDBUF = SEND_BUFFER and SO_OOBINLINE
 * (telnet's synch sends urgent data: read it in line, protocol.md rule 9).
 * It returns -1 with errno as accept4 left it (EAGAIN when none waits,
 * EMFILE, ECONNABORTED...), for the caller to tell apart. */
static int accept_tcp(int lfd) {
    int fd = -1;
    // TODO(lab2): accept one connection on lfd: accept4(), SOCK_CLOEXEC; a failure: return -1
    // (errno says why). Then set with setsockopt(): TCP_NODELAY (IPPROTO_TCP), SO_SNDBUF =
    // SEND_BUFFER and SO_OOBINLINE (SOL_SOCKET), each to its value (1 for the flags).
    todo_missing("lab2", "accept one connection");
    return fd;
}

#endif
