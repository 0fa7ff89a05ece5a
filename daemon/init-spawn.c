/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clone3 + exec of sbx-init, for the daemon and sandboxd-oci alike (init-spawn.h). */
#include "daemon/init-spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/init.h"
#include "daemon/spawn-report.h"
#include "sbx/macro.h"

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
        char *const argv[] = { "sbx-init", NULL };
        char *const envp[] = { NULL };
        syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
        sbx_spawn_fail(report, SBX_SPAWN_EXEC);
    }
    *ret_pidfd = pidfd;
    return (pid_t)pid;
}
