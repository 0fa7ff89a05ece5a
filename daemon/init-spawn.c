/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clone3 + exec of sbx-init, for the daemon and sandboxd-oci alike (init-spawn.h). */
#include "daemon/init-spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init/init.h"
#include "daemon/spawn-report.h"
#include "sbx/macro.h"

/*
 * In the child, with a user namespace of its own: the caller writes its maps
 * from outside, then says so on maps_done.  Until then the child is nobody
 * in its namespace; once they are there it becomes the namespace's root, so
 * that sbx-init runs with every capability in it (and none outside).  Raw
 * syscalls: glibc's set*id would signal threads of the caller that this
 * copy does not have.  It enters cwd first, while it still owns the files
 * of host root: as a uid of the sandbox's range it could not open the
 * daemon's private state directory.
 */
static void enter_userns(const char *cwd, int maps_done, int report)
{
    char c;
    ssize_t n;
    /* If the caller dies before it has written the maps, the child goes with it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        sbx_spawn_fail(report, SBX_SPAWN_DEATHSIG);
    if (cwd && chdir(cwd) < 0)
        sbx_spawn_fail(report, SBX_SPAWN_USERNS);
    while ((n = read(maps_done, &c, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1) {
        errno = EPIPE;
        sbx_spawn_fail(report, SBX_SPAWN_USERNS);
    }
    if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setgroups, 0, NULL) < 0 ||
        syscall(SYS_setresuid, 0, 0, 0) < 0)
        sbx_spawn_fail(report, SBX_SPAWN_USERNS);
}

/*
 * In the child, first: every descriptor of the caller but those the steps
 * to exec use.  All are close-on-exec, but the v1 cgroup moves below can
 * take milliseconds, and a copy held that long of, say, the mount of a
 * writable image whose run has just ended keeps the image from being let
 * go (its EXIT waits), or makes a writable run of another image find its
 * loop device still bound.
 */
static void close_others(const struct sbx_init_spawn *a)
{
    int keep[7 + SBX_CG_N] = { 0, 1, 2, a->exe, a->ctl, a->report };
    unsigned n = 6;
    keep[n++] = a->maps_done;
    for (int c = 0; a->v1_procs && c < SBX_CG_N; c++)
        keep[n++] = a->v1_procs[c];
    /* Sorted, so that the gaps between them go in one close_range each. */
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned lo = 0;
    for (unsigned i = 0; i < n; i++) {
        if (keep[i] < 0 || (unsigned)keep[i] < lo)
            continue;
        if ((unsigned)keep[i] > lo)
            syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0);
}

pid_t sbx_init_spawn(const struct sbx_init_spawn *a, int *ret_pidfd)
{
    int pidfd = -1;
    struct clone_args args = {
        .flags = a->ns_flags | CLONE_PIDFD | (a->cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = SIGCHLD,
        .cgroup = a->cgroup_fd >= 0 ? (uint64_t)a->cgroup_fd : 0,
    };
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0)
        return sbx_neg_errno();
    if (pid == 0) {
        close_others(a);
        /*
         * v1 controllers have no CLONE_INTO_CGROUP.  Moving a task there
         * waits for an RCU grace period (milliseconds): the child moves
         * itself, so the caller does not wait, and execs init only once it
         * is in every group: nothing of a sandbox runs outside them.
         */
        int report = a->report;
        if (report == SBX_INIT_CTL_FD)
            report = fcntl(report, F_DUPFD_CLOEXEC, SBX_INIT_CTL_FD + 1);
        for (int c = 0; a->v1_procs && c < SBX_CG_N; c++)
            if (a->v1_procs[c] >= 0 && write(a->v1_procs[c], "0", 1) != 1)
                sbx_spawn_fail(report, SBX_SPAWN_CGROUP);
        if (a->ns_flags & CLONE_NEWUSER)
            enter_userns(a->userns_cwd, a->maps_done, report);
        int exe = a->exe;
        if (exe == SBX_INIT_CTL_FD && (exe = fcntl(exe, F_DUPFD_CLOEXEC, SBX_INIT_CTL_FD + 1)) < 0)
            sbx_spawn_fail(report, SBX_SPAWN_FDS);
        if (a->ctl == SBX_INIT_CTL_FD ? fcntl(a->ctl, F_SETFD, 0) < 0
                                      : dup2(a->ctl, SBX_INIT_CTL_FD) < 0)
            sbx_spawn_fail(report, SBX_SPAWN_FDS);
        if (a->nofile && syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, a->nofile, NULL) < 0)
            sbx_spawn_fail(report, SBX_SPAWN_NOFILE);
        if (a->unblock_signals) {
            uint64_t none = 0;
            syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
        }
        /* Its network namespace is new: init may bring its loopback up before a request. */
        char *const argv[] = { "sbx-init",
                               (a->ns_flags & CLONE_NEWNET) ? SBX_INIT_ARG_OWN_NETNS : NULL, NULL };
        char *const envp[] = { NULL };
        syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
        sbx_spawn_fail(report, SBX_SPAWN_EXEC);
    }
    *ret_pidfd = pidfd;
    return (pid_t)pid;
}
