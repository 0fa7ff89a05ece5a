/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy's kill rules as the kernel sees them: the compiled program
 * returns SECCOMP_RET_USER_NOTIF for them, and whoever installs it (sandbox
 * init's child in `off` mode, the trampoline otherwise) asks for a listener,
 * which goes to sandboxd; sandboxd then kills the caller with SIGSYS and
 * knows which syscall it was.  When no listener can be had, the installer
 * turns those returns back into SECCOMP_RET_KILL_PROCESS: a kill rule kills,
 * with or without a name.  Header-only, for the freestanding trampoline too.
 */
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

/* The first descriptor the hand-over helper looks at for the listener. */
#define SBX_NOTIFY_SCAN_FIRST 3
/* One past the last: the installer's table holds stdio and a pipe below it. */
#define SBX_NOTIFY_SCAN_END 64

static inline int sbx_notify_is_ret(const struct sock_filter *f)
{
    return BPF_CLASS(f->code) == BPF_RET && BPF_RVAL(f->code) == BPF_K &&
           (f->k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF;
}

/* Whether the program has a kill rule, that is, returns SECCOMP_RET_USER_NOTIF anywhere. */
static inline int sbx_notify_in_prog(const struct sock_filter *f, unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        if (sbx_notify_is_ret(&f[i]))
            return 1;
    return 0;
}

/* The kill rules as plain kills, for a filter installed without a listener. */
static inline void sbx_notify_to_kill(struct sock_filter *f, unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        if (sbx_notify_is_ret(&f[i]))
            f[i].k = SECCOMP_RET_KILL_PROCESS;
}
