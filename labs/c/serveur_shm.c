// labs/c/serveur_shm.c (guided scaffolding)
//
// Yours to write here, each where its TODO comment is:
//   - create_shm (lab 3, task 1 of 7): create and map the shared memory object
//   - timer_add (lab 3, task 2 of 7): insert a timer in expiry order
//   - timer_adjust (lab 3, task 3 of 7): move a timer back to its place
//   - drop_hold (lab 3, task 4 of 7): free the slots nobody needs
//   - handle_down (lab 3, task 5 of 7): copy the message out of its slot
//   - timer_expired (lab 3, task 6 of 7): take an expired timer off the head
//   - tick (lab 3, task 7 of 7): time out the idle clients
//
// Given, to read and call, not to change: on_signal, write_all, send_rec, slot_at,
// slot_put, slot_get, buf_add, buf_drop, full, too_slow, release, read_down, place,
// child_exit, feed, feed_end, drain_input, child, timer_del, timer_link, queue,
// queue_rec, notice, close_down, watch_down, flush, drop, unref, handle_up, read_up,
// exited, reap, stuck, shutdown_all, accept_client, loop, main.
//
// `make grade` says which task is next. Until you write it, a task's todo_missing()
// call (todo.h) stops the program with its TODO line on stderr. Add the #includes
// your code needs.

/*
 * serveur_shm.c: lab 3's server in C: the textbook design made correct:
 * fork per client, POSIX shared memory (shm_open, mmap), one epoll loop over
 * the listening socket, the children's pipes and a signal self-pipe,
 * inactivity timers in a sorted list driven by SIGALRM.
 *
 * When a client's stream ends (end of file, or reset), the bytes after its
 * last '\n' are a final line, relayed before it is said to have left.
 *
 * Slow readers (protocol.md, "Slow readers and flow control"): a child's
 * queue for its client, out, is full at HIGH_WATER bytes beyond the
 * socket's SO_SNDBUF (128 KiB). While it is full, the child copies no more
 * messages out of their slots, so it releases none: each sender's ring
 * fills, and a sender whose ring is full waits for a free slot and reads
 * nothing more from its client (TCP holds it back). A flooder is held
 * first; someone who types a line now and then, hardly at all. Nothing is
 * dropped. A client that reads, however slowly, drains its queue and the
 * room goes on at its pace. One that has stopped reading is kicked by its
 * child (too_slow): once its queue has filled, it must take MIN_TAKE bytes
 * within STALL_WINDOW. Its connection is reset and the others get
 * "* userN kicked: too slow". A child that holds slots and releases none
 * for STUCK_LIMIT is stopped or hung: the parent kills it and kicks its
 * client (stuck).
 *
 * Slots are freed by reference counts kept by the parent, the one process
 * that knows who holds what: it counts a slot's holders when it hands it
 * out (each reader it sends MSG, and itself while it does so), each reader
 * sends REL(slot) once it has copied the text out, and at zero the parent
 * tells the owner (FREED). When it reaps a child, it releases
 * every slot the child still held, so a reader killed outright pins nothing.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"
#include "procs.h"
#include "sockets.h"
#include "telnet.h"
#include "todo.h"

#define MAXMSG 1000
#define SLOTSZ 1024
#define K 16

/* The pipes carry records, struct rec (16 bytes: a pipe keeps each whole).
 * Up, from a child: DATA(a: slot): its client's next line is in slot a;
 * REL(a: slot): it has copied slot a out; BYE(a: why: 0 end of file, 1 error,
 * 2 too slow): its client has gone. Down, to a child: MSG(a: slot): a message
 * to copy out of slot a; NOTICE(a: N_*, b: user id): a server line;
 * FREED(a: slot): slot a of its ring may be written again. */
enum { DATA = 1, REL, BYE, MSG = 10, NOTICE, FREED };
enum { N_WELCOME, N_JOINED, N_LEFT, N_KICKED, N_TIMEDOUT, N_SHUTDOWN };
struct rec { uint8_t kind, pad[3]; uint32_t a, b, c; };
struct slot { int sender, len; char data[SLOTSZ - 8]; };

static struct slot *slots;
static char shm_name[64]; /* the object's name for shm_open: "/chatlab-PID" */
static int sig_r, sig_w;  /* the signal self-pipe: on_signal writes each signal's number */

