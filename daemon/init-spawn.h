/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The start of sbx-init, shared by the daemon (daemon/sandbox.c) and
 * sandboxd-oci's monitor (oci/create.c): clone3 into the sandbox's
 * namespaces and cgroup, then exec of the embedded program.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "daemon/cgroup.h"

struct sbx_init_spawn {
    int exe;                     /* the embedded sbx-init (memfd) */
    int ctl;                     /* the child's end of the control socket: SBX_INIT_CTL_FD */
    int cgroup_fd;               /* the v2 group for CLONE_INTO_CGROUP, or -EBADF */
    const int *v1_procs;         /* SBX_CG_N cgroup.procs fds the child joins (-EBADF: none) */
    int report;                  /* write end of sbx_spawn_report_open()'s pipe */
    uint64_t ns_flags;           /* the CLONE_NEW* namespaces to make */
    const struct rlimit *nofile; /* RLIMIT_NOFILE of the child, or NULL: the caller's */
    bool unblock_signals;        /* the caller blocks signals that sbx-init must not inherit */
    /*
     * With CLONE_NEWUSER in ns_flags: the read end of a pipe on which the
     * caller writes one byte once it has written the child's uid_map and
     * gid_map, and the directory the child enters before it takes its new
     * ids (it could not reach it after).  -EBADF and NULL otherwise.
     */
    int maps_done;
    const char *userns_cwd;
};

/*
 * Starts sbx-init as a.  The child makes async-signal-safe calls only (the
 * caller may have threads); a step that fails before exec is reported on
 * a->report (daemon/spawn-report.h).  The pid with *ret_pidfd, or -errno.
 */
pid_t sbx_init_spawn(const struct sbx_init_spawn *a, int *ret_pidfd);
