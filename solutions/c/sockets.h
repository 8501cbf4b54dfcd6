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
    //lab:begin lab2 2
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        perror("socket");
        return -1;
    }
#ifndef DEFECT_NO_REUSEADDR /* a restart waits for the TIME_WAITs to end */
    int one = 1;
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        perror("setsockopt SO_REUSEADDR");
        close(lfd);
        return -1;
    }
#endif
    socklen_t len = sizeof *sin;
    if (bind(lfd, (struct sockaddr *)sin, sizeof *sin) < 0) {
        perror("bind");
        close(lfd);
        return -1;
    }
    if (listen(lfd, 128) < 0 || getsockname(lfd, (struct sockaddr *)sin, &len) < 0) {
        perror("listen");
        close(lfd);
        return -1;
    }
    //lab:else
    // todo_missing("lab2", "socket, bind and listen");
    //lab:end
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
    //lab:begin lab2 3
    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) return -1;
    int one = 1, sndbuf = SEND_BUFFER;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
#ifndef DEFECT_NO_OOBINLINE
    setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof one);
#endif
    //lab:else
    // todo_missing("lab2", "accept one connection");
    //lab:end
    return fd;
}

#endif