static void on_signal(int sig) {
    int e = errno;
    unsigned char b = (unsigned char)sig;
    (void)!write(sig_w, &b, 1);
    errno = e;
}

static int write_all(int fd, const void *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) { struct pollfd q = {fd, POLLOUT, 0}; poll(&q, 1, -1); continue; }
        if (w < 0) return -1;
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

static void send_rec(int fd, int kind, uint32_t a, uint32_t b, uint32_t c) {
    struct rec r = {(uint8_t)kind, {0}, a, b, c};
    write_all(fd, &r, sizeof r);
}

/* ---------------- shared memory ---------------- */

/* create_shm creates the shared memory object shm_name, of size bytes, and
 * maps it at slots, shared: the children inherit the mapping across fork.
 * It returns 0, or -1 (said on stderr) when it cannot. */
static int create_shm(size_t size) {
    // TODO(lab3): create the shared memory object shm_name with shm_open, flags
    // O_CREAT|O_EXCL|O_RDWR (O_EXCL: never someone else's object) and mode 0600; ftruncate
    // it to size bytes; map it at slots with mmap, PROT_READ|PROT_WRITE and MAP_SHARED (the
    // children inherit the mapping across fork and see each other's writes). The fd is not
    // needed once mapped: close it. If a call fails: perror, shm_unlink the object if you
    // created it, return -1. (The name must not outlive the server: shutdown_all
    // shm_unlinks it at exit.)
    todo_missing("lab3", "create and map the shared memory object");
    return -1;
}

/* slot_at is slot i of the mapping. */
static struct slot *slot_at(int i) { return &slots[i]; }

/* slot_put writes a message from sender, len bytes (at most MAXMSG), into
 * slot i. */
static void slot_put(int i, int sender, const char *p, size_t len) {
    struct slot *s = slot_at(i);
    s->sender = sender;
    s->len = (int)len;
    memcpy(s->data, p, len);
}

/* slot_get returns the text of the message in slot i, and its sender and
 * length through sender and len. The text is in the shared memory: copy it
 * out before the slot is released. */
static const char *slot_get(int i, int *sender, int *len) {
    struct slot *s = slot_at(i);
    *sender = s->sender;
    *len = s->len;
    return s->data;
}

/* ---------------- child ---------------- */

struct buf { char *p; size_t n, cap; };
static void buf_add(struct buf *b, const void *p, size_t n) {
    if (n == 0) return; /* memcpy with a NULL pointer is undefined, even for 0 bytes */
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) { perror("realloc"); _exit(1); }
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void buf_drop(struct buf *b, size_t n) {
    if (n == 0) return; /* nothing to move (and b->p may still be NULL) */
    memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
}

static int child_id, up_fd, down_fd, sock_fd, nfree, freelist[K];
static struct buf out;     /* lines for the client */
static struct buf in;      /* records from the parent, not handled yet */
static struct buf waiting; /* whole lines from the client, waiting for a slot */

/* full says whether the client's queue is full: the child then takes no
 * more records from in until it drains. */
static int full(void) { return out.n >= HIGH_WATER; }

static struct drain c_drain; /* the client's slow-reader window (flow.h) */

/* too_slow applies the slow-reader rule (flow.h) to out at time t, the
 * client having taken took bytes since the last call: 1, it has stopped
 * reading and is kicked. */
static int too_slow(double t, size_t took) { return drain_too_slow(&c_drain, t, took, full()); }

static void release(int slot) { send_rec(up_fd, REL, (uint32_t)slot, 0, 0); }

/* How handle_down treats the records waiting in in. */
enum {
    DISCARD,    /* the client has gone: release every message, queue nothing */
    WHILE_ROOM, /* queue lines for the client while out is not full, then stop */
    ALL,        /* queue them all, full or not (the parent has let us go) */
};

/* handle_down acts on the records from the parent, in order, as mode says.
 * Stopping while out is full is the flow control: the records wait in in,
 * and the messages among them are neither copied out nor released, so
 * their senders' rings stay full and the senders are held back. */
