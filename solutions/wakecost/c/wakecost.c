/*
 * wakecost.c: the C twin of solutions/wakecost. A child sleeps in
 * epoll_wait on a pipe; its parent writes one byte every 15 ms (or argv[2]
 * ms), N times (argv[1], default 500); the child prints its CPU time and
 * the times its thread was run per wake-up, from /proc/self/schedstat (the
 * first field: ns on a CPU; the third: times run), as the Go one does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* schedstat reads this (single-threaded) process's ns on a CPU and times run. */
static void schedstat(long long *ns, long long *runs) {
    FILE *f = fopen("/proc/self/schedstat", "r");
    long long wait;
    *ns = *runs = 0;
    if (f) {
        if (fscanf(f, "%lld %lld %lld", ns, &wait, runs) != 3) *ns = *runs = 0;
        fclose(f);
    }
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 500, ms = argc > 2 ? atoi(argv[2]) : 15, p[2];
    if (n <= 0 || ms < 0 || pipe(p) < 0) { fprintf(stderr, "usage: wakecost_c [N [MS]]\n"); return 2; }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]};
        epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
        char buf[64];
        long long ns0, runs0, ns1, runs1;
        schedstat(&ns0, &runs0);
        for (int got = 0; got < n;) {
            struct epoll_event e;
            if (epoll_wait(ep, &e, 1, -1) <= 0) continue;
            ssize_t m = read(p[0], buf, sizeof buf);
            if (m <= 0) { fprintf(stderr, "wakecost_c: read after %d wake-ups\n", got); return 1; }
            got += (int)m;
        }
        schedstat(&ns1, &runs1);
        printf("C: %.1f µs of CPU and %.2f thread runs per wake-up; threads that ran: 1 (%d wake-ups)\n",
               (double)(ns1 - ns0) / 1e3 / n, (double)(runs1 - runs0) / n, n);
        return 0;
    }
    close(p[0]);
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    for (int i = 0; i < n; i++) {
        nanosleep(&t, NULL); /* the load's pace, not a synchronisation */
        if (write(p[1], "x", 1) != 1) break;
    }
    close(p[1]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
