// labs/c/procs.h (guided scaffolding)
//
// Yours to write here, each where its TODO comment is:
//   - spawn (lab 2, task 4 of 7): start the child: fork()
//   - reap_children (lab 2, task 7 of 7): reap the children that have exited
//
// `make grade` says which task is next. Until you write it, a task's todo_missing()
// call (todo.h) stops the program with its TODO line on stderr. Add the #includes
// your code needs.

/*
 * procs.h: the processes of both C servers (labs 2 and 3): starting a child
 * with fork(), and reaping the children that have exited. Lab 2's tasks;
 * lab 3's server calls them as they are (as Go's labs/procs serves both).
 */
#ifndef PROCS_H
#define PROCS_H

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "todo.h"

/* spawn forks a child. In the child it returns 0, with nothing of main's
 * left open but stdin, stdout, stderr and the nkeep descriptors of keep (at
 * most 8): fork copies every descriptor, and a child that held, say, the
 * listening socket or another client's pipe would keep them alive. The
 * child ignores SIGINT and SIGTERM (main's shutdown ends it) and has
 * SIGCHLD and SIGALRM back at their defaults (main's handlers write main's
 * signal pipe). In main it returns the child's pid, or -1 (errno set) when
 * fork fails. */
static pid_t spawn(const int *keep, int nkeep) {
    pid_t pid = -1;
    // TODO(lab2): fork(). In the child, close every descriptor above 2 but those of keep:
    // close_range(first, last, 0) over each gap between them, in increasing order (sort a
    // copy of keep), up to ~0U; then ignore SIGINT and SIGTERM and set SIGCHLD and SIGALRM
    // to SIG_DFL (signal()). Return what fork returned.
    todo_missing("lab2", "start the child: fork()");
    return pid;
}

/* reap_children collects every child that has exited, without waiting for
 * those still running, and calls exited(pid, status, arg) for each in turn;
 * it returns how many it collected. One SIGCHLD may stand for many exits. */
static int reap_children(void (*exited)(pid_t pid, int status, void *arg), void *arg) {
    int n = 0;
    // TODO(lab2): collect every child that has exited: waitpid(-1, &status, WNOHANG) in a
    // loop until it returns 0 (none left that has exited) or -1 (ECHILD: no child at all),
    // calling exited for each and counting them in n.
    todo_missing("lab2", "reap the children that have exited");
    return n;
}

#endif
