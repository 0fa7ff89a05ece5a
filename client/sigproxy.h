/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which signals `sandboxctl run` passes on to the guest's main process, as
 * podman's --sig-proxy does, and when repeated interrupts mean "end it now".
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Three SIGINT or SIGTERM within this many milliseconds end the sandbox outright. */
#define SBX_SIGPROXY_END_MS 3000

/*
 * Every signal a user can send to a foreground program: the catchable ones
 * except SIGCHLD, SIGPIPE and SIGURG (sandboxctl's own business) and the
 * ones the kernel raises for a fault of sandboxctl's own (SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL, SIGTRAP, SIGSYS); SIGWINCH only with a tty, where it
 * resizes the guest's terminal.  Real-time signals are included.
 */
void sbx_sigproxy_set(sigset_t *set, bool tty);

struct sbx_sigproxy {
    uint64_t last[2]; /* monotonic ms of the two latest SIGINT/SIGTERM, newest first */
    unsigned seen;
};

/* Counts signo; true when it is the third SIGINT/SIGTERM within SBX_SIGPROXY_END_MS. */
bool sbx_sigproxy_is_end(struct sbx_sigproxy *p, int signo);
