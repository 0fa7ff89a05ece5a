/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every escape guest program shares: one line of outcome per attempt,
 * "LABEL ok", "LABEL errno=NAME" or "LABEL killed=SIG", for
 * tests/integration/run-escape.sh to compare with its table.  Attempts that
 * may kill the process or change its namespaces run in a child, so one
 * attempt cannot hide the next.
 */
#pragma once

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* 0 when a call returned r >= 0, else its errno. */
static inline int esc_rc(long r)
{
    return r < 0 ? errno : 0;
}

/* Prints "LABEL ok" for 0, else "LABEL errno=NAME". */
static inline void esc_say(const char *label, int err)
{
    if (err == 0) {
        printf("%s ok\n", label);
    } else {
        const char *name = strerrorname_np(err);
        if (name)
            printf("%s errno=%s\n", label, name);
        else
            printf("%s errno=%d\n", label, err);
    }
    fflush(stdout);
}

/* esc_say of a call's return value. */
static inline void esc_report(const char *label, long r)
{
    esc_say(label, esc_rc(r));
}

/*
 * Runs fn(arg) in a child, which exits with what fn returns (0 or an errno
 * value), and reports that, or the signal that killed the child.
 */
static inline void esc_child(const char *label, int (*fn)(void *), void *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        esc_say(label, errno);
        return;
    }
    if (pid == 0)
        _exit(fn(arg) & 0xff);
    int status;
    if (waitpid(pid, &status, 0) < 0) {
        esc_say(label, errno);
        return;
    }
    if (WIFSIGNALED(status)) {
        const char *sig = sigabbrev_np(WTERMSIG(status));
        printf("%s killed=SIG%s\n", label, sig ? sig : "?");
        fflush(stdout);
        return;
    }
    esc_say(label, WEXITSTATUS(status));
}

static inline void esc_usage(const char *prog, const char *args)
{
    fprintf(stderr, "usage: %s %s\n", prog, args);
    exit(2);
}
