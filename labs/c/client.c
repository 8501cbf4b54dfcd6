// labs/c/client.c (guided scaffolding)
//
// Yours to write here, each where its TODO comment is:
//   - dial (lab 1, task 1 of 3): socket and connect
//   - main (lab 1, task 2 of 3): the poll loop over stdin and the socket
//   - clean (lab 1, task 3 of 3): leave out what a terminal would obey
//
// Given, to read and call, not to change: c1, relay, bye.
//
// `make grade` says which task is next. Until you write it, a task's todo_missing()
// call (todo.h) stops the program with its TODO line on stderr. Add the #includes
// your code needs.

/*
 * client.c: lab 1's client in C: one poll() over stdin and the socket.
 *
 * HOST is resolved with getaddrinfo (IPv4 or IPv6, a name or an address),
 * and each address is tried in turn. What is typed is sent as it comes, not
 * held until a newline; at the end of stdin the client shuts its side of
 * the connection down, closes it and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "todo.h"

/* The cleaner's states: text, after ESC, ESC + intermediate bytes, control
 * sequence (CSI), string (OSC, DCS, SOS, PM, APC), ESC inside a string. */
enum { TEXT, ESC, ESC_INT, CSI, STR, STR_ESC };

struct cleaner {
    int st;
    int need;              /* UTF-8 continuation bytes still due */
    unsigned char lo, hi;  /* the range of the next continuation byte */
    int emit;              /* print the character being decoded */
    int c2;                /* 0xC2 held: U+0080..U+009F (C1) or U+00A0..U+00BF */
};

/* c1 acts on the C1 control U+0080+(code-0x80), met as one raw byte or as
 * UTF-8: it starts a CSI or a string, ends a string (ST), or is dropped. */
static void c1(struct cleaner *s, unsigned char code) {
    if (s->st == STR || s->st == STR_ESC) { /* part of the string, but ST */
        s->st = code == 0x9c ? TEXT : STR;
        return;
    }
    switch (code) {
    case 0x9b: s->st = CSI; break;
    case 0x90: case 0x98: case 0x9d: case 0x9e: case 0x9f: s->st = STR; break;
    default: s->st = TEXT; break;
    }
}

/* clean copies the printable part of p to out (escape sequences, C1
 * controls and control characters but tab and newline removed) and returns
 * its length, at most n + 1 (a 0xC2 held from the last read). The state
 * carries over from one read to the next. A newline ends any unfinished
 * sequence. Nothing that a terminal obeys is ever copied: no C0 control but
 * tab and newline, no DEL, no ESC, no C1 in either form. */
static size_t clean(const char *p, size_t n, char *out) {
    // TODO(lab1): copy p to out, leaving out what a terminal would obey: ESC sequences
    // (CSI, OSC/DCS strings), C1 controls (U+0080..U+009F as UTF-8, and bytes 0x80..0x9F
    // that do not continue a UTF-8 character), C0 controls but tab and newline, and DEL;
    // return how many bytes you wrote. Keep the state in a static struct cleaner (c1()
    // helps): a sequence may span two reads.
    todo_missing("lab1", "leave out what a terminal would obey");
    return 0;
}

/* relay reads fd once and passes it on; it returns what read returned. */
static ssize_t relay(int from, int to, int filter) {
    char buf[65536], out[65536 + 16];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0) return n;
    size_t m = filter ? clean(buf, (size_t)n, out) : (size_t)n;
    const char *p = filter ? out : buf;
    while (m > 0) {
        ssize_t w = write(to, p, m);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; m -= (size_t)w;
    }
    return n;
}

/* bye ends the connection at the end of stdin: everything typed has been
 * written already; the server gets an orderly end of file. */
static int bye(int s) {
    shutdown(s, SHUT_WR);
    close(s);
    return 0;
}

/* dial connects to host:port, trying each address it resolves to; it
 * returns the socket, or -1 after saying why on stderr. */
static int dial(const char *host, const char *port) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "c_client: cannot resolve %s port %s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    // TODO(lab1): for each address a of the list ai in turn, until one works: create a
    // socket of its family and type (socket(); add SOCK_CLOEXEC to the type) and
    // connect() it to a->ai_addr. Whichever fails, keep errno, close the socket, try
    // the next. Then freeaddrinfo(ai); if none connected, say why on stderr
    // (strerror of the last error) and return -1; else return the socket. "::1" and
    // "localhost" (which may resolve to either family) must work as well as 127.0.0.1.
    todo_missing("lab1", "socket and connect");
    return -1;
}

int main(int argc, char **argv) {
    const char *bad = NULL;
    char why[128];
    if (argc < 2 || argc > 3) bad = "expected a host and an optional port";
    for (int i = 1; !bad && i < argc; i++)
        if (argv[i][0] == '-') { snprintf(why, sizeof why, "%.40s: unknown flag", argv[i]); bad = why; }
    if (!bad && argc == 3) {
        char *end;
        long v = strtol(argv[2], &end, 10);
        if (argv[2][0] < '0' || argv[2][0] > '9' || *end || v < 1 || v > 65535) {
            snprintf(why, sizeof why, "port \"%.40s\": not a TCP port (1 to 65535)", argv[2]);
            bad = why;
        }
    }
    if (bad) {
        fprintf(stderr, "c_client: %s\nusage: c_client HOST [PORT]\n", bad);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *port = argc == 3 ? argv[2] : "5015";
    int s = dial(argv[1], port);
    if (s < 0) return 1;
    // TODO(lab1): do both jobs at once with one poll() over fd 0 (stdin) and s, never
    // busy-waiting: what the server sends goes to stdout through the sanitizer
    // (relay(s, 1, 1)), what is typed goes to the server (relay(0, s, 0)). Server
    // closed (relay returns 0 or less): say so on stderr, return 0. End of stdin:
    // return bye(s). poll() interrupted by a signal (EINTR): poll again.
    todo_missing("lab1", "the poll loop over stdin and the socket");
}
