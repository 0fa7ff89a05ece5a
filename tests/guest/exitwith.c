/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exitwith: ends in a chosen way with no shell in between, so that the exit
 * status a test sees comes from the guest itself.
 *     exitwith N         exit status N (0-255)
 *     exitwith -s SIG    die of signal SIG (a number or a name such as TERM)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_signal(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (*s && !*end)
        return n > 0 && n < NSIG ? (int)n : -1;
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (int sig = 1; sig < NSIG; sig++) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev && strcmp(abbrev, s) == 0)
            return sig;
    }
    return -1;
}

static void usage(void)
{
    fprintf(stderr, "Usage: exitwith N | exitwith -s SIGNAL\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc == 2) {
        char *end;
        long n = strtol(argv[1], &end, 10);
        if (!argv[1][0] || *end || n < 0 || n > 255)
            usage();
        return (int)n;
    }
    if (argc != 3 || strcmp(argv[1], "-s") != 0)
        usage();
    int sig = parse_signal(argv[2]);
    if (sig < 0)
        usage();
    sigset_t all;
    sigfillset(&all);
    signal(sig, SIG_DFL);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    kill(getpid(), sig);
    /* Only reached when the signal's default action is to be ignored. */
    fprintf(stderr, "exitwith: survived signal %d\n", sig);
    return 1;
}