static void handle_down(int mode) {
    size_t off = 0;
    int deliver = mode != DISCARD;
    while (in.n - off >= sizeof(struct rec) && !(mode == WHILE_ROOM && full())) {
        struct rec r;
        memcpy(&r, in.p + off, sizeof r);
        char line[MAXMSG + 64];
        int n = 0;
        off += sizeof r;
        if (r.kind == MSG) {
            // TODO(lab3): copy the message of slot r.a (slot_get) into line as "userN: TEXT\n"
            // (N: its sender), n its length, then release the slot (release): once every
            // reader has released it, its sender may overwrite it, so copy first.
            todo_missing("lab3", "copy the message out of its slot");
        } else if (r.kind == FREED) {
            if (nfree < K) freelist[nfree++] = (int)r.a;
        } else if (r.kind == NOTICE) {
            static const char *fmt[] = {"* welcome user%u\n", "* user%u joined\n", "* user%u left\n",
                                        "* user%u kicked: too slow\n", "* user%u timed out\n", "* server shutting down\n"};
            n = snprintf(line, sizeof line, fmt[r.a], r.b);
        }
        if (deliver && n > 0) buf_add(&out, line, (size_t)n);
    }
    buf_drop(&in, off);
}

static int read_down(int mode) { /* 0: parent closed the pipe */
    char tmp[65536];
    ssize_t n = read(down_fd, tmp, sizeof tmp);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return 0;
    if (n > 0) { buf_add(&in, tmp, (size_t)n); handle_down(mode); }
    return 1;
}

static void place(void) { /* put waiting lines into free slots */
    while (waiting.n > 0 && nfree > 0) {
        char *nl = memchr(waiting.p, '\n', waiting.n);
        size_t len = (size_t)(nl - waiting.p);
        int slot = freelist[--nfree];
        slot_put(slot, child_id, waiting.p, len);
        send_rec(up_fd, DATA, (uint32_t)slot, 0, 0);
        buf_drop(&waiting, len + 1);
    }
}

static void child_exit(int reason) {
    /* Release what was held back; tell the parent, then drain our pipe
     * until it closes it, releasing every slot we were sent. */
    handle_down(DISCARD);
    while (reason != 2 && waiting.n > 0) { /* relay the client's last lines: wait (asleep) for free slots */
        place();
        if (waiting.n == 0) break;
        struct pollfd q = {down_fd, POLLIN, 0};
        if (poll(&q, 1, -1) < 0 && errno != EINTR) break;
        if (!read_down(DISCARD)) break;
    }
    send_rec(up_fd, BYE, (uint32_t)reason, 0, 0);
    if (reason == 2) { struct linger l = {1, 0}; setsockopt(sock_fd, SOL_SOCKET, SO_LINGER, &l, sizeof l); }
    close(sock_fd);
    int fl = fcntl(down_fd, F_GETFL);
    fcntl(down_fd, F_SETFL, fl & ~O_NONBLOCK);
    while (read_down(DISCARD)) {}
    _exit(0);
}

/* feed splits what the client sent into lines waiting for a slot. */
static char in_line[MAXMSG + 1];
static int in_held;
static void feed(const char *p, ssize_t n) {
    for (ssize_t i = 0; i < n; i++) {
        unsigned char reply[3]; /* rule 9: telnet commands removed, DO and WILL refused */
        int rn;
        int data = telnet_byte((unsigned char)p[i], reply, &rn);
        if (rn) buf_add(&out, reply, (size_t)rn); /* out holds whole lines: a line boundary */
        if (!data) continue;
        int end = p[i] == '\n';
        if (!end) in_line[in_held++] = p[i];
        if (in_held > MAXMSG || end) {
            int len = in_held > MAXMSG ? MAXMSG : in_held;
            if (end && len > 0 && in_line[len - 1] == '\r') len--;
            if (len > 0) { buf_add(&waiting, in_line, (size_t)len); buf_add(&waiting, "\n", 1); }
            if (in_held > MAXMSG) { in_line[0] = in_line[MAXMSG]; in_held = 1; } else in_held = 0;
        }
    }
}

/* feed_end: the client's stream has ended (end of file, or reset); what
 * follows its last '\n' is a final line, by the same rules as any other. */
static void feed_end(void) {
    int len = in_held;
    if (len > 0 && in_line[len - 1] == '\r') len--;
    if (len > 0) { buf_add(&waiting, in_line, (size_t)len); buf_add(&waiting, "\n", 1); }
    in_held = 0;
}

