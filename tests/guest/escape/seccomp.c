/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loosening the filter: a filter of the guest's own that allows everything
 * (filters stack; the strictest answer wins), clearing no_new_privs,
 * ignoring SIGSYS, and the same probe afterwards (a new user namespace,
 * which root on the host may make).
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "escape.h"

static int allow_all(void *unused)
{
    (void)unused;
    struct sock_filter insn = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = { .len = 1, .filter = &insn };
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return 100 + errno;
    return esc_rc(unshare(CLONE_NEWUSER));
}

static int ignore_sigsys(void *unused)
{
    (void)unused;
    signal(SIGSYS, SIG_IGN);
    return esc_rc(unshare(CLONE_NEWUSER));
}

static int clear_nnp(void *unused)
{
    (void)unused;
    return esc_rc(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0));
}

static int strict_then_exit(void *unused)
{
    (void)unused;
    /* Strict mode on top: only read, write, exit and sigreturn are left. */
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) < 0)
        return errno;
    syscall(SYS_exit, 0);
    return 0;
}

int main(void)
{
    esc_child("allow-all-then-unshare", allow_all, NULL);
    esc_child("sigsys-ignored-then-unshare", ignore_sigsys, NULL);
    esc_child("clear-nnp", clear_nnp, NULL);
    esc_child("strict", strict_then_exit, NULL);
    printf("seccomp-mode %d\n", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
    return 0;
}
