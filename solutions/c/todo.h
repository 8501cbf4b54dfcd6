/*
 * todo.h: how a skeleton says that a task is not written yet. Every
 * unwritten region of labs/c is one call,
 *
 *     todo_missing("lab2", "accept one connection");
 *
 * followed, where the function returns a value, by a return that is never
 * reached. It prints
 *
 *     TODO(lab2): accept one connection (labs/c/serveur.c, main): not written yet
 *
 * on stderr and ends the process with exit status 3 (_exit: a forked
 * child does not flush its parent's stdio buffers twice), the moment the
 * program first needs that code: a skeleton never hangs, spins or quietly
 * does nothing, and the grader shows the line in the failures it causes.
 * The tasks of a lab are numbered in the order a running program reaches
 * them, so that finishing task k lets the program run on to task k+1.
 */
#ifndef TODO_H
#define TODO_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* TODO_EXIT_STATUS is the exit status of a program stopped by todo_missing. */
#define TODO_EXIT_STATUS 3

/* todo_missing(lab, what) reports that lab's task what, in the calling
 * function, is not written yet, and exits. It does not return. */
#define todo_missing(lab, what) todo_missing_at((lab), (what), __FILE__, __func__)

static inline __attribute__((noreturn)) void todo_missing_at(const char *lab, const char *what,
                                                            const char *file, const char *fn) {
    const char *from_top = strstr(file, "labs/"); /* the path from the kit's top */
    fprintf(stderr, "TODO(%s): %s (%s, %s): not written yet\n", lab, what, from_top ? from_top : file, fn);
    _exit(TODO_EXIT_STATUS);
}

#endif