/* drain_input takes in what the client sent before its connection broke, so
 * its last lines are relayed like any others. */
static void drain_input(void) {
    char tmp[65536];
    ssize_t n;
    while ((n = recv(sock_fd, tmp, sizeof tmp, MSG_DONTWAIT)) > 0) feed(tmp, n);
}

static void child(int id, int fd, int up, int down, int ring) {
    child_id = id; sock_fd = fd; up_fd = up; down_fd = down;
    for (int i = 0; i < K; i++) freelist[nfree++] = ring * K + i;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    fcntl(down, F_SETFL, O_NONBLOCK);
    size_t took = 0; /* bytes the client took this turn, for too_slow */
    for (;;) {
        if (too_slow(now(), took)) child_exit(2); /* on out as the last turn left it */
        took = 0;
        /* The client is read while its lines have slots and its own queue
         * has room (what it sends may need answers, telnet refusals). */
        short ev = (short)((waiting.n == 0 && !full() ? POLLIN : 0) | (out.n ? POLLOUT : 0));
        struct pollfd p[2] = {{fd, ev, 0}, {down, POLLIN, 0}};
        if (poll(p, 2, poll_ms(drain_deadline(&c_drain))) < 0) continue;
        if (p[1].revents && !read_down(WHILE_ROOM)) { /* let go: say goodbye */
            handle_down(ALL); /* what was held back, and the parent's last lines */
            for (int i = 0; i < 40 && out.n; i++) {
                struct pollfd q = {fd, POLLOUT, 0};
                poll(&q, 1, 10);
                ssize_t w = write(fd, out.p, out.n);
                if (w > 0) buf_drop(&out, (size_t)w);
            }
            shutdown(fd, SHUT_WR);
            char junk[4096];
            while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0) {}
            _exit(0);
        }
        if (out.n) {
            ssize_t w = write(fd, out.p, out.n);
            if (w > 0) {
                buf_drop(&out, (size_t)w);
                took += (size_t)w;
                handle_down(WHILE_ROOM); /* what was held back while out was full */
            } else if (w < 0 && errno != EAGAIN) { drain_input(); feed_end(); child_exit(1); }
        }
        if (p[0].revents & (POLLHUP | POLLERR) && waiting.n > 0) {
            /* Gone (a reset) while its lines wait for slots: poll would report it at once, every
             * turn, and the child would spin until a slot came back. Relay them, and leave. */
            drain_input(); feed_end(); child_exit(1);
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR) && waiting.n == 0) {
            char tmp[65536];
            ssize_t n = read(fd, tmp, sizeof tmp);
            if (n == 0) { feed_end(); child_exit(0); }
            if (n < 0 && errno != EAGAIN) { feed_end(); child_exit(1); }
            feed(tmp, n);
        }
        place();
    }
}

/* ---------------- parent ---------------- */

struct client {
    int id, pid, up, down; /* userN's N, its child's pid, the pipes' ends: up (read), down (write) */
    int ring;              /* its ring of slots: ring * K to ring * K + K - 1 */
    int gone, closing;     /* gone: out of the room; closing: close down once pend is written */
    struct buf pend;       /* records waiting for down */
    double expire;         /* its inactivity timer: expiry (now()), links in the sorted list */
    struct client *tprev, *tnext;
    char *held;            /* held[slot]: sent MSG(slot), not released yet */
    int nheld;             /* how many slots it holds so */
    double behind;         /* since when it has held slots and released none; 0 if not */
    int watch_out;         /* EPOLLOUT is registered for down: pend waits for room */
};
static struct client **clients;
static int nclients, max_clients = 128, nrings, *ring_owner, ep, *refs, next_id = 1;
static double idle;

/* The inactivity timers: the textbook's lst_timer, a doubly linked list of
 * the clients (tprev, tnext) sorted by expiry, earliest first, from thead. A
 * tick only looks at the head; adding walks the list; an active client's
 * timer only ever moves back; removing takes constant time. */
static struct client *thead;

/* timer_del takes c's timer off the list, if it is in it. */
static void timer_del(struct client *c) {
    if (c->tprev) c->tprev->tnext = c->tnext; else if (thead == c) thead = c->tnext;
    if (c->tnext) c->tnext->tprev = c->tprev;
    c->tprev = c->tnext = NULL;
}

