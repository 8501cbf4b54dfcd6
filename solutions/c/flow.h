/*
 * flow.h: protocol.md's slow-reader rule, shared by both C servers (as the
 * package flow serves both Go servers). A queue for one client is full at
 * HIGH_WATER bytes; while it is full, the server holds the senders back. A
 * client whose queue filled and that then takes fewer than MIN_TAKE bytes
 * within STALL_WINDOW seconds has stopped reading: it is kicked.
 */
#ifndef FLOW_H
#define FLOW_H

#include <stddef.h>
#include <time.h>

#define HIGH_WATER (256 << 10) /* a queue for one client is full at this many bytes */
#define MIN_TAKE (16 << 10)    /* a client whose queue filled must take this much... */
#define STALL_WINDOW 1.0       /* ...within this many seconds, or it is kicked */
#define STUCK_LIMIT 2.0        /* seconds a server waits for a child that takes nothing */

/* now is the monotonic clock, in seconds. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* poll_ms is poll()'s (or epoll_wait's) timeout in ms until time t (from
 * now()), rounded up; -1 (no timeout) if t is 0. */
static int poll_ms(double t) {
    if (t == 0) return -1;
    double ms = (t - now()) * 1000;
    return ms <= 0 ? 0 : (int)ms + 1;
}

/* A drain is one client's slow-reader window: since, when its queue filled
 * (0: no window open), and took, the bytes it has taken since. */
struct drain {
    double since;
    size_t took;
};

/* drain_too_slow applies the rule at time t, the client having taken took
 * bytes since the last call and its queue being full or not. A window opens
 * when the queue fills; it closes once the client has taken MIN_TAKE bytes
 * (another opens at once if the queue is still full). A client still in its
 * window after STALL_WINDOW has stopped reading: it returns 1, and the
 * client is kicked. (The queue dipping just below full does not close the
 * window: a client that stopped reading still lets a few bytes through now
 * and then, when TCP probes its zero window.) */
static int drain_too_slow(struct drain *d, double t, size_t took, int full) {
    if (d->since != 0) {
        d->took += took;
        if (d->took >= MIN_TAKE) d->since = 0; /* it reads */
        else if (t - d->since >= STALL_WINDOW) return 1;
    }
    if (d->since == 0 && full) {
        d->since = t;
        d->took = 0;
    }
    return 0;
}

/* drain_deadline is when d's window ends, for poll()'s timeout (0: none open). */
static double drain_deadline(const struct drain *d) { return d->since ? d->since + STALL_WINDOW : 0; }

#endif
