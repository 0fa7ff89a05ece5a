/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The signals sandboxctl passes on, and the "third interrupt ends it" rule. */
#include "client/sigproxy.h"

#include <time.h>

void sbx_sigproxy_set(sigset_t *set, bool tty)
{
    static const int own[] = { SIGKILL, SIGSTOP, SIGCHLD, SIGPIPE, SIGURG, SIGSEGV,
                               SIGBUS,  SIGFPE,  SIGILL,  SIGTRAP, SIGSYS };
    sigemptyset(set);
    /* SIGSYS is the last of the standard signals. */
    for (int sig = 1; sig <= SIGSYS; sig++)
        sigaddset(set, sig);
    /* glibc keeps the first real-time signals for itself; SIGRTMIN is the first one left. */
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        sigaddset(set, sig);
    for (unsigned i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        sigdelset(set, own[i]);
    if (!tty)
        sigdelset(set, SIGWINCH);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool sbx_sigproxy_is_end(struct sbx_sigproxy *p, int signo)
{
    if (signo != SIGINT && signo != SIGTERM)
        return false;
    uint64_t now = now_ms();
    bool end = p->seen >= 2 && now - p->last[1] <= SBX_SIGPROXY_END_MS;
    p->last[1] = p->last[0];
    p->last[0] = now;
    if (p->seen < 2)
        p->seen++;
    return end;
}