/* timer_link links c's timer into the list after at's (at == NULL: at the head). */
static void timer_link(struct client *c, struct client *at) {
    c->tprev = at;
    c->tnext = at ? at->tnext : thead;
    if (c->tnext) c->tnext->tprev = c;
    if (at) at->tnext = c; else thead = c;
}

/* timer_add inserts c's timer in expiry order (after the timers that expire
 * at the same time). */
static void timer_add(struct client *c) {
    // TODO(lab3): insert c into the list so that it stays sorted by expiry (c->expire), after
    // the timers that expire at the same time: find the timer to put it after (NULL if c goes
    // first), then timer_link.
    todo_missing("lab3", "insert a timer in expiry order");
}

/* timer_adjust gives c's timer a later expiry and moves it back to its place. */
static void timer_adjust(struct client *c, double expire) {
    // TODO(lab3): set c's later expiry and move its timer back to its place, so that the list
    // stays sorted (timer_del and timer_add help): a tick looks at the head only.
    todo_missing("lab3", "move a timer back to its place");
}

/* timer_expired: if the head timer expires at or before t, it takes it off
 * the list and returns its client; else it returns NULL. */
static struct client *timer_expired(double t) {
    // TODO(lab3): if the head timer expires at or before t, take it off the list and return
    // its client; else return NULL.
    todo_missing("lab3", "take an expired timer off the head");
    return NULL;
}

static void queue(struct client *c, const void *p, size_t n) {
    if (c->down < 0) return;
    buf_add(&c->pend, p, n); /* written by flush, at the end of the loop's turn */
}
static void queue_rec(struct client *c, int kind, uint32_t a, uint32_t b) {
    struct rec r = {(uint8_t)kind, {0}, a, b, 0};
    queue(c, &r, sizeof r);
}
static void notice(int kind, int id, struct client *except) {
    for (int i = 0; i < nclients; i++)
        if (!clients[i]->gone && clients[i] != except) queue_rec(clients[i], NOTICE, (uint32_t)kind, (uint32_t)id);
}
static void close_down(struct client *c) {
    if (c->down >= 0) { epoll_ctl(ep, EPOLL_CTL_DEL, c->down, NULL); close(c->down); c->down = -1; }
}
/* watch_down registers EPOLLOUT for c's pipe down while pend waits for room,
 * and takes it off once pend is written: one epoll_ctl when that changes, not
 * one per record (a message to N readers queues N records). */
static void watch_down(struct client *c, int want) {
    if (c->down < 0 || c->watch_out == want) return;
    struct epoll_event ev = {want ? EPOLLOUT : 0, {.u64 = ((uint64_t)2 << 32) | (uint32_t)c->down}};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->down, &ev);
    c->watch_out = want;
}
/* flush writes c's pend into its pipe down, as much as the pipe takes, and
 * returns whether it took anything; once all is written, a closing pipe is
 * closed. */
static int flush(struct client *c) {
    int took = 0;
    while (c->pend.n > 0 && c->down >= 0) {
        ssize_t w = write(c->down, c->pend.p, c->pend.n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) { watch_down(c, 1); return took; }
        if (w < 0) { c->pend.n = 0; close_down(c); return took; }
        buf_drop(&c->pend, (size_t)w);
        took = 1;
    }
    if (c->down >= 0) {
        if (c->closing) { close_down(c); return took; }
        watch_down(c, 0);
    }
    return took;
}
static void drop(struct client *c, int kind) {
    c->gone = 1;
    c->closing = 1;
    timer_del(c);
    fprintf(stderr, "c_shm: user%d %s\n", c->id, kind == N_KICKED ? "kicked" : "left");
    notice(kind, c->id, c);
    flush(c);
}

/* drop_hold takes one hold off slot (refs[slot]: its readers that have not
 * released it yet, and the parent while it hands it out); the last one frees
 * it for its owner. */
static void drop_hold(int slot) {
    // TODO(lab3): take one hold off slot (refs[slot] counts them). Once none is left, nobody
    // needs the slot any more: tell the client whose ring it is in (the one of clients[]
    // whose id is ring_owner[slot / K]) that it may write it again, FREED(slot) with
    // queue_rec, unless that client is gone.
    todo_missing("lab3", "free the slots nobody needs");
}

