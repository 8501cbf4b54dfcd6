/* args.h: the command-line helpers shared by the C servers (protocol.md,
 * "Command lines"): a bad flag or value prints what is wrong and a usage line
 * on stderr, and exits with status 2. The including file defines PROG. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* usage_error says what is wrong with the command line, and how to use it. */
static void usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "%s: ", PROG);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: %s [-port N] [-addr A] [-max-clients N] [-idle DURATION]\n", PROG);
    exit(2);
}

/* int_arg is s as a decimal number from lo to hi, or a usage error. */
static int int_arg(const char *flag, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno || v < lo || v > hi) {
        char what[80];
        snprintf(what, sizeof what, "%s %%s: not a number from %ld to %ld", flag, lo, hi);
        usage_error(what, s);
    }
    return (int)v;
}

/* duration_arg is s ("10m", "1.5s", "500ms", "2h"; a bare number is in
 * seconds) in seconds, or a usage error. */
static double duration_arg(const char *s) {
    char *end;
    double v = strtod(s, &end);
    double unit = !strcmp(end, "") || !strcmp(end, "s") ? 1 : !strcmp(end, "ms") ? 1e-3
                : !strcmp(end, "us") ? 1e-6 : !strcmp(end, "ns") ? 1e-9 : !strcmp(end, "m") ? 60
                : !strcmp(end, "h") ? 3600 : -1;
    if (end == s || (*s < '0' || *s > '9') || unit < 0 || v < 0)
        usage_error("-idle %s: not a duration (10m, 30s, 500ms)", s);
    return v * unit;
}

/* next_flag reads the flag at argv[*i] and its value, which it returns in
 * *value, moving *i past both: a usage error if argv[*i] is not one of the
 * servers' flags or has no value after it. */
static const char *next_flag(int argc, char **argv, int *i, const char **value) {
    const char *f = argv[*i];
    if (f[0] != '-') usage_error("unexpected argument \"%s\"", f);
    if (strcmp(f, "-port") && strcmp(f, "-addr") && strcmp(f, "-max-clients") && strcmp(f, "-idle"))
        usage_error("%s: no such flag", f);
    if (*i + 1 >= argc) usage_error("%s: a value must follow", f);
    *value = argv[++*i];
    return f;
}
