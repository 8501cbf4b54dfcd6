/*
 * wakecost.c: the C twin of grader/cmd/wakecost. A child sleeps in
 * epoll_wait on a pipe; its parent writes one byte every 15 ms (or argv[2]
 * ms), N times (argv[1], default 500); the child prints its CPU time per
 * wake-up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
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
        double before = cpu_us();
        for (int got = 0; got < n;) {
            struct epoll_event e;
            if (epoll_wait(ep, &e, 1, -1) <= 0) continue;
            ssize_t m = read(p[0], buf, sizeof buf);
            if (m <= 0) { fprintf(stderr, "wakecost_c: read after %d wake-ups\n", got); return 1; }
            got += (int)m;
        }
        printf("C: %.1f µs of CPU per wake-up (%d wake-ups)\n", (cpu_us() - before) / n, n);
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