/* unref drops c's hold on slot, if it has one. */
static void unref(struct client *c, int slot) {
    if (!c->held[slot]) return;
    c->held[slot] = 0;
    c->nheld--;
    c->behind = 0; /* it released one: it is not stuck */
    drop_hold(slot);
}

/* handle_up acts on one record from c's child. */
static void handle_up(struct client *c, struct rec *r) {
    if (r->a >= (uint32_t)(nrings * K) || (r->kind == DATA && (int)r->a / K != c->ring))
        return; /* no slot of ours, or not in c's ring: a child's bug, ignored */
    if (r->kind == DATA) {
        int slot = (int)r->a;
        if (c->gone) return;
        if (idle > 0) timer_adjust(c, now() + idle);
        refs[slot] = 1; /* the parent's own hold, while it hands the slot out */
        for (int i = 0; i < nclients; i++)
            if (!clients[i]->gone && clients[i] != c) {
                clients[i]->held[slot] = 1;
                clients[i]->nheld++;
                refs[slot]++;
                queue_rec(clients[i], MSG, (uint32_t)slot, 0);
            }
        drop_hold(slot); /* with no reader, the slot is free at once */
    } else if (r->kind == REL) {
        unref(c, (int)r->a);
    } else if (r->kind == BYE) {
        if (!c->gone) drop(c, r->a == 2 ? N_KICKED : N_LEFT);
    }
}

/* read_up reads c's pipe up until it is empty, and acts on its records. */
static void read_up(struct client *c) {
    static char tmp[65536];
    for (;;) {
        ssize_t n = read(c->up, tmp, sizeof tmp);
        if (n <= 0) {
            if (n == 0) { epoll_ctl(ep, EPOLL_CTL_DEL, c->up, NULL); close(c->up); c->up = -1; }
            return;
        }
        for (ssize_t o = 0; o + (ssize_t)sizeof(struct rec) <= n; o += sizeof(struct rec)) {
            struct rec r;
            memcpy(&r, tmp + o, sizeof r); /* tmp is not aligned for a struct rec */
            handle_up(c, &r);
        }
    }
}

/* exited forgets a child that has exited (reap_children's callback): what
 * it wrote up before it died is read and acted on, its client is dropped if
 * not gone yet, and every slot it still held is released. */
static void exited(pid_t pid, int status, void *arg) {
    (void)status, (void)arg;
    for (int i = 0; i < nclients; i++) {
        struct client *c = clients[i];
        if (c->pid != pid) continue;
        if (c->up >= 0) read_up(c);
        if (!c->gone) drop(c, N_LEFT);
        if (c->up >= 0) { epoll_ctl(ep, EPOLL_CTL_DEL, c->up, NULL); close(c->up); }
        close_down(c);
        for (int s = 0; s < nrings * K; s++) unref(c, s); /* what it will never read */
        ring_owner[c->ring] = 0;
        free(c->pend.p);
        free(c->held);
        free(c);
        clients[i] = clients[--nclients];
        break;
    }
}

/* reap collects the children that have exited (SIGCHLD: one or more). */
static void reap(void) { reap_children(exited, NULL); }

/* stuck kills the children that have held slots for STUCK_LIMIT without
 * releasing any, and kicks their clients; it returns epoll_wait's timeout in
 * ms, until the next one would be stuck (-1: none). A child holds messages
 * back only while its client's queue is full, and releases more as soon as
 * it drains; one whose client stopped reading kicks it within STALL_WINDOW.
 * A child silent for longer is stopped or hung: it would hold every sender
 * back for good, their slots taken. It is judged on what it did, not on what
 * the parent has seen of it yet: before it is killed, its pipe down is
 * flushed and its pipe up read (a parent busy for seconds may be behind on
 * both), and one that took or released anything is given a new wait. */
static int stuck(void) {
    int timeout = -1;
    double t = now();
    for (int i = 0; i < nclients; i++) {
        struct client *c = clients[i];
        if (c->gone || c->nheld == 0) {
            c->behind = 0;
            continue;
        }
        if (c->behind == 0) c->behind = t;
        if (t - c->behind >= STUCK_LIMIT) {
            /* Judge the child, not this loop's lateness: a parent busy for
             * seconds (hundreds of senders at once) may not have read its
             * releases, or written what it owes it. One that takes from its
             * pipe, or releases, is alive. */
            int took = flush(c);
            if (c->up >= 0) read_up(c);
            if (c->gone || c->nheld == 0) { c->behind = 0; continue; }
            if (took || c->behind == 0) c->behind = t; /* a sign of life: a new wait begins */
        }
        if (t - c->behind >= STUCK_LIMIT) {
            fprintf(stderr, "c_shm: user%d: its process released nothing for %.0f s\n", c->id, STUCK_LIMIT);
            kill(c->pid, SIGKILL); /* reaped on SIGCHLD: its slots are released then */
            drop(c, N_KICKED);
            continue;
        }
        int ms = poll_ms(c->behind + STUCK_LIMIT);
        if (timeout < 0 || ms < timeout) timeout = ms;
    }
    return timeout;
}

static void shutdown_all(int lfd) {
    close(lfd);
    notice(N_SHUTDOWN, 0, NULL);
    for (int i = 0; i < nclients; i++) { clients[i]->closing = 1; flush(clients[i]); }
    double deadline = now() + 0.9;
    while (nclients > 0 && now() < deadline) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 20);
        for (int i = 0; i < n; i++) {
            int fd = (int)(evs[i].data.u64 & 0xffffffff), kind = (int)(evs[i].data.u64 >> 32);
            for (int j = 0; j < nclients; j++) {
                if (kind == 1 && clients[j]->up == fd) read_up(clients[j]);
                if (kind == 2 && clients[j]->down == fd) flush(clients[j]);
            }
        }
        for (int j = 0; j < nclients; j++) if (clients[j]->pend.n) flush(clients[j]);
        reap();
    }
    for (int i = 0; i < nclients; i++) { kill(clients[i]->pid, SIGKILL); waitpid(clients[i]->pid, NULL, 0); }
    shm_unlink(shm_name);
    exit(0);
}

/* tick runs on SIGALRM, which setitimer (main) raises every tenth of -idle
 * (from 10 ms to 1 s): every client idle past -idle is told, with everyone
 * else, that it timed out, and is let go. */
static void tick(void) {
    double t = now();
    if (!thead || thead->expire > t) return; /* nothing has expired: the usual tick */
    struct client *c;
    while ((c = timer_expired(t)) != NULL) {
        // TODO(lab3): c has been idle past -idle (its timer is off the list): tell it and
        // everyone else "* userN timed out" (N_TIMEDOUT: queue_rec to c, notice to the others),
        // and let it go: gone and closing, then flush (which closes its pipe down once drained).
        todo_missing("lab3", "time out the idle clients");
    }
}

/* accept_client accepts a connection on lfd and forks its child, with a
 * ring of slots of its own and a pipe each way. The epoll events' data
 * tells the descriptors apart: the fd in its low 32 bits, and above them 0
 * for lfd and the signal pipe, 1 for a child's pipe up, 2 for one down. */
static void accept_client(int lfd) {
    int cfd = accept_tcp(lfd);
    if (cfd < 0) return; /* none waits (EAGAIN), or it went away */
    int active = 0, ring = -1;
    for (int j = 0; j < nclients; j++) active += !clients[j]->gone;
    for (int r = 0; r < nrings && ring < 0; r++) {
        int busy = ring_owner[r] != 0;
        for (int s = 0; s < K && !busy; s++) busy = refs[r * K + s] > 0;
        if (!busy) ring = r;
    }
    if (active >= max_clients || ring < 0) { write_all(cfd, "* server full\n", 14); close(cfd); return; }
    int up[2] = {-1, -1}, down[2] = {-1, -1};
    pid_t pid = -1;
    int id = next_id++; /* never reused, even if its child cannot start */
    if (pipe2(up, O_CLOEXEC) == 0 && pipe2(down, O_CLOEXEC) == 0) {
        int keep[] = {cfd, up[1], down[0]}; /* all the child needs of the parent's */
        pid = spawn(keep, 3);
        if (pid == 0) child(id, cfd, up[1], down[0], ring); /* never returns */
    }
    close(cfd); close(up[1]); close(down[0]);
    if (pid < 0) { close(up[0]); close(down[1]); return; }
    notice(N_JOINED, id, NULL);
    struct client *c = calloc(1, sizeof *c);
    *c = (struct client){.id = id, .pid = pid, .up = up[0], .down = down[1], .ring = ring, .held = calloc((size_t)nrings * K, 1)};
    fcntl(c->up, F_SETFL, O_NONBLOCK);
    fcntl(c->down, F_SETFL, O_NONBLOCK);
    ring_owner[ring] = id;
    clients[nclients++] = c;
    struct epoll_event ev = {EPOLLIN, {.u64 = ((uint64_t)1 << 32) | (uint32_t)c->up}};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->up, &ev);
    ev.events = 0; ev.data.u64 = ((uint64_t)2 << 32) | (uint32_t)c->down;
    epoll_ctl(ep, EPOLL_CTL_ADD, c->down, &ev);
    queue_rec(c, NOTICE, N_WELCOME, (uint32_t)id);
    if (idle > 0) { c->expire = now() + idle; timer_add(c); }
}

/* loop is the parent's event loop, over the listening socket lfd, the
 * signal pipe and the children's pipes; it never returns. */
static void loop(int lfd) {
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, stuck());
        for (int i = 0; i < n; i++) {
            int fd = (int)(evs[i].data.u64 & 0xffffffff), kind = (int)(evs[i].data.u64 >> 32);
            if (fd == sig_r) {
                unsigned char s[64];
                ssize_t k = read(sig_r, s, sizeof s);
                for (ssize_t j = 0; j < k; j++) {
                    if (s[j] == SIGCHLD) reap();
                    else if (s[j] == SIGALRM) tick();
                    else shutdown_all(lfd);
                }
            } else if (fd == lfd) {
                accept_client(lfd);
            } else {
                for (int j = 0; j < nclients; j++) {
                    if (kind == 1 && clients[j]->up == fd) { read_up(clients[j]); break; }
                    if (kind == 2 && clients[j]->down == fd) { flush(clients[j]); break; }
                }
            }
        }
        for (int j = 0; j < nclients; j++) if (clients[j]->pend.n) flush(clients[j]);
    }
}

#define PROG "c_shm"
#include "args.h"

int main(int argc, char **argv) {
    int port = 5015;
    const char *addr = "0.0.0.0";
    idle = 600;
    struct in_addr a4;
    for (int i = 1; i < argc; i++) {
        const char *v, *f = next_flag(argc, argv, &i, &v);
        if (!strcmp(f, "-port")) port = int_arg(f, v, 0, 65535);
        else if (!strcmp(f, "-max-clients")) max_clients = int_arg(f, v, 1, 65536);
        else if (!strcmp(f, "-idle")) idle = duration_arg(v);
        else if (inet_pton(AF_INET, v, &a4) != 1) usage_error("-addr %s: not an IPv4 address", v);
        else addr = v;
    }
    signal(SIGPIPE, SIG_IGN);
    nrings = max_clients + 16;
    snprintf(shm_name, sizeof shm_name, "/chatlab-%d", getpid());
    if (create_shm((size_t)nrings * K * SLOTSZ) < 0) return 1;
    ring_owner = calloc((size_t)nrings, sizeof *ring_owner);
    refs = calloc((size_t)nrings * K, sizeof *refs);
    clients = calloc((size_t)max_clients + 16, sizeof *clients);

    int sp[2];
    pipe2(sp, O_CLOEXEC | O_NONBLOCK);
    sig_r = sp[0];
    sig_w = sp[1];
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL); sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL); sigaction(SIGALRM, &sa, NULL);
    if (idle > 0) {
        double every = idle / 10 < 0.01 ? 0.01 : idle / 10 > 1 ? 1 : idle / 10;
        struct itimerval it = {{(time_t)every, (long)((every - (time_t)every) * 1e6)}, {(time_t)every, (long)((every - (time_t)every) * 1e6)}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &sin.sin_addr);
    int lfd = listen_tcp(&sin); /* sin gets the port it got: -port 0 lets the kernel choose */
    if (lfd < 0) { shm_unlink(shm_name); return 1; }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {EPOLLIN, {.u64 = (uint32_t)lfd}};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.u64 = (uint32_t)sig_r;
    epoll_ctl(ep, EPOLL_CTL_ADD, sig_r, &ev);
    fprintf(stderr, "c_shm: listening on %s:%d, /dev/shm%s\n", addr, ntohs(sin.sin_port), shm_name);
    loop(lfd);
}
